//! The editor's actions without a window, on the shipped models and the real ONNX Runtime:
//! generate into a gallery, pin into the recipe file, bake through the bake engine, errors.

use std::path::PathBuf;

use kiln_onnx::{ProviderPolicy, SessionOptions};
use kiln_recipe::{AssetKind, Bounded, Recipe};

use bevy_kiln_editor::{Content, EditorPaths, WAVEFORM_COLUMNS, Workbench};
use kiln_testkit::Models;

const RECIPE: &str = r#"// A recipe the editor edits.
(
    assets: {
        // The floor.
        "floor": (
            model: "kiln_textures",
            seed: 100,
            variants: 2,
            kind: Texture(size: (64, 64), class: "stone_floor"),
        ),
        "lore": (model: "kiln_flavour", seed: 5, variants: 2, kind: Text(kind: "potion", max_words: 30)), // keep
        "theme": (model: "kiln_melody", seed: 1, kind: Music(key: "G", tempo: 120, bars: 2)),
        "villager": (model: "kiln_portraits", seed: 3, variants: 2, kind: Sprite(scale: 2, despeckle: false)),
        "lost": (model: "no_such_model", seed: 1, kind: Texture(size: (64, 64))),
    },
)
"#;

const LABEL: &str = "test.kiln.ron";

/// A project folder with the recipe under `assets/`, baking to `baked/`, with the shipped models.
struct Project(kiln_testkit::Project);

impl Project {
    fn new() -> Self {
        let project = kiln_testkit::Project::new();
        project.write(&format!("assets/{LABEL}"), RECIPE);
        Self(project)
    }

    fn recipe_path(&self) -> PathBuf {
        self.0.path("assets").join(LABEL)
    }

    fn bake_dir(&self) -> PathBuf {
        self.0.path("baked")
    }

    fn workbench(&self) -> Workbench {
        Workbench::new(EditorPaths {
            assets: self.0.path("assets"),
            models: Models::Shipped.dir(),
            bake: self.bake_dir(),
        })
    }
}

fn cpu() -> SessionOptions {
    SessionOptions {
        policy: ProviderPolicy::Cpu,
        intra_threads: None,
        sessions_per_model: 1,
    }
}

fn generate(workbench: &mut Workbench, entry: &str, options: SessionOptions) {
    assert!(workbench.select(LABEL, entry), "{entry} is in the recipe");
    workbench.generate(options);
    assert!(workbench.is_busy(), "generation runs in the background");
    workbench.wait();
}

fn rgba(content: &Content) -> &[u8] {
    match content {
        Content::Image { rgba, .. } => rgba,
        other => panic!("expected an image, got {other:?}"),
    }
}

#[test]
fn generate_pin_and_bake_the_pinned_variant() {
    let project = Project::new();
    let mut workbench = project.workbench();
    assert!(workbench.select(LABEL, "floor"));
    let selection = workbench.selection_mut().expect("selected");
    selection.draft.seed = 500;
    selection.draft.variants = Bounded::new(3).expect("in range");
    workbench.generate(cpu());
    workbench.wait();
    assert!(workbench.notices().is_empty(), "{:?}", workbench.notices());

    let gallery = workbench.gallery().expect("a gallery");
    assert_eq!(gallery.execution_provider, "cpu");
    let seeds: Vec<u64> = gallery.variants.iter().map(|v| v.seed).collect();
    assert_eq!(seeds, [500, 501, 502]);
    for variant in &gallery.variants {
        assert!(matches!(
            variant.content,
            Content::Image {
                size: [64, 64],
                sprite: false,
                ..
            }
        ));
        let seam = variant.metrics["seam_score"];
        assert!(seam > 0.0 && seam < 2.0, "seam score {seam}");
    }
    assert_ne!(
        rgba(&gallery.variants[0].content),
        rgba(&gallery.variants[1].content)
    );
    let pinned = rgba(&gallery.variants[1].content).to_vec();

    // Pin: only the floor entry's text changes; it now starts at the pinned seed.
    let path = workbench.pin(1).expect("pins");
    assert_eq!(path, project.recipe_path());
    let text = std::fs::read_to_string(&path).expect("recipe");
    assert!(
        text.starts_with(
            "// A recipe the editor edits.\n(\n    assets: {\n        // The floor.\n"
        )
    );
    for line in RECIPE
        .lines()
        .filter(|line| line.contains("\"lore\"") || line.contains("\"lost\""))
    {
        assert!(text.contains(line), "{line:?} was changed:\n{text}");
    }
    let floor = &Recipe::load(&path).expect("valid").assets["floor"];
    assert_eq!((floor.seed, floor.variants.get()), (501, 3));
    assert!(!workbench.selection().expect("selected").is_dirty());

    // Bake: the ticked entry only, through the bake engine; its variant 0 is the pinned one.
    workbench.bake_checked.insert(format!("{LABEL}#floor"));
    workbench.bake(cpu());
    workbench.wait();
    let summary = workbench.last_bake().expect("baked");
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(summary.written, 3);
    let baked = image::open(project.bake_dir().join("test/floor/0.png"))
        .expect("baked variant 0")
        .into_rgba8();
    assert_eq!(
        baked.into_raw(),
        pinned,
        "the bake reproduces the pinned variant"
    );
    let manifest =
        std::fs::read_to_string(project.bake_dir().join("kiln-bake.json")).expect("manifest");
    assert!(manifest.contains("\"test.kiln.ron#floor\""), "{manifest}");
    assert!(!manifest.contains("#lore"), "only ticked entries are baked");
}

#[test]
fn text_and_music_variants_show_as_text_and_loops() {
    let project = Project::new();
    let mut workbench = project.workbench();
    generate(&mut workbench, "lore", cpu());
    let gallery = workbench.gallery().expect("text gallery");
    assert_eq!(gallery.variants.len(), 2, "{:?}", workbench.notices());
    for variant in &gallery.variants {
        let Content::Text(flavour) = &variant.content else {
            panic!("expected text, got {:?}", variant.content)
        };
        assert!(!flavour.name.is_empty());
        let words = flavour.text.split_whitespace().count();
        assert!((8..=30).contains(&words), "{words} words: {}", flavour.text);
    }

    generate(&mut workbench, "theme", cpu());
    let gallery = workbench.gallery().expect("music gallery");
    let Content::Loop {
        wav,
        seconds,
        waveform,
    } = &gallery.variants[0].content
    else {
        panic!("expected a loop, got {:?}", gallery.variants[0].content)
    };
    assert_eq!(*seconds, 4.0, "2 bars of 4/4 at 120 bpm");
    assert_eq!(waveform.len(), WAVEFORM_COLUMNS);
    assert!(
        waveform.iter().any(|(low, high)| high - low > 0.1),
        "silent waveform"
    );
    assert!(wav.starts_with(b"RIFF"));
}

#[test]
fn a_pixel_model_is_offered_for_sprites_only_and_draws_them() {
    let project = Project::new();
    let mut workbench = project.workbench();
    let portraits = workbench.catalog().models["kiln_portraits"]
        .clone()
        .expect("a valid manifest");
    let recipe = Recipe::load(&project.recipe_path()).expect("recipe");
    assert!(portraits.fits(&recipe.assets["villager"].kind));
    assert!(!portraits.fits(&recipe.assets["lore"].kind));
    assert!(!portraits.fits(&recipe.assets["floor"].kind));
    assert_eq!(portraits.classes, ["portrait"]);

    generate(&mut workbench, "villager", cpu());
    let gallery = workbench.gallery().expect("a gallery");
    assert_eq!(gallery.variants.len(), 2, "{:?}", workbench.notices());
    for variant in &gallery.variants {
        assert!(
            matches!(
                variant.content,
                Content::Image {
                    size: [32, 32],
                    sprite: true,
                    ..
                }
            ),
            "{:?}",
            variant.content
        );
    }
    assert_ne!(
        rgba(&gallery.variants[0].content),
        rgba(&gallery.variants[1].content)
    );
}

#[test]
fn errors_name_the_file_and_leave_the_gallery_alone() {
    let project = Project::new();
    let mut workbench = project.workbench();
    generate(&mut workbench, "floor", cpu());
    assert!(workbench.gallery().is_some());

    generate(&mut workbench, "lost", cpu());
    let error = &workbench.notices().last().expect("an error").message;
    assert!(error.contains("test.kiln.ron#lost"), "{error}");
    assert!(error.contains("no_such_model"), "{error}");
    assert_eq!(
        workbench.gallery().expect("kept").entry,
        "floor",
        "the last gallery stays"
    );

    generate(
        &mut workbench,
        "floor",
        SessionOptions {
            policy: ProviderPolicy::Cuda,
            intra_threads: None,
            sessions_per_model: 1,
        },
    );
    let error = &workbench.notices().last().expect("an error").message;
    assert!(error.to_lowercase().contains("cuda"), "{error}");

    std::fs::write(
        project.recipe_path(),
        RECIPE.replace("seed: 100", "seed: -3"),
    )
    .expect("break");
    workbench.rescan();
    let file = workbench.catalog().recipe(LABEL).expect("listed");
    let error = file.recipe.as_ref().expect_err("broken recipe");
    assert!(error.contains("test.kiln.ron:7:"), "{error}");
    assert!(
        workbench.pin(0).is_err(),
        "pinning into a broken recipe is refused"
    );
    assert_eq!(
        std::fs::read_to_string(project.recipe_path()).expect("recipe"),
        RECIPE.replace("seed: 100", "seed: -3"),
        "the broken file is left as it was"
    );
}

#[test]
fn rescans_follow_the_file_and_keep_unsaved_edits() {
    let project = Project::new();
    let mut workbench = project.workbench();
    assert!(workbench.select(LABEL, "floor"));
    std::fs::write(
        project.recipe_path(),
        RECIPE.replace("seed: 100", "seed: 111"),
    )
    .expect("edit");
    workbench.rescan();
    assert_eq!(workbench.selection().expect("selected").draft.seed, 111);

    let selection = workbench.selection_mut().expect("selected");
    let AssetKind::Texture(texture) = &mut selection.draft.kind else {
        panic!("floor is a texture")
    };
    texture.normal_map = true;
    std::fs::write(
        project.recipe_path(),
        RECIPE.replace("seed: 100", "seed: 222"),
    )
    .expect("edit");
    workbench.rescan();
    let selection = workbench.selection().expect("selected");
    assert!(selection.is_dirty());
    assert_eq!(selection.saved.seed, 222);
    assert_eq!(selection.draft.seed, 111, "unsaved edits stay as they were");
}
