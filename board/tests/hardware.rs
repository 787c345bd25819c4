//! Starting boards from profiles on a machine without the hardware: clear errors naming
//! the missing line or device, never a panic; the simulated profile starts anywhere.

use offhook_board::profile::Profile;
use offhook_board::{Board, BoardError};

fn has_gpio() -> bool {
    std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("gpiochip"))
        })
        .unwrap_or(false)
}

#[test]
fn reference_builds_fail_clearly_without_gpio() {
    if has_gpio() {
        return; // on a real board this would touch hardware
    }
    for name in ["pi-zero2w-ssd1306", "pi4-st7789"] {
        let profile = Profile::builtin(name).unwrap();
        let err = Board::start(&profile, None).err().expect("no GPIO here");
        assert!(
            matches!(&err, BoardError::NoGpioChips { line, role } if line == "GPIO4" && role == "hook switch"),
            "{name}: {err}"
        );
    }
}

#[test]
fn missing_devices_are_named() {
    let text = r#"
        name = "fb-only"
        [display]
        kind = "framebuffer"
        device = "/dev/fb9"
    "#;
    let profile = Profile::parse(text, "inline").unwrap();
    let err = Board::start(&profile, None).err().unwrap();
    assert!(err.to_string().contains("/dev/fb9"), "{err}");

    let text = r#"
        name = "oled-only"
        [display]
        kind = "ssd1306"
        i2c = "/dev/i2c-7"
    "#;
    let profile = Profile::parse(text, "inline").unwrap();
    let err = Board::start(&profile, None).err().unwrap();
    assert!(err.to_string().contains("/dev/i2c-7"), "{err}");

    let text = r#"
        name = "keys-from-evdev"
        [evdev]
        device = "/dev/input/event42"
        hook = "SW_LID"
    "#;
    let profile = Profile::parse(text, "inline").unwrap();
    let err = Board::start(&profile, None).err().unwrap();
    assert!(err.to_string().contains("/dev/input/event42"), "{err}");
}

#[test]
fn the_simulated_profile_starts_anywhere() {
    let profile = Profile::builtin("simulated").unwrap();
    let (mut board, handle) = Board::start(&profile, None).unwrap();
    assert!(handle.is_some());
    assert!(
        board.audio.is_none(),
        "the simulated profile has no audio devices"
    );
    assert_eq!(
        board.display.layout(),
        offhook_board::display::Layout::OLED_128X64
    );
    board.display.flush().unwrap();
    assert_eq!(handle.unwrap().state().frames, 1);
}

#[test]
fn the_board_can_move_to_another_thread_or_task() {
    fn assert_send<T: Send>() {}
    assert_send::<Board>();
    assert_send::<offhook_board::display::Display>();
    assert_send::<offhook_board::audio::Audio>();
}
