//! The viewer in a real window: under Xvfb with Mesa's software Vulkan (lavapipe), screenshot
//! the bundled scene and check what a person would see. `.ci/run` installs Xvfb and Mesa; where
//! Xvfb is missing the test says so and passes without checking.
#![cfg(feature = "viewer")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Xvfb {
    child: Child,
    display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Xvfb on a display number private to this test process and `slot`.
fn start_xvfb(slot: u32) -> Option<Xvfb> {
    let n = 100 + (std::process::id() % 400) * 4 + slot;
    let child = Command::new("Xvfb")
        .args([
            &format!(":{n}"),
            "-screen",
            "0",
            "1600x1000x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!(
            "SKIPPED: Xvfb is not installed (apt-get install xvfb mesa-vulkan-drivers libvulkan1)"
        );
        return None;
    };
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Xvfb {
        child,
        display: format!(":{n}"),
    })
}

fn screenshot(display: &str, args: &[&str], out: &Path) -> std::process::Output {
    let runtime = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_spatia"))
        .arg("view")
        .args(args)
        .args([
            "--screenshot",
            out.to_str().unwrap(),
            "--frames",
            "3",
            "--size",
            "1000x700",
        ])
        .env("DISPLAY", display)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("SPATIA_CONFIG_DIR", runtime.path())
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run spatia view")
}

fn count(img: &image::RgbImage, pred: impl Fn([u8; 3]) -> bool) -> usize {
    img.pixels().filter(|p| pred(p.0)).count()
}

#[test]
fn bundled_scene_screenshot_shows_scene_boxes_and_panels() {
    let Some(x) = start_xvfb(0) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shot.png");
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/default");
    let run = screenshot(&x.display, &[scene.to_str().unwrap()], &out);
    assert!(
        run.status.success(),
        "viewer failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1000, 700));
    let total = (img.width() * img.height()) as usize;
    // Background clear colour (0.11, 0.12, 0.14) sRGB.
    let background = count(&img, |p| p == [28, 31, 36]);
    // The middle of the 3D view (right of the 270 px object panel) is the framed room, not
    // background.
    let view = image::imageops::crop_imm(&img, 450, 200, 400, 300).to_image();
    let view_bg = count(&view, |p| p == [28, 31, 36]);
    assert!(
        view_bg * 5 < (view.width() * view.height()) as usize,
        "3D view is mostly background ({view_bg} px)"
    );
    // Several distinct furniture colours are visible, not one flat fill.
    let mut colours: Vec<[u8; 3]> = view.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
    // Box overlays: saturated orange-yellow gizmo lines.
    let boxes = count(&img, |[r, g, b]| r > 200 && g > 140 && g < 220 && b < 60);
    assert!(boxes > 300, "only {boxes} box-coloured pixels");
    // The egui side panel: its left strip is egui's panel grey, not the 3D view.
    let panel = image::imageops::crop_imm(&img, 5, 80, 200, 400).to_image();
    let greys = count(&panel, |[r, g, b]| {
        r == g && g == b && (20..=40).contains(&r)
    });
    assert!(
        greys > (panel.width() * panel.height()) as usize / 2,
        "no egui panel ({greys} grey px)"
    );
    assert!(background < total, "{background}");
}

#[test]
fn load_error_in_screenshot_mode_exits_with_the_message() {
    let Some(x) = start_xvfb(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ply");
    std::fs::write(
        &bad,
        "ply\nformat ascii 1.0\nelement vertex 3\nend_header\n",
    )
    .unwrap();
    let out = dir.path().join("shot.png");
    let run = screenshot(&x.display, &[bad.to_str().unwrap()], &out);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("bad.ply"), "{err}");
    assert!(!out.exists());
}

#[test]
fn asking_in_screenshot_mode_waits_for_the_answer_and_highlights_the_named_objects() {
    let Some(x) = start_xvfb(2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/default");
    let plain = dir.path().join("plain.png");
    let asked = dir.path().join("asked.png");
    let run = screenshot(&x.display, &[scene.to_str().unwrap()], &plain);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let question = "Is the sofa near the table?";
    let run = screenshot(
        &x.display,
        &[scene.to_str().unwrap(), "--ask", question],
        &asked,
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The sofa and the table the question names get green boxes (HIGHLIGHT_COLOR, 0.25/1/0.35);
    // without a question there are none.
    let green = |p: &Path| {
        let img = image::open(p).unwrap().to_rgb8();
        count(&img, |[r, g, b]| g > 230 && r < 110 && b < 130)
    };
    let (before, after) = (green(&plain), green(&asked));
    assert!(
        after > before + 300,
        "{after} highlight-green px after asking, {before} without a question"
    );
    // The chat panel on the right is drawn: egui's panel grey fills its lower half.
    let img = image::open(&asked).unwrap().to_rgb8();
    let panel = image::imageops::crop_imm(&img, 760, 450, 200, 150).to_image();
    let greys = count(&panel, |[r, g, b]| {
        r == g && g == b && (20..=40).contains(&r)
    });
    assert!(greys > (200 * 150) / 3, "no chat panel ({greys} grey px)");
}
