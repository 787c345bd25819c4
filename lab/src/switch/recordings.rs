//! The recordings the lab holds: what Twilio's Recordings resource serves (`GET`/`DELETE
//! /2010-04-01/Accounts/{AC}/Recordings/{RE}`), kept in memory as 8 kHz mono 16-bit PCM.
//! Deleted recordings stay listed (for the control API) without their audio.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::control::types::RecordingInfo;
use crate::media::analysis;
use crate::media::audio::RATE;

/// Recordings kept; past it the oldest are forgotten, audio and all.
pub const KEEP_RECORDINGS: usize = 1000;

/// Audio shared without copying (a recording can be an hour long).
#[derive(Clone)]
pub struct SharedAudio(pub Arc<[i16]>);

impl SharedAudio {
    pub fn samples(&self) -> &[i16] {
        &self.0
    }
}

impl std::fmt::Debug for SharedAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedAudio({} samples)", self.0.len())
    }
}

impl PartialEq for SharedAudio {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// The REST path of a recording: `/2010-04-01/Accounts/{AC}/Recordings/{RE}`.
pub fn recording_path(account_sid: &str, sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account_sid}/Recordings/{sid}")
}

/// The `RecordingUrl` Twilio gives: the API base, the path, no extension.
pub fn recording_url(api_base_url: &str, account_sid: &str, sid: &str) -> String {
    format!(
        "{}{}",
        api_base_url.trim_end_matches('/'),
        recording_path(account_sid, sid)
    )
}

/// The recording SID if `url` is one of this account's recording URLs, with or without
/// `.wav`/`.mp3`: at the lab's API base, or at `api.twilio.com` (Twilio knows its own URLs).
pub fn own_recording_sid(api_base_url: &str, account_sid: &str, url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let base = url::Url::parse(api_base_url).ok()?;
    let same_origin = url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default();
    if !same_origin && url.host_str() != Some("api.twilio.com") {
        return None;
    }
    let prefix = recording_path(account_sid, "");
    let file = url.path().strip_prefix(&prefix)?;
    let sid = file
        .strip_suffix(".wav")
        .or_else(|| file.strip_suffix(".mp3"))
        .unwrap_or(file);
    (sid.starts_with("RE") && !sid.contains('/')).then(|| sid.to_string())
}

/// How a recording ended, as the control API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A `finishOnKey` key.
    Key(char),
    MaxLength,
    /// The silence timeout (or the leg's media ended by itself).
    Silence,
    Hangup,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Key(_) => "finish-key",
            Ending::MaxLength => "max-length",
            Ending::Silence => "silence",
            Ending::Hangup => "hangup",
        }
    }

    /// The `Digits` Twilio sends with the action: the key, `hangup`, or nothing.
    pub fn digits(self) -> String {
        match self {
            Ending::Key(k) => k.to_string(),
            Ending::Hangup => "hangup".into(),
            Ending::MaxLength | Ending::Silence => String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub info: RecordingInfo,
    /// `None` once deleted.
    pub audio: Option<SharedAudio>,
}

#[derive(Debug, Default)]
pub(super) struct Store {
    by_sid: BTreeMap<String, Stored>,
    order: VecDeque<String>,
}

impl Store {
    pub fn insert(&mut self, info: RecordingInfo, samples: Vec<i16>) {
        let sid = info.sid.clone();
        self.order.push_back(sid.clone());
        self.by_sid.insert(
            sid,
            Stored {
                info,
                audio: Some(SharedAudio(samples.into())),
            },
        );
        while self.order.len() > KEEP_RECORDINGS {
            if let Some(old) = self.order.pop_front() {
                self.by_sid.remove(&old);
            }
        }
    }

    pub fn get(&self, sid: &str) -> Option<&Stored> {
        self.by_sid.get(sid)
    }

    /// The audio of a recording that exists and is not deleted.
    pub fn audio(&self, sid: &str) -> Option<SharedAudio> {
        self.by_sid.get(sid).and_then(|r| r.audio.clone())
    }

    /// Deletes a live recording's audio; false if unknown or already deleted.
    pub fn delete(&mut self, sid: &str, unix_ms: u64) -> bool {
        match self.by_sid.get_mut(sid) {
            Some(r) if r.audio.is_some() => {
                r.audio = None;
                r.info.deleted = true;
                r.info.deleted_unix_ms = Some(unix_ms);
                true
            }
            _ => false,
        }
    }

    /// Every recording, oldest first.
    pub fn list(&self) -> Vec<RecordingInfo> {
        self.order
            .iter()
            .filter_map(|sid| self.by_sid.get(sid))
            .map(|r| r.info.clone())
            .collect()
    }
}

/// RMS level of the whole recording, and the dominant frequency of its loudest second.
pub fn summary(samples: &[i16]) -> (f32, Option<f32>) {
    let level = analysis::level_dbfs(samples);
    let second = RATE as usize;
    let energy = |w: &[i16]| w.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
    let loudest = samples
        .chunks(second)
        .max_by(|a, b| energy(a).total_cmp(&energy(b)))
        .unwrap_or(samples);
    (level, analysis::dominant_hz(loudest))
}

/// A time as Twilio's REST API and callbacks write it: `Tue, 15 Oct 2024 12:34:56 +0000`.
pub fn rfc2822(unix_ms: u64) -> String {
    let secs = i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc2822)
                .ok()
        })
        .unwrap_or_default()
}

/// Whole seconds as Twilio counts a recording's duration (rounded).
pub fn duration_secs(duration_ms: u64) -> u64 {
    (duration_ms + 500) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_urls_are_recognised_with_or_without_extension() {
        let base = "http://127.0.0.1:4000";
        let ac = "AC0123";
        let url = recording_url(base, ac, "RE42");
        assert_eq!(
            url,
            "http://127.0.0.1:4000/2010-04-01/Accounts/AC0123/Recordings/RE42"
        );
        for u in [
            url.clone(),
            format!("{url}.wav"),
            format!("{url}.mp3"),
            format!("{url}?x=1"),
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Recordings/RE42".into(),
        ] {
            assert_eq!(
                own_recording_sid(base, ac, &u).as_deref(),
                Some("RE42"),
                "{u}"
            );
        }
        for u in [
            "http://127.0.0.1:4001/2010-04-01/Accounts/AC0123/Recordings/RE42",
            "http://127.0.0.1:4000/2010-04-01/Accounts/AC9999/Recordings/RE42",
            "http://127.0.0.1:4000/2010-04-01/Accounts/AC0123/Recordings/RE42/Transcriptions",
            "http://127.0.0.1:4000/greeting.wav",
            "not a url",
        ] {
            assert_eq!(own_recording_sid(base, ac, u), None, "{u}");
        }
    }

    #[test]
    fn summary_finds_the_tone_of_the_loudest_second() {
        let mut samples = vec![0i16; 8000];
        let mut tone = vec![0i16; 16000];
        crate::media::audio::Tone::new(&[440.0], 0.5).fill(&mut tone);
        samples.extend(tone);
        let (level, hz) = summary(&samples);
        assert!(level > -15.0 && level < -9.0, "{level}");
        assert!((hz.unwrap() - 440.0).abs() < 3.0, "{hz:?}");
        assert_eq!(summary(&[0; 4000]), (-100.0, None));
        assert_eq!(summary(&[]), (-100.0, None));
        assert_eq!((duration_secs(1499), duration_secs(1500)), (1, 2));
        assert_eq!(
            rfc2822(1_729_000_000_000),
            "Tue, 15 Oct 2024 13:46:40 +0000"
        );
    }
}
