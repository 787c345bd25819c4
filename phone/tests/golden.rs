//! Golden images: every screen of the catalog, in both layouts, must match the PNGs checked in
//! under `phone/tests/golden/`. After an intended change, re-bless them with
//!
//! ```sh
//! OFFHOOK_BLESS=1 cargo test -p offhook-phone --test golden
//! ```
//!
//! and look at the changed PNGs before committing. Mismatches are written to
//! `target/golden-actual/` for comparison.

use std::path::{Path, PathBuf};

use offhook_phone::phone::view::{Screen, View};
use offhook_phone::screens::catalog::catalog;
use offhook_phone::screens::framebuffer::png_rgb;
use offhook_phone::screens::{Layout, render};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn actual_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/golden-actual")
}

#[test]
fn every_screen_matches_its_golden_image() {
    let bless = std::env::var_os("OFFHOOK_BLESS").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    let mut expected_files = Vec::new();
    for (name, view) in catalog() {
        for layout in Layout::ALL {
            let file = format!("{}-{name}.png", layout.name());
            expected_files.push(file.clone());
            let rendered = render(&view, layout);
            assert_eq!(rendered.clipped_pixels(), 0, "{file} draws off the display");
            let path = golden_dir().join(&file);
            if bless {
                std::fs::create_dir_all(golden_dir()).expect("create golden dir");
                std::fs::write(&path, rendered.to_png(1).expect("png")).expect("write golden");
                continue;
            }
            let golden = match std::fs::read(&path) {
                Ok(bytes) => png_rgb(&bytes).expect("golden PNG decodes"),
                Err(_) => {
                    problems.push(format!(
                        "{file}: no golden image (bless with OFFHOOK_BLESS=1)"
                    ));
                    continue;
                }
            };
            let actual = rendered.rgb_bytes();
            if golden != actual {
                let differing = golden
                    .2
                    .chunks(3)
                    .zip(actual.2.chunks(3))
                    .filter(|(a, b)| a != b)
                    .count();
                std::fs::create_dir_all(actual_dir()).expect("create actual dir");
                let _ = std::fs::write(actual_dir().join(&file), rendered.to_png(1).expect("png"));
                problems.push(format!("{file}: {differing} pixels differ"));
            }
        }
    }
    if bless {
        // Drop goldens of screens that no longer exist.
        for entry in std::fs::read_dir(golden_dir())
            .expect("list golden dir")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".png") && !expected_files.contains(&name) {
                std::fs::remove_file(entry.path()).expect("remove stale golden");
            }
        }
    }
    assert!(
        problems.is_empty(),
        "golden mismatches:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_catalog_covers_every_screen_kind() {
    let kinds: std::collections::BTreeSet<&str> = catalog()
        .iter()
        .map(|(_, view)| view.screen.kind())
        .collect();
    for kind in [
        "boot",
        "registering",
        "idle",
        "no-service",
        "dialing",
        "calling",
        "incoming",
        "in-call",
        "call-ended",
        "error",
        "menu",
        "level",
        "history",
        "entry",
        "about",
    ] {
        assert!(kinds.contains(kind), "no {kind} screen in the catalog");
    }
    assert!(catalog().iter().any(|(_, v)| matches!(
        v.overlay,
        Some(offhook_phone::phone::view::Overlay::Volume { .. })
    )));
    assert!(catalog().iter().any(|(_, v)| matches!(
        v.overlay,
        Some(offhook_phone::phone::view::Overlay::Notice { .. })
    )));
}

#[test]
fn every_twilio_error_screen_fits_both_layouts() {
    let (_, base) = catalog()
        .into_iter()
        .find(|(name, _)| *name == "error-31202")
        .expect("an error screen in the catalog");
    for advice in offhook_phone::twilio_errors::ADVICE {
        let view = View {
            screen: Screen::Error {
                code: Some(advice.code),
                title: advice.title.into(),
                cause: advice.cause.into(),
                action: advice.action.into(),
            },
            ..base.clone()
        };
        for layout in Layout::ALL {
            assert_eq!(
                render(&view, layout).clipped_pixels(),
                0,
                "{} in {}",
                advice.code,
                layout.name()
            );
        }
    }
}
