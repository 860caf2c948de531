//! The `kiln` binary run as a process in a temporary folder, against the real ONNX Runtime.

mod common;

use std::path::Path;

use common::{DUNGEON, Models, Project, REPO, fixture_sha, kiln_command, sha256, stderr, text};

#[test]
fn bake_writes_pngs_and_a_provenance_manifest() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("baked 6 files from 2 of 2 entries"),
        "{}",
        text(&output)
    );

    let files = project.files("out");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".kiln-bake.lock",
            "CREDITS.md",
            "chars/hero/0.png",
            "chars/hero/sheet.atlas.ron",
            "chars/hero/sheet.png",
            "dungeon/floor/0.png",
            "dungeon/floor/1.png",
            "dungeon/floor/2.png",
            "kiln-bake.json"
        ]
    );
    let floor = image::load_from_memory(&files["dungeon/floor/2.png"]).expect("png");
    assert_eq!((floor.width(), floor.height()), (48, 32));

    let manifest = project.manifest("out");
    let record = &manifest["dungeon/floor/2.png"];
    assert_eq!(record["sha256"], sha256(&files["dungeon/floor/2.png"]));
    assert_eq!(record["recipe"], "dungeon.kiln.ron");
    assert_eq!(record["entry"], "floor");
    assert_eq!(record["variant"], 2);
    assert_eq!(record["seed"], 42);
    assert_eq!(record["model"], "tiny_texture");
    assert_eq!(record["model_sha256"], fixture_sha("tiny_texture"));
    assert_eq!(record["model_licence"], "CC0-1.0");
    assert_eq!(record["execution_provider"], "cpu");
    assert_eq!(record["parameters"]["Texture"]["class"], "moss");
    assert!(
        record["onnxruntime_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{record}"
    );
    assert_eq!(record["kiln_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        record["metrics"]["seam_score"]
            .as_f64()
            .is_some_and(f64::is_finite),
        "{record}"
    );
    assert_eq!(manifest["chars/hero/0.png"]["seed"], 9);
    assert_eq!(
        manifest["chars/hero/sheet.png"].get("variant"),
        None,
        "a sheet combines variants"
    );
}

#[test]
fn a_model_that_asks_for_attribution_gets_it_in_the_manifest_and_the_summary() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    let manifest = project.path("models/tiny_texture/model.ron");
    let original = std::fs::read_to_string(&manifest).expect("read manifest");
    let credit = "Includes tiles by Example Artists, CC-BY-4.0.";
    std::fs::write(
        &manifest,
        original.replacen(
            "licence: \"CC0-1.0\",",
            &format!("licence: \"CC-BY-4.0\",\n    attribution: \"{credit}\","),
            1,
        ),
    )
    .expect("write manifest");

    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "attribution required by tiny_texture (CC-BY-4.0), ship it with the files: {credit}"
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("required by tiny_sprite"), "{stdout}");
    let records = project.manifest("out");
    assert_eq!(records["dungeon/floor/0.png"]["model_attribution"], credit);
    assert_eq!(records["chars/hero/0.png"].get("model_attribution"), None);
    let credits = std::fs::read_to_string(project.path("out/CREDITS.md")).expect("CREDITS.md");
    assert!(
        credits.contains(&format!(
            "## tiny_texture\n\n- licence: CC-BY-4.0\n- attribution (required): {credit}\n- made: dungeon/floor\n"
        )) && credits.contains("## tiny_sprite\n\n- licence: CC0-1.0\n- attribution: none required\n- made: chars/hero\n"),
        "{credits}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("out/kiln-bake.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["credits"]["tiny_texture"]["attribution"], credit);
    assert_eq!(manifest["credits"]["tiny_sprite"]["made"][0], "chars/hero");

    // An up-to-date re-bake still owes the credit for the files in the folder.
    let again = project.bake("out", &[]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(credit),
        "{}",
        text(&again)
    );
}

#[test]
fn same_recipe_bakes_identical_bytes_sequential_or_parallel() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("a", &["--jobs", "1"]).status.code(), Some(0));
    assert_eq!(project.bake("b", &[]).status.code(), Some(0), "two jobs");
    let (a, b) = (project.files("a"), project.files("b"));
    assert_eq!(a, b);
    assert_ne!(
        a["dungeon/floor/0.png"], a["dungeon/floor/1.png"],
        "variants differ"
    );
}

#[test]
fn invalid_recipe_is_reported_with_position_and_others_still_bake() {
    let broken = "(\n    assets: {\n        \"x\": (model: \"tiny_texture\", seed: 1, variants: 900, kind: Sprite()),\n    },\n)\n";
    let project = Project::new(&[
        ("dungeon.kiln.ron", DUNGEON),
        ("sub/broken.kiln.ron", broken),
    ]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.kiln.ron:3:"), "{stderr}");
    assert!(stderr.contains("between 1 and 256"), "{stderr}");
    assert_eq!(
        project.manifest("out").len(),
        6,
        "the valid recipe was baked"
    );
}

#[test]
fn failing_entry_keeps_previous_outputs_and_records() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let before = project.files("out");

    let bad = DUNGEON
        .replace("class: \"moss\"", "class: \"lava\"")
        .replace("\"tiny_sprite\"", "\"missing_model\"");
    std::fs::write(project.path("recipes/dungeon.kiln.ron"), bad).expect("edit recipe");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dungeon.kiln.ron#floor: model \"tiny_texture\" has no class \"lava\": use one of stone, moss"), "{stderr}");
    assert!(
        stderr.contains("no model \"missing_model\"")
            && stderr.contains("available: tiny_blocks, tiny_pixels, tiny_sprite, tiny_texture"),
        "{stderr}"
    );
    assert_eq!(project.files("out"), before, "nothing baked before is lost");
}

#[test]
fn requiring_cuda_here_fails_before_writing_anything() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    let output = project.bake("out", &["--ep", "cuda"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("CUDA was required (--ep cuda) but cannot be used"),
        "{stderr}"
    );
    assert!(!project.path("out").exists());
}

#[test]
fn a_second_bake_into_the_same_folder_is_refused() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    std::fs::create_dir_all(project.path("out")).expect("mkdir");
    // Stands in for a bake in progress: the lock is held by this process.
    let held = std::fs::File::create(project.path("out/.kiln-bake.lock")).expect("lock file");
    held.try_lock().expect("take the lock");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("another `kiln bake` is writing to this folder"),
        "{}",
        text(&output)
    );
    assert!(!project.path("out/dungeon").exists(), "nothing was written");
    drop(held);
    assert_eq!(
        project.bake("out", &[]).status.code(),
        Some(0),
        "the lock is free again"
    );
}

#[test]
fn a_model_returning_nan_fails_its_entry_and_the_rest_bakes() {
    let recipe = r#"(
    assets: {
        "floor": (model: "tiny_texture", seed: 1, kind: Texture(size: (16, 16))),
        "ghost": (model: "nan_sprite", seed: 1, kind: Sprite()),
    },
)"#;
    let project = Project::new(&[("dungeon.kiln.ron", recipe)]);
    project.copy_model(Models::Fixtures, "tiny_texture");
    project.copy_model_folder("tests/fixtures/broken/nan_sprite");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "dungeon.kiln.ron#ghost: model \"nan_sprite\" produced 256 non-finite values"
        ),
        "{stderr}"
    );
    assert!(
        project.path("out/dungeon/floor/0.png").is_file(),
        "the healthy entry was baked"
    );
    assert!(
        !project.path("out/dungeon/ghost").exists(),
        "nothing written for the broken one"
    );
}

#[test]
fn doctor_reports_runtime_providers_and_models() {
    let project = Project::new(&[]);
    let models = Path::new(REPO).join("tests/fixtures/models");
    let output = project.kiln(&["doctor", "--models", models.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("ONNX Runtime 1."), "{stdout}");
    assert!(
        stdout.contains("  telemetry: off (ORT_DISABLE_TELEMETRY=1)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("cpu   loads"), "{stdout}");
    assert!(stdout.contains("cuda  "), "{stdout}");
    assert!(stdout.contains("tiny_texture         ok"), "{stdout}");
}

#[test]
fn onnx_runtime_records_no_telemetry() {
    // Microsoft's Linux builds keep a telemetry queue under `$HOME/.cache/Microsoft` unless
    // ORT_DISABLE_TELEMETRY is set before the library starts; `kiln` sets it.
    let project = Project::new(&[]);
    let library = kiln_onnx::discovery::SearchPlaces::from_environment()
        .search()
        .find_map(Result::ok)
        .expect("an ONNX Runtime library on this machine")
        .path;
    let home = project.path("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let models = Path::new(REPO).join("tests/fixtures/models");
    let output = kiln_command(project.root())
        .args(["doctor", "--models", models.to_str().expect("utf-8")])
        .env("HOME", &home)
        .env("ORT_DYLIB_PATH", &library)
        .env_remove("XDG_CACHE_HOME")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let written: Vec<_> = walk(&home);
    assert!(written.is_empty(), "written under $HOME: {written:?}");
}

/// Every file and folder under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            let mut found = walk(&path);
            found.insert(0, path);
            found
        })
        .collect()
}

#[test]
fn models_lists_each_models_licence_and_training_data() {
    let project = Project::new(&[]);
    let models = Path::new(REPO).join("tests/fixtures/models");
    let output = project.kiln(&["models", "--models", models.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "    licence CC0-1.0; trained by tests/fixtures/make_fixtures.py\n    \
             trained on none: random weights (numpy default_rng(2026), CC0-1.0)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    pixel-art generator, 4×3 sprites drawn one pixel per token (tokenizer.json); classes: warm, cool\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "    pixel-art generator, 6×4 sprites drawn a 2×2 block per token (tokenizer.json); classes: warm, cool\n"
        ),
        "{stdout}"
    );
}

#[test]
fn ort_dylib_path_wins_and_a_bad_one_is_an_error() {
    let project = Project::new(&[]);
    let cached = kiln_onnx::discovery::library_in(
        &Path::new(REPO)
            .join(".kiln/onnxruntime")
            .join(kiln_onnx::discovery::PINNED_VERSION),
    );
    if let Some(library) = cached {
        let output = kiln_command(project.root())
            .arg("doctor")
            .env("ORT_DYLIB_PATH", &library)
            .output()
            .expect("run");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("(found: ORT_DYLIB_PATH)"),
            "{}",
            text(&output)
        );
    }
    let output = kiln_command(project.root())
        .arg("doctor")
        .env("ORT_DYLIB_PATH", project.path("nowhere/libonnxruntime.so"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nowhere/libonnxruntime.so: no such file"),
        "{}",
        text(&output)
    );
}

#[test]
fn nothing_found_and_no_fetch_lists_every_place() {
    let project = Project::new(&[]);
    let output = kiln_command(project.root())
        .arg("doctor")
        .env("KILN_CACHE_DIR", project.path("empty-cache"))
        .env("KILN_NO_FETCH", "1")
        .env("KILN_PYTHON", project.path("no-python"))
        .output()
        .expect("run");
    let all = text(&output);
    if all.contains("(found: system library path)") {
        eprintln!(
            "this machine has a system ONNX Runtime: the not-found path cannot be shown here"
        );
        return;
    }
    assert_eq!(output.status.code(), Some(3), "{all}");
    for place in [
        "ORT_DYLIB_PATH",
        "empty-cache",
        "next to the executable",
        "pip package",
        "system library path",
        "KILN_NO_FETCH",
    ] {
        assert!(all.contains(place), "{place} missing: {all}");
    }
}

#[test]
fn an_output_folder_that_cannot_be_written_exits_5_and_names_it() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    std::fs::write(project.path("out"), "a file where the folder should be").expect("write");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("out: cannot write"), "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "said once: {stderr}");
    assert_eq!(
        std::fs::read_to_string(project.path("out")).expect("still a file"),
        "a file where the folder should be"
    );
}

#[test]
fn a_missing_recipes_folder_is_invalid_input_and_writes_nothing() {
    let project = Project::new(&[]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("recipes: cannot read the recipes folder")
            && stderr.contains("give the folder that holds your *.kiln.ron recipes"),
        "{stderr}"
    );
    assert!(!project.path("out").exists());
}

#[test]
fn a_cut_off_onnx_runtime_library_is_an_error_not_a_crash() {
    let project = Project::new(&[]);
    // The library doctor finds, copied only halfway (a half-finished cache restore).
    let found = kiln_command(project.root())
        .arg("doctor")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&found.stdout).into_owned();
    let library = stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("ONNX Runtime ")?
                .split_once(" at ")?
                .1
                .split(" (found")
                .next()
        })
        .map(Path::new)
        .unwrap_or_else(|| panic!("doctor names the library: {}", text(&found)));
    let bytes = std::fs::read(library).expect("read library");
    let cut = project.write("half/libonnxruntime.so", "");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write half");
    let output = kiln_command(project.root())
        .arg("doctor")
        .env("ORT_DYLIB_PATH", &cut)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        common::stderr(&output).contains("half/libonnxruntime.so")
            && common::stderr(&output).contains("the file is cut off"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_licence_policy_fails_entries_whose_model_it_does_not_allow() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.write("recipes/kiln-licences.ron", r#"(allow: ["MIT"])"#);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains(
            "dungeon.kiln.ron#floor: its model's licence CC0-1.0 is not allowed by \
             recipes/kiln-licences.ron (allow: MIT)"
        ),
        "{}",
        text(&output)
    );
    assert!(!project.path("out/dungeon").exists(), "nothing baked");

    project.write(
        "recipes/kiln-licences.ron",
        r#"(allow: ["MIT", "CC0-1.0"])"#,
    );
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    // Tightened after a bake: entries already in the folder fail too (they would ship).
    project.write("recipes/kiln-licences.ron", r#"(allow: ["MIT"])"#);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains("is not allowed by"),
        "{}",
        text(&output)
    );

    project.write("recipes/kiln-licences.ron", r#"(allowed: ["MIT"])"#);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("recipes/kiln-licences.ron:1:"),
        "{}",
        text(&output)
    );
}

#[test]
fn onnx_runtime_messages_stay_out_of_warnings_unless_verbose() {
    let recipe = r#"(assets: { "hero": (model: "chatty_sprite", seed: 1, kind: Sprite()) })"#;
    let project = Project::new(&[("chatty.kiln.ron", recipe)]);
    project.copy_model_folder("tests/fixtures/broken/chatty_sprite");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !stderr(&output).contains("Removing initializer") && !stderr(&output).contains("WARN"),
        "{}",
        text(&output)
    );
    let mut args = vec!["-v".to_owned()];
    args.extend(project.args("bake", "verbose", &[]));
    let verbose = project.kiln(&args);
    assert!(
        stderr(&verbose).contains("Removing initializer 'unused'"),
        "{}",
        text(&verbose)
    );
}
