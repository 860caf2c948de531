//! The plugin headless (`MinimalPlugins` + `AssetPlugin`, no window, audio or GPU), against the
//! real ONNX Runtime and the tiny fixture models, with Bevy's file watcher for hot reload.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::asset::{AssetPlugin, LoadState};
use bevy::image::{ImageAddressMode, ImageSampler, TextureAtlasLayout};
use bevy::prelude::*;
use bevy_kiln::{
    AssetGenerated, GenerationFailed, KilnCredits, KilnModelSourcePlugin, KilnPlugins, KilnRecipe,
    KilnSettings, KilnStrings,
};
use kiln_onnx::ProviderPolicy;
use kiln_testkit::{Models, Project};

const RECIPE: &str = r#"(
    assets: {
        "floor": (model: "tiny_texture", seed: 5, variants: 2, kind: Texture(size: (32, 16), class: "moss", normal_map: true)),
        "hero": (model: "tiny_sprite", seed: 1, variants: 3, kind: Sprite(palette: 6, scale: 2)),
        "tiles": (model: "tiny_texture", seed: 9, kind: Texture(size: (32, 16), scale: 2, palette: 4)),
    },
)
"#;

/// A temporary game folder: `assets/` with the recipe, `models/` with copies of the fixtures.
struct Game {
    project: Project,
}

impl Game {
    fn new() -> Self {
        let project = Project::new();
        for model in ["tiny_texture", "tiny_sprite"] {
            project.copy_model(Models::Fixtures, model);
        }
        project.write("assets/level.kiln.ron", RECIPE);
        Self { project }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.project.path(relative)
    }

    /// An app with the recipe loaded, and the first floor variant.
    fn loaded_floor(&self) -> (App, Handle<KilnRecipe>, Handle<Image>) {
        let mut app = self.app();
        let server = app.world().resource::<AssetServer>().clone();
        let recipe: Handle<KilnRecipe> = server.load("level.kiln.ron");
        let floor: Handle<Image> = server.load("level.kiln.ron#floor/0");
        wait_loaded(&mut app, &recipe);
        (app, recipe, floor)
    }

    fn app(&self) -> App {
        let mut app = App::new();
        app.add_plugins((
            KilnPlugins {
                models: KilnModelSourcePlugin {
                    path: self.path("models").display().to_string(),
                },
                settings: KilnSettings {
                    provider: ProviderPolicy::Cpu,
                    intra_threads: Some(1),
                },
            },
            MinimalPlugins,
            AssetPlugin {
                file_path: self.path("assets").display().to_string(),
                watch_for_changes_override: Some(true),
                ..default()
            },
        ));
        app.init_resource::<Seen>()
            .add_systems(Update, collect_messages);
        // What `App::run` does before the first frame: Kiln registers its loader in `finish`.
        app.finish();
        app.cleanup();
        app
    }
}

/// Messages seen so far.
#[derive(Resource, Default)]
struct Seen {
    generated: Vec<AssetGenerated>,
    failed: Vec<GenerationFailed>,
}

fn collect_messages(
    mut seen: ResMut<Seen>,
    mut generated: MessageReader<AssetGenerated>,
    mut failed: MessageReader<GenerationFailed>,
) {
    seen.generated.extend(generated.read().cloned());
    seen.failed.extend(failed.read().cloned());
}

/// Updates until `done` holds, failing after a generous timeout (a guard, not a timing assertion).
fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let started = Instant::now();
    while !done(app) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_loaded<A: Asset>(app: &mut App, handle: &Handle<A>) {
    update_until(app, "the recipe to load", |app| {
        match app.world().resource::<AssetServer>().load_state(handle) {
            LoadState::Loaded => true,
            LoadState::Failed(err) => panic!("load failed: {err}"),
            _ => false,
        }
    });
}

fn pixels(app: &App, handle: &Handle<Image>) -> Vec<u8> {
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(handle)
        .expect("image present");
    image.data.clone().expect("image has data")
}

#[test]
fn recipe_loads_into_images_and_atlases_of_the_right_size_and_sampling() {
    let game = Game::new();
    let mut app = game.app();
    let server = app.world().resource::<AssetServer>().clone();
    let recipe: Handle<KilnRecipe> = server.load("level.kiln.ron");
    let floor: Handle<Image> = server.load("level.kiln.ron#floor/1");
    let normal: Handle<Image> = server.load("level.kiln.ron#floor/1/normal");
    let sheet: Handle<Image> = server.load("level.kiln.ron#hero/sheet");
    let atlas: Handle<TextureAtlasLayout> = server.load("level.kiln.ron#hero/atlas");
    let tiles: Handle<Image> = server.load("level.kiln.ron#tiles/0");
    wait_loaded(&mut app, &recipe);

    let images = app.world().resource::<Assets<Image>>();
    let floor = images.get(&floor).expect("floor variant");
    assert_eq!((floor.width(), floor.height()), (32, 16));
    let ImageSampler::Descriptor(sampler) = &floor.sampler else {
        panic!("texture needs a repeat sampler")
    };
    assert_eq!(sampler.address_mode_u, ImageAddressMode::Repeat);
    assert_eq!(images.get(&normal).map(|n| n.width()), Some(32));
    // A pixel-art texture (scale 2, palette 4): the recipe's size, 2×2 blocks, 4 colours at most.
    let tiles = images.get(&tiles).expect("pixel-art texture");
    assert_eq!((tiles.width(), tiles.height()), (32, 16));
    let data = tiles.data.as_ref().expect("pixels");
    let pixel = |x: usize, y: usize| &data[(y * 32 + x) * 4..(y * 32 + x) * 4 + 4];
    let mut colours = std::collections::HashSet::new();
    for y in 0..16 {
        for x in 0..32 {
            assert_eq!(pixel(x, y), pixel(x / 2 * 2, y / 2 * 2), "({x}, {y})");
            colours.insert(pixel(x, y).to_vec());
        }
    }
    assert!(
        (2..=4).contains(&colours.len()),
        "{} colours",
        colours.len()
    );
    let sheet = images.get(&sheet).expect("sheet");
    assert_eq!(
        (sheet.width(), sheet.height()),
        (32, 32),
        "3 sprites of 16 px on a 2x2 grid"
    );
    assert!(
        matches!(sheet.sampler, ImageSampler::Descriptor(ref d) if d.mag_filter == bevy::image::ImageFilterMode::Nearest)
    );
    let atlas = app
        .world()
        .resource::<Assets<TextureAtlasLayout>>()
        .get(&atlas)
        .expect("atlas");
    assert_eq!(atlas.textures.len(), 3);

    let recipe = app
        .world()
        .resource::<Assets<KilnRecipe>>()
        .get(&recipe)
        .expect("recipe");
    assert_eq!(recipe.entries["floor"].seeds, [5, 6]);
    assert_eq!(recipe.entries["floor"].execution_provider, "cpu");
    assert_eq!(recipe.entries["floor"].licence, "CC0-1.0");

    // The credits screen's list, as `kiln bake` writes it to CREDITS.md.
    update_until(&mut app, "credits", |app| {
        !app.world().resource::<KilnCredits>().0.is_empty()
    });
    let credits = &app.world().resource::<KilnCredits>().0;
    let made = |model: &str| {
        credits
            .iter()
            .find(|(name, _)| *name == model)
            .map(|(_, credit)| {
                (
                    credit.licence.clone(),
                    credit.made.iter().cloned().collect::<Vec<_>>(),
                )
            })
    };
    assert_eq!(
        made("tiny_texture"),
        Some((
            "CC0-1.0".to_owned(),
            vec![
                "level.kiln.ron#floor".to_owned(),
                "level.kiln.ron#tiles".to_owned()
            ]
        ))
    );
    assert_eq!(
        made("tiny_sprite").map(|(_, made)| made),
        Some(vec!["level.kiln.ron#hero".to_owned()])
    );
    // A loader task reports an entry once it is made, which can reach the app a frame after
    // the recipe counts as loaded: wait for the three, then a few frames for any extra one.
    update_until(&mut app, "an entry's report", |app| {
        app.world().resource::<Seen>().generated.len() >= 3
    });
    for _ in 0..10 {
        app.update();
    }
    let seen = app.world().resource::<Seen>();
    assert_eq!(
        seen.generated.len(),
        3,
        "each entry generated once, however many labels were requested"
    );
    assert!(seen.failed.is_empty());
}

#[test]
fn replacing_a_model_file_regenerates_its_assets() {
    let game = Game::new();
    let (mut app, recipe, floor) = game.loaded_floor();
    let before = pixels(&app, &floor);

    std::fs::copy(
        kiln_testkit::repo().join("tests/fixtures/tiny_texture_retrained.onnx"),
        game.path("models/tiny_texture/model.onnx"),
    )
    .expect("replace model");
    update_until(&mut app, "regeneration after the model changed", |app| {
        pixels(app, &floor) != before
    });
    let recipe = app
        .world()
        .resource::<Assets<KilnRecipe>>()
        .get(&recipe)
        .expect("recipe");
    let retrained = kiln_onnx::sha256_hex(
        &std::fs::read(kiln_testkit::repo().join("tests/fixtures/tiny_texture_retrained.onnx"))
            .expect("read"),
    );
    assert_eq!(
        recipe.entries["floor"].model_sha256, retrained,
        "provenance follows the new bytes"
    );
}

#[test]
fn broken_recipe_keeps_the_last_good_asset_and_recovers() {
    let game = Game::new();
    let (mut app, _recipe, floor) = game.loaded_floor(); // the handle keeps the recipe loaded
    let good = pixels(&app, &floor);

    std::fs::write(
        game.path("assets/level.kiln.ron"),
        RECIPE.replace("variants: 2", "variants: 0"),
    )
    .expect("break");
    update_until(&mut app, "the failure message", |app| {
        !app.world().resource::<Seen>().failed.is_empty()
    });
    let failure = app.world().resource::<Seen>().failed[0].clone();
    assert!(failure.recipe.contains("level.kiln.ron"), "{failure:?}");
    assert!(
        failure.error.contains("level.kiln.ron:3:") && failure.error.contains("between 1 and 256"),
        "{failure:?}"
    );
    for _ in 0..20 {
        app.update();
    }
    assert_eq!(pixels(&app, &floor), good, "the last good asset stays");

    std::fs::write(
        game.path("assets/level.kiln.ron"),
        RECIPE.replace("seed: 5", "seed: 77"),
    )
    .expect("fix");
    update_until(&mut app, "recovery after the fix", |app| {
        pixels(app, &floor) != good
    });
}

#[test]
fn missing_model_is_reported_with_the_fix() {
    let game = Game::new();
    std::fs::write(
        game.path("assets/level.kiln.ron"),
        RECIPE.replace("\"tiny_sprite\"", "\"no_such_model\""),
    )
    .expect("write");
    let mut app = game.app();
    let recipe: Handle<KilnRecipe> = app.world().resource::<AssetServer>().load("level.kiln.ron");
    // The message and the asset server's load state arrive through different channels, in
    // either order: wait for both.
    update_until(&mut app, "the failure message", |app| {
        !app.world().resource::<Seen>().failed.is_empty()
    });
    update_until(&mut app, "the recipe's load state to fail", |app| {
        matches!(
            app.world().resource::<AssetServer>().load_state(&recipe),
            LoadState::Failed(_)
        )
    });
    let failure = &app.world().resource::<Seen>().failed[0];
    assert!(
        failure.error.contains("models/no_such_model/model.ron"),
        "{failure:?}"
    );
}

#[test]
fn text_and_music_entries_load_as_a_string_table_and_looping_audio() {
    let game = Game::new();
    for model in ["kiln_flavour", "kiln_melody"] {
        game.project.copy_model(Models::Shipped, model);
    }
    std::fs::write(
        game.path("assets/lore.kiln.ron"),
        r#"(assets: {
            "relics": (model: "kiln_flavour", seed: 4, variants: 3, kind: Text(kind: "trinket", max_words: 40)),
            "theme": (model: "kiln_melody", seed: 2, kind: Music(key: "G", tempo: 120, bars: 2)),
        })"#,
    )
    .expect("recipe");
    let mut app = game.app();
    let server = app.world().resource::<AssetServer>().clone();
    let recipe: Handle<KilnRecipe> = server.load("lore.kiln.ron");
    let strings: Handle<KilnStrings> = server.load("lore.kiln.ron#relics/strings");
    let theme: Handle<bevy::audio::AudioSource> = server.load("lore.kiln.ron#theme/0");
    wait_loaded(&mut app, &recipe);

    let table = app
        .world()
        .resource::<Assets<KilnStrings>>()
        .get(&strings)
        .expect("string table");
    assert_eq!(
        table.entries.keys().collect::<Vec<_>>(),
        ["relics/0", "relics/1", "relics/2"]
    );
    let relic = table.get("relics/1").expect("variant 1");
    assert!(!relic.name.is_empty() && relic.text.ends_with(['.', '!', '?', '"', ')']));
    let audio = app
        .world()
        .resource::<Assets<bevy::audio::AudioSource>>()
        .get(&theme)
        .expect("music loop");
    // Two bars at 120 bpm: 4 s of 16-bit mono at 44.1 kHz, plus headers and the smpl chunk.
    let samples = 2 * 2 * 44_100;
    assert_eq!(
        kiln_music::wav::loop_points(&audio.bytes),
        Some((0, samples - 1))
    );
    assert!(audio.bytes.len() > samples as usize * 2);
}
