//! The speed-dials page: one row per key 1–9 (row n is key n, as the colour layout numbers
//! it) saying whom its long press calls — a contact's name, `Ext 101`, the number, `Voicemail`
//! on the voicemail key, or `(not set)` — from the dial plan in force, so a speed dial changed
//! on offhook-server shows here at once. Menu (or the key) on a row calls it hands-free.

use std::time::Instant;

use super::super::Phone;
use crate::dialplan::VOICEMAIL_NAME;

/// A key without a speed dial.
const NOT_SET: &str = "(not set)";

/// The keys with a row (row n is key n).
const KEYS: std::ops::RangeInclusive<u8> = 1..=9;

/// What a speed-dial key calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SpeedDialItem {
    Voicemail,
    Number(String),
}

impl Phone {
    /// What each key 1–9 calls, in key order.
    pub(super) fn speed_dial_items(&self) -> Vec<Option<SpeedDialItem>> {
        let plan = &self.cfg.dial_plan;
        KEYS.map(|key| {
            if plan.voicemail_key() == Some(key) {
                Some(SpeedDialItem::Voicemail)
            } else {
                plan.speed_dial(key)
                    .map(|number| SpeedDialItem::Number(number.to_string()))
            }
        })
        .collect()
    }

    /// The rows as shown: whom each key calls.
    pub(super) fn speed_dial_rows(&self) -> Vec<String> {
        self.speed_dial_items()
            .into_iter()
            .map(|item| match item {
                Some(SpeedDialItem::Voicemail) => VOICEMAIL_NAME.to_string(),
                Some(SpeedDialItem::Number(number)) => self.row_label(&number, None),
                None => NOT_SET.to_string(),
            })
            .collect()
    }

    /// Menu on a row: call it hands-free, as a long press of its key on-hook would (a key
    /// without a speed dial does nothing).
    pub(super) fn call_speed_dial_item(&mut self, index: usize, now: Instant) {
        let Some(Some(item)) = self.speed_dial_items().into_iter().nth(index) else {
            return;
        };
        self.menu = None;
        self.go_hands_free(now);
        match item {
            SpeedDialItem::Voicemail => {
                self.call_voicemail(now);
            }
            SpeedDialItem::Number(number) => self.place_stored_number(&number, now),
        }
    }
}
