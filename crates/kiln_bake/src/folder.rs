//! The output folder: its lock, removing files, cleaning up after a killed bake.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{BakeError, FileRecord};

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

/// Deletes `files` (relative to `dir`) that `keep` does not hold, and folders left empty.
pub(crate) fn remove_files(dir: &Path, files: &[String], keep: &BTreeMap<String, FileRecord>) {
    for file in files.iter().filter(|file| !keep.contains_key(*file)) {
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
