//! Measures what generation costs the main thread: runs a headless app (no window, like a
//! dedicated server) that loads `assets/dungeon.kiln.ron` and `assets/characters.kiln.ron` with
//! the shipped models, and reports the longest `App::update()` while the models run.
//!
//!     cargo run --release -p bevy_kiln --example frame_times

use std::time::{Duration, Instant};

use bevy::asset::LoadState;
use bevy::prelude::*;
use bevy_kiln::{KilnPlugins, KilnRecipe};

fn main() {
    // SAFETY: first thing in `main`: no other thread has started.
    unsafe { bevy_kiln::disable_telemetry() };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut app = App::new();
    app.add_plugins((
        KilnPlugins::with_models(format!("{root}/models")),
        MinimalPlugins,
        AssetPlugin {
            file_path: format!("{root}/assets"),
            ..default()
        },
    ));
    app.finish();
    app.cleanup();
    let server = app.world().resource::<AssetServer>().clone();
    let recipes: Vec<Handle<KilnRecipe>> = ["dungeon.kiln.ron", "characters.kiln.ron"]
        .map(|path| server.load(path))
        .into();

    let started = Instant::now();
    let mut frames: Vec<Duration> = Vec::new();
    while recipes.iter().any(|r| {
        !matches!(
            server.load_state(r),
            LoadState::Loaded | LoadState::Failed(_)
        )
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "generation did not finish"
        );
        let frame = Instant::now();
        app.update();
        frames.push(frame.elapsed());
    }
    let total = started.elapsed();
    for recipe in &recipes {
        if let LoadState::Failed(err) = server.load_state(recipe) {
            panic!("{err}");
        }
    }
    frames.sort();
    let percentile = |p: f64| frames[((frames.len() - 1) as f64 * p) as usize];
    let mean = frames.iter().sum::<Duration>() / frames.len() as u32;
    println!(
        "generated both recipes in {total:.2?} over {} frames",
        frames.len()
    );
    println!(
        "update(): mean {mean:.2?}, median {:.2?}, p99 {:.2?}, longest {:.2?}",
        percentile(0.5),
        percentile(0.99),
        frames[frames.len() - 1]
    );
}
