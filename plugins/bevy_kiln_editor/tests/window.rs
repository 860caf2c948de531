//! The example game with the editor panel in a real window: once the game shows its generated
//! content, selects `dungeon.kiln.ron#floor`,
//! clicks Generate with window input events (the path a real mouse takes through Bevy into
//! egui), waits for the gallery, saves a screenshot and checks that it shows content.
//!
//! Without a display it re-runs itself under `xvfb-run` (Xvfb + Mesa's software Vulkan,
//! installed by `scripts/install-system-deps.sh`). `harness = false`: winit needs the main thread.

#[path = "../examples/dungeon/game.rs"]
mod game;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bevy::input::ButtonState;
use bevy::input::mouse::MouseButtonInput;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use bevy::window::{CursorMoved, PrimaryWindow, WindowEvent};
use bevy_kiln::AssetGenerated;
use bevy_kiln_editor::{Content, Gallery, KilnEditor};

/// Longest the whole run may take before the test gives up.
const TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return rerun_under_xvfb();
    }
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-editor-window.png");
    let _ = std::fs::remove_file(&screenshot);

    let findings = Arc::new(Mutex::new(Findings::default()));
    let mut app = game::app();
    app.world_mut().resource_mut::<KilnEditor>().open = true;
    app.insert_resource(Driver {
        screenshot: screenshot.clone(),
        step: Step::Select,
        frames: 0,
        began: Instant::now(),
        findings: Arc::clone(&findings),
        game_ready: Vec::new(),
        longest_frame: Duration::ZERO,
        generating_frames: (0, Duration::ZERO),
    })
    .add_systems(Update, drive);
    // The window runner takes the world with it: what the test checks comes out in `findings`.
    let exit = app.run();
    let findings = findings.lock().expect("findings").clone();
    for line in &findings.report {
        println!("{line}");
    }
    assert!(exit.is_success(), "the app failed: {:?}", findings.report);
    let gallery = findings.gallery.expect("a gallery after Generate");
    assert_eq!(
        (gallery.recipe.as_str(), gallery.entry.as_str()),
        ("dungeon.kiln.ron", "floor")
    );
    assert_eq!(gallery.variants.len(), 4);
    assert_eq!(gallery.execution_provider, "cpu");
    for variant in &gallery.variants {
        assert!(matches!(
            variant.content,
            Content::Image {
                size: [256, 256],
                ..
            }
        ));
    }
    check_not_blank(&screenshot);
    println!("window test: ok ({})", screenshot.display());
}

fn rerun_under_xvfb() {
    let exe = std::env::current_exe().expect("the test's own path");
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(exe)
        .status()
        .unwrap_or_else(|err| {
            panic!(
                "no display and `xvfb-run` cannot start ({err}): run scripts/install-system-deps.sh \
                 (installs Xvfb and Mesa's software Vulkan driver) or run the test with a display"
            )
        });
    assert!(
        status.success(),
        "the window test failed under xvfb-run: {status}"
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Select,
    Point,
    Press,
    Release,
    AwaitGallery,
    Screenshot,
    AwaitFile,
}

/// What the run saw, for the checks after it.
#[derive(Clone, Default)]
struct Findings {
    report: Vec<String>,
    gallery: Option<Gallery>,
}

#[derive(Resource)]
struct Driver {
    screenshot: PathBuf,
    step: Step,
    /// Frames spent in the current step.
    frames: u32,
    began: Instant,
    findings: Arc<Mutex<Findings>>,
    /// Entries the game has generated so far.
    game_ready: Vec<String>,
    /// Longest and mean frame while the panel's generation ran (reported, not asserted).
    longest_frame: Duration,
    generating_frames: (u32, Duration),
}

impl Driver {
    fn report(&self, line: String) {
        self.findings.lock().expect("findings").report.push(line);
    }

    fn next(&mut self, step: Step) {
        self.report(format!(
            "{:>6.2} s: {:?} done after {} frames",
            self.began.elapsed().as_secs_f32(),
            self.step,
            self.frames
        ));
        self.step = step;
        self.frames = 0;
    }
}

#[expect(clippy::too_many_arguments, reason = "a Bevy system's parameters")]
fn drive(
    mut driver: ResMut<Driver>,
    mut editor: ResMut<KilnEditor>,
    window: Single<Entity, With<PrimaryWindow>>,
    mut input: MessageWriter<WindowEvent>,
    mut commands: Commands,
    mut exit: MessageWriter<AppExit>,
    time: Res<Time<Real>>,
    mut generated: MessageReader<AssetGenerated>,
) {
    driver.frames += 1;
    if driver.began.elapsed() > TIMEOUT {
        driver.report(format!("timed out in step {:?}", driver.step));
        for notice in editor.workbench().notices() {
            driver.report(format!("panel: {}", notice.message));
        }
        exit.write(AppExit::error());
        return;
    }
    let button = editor.generate_button();
    match driver.step {
        // Once the game shows its generated floor, walls and villagers, select an entry.
        Step::Select => {
            driver
                .game_ready
                .extend(generated.read().map(|m| m.entry.clone()));
            let ready = ["floor", "wall", "villagers"]
                .iter()
                .all(|entry| driver.game_ready.iter().any(|seen| seen == entry));
            if ready && editor.workbench_mut().select("dungeon.kiln.ron", "floor") {
                driver.next(Step::Point);
            }
        }
        // Wait for the panel to lay the button out, then move the pointer onto it.
        Step::Point => {
            if let Some(button) = button.filter(|_| driver.frames > 5) {
                let position = Vec2::new(button.center().x, button.center().y);
                input.write(WindowEvent::CursorMoved(CursorMoved {
                    window: *window,
                    position,
                    delta: None,
                }));
                driver.next(Step::Press);
            }
        }
        Step::Press | Step::Release => {
            let state = if driver.step == Step::Press {
                ButtonState::Pressed
            } else {
                ButtonState::Released
            };
            input.write(WindowEvent::MouseButtonInput(MouseButtonInput {
                button: MouseButton::Left,
                state,
                window: *window,
            }));
            let next = if state == ButtonState::Pressed {
                Step::Release
            } else {
                Step::AwaitGallery
            };
            driver.next(next);
        }
        Step::AwaitGallery => {
            if editor.workbench().is_busy() {
                driver.longest_frame = driver.longest_frame.max(time.delta());
                driver.generating_frames.0 += 1;
                driver.generating_frames.1 += time.delta();
            }
            if editor.workbench().gallery().is_some() {
                let (frames, total) = driver.generating_frames;
                let message = format!(
                    "while generating: {frames} frames, longest {:.1} ms, mean {:.1} ms",
                    driver.longest_frame.as_secs_f64() * 1e3,
                    total.as_secs_f64() * 1e3 / f64::from(frames.max(1))
                );
                driver.report(message);
                driver.findings.lock().expect("findings").gallery =
                    editor.workbench().gallery().cloned();
                driver.next(Step::Screenshot);
            } else if !editor.workbench().is_busy() && driver.frames > 30 {
                let notices: Vec<_> = editor.workbench().notices().to_vec();
                driver.report(format!(
                    "the click did not start a generation, or it failed: {notices:?}"
                ));
                exit.write(AppExit::error());
            }
        }
        // A few frames for the gallery's textures to reach the GPU.
        Step::Screenshot => {
            if driver.frames == 20 {
                let path = driver.screenshot.clone();
                commands
                    .spawn(Screenshot::primary_window())
                    .observe(save_to_disk(path));
                driver.next(Step::AwaitFile);
            }
        }
        Step::AwaitFile => {
            let written = std::fs::metadata(&driver.screenshot).is_ok_and(|m| m.len() > 0);
            // save_to_disk writes the whole file in one go; give it a frame to finish.
            if written && driver.frames > 10 {
                driver.next(Step::AwaitFile);
                exit.write(AppExit::Success);
            }
        }
    }
}

/// The screenshot shows the scene, the panel and the gallery: more colours than a blank or
/// half-drawn frame has, and both the panel (left) and the gallery window (right of it) have
/// detail rather than one flat colour. The count is low on purpose: the scene is pixel art in
/// bounded palettes (about 470 colours in all, text antialiasing included), not photographs.
fn check_not_blank(path: &Path) {
    let image = image::open(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .into_rgb8();
    let (width, height) = image.dimensions();
    assert!(
        width >= 800 && height >= 500,
        "screenshot is {width}x{height}"
    );
    let colours: std::collections::HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 150,
        "only {} colours: blank?",
        colours.len()
    );
    let spread = |x0: u32, x1: u32| {
        let values: Vec<f32> = (x0..x1)
            .flat_map(|x| (0..height).map(move |y| (x, y)))
            .map(|(x, y)| {
                image
                    .get_pixel(x, y)
                    .0
                    .iter()
                    .map(|&c| f32::from(c))
                    .sum::<f32>()
            })
            .collect();
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32).sqrt()
    };
    let panel = spread(0, 300);
    let gallery = spread(380, width.min(900));
    assert!(panel > 10.0, "the panel area is flat (spread {panel:.1})");
    assert!(
        gallery > 10.0,
        "the gallery area is flat (spread {gallery:.1})"
    );
}
