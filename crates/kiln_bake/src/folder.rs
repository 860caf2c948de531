//! The output folder: its lock, removing files, cleaning up after a killed bake.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{BakeError, BakeManifest, Job};

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

/// `relative` (a checked `/`-separated path) inside `dir`, refused when a folder or file on
/// the way is a symbolic link: through one, a write or delete could land outside `dir`.
pub(crate) fn path_inside(dir: &Path, relative: &str) -> std::io::Result<PathBuf> {
    let mut path = dir.to_path_buf();
    for part in relative.split('/') {
        path.push(part);
        if path.symlink_metadata().is_ok_and(|meta| meta.is_symlink()) {
            return Err(std::io::Error::other(format!(
                "{} is a symbolic link: Kiln reads and writes only inside the output folder; \
                 replace the link with a real folder or file",
                path.display()
            )));
        }
    }
    Ok(path)
}

/// Deletes `files` (relative to `dir`) that `keep` rejects, and folders left empty. Paths
/// through a symbolic link are left alone (see [`path_inside`]).
pub(crate) fn remove_files(dir: &Path, files: &[String], keep: impl Fn(&str) -> bool) {
    for file in files.iter().filter(|file| !keep(file)) {
        let Ok(path) = path_inside(dir, file) else {
            continue;
        };
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
///
/// Folders are compared case-folded: a baked folder must unpack on case-insensitive file
/// systems too, where `Moss` and `moss` are one folder.
#[derive(Debug, Default)]
pub(crate) struct OutputOwners {
    /// Case-folded output folder → entry id.
    owners: HashMap<String, String>,
}

impl OutputOwners {
    /// The owners of the jobs' output folders. A folder goes to the job that already has
    /// files there in `manifest` (a new entry cannot take an existing entry's folder), else to
    /// the first job that names it.
    pub(crate) fn new(jobs: &[Job], manifest: &BakeManifest) -> Self {
        let baked_there = |job: &Job| {
            let prefix = format!("{}/", fold(&job.output));
            manifest.entries.get(&job.id()).is_some_and(|entry| {
                entry
                    .files
                    .iter()
                    .any(|file| fold(file).starts_with(&prefix))
            })
        };
        let mut owners = HashMap::new();
        for job in jobs.iter().filter(|job| baked_there(job)) {
            owners.entry(fold(&job.output)).or_insert_with(|| job.id());
        }
        for job in jobs {
            owners.entry(fold(&job.output)).or_insert_with(|| job.id());
        }
        Self { owners }
    }

    /// The entry that owns `job`'s output folder when it is not `job` (another job of the
    /// bake with the same `output`, up to case: `job` must not write there).
    pub(crate) fn other_owner(&self, job: &Job) -> Option<&str> {
        let owner = self.owners.get(&fold(&job.output))?;
        (*owner != job.id()).then_some(owner.as_str())
    }

    /// Whether `path` lies in the output folder of an entry other than `id`.
    pub(crate) fn owned_by_other(&self, path: &str, id: &str) -> bool {
        let path = fold(path);
        let mut folder = path.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            if self.owners.get(parent).is_some_and(|owner| owner != id) {
                return true;
            }
            folder = parent;
        }
        false
    }
}

/// `path` case-folded, as case-insensitive file systems compare names.
fn fold(path: &str) -> String {
    path.to_lowercase()
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
