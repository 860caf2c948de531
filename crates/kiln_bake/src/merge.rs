//! `kiln merge`: join the output folders of sharded bakes (`--shard I/N`) into one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_onnx::sha256_hex;

use crate::folder::{lock_folder, path_inside, remove_partial_files};
use crate::{
    BAKE_JOURNAL_FILE, BakeError, BakeManifest, EntryRecord, FileRecord, JournaledManifest,
};

/// Why shard folders cannot be merged. Nothing is written to the target when this happens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// A shard folder's bake did not finish (its journal is still there) or its manifest is
    /// unreadable.
    #[error("{dir}: {message}")]
    Shard {
        /// The shard folder.
        dir: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Two shards disagree about one entry or one file.
    #[error(
        "{first} and {second} both have {what}, made differently: were they baked from the same recipes and models?"
    )]
    Conflict {
        /// One shard folder.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// The entry or file.
        what: String,
    },
    /// The target folder could not be locked or written.
    #[error(transparent)]
    Target(#[from] BakeError),
}

/// What a merge did.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// Entries merged.
    pub entries: usize,
    /// Files copied (files already identical in the target are not copied again).
    pub copied: usize,
}

/// One entry to merge: where it comes from, its record and its files' records.
struct Incoming {
    shard: PathBuf,
    record: EntryRecord,
    files: BTreeMap<String, FileRecord>,
}

/// Merges shard folders into `target`, checking every file against its shard's manifest
/// first, then copying (atomically) and recording entry by entry, as a bake does.
pub fn merge(shards: &[PathBuf], target: &Path) -> Result<MergeReport, MergeError> {
    let mut incoming: BTreeMap<String, Incoming> = BTreeMap::new();
    let mut file_owners: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for shard in shards {
        let shard_error = |message: String| MergeError::Shard {
            dir: shard.clone(),
            message,
        };
        if !shard.join(crate::BAKE_MANIFEST_FILE).is_file() {
            return Err(shard_error(format!(
                "has no {}: is it the output folder of a `kiln bake --shard`?",
                crate::BAKE_MANIFEST_FILE
            )));
        }
        if shard.join(BAKE_JOURNAL_FILE).exists() {
            return Err(shard_error(format!(
                "its bake did not finish ({BAKE_JOURNAL_FILE} is still there): bake it again"
            )));
        }
        let manifest = BakeManifest::load(shard).map_err(|err| shard_error(err.to_string()))?;
        for (id, record) in manifest.entries {
            if let Some(other) = incoming.get(&id) {
                if other.record.key != record.key {
                    return Err(MergeError::Conflict {
                        first: other.shard.clone(),
                        second: shard.clone(),
                        what: format!("entry {id}"),
                    });
                }
                continue; // the same entry baked identically twice
            }
            let mut files = BTreeMap::new();
            for path in &record.files {
                let file = manifest.files.get(path).ok_or_else(|| {
                    shard_error(format!(
                        "the manifest lists {path} for {id} without a record"
                    ))
                })?;
                let bytes = path_inside(shard, path)
                    .and_then(std::fs::read)
                    .map_err(|err| shard_error(format!("{path}: {err}")))?;
                if sha256_hex(&bytes) != file.sha256 {
                    return Err(shard_error(format!(
                        "{path} differs from its record: bake the shard again"
                    )));
                }
                if let Some((owner, sha)) = file_owners.get(path)
                    && *sha != file.sha256
                {
                    return Err(MergeError::Conflict {
                        first: owner.clone(),
                        second: shard.clone(),
                        what: format!("file {path}"),
                    });
                }
                file_owners.insert(path.clone(), (shard.clone(), file.sha256.clone()));
                files.insert(path.clone(), file.clone());
            }
            incoming.insert(
                id,
                Incoming {
                    shard: shard.clone(),
                    record,
                    files,
                },
            );
        }
    }

    let _lock = lock_folder(target)?;
    remove_partial_files(target);
    let mut journal = JournaledManifest::open(target).map_err(BakeError::from)?;
    let io_error = |path: PathBuf| move |source| MergeError::Target(BakeError::Io { path, source });
    let mut report = MergeReport::default();
    for (id, entry) in incoming {
        journal
            .forget(&id)
            .map_err(io_error(target.join(BAKE_JOURNAL_FILE)))?;
        for (path, record) in &entry.files {
            let to = path_inside(target, path).map_err(io_error(target.join(path)))?;
            let unchanged =
                std::fs::read(&to).is_ok_and(|bytes| sha256_hex(&bytes) == record.sha256);
            if !unchanged {
                let bytes = std::fs::read(entry.shard.join(path))
                    .map_err(io_error(entry.shard.join(path)))?;
                crate::write_atomic(&to, &bytes).map_err(io_error(to.clone()))?;
                report.copied += 1;
            }
        }
        journal
            .record(&id, &entry.record.recipe, &entry.record.key, entry.files)
            .map_err(io_error(target.join(BAKE_JOURNAL_FILE)))?;
        report.entries += 1;
    }
    journal
        .close()
        .map_err(io_error(target.join(crate::BAKE_MANIFEST_FILE)))?;
    Ok(report)
}
