//! A one-line description of everything a screen shows: the simulator's summary (what
//! `expect screen` matches), and a key that changes whenever the pixels would.

use crate::clock::format_duration;
use crate::phone::view::{Overlay, Screen, View};

/// Describes the screen and the status bar in words.
pub fn describe(view: &View) -> String {
    let screen = match &view.screen {
        Screen::Boot { .. } => "Starting".to_string(),
        Screen::Registering { detail, .. } => format!("Registering: {detail}"),
        Screen::Idle {
            identity,
            number,
            missed,
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
                format_duration(std::time::Duration::from_secs(*elapsed_secs))
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
            duration_secs
                .map(|d| format_duration(std::time::Duration::from_secs(d)))
                .unwrap_or_default()
        ),
        Screen::Error { code, title, .. } => match code {
            Some(c) => format!("Error {c}: {title}"),
            None => format!("Error: {title}"),
        },
        Screen::Menu {
            title, selected, ..
        } => format!("Menu {title} #{selected}"),
        Screen::Level { title, level, max } => format!("{title} {level}/{max}"),
        Screen::History { rows, selected } => format!("History #{selected} of {}", rows.len()),
        Screen::About { .. } => "About".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
