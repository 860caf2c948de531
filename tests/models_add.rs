//! `kiln models add`: from an exported ONNX file to a baked asset, on fixtures made by
//! `tests/fixtures/make_fixtures.py` (optimum-style decoders, a channels-last U8 generator with
//! a constant input, a class-conditional texture model).

mod common;

use std::path::Path;

use common::{Project, REPO, stderr, stdout, text};

fn fixture(path: &str) -> String {
    Path::new(REPO)
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

/// `kiln models add <fixture> <extra>` into the project's `models/`.
fn add(project: &Project, path: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["models".to_owned(), "add".to_owned(), fixture(path)];
    args.extend([
        "--models".to_owned(),
        project.path("models").display().to_string(),
    ]);
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    project.kiln(&args)
}

#[test]
fn a_merged_optimum_decoder_is_added_complete_and_bakes_its_greedy_continuation() {
    let recipe = r#"(assets: {
        "lore": (model: "story", seed: 1, kind: Completion(
            prompt: "the old sword",
            stop: [" dark"],
            sampling: (temperature: 0.0, repetition_penalty: 1.0, max_tokens: 5),
        )),
    })"#;
    let project = Project::new(&[("tales.kiln.ron", recipe)]);
    let output = add(
        &project,
        "decoders/tiny_decoder_merged/model.onnx",
        &["--name", "story", "--licence", "CC0-1.0"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("decoder with a KV cache (merged, use_cache_branch)")
            && stdout(&output).contains("its model.ron is complete"),
        "{}",
        text(&output)
    );
    let manifest =
        std::fs::read_to_string(project.path("models/story/model.ron")).expect("model.ron");
    assert!(
        manifest.contains("context: 64, // from config.json n_positions")
            && manifest.contains(r#"end: "<end>","#)
            && manifest.contains(r#"(name: "use_cache_branch", dtype: Bool, shape: [1]),"#),
        "{manifest}"
    );
    assert!(project.path("models/story/tokenizer.json").is_file());

    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let strings =
        std::fs::read_to_string(project.path("out/tales/lore/strings.ron")).expect("string table");
    // Greedy, as in tests/fixtures/decoders/greedy_reference.json: in softly old softly old.
    assert!(
        strings.contains(r#""in softly old softly old""#),
        "{strings}"
    );
}

#[test]
fn a_channels_last_byte_generator_is_a_draft_until_filled_in_then_bakes_like_its_twin() {
    let recipe = r#"(assets: {
        "face": (model: "MODEL", seed: 3, kind: Texture(size: (4, 6))),
    })"#;
    let project = Project::new(&[("faces.kiln.ron", &recipe.replace("MODEL", "nhwc_u8"))]);
    let output = add(&project, "layouts/nhwc_u8/model.onnx", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("its model.ron is a draft: fill in 2 lines")
            && stdout(&output).contains("licence: \"TODO(kiln)")
            && stdout(&output).contains(r#"(name: "psi", value: 1.0), // TODO(kiln)"#),
        "{}",
        text(&output)
    );
    let manifest_path = project.path("models/nhwc_u8/model.ron");
    let draft = std::fs::read_to_string(&manifest_path).expect("model.ron");
    assert!(
        draft.contains("layout: Nhwc,") && draft.contains("value_range: (0.0, 255.0),"),
        "{draft}"
    );

    // A draft is named by doctor and refused by a bake, with the lines left.
    let doctor = project.kiln(&["doctor", "--models", "models"]);
    assert_eq!(doctor.status.code(), Some(1), "{}", text(&doctor));
    assert!(
        stdout(&doctor).contains("this manifest is a draft"),
        "{}",
        text(&doctor)
    );
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(stderr(&output).contains("line 26:"), "{}", text(&output));

    let filled = draft
        .lines()
        .map(|line| {
            if line.contains("licence: \"TODO(kiln)") {
                "    licence: \"CC0-1.0\",".to_owned()
            } else if line.contains("name: \"psi\", value") {
                "            (name: \"psi\", value: 0.7),".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&manifest_path, filled).expect("fill in");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    // The committed channels-first twin (same weights, psi 0.7) bakes the same pixels.
    project.copy_model_folder("tests/fixtures/layouts/nchw");
    project.write("recipes/faces.kiln.ron", &recipe.replace("MODEL", "nchw"));
    let output = project.bake("twin", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        std::fs::read(project.path("out/faces/face/0.png")).expect("imported"),
        std::fs::read(project.path("twin/faces/face/0.png")).expect("twin")
    );
}

#[test]
fn a_class_conditional_texture_model_has_its_stride_measured_and_classes_left_to_name() {
    let project = Project::new(&[]);
    let output = add(
        &project,
        "models/tiny_texture/model.onnx",
        &["--licence", "MIT"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let draft =
        std::fs::read_to_string(project.path("models/tiny_texture/model.ron")).expect("draft");
    assert!(
        draft.contains("stride: 4, // measured")
            && draft.contains("class_input: \"class\",")
            && draft.contains("classes: [\"TODO(kiln): the class names, in index order\"],")
            && draft.contains("value_range: (-1.0, 1.0),"),
        "{draft}"
    );
}

#[test]
fn bad_additions_are_refused_with_the_fix_and_write_nothing() {
    let project = Project::new(&[]);
    let flavour_tokenizer = Path::new(REPO).join("models/kiln_flavour/tokenizer.json");
    let output = add(
        &project,
        "decoders/tiny_decoder_past/model.onnx",
        &["--tokenizer", flavour_tokenizer.to_str().expect("utf-8")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("it has 4096 tokens but the model predicts 11"),
        "{}",
        text(&output)
    );
    assert!(!project.path("models/tiny_decoder_past").exists());

    let output = add(
        &project,
        "decoders/tiny_decoder_past/model.onnx",
        &["--name", "../up"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("is not a model name"),
        "{}",
        text(&output)
    );

    assert_eq!(
        add(&project, "decoders/tiny_decoder_nocache/model.onnx", &[])
            .status
            .code(),
        Some(0)
    );
    let again = add(&project, "decoders/tiny_decoder_nocache/model.onnx", &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        text(&again)
    );

    // Weights in a separate file (how large exports are saved): named, with the fix.
    let output = add(&project, "broken/external_data/model.onnx", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("its weights are stored outside it")
            && stderr(&output).contains("save_as_external_data=False"),
        "{}",
        text(&output)
    );

    let not_onnx = project.write("notes.onnx", "not a model");
    let output = project.kiln(&[
        "models",
        "add",
        not_onnx.to_str().expect("utf-8"),
        "--models",
        "models",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(stderr(&output).contains("notes.onnx"), "{}", text(&output));
}
