//! `kiln bake --watch`: re-bake when recipes or models change.
//!
//! Changes are debounced, then the whole plan is baked again: the lockfile makes that an
//! incremental bake, so only entries whose recipe entry or model changed are generated.
//! Errors are printed and the last good outputs stay; the next fix re-bakes.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::bake::Setup;
use crate::failure::{Failure, Kind, Outcome};

/// How long the folders must be quiet before a re-bake (editors write in several steps).
const DEBOUNCE: Duration = Duration::from_millis(150);

pub fn run(setup: &Setup<'_>) -> Outcome {
    let target = setup.target;
    let (sender, events) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(DEBOUNCE, None, sender).map_err(|err| {
        Failure::new(
            Kind::Unavailable,
            format!("cannot start watching for changes: {err}"),
        )
    })?;
    let watched = [&target.recipes, &target.models.models];
    for dir in watched {
        debouncer
            .watch(dir, RecursiveMode::Recursive)
            .map_err(|err| {
                Failure::new(
                    Kind::BadInput,
                    format!("{}: cannot watch: {err}", dir.display()),
                )
            })?;
        // The parent too, so a folder deleted and made again (git checkout, rsync) is seen.
        if let Some(parent) = canonical(dir).parent() {
            let _ = debouncer.watch(parent, RecursiveMode::NonRecursive);
        }
    }
    let watched_dirs: Vec<PathBuf> = watched.iter().map(|dir| canonical(dir)).collect();
    let out_dir = canonical(&target.out);
    let models_dir = canonical(&target.models.models);
    println!(
        "watching {} and {} for changes (Ctrl-C to stop; a bake cut short leaves complete files only)",
        target.recipes.display(),
        target.models.models.display()
    );
    for batch in events {
        let events = match batch {
            Ok(events) => events,
            Err(errors) => {
                for error in errors {
                    eprintln!("warning: watching: {error}");
                }
                continue;
            }
        };
        let paths: Vec<&PathBuf> = events
            .iter()
            // Reads (ours included: every bake opens the recipes) are not changes.
            .filter(|event| !event.kind.is_access() && !event.kind.is_other())
            .flat_map(|event| &event.paths)
            .collect();
        // A watched folder that was removed and made again lost its watch: watch it anew.
        // Files written into it before the watch was back were not seen, so re-bake anyway.
        let recreated: Vec<&PathBuf> = watched_dirs
            .iter()
            .filter(|dir| dir.is_dir() && paths.iter().any(|path| canonical(path) == **dir))
            .filter(|dir| debouncer.watch(dir, RecursiveMode::Recursive).is_ok())
            .collect();
        let changed: Vec<&PathBuf> = paths
            .into_iter()
            .filter(|path| is_input(path, &out_dir, &models_dir))
            .chain(recreated)
            .collect();
        let Some(first) = changed.first() else {
            continue;
        };
        let noticed = events
            .iter()
            .map(|event| event.time)
            .min()
            .unwrap_or_else(Instant::now);
        println!("changed: {}", first.display());
        // Sessions of models replaced since would otherwise live as long as the watch; the
        // others stay, so a re-bake does not make them again (tens of ms each).
        let current = setup.registry.onnx_hashes();
        setup
            .engine
            .sessions()
            .retain(|hash| current.contains(hash));
        // Failures were printed; the watch goes on, and the next fix re-bakes.
        if let Err(Failure {
            message: Some(message),
            ..
        }) = setup.bake()
        {
            eprintln!("error: {message}");
        }
        println!(
            "re-baked {:.0} ms after the change",
            noticed.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// Whether a changed path is a recipe or a model file (not one of the bake's own outputs).
fn is_input(path: &Path, out_dir: &Path, models_dir: &Path) -> bool {
    let path = canonical(path);
    if path.starts_with(out_dir) {
        return false;
    }
    path.starts_with(models_dir)
        || path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().ends_with(".kiln.ron"))
}

/// `path` made absolute and resolved where it exists (a deleted file keeps its parent's form).
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize()
        .unwrap_or_else(|_| match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                canonical(parent).join(name)
            }
            _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        })
}
