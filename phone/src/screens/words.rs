//! The screen-text layer: the words of every view, made in one place. The mono and the
//! colour layouts draw these strings; the simulator's description (what `expect screen`
//! matches, and the e2e golden images' keys) and the systemd status line are made of them.
//!
//! - [`gist`] — the facts a screen states (who, how long, which error), which every one of
//!   the four shows; the tests below hold them to it.
//! - [`describe`] — the screen and status bar in one line (the simulator's summary).
//! - [`status_line`] — one line for `systemctl status`.
//! - the phrases the layouts share: [`calling_stage`], [`missed_calls`], [`new_voicemails`],
//!   [`dial_hint`], …

use std::time::Duration;

use crate::clock::format_duration;
use crate::history::Direction;
use crate::phone::io::VolumePath;
use crate::phone::view::{
    CallingStage, DialHint, HistoryRow, MenuItem, Overlay, RowKind, Screen, SourceRow, View,
};

/// `1:05` for a call timer.
pub fn call_timer(secs: u64) -> String {
    format_duration(Duration::from_secs(secs))
}

/// What an outgoing call is doing.
pub fn calling_stage(stage: CallingStage) -> &'static str {
    match stage {
        CallingStage::Connecting => "Calling...",
        CallingStage::Ringing => "Ringing...",
    }
}

/// `1 missed call`, `3 missed calls`.
pub fn missed_calls(count: u32) -> String {
    if count == 1 {
        "1 missed call".to_string()
    } else {
        format!("{count} missed calls")
    }
}

/// `1 new voicemail`, `2 new voicemails`.
pub fn new_voicemails(count: u32) -> String {
    if count == 1 {
        "1 new voicemail".to_string()
    } else {
        format!("{count} new voicemails")
    }
}

/// The line under the dialled digits.
pub fn dial_hint(hint: DialHint) -> &'static str {
    match hint {
        DialHint::Ready => "Enter a number",
        DialHint::Typing => "# to call now",
        DialHint::Invalid => "Number not valid",
        DialHint::Barred => "Number barred",
        DialHint::TimedOut => "Hang up, try again",
    }
}

/// Where a setting came from: `Contacts: server`.
pub fn source_line(row: &SourceRow) -> String {
    format!("{}: {}", row.setting, row.source.label())
}

/// The About page's facts above the sources, as the mono layout's lines.
pub fn about_lines(
    version: &str,
    identity: Option<&str>,
    device_id: &str,
    ip: Option<&str>,
    edge: Option<&str>,
    server: &str,
    region: &str,
) -> [String; 5] {
    [
        format!("offhook {version}"),
        format!("ID {} ({device_id})", identity.unwrap_or("-")),
        format!("IP {}", ip.unwrap_or("unknown")),
        format!("Edge {}  Tones {region}", edge.unwrap_or("-")),
        server_host(server).to_string(),
    ]
}

/// A menu row in words: its label, and its value after it.
pub fn menu_item(item: &MenuItem) -> String {
    match &item.value {
        Some(value) => format!("{} {value}", item.label),
        None => item.label.clone(),
    }
}

/// A server URL as a host to show (no scheme).
pub fn server_host(server: &str) -> &str {
    server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
}

/// A second caller while in a call.
pub fn waiting(headline: &str) -> String {
    format!("Waiting: {headline}")
}

/// How long an ended call lasted.
pub fn call_duration(secs: u64) -> String {
    format!("Duration {}", call_timer(secs))
}

/// A level screen's figure: `5 / 8`.
pub fn level(level: u8, max: u8) -> String {
    format!("{level} / {max}")
}

/// The volume pop-up's title.
pub fn volume_title(path: VolumePath) -> String {
    format!("{} volume", path.label())
}

/// Where a list is: `3/7`.
pub fn position(selected: usize, len: usize) -> String {
    format!("{}/{}", (selected + 1).min(len), len)
}

/// `Some(true)` for placed calls (arrow out), `Some(false)` for received, `None` for missed.
pub fn direction_outgoing(direction: Direction) -> Option<bool> {
    match direction {
        Direction::Placed => Some(true),
        Direction::Received => Some(false),
        Direction::Missed => None,
    }
}

/// The icon a history row gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowIcon {
    /// An arrow: out for placed calls, in for received ones.
    Arrow { outgoing: bool },
    /// A cross: a missed call.
    Missed,
    /// The voicemail reels.
    Voicemail,
}

pub fn row_icon(kind: RowKind) -> RowIcon {
    match kind {
        RowKind::Call { direction } => match direction_outgoing(direction) {
            Some(outgoing) => RowIcon::Arrow { outgoing },
            None => RowIcon::Missed,
        },
        RowKind::Voicemail { .. } => RowIcon::Voicemail,
    }
}

/// The second line of a history row.
pub fn history_detail(row: &HistoryRow) -> String {
    row.detail.clone()
}

/// The facts a screen states, each as the exact string it is shown as: who the call is
/// with, its timer, the dialled digits, an error's code and title. Both layouts draw each of
/// them (long ones cut to fit) and the description contains each.
pub fn gist(screen: &Screen) -> Vec<String> {
    match screen {
        Screen::Boot { .. } | Screen::About { .. } => Vec::new(),
        Screen::Registering { detail, .. } => vec![detail.clone()],
        Screen::Idle {
            identity,
            voicemail,
            ..
        } => {
            let mut facts: Vec<String> = identity.iter().cloned().collect();
            if *voicemail > 0 {
                facts.push(new_voicemails(*voicemail));
            }
            facts
        }
        Screen::NoService { title, .. } => vec![title.clone()],
        Screen::Dialing { digits, .. } if !digits.is_empty() => vec![digits.clone()],
        Screen::Dialing { .. } => Vec::new(),
        Screen::Calling { party, .. } | Screen::Incoming { party } => {
            vec![party.headline().to_string()]
        }
        Screen::InCall {
            party,
            elapsed_secs,
            ..
        } => vec![party.headline().to_string(), call_timer(*elapsed_secs)],
        Screen::CallEnded { party, cause, .. } => {
            vec![party.headline().to_string(), cause.clone()]
        }
        Screen::Error { code, title, .. } => {
            let mut facts = vec![title.clone()];
            if let Some(code) = code {
                facts.insert(0, code.to_string());
            }
            facts
        }
        Screen::Menu { title, .. } | Screen::Level { title, .. } => vec![title.clone()],
        Screen::Entry { title, value, .. } => {
            let mut facts = vec![title.clone()];
            if !value.is_empty() {
                facts.push(value.clone());
            }
            facts
        }
        // The rows are the content; the description counts them.
        Screen::History { .. } => Vec::new(),
    }
}

/// A one-line description of everything a screen shows: the simulator's summary (what
/// `expect screen` matches), and a key that changes whenever the pixels would.
pub fn describe(view: &View) -> String {
    let screen = match &view.screen {
        Screen::Boot { .. } => "Starting".to_string(),
        Screen::Registering { detail, .. } => format!("Registering: {detail}"),
        Screen::Idle {
            identity,
            number,
            missed,
            voicemail,
            notice,
            date,
        } => {
            let mut s = format!(
                "Idle {} {}",
                identity.as_deref().unwrap_or("-"),
                number.as_deref().unwrap_or("-")
            );
            if *missed > 0 {
                s.push_str(&format!(" missed {missed}"));
            }
            if *voicemail > 0 {
                s.push_str(&format!(" {}", new_voicemails(*voicemail)));
            }
            if let Some(d) = date {
                s.push_str(&format!(" {d}"));
            }
            if let Some(n) = notice {
                s.push_str(&format!(" ({n})"));
            }
            s
        }
        Screen::NoService { title, reason, .. } => format!("No service: {title} ({reason})"),
        Screen::Dialing { digits, hint } => format!("Dial {digits} [{hint:?}]"),
        Screen::Calling { party, stage } => format!("Calling {} [{stage:?}]", party.headline()),
        Screen::Incoming { party } => format!("Ringing: {} {}", party.headline(), party.number),
        Screen::InCall {
            party,
            elapsed_secs,
            muted,
            digits_sent,
            quality,
            warning,
            reconnecting,
            speaker,
            waiting,
        } => {
            let mut s = format!(
                "In call with {} ({})",
                party.headline(),
                call_timer(*elapsed_secs)
            );
            if *muted {
                s.push_str(" muted");
            }
            if *speaker {
                s.push_str(" speaker");
            }
            if !digits_sent.is_empty() {
                s.push_str(&format!(" sent {digits_sent}"));
            }
            if let Some(q) = quality {
                s.push_str(&format!(" q{q}"));
            }
            if let Some(w) = warning {
                s.push_str(&format!(" warning {w}"));
            }
            if *reconnecting {
                s.push_str(" reconnecting");
            }
            if let Some(w) = waiting {
                s.push_str(&format!(" waiting {}", w.headline()));
            }
            s
        }
        Screen::CallEnded {
            party,
            duration_secs,
            cause,
            ..
        } => format!(
            "Call ended: {} {} {cause}",
            party.headline(),
            duration_secs.map(call_timer).unwrap_or_default()
        ),
        Screen::Error { code, title, .. } => match code {
            Some(c) => format!("Error {c}: {title}"),
            None => format!("Error: {title}"),
        },
        Screen::Menu {
            title,
            items,
            selected,
        } => {
            let rows: Vec<String> = items.iter().map(menu_item).collect();
            format!("Menu {title} #{selected}: {}", rows.join(", "))
        }
        Screen::Level { title, level, max } => format!("{title} {level}/{max}"),
        Screen::History { rows, selected } => format!("History #{selected} of {}", rows.len()),
        Screen::Entry { title, value, .. } => format!("Entry {title}: {value}"),
        Screen::About { sources, .. } => {
            let lines: Vec<String> = sources.iter().map(source_line).collect();
            format!("About {}", lines.join(", "))
        }
    };
    let st = &view.status;
    let mut status = st.registration.label().to_string();
    if let Some(e) = &st.edge {
        status.push_str(&format!(" {e}"));
    }
    if let Some(q) = st.quality {
        status.push_str(&format!(" q{q}"));
    }
    if let Some(c) = &st.clock {
        status.push_str(&format!(" {c}"));
    }
    if st.missed > 0 {
        status.push_str(&format!(" missed {}", st.missed));
    }
    if st.voicemail > 0 {
        status.push_str(&format!(" voicemail {}", st.voicemail));
    }
    for (on, flag) in [
        (st.muted, "muted"),
        (st.speaker, "speaker"),
        (st.dnd, "dnd"),
    ] {
        if on {
            status.push_str(&format!(" {flag}"));
        }
    }
    let overlay = match &view.overlay {
        None => String::new(),
        Some(Overlay::Volume { path, level, max }) => {
            format!(" [volume {} {level}/{max}]", path.label())
        }
        Some(Overlay::Notice { text }) => format!(" [{text}]"),
    };
    format!("{screen} | {status}{overlay}")
}

/// A one-line status for `systemctl status`, from what the screen shows.
pub fn status_line(view: &View) -> String {
    let registration = view.status.registration.label();
    match &view.screen {
        Screen::InCall {
            party,
            elapsed_secs,
            ..
        } => format!(
            "In call with {} ({})",
            party.headline(),
            call_timer(*elapsed_secs)
        ),
        Screen::Calling { party, .. } => format!("Calling {}", party.headline()),
        Screen::Incoming { party } => format!("Ringing: {}", party.headline()),
        Screen::Error {
            code: Some(code),
            title,
            ..
        } => format!("{registration}: error {code} ({title})"),
        Screen::Error { title, .. } | Screen::NoService { title, .. } => {
            format!("{registration}: {title}")
        }
        _ => match &view.status.edge {
            Some(edge) => format!("{registration} ({edge})"),
            None => registration.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screens::text::fold;
    use crate::screens::{Layout, drawn_text};

    /// Whether a layout drew `fact`: whole, inside a longer string, or cut to fit (`abc...`
    /// for a long name, `<789` for the end of a long number).
    fn shows(drawn: &[String], fact: &str) -> bool {
        let fact = fold(fact);
        drawn.iter().map(|d| fold(d)).any(|d| {
            d.contains(&fact)
                || d.strip_suffix("...")
                    .is_some_and(|head| head.len() >= 3 && fact.starts_with(head))
                || d.strip_prefix('<')
                    .is_some_and(|end| end.len() >= 3 && fact.ends_with(end))
        })
    }

    #[test]
    fn both_layouts_the_description_and_the_status_line_state_the_same_facts() {
        let catalog = crate::screens::catalog::catalog();
        let mut facts_checked = 0;
        for (name, view) in &catalog {
            let facts = gist(&view.screen);
            let description = describe(view);
            let status = status_line(view);
            for layout in Layout::ALL {
                let drawn = drawn_text(view, layout);
                for fact in &facts {
                    assert!(
                        shows(&drawn, fact),
                        "{name}: the {} layout does not show {fact:?}; it draws {drawn:?}",
                        layout.name()
                    );
                }
                // The status bar's words too.
                let registration = view.status.registration.label();
                assert!(
                    shows(&drawn, registration),
                    "{name}: the {} layout lacks {registration:?}",
                    layout.name()
                );
            }
            for fact in &facts {
                assert!(
                    description.contains(fact.as_str()),
                    "{name}: {description:?} does not say {fact:?}"
                );
                facts_checked += 1;
            }
            // The status line speaks of calls and problems; elsewhere it says the registration.
            match &view.screen {
                Screen::Calling { .. }
                | Screen::Incoming { .. }
                | Screen::InCall { .. }
                | Screen::Error { .. }
                | Screen::NoService { .. } => {
                    for fact in &facts {
                        assert!(
                            status.contains(fact.as_str()),
                            "{name}: status {status:?} does not say {fact:?}"
                        );
                    }
                }
                _ => assert!(
                    status.starts_with(view.status.registration.label()),
                    "{name}: status {status:?}"
                ),
            }
        }
        assert!(facts_checked > 30, "only {facts_checked} facts checked");
    }

    #[test]
    fn a_changed_fact_is_noticed() {
        // The check above can fail: a layout that drew another caller would not pass.
        let catalog = crate::screens::catalog::catalog();
        let (_, view) = catalog
            .iter()
            .find(|(n, _)| *n == "in-call")
            .expect("in-call screen");
        let drawn = drawn_text(view, Layout::Mono128x64);
        assert!(shows(&drawn, "Mum"));
        assert!(!shows(&drawn, "Dad"));
        assert!(!shows(&drawn, "9:59"));
    }

    #[test]
    fn status_lines_follow_the_screen() {
        let catalog = crate::screens::catalog::catalog();
        let find = |name: &str| {
            catalog
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| status_line(v))
                .expect("screen in catalog")
        };
        assert_eq!(find("idle"), "Ready (ashburn)");
        assert_eq!(find("in-call"), "In call with Mum (1:06)");
        assert_eq!(
            find("error-31202"),
            "No token: error 31202 (Bad credentials)"
        );
        assert_eq!(find("incoming"), "Ringing: Mum");
    }

    #[test]
    fn every_catalog_screen_has_its_own_description() {
        let catalog = crate::screens::catalog::catalog();
        let mut seen = std::collections::BTreeMap::new();
        for (name, view) in &catalog {
            let d = describe(view);
            if let Some(other) = seen.insert(d.clone(), *name) {
                // Two screens described alike must look alike.
                let a =
                    crate::screens::render(view, crate::screens::Layout::Mono128x64).rgb_bytes();
                let b_view = &catalog.iter().find(|(n, _)| *n == other).unwrap().1;
                let b =
                    crate::screens::render(b_view, crate::screens::Layout::Mono128x64).rgb_bytes();
                assert_eq!(a, b, "{name} and {other} are both {d:?} but look different");
            }
        }
        assert!(seen.len() > 20);
    }
}
