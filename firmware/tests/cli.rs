//! The `offhook` command line: check-config, screens, --help, --version.

use std::path::Path;
use std::process::Command;

fn offhook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_offhook"))
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("offhook-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn check_config_accepts_the_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("offhook.example.toml");
    let out = offhook()
        .arg("check-config")
        .arg(&example)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": OK"), "{stdout}");
    assert!(stdout.contains("United States"), "{stdout}");
    assert!(
        stdout.contains("ICE         offhook-server's, with each token, all candidates"),
        "{stdout}"
    );
}

#[test]
fn check_config_points_at_the_bad_line() {
    let dir = temp_dir("bad");
    let file = dir.join("offhook.toml");
    std::fs::write(
        &file,
        "[server]\nurl = \"https://phone.example.com\"\ndevice_id = \"desk-1\"\ndevice_secret = \"x\"\n\n[device]\nedge = [\"nowhere\"]\n",
    )
    .expect("write");
    let out = offhook()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("{}:7:9: unknown edge \"nowhere\"", file.display())),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn screens_writes_every_screen_in_both_layouts() {
    let dir = temp_dir("screens");
    let out = offhook()
        .args(["screens", "--out"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let count = offhook::screens::catalog::catalog().len();
    assert_eq!(files.len(), 2 * count);
    assert!(files.iter().any(|f| f == "mono-in-call.png"));
    assert!(files.iter().any(|f| f == "color-error-31202.png"));
    let png = std::fs::read(dir.join("mono-idle.png")).expect("read");
    let (w, h, _) = offhook::screens::framebuffer::png_rgb(&png).expect("decodes");
    assert_eq!((w, h), (128, 64));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_and_version() {
    let out = offhook().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("offhook {}", env!("CARGO_PKG_VERSION"))
    );
    let out = offhook().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("check-config") && help.contains("screens"),
        "{help}"
    );
}

/// The shipped binary (built without the `demo` feature) lists no demo commands, says where
/// they are, and refuses them; a `demo` build lists them.
#[test]
fn demo_commands_only_in_a_demo_build() {
    let out = offhook().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    let listed = |name: &str| {
        help.lines()
            .any(|l| l.split_whitespace().next() == Some(name))
    };
    let demo = offhook().arg("demo").arg("--help").output().expect("run");
    if cfg!(feature = "demo") {
        assert!(listed("demo") && listed("demo-call"), "{help}");
        assert!(demo.status.success());
    } else {
        assert!(!listed("demo") && !listed("demo-call"), "{help}");
        assert!(help.contains("scripts/demo"), "{help}");
        assert!(
            !demo.status.success(),
            "`offhook demo` ran in a build without it"
        );
    }
}
