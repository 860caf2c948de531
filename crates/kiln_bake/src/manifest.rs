//! The bake manifest, which is also the bake's lockfile: how every output file was made, and
//! the key each entry was baked with, so an unchanged entry is never generated twice.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_engine::Credits;
use kiln_recipe::OutputPath;
use serde::{Deserialize, Serialize};

use crate::write_atomic;

/// File name of the bake manifest inside the output folder.
pub const BAKE_MANIFEST_FILE: &str = "kiln-bake.json";

/// Every baked entry and output file of a folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BakeManifest {
    /// Manifest format version.
    pub format: u32,
    /// Baked entries by id (`<recipe>#<entry>`): the key they were baked with and their files.
    #[serde(default)]
    pub entries: BTreeMap<String, EntryRecord>,
    /// The files, keyed by their `/`-separated path relative to the folder.
    pub files: BTreeMap<String, FileRecord>,
}

/// The manifest as saved: with the credits its files owe (see [`BakeManifest::file_credits`]),
/// for tools that read `kiln-bake.json` rather than [`CREDITS_FILE`].
#[derive(Serialize)]
struct Saved<'a> {
    #[serde(flatten)]
    manifest: &'a BakeManifest,
    credits: &'a Credits,
}

/// File name of the credits a bake writes into the output folder (see [`Credits`]).
pub const CREDITS_FILE: &str = "CREDITS.md";

/// What one entry was baked from, and the files it produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// Recipe path relative to the recipes folder.
    pub recipe: String,
    /// sha256 over everything that decides the entry's bytes (see [`crate::Job::key`]).
    pub key: String,
    /// Its files, relative to the folder.
    pub files: Vec<String>,
}

/// How one output file was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// sha256 of the file's bytes.
    pub sha256: String,
    /// Recipe path relative to the recipes folder.
    pub recipe: String,
    /// Entry name in the recipe.
    pub entry: String,
    /// Variant index; absent for files that combine every variant (sprite sheets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<u32>,
    /// Seed of this variant (the entry's seed for combined files).
    pub seed: u64,
    /// The entry's kind and parameters, as in the recipe.
    pub parameters: serde_json::Value,
    /// Measurements of the output (`seam_score` for textures, `colours` for sprites).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Model name.
    pub model: String,
    /// sha256 of the model's ONNX file.
    pub model_sha256: String,
    /// Licence of the model (SPDX).
    pub model_licence: String,
    /// Credit the model's manifest asks for when its output is shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_attribution: Option<String>,
    /// Execution provider that ran (`cpu`, `cuda`).
    pub execution_provider: String,
    /// ONNX Runtime version that ran.
    pub onnxruntime_version: String,
    /// Kiln version that baked.
    pub kiln_version: String,
}

impl FileRecord {
    /// The id (`<recipe>#<entry>`) of the entry that made the file.
    pub fn entry_id(&self) -> String {
        format!("{}#{}", self.recipe, self.entry)
    }
}

impl BakeManifest {
    /// Current format version.
    pub const FORMAT: u32 = 2;

    /// An empty manifest of the current format.
    pub fn new() -> Self {
        Self {
            format: Self::FORMAT,
            ..Self::default()
        }
    }

    /// Reads the manifest in `out_dir` (missing: empty). A manifest naming any path outside
    /// the folder (absolute, `..`: tampered, or restored from somewhere else) is refused, so
    /// nothing outside the folder is ever read, overwritten or deleted on its word.
    pub fn load(out_dir: &Path) -> Result<Self, ManifestError> {
        let path = out_dir.join(BAKE_MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let manifest: Self =
                    serde_json::from_slice(&bytes).map_err(|err| ManifestError {
                        path: path.clone(),
                        message: err.to_string(),
                    })?;
                let listed = manifest.entries.values().flat_map(|entry| &entry.files);
                check_inside(&path, manifest.files.keys().chain(listed))?;
                Ok(manifest)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(err) => Err(ManifestError {
                path,
                message: err.to_string(),
            }),
        }
    }

    /// Drops an entry and the records of its files (not those another entry has recorded
    /// at the same path since).
    pub fn forget(&mut self, id: &str) -> Option<EntryRecord> {
        let entry = self.entries.remove(id)?;
        for file in &entry.files {
            if self
                .files
                .get(file)
                .is_some_and(|record| record.entry_id() == id)
            {
                self.files.remove(file);
            }
        }
        Some(entry)
    }

    /// Records a baked entry (replacing what it had before).
    pub fn record(
        &mut self,
        id: &str,
        recipe: &str,
        key: &str,
        files: &BTreeMap<String, FileRecord>,
    ) {
        self.forget(id);
        self.entries.insert(
            id.to_owned(),
            EntryRecord {
                recipe: recipe.to_owned(),
                key: key.to_owned(),
                files: files.keys().cloned().collect(),
            },
        );
        self.files.extend(
            files
                .iter()
                .map(|(path, record)| (path.clone(), record.clone())),
        );
    }

    /// Whether entry `id` was baked with `key` and its files are on disk, byte for byte as
    /// recorded.
    pub fn is_fresh(&self, id: &str, key: &str, out_dir: &Path) -> bool {
        self.entries.get(id).is_some_and(|entry| {
            entry.key == key
                && entry.files.iter().all(|file| {
                    self.files.get(file).is_some_and(|record| {
                        std::fs::read(out_dir.join(file))
                            .is_ok_and(|bytes| kiln_onnx::sha256_hex(&bytes) == record.sha256)
                    })
                })
        })
    }

    /// The credits the folder's files owe: each model's licence and required attribution,
    /// with the output folders it made.
    pub fn file_credits(&self) -> Credits {
        let mut credits = Credits::default();
        for (path, record) in &self.files {
            let folder = path
                .rsplit_once('/')
                .map_or(path.as_str(), |(folder, _)| folder);
            credits.add(
                &record.model,
                &record.model_licence,
                record.model_attribution.as_deref(),
                folder,
            );
        }
        credits
    }

    /// Writes the manifest atomically into `out_dir` in the current format, with the credits
    /// its files owe, which go to [`CREDITS_FILE`] too.
    pub fn save(&self, out_dir: &Path) -> std::io::Result<()> {
        let manifest = Self {
            format: Self::FORMAT,
            ..self.clone()
        };
        let credits = self.file_credits();
        write_atomic(
            &out_dir.join(CREDITS_FILE),
            credits.to_markdown().as_bytes(),
        )?;
        let saved = Saved {
            manifest: &manifest,
            credits: &credits,
        };
        let mut json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
        json.push(b'\n');
        write_atomic(&out_dir.join(BAKE_MANIFEST_FILE), &json)
    }
}

/// Refuses `paths` (as listed by the manifest or journal at `listed_in`) unless every one is
/// a relative path inside the folder.
pub(crate) fn check_inside<'a>(
    listed_in: &Path,
    paths: impl IntoIterator<Item = &'a String>,
) -> Result<(), ManifestError> {
    match paths
        .into_iter()
        .find(|path| OutputPath::new(path).is_err())
    {
        Some(outside) => Err(ManifestError {
            path: listed_in.to_path_buf(),
            message: format!(
                "it lists {outside:?}, which is not a path inside the output folder (tampered with, \
                 or restored from another place?)"
            ),
        }),
        None => Ok(()),
    }
}

/// A bake manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot read the bake manifest: {message}")]
pub struct ManifestError {
    /// The manifest file.
    pub path: std::path::PathBuf,
    /// Why.
    pub message: String,
}
