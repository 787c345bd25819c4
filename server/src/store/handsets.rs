//! Per handset: forwarding and do-not-disturb (set from the handset's menu or the admin page,
//! kept here so they survive a handset replacement), and the handset's last reported status.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, UnixSeconds};
use crate::error::Error;

/// When calls to a handset go elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardWhen {
    #[default]
    Never,
    Always,
    /// While the handset is on a call.
    Busy,
    /// After ringing `no_answer_seconds` unanswered.
    NoAnswer,
}

impl ForwardWhen {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardWhen::Never => "never",
            ForwardWhen::Always => "always",
            ForwardWhen::Busy => "busy",
            ForwardWhen::NoAnswer => "no-answer",
        }
    }

    pub fn parse(text: &str) -> Option<ForwardWhen> {
        match text {
            "never" => Some(ForwardWhen::Never),
            "always" => Some(ForwardWhen::Always),
            "busy" => Some(ForwardWhen::Busy),
            "no-answer" => Some(ForwardWhen::NoAnswer),
            _ => None,
        }
    }
}

/// How long an unanswered call rings before no-answer forwarding or voicemail (Twilio's
/// `<Dial timeout>` default is 30 s; desk phones commonly use 20).
pub const DEFAULT_NO_ANSWER_SECONDS: u32 = 20;
/// The range `<Dial timeout>` accepts.
pub const NO_ANSWER_SECONDS: std::ops::RangeInclusive<u32> = 5..=600;

/// A handset's call handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandsetSettings {
    pub do_not_disturb: bool,
    pub forward_when: ForwardWhen,
    /// An E.164 number or another handset's extension.
    pub forward_to: Option<String>,
    pub no_answer_seconds: u32,
}

impl Default for HandsetSettings {
    fn default() -> Self {
        HandsetSettings {
            do_not_disturb: false,
            forward_when: ForwardWhen::Never,
            forward_to: None,
            no_answer_seconds: DEFAULT_NO_ANSWER_SECONDS,
        }
    }
}

/// What a handset last said about itself (`POST /api/handset/status`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandsetStatus {
    /// When the report arrived.
    pub last_seen: UnixSeconds,
    pub registered: bool,
    /// `registered`, `unregistered`, `registering` or `error` (`None`: an older report).
    pub registration: Option<String>,
    /// The edge it is connected through.
    pub edge: Option<String>,
    pub address: Option<String>,
    pub firmware: Option<String>,
    pub last_error: Option<String>,
    pub uptime_secs: Option<i64>,
}

impl Store {
    /// A handset's settings (the defaults if it has never changed any).
    pub async fn handset_settings(&self, device_id: &str) -> Result<HandsetSettings, Error> {
        let row = sqlx::query(
            "SELECT do_not_disturb, forward_when, forward_to, no_answer_seconds \
             FROM handset_settings WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        match row {
            None => Ok(HandsetSettings::default()),
            Some(row) => self.settings_from(&row, 0),
        }
    }

    /// Settings from a row's columns `first..first + 4` (do_not_disturb, forward_when,
    /// forward_to, no_answer_seconds).
    fn settings_from(&self, row: &AnyRow, first: usize) -> Result<HandsetSettings, Error> {
        let get = |e| self.failed(e);
        let when: String = row.try_get(first + 1).map_err(get)?;
        let seconds: i64 = row.try_get(first + 3).map_err(get)?;
        Ok(HandsetSettings {
            do_not_disturb: row.try_get::<i64, _>(first).map_err(get)? != 0,
            forward_when: ForwardWhen::parse(&when)
                .ok_or_else(|| self.corrupt(format!("forward_when {when:?}")))?,
            forward_to: row.try_get(first + 2).map_err(get)?,
            no_answer_seconds: u32::try_from(seconds)
                .ok()
                .filter(|s| NO_ANSWER_SECONDS.contains(s))
                .ok_or_else(|| self.corrupt(format!("no_answer_seconds {seconds}")))?,
        })
    }

    /// Every handset's settings that differ from the defaults, by device id (what an incoming
    /// call's forwarding and do-not-disturb are decided from, in one query).
    pub async fn all_handset_settings(&self) -> Result<HashMap<String, HandsetSettings>, Error> {
        let rows = sqlx::query(
            "SELECT device_id, do_not_disturb, forward_when, forward_to, no_answer_seconds \
             FROM handset_settings",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(|e| self.failed(e))?;
                Ok((id, self.settings_from(row, 1)?))
            })
            .collect()
    }

    pub async fn set_handset_settings(
        &self,
        device_id: &str,
        settings: &HandsetSettings,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        sqlx::query(
            "INSERT INTO handset_settings \
               (device_id, do_not_disturb, forward_when, forward_to, no_answer_seconds) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (device_id) DO UPDATE SET do_not_disturb = excluded.do_not_disturb, \
               forward_when = excluded.forward_when, forward_to = excluded.forward_to, \
               no_answer_seconds = excluded.no_answer_seconds",
        )
        .bind(device_id)
        .bind(i64::from(settings.do_not_disturb))
        .bind(settings.forward_when.as_str())
        .bind(settings.forward_to.as_deref())
        .bind(i64::from(
            settings
                .no_answer_seconds
                .clamp(*NO_ANSWER_SECONDS.start(), *NO_ANSWER_SECONDS.end()),
        ))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.failed(e))?;
        self.bump(&mut tx).await?;
        tx.commit().await.map_err(|e| self.failed(e))
    }

    pub async fn record_handset_status(
        &self,
        device_id: &str,
        status: &HandsetStatus,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO handset_status (device_id, last_seen, registered, address, firmware, \
               last_error, registration, edge, uptime_secs) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen, \
               registered = excluded.registered, address = excluded.address, \
               firmware = excluded.firmware, last_error = excluded.last_error, \
               registration = excluded.registration, edge = excluded.edge, \
               uptime_secs = excluded.uptime_secs",
        )
        .bind(device_id)
        .bind(status.last_seen)
        .bind(i64::from(status.registered))
        .bind(status.address.as_deref())
        .bind(status.firmware.as_deref())
        .bind(status.last_error.as_deref())
        .bind(status.registration.as_deref())
        .bind(status.edge.as_deref())
        .bind(status.uptime_secs)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| self.failed(e))
    }

    /// Every handset's last status, by device id.
    pub async fn handset_statuses(&self) -> Result<Vec<(String, HandsetStatus)>, Error> {
        let rows = sqlx::query(
            "SELECT device_id, last_seen, registered, address, firmware, last_error, \
               registration, edge, uptime_secs FROM handset_status ORDER BY device_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let get = |e| self.failed(e);
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(get)?,
                    HandsetStatus {
                        last_seen: row.try_get(1).map_err(get)?,
                        registered: row.try_get::<i64, _>(2).map_err(get)? != 0,
                        address: row.try_get(3).map_err(get)?,
                        firmware: row.try_get(4).map_err(get)?,
                        last_error: row.try_get(5).map_err(get)?,
                        registration: row.try_get(6).map_err(get)?,
                        edge: row.try_get(7).map_err(get)?,
                        uptime_secs: row.try_get(8).map_err(get)?,
                    },
                ))
            })
            .collect()
    }
}
