//! A bake keeps what it should and stays inside `--out`: moved and renamed entries keep the
//! files just baked; tampered manifests and shards, recipe names and outputs that would leave
//! or alias folders, runaway arguments are refused; `verify` is read-only; messages carry no
//! colour codes when stderr is not a terminal.

mod common;

use common::{DUNGEON, Project, stderr, text};

/// Adds to the folder's manifest an entry of no recipe whose only file is `path`.
fn list_in_manifest(project: &Project, out: &str, path: &str) {
    let manifest_path = project.path(out).join("kiln-bake.json");
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("json");
    let record = manifest["files"]
        .as_object()
        .and_then(|files| files.values().next())
        .cloned()
        .expect("a file record");
    manifest["files"][path] = record;
    manifest["entries"]["gone.kiln.ron#old"] =
        serde_json::json!({ "recipe": "gone.kiln.ron", "key": "k", "files": [path] });
    std::fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
}

#[test]
fn a_manifest_listing_a_path_outside_the_folder_is_refused_and_nothing_outside_is_touched() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let victim = project.write("victim.txt", "keep me");
    list_in_manifest(&project, "out", "../victim.txt");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("\"../victim.txt\", which is not a path inside the output folder")
            && stderr(&output).contains("delete it to re-bake everything"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(victim).expect("still there"),
        "keep me"
    );
}

#[test]
fn merge_refuses_a_shard_whose_manifest_lists_a_path_outside_it() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("shard", &[]).status.code(), Some(0));
    list_in_manifest(&project, "shard", "../escaped.txt");
    std::fs::write(project.path("escaped.txt"), "original").expect("write");
    let output = project.kiln(&["merge", "shard", "--out", "merged"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("not a path inside"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(project.path("escaped.txt")).expect("kept"),
        "original"
    );
    assert!(!project.path("merged").join("kiln-bake.json").exists());
}

#[test]
fn recipe_names_and_outputs_that_would_leave_or_alias_a_folder_are_invalid() {
    let aliased = DUNGEON.replace("\"chars/hero\"", "\"chars/./hero\"");
    let project = Project::new(&[
        ("...kiln.ron", DUNGEON),
        ("alias.kiln.ron", &aliased),
        ("dungeon.kiln.ron", DUNGEON),
    ]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("...kiln.ron: its name gives no folder for its outputs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\"chars/./hero\" would leave the output folder"),
        "{stderr}"
    );
    // The valid recipe still baked, and nothing was written beside `out`.
    assert!(project.path("out/dungeon/floor/0.png").is_file());
    let beside: Vec<String> = std::fs::read_dir(project.root())
        .expect("ls")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut beside = beside;
    beside.sort();
    assert_eq!(beside, ["out", "recipes"]);
}

#[test]
fn verify_takes_no_lock_and_writes_nothing() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    std::fs::remove_file(project.path("out/.kiln-bake.lock")).expect("the bake's lock file");
    let before = project.files("out");
    let output = project.kiln(&project.args("verify", "out", &[]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(project.files("out"), before, "verify changed the folder");

    // A folder that was never baked: every entry is reported, nothing is created.
    std::fs::create_dir(project.path("empty")).expect("mkdir");
    let output = project.kiln(&project.args("verify", "empty", &[]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        project.files("empty").is_empty(),
        "verify wrote into an empty folder"
    );
}

#[test]
fn thread_counts_are_capped_with_the_limit_named() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    for flag in ["--threads", "--jobs"] {
        let output = project.bake("out", &[flag, "100000"]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        assert!(
            stderr(&output).contains("1..=256"),
            "{flag}: {}",
            text(&output)
        );
    }
    assert!(!project.path("out").exists());
}

#[test]
fn messages_have_no_colour_codes_when_stderr_is_not_a_terminal() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    // `--ep auto` on a machine without CUDA warns once why it runs on CPU.
    let output = project.bake("out", &["--ep", "auto"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(stderr(&output).contains("WARN"), "{}", text(&output));
    assert!(!stderr(&output).contains('\u{1b}'), "{}", text(&output));
}

/// Bakes `before`, then `after` (recipe file name → text), and checks that every file the
/// second bake's manifest records is on disk with its recorded bytes.
fn rebake_keeps_every_recorded_file(before: &[(&str, &str)], after: &[(&str, &str)]) -> Project {
    let project = Project::new(before);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    std::fs::remove_dir_all(project.path("recipes")).expect("rm recipes");
    for (name, recipe) in after {
        project.write(&format!("recipes/{name}"), recipe);
    }
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let on_disk = project.files("out");
    let recorded = project.manifest("out");
    assert!(!recorded.is_empty());
    for (path, record) in &recorded {
        let bytes = on_disk
            .get(path)
            .unwrap_or_else(|| panic!("{path} is recorded but was deleted: {}", text(&output)));
        assert_eq!(
            common::sha256(bytes),
            record["sha256"].as_str().expect("sha"),
            "{path}"
        );
    }
    project
}

#[test]
fn moving_a_recipe_into_a_subfolder_keeps_its_freshly_baked_files() {
    let project = rebake_keeps_every_recorded_file(
        &[("dungeon.kiln.ron", DUNGEON)],
        &[("sub/dungeon.kiln.ron", DUNGEON)],
    );
    assert!(project.path("out/dungeon/floor/2.png").is_file());
}

#[test]
fn renaming_an_entry_that_keeps_its_output_keeps_the_files() {
    let renamed = DUNGEON.replace("\"hero\":", "\"champion\":");
    assert_ne!(renamed, DUNGEON);
    let project = rebake_keeps_every_recorded_file(
        &[("dungeon.kiln.ron", DUNGEON)],
        &[("dungeon.kiln.ron", &renamed)],
    );
    assert!(project.path("out/chars/hero/0.png").is_file());
}

#[test]
fn entries_swapping_output_folders_keep_each_others_new_files() {
    let recipe = |alpha: &str, beta: &str| {
        format!(
            r#"(assets: {{
                "alpha": (model: "tiny_texture", seed: 1, output: "{alpha}", kind: Texture(size: (32, 16), class: "moss")),
                "beta": (model: "tiny_texture", seed: 2, output: "{beta}", kind: Texture(size: (32, 16), class: "moss")),
            }})"#
        )
    };
    let project = rebake_keeps_every_recorded_file(
        &[("swap.kiln.ron", &recipe("A", "B"))],
        &[("swap.kiln.ron", &recipe("B", "C"))],
    );
    assert!(project.path("out/B/0.png").is_file() && project.path("out/C/0.png").is_file());
    assert!(!project.path("out/A").exists(), "A belongs to nobody now");
}

#[test]
fn an_emptied_recipes_folder_keeps_the_bake_unless_pruning_is_asked_for() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let baked = project.files("out");
    std::fs::remove_file(project.path("recipes/dungeon.kiln.ron")).expect("rm recipe");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains("kept 2 baked entries") && stderr(&output).contains("--prune"),
        "{}",
        text(&output)
    );
    assert_eq!(
        project.files("out").len(),
        baked.len(),
        "nothing was removed"
    );
    let output = project.bake("out", &["--prune"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!project.path("out/dungeon").exists() && !project.path("out/chars").exists());
}

#[test]
fn a_shard_bake_never_prunes_the_other_shards_entries_and_merge_needs_real_shards() {
    let many: String = (0..6)
        .map(|i| {
            format!(
                "\"e{i}\": (model: \"tiny_texture\", seed: {i}, kind: Texture(size: (32, 16), class: \"moss\")),\n"
            )
        })
        .collect();
    let project = Project::new(&[("many.kiln.ron", &format!("(assets: {{ {many} }})"))]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let full = project.files("out");
    let output = project.bake("out", &["--shard", "1/2"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        project.files("out"),
        full,
        "the other shard's files are kept"
    );

    let output = project.kiln(&["merge", "out", "no-such-shard", "--out", "merged"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("no-such-shard: has no kiln-bake.json"),
        "{}",
        text(&output)
    );
    assert!(!project.path("merged").exists());
}

#[test]
fn a_malformed_model_manifest_is_invalid_input_and_the_rest_bakes() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    project.write("models/tiny_sprite/model.ron", "(name: \"tiny_sprite\",");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("tiny_sprite/model.ron:1:"),
        "{}",
        text(&output)
    );
    assert!(
        project.path("out/dungeon/floor/0.png").is_file(),
        "the rest baked"
    );
}

#[test]
fn an_edited_model_sha256_is_checked_on_an_incremental_bake_too() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let manifest = project.path("models/tiny_texture/model.ron");
    let ron = std::fs::read_to_string(&manifest).expect("read");
    let sha = common::fixture_sha("tiny_texture");
    std::fs::write(&manifest, ron.replace(&sha, &"0".repeat(64))).expect("write");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains(&format!("sha256 is {sha}, but its manifest says 0000")),
        "{}",
        text(&output)
    );
}

#[cfg(unix)]
#[test]
fn a_recipe_whose_name_is_not_utf8_is_reported_not_skipped() {
    use std::os::unix::ffi::OsStrExt as _;
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.kiln.ron");
    std::fs::write(project.path("recipes").join(name), DUNGEON).expect("write");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        stderr(&output).contains("caf\u{fffd}.kiln.ron: its name gives no folder"),
        "{}",
        text(&output)
    );
    assert!(
        project.path("out/dungeon/floor/0.png").is_file(),
        "the rest baked"
    );
}

#[test]
fn two_entries_with_one_output_folder_bake_one_and_name_both() {
    // The same folder, and folders that differ only in case (one folder on macOS and Windows).
    for (first, second) in [("shared", "shared"), ("Moss", "moss")] {
        let recipe = format!(
            r#"(assets: {{
            "alpha": (model: "tiny_texture", seed: 1, output: "{first}", kind: Texture(size: (32, 16), class: "moss")),
            "beta": (model: "tiny_texture", seed: 2, output: "{second}", kind: Texture(size: (32, 16), class: "moss")),
        }})"#
        );
        let project = Project::new(&[("clash.kiln.ron", &recipe)]);
        let output = project.bake("out", &[]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            stderr(&output).contains(&format!(
                "clash.kiln.ron#beta: its output folder \"{second}\" belongs to clash.kiln.ron#alpha"
            )),
            "{}",
            text(&output)
        );
        let recorded = project.manifest("out");
        assert!(recorded.values().all(|record| record["entry"] == "alpha"));
        assert!(project.path(&format!("out/{first}/0.png")).is_file());
        assert!(first == second || !project.path(&format!("out/{second}")).exists());
    }
}

#[test]
fn a_new_entry_cannot_take_the_folder_of_an_entry_already_baked() {
    let existing = r#"(assets: {
        "walls": (model: "tiny_texture", seed: 1, output: "shared", kind: Texture(size: (32, 16), class: "moss")),
    })"#;
    // Sorts before the existing recipe, so it would be the first to name the folder.
    let newcomer = r#"(assets: {
        "floors": (model: "tiny_texture", seed: 2, output: "shared", kind: Texture(size: (32, 16), class: "moss")),
    })"#;
    let project = Project::new(&[("walls.kiln.ron", existing)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let before = project.files("out/shared");
    project.write("recipes/a_new.kiln.ron", newcomer);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains(
            "a_new.kiln.ron#floors: its output folder \"shared\" belongs to walls.kiln.ron#walls"
        ),
        "{}",
        text(&output)
    );
    assert_eq!(
        project.files("out/shared"),
        before,
        "the existing entry's files are kept"
    );
    assert!(
        project
            .manifest("out")
            .values()
            .all(|record| record["entry"] == "walls")
    );
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_in_the_output_folder_is_never_written_through() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    // The entry's folder becomes a link to a folder outside `--out`.
    std::fs::rename(project.path("out/dungeon"), project.path("elsewhere")).expect("move");
    std::os::unix::fs::symlink("../elsewhere", project.path("out/dungeon")).expect("link");
    let outside = project.files("elsewhere");
    project.write(
        "recipes/dungeon.kiln.ron",
        &DUNGEON.replace("seed: 40", "seed: 41"),
    );
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains(
            "out/dungeon is a symbolic link: Kiln reads and writes only inside the output folder"
        ),
        "{}",
        text(&output)
    );
    assert_eq!(
        project.files("elsewhere"),
        outside,
        "nothing outside changed"
    );
    // Nor deleted through: the entry's recipe is removed, its files are behind the link.
    std::fs::remove_file(project.path("recipes/dungeon.kiln.ron")).expect("remove");
    project.write("recipes/other.kiln.ron", DUNGEON);
    let output = project.bake("out", &["--prune"]);
    assert_eq!(project.files("elsewhere"), outside, "{}", text(&output));
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_looping_back_into_the_recipes_folder_is_searched_once() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    std::os::unix::fs::symlink(".", project.path("recipes/again")).expect("link");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let entries: std::collections::BTreeSet<String> = project
        .manifest("out")
        .values()
        .map(|record| record["recipe"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(entries, ["dungeon.kiln.ron".to_owned()].into());
}
