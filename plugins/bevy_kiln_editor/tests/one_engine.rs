//! One engine: `kiln bake` (through `kiln_bake`), the Bevy plugin and the editor make the
//! same pixels, strings and WAV bytes for the same recipe entries, on the real ONNX Runtime.

use std::time::{Duration, Instant};

use bevy::asset::{AssetPlugin, LoadState};
use bevy::audio::AudioSource;
use bevy::prelude::*;
use bevy_kiln::{KilnPlugins, KilnRecipe, KilnSettings, KilnStrings};
use bevy_kiln_editor::{Content, EditorPaths, Workbench};
use kiln_bake::{BakePlan, Baker, Prune};
use kiln_engine::{Engine, ModelRegistry, SessionOptions};
use kiln_onnx::ProviderPolicy;
use kiln_testkit::{Models, Project};

const RECIPE: &str = r#"(assets: {
    "floor": (model: "tiny_texture", seed: 3, variants: 2, kind: Texture(size: (32, 16), class: "moss")),
    "hero": (model: "tiny_sprite", seed: 8, variants: 2, kind: Sprite(palette: 6, scale: 2)),
    "relics": (model: "kiln_flavour", seed: 4, variants: 2, kind: Text(kind: "trinket", max_words: 30)),
    "theme": (model: "kiln_melody", seed: 2, kind: Music(key: "A", tempo: 120, bars: 2)),
})"#;

const CPU: SessionOptions = SessionOptions {
    policy: ProviderPolicy::Cpu,
    intra_threads: Some(1),
    sessions_per_model: 1,
};

/// What one consumer made of an entry's variants.
#[derive(Debug, PartialEq)]
enum Seen {
    /// RGBA8 pixels of each variant.
    Pixels(Vec<Vec<u8>>),
    /// `(name, text)` of each variant.
    Strings(Vec<(String, String)>),
    /// WAV file of each variant.
    Wavs(Vec<Vec<u8>>),
}

fn project() -> Project {
    let project = Project::new();
    project.write("assets/level.kiln.ron", RECIPE);
    project.copy_model(Models::Fixtures, "tiny_texture");
    project.copy_model(Models::Fixtures, "tiny_sprite");
    project.copy_model(Models::Shipped, "kiln_flavour");
    project.copy_model(Models::Shipped, "kiln_melody");
    project
}

fn baked(project: &Project, entry: &str, variants: usize) -> Seen {
    let out = project.path(&format!("baked/level/{entry}"));
    let read = |file: String| std::fs::read(out.join(file)).expect("baked file");
    let png = |i: usize| {
        let image = image::load_from_memory(&read(format!("{i}.png"))).expect("PNG");
        image.into_rgba8().into_raw()
    };
    match entry {
        "relics" => {
            let json: serde_json::Value =
                serde_json::from_slice(&read("strings.json".into())).expect("JSON");
            Seen::Strings(
                (0..variants)
                    .map(|i| {
                        let flavour = &json[format!("relics/{i}")];
                        let field = |name: &str| flavour[name].as_str().expect("text").to_owned();
                        (field("name"), field("text"))
                    })
                    .collect(),
            )
        }
        "theme" => Seen::Wavs((0..variants).map(|i| read(format!("{i}.wav"))).collect()),
        _ => Seen::Pixels((0..variants).map(png).collect()),
    }
}

fn loaded_in_bevy(project: &Project) -> Vec<(String, Seen)> {
    let mut app = App::new();
    let mut kiln = KilnPlugins::with_models(project.path("models").display().to_string());
    kiln.settings = KilnSettings {
        provider: CPU.policy,
        intra_threads: CPU.intra_threads,
    };
    app.add_plugins((
        kiln,
        MinimalPlugins,
        AssetPlugin {
            file_path: project.path("assets").display().to_string(),
            ..default()
        },
    ));
    app.finish();
    app.cleanup();
    let handle: Handle<KilnRecipe> = app.world().resource::<AssetServer>().load("level.kiln.ron");
    let began = Instant::now();
    loop {
        match app.world().resource::<AssetServer>().load_state(&handle) {
            LoadState::Loaded => break,
            LoadState::Failed(err) => panic!("the recipe failed to load: {err}"),
            _ => assert!(began.elapsed() < Duration::from_secs(120), "load timed out"),
        }
        app.update();
    }
    let world = app.world();
    let recipe = world
        .resource::<Assets<KilnRecipe>>()
        .get(&handle)
        .expect("recipe");
    recipe
        .entries
        .iter()
        .map(|(name, generated)| {
            let seen = if let Some(strings) = &generated.strings {
                let table = world
                    .resource::<Assets<KilnStrings>>()
                    .get(strings)
                    .expect("strings");
                Seen::Strings(
                    (0..generated.seeds.len())
                        .map(|i| {
                            let flavour = table.get(&format!("{name}/{i}")).expect("variant");
                            (flavour.name.clone(), flavour.text.clone())
                        })
                        .collect(),
                )
            } else if !generated.audio.is_empty() {
                let sources = world.resource::<Assets<AudioSource>>();
                Seen::Wavs(
                    generated
                        .audio
                        .iter()
                        .map(|h| sources.get(h).expect("audio").bytes.to_vec())
                        .collect(),
                )
            } else {
                let images = world.resource::<Assets<Image>>();
                Seen::Pixels(
                    generated
                        .images
                        .iter()
                        .map(|h| images.get(h).and_then(|i| i.data.clone()).expect("pixels"))
                        .collect(),
                )
            };
            (name.clone(), seen)
        })
        .collect()
}

fn generated_in_editor(project: &Project, entry: &str) -> Seen {
    let mut workbench = Workbench::new(EditorPaths {
        assets: project.path("assets"),
        models: project.path("models"),
        bake: project.path("editor-bakes"),
    });
    assert!(workbench.select("level.kiln.ron", entry));
    workbench.generate(CPU);
    workbench.wait();
    let gallery = workbench
        .gallery()
        .unwrap_or_else(|| panic!("{entry}: no gallery: {:?}", workbench.notices()));
    let contents = gallery.variants.iter().map(|variant| &variant.content);
    match entry {
        "relics" => Seen::Strings(
            contents
                .map(|content| match content {
                    Content::Text(flavour) => (flavour.name.clone(), flavour.text.clone()),
                    other => panic!("text expected, got {other:?}"),
                })
                .collect(),
        ),
        "theme" => Seen::Wavs(
            contents
                .map(|content| match content {
                    Content::Loop { wav, .. } => wav.clone(),
                    other => panic!("a loop expected, got {other:?}"),
                })
                .collect(),
        ),
        _ => Seen::Pixels(
            contents
                .map(|content| match content {
                    Content::Image { rgba, .. } => rgba.clone(),
                    other => panic!("an image expected, got {other:?}"),
                })
                .collect(),
        ),
    }
}

#[test]
fn bake_plugin_and_editor_make_the_same_content_for_the_same_entries() {
    let project = project();
    let engine = Engine::new(CPU).expect("ONNX Runtime");
    let plan = BakePlan::from_dir(&project.path("assets")).expect("recipes");
    let baker = Baker {
        engine: &engine,
        models: &ModelRegistry::new(project.path("models")),
        out_dir: &project.path("baked"),
        jobs: 1,
        licences: plan.licences.as_ref(),
    };
    let report = baker
        .bake(&plan.jobs, Prune::Nothing, &|_| {})
        .expect("bake");
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let in_bevy = loaded_in_bevy(&project);
    assert_eq!(in_bevy.len(), 4, "every entry loads");
    for (entry, seen) in in_bevy {
        let variants = match &seen {
            Seen::Pixels(v) | Seen::Wavs(v) => v.len(),
            Seen::Strings(v) => v.len(),
        };
        assert_eq!(
            seen,
            baked(&project, &entry, variants),
            "{entry}: plugin vs bake"
        );
        assert_eq!(
            generated_in_editor(&project, &entry),
            seen,
            "{entry}: editor vs plugin"
        );
    }
}
