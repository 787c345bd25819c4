//! The 128×64 monochrome layout (SSD1306-class OLEDs).

use embedded_graphics::mono_font::MonoFont;
use embedded_graphics::mono_font::iso_8859_1::{FONT_5X8, FONT_6X10, FONT_10X20};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use profont::PROFONT_14_POINT;

use super::painter::{Align, Painter};
use super::text::{ellipsize, tail};
use super::words::{self, RowIcon};
use crate::phone::view::{MenuItem, Overlay, Registration, Screen, StatusBar, View};

pub const WIDTH: u32 = 128;
pub const HEIGHT: u32 = 64;

const ON: BinaryColor = BinaryColor::On;
const OFF: BinaryColor = BinaryColor::Off;
const SMALL: &MonoFont<'static> = &FONT_5X8;
const BODY: &MonoFont<'static> = &FONT_6X10;
const BIG: &MonoFont<'static> = &PROFONT_14_POINT;
const HUGE: &MonoFont<'static> = &FONT_10X20;
/// Top of the area below the status bar.
const TOP: i32 = 11;
/// Where the in-call timer is drawn (a `HUGE` line, at most "9:59:59"), clear of the MUTE box.
/// It changes every second, so golden-image tests leave it out.
pub const CALL_TIMER_AREA: Rectangle = Rectangle::new(Point::new(24, 31), Size::new(80, 20));
/// Where an ended call's duration is drawn (a `SMALL` line across the screen); as above.
pub const CALL_DURATION_AREA: Rectangle = Rectangle::new(Point::new(0, 52), Size::new(WIDTH, 8));
/// Lines of the About page on screen at once (the volume keys scroll the rest).
const ABOUT_LINES: usize = 5;
const W: u32 = WIDTH;

type P<'a, D> = Painter<'a, D>;

/// Draws `view` onto a 128×64 monochrome display.
pub fn render<D>(view: &View, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    draw(view, &mut Painter::new(target, None))
}

pub(super) fn draw<D>(view: &View, p: &mut P<'_, D>) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    p.target.clear(OFF)?;
    status_bar(p, &view.status)?;
    screen(p, &view.screen)?;
    if let Some(overlay) = &view.overlay {
        draw_overlay(p, overlay)?;
    }
    Ok(())
}

fn status_bar<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    s: &StatusBar,
) -> Result<(), D::Error> {
    // Right side, from the edge inwards.
    let mut right = W as i32;
    if let Some(clock) = &s.clock {
        let cw = P::<D>::width_of(SMALL, clock) as i32;
        right -= cw;
        p.text(clock, SMALL, ON, None, right, 0, cw as u32, Align::Right)?;
        right -= 3;
    }
    if let Some(q) = s.quality {
        right -= 11;
        p.bars(right, 0, 8, 2, q, 4, ON, ON)?;
        right -= 3;
    }
    if s.missed > 0 {
        let count = s.missed.min(99).to_string();
        let text_w = P::<D>::width_of(SMALL, &count) as i32;
        right -= text_w;
        p.text(
            &count,
            SMALL,
            ON,
            None,
            right,
            0,
            text_w as u32,
            Align::Left,
        )?;
        right -= 9;
        p.envelope(right, 1, 8, 6, ON)?;
        right -= 3;
    }
    if s.voicemail > 0 {
        let count = s.voicemail.min(99).to_string();
        let text_w = P::<D>::width_of(SMALL, &count) as i32;
        right -= text_w;
        p.text(
            &count,
            SMALL,
            ON,
            None,
            right,
            0,
            text_w as u32,
            Align::Left,
        )?;
        right -= 11;
        p.voicemail(right, 2, 10, ON)?;
        right -= 3;
    }
    if s.speaker {
        right -= 8;
        p.speaker(right, 0, 8, ON)?;
        right -= 2;
    }
    if s.muted {
        right -= 11;
        p.fill(right, 0, 11, 8, ON)?;
        p.text("M", SMALL, OFF, None, right, 0, 11, Align::Center)?;
        right -= 2;
    }
    if s.dnd {
        right -= 8;
        p.dot(right, 0, 8, ON, false)?;
        p.line((right + 2, 4), (right + 5, 4), ON)?;
        right -= 2;
    }
    // Left: registration mark and words.
    match s.registration {
        Registration::Registered => p.dot(0, 1, 6, ON, true)?,
        Registration::Registering | Registration::Starting => p.dot(0, 1, 6, ON, false)?,
        _ => p.cross(0, 1, 6, ON)?,
    }
    let room = (right - 10).max(0) as u32;
    let label = match (&s.registration, &s.edge) {
        (Registration::Registered, Some(edge))
            if P::<D>::width_of(SMALL, &format!("Ready {edge}")) <= room =>
        {
            format!("{} {edge}", s.registration.label())
        }
        (r, _) => r.label().to_string(),
    };
    p.text(&label, SMALL, ON, None, 9, 0, room, Align::Left)?;
    p.line((0, 9), (W as i32 - 1, 9), ON)
}

/// An inverted title bar just below the status bar.
fn header<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    title: &str,
    right: Option<&str>,
) -> Result<(), D::Error> {
    p.fill(0, TOP, W, 10, ON)?;
    match right {
        Some(r) => {
            let rw = P::<D>::width_of(BODY, r) + 2;
            p.text(title, BODY, OFF, None, 2, TOP, W - rw - 4, Align::Left)?;
            p.text(
                r,
                BODY,
                OFF,
                None,
                (W - rw - 1) as i32,
                TOP,
                rw,
                Align::Right,
            )
        }
        None => p.text(title, BODY, OFF, None, 0, TOP, W, Align::Center),
    }
}

/// A name or number as large as it fits.
fn headline<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    text: &str,
    y: i32,
) -> Result<(), D::Error> {
    let font = P::<D>::fitting(BIG, &[BODY], text, W - 4);
    let dy = if std::ptr::eq(font, BIG) { 0 } else { 4 };
    p.text(text, font, ON, None, 2, y + dy, W - 4, Align::Center)
}

fn centered<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    text: &str,
    font: &MonoFont<'_>,
    y: i32,
) -> Result<(), D::Error> {
    p.text(text, font, ON, None, 0, y, W, Align::Center)
}

fn screen<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    screen: &Screen,
) -> Result<(), D::Error> {
    match screen {
        Screen::Boot { version } => {
            centered(p, "offhook", HUGE, 14)?;
            centered(p, "desk phone", SMALL, 36)?;
            centered(p, &format!("v{version} starting..."), SMALL, 50)
        }
        Screen::Registering {
            identity,
            server,
            detail,
        } => {
            centered(p, "Connecting", BODY, TOP + 2)?;
            if let Some(id) = identity {
                centered(p, id, SMALL, TOP + 14)?;
            }
            p.paragraph(detail, SMALL, ON, 0, TOP + 24, W, 2, 9, Align::Center)?;
            centered(p, words::server_host(server), SMALL, 55)
        }
        Screen::Idle {
            identity,
            number,
            missed,
            voicemail,
            date,
            notice,
        } => {
            headline(p, identity.as_deref().unwrap_or("offhook"), TOP + 2)?;
            if let (Some(n), None) = (number, notice) {
                centered(p, n, BODY, TOP + 21)?;
            }
            // The bottom bar: new voicemail first, else missed calls.
            let bar = if *voicemail > 0 {
                Some(words::new_voicemails(*voicemail))
            } else {
                (*missed > 0).then(|| words::missed_calls(*missed))
            };
            match notice {
                Some(text) => {
                    let lines = if *voicemail > 0 { 2 } else { 3 };
                    p.paragraph(text, SMALL, ON, 2, 34, W - 4, lines, 8, Align::Left)?;
                    if *voicemail == 0 {
                        return Ok(());
                    }
                }
                None => {
                    if *voicemail > 0 && *missed > 0 {
                        // Both: the missed calls take the date's line.
                        centered(p, &words::missed_calls(*missed), SMALL, 44)?;
                    } else if let Some(d) = date {
                        centered(p, d, SMALL, 44)?;
                    }
                }
            }
            if let Some(words) = bar {
                p.fill(0, 54, W, 10, ON)?;
                p.text(&words, BODY, OFF, None, 0, 54, W, Align::Center)?;
            }
            Ok(())
        }
        Screen::NoService {
            title,
            reason,
            action,
        } => {
            header(p, title, None)?;
            let y = p.paragraph(reason, SMALL, ON, 2, TOP + 12, W - 4, 3, 8, Align::Left)?;
            let lines = ((HEIGHT as i32 - y) / 8).max(0) as usize;
            p.paragraph(action, SMALL, ON, 2, y, W - 4, lines, 8, Align::Left)?;
            Ok(())
        }
        Screen::Dialing { digits, hint } => {
            p.text("Dial", SMALL, ON, None, 2, TOP + 1, W - 4, Align::Left)?;
            let shown = tail(digits, Painter::<D>::chars_in(HUGE, W - 4));
            p.text(&shown, HUGE, ON, None, 2, TOP + 12, W - 4, Align::Left)?;
            p.line((0, 52), (W as i32 - 1, 52), ON)?;
            p.text(
                words::dial_hint(*hint),
                BODY,
                ON,
                None,
                0,
                54,
                W,
                Align::Center,
            )
        }
        Screen::Calling { party, stage } => {
            let words = words::calling_stage(*stage);
            centered(p, words, BODY, TOP + 2)?;
            headline(p, party.headline(), TOP + 17)?;
            if party.name.is_some() {
                centered(p, &party.number, BODY, TOP + 38)?;
            }
            Ok(())
        }
        Screen::Incoming { party } => {
            header(p, "Incoming call", None)?;
            headline(p, party.headline(), TOP + 13)?;
            if party.name.is_some() {
                centered(p, &party.number, SMALL, TOP + 31)?;
            }
            centered(p, "Lift to answer", SMALL, 55)
        }
        Screen::InCall {
            party,
            elapsed_secs,
            muted,
            digits_sent,
            warning,
            reconnecting,
            waiting,
            ..
        } => {
            p.text(
                party.headline(),
                BODY,
                ON,
                None,
                2,
                TOP + 1,
                W - 4,
                Align::Left,
            )?;
            if party.name.is_some() {
                p.text(
                    &party.number,
                    SMALL,
                    ON,
                    None,
                    2,
                    TOP + 12,
                    W - 4,
                    Align::Left,
                )?;
            }
            centered(
                p,
                &words::call_timer(*elapsed_secs),
                HUGE,
                CALL_TIMER_AREA.top_left.y,
            )?;
            if *muted {
                p.fill(W as i32 - 23, 36, 23, 10, ON)?;
                p.text(
                    "MUTE",
                    SMALL,
                    OFF,
                    None,
                    W as i32 - 23,
                    37,
                    23,
                    Align::Center,
                )?;
            }
            let line = if *reconnecting {
                "Reconnecting...".to_string()
            } else if let Some(w) = waiting {
                words::waiting(w.headline())
            } else if let Some(w) = warning {
                w.clone()
            } else if !digits_sent.is_empty() {
                format!("Sent {}", tail(digits_sent, 19))
            } else {
                String::new()
            };
            if !line.is_empty() {
                centered(p, &line, SMALL, 55)?;
            }
            Ok(())
        }
        Screen::CallEnded {
            party,
            duration_secs,
            cause,
            waiting,
        } => {
            centered(p, cause, BODY, TOP + 2)?;
            headline(p, party.headline(), TOP + 15)?;
            let bottom = match (waiting, duration_secs) {
                (Some(w), _) => format!("Hang up: {} waiting", w.headline()),
                (None, Some(secs)) => words::call_duration(*secs),
                (None, None) => String::new(),
            };
            if !bottom.is_empty() {
                centered(p, &bottom, SMALL, CALL_DURATION_AREA.top_left.y)?;
            }
            Ok(())
        }
        Screen::Error {
            code,
            title,
            cause,
            action,
        } => {
            let heading = match code {
                Some(c) => format!("{c} {title}"),
                None => title.clone(),
            };
            header(p, &heading, None)?;
            let y = p.paragraph(cause, SMALL, ON, 2, TOP + 12, W - 4, 3, 8, Align::Left)?;
            let lines = ((HEIGHT as i32 - y) / 8).max(0) as usize;
            p.paragraph(action, SMALL, ON, 2, y, W - 4, lines, 8, Align::Left)?;
            Ok(())
        }
        Screen::Menu {
            title,
            items,
            selected,
        } => {
            let position = words::position(*selected, items.len());
            header(p, title, Some(&position))?;
            list(p, items, *selected)
        }
        Screen::Level { title, level, max } => {
            header(p, title, None)?;
            p.meter(8, 28, W - 16, 12, *level, *max, ON, ON)?;
            centered(p, &words::level(*level, *max), BODY, 42)?;
            centered(p, "+/- to change, Menu: done", SMALL, 55)
        }
        Screen::History { rows, selected } => {
            let position = if rows.is_empty() {
                String::new()
            } else {
                words::position(*selected, rows.len())
            };
            header(p, "History", Some(&position))?;
            if rows.is_empty() {
                return centered(p, "No calls yet", BODY, 34);
            }
            let first = scroll_start(*selected, rows.len(), 4);
            for (i, row) in rows.iter().enumerate().skip(first).take(4) {
                let y = TOP + 11 + ((i - first) as i32) * 10;
                let chosen = i == *selected;
                let (fg, bg) = if chosen { (OFF, Some(ON)) } else { (ON, None) };
                if chosen {
                    p.fill(0, y, W - 3, 10, ON)?;
                }
                match words::row_icon(row.kind) {
                    RowIcon::Arrow { outgoing } => p.arrow(1, y + 2, 6, outgoing, fg)?,
                    RowIcon::Missed => p.cross(1, y + 2, 6, fg)?,
                    RowIcon::Voicemail => p.voicemail(0, y + 3, 8, fg)?,
                }
                let right = row
                    .when
                    .clone()
                    .unwrap_or_else(|| words::history_detail(row));
                let rw = P::<D>::width_of(SMALL, &right);
                p.text(
                    &right,
                    SMALL,
                    fg,
                    bg,
                    (W - 4 - rw) as i32,
                    y + 1,
                    rw,
                    Align::Right,
                )?;
                p.text(&row.label, BODY, fg, bg, 10, y, W - 16 - rw, Align::Left)?;
            }
            scrollbar(p, first, rows.len(), 4)
        }
        Screen::Entry { title, value, hint } => {
            header(p, title, None)?;
            if value.is_empty() {
                centered(p, "(none)", SMALL, TOP + 20)?;
            } else {
                let shown = tail(value, Painter::<D>::chars_in(BIG, W - 4));
                centered(p, &shown, BIG, TOP + 16)?;
            }
            p.line((8, TOP + 36), (W as i32 - 9, TOP + 36), ON)?;
            centered(p, hint, SMALL, 55)
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
            header(p, "About", None)?;
            let lines: Vec<String> = words::about_lines(
                version,
                identity.as_deref(),
                device_id,
                ip.as_deref(),
                edge.as_deref(),
                server,
                region,
            )
            .into_iter()
            .chain(sources.iter().map(words::source_line))
            .collect();
            let first = (*scroll).min(lines.len().saturating_sub(ABOUT_LINES));
            for (i, line) in lines.iter().skip(first).take(ABOUT_LINES).enumerate() {
                p.text(
                    line,
                    SMALL,
                    ON,
                    None,
                    2,
                    TOP + 12 + i as i32 * 8,
                    W - 6,
                    Align::Left,
                )?;
            }
            if lines.len() > ABOUT_LINES {
                let track = ABOUT_LINES as u32 * 8;
                let thumb = (track * ABOUT_LINES as u32 / lines.len() as u32).max(4);
                let y = TOP
                    + 12
                    + ((track - thumb) * first as u32 / (lines.len() - ABOUT_LINES) as u32) as i32;
                p.fill(W as i32 - 2, y, 2, thumb, ON)?;
            }
            Ok(())
        }
    }
}

/// First row to show so `selected` is visible in a window of `visible` rows.
pub(super) fn scroll_start(selected: usize, len: usize, visible: usize) -> usize {
    if len <= visible {
        0
    } else {
        selected.saturating_sub(visible - 1).min(len - visible)
    }
}

fn scrollbar<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    first: usize,
    len: usize,
    visible: usize,
) -> Result<(), D::Error> {
    if len <= visible {
        return Ok(());
    }
    let track = 40u32;
    let thumb = (track * visible as u32 / len as u32).max(4);
    let y = TOP + 12 + ((track - thumb) * first as u32 / (len - visible) as u32) as i32;
    p.fill(W as i32 - 2, y, 2, thumb, ON)
}

fn list<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    items: &[MenuItem],
    selected: usize,
) -> Result<(), D::Error> {
    let first = scroll_start(selected, items.len(), 4);
    for (i, item) in items.iter().enumerate().skip(first).take(4) {
        let y = TOP + 11 + ((i - first) as i32) * 10;
        let chosen = i == selected;
        let (fg, bg) = if chosen { (OFF, Some(ON)) } else { (ON, None) };
        if chosen {
            p.fill(0, y, W - 3, 10, ON)?;
        }
        let mark = if item.checked { "*" } else { " " };
        let label = format!("{mark}{}", item.label);
        match &item.value {
            Some(value) => {
                let value = ellipsize(value, 9);
                let vw = P::<D>::width_of(SMALL, &value);
                p.text(
                    &value,
                    SMALL,
                    fg,
                    bg,
                    (W - 4 - vw) as i32,
                    y + 1,
                    vw,
                    Align::Right,
                )?;
                p.text(&label, BODY, fg, bg, 1, y, W - 8 - vw, Align::Left)?;
            }
            None => p.text(&label, BODY, fg, bg, 1, y, W - 5, Align::Left)?,
        }
    }
    scrollbar(p, first, items.len(), 4)
}

fn draw_overlay<D: DrawTarget<Color = BinaryColor>>(
    p: &mut P<'_, D>,
    overlay: &Overlay,
) -> Result<(), D::Error> {
    p.fill(6, 16, W - 12, 40, OFF)?;
    p.outline(6, 16, W - 12, 40, ON)?;
    p.outline(8, 18, W - 16, 36, ON)?;
    match overlay {
        Overlay::Volume { path, level, max } => {
            p.text(
                &words::volume_title(*path),
                BODY,
                ON,
                None,
                10,
                21,
                W - 20,
                Align::Center,
            )?;
            p.meter(14, 34, W - 28, 10, *level, *max, ON, ON)?;
            p.text(
                &format!("{level}/{max}"),
                SMALL,
                ON,
                None,
                10,
                45,
                W - 20,
                Align::Center,
            )
        }
        Overlay::Notice { text } => {
            p.paragraph(text, BODY, ON, 11, 21, W - 22, 3, 10, Align::Center)?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screens::framebuffer::Framebuffer;

    fn drawn(view: &View) -> Framebuffer<BinaryColor> {
        let mut fb = Framebuffer::new(Size::new(WIDTH, HEIGHT), OFF);
        let Ok(()) = render(view, &mut fb);
        fb
    }

    /// The pixels where two renderings differ, all inside `area`; and at least one differs.
    fn differs_only_inside(a: &View, b: &View, area: &Rectangle) -> Result<(), String> {
        let (a, b) = (drawn(a), drawn(b));
        let mut changed = 0;
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                if a.pixel(x, y) != b.pixel(x, y) {
                    changed += 1;
                    if !area.contains(Point::new(x as i32, y as i32)) {
                        return Err(format!("({x}, {y}) changed outside {area:?}"));
                    }
                }
            }
        }
        if changed == 0 {
            return Err("nothing changed".into());
        }
        Ok(())
    }

    #[test]
    fn a_call_time_changes_only_the_pixels_of_its_area() {
        let mut checked = 0;
        for (name, view) in crate::screens::catalog::catalog() {
            if view.overlay.is_some() {
                // An overlay covers the time.
                continue;
            }
            let mut other = view.clone();
            let area = match &mut other.screen {
                Screen::InCall { elapsed_secs, .. } => {
                    // From the shortest time to the widest the timer shows.
                    *elapsed_secs = if *elapsed_secs == 0 { 35_999 } else { 0 };
                    CALL_TIMER_AREA
                }
                Screen::CallEnded {
                    duration_secs: Some(secs),
                    waiting: None,
                    ..
                } => {
                    *secs = if *secs == 0 { 35_999 } else { 0 };
                    CALL_DURATION_AREA
                }
                _ => continue,
            };
            differs_only_inside(&view, &other, &area)
                .map_err(|e| format!("{name}: {e}"))
                .unwrap();
            checked += 1;
        }
        assert!(checked >= 4, "only {checked} screens with a call time");
    }
}
