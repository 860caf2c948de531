//! Writing an entry's files and recording them, in the order that keeps the folder's
//! manifest true if the bake is killed at any moment (see [`crate::journal`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use kiln_engine::Made;
use kiln_onnx::sha256_hex;

use crate::encode::EntryFile;
use crate::folder::{OutputOwners, path_inside, remove_files};
use crate::scheduler::locked;
use crate::{BAKE_JOURNAL_FILE, EntryError, FileRecord, Job, JournaledManifest, KILN_VERSION};

/// One entry's encoded files, and what made them.
pub(crate) struct EntryOutput<'a> {
    pub job: &'a Job,
    pub made: &'a Made,
    pub files: Vec<EntryFile>,
    /// The entry's key (see [`Job::key`]).
    pub key: String,
    /// ONNX Runtime version that ran.
    pub onnxruntime_version: &'a str,
    /// Who owns each output folder of the bake.
    pub owners: &'a OutputOwners,
}

/// Forgets the entry's old record, writes each file atomically, removes old files the entry
/// no longer has (and no other entry has taken) and records the new files. Returns the paths written, relative to `out_dir`.
pub(crate) fn write_and_record(
    out_dir: &Path,
    output: EntryOutput<'_>,
    manifest: &Mutex<JournaledManifest>,
) -> Result<Vec<String>, EntryError> {
    let EntryOutput {
        job,
        made,
        files,
        key,
        onnxruntime_version,
        owners,
    } = output;
    let id = job.id();
    let journal_error = |err: std::io::Error| EntryError::Write {
        path: out_dir.join(BAKE_JOURNAL_FILE),
        message: err.to_string(),
    };
    let previous = locked(manifest).forget(&id).map_err(journal_error)?;
    let parameters = serde_json::to_value(&job.entry.kind).unwrap_or(serde_json::Value::Null);
    let provider = made.execution_provider.to_string();
    let mut records = BTreeMap::new();
    for file in files {
        let relative = format!("{}/{}", job.output, file.file);
        let path = path_inside(out_dir, &relative).map_err(|err| EntryError::Write {
            path: out_dir.join(&relative),
            message: err.to_string(),
        })?;
        write_atomic_or_fail(&path, &file.bytes)?;
        let seed = file
            .variant
            .and_then(|variant| made.seeds.get(variant as usize).copied())
            .unwrap_or(job.entry.seed);
        records.insert(
            relative,
            FileRecord {
                sha256: sha256_hex(&file.bytes),
                recipe: job.recipe_label.clone(),
                entry: job.entry_name.clone(),
                variant: file.variant,
                seed,
                parameters: parameters.clone(),
                metrics: file.metrics,
                model: made.model.clone(),
                model_sha256: made.model_sha256.clone(),
                model_licence: made.licence.clone(),
                model_attribution: made.attribution.clone(),
                execution_provider: provider.clone(),
                onnxruntime_version: onnxruntime_version.to_owned(),
                kiln_version: KILN_VERSION.to_owned(),
            },
        );
    }
    if let Some(previous) = previous {
        // Old files at paths this entry no longer writes, unless another entry has them now.
        remove_files(out_dir, &previous.files, |path| {
            records.contains_key(path)
                || owners.owned_by_other(path, &id)
                || locked(manifest)
                    .manifest()
                    .files
                    .get(path)
                    .is_some_and(|record| record.entry_id() != id)
        });
    }
    let written: Vec<String> = records.keys().cloned().collect();
    locked(manifest)
        .record(&id, &job.recipe_label, &key, records)
        .map_err(journal_error)?;
    Ok(written)
}

fn write_atomic_or_fail(path: &Path, bytes: &[u8]) -> Result<(), EntryError> {
    crate::write_atomic(path, bytes).map_err(|err| EntryError::Write {
        path: path.to_path_buf(),
        message: err.to_string(),
    })
}
