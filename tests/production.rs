//! Production bakes, run as processes: incremental re-bakes, pruning, `verify`, `--shard` +
//! `merge`, `--watch`, and bakes killed part-way.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use common::{DUNGEON, Project, REPO, kiln_command, sha256, stderr, stdout, text};
use kiln_bake::{BakeManifest, JournaledManifest};

/// Modification times of every file below `out` (a re-write changes them, a skip does not).
fn mtimes(project: &Project, out: &str) -> BTreeMap<String, SystemTime> {
    project
        .files(out)
        .keys()
        .map(|file| {
            let modified = std::fs::metadata(project.path(out).join(file))
                .and_then(|meta| meta.modified())
                .expect("mtime");
            (file.clone(), modified)
        })
        .collect()
}

#[test]
fn a_rebake_with_nothing_changed_generates_nothing() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let before = mtimes(&project, "out");
    let files = project.files("out");

    let again = project.bake("out", &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        stdout(&again).contains("baked 0 files from 0 of 2 entries, 2 up to date"),
        "{}",
        text(&again)
    );
    let after = mtimes(&project, "out");
    for (file, time) in &before {
        if file.ends_with(".png") || file.ends_with(".ron") {
            assert_eq!(after[file], *time, "{file} was rewritten");
        }
    }
    assert_eq!(project.files("out"), files);
}

#[test]
fn a_changed_model_rebakes_exactly_the_entries_that_use_it() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let before_files = project.files("out");
    let before_times = mtimes(&project, "out");

    // Retrain the texture model: same contract, new weights, manifest updated.
    let retrained =
        std::fs::read(Path::new(REPO).join("tests/fixtures/tiny_texture_retrained.onnx"))
            .expect("retrained fixture");
    let manifest_path = project.path("models/tiny_texture/model.ron");
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    let old_sha = common::fixture_sha("tiny_texture");
    std::fs::write(
        &manifest_path,
        manifest.replace(&old_sha, &sha256(&retrained)),
    )
    .expect("manifest");
    std::fs::write(project.path("models/tiny_texture/model.onnx"), &retrained).expect("model");

    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("baked 3 files from 1 of 2 entries, 1 up to date"),
        "{}",
        text(&output)
    );
    let after = project.files("out");
    for file in before_files
        .keys()
        .filter(|f| f.starts_with("dungeon/floor/"))
    {
        assert_ne!(after[file], before_files[file], "{file} re-baked");
    }
    for file in before_files.keys().filter(|f| f.starts_with("chars/hero/")) {
        assert_eq!(
            mtimes(&project, "out")[file],
            before_times[file],
            "{file} untouched"
        );
    }
    assert_eq!(
        project.manifest("out")["dungeon/floor/0.png"]["model_sha256"],
        sha256(&retrained)
    );
}

#[test]
fn removed_entries_are_pruned_but_an_invalid_recipe_keeps_its_outputs() {
    let second = r#"(assets: { "moss": (model: "tiny_texture", seed: 3, kind: Texture(size: (16, 16), class: "moss")) })"#;
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON), ("extra.kiln.ron", second)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    assert!(project.path("out/extra/moss/0.png").is_file());

    // A typo in one recipe: reported, and its outputs stay.
    std::fs::write(project.path("recipes/extra.kiln.ron"), "(assets: {").expect("break");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(project.path("out/extra/moss/0.png").is_file());

    // An entry removed from a valid recipe: its files and records go, with empty folders.
    let without_floor = DUNGEON
        .lines()
        .filter(|line| !line.contains("\"floor\""))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(project.path("recipes/dungeon.kiln.ron"), without_floor).expect("edit");
    let output = project.bake("out", &[]);
    assert!(stdout(&output).contains("1 removed"), "{}", text(&output));
    assert!(!project.path("out/dungeon").exists());
    assert!(project.path("out/chars/hero/0.png").is_file());
    assert!(
        project
            .manifest("out")
            .keys()
            .all(|file| !file.starts_with("dungeon/"))
    );
}

#[test]
fn verify_finds_no_drift_then_names_modified_drifted_and_stale_files() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    let verify = |project: &Project| project.kiln(&project.args("verify", "out", &[]));

    let output = verify(&project);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("verified 6 files of 2 entries"),
        "{}",
        text(&output)
    );
    assert!(stdout(&output).contains("no drift"), "{}", text(&output));

    // Someone edits an output by hand.
    let floor = project.path("out/dungeon/floor/1.png");
    let original = std::fs::read(&floor).expect("read");
    std::fs::write(&floor, b"not a png").expect("tamper");
    let output = verify(&project);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stdout(&output).contains("dungeon/floor/1.png: changed on disk since the bake"),
        "{}",
        text(&output)
    );

    // The recorded bytes themselves are not what these inputs make (a consistent file and
    // record, but generated differently): drift.
    let other = std::fs::read(project.path("out/dungeon/floor/2.png")).expect("read");
    std::fs::write(&floor, &other).expect("swap");
    let manifest_path = project.path("out/kiln-bake.json");
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    std::fs::write(
        &manifest_path,
        manifest.replace(&sha256(&original), &sha256(&other)),
    )
    .expect("manifest");
    let output = verify(&project);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stdout(&output).contains(
            "dungeon/floor/1.png: DRIFT: regenerated bytes differ (largest channel difference"
        ),
        "{}",
        text(&output)
    );

    // A recipe changed since the bake: not drift, but stale.
    std::fs::write(
        project.path("recipes/dungeon.kiln.ron"),
        DUNGEON.replace("seed: 9", "seed: 10"),
    )
    .expect("edit");
    let output = verify(&project);
    assert!(
        stdout(&output).contains(
            "dungeon.kiln.ron#hero: its recipe, model, provider or versions changed since the bake"
        ),
        "{}",
        text(&output)
    );
}

const MANY: &str = r#"(
    assets: {
        "a": (model: "tiny_texture", seed: 1, variants: 2, kind: Texture(size: (16, 16), class: "moss")),
        "b": (model: "tiny_texture", seed: 2, kind: Texture(size: (16, 16), class: "stone")),
        "c": (model: "tiny_sprite", seed: 3, kind: Sprite(palette: 4)),
        "d": (model: "tiny_sprite", seed: 4, variants: 3, kind: Sprite()),
        "e": (model: "tiny_texture", seed: 5, kind: Texture(size: (32, 16), normal_map: true)),
        "f": (model: "tiny_sprite", seed: 6, kind: Sprite(scale: 2)),
        "g": (model: "tiny_texture", seed: 7, kind: Texture(size: (8, 8))),
        "h": (model: "tiny_sprite", seed: 8, variants: 2, kind: Sprite(outline: (0, 0, 0))),
    },
)
"#;

#[test]
fn shards_bake_disjoint_parts_that_merge_into_the_full_bake() {
    let project = Project::new(&[("many.kiln.ron", MANY), ("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("full", &[]).status.code(), Some(0));
    let mut shard_dirs = Vec::new();
    let mut entries: Vec<String> = Vec::new();
    for index in 1..=3 {
        let dir = format!("shard{index}");
        let shard = format!("{index}/3");
        let output = project.bake(&dir, &["--shard", &shard]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        entries.extend(
            BakeManifest::load(&project.path(&dir))
                .expect("shard manifest")
                .entries
                .into_keys(),
        );
        shard_dirs.push(project.path(&dir).display().to_string());
    }
    let full = BakeManifest::load(&project.path("full")).expect("full manifest");
    let mut sorted = entries.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), entries.len(), "no entry is in two shards");
    assert_eq!(sorted, full.entries.keys().cloned().collect::<Vec<_>>());

    let mut args = vec!["merge".to_owned()];
    args.extend(shard_dirs);
    args.extend(["--out".to_owned(), "merged".to_owned()]);
    let output = project.kiln(&args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("merged 10 entries from 3 shards"),
        "{}",
        text(&output)
    );
    assert_eq!(project.files("merged"), project.files("full"));

    let output = project.kiln(&["bake", "recipes", "--out", "x", "--shard", "4/3"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("write I/N with 1 <= I <= N"),
        "{}",
        text(&output)
    );
}

#[test]
fn merging_shards_that_disagree_is_refused_without_writing() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    assert_eq!(project.bake("one", &[]).status.code(), Some(0));
    std::fs::write(
        project.path("recipes/dungeon.kiln.ron"),
        DUNGEON.replace("seed: 40", "seed: 41"),
    )
    .expect("edit");
    assert_eq!(project.bake("two", &[]).status.code(), Some(0));
    let output = project.kiln(&["merge", "one", "two", "--out", "merged"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("both have entry dungeon.kiln.ron#floor, made differently"),
        "{}",
        text(&output)
    );
    assert!(!project.path("merged").exists());
}

/// Kills `kiln bake` (re-baking changed entries over an earlier bake) at moments spread over
/// a whole bake, checking after each kill that every
/// output is complete or absent and the manifest (with its journal) describes the files on
/// disk exactly; the interrupted bakes then finish into the same bytes as an uninterrupted one.
#[test]
fn a_bake_killed_at_any_moment_leaves_complete_files_and_a_consistent_lockfile() {
    let mut recipe = String::from("(assets: {\n");
    for entry in 0..80 {
        recipe += &format!(
            "\"t{entry}\": (model: \"tiny_texture\", seed: {entry}, variants: 3, kind: Texture(size: (96, 96), normal_map: true)),\n\"s{entry}\": (model: \"tiny_sprite\", seed: {entry}, variants: 8, kind: Sprite(scale: 4)),\n"
        );
    }
    recipe += "})\n";
    let project = Project::new(&[("big.kiln.ron", &recipe)]);
    // `out` holds an earlier bake, so killed bakes overwrite recorded files too.
    assert_eq!(project.bake("out", &[]).status.code(), Some(0));
    std::fs::write(
        project.path("recipes/big.kiln.ron"),
        recipe.replace("seed: ", "seed: 1000"),
    )
    .expect("edit");
    let started = Instant::now();
    assert_eq!(project.bake("clean", &[]).status.code(), Some(0));
    let full_time = started.elapsed();

    let mut kills = 0;
    for step in 1..=8u32 {
        let mut child = kiln_command(project.root())
            .args(project.args("bake", "out", &["--jobs", "2"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(full_time * (10 + step) / 100);
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            kills += 1;
        }
        child.wait().expect("reap");
        assert_consistent(&project.path("out"));
    }
    assert!(kills >= 3, "only {kills} bakes were cut short");

    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(project.files("out"), project.files("clean"));
}

fn assert_consistent(out: &Path) {
    if !out.join("kiln-bake.json").exists() && !out.join("kiln-bake.journal").exists() {
        return; // killed before the first entry finished
    }
    // What the next bake will believe: the manifest with the journal replayed.
    let lockfile = JournaledManifest::open(out).expect("the manifest and journal are readable");
    let manifest = lockfile.manifest();
    for (id, entry) in &manifest.entries {
        for file in &entry.files {
            let bytes = std::fs::read(out.join(file))
                .unwrap_or_else(|err| panic!("{id} records {file}, which is missing: {err}"));
            assert_eq!(
                sha256(&bytes),
                manifest.files[file].sha256,
                "{file} differs from its record"
            );
        }
    }
    for (file, bytes) in common::files_below(out) {
        if file.ends_with(".png") && !file.contains(".kiln-partial-") {
            image::load_from_memory(&bytes)
                .unwrap_or_else(|err| panic!("{file} is not a complete PNG: {err}"));
        }
    }
}

/// Lines a child process prints, read on a thread.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for a line containing `needle`, returning every line seen up to it.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {needle:?}; saw {seen:#?}");
}

/// `kiln bake --watch` over the project, once it watches: the process, its stdout and
/// stderr lines.
fn watch(project: &Project) -> (Child, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut child = kiln_command(project.root())
        .args(project.args("bake", "out", &["--watch"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    wait_for(&out, "watching");
    (child, out, err)
}

#[test]
fn watch_survives_its_recipes_folder_being_deleted_and_made_again() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    let (mut child, out, err) = watch(&project);
    let floor = project.path("out/dungeon/floor/0.png");
    let first = std::fs::read(&floor).expect("first bake");
    std::fs::remove_dir_all(project.path("recipes")).expect("rm recipes");
    std::thread::sleep(Duration::from_millis(500));
    project.write(
        "recipes/dungeon.kiln.ron",
        &DUNGEON.replace("seed: 40", "seed: 70"),
    );
    wait_for(&out, "baked 3 files from 1 of 2 entries, 1 up to date");
    assert_ne!(std::fs::read(&floor).expect("re-baked"), first);
    assert!(
        project.path("out/chars/hero/0.png").is_file(),
        "nothing was pruned"
    );
    child.kill().expect("kill");
    child.wait().expect("reap");
    let warnings: Vec<String> = err.try_iter().collect();
    assert!(
        warnings.iter().all(|line| !line.contains("WARN")),
        "a deleted folder is expected, not warned about: {warnings:#?}"
    );
}

#[test]
fn watch_rebakes_changes_keeps_the_last_good_outputs_on_errors_and_recovers() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    let (mut child, out, err) = watch(&project);
    // Nothing changed, so nothing re-bakes (the bake's own reads and writes are not changes).
    std::thread::sleep(Duration::from_millis(800));
    let spurious: Vec<String> = out.try_iter().collect();
    assert!(
        spurious.is_empty(),
        "re-baked without a change: {spurious:#?}"
    );
    let floor = project.path("out/dungeon/floor/0.png");
    let first = std::fs::read(&floor).expect("first bake");

    let recipe = project.path("recipes/dungeon.kiln.ron");
    std::fs::write(&recipe, DUNGEON.replace("seed: 40", "seed: 50")).expect("edit");
    let seen = wait_for(&out, "re-baked");
    assert!(
        seen.iter()
            .any(|l| l.contains("baked 3 files from 1 of 2 entries, 1 up to date")),
        "{seen:#?}"
    );
    let second = std::fs::read(&floor).expect("second bake");
    assert_ne!(second, first);

    std::fs::write(&recipe, "(assets: { \"floor\": (model: ").expect("break");
    wait_for(&out, "re-baked");
    wait_for(&err, "dungeon.kiln.ron:1:");
    assert_eq!(
        std::fs::read(&floor).expect("kept"),
        second,
        "last good output kept"
    );

    // Replacing a model re-bakes only what uses it; a broken model keeps the outputs too.
    std::fs::write(project.path("models/tiny_sprite/model.onnx"), b"garbage").expect("corrupt");
    std::fs::write(&recipe, DUNGEON.replace("seed: 40", "seed: 60")).expect("fix");
    wait_for(&out, "baked 3 files from 1 of 2 entries, 0 up to date");
    wait_for(&err, "dungeon.kiln.ron#hero");
    assert_ne!(std::fs::read(&floor).expect("third"), second, "recovered");
    assert!(project.path("out/chars/hero/0.png").is_file());

    child.kill().expect("kill");
    child.wait().expect("reap");
}

#[test]
fn a_corrupt_onnx_file_fails_its_entries_and_the_rest_bakes() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    // Truncated on disk, with a manifest that agrees (so the hash check passes and ONNX
    // Runtime itself has to reject it).
    let path = project.path("models/tiny_sprite/model.onnx");
    let bytes = std::fs::read(&path).expect("model");
    let truncated = &bytes[..bytes.len() / 2];
    std::fs::write(&path, truncated).expect("truncate");
    let manifest = project.path("models/tiny_sprite/model.ron");
    let ron = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        ron.replace(&common::fixture_sha("tiny_sprite"), &sha256(truncated)),
    )
    .expect("manifest");

    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dungeon.kiln.ron#hero:")
            && stderr.contains("tiny_sprite/model.onnx: ONNX Runtime cannot load this model"),
        "{stderr}"
    );
    assert!(project.path("out/dungeon/floor/2.png").is_file());
    assert!(!project.path("out/chars").exists());
}

#[test]
fn the_largest_textures_start_first_and_the_report_keeps_plan_order() {
    let recipe = r#"(
    assets: {
        "a_sprite": (model: "tiny_sprite", seed: 1, kind: Sprite()),
        "b_small": (model: "tiny_texture", seed: 2, kind: Texture(size: (32, 32), class: "moss")),
        "c_large": (model: "tiny_texture", seed: 3, variants: 4, kind: Texture(size: (128, 128), class: "moss")),
        "d_drawn_small": (model: "tiny_texture", seed: 4, kind: Texture(size: (64, 64), class: "moss", scale: 4)),
    },
)"#;
    let project = Project::new(&[("set.kiln.ron", recipe)]);
    let plan = kiln_bake::BakePlan::from_dir(&project.path("recipes")).expect("plan");
    let engine = kiln_engine::Engine::new(kiln_engine::SessionOptions {
        policy: kiln_onnx::ProviderPolicy::Cpu,
        intra_threads: Some(1),
        sessions_per_model: 1,
    })
    .expect("ONNX Runtime");
    let baker = kiln_bake::Baker {
        engine: &engine,
        models: &kiln_engine::ModelRegistry::new(kiln_testkit::Models::Fixtures.dir()),
        out_dir: &project.path("out"),
        jobs: 1,
        licences: None,
    };
    let finished = std::sync::Mutex::new(Vec::new());
    let report = baker
        .bake(
            &plan.jobs,
            kiln_bake::Prune::Nothing,
            &|event| match event {
                kiln_bake::BakeEvent::EntryDone { job, .. } => {
                    finished.lock().expect("lock").push(job.entry_name.clone())
                }
            },
        )
        .expect("bake");
    // One job makes them in the order it starts them: most texture pixels drawn first (a
    // scale-4 texture draws 1/16 of its pixels), the rest in plan order.
    assert_eq!(
        finished.into_inner().expect("lock"),
        ["c_large", "b_small", "d_drawn_small", "a_sprite"]
    );
    let written: Vec<&str> = report.written.iter().map(String::as_str).collect();
    let first_of = |entry: &str| written.iter().position(|f| f.contains(entry));
    assert!(
        first_of("a_sprite") < first_of("b_small") && first_of("b_small") < first_of("c_large")
    );
}

/// Writes `rows` (one row of colours per class) as `tiny_texture`'s palettes PNG.
fn write_palettes(project: &Project, rows: &[&[[u8; 3]]]) {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(1) as u32;
    let mut image = image::RgbaImage::new(width, rows.len() as u32);
    for (y, row) in rows.iter().enumerate() {
        for (x, &[r, g, b]) in row.iter().enumerate() {
            image.put_pixel(x as u32, y as u32, image::Rgba([r, g, b, 255]));
        }
    }
    image
        .save(project.path("models/tiny_texture/palettes.png"))
        .expect("palettes");
}

/// The colours of every pixel of the floor's baked variants.
fn floor_colours(project: &Project, out: &str) -> std::collections::BTreeSet<[u8; 3]> {
    (0..3)
        .flat_map(|variant| {
            let path = project.path(&format!("{out}/dungeon/floor/{variant}.png"));
            let image = image::open(&path).expect("floor variant").to_rgb8();
            image.pixels().map(|pixel| pixel.0).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn art_palettes_colour_every_texture_and_a_changed_or_broken_palettes_file_rebakes_or_fails() {
    let project = Project::new(&[("dungeon.kiln.ron", DUNGEON)]);
    project.copy_models();
    let manifest_path = project.path("models/tiny_texture/model.ron");
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    std::fs::write(
        &manifest_path,
        manifest.replace(
            "stride: 4,",
            "stride: 4,\n        palettes: \"palettes.png\",",
        ),
    )
    .expect("manifest");
    let stone: &[[u8; 3]] = &[[90, 90, 90], [120, 120, 120]];
    let moss = [[20, 60, 20], [40, 100, 30], [90, 150, 60], [160, 200, 120]];
    write_palettes(&project, &[stone, &moss]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    // The floor is `moss`: its colours are moss's, more than one of them.
    let colours = floor_colours(&project, "out");
    assert!(
        colours.iter().all(|colour| moss.contains(colour)) && colours.len() > 1,
        "{colours:?}"
    );
    let hero_times = mtimes(&project, "out");
    let models = project.kiln(&["models", "--models", "models"]);
    assert!(
        stdout(&models).contains("any size in steps of 4px, drawn in its art palettes (palettes.png); classes: stone, moss"),
        "{}",
        text(&models)
    );

    // New colours for moss: the palettes are part of the model, so the floor re-bakes in
    // them and the sprite stays untouched.
    let autumn = [[120, 60, 20], [200, 120, 40], [240, 200, 90]];
    write_palettes(&project, &[stone, &autumn]);
    let output = project.bake("out", &[]);
    assert!(
        stdout(&output).contains("baked 3 files from 1 of 2 entries, 1 up to date"),
        "{}",
        text(&output)
    );
    assert!(
        floor_colours(&project, "out")
            .iter()
            .all(|colour| autumn.contains(colour))
    );
    let after = mtimes(&project, "out");
    for (file, time) in hero_times.iter().filter(|(f, _)| f.starts_with("chars/")) {
        assert_eq!(after[file], *time, "{file} untouched");
    }

    // A palettes file of the wrong shape fails the entries of that model, names the file and
    // the fix, and leaves what was baked in place.
    write_palettes(&project, &[&autumn]);
    let baked = project.files("out/dungeon");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dungeon.kiln.ron#floor:")
            && stderr.contains(
                "tiny_texture/palettes.png: art palettes has 1 row(s) where the model needs 2: write one row of colours per class"
            ),
        "{stderr}"
    );
    assert_eq!(project.files("out/dungeon"), baked);
}

#[test]
fn a_block_model_draws_each_sprite_one_token_per_block_in_raster_order() {
    // tiny_blocks draws a fixed cycle of its three 2×2 blocks (make_fixtures.py): from the
    // first after `<warm>`, from the third after `<cool>`; 6×4 pixels are 3×2 blocks.
    let project = Project::new(&[(
        "blocks.kiln.ron",
        r#"(
    assets: {
        "warm": (model: "tiny_blocks", seed: 3, variants: 2, kind: Sprite(class: "warm", scale: 2, despeckle: false)),
        "cool": (model: "tiny_blocks", seed: 4, kind: Sprite(class: "cool", despeckle: false)),
    },
)"#,
    )]);
    let output = project.bake("out", &[]);
    assert!(output.status.success(), "{}", text(&output));
    let (red, green, blue, yellow) = (
        [255, 0, 0, 255],
        [0, 255, 0, 255],
        [0, 0, 255, 255],
        [255, 255, 0, 255],
    );
    // #20103080 is opaque by Kiln's hard alpha; #00000000 is transparent.
    let (dark, clear) = ([0x20, 0x10, 0x30, 255], [0, 0, 0, 0]);
    let blocks: [[[u8; 4]; 4]; 3] = [
        [red, green, blue, yellow],
        [yellow, dark, clear, red],
        [clear, blue, green, dark],
    ];
    for (entry, first, scale, files) in [("warm", 0, 2, 2), ("cool", 2, 1, 1)] {
        for variant in 0..files {
            let path = project
                .path("out")
                .join(format!("blocks/{entry}/{variant}.png"));
            let sprite = image::open(&path).expect("sprite").to_rgba8();
            assert_eq!(sprite.dimensions(), (6 * scale, 4 * scale), "{entry}");
            for (x, y, pixel) in sprite.enumerate_pixels() {
                let (x, y) = ((x / scale) as usize, (y / scale) as usize);
                let block = (first + y / 2 * 3 + x / 2) % 3;
                let place = y % 2 * 2 + x % 2;
                assert_eq!(pixel.0, blocks[block][place], "{entry} ({x}, {y})");
            }
        }
    }
}

#[test]
fn a_block_model_whose_tokens_name_another_block_size_is_refused_with_the_fix() {
    let project = Project::new(&[(
        "blocks.kiln.ron",
        r#"(assets: { "warm": (model: "tiny_blocks", seed: 1, kind: Sprite(class: "warm")) })"#,
    )]);
    let folder = project.copy_model(kiln_testkit::Models::Fixtures, "tiny_blocks");
    let manifest = folder.join("model.ron");
    let ron = std::fs::read_to_string(&manifest).expect("manifest");
    let wrong = ron.replace(
        "(width: 6, height: 4, block: (width: 2, height: 2))",
        "(width: 6, height: 4, block: (width: 2, height: 1))",
    );
    assert_ne!(ron, wrong, "the fixture's grid");
    std::fs::write(&manifest, wrong).expect("write manifest");
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        stderr(&output).contains("tiny_blocks/tokenizer.json: model \"tiny_blocks\" draws 2×1 blocks of pixels, but its token \"#ff0000,#00ff00,#0000ff,#ffff00\" names 4 colour(s)"),
        "{}",
        text(&output)
    );
    assert!(!project.path("out/blocks/warm").exists(), "nothing baked");
}

#[test]
fn a_pixel_model_draws_each_sprite_one_colour_token_per_pixel_in_raster_order() {
    // tiny_pixels draws a fixed cycle of its six colours (make_fixtures.py): from the first
    // after `<warm>`, from the fourth after `<cool>`. The fifth, #20103080, is opaque by
    // Kiln's hard alpha (alpha 128); the sixth is transparent.
    let project = Project::new(&[(
        "pixels.kiln.ron",
        r#"(
    assets: {
        "warm": (model: "tiny_pixels", seed: 3, variants: 2, kind: Sprite(class: "warm", scale: 2, despeckle: false)),
        "cool": (model: "tiny_pixels", seed: 4, kind: Sprite(class: "cool", despeckle: false)),
        "lore": (model: "tiny_pixels", seed: 1, kind: Text(kind: "warm")),
    },
)"#,
    )]);
    let output = project.bake("out", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("model \"tiny_pixels\" cannot make a Text"),
        "{}",
        text(&output)
    );
    let colours: [[u8; 4]; 6] = [
        [255, 0, 0, 255],
        [0, 255, 0, 255],
        [0, 0, 255, 255],
        [255, 255, 0, 255],
        [0x20, 0x10, 0x30, 255],
        [0, 0, 0, 0],
    ];
    for (entry, first, scale, files) in [("warm", 0, 2, 2), ("cool", 3, 1, 1)] {
        for variant in 0..files {
            let path = project
                .path("out")
                .join(format!("pixels/{entry}/{variant}.png"));
            let sprite = image::open(&path).expect("sprite").to_rgba8();
            assert_eq!(sprite.dimensions(), (4 * scale, 3 * scale), "{entry}");
            for (x, y, pixel) in sprite.enumerate_pixels() {
                let index = (y / scale * 4 + x / scale) as usize;
                assert_eq!(pixel.0, colours[(first + index) % 6], "{entry} ({x}, {y})");
            }
        }
    }
    let manifest = project.manifest("out");
    assert!(
        manifest.contains_key("pixels/warm/sheet.png")
            && manifest.contains_key("pixels/cool/sheet.atlas.ron")
    );
    // The same again: nothing to make.
    let output = project.bake("out", &[]);
    assert!(
        stdout(&output).contains("2 up to date"),
        "{}",
        text(&output)
    );
}
