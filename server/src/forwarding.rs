//! A handset's call handling as the handset sees it: do-not-disturb and forwarding, their JSON
//! (`GET`/`PUT /api/handset/settings`, the `settings` event), the checks a change must pass,
//! and where a forward goes (pure: the store keeps [`HandsetSettings`], the TwiML uses
//! [`Forward`]).

use serde::Deserialize;

use crate::config::Config;
use crate::handsets::{Handset, Handsets};
use crate::phone::{self, E164};
use crate::store::handsets::{ForwardWhen, HandsetSettings, NO_ANSWER_SECONDS};

/// Where a forwarded call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A phone number (`<Dial><Number>`).
    Number(E164),
    /// Another handset (`<Dial><Client>`), by its identity.
    Handset { identity: String, id: String },
}

impl Forward {
    /// The target a stored `forward_to` names for `from` (a number in E.164, or another
    /// handset's extension); `None` when it names nothing usable any more (an extension
    /// that has left the handsets file, or the handset itself).
    pub fn resolve(to: &str, handsets: &Handsets, from: &Handset) -> Option<Forward> {
        Forward::parse(to, handsets).filter(|f| match f {
            Forward::Handset { id, .. } => *id != from.id,
            Forward::Number(_) => true,
        })
    }

    /// The target `to` names: a handset's extension, or a number in E.164.
    pub fn parse(to: &str, handsets: &Handsets) -> Option<Forward> {
        if let Some(target) = handsets.by_extension(to) {
            return Some(Forward::Handset {
                identity: target.identity.clone(),
                id: target.id.clone(),
            });
        }
        E164::parse(to).ok().map(Forward::Number)
    }

    /// How it is written in a stored setting and in a callback URL: the number, or the
    /// handset's extension.
    pub fn stored(&self, handsets: &Handsets) -> Option<String> {
        match self {
            Forward::Number(n) => Some(n.to_string()),
            Forward::Handset { id, .. } => handsets.by_id(id).map(|h| h.extension.clone()),
        }
    }
}

/// The `mode` of the settings JSON.
pub fn mode_name(when: ForwardWhen) -> &'static str {
    match when {
        ForwardWhen::Never => "off",
        ForwardWhen::Always => "always",
        ForwardWhen::Busy => "busy",
        ForwardWhen::NoAnswer => "no-answer",
    }
}

fn parse_mode(text: &str) -> Option<ForwardWhen> {
    match text {
        "off" => Some(ForwardWhen::Never),
        "always" => Some(ForwardWhen::Always),
        "busy" => Some(ForwardWhen::Busy),
        "no-answer" => Some(ForwardWhen::NoAnswer),
        _ => None,
    }
}

/// `{"dnd":bool,"forwarding":{"mode":…,"to":…|null,"after_secs":N}}`.
pub fn to_json(settings: &HandsetSettings) -> serde_json::Value {
    serde_json::json!({
        "dnd": settings.do_not_disturb,
        "forwarding": {
            "mode": mode_name(settings.forward_when),
            "to": settings.forward_to,
            "after_secs": settings.no_answer_seconds,
        },
    })
}

/// A `PUT /api/handset/settings` body: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default)]
    pub dnd: Option<bool>,
    #[serde(default)]
    pub forwarding: Option<ForwardingChange>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingChange {
    #[serde(default)]
    pub mode: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    pub to: Option<Option<String>>,
    #[serde(default)]
    pub after_secs: Option<u64>,
}

/// A change from a request body: a JSON object of the fields above (an array, which serde
/// would also read into the struct, is refused).
pub fn parse_change(body: &[u8]) -> Result<SettingsChange, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if !value.is_object() {
        return Err("expected a JSON object".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Why a change is refused: an error code and a sentence for the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// `current` with `change` applied, checked: a known mode, a ring time Twilio accepts, and a
/// target that is a valid number (normalised to E.164 with the default country) or another
/// handset's extension whenever forwarding is on.
pub fn apply(
    config: &Config,
    handsets: &Handsets,
    handset: &Handset,
    current: &HandsetSettings,
    change: SettingsChange,
) -> Result<HandsetSettings, Refusal> {
    let mut next = current.clone();
    if let Some(dnd) = change.dnd {
        next.do_not_disturb = dnd;
    }
    let Some(forwarding) = change.forwarding else {
        return Ok(next);
    };
    if let Some(mode) = forwarding.mode {
        next.forward_when = parse_mode(&mode).ok_or_else(|| {
            refuse(
                "invalid_mode",
                "forwarding.mode must be off, always, busy or no-answer.",
            )
        })?;
    }
    if let Some(secs) = forwarding.after_secs {
        next.no_answer_seconds = u32::try_from(secs)
            .ok()
            .filter(|s| NO_ANSWER_SECONDS.contains(s))
            .ok_or_else(|| {
                refuse(
                    "invalid_after_secs",
                    "forwarding.after_secs must be whole seconds from 5 to 600.",
                )
            })?;
    }
    if let Some(to) = forwarding.to {
        next.forward_to = match to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(to) => Some(target(config, handsets, handset, to)?),
        };
    }
    if next.forward_when != ForwardWhen::Never && next.forward_to.is_none() {
        return Err(refuse(
            "missing_target",
            "forwarding.to must name a number or an extension when forwarding is on.",
        ));
    }
    Ok(next)
}

/// A forwarding target as stored: another handset's extension, or a number in E.164.
fn target(
    config: &Config,
    handsets: &Handsets,
    handset: &Handset,
    to: &str,
) -> Result<String, Refusal> {
    if let Some(other) = handsets.by_extension(to) {
        if other.id == handset.id {
            return Err(refuse(
                "invalid_target",
                "A handset cannot forward to its own extension.",
            ));
        }
        return Ok(other.extension.clone());
    }
    phone::normalize(to, config.default_country)
        .map(|n| n.to_string())
        .map_err(|_| {
            refuse(
                "invalid_target",
                "forwarding.to is neither a valid phone number nor a handset's extension.",
            )
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::valid_settings;
    use crate::handsets::tests::{entry, toml_of};

    fn setup() -> (Config, Handsets) {
        let settings = valid_settings();
        let config = Config::from_settings(|n| settings.get(n).cloned()).unwrap();
        let file = toml_of(vec![
            entry("desk", "101", "d"),
            entry("kitchen", "102", "k"),
        ]);
        (
            config,
            Handsets::from_toml(&file, Path::new("t.toml")).unwrap(),
        )
    }

    fn change(json: &str) -> SettingsChange {
        parse_change(json.as_bytes()).unwrap()
    }

    #[test]
    fn json_shape() {
        let settings = HandsetSettings {
            do_not_disturb: true,
            forward_when: ForwardWhen::NoAnswer,
            forward_to: Some("+14155550100".into()),
            no_answer_seconds: 15,
        };
        assert_eq!(
            to_json(&settings).to_string(),
            r#"{"dnd":true,"forwarding":{"after_secs":15,"mode":"no-answer","to":"+14155550100"}}"#
        );
        assert_eq!(
            to_json(&HandsetSettings::default())["forwarding"]["to"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn partial_changes_keep_the_rest() {
        let (config, handsets) = setup();
        let desk = handsets.by_id("desk").unwrap();
        let start = HandsetSettings::default();
        let dnd = apply(&config, &handsets, desk, &start, change(r#"{"dnd":true}"#)).unwrap();
        assert!(dnd.do_not_disturb);
        assert_eq!(dnd.forward_when, ForwardWhen::Never);
        let busy = apply(
            &config,
            &handsets,
            desk,
            &dnd,
            change(r#"{"forwarding":{"mode":"busy","to":"102"}}"#),
        )
        .unwrap();
        assert_eq!(busy.forward_when, ForwardWhen::Busy);
        assert_eq!(busy.forward_to.as_deref(), Some("102"));
        assert!(busy.do_not_disturb);
        // A national number is normalised with the default country (GB here).
        let national = apply(
            &config,
            &handsets,
            desk,
            &busy,
            change(r#"{"forwarding":{"mode":"no-answer","to":"020 7946 0000","after_secs":30}}"#),
        )
        .unwrap();
        assert_eq!(national.forward_to.as_deref(), Some("+442079460000"));
        assert_eq!(national.no_answer_seconds, 30);
        // Off keeps the target for later; clearing it is explicit.
        let off = apply(
            &config,
            &handsets,
            desk,
            &national,
            change(r#"{"forwarding":{"mode":"off"}}"#),
        )
        .unwrap();
        assert_eq!(off.forward_to.as_deref(), Some("+442079460000"));
        let cleared = apply(
            &config,
            &handsets,
            desk,
            &off,
            change(r#"{"forwarding":{"to":null}}"#),
        )
        .unwrap();
        assert_eq!(cleared.forward_to, None);
    }

    #[test]
    fn bad_changes_are_refused_with_a_code() {
        let (config, handsets) = setup();
        let desk = handsets.by_id("desk").unwrap();
        let start = HandsetSettings::default();
        for (json, code) in [
            (
                r#"{"forwarding":{"mode":"sometimes","to":"102"}}"#,
                "invalid_mode",
            ),
            (r#"{"forwarding":{"mode":"always"}}"#, "missing_target"),
            (
                r#"{"forwarding":{"mode":"always","to":null}}"#,
                "missing_target",
            ),
            (
                r#"{"forwarding":{"mode":"busy","to":"101"}}"#,
                "invalid_target",
            ),
            (
                r#"{"forwarding":{"mode":"busy","to":"12"}}"#,
                "invalid_target",
            ),
            (
                r#"{"forwarding":{"mode":"busy","to":"<x>"}}"#,
                "invalid_target",
            ),
            (r#"{"forwarding":{"after_secs":4}}"#, "invalid_after_secs"),
            (r#"{"forwarding":{"after_secs":601}}"#, "invalid_after_secs"),
        ] {
            let refusal = apply(&config, &handsets, desk, &start, change(json)).unwrap_err();
            assert_eq!(refusal.code, code, "{json}");
        }
        for json in [
            r#"{"dnd":"yes"}"#,
            r#"{"volume":3}"#,
            r#"{"forwarding":{"after_secs":-1}}"#,
            r#"{"forwarding":{"mode":"busy","to":102}}"#,
            r#"[]"#,
            r#"[true]"#,
            r#"null"#,
            r#"{"dnd":true"#,
        ] {
            assert!(parse_change(json.as_bytes()).is_err(), "{json}");
        }
    }

    #[test]
    fn targets_resolve_to_numbers_and_other_handsets_only() {
        let (_, handsets) = setup();
        let desk = handsets.by_id("desk").unwrap();
        assert_eq!(
            Forward::resolve("102", &handsets, desk),
            Some(Forward::Handset {
                identity: "kitchen".into(),
                id: "kitchen".into()
            })
        );
        assert_eq!(Forward::resolve("101", &handsets, desk), None);
        assert_eq!(Forward::resolve("999", &handsets, desk), None);
        let number = Forward::resolve("+14155550100", &handsets, desk).unwrap();
        assert_eq!(number.stored(&handsets).as_deref(), Some("+14155550100"));
    }
}
