//! `<Record>`: a beep, then the media layer records the caller's leg until the switch stops
//! it (a `finishOnKey` key, `maxLength`, the caller hanging up) or it hears `timeout` seconds
//! of silence; its audio comes back as [`MediaEvent::Recorded`](super::MediaEvent).
//!
//! Then, as Twilio does:
//! - the recording becomes a Recordings resource (`RE…`, served at its `RecordingUrl`);
//! - the `recordingStatusCallback` is POSTed (`completed`), also after a hang-up;
//! - `action` (default: the current document) is requested with `RecordingUrl`,
//!   `RecordingDuration`, `RecordingSid` and `Digits` (the key, or `hangup`) and its TwiML
//!   runs — after a hang-up it is still requested, with `CallStatus=completed`, and its reply
//!   ignored;
//! - an empty recording (nothing but silence, trimmed away) requests no `action`: the next
//!   verb runs.

use std::time::Duration;

use super::calls::{Phase, RecordStage, RecordState};
use super::recordings::{self, Ending};
use super::webhooks::resolve;
use super::{MediaCommand, Now, PlayItem, Switch};
use crate::control::types::RecordingInfo;
use crate::media::audio::RATE;
use crate::sid;
use crate::twiml::Record;

/// A recording the media layer is making.
#[derive(Debug)]
pub(super) struct Job {
    pub call_sid: String,
    pub record: Record,
    /// The document the `<Record>` came from (relative callback URLs resolve against it).
    pub doc_url: Option<String>,
    pub started_unix_ms: u64,
    /// Why the switch stopped it (`None` while recording, or when the media layer ended it on
    /// silence).
    pub ended: Option<Ending>,
}

impl Switch {
    pub(super) fn start_record(&mut self, call_sid: &str, record: Record, now: Now) {
        if !record.play_beep {
            self.answer_parent(call_sid, now);
            self.begin_capture(call_sid, record, now);
            return;
        }
        let token = self.start_play(call_sid, vec![PlayItem::Beep], 1, now);
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.phase = Phase::Recording(RecordState {
                record,
                stage: RecordStage::Beep { token },
            });
        }
    }

    /// A playback ended; true if it was the beep (recording starts).
    pub(super) fn record_play_done(&mut self, call_sid: &str, token: u64, now: Now) -> bool {
        let record = match self.calls.get(call_sid).map(|c| &c.phase) {
            Some(Phase::Recording(RecordState {
                record,
                stage: RecordStage::Beep { token: t },
            })) if *t == token => record.clone(),
            _ => return false,
        };
        self.begin_capture(call_sid, record, now);
        true
    }

    fn begin_capture(&mut self, call_sid: &str, record: Record, now: Now) {
        let token = self.seq();
        let max_length = Duration::from_secs(u64::from(record.max_length_secs));
        let silence_timeout =
            (record.timeout_secs > 0).then(|| Duration::from_secs(u64::from(record.timeout_secs)));
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        self.recording_jobs.insert(
            token,
            Job {
                call_sid: call_sid.to_string(),
                record: record.clone(),
                doc_url: call.doc_url.clone(),
                started_unix_ms: now.unix_ms,
                ended: None,
            },
        );
        let trim_silence = record.trim_silence;
        call.phase = Phase::Recording(RecordState {
            record,
            stage: RecordStage::Capture {
                token,
                max_at: now.at + max_length,
                stopping: false,
            },
        });
        self.media(MediaCommand::StartRecording {
            leg: call_sid.to_string(),
            token,
            silence_timeout,
            max_length,
            trim_silence,
        });
    }

    /// Asks the media layer for the audio so far (once); the first reason given sticks.
    fn stop_capture(&mut self, call_sid: &str, ending: Ending) {
        let Some(Phase::Recording(RecordState {
            stage: RecordStage::Capture {
                token, stopping, ..
            },
            ..
        })) = self.calls.get_mut(call_sid).map(|c| &mut c.phase)
        else {
            return;
        };
        if let Some(job) = self.recording_jobs.get_mut(token) {
            job.ended.get_or_insert(ending);
        }
        if std::mem::replace(stopping, true) {
            return;
        }
        let token = *token;
        self.media(MediaCommand::StopRecording {
            leg: call_sid.to_string(),
            token,
        });
    }

    pub(super) fn record_digit(&mut self, call_sid: &str, digit: char) {
        let finishes = matches!(
            self.calls.get(call_sid).map(|c| &c.phase),
            Some(Phase::Recording(RecordState {
                record,
                stage: RecordStage::Capture { .. },
            })) if record.finish_on_key.contains(digit)
        );
        if finishes {
            self.stop_capture(call_sid, Ending::Key(digit));
        }
    }

    /// `maxLength` is reached.
    pub(super) fn record_timer(&mut self, call_sid: &str, now: Now) {
        let due = matches!(
            self.calls.get(call_sid).map(|c| &c.phase),
            Some(Phase::Recording(RecordState {
                stage: RecordStage::Capture { max_at, stopping: false, .. },
                ..
            })) if *max_at <= now.at
        );
        if due {
            self.stop_capture(call_sid, Ending::MaxLength);
        }
    }

    /// The call ends under `<Record>` (before its legs close): what was recorded is kept.
    pub(super) fn record_hangup(&mut self, call_sid: &str) {
        self.stop_capture(call_sid, Ending::Hangup);
    }

    /// The media layer's audio for recording `token`.
    pub(super) fn recorded(&mut self, token: u64, samples: Vec<i16>, now: Now) {
        let Some(job) = self.recording_jobs.remove(&token) else {
            return;
        };
        let ending = job.ended.unwrap_or(Ending::Silence);
        let account_sid = self.cfg.credentials.account_sid.clone();
        let sid = sid::new_sid("RE");
        let url = recordings::recording_url(&self.cfg.api_base_url, &account_sid, &sid);
        let duration_ms = samples.len() as u64 * 1000 / u64::from(RATE);
        let duration = recordings::duration_secs(duration_ms).to_string();
        let (level_dbfs, dominant_hz) = recordings::summary(&samples);
        let empty = samples.is_empty();
        let info = RecordingInfo {
            sid: sid.clone(),
            account_sid: account_sid.clone(),
            call_sid: job.call_sid.clone(),
            url: url.clone(),
            duration_ms,
            duration_secs: recordings::duration_secs(duration_ms),
            start_unix_ms: job.started_unix_ms,
            created_unix_ms: now.unix_ms,
            ended_by: ending.as_str().into(),
            digits: ending.digits(),
            deleted: false,
            deleted_unix_ms: None,
            level_dbfs,
            dominant_hz,
        };
        self.recordings.insert(info, samples);

        if job.record.posts_completed()
            && let Some(callback) = &job.record.recording_status_callback
        {
            let p = |k: &str, v: &str| (k.to_string(), v.to_string());
            let params = vec![
                p("AccountSid", &account_sid),
                p("CallSid", &job.call_sid),
                p("RecordingSid", &sid),
                p("RecordingUrl", &url),
                p("RecordingStatus", "completed"),
                p("RecordingDuration", &duration),
                p("RecordingChannels", "1"),
                p(
                    "RecordingStartTime",
                    &recordings::rfc2822(job.started_unix_ms),
                ),
                p("RecordingSource", "RecordVerb"),
                p("ErrorCode", "0"),
            ];
            let callback = resolve(job.doc_url.as_deref(), callback);
            let request = self.signed_request(
                &callback,
                &job.record.recording_status_callback_method,
                params,
            );
            self.send_callback(&job.call_sid, request);
        }

        let mut extra = vec![
            ("RecordingUrl".to_string(), url),
            ("RecordingDuration".to_string(), duration),
            ("RecordingSid".to_string(), sid),
        ];
        let digits = ending.digits();
        if !digits.is_empty() {
            extra.push(("Digits".to_string(), digits));
        }
        let call_sid = job.call_sid.as_str();
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        let action = job.record.action.clone().or_else(|| job.doc_url.clone());
        let live = matches!(
            &call.phase,
            Phase::Recording(RecordState {
                stage: RecordStage::Capture { token: t, .. },
                ..
            }) if *t == token
        );
        if !live {
            // The caller hung up: Twilio still tells the action (and ignores its TwiML).
            if let (false, Some(url)) = (empty, action) {
                self.notify_action(call_sid, &url, &job.record.method, extra);
            }
            return;
        }
        call.phase = Phase::Running;
        match (empty, action) {
            (false, Some(url)) => self.fetch(call_sid, &url, &job.record.method, extra, now),
            _ => {
                self.advance(call_sid);
                self.run(call_sid, now);
            }
        }
    }
}
