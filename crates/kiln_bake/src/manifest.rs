//! The bake manifest: how every output file was made, for CI to rebuild or verify.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::write_atomic;

/// File name of the bake manifest inside the output folder.
pub const BAKE_MANIFEST_FILE: &str = "kiln-bake.json";

/// Every output file of a folder, keyed by its `/`-separated path relative to the folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BakeManifest {
    /// Manifest format version.
    pub format: u32,
    /// The files, sorted by path.
    pub files: BTreeMap<String, FileRecord>,
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
    /// Execution provider that ran (`cpu`, `cuda`).
    pub execution_provider: String,
    /// ONNX Runtime version that ran.
    pub onnxruntime_version: String,
    /// Kiln version that baked.
    pub kiln_version: String,
}

impl BakeManifest {
    /// Current format version.
    pub const FORMAT: u32 = 1;

    /// Reads the manifest in `out_dir`; a missing or unreadable one is empty
    /// (the bake rewrites it whole).
    pub fn load_or_default(out_dir: &Path) -> Self {
        std::fs::read(out_dir.join(BAKE_MANIFEST_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Self {
                format: Self::FORMAT,
                files: BTreeMap::new(),
            })
    }

    /// Writes the manifest atomically into `out_dir`.
    pub fn save(&self, out_dir: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        json.push(b'\n');
        write_atomic(&out_dir.join(BAKE_MANIFEST_FILE), &json)
    }

    /// Drops records whose file no longer exists in `out_dir`.
    pub fn retain_existing(&mut self, out_dir: &Path) {
        self.files.retain(|path, _| out_dir.join(path).is_file());
    }
}
