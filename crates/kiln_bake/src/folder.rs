//! The output folder: its lock, removing files, cleaning up after a killed bake.

use std::collections::HashMap;
use std::path::Path;

use crate::{BakeError, Job};

/// Lock file in the output folder: held for the whole bake, so two bakes never interleave
/// their files and manifests. The operating system releases it if the bake dies.
pub const BAKE_LOCK_FILE: &str = ".kiln-bake.lock";

/// Takes the output folder's lock (creating the folder), held until the returned file drops.
pub(crate) fn lock_folder(dir: &Path) -> Result<std::fs::File, BakeError> {
    std::fs::create_dir_all(dir).map_err(|source| BakeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let lock_path = dir.join(BAKE_LOCK_FILE);
    let lock = std::fs::File::create(&lock_path).map_err(|source| BakeError::Io {
        path: lock_path.clone(),
        source,
    })?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(BakeError::Busy {
            dir: dir.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(BakeError::Io {
            path: lock_path,
            source,
        }),
    }
}

/// Deletes `files` (relative to `dir`) that `keep` rejects, and folders left empty.
pub(crate) fn remove_files(dir: &Path, files: &[String], keep: impl Fn(&str) -> bool) {
    for file in files.iter().filter(|file| !keep(file)) {
        let path = dir.join(file);
        if std::fs::remove_file(&path).is_ok() {
            let mut parent = path.parent();
            while let Some(folder) = parent.filter(|folder| *folder != dir) {
                if std::fs::remove_dir(folder).is_err() {
                    break; // not empty
                }
                parent = folder.parent();
            }
        }
    }
}

/// Which entry of a bake owns each output folder: files there belong to it, whatever an
/// older record says, so moving or renaming entries never deletes what another just wrote.
#[derive(Debug, Default)]
pub(crate) struct OutputOwners {
    /// Output folder → entry id.
    owners: HashMap<String, String>,
}

impl OutputOwners {
    /// The owners of the jobs' output folders (the first job of a folder owns it).
    pub(crate) fn new(jobs: &[Job]) -> Self {
        let mut owners = HashMap::new();
        for job in jobs {
            owners.entry(job.output.clone()).or_insert_with(|| job.id());
        }
        Self { owners }
    }

    /// The entry that owns `job`'s output folder when it is not `job` (an earlier job of the
    /// bake with the same `output`: `job` must not write there).
    pub(crate) fn other_owner(&self, job: &Job) -> Option<&str> {
        let owner = self.owners.get(&job.output)?;
        (*owner != job.id()).then_some(owner.as_str())
    }

    /// Whether `path` lies in the output folder of an entry other than `id`.
    pub(crate) fn owned_by_other(&self, path: &str, id: &str) -> bool {
        let mut folder = path;
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if self.owners.get(parent).is_some_and(|owner| owner != id) {
                return true;
            }
            folder = parent;
        }
        false
    }
}

/// Removes temporary files a killed bake left (never complete outputs: those are renamed
/// into place whole). Only called with the folder's lock held.
pub(crate) fn remove_partial_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_partial_files(&path);
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(crate::atomic::PARTIAL_PREFIX)
        {
            let _ = std::fs::remove_file(path);
        }
    }
}
