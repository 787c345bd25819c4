//! The 240×320 colour layout (ST7789 / ILI9341 SPI panels, portrait).

use embedded_graphics::mono_font::MonoFont;
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use profont::{PROFONT_12_POINT, PROFONT_14_POINT, PROFONT_18_POINT, PROFONT_24_POINT};

use super::painter::{Align, Painter};
use super::text::tail;
use super::words::{self, RowIcon};
use crate::history::Direction;
use crate::phone::view::{
    DialHint, MenuItem, Overlay, Registration, RowKind, Screen, StatusBar, View,
};

pub const WIDTH: u32 = 240;
pub const HEIGHT: u32 = 320;

const fn rgb(r: u8, g: u8, b: u8) -> Rgb565 {
    // 8-bit channels to 5/6/5 bits by truncation, usable in consts.
    Rgb565::new(r >> 3, g >> 2, b >> 3)
}

const BG: Rgb565 = rgb(12, 16, 22);
const PANEL: Rgb565 = rgb(30, 38, 50);
const TEXT: Rgb565 = rgb(236, 240, 244);
const MUTED: Rgb565 = rgb(140, 152, 164);
const ACCENT: Rgb565 = rgb(64, 144, 255);
const GREEN: Rgb565 = rgb(40, 196, 120);
const RED: Rgb565 = rgb(228, 72, 72);
const AMBER: Rgb565 = rgb(244, 178, 40);

const F12: &MonoFont<'static> = &PROFONT_12_POINT;
const F14: &MonoFont<'static> = &PROFONT_14_POINT;
const F18: &MonoFont<'static> = &PROFONT_18_POINT;
const F24: &MonoFont<'static> = &PROFONT_24_POINT;

const W: u32 = WIDTH;
const BAR: i32 = 26;
const FOOTER: i32 = 296;
/// Side margin.
const M: i32 = 10;
/// Rows of the About page on screen at once (the volume keys scroll the rest).
const ABOUT_ROWS: usize = 7;
const INNER: u32 = W - 2 * M as u32;

type P<'a, D> = Painter<'a, D>;

/// Draws `view` onto a 240×320 colour display.
pub fn render<D>(view: &View, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb565>,
{
    draw(view, &mut Painter::new(target, None))
}

pub(super) fn draw<D>(view: &View, p: &mut P<'_, D>) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb565>,
{
    p.target.clear(BG)?;
    status_bar(p, &view.status)?;
    screen(p, &view.screen)?;
    if let Some(overlay) = &view.overlay {
        draw_overlay(p, overlay)?;
    }
    Ok(())
}

/// For tests and tools that want the palette's background.
pub fn background() -> Rgb565 {
    BG
}

fn status_bar<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    s: &StatusBar,
) -> Result<(), D::Error> {
    p.fill(0, 0, W, BAR as u32, PANEL)?;
    let mut right = W as i32 - 6;
    if let Some(clock) = &s.clock {
        let cw = P::<D>::width_of(F12, clock) as i32;
        right -= cw;
        p.text(clock, F12, TEXT, None, right, 5, cw as u32, Align::Right)?;
        right -= 8;
    }
    if let Some(q) = s.quality {
        right -= 15;
        let color = match q {
            4 | 3 => GREEN,
            2 => AMBER,
            _ => RED,
        };
        p.bars(right, 6, 14, 3, q, 4, color, MUTED)?;
        right -= 8;
    }
    if s.missed > 0 {
        let count = s.missed.min(99).to_string();
        let cw = P::<D>::width_of(F12, &count) as i32;
        right -= cw;
        p.text(&count, F12, RED, None, right, 5, cw as u32, Align::Left)?;
        right -= 18;
        p.envelope(right, 8, 15, 10, RED)?;
        right -= 8;
    }
    if s.voicemail > 0 {
        let count = s.voicemail.min(99).to_string();
        let cw = P::<D>::width_of(F12, &count) as i32;
        right -= cw;
        p.text(&count, F12, AMBER, None, right, 5, cw as u32, Align::Left)?;
        right -= 22;
        p.voicemail(right, 9, 19, AMBER)?;
        right -= 8;
    }
    if s.speaker {
        right -= 14;
        p.speaker(right, 6, 14, TEXT)?;
        right -= 6;
    }
    if s.muted {
        right -= 34;
        p.rounded(right, 5, 34, 16, 4, Some(RED), None)?;
        p.text("MUTE", F12, TEXT, None, right, 5, 34, Align::Center)?;
        right -= 6;
    }
    if s.dnd {
        right -= 34;
        p.rounded(right, 5, 34, 16, 4, Some(AMBER), None)?;
        p.text("DND", F12, BG, None, right, 5, 34, Align::Center)?;
        right -= 6;
    }
    let (dot, filled) = match s.registration {
        Registration::Registered => (GREEN, true),
        Registration::Registering | Registration::Starting => (AMBER, false),
        _ => (RED, true),
    };
    p.dot(7, 8, 10, dot, filled)?;
    let room = (right - 24).max(0) as u32;
    let label = match (&s.registration, &s.edge) {
        (Registration::Registered, Some(edge))
            if P::<D>::width_of(F12, &format!("Ready - {edge}")) <= room =>
        {
            format!("{} - {edge}", s.registration.label())
        }
        (r, _) => r.label().to_string(),
    };
    p.text(&label, F12, TEXT, None, 22, 5, room, Align::Left)
}

fn band<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    title: &str,
    color: Rgb565,
    text: Rgb565,
    right: Option<&str>,
) -> Result<(), D::Error> {
    p.fill(0, BAR, W, 36, color)?;
    match right {
        Some(r) => {
            let rw = P::<D>::width_of(F12, r);
            p.text(
                r,
                F12,
                text,
                None,
                W as i32 - M - rw as i32,
                BAR + 11,
                rw,
                Align::Right,
            )?;
            p.text(
                title,
                F18,
                text,
                None,
                M,
                BAR + 7,
                INNER - rw - 8,
                Align::Left,
            )
        }
        None => p.text(title, F18, text, None, M, BAR + 7, INNER, Align::Center),
    }
}

fn footer<D: DrawTarget<Color = Rgb565>>(p: &mut P<'_, D>, hint: &str) -> Result<(), D::Error> {
    p.line((M, FOOTER), (W as i32 - M - 1, FOOTER), PANEL)?;
    p.text(hint, F12, MUTED, None, M, FOOTER + 6, INNER, Align::Center)
}

/// A name or number as large as it fits.
fn headline<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    text: &str,
    y: i32,
) -> Result<(), D::Error> {
    let font = P::<D>::fitting(F24, &[F18, F14], text, INNER);
    let dy = (F24.character_size.height as i32 - font.character_size.height as i32) / 2;
    p.text(text, font, TEXT, None, M, y + dy, INNER, Align::Center)
}

fn centered<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    text: &str,
    font: &MonoFont<'_>,
    color: Rgb565,
    y: i32,
) -> Result<(), D::Error> {
    p.text(text, font, color, None, M, y, INNER, Align::Center)
}

fn pill<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    text: &str,
    x: i32,
    y: i32,
    w: u32,
    fill: Rgb565,
    ink: Rgb565,
) -> Result<(), D::Error> {
    p.rounded(x, y, w, 26, 8, Some(fill), None)?;
    p.text(text, F14, ink, None, x, y + 5, w, Align::Center)
}

fn screen<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    screen: &Screen,
) -> Result<(), D::Error> {
    match screen {
        Screen::Boot { version } => {
            centered(p, "offhook", F24, ACCENT, 104)?;
            centered(p, "desk phone", F14, MUTED, 142)?;
            centered(p, "Starting...", F14, TEXT, 190)?;
            footer(p, &format!("version {version}"))
        }
        Screen::Registering {
            identity,
            server,
            detail,
        } => {
            for i in 0..3 {
                p.dot(
                    96 + i * 18,
                    70,
                    10,
                    if i == 1 { ACCENT } else { MUTED },
                    true,
                )?;
            }
            centered(p, "Connecting", F18, TEXT, 100)?;
            if let Some(id) = identity {
                centered(p, id, F14, MUTED, 132)?;
            }
            p.paragraph(detail, F14, TEXT, M, 170, INNER, 3, 20, Align::Center)?;
            footer(p, words::server_host(server))
        }
        Screen::Idle {
            identity,
            number,
            missed,
            voicemail,
            date,
            notice,
        } => {
            headline(p, identity.as_deref().unwrap_or("offhook"), 62)?;
            if let Some(n) = number {
                centered(p, n, F14, MUTED, 100)?;
            }
            if let Some(d) = date {
                centered(p, d, F18, TEXT, 134)?;
            }
            if *voicemail == 0 {
                if *missed > 0 {
                    missed_box(p, *missed, 176, 40)?;
                }
                if let Some(text) = notice {
                    p.rounded(M, 224, INNER, 66, 8, Some(PANEL), Some(AMBER))?;
                    p.paragraph(text, F12, AMBER, M + 8, 230, INNER - 16, 4, 14, Align::Left)?;
                }
                return footer(p, "Lift to call, Menu: more");
            }
            // New voicemail first, then missed calls and a notice in what is left.
            p.rounded(M, 176, INNER, 40, 8, Some(PANEL), Some(AMBER))?;
            p.voicemail(M + 10, 192, 22, AMBER)?;
            let words = words::new_voicemails(*voicemail);
            p.text(
                &words,
                F14,
                TEXT,
                None,
                M + 40,
                188,
                INNER - 50,
                Align::Left,
            )?;
            let mut y = 222;
            if *missed > 0 {
                missed_box(p, *missed, y, 30)?;
                y += 36;
            }
            if let Some(text) = notice {
                let lines = ((290 - y - 12) / 14).max(1) as usize;
                p.rounded(M, y, INNER, (290 - y) as u32, 8, Some(PANEL), Some(AMBER))?;
                p.paragraph(
                    text,
                    F12,
                    AMBER,
                    M + 8,
                    y + 5,
                    INNER - 16,
                    lines,
                    14,
                    Align::Left,
                )?;
            }
            footer(p, "Lift to call, Menu: more")
        }
        Screen::NoService {
            title,
            reason,
            action,
        } => {
            band(p, title, RED, TEXT, None)?;
            let y = p.paragraph(reason, F14, TEXT, M, 82, INNER, 5, 20, Align::Left)?;
            p.paragraph(action, F14, AMBER, M, y + 12, INNER, 5, 20, Align::Left)?;
            footer(p, "Hang up to stop the tone")
        }
        Screen::Dialing { digits, hint } => {
            p.text("Dial", F14, MUTED, None, M, 44, INNER, Align::Left)?;
            p.rounded(M, 72, INNER, 48, 8, Some(PANEL), None)?;
            let shown = tail(digits, Painter::<D>::chars_in(F24, INNER - 16));
            p.text(&shown, F24, TEXT, None, M + 8, 82, INNER - 16, Align::Left)?;
            let color = match hint {
                DialHint::Invalid | DialHint::Barred | DialHint::TimedOut => RED,
                _ => MUTED,
            };
            centered(p, words::dial_hint(*hint), F14, color, 140)?;
            footer(p, "# call now - * or hold 0: +")
        }
        Screen::Calling { party, stage } => {
            let words = words::calling_stage(*stage);
            centered(p, words, F14, ACCENT, 56)?;
            headline(p, party.headline(), 104)?;
            if party.name.is_some() {
                centered(p, &party.number, F14, MUTED, 144)?;
            }
            footer(p, "Hang up to cancel")
        }
        Screen::Incoming { party } => {
            band(p, "Incoming call", GREEN, BG, None)?;
            headline(p, party.headline(), 110)?;
            if party.name.is_some() {
                centered(p, &party.number, F14, MUTED, 150)?;
            }
            pill(p, "Lift: answer", M, 244, 136, GREEN, BG)?;
            pill(p, "Reject", M + 144, 244, INNER - 144, RED, TEXT)?;
            footer(p, "Speaker: hands-free")
        }
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
            if *reconnecting {
                band(p, "Reconnecting...", AMBER, BG, None)?;
            } else {
                band(p, "In call", GREEN, BG, None)?;
            }
            headline(p, party.headline(), 74)?;
            if party.name.is_some() {
                centered(p, &party.number, F14, MUTED, 110)?;
            }
            centered(p, &words::call_timer(*elapsed_secs), F24, TEXT, 142)?;
            let mut x = M;
            if *muted {
                pill(p, "Muted", x, 190, 100, RED, TEXT)?;
                x += 110;
            }
            if *speaker {
                pill(p, "Speaker", x, 190, 100, PANEL, TEXT)?;
            }
            if let Some(q) = quality {
                p.text("Quality", F12, MUTED, None, M, 228, 70, Align::Left)?;
                let color = if *q >= 3 {
                    GREEN
                } else if *q == 2 {
                    AMBER
                } else {
                    RED
                };
                p.bars(M + 62, 226, 16, 5, *q, 4, color, MUTED)?;
            }
            if let Some(w) = warning {
                p.text(w, F12, AMBER, None, M + 100, 228, INNER - 100, Align::Right)?;
            }
            if let Some(w) = waiting {
                p.rounded(M, 248, INNER, 40, 8, Some(PANEL), Some(AMBER))?;
                p.text(
                    &words::waiting(w.headline()),
                    F14,
                    AMBER,
                    None,
                    M + 8,
                    259,
                    INNER - 16,
                    Align::Left,
                )?;
            } else if !digits_sent.is_empty() {
                p.text("Sent", F12, MUTED, None, M, 260, 40, Align::Left)?;
                let shown = tail(digits_sent, Painter::<D>::chars_in(F14, INNER - 44));
                p.text(
                    &shown,
                    F14,
                    TEXT,
                    None,
                    M + 44,
                    258,
                    INNER - 44,
                    Align::Left,
                )?;
            }
            footer(p, "Mute - Vol +/- - Speaker")
        }
        Screen::CallEnded {
            party,
            duration_secs,
            cause,
            waiting,
        } => {
            band(p, "Call ended", PANEL, TEXT, None)?;
            centered(p, cause, F18, TEXT, 84)?;
            headline(p, party.headline(), 124)?;
            if party.name.is_some() {
                centered(p, &party.number, F14, MUTED, 162)?;
            }
            if let Some(secs) = duration_secs {
                centered(p, &words::call_duration(*secs), F14, MUTED, 200)?;
            }
            if let Some(w) = waiting {
                p.rounded(M, 238, INNER, 40, 8, Some(PANEL), Some(AMBER))?;
                p.text(
                    &format!("{} waiting", w.headline()),
                    F14,
                    AMBER,
                    None,
                    M + 8,
                    249,
                    INNER - 16,
                    Align::Left,
                )?;
                return footer(p, "Hang up to answer");
            }
            footer(p, "Hang up when done")
        }
        Screen::Error {
            code,
            title,
            cause,
            action,
        } => {
            let heading = match code {
                Some(c) => format!("Error {c}"),
                None => "Problem".to_string(),
            };
            band(p, &heading, RED, TEXT, None)?;
            p.text(title, F18, TEXT, None, M, 74, INNER, Align::Left)?;
            let y = p.paragraph(cause, F14, TEXT, M, 108, INNER, 4, 20, Align::Left)?;
            p.text(
                "What to do",
                F12,
                MUTED,
                None,
                M,
                y + 10,
                INNER,
                Align::Left,
            )?;
            p.paragraph(
                action,
                F14,
                AMBER,
                M,
                y + 28,
                INNER,
                ((FOOTER - y - 32) / 20).max(0) as usize,
                20,
                Align::Left,
            )?;
            footer(p, "Menu: settings and about")
        }
        Screen::Menu {
            title,
            items,
            selected,
        } => {
            let position = words::position(*selected, items.len());
            band(p, title, ACCENT, TEXT, Some(&position))?;
            list(p, items, *selected)?;
            footer(p, "Vol+/-: move  Menu: OK")
        }
        Screen::Level { title, level, max } => {
            band(p, title, ACCENT, TEXT, None)?;
            p.meter(M + 10, 120, INNER - 20, 30, *level, *max, ACCENT, MUTED)?;
            centered(p, &words::level(*level, *max), F24, TEXT, 170)?;
            footer(p, "Vol+/-: change  Menu: OK")
        }
        Screen::History { rows, selected } => {
            let position = if rows.is_empty() {
                String::new()
            } else {
                words::position(*selected, rows.len())
            };
            band(p, "Call history", ACCENT, TEXT, Some(&position))?;
            if rows.is_empty() {
                centered(p, "No calls yet", F14, MUTED, 150)?;
                return footer(p, "Reject: back");
            }
            let visible = 5;
            let first = super::mono::scroll_start(*selected, rows.len(), visible);
            for (i, row) in rows.iter().enumerate().skip(first).take(visible) {
                let y = BAR + 42 + ((i - first) as i32) * 45;
                if i == *selected {
                    p.rounded(4, y, W - 8, 42, 6, Some(PANEL), Some(ACCENT))?;
                }
                let color = match row.kind {
                    RowKind::Call {
                        direction: Direction::Placed,
                    } => ACCENT,
                    RowKind::Call {
                        direction: Direction::Received,
                    } => GREEN,
                    RowKind::Call {
                        direction: Direction::Missed,
                    } => RED,
                    RowKind::Voicemail { new: true } => AMBER,
                    RowKind::Voicemail { new: false } => MUTED,
                };
                match words::row_icon(row.kind) {
                    RowIcon::Arrow { outgoing } => p.arrow(M + 2, y + 13, 14, outgoing, color)?,
                    RowIcon::Missed => p.cross(M + 2, y + 13, 14, color)?,
                    RowIcon::Voicemail => p.voicemail(M, y + 15, 18, color)?,
                }
                let label_color = match row.kind {
                    RowKind::Call {
                        direction: Direction::Missed,
                    } => RED,
                    _ => TEXT,
                };
                p.text(
                    &row.label,
                    F14,
                    label_color,
                    None,
                    M + 26,
                    y + 4,
                    INNER - 30,
                    Align::Left,
                )?;
                let when = row.when.clone().unwrap_or_default();
                p.text(
                    &words::history_detail(row),
                    F12,
                    MUTED,
                    None,
                    M + 26,
                    y + 23,
                    110,
                    Align::Left,
                )?;
                p.text(
                    &when,
                    F12,
                    MUTED,
                    None,
                    M + 140,
                    y + 23,
                    INNER - 144,
                    Align::Right,
                )?;
            }
            footer(p, "Menu: call back")
        }
        Screen::Entry { title, value, hint } => {
            band(p, title, ACCENT, TEXT, None)?;
            p.rounded(M, 72, INNER, 48, 8, Some(PANEL), None)?;
            if value.is_empty() {
                p.text(
                    "(none)",
                    F14,
                    MUTED,
                    None,
                    M + 8,
                    86,
                    INNER - 16,
                    Align::Left,
                )?;
            } else {
                let shown = tail(value, Painter::<D>::chars_in(F24, INNER - 16));
                p.text(&shown, F24, TEXT, None, M + 8, 82, INNER - 16, Align::Left)?;
            }
            centered(p, "Enter the number", F14, MUTED, 140)?;
            footer(p, hint)
        }
        Screen::About {
            version,
            identity,
            device_id,
            ip,
            edge,
            server,
            region,
            sources,
            scroll,
        } => {
            band(p, "About", ACCENT, TEXT, None)?;
            let rows: Vec<(String, String)> = [
                ("Version", version.clone()),
                ("Identity", identity.clone().unwrap_or_else(|| "-".into())),
                ("Device", device_id.clone()),
                ("IP address", ip.clone().unwrap_or_else(|| "unknown".into())),
                ("Edge", edge.clone().unwrap_or_else(|| "-".into())),
                ("Tones", region.clone()),
                ("Server", words::server_host(server).to_string()),
            ]
            .into_iter()
            .map(|(label, value)| (label.to_string(), value))
            .chain(
                sources
                    .iter()
                    .map(|row| (row.setting.clone(), row.source.label().to_string())),
            )
            .collect();
            let first = (*scroll).min(rows.len().saturating_sub(ABOUT_ROWS));
            for (i, (label, value)) in rows.iter().skip(first).take(ABOUT_ROWS).enumerate() {
                let y = BAR + 46 + i as i32 * 30;
                p.text(label, F12, MUTED, None, M, y + 2, 80, Align::Left)?;
                let font = P::<D>::fitting(F14, &[F12], value, INNER - 84);
                p.text(
                    value,
                    font,
                    TEXT,
                    None,
                    M + 84,
                    y + 1,
                    INNER - 84,
                    Align::Right,
                )?;
                p.line((M, y + 24), (W as i32 - M - 1, y + 24), PANEL)?;
            }
            if rows.len() > ABOUT_ROWS {
                let track = ABOUT_ROWS as u32 * 30;
                let thumb = (track * ABOUT_ROWS as u32 / rows.len() as u32).max(8);
                let y = BAR
                    + 44
                    + ((track - thumb) * first as u32 / (rows.len() - ABOUT_ROWS) as u32) as i32;
                p.fill(W as i32 - 3, y, 2, thumb, MUTED)?;
            }
            footer(p, "Vol: scroll  Reject: back")
        }
    }
}

/// The idle screen's missed-calls box, `h` tall at `y`.
fn missed_box<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    missed: u32,
    y: i32,
    h: u32,
) -> Result<(), D::Error> {
    p.rounded(M, y, INNER, h, 8, Some(PANEL), Some(RED))?;
    let mid = y + h as i32 / 2;
    p.envelope(M + 12, mid - 6, 18, 12, RED)?;
    let words = words::missed_calls(missed);
    p.text(
        &words,
        F14,
        TEXT,
        None,
        M + 40,
        mid - 8,
        INNER - 50,
        Align::Left,
    )
}

fn list<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    items: &[MenuItem],
    selected: usize,
) -> Result<(), D::Error> {
    let visible = 7;
    let first = super::mono::scroll_start(selected, items.len(), visible);
    for (i, item) in items.iter().enumerate().skip(first).take(visible) {
        let y = BAR + 44 + ((i - first) as i32) * 32;
        let chosen = i == selected;
        if chosen {
            p.rounded(4, y, W - 8, 30, 6, Some(ACCENT), None)?;
        }
        let ink = TEXT;
        if item.checked {
            p.dot(M + 2, y + 10, 10, if chosen { TEXT } else { GREEN }, true)?;
        }
        // 1-9 pick a row: only those rows carry their key.
        if i < 9 {
            let number = format!("{}", i + 1);
            p.text(
                &number,
                F12,
                if chosen { TEXT } else { MUTED },
                None,
                M + 16,
                y + 7,
                14,
                Align::Left,
            )?;
        }
        match &item.value {
            Some(value) => {
                let vw = P::<D>::width_of(F12, value).min(104);
                p.text(
                    value,
                    F12,
                    if chosen { TEXT } else { MUTED },
                    None,
                    W as i32 - M - vw as i32,
                    y + 7,
                    vw,
                    Align::Right,
                )?;
                let room = INNER - 40 - vw;
                let font = P::<D>::fitting(F14, &[F12], &item.label, room);
                p.text(
                    &item.label,
                    font,
                    ink,
                    None,
                    M + 32,
                    y + 6,
                    room,
                    Align::Left,
                )?;
            }
            None => p.text(
                &item.label,
                F14,
                ink,
                None,
                M + 32,
                y + 6,
                INNER - 34,
                Align::Left,
            )?,
        }
    }
    if items.len() > visible {
        let track = (visible as u32) * 32;
        let thumb = (track * visible as u32 / items.len() as u32).max(8);
        let y = BAR + 44 + ((track - thumb) * first as u32 / (items.len() - visible) as u32) as i32;
        p.fill(W as i32 - 3, y, 2, thumb, MUTED)?;
    }
    Ok(())
}

fn draw_overlay<D: DrawTarget<Color = Rgb565>>(
    p: &mut P<'_, D>,
    overlay: &Overlay,
) -> Result<(), D::Error> {
    p.rounded(20, 110, W - 40, 104, 10, Some(PANEL), Some(ACCENT))?;
    match overlay {
        Overlay::Volume { path, level, max } => {
            p.text(
                &words::volume_title(*path),
                F14,
                TEXT,
                None,
                28,
                122,
                W - 56,
                Align::Center,
            )?;
            p.meter(36, 152, W - 72, 20, *level, *max, ACCENT, MUTED)?;
            p.text(
                &words::level(*level, *max),
                F14,
                TEXT,
                None,
                28,
                182,
                W - 56,
                Align::Center,
            )
        }
        Overlay::Notice { text } => {
            p.paragraph(text, F14, TEXT, 30, 124, W - 60, 4, 20, Align::Center)?;
            Ok(())
        }
    }
}
