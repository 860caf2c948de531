//! Kiln's one test harness: a temporary project folder (recipes, models, outputs) filled from
//! the repository's fixture models (`tests/fixtures/models`, made by
//! `tests/fixtures/make_fixtures.py`) or its shipped models (`models/`). Used by the CLI's
//! integration tests, the Bevy plugin's headless tests and the editor's tests.
//!
//! ```
//! let project = kiln_testkit::Project::new();
//! project.write("assets/level.kiln.ron", "(assets: {})");
//! project.copy_model(kiln_testkit::Models::Fixtures, "tiny_texture");
//! assert!(project.path("models/tiny_texture/model.ron").is_file());
//! ```
#![expect(
    clippy::unwrap_used,
    reason = "a harness: failing to set up is a failed test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A models folder of the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Models {
    /// `tests/fixtures/models`: tiny models made by a committed script.
    Fixtures,
    /// `models/`: the models Kiln ships.
    Shipped,
}

impl Models {
    /// The folder.
    pub fn dir(self) -> PathBuf {
        match self {
            Self::Fixtures => repo().join("tests/fixtures/models"),
            Self::Shipped => repo().join("models"),
        }
    }
}

/// A temporary project folder, removed when dropped.
#[derive(Debug)]
pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The project folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `relative` inside the project.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `text` to `relative`, creating its folders.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Copies model folder `name` of `from` into the project's `models/<name>` (every file
    /// of the folder), to be used or changed by a test.
    pub fn copy_model(&self, from: Models, name: &str) -> PathBuf {
        copy_folder(&from.dir().join(name), &self.path("models").join(name))
    }

    /// Copies any folder of the repository (e.g. `tests/fixtures/broken/nan_sprite`) into
    /// the project's `models/`, under its own name.
    pub fn copy_model_folder(&self, repo_relative: &str) -> PathBuf {
        let from = repo().join(repo_relative);
        let name = from.file_name().unwrap().to_owned();
        copy_folder(&from, &self.path("models").join(name))
    }

    /// Every file below `relative`, by `/`-separated path relative to it, with its bytes.
    pub fn files(&self, relative: &str) -> BTreeMap<String, Vec<u8>> {
        files_below(&self.path(relative))
    }
}

/// Every file below `dir`, by `/`-separated path relative to it, with its bytes.
pub fn files_below(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    collect(dir, dir, &mut files);
    files
}

fn copy_folder(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to.to_path_buf()
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            files.insert(relative.replace('\\', "/"), std::fs::read(&path).unwrap());
        }
    }
}
