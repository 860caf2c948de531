//! The models folder: `models/<name>/model.ron` + the ONNX file it names.

use std::path::{Path, PathBuf};

use kiln_recipe::{LoadError, MANIFEST_FILE_NAME, ModelManifest};

/// A folder of model folders.
#[derive(Clone, Debug)]
pub struct ModelRegistry {
    dir: PathBuf,
}

/// One model folder and its manifest (or why the manifest cannot be read).
#[derive(Debug)]
pub struct ModelEntry {
    /// Folder name, which recipes use as the model name.
    pub name: String,
    /// Path of `model.ron`.
    pub manifest_path: PathBuf,
    /// The parsed manifest.
    pub manifest: Result<ModelManifest, LoadError>,
}

impl ModelRegistry {
    /// Models under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The models folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the manifest of model `name`.
    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join(MANIFEST_FILE_NAME)
    }

    /// Loads model `name`'s manifest, checking that its `name` matches the folder.
    pub fn load(&self, name: &str) -> Result<(ModelManifest, PathBuf), LoadError> {
        let path = self.manifest_path(name);
        if !path.is_file() {
            let available: Vec<String> = self.list().into_iter().map(|m| m.name).collect();
            return Err(LoadError::Invalid {
                path,
                message: format!(
                    "no model {name:?} in {} (available: {})",
                    self.dir.display(),
                    if available.is_empty() {
                        "none".to_owned()
                    } else {
                        available.join(", ")
                    }
                ),
            });
        }
        let manifest = ModelManifest::load(&path)?;
        if manifest.name != name {
            return Err(LoadError::Invalid {
                path,
                message: format!(
                    "manifest name {:?} differs from its folder {name:?}: rename one to match",
                    manifest.name
                ),
            });
        }
        Ok((manifest, path))
    }

    /// Every model folder (a sub-folder with a `model.ron`), sorted by name.
    pub fn list(&self) -> Vec<ModelEntry> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(MANIFEST_FILE_NAME).is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let manifest_path = self.manifest_path(&name);
                let manifest = self.load(&name).map(|(m, _)| m);
                ModelEntry {
                    name,
                    manifest_path,
                    manifest,
                }
            })
            .collect()
    }
}
