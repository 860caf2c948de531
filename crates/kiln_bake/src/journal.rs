//! Keeping the bake manifest true at every instant, even if the bake is killed.
//!
//! The manifest ([`BAKE_MANIFEST_FILE`](crate::BAKE_MANIFEST_FILE)) is rewritten whole only at the end of a bake. While
//! it runs, each change is first appended to a journal ([`BAKE_JOURNAL_FILE`], one JSON line,
//! flushed to disk) before the files it describes change:
//!
//! 1. `forget` an entry before overwriting or deleting any of its files;
//! 2. write the new files (each atomically);
//! 3. `record` the entry with its new files.
//!
//! Replaying the journal over the manifest therefore never claims a file that is not on disk
//! byte for byte; a bake killed between 1 and 3 leaves the entry unrecorded, so the next bake
//! makes it again. A torn last line (killed mid-append) is ignored: its step had not happened.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::{ManifestError, check_inside};
use crate::{BakeManifest, FileRecord};

/// Journal of a bake in progress, next to the manifest.
pub const BAKE_JOURNAL_FILE: &str = "kiln-bake.journal";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Forget {
        id: String,
    },
    Record {
        id: String,
        recipe: String,
        key: String,
        files: BTreeMap<String, FileRecord>,
    },
}

/// The manifest of an output folder, open for changes that survive a crash.
#[derive(Debug)]
pub struct JournaledManifest {
    dir: PathBuf,
    manifest: BakeManifest,
    journal: File,
}

impl JournaledManifest {
    /// Opens the folder's manifest, completing any journal a killed bake left behind.
    /// The caller holds the folder's bake lock.
    pub fn open(dir: &Path) -> Result<Self, ManifestError> {
        let journal_path = dir.join(BAKE_JOURNAL_FILE);
        let error = |err: std::io::Error| ManifestError {
            path: journal_path.clone(),
            message: err.to_string(),
        };
        let (manifest, replayed) = replay(dir)?;
        if replayed {
            manifest.save(dir).map_err(error)?;
        }
        let journal = File::create(&journal_path).map_err(error)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            journal,
        })
    }

    /// The folder's manifest with any journal a killed bake left replayed over it, read
    /// only: nothing is written, locked or created (what `kiln verify` reads).
    pub fn read(dir: &Path) -> Result<BakeManifest, ManifestError> {
        replay(dir).map(|(manifest, _)| manifest)
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &BakeManifest {
        &self.manifest
    }

    /// Forgets entry `id` (durably) before its files change; returns what it had.
    pub fn forget(&mut self, id: &str) -> std::io::Result<Option<crate::EntryRecord>> {
        if !self.manifest.entries.contains_key(id) {
            return Ok(None);
        }
        self.append(&Step::Forget { id: id.to_owned() })?;
        Ok(self.manifest.forget(id))
    }

    /// Records entry `id`, whose files are all on disk.
    pub fn record(
        &mut self,
        id: &str,
        recipe: &str,
        key: &str,
        files: BTreeMap<String, FileRecord>,
    ) -> std::io::Result<()> {
        let step = Step::Record {
            id: id.to_owned(),
            recipe: recipe.to_owned(),
            key: key.to_owned(),
            files,
        };
        self.append(&step)?;
        if let Step::Record { files, .. } = &step {
            self.manifest.record(id, recipe, key, files);
        }
        Ok(())
    }

    /// Writes the manifest atomically and empties the journal.
    pub fn close(self) -> std::io::Result<()> {
        self.manifest.save(&self.dir)?;
        drop(self.journal);
        std::fs::remove_file(self.dir.join(BAKE_JOURNAL_FILE))
    }

    fn append(&mut self, step: &Step) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(step).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.journal.write_all(&line)?;
        self.journal.sync_data()
    }
}

/// The manifest in `dir` with its journal's steps applied, and whether there was a journal.
fn replay(dir: &Path) -> Result<(BakeManifest, bool), ManifestError> {
    let mut manifest = BakeManifest::load(dir)?;
    let journal_path = dir.join(BAKE_JOURNAL_FILE);
    let Ok(file) = File::open(&journal_path) else {
        return Ok((manifest, false));
    };
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|err| ManifestError {
            path: journal_path.clone(),
            message: err.to_string(),
        })?;
        let Ok(step) = serde_json::from_str::<Step>(&line) else {
            break; // torn by a kill: this step and anything after it never happened
        };
        match step {
            Step::Forget { id } => {
                manifest.forget(&id);
            }
            Step::Record {
                id,
                recipe,
                key,
                files,
            } => {
                check_inside(&journal_path, files.keys())?;
                manifest.record(&id, &recipe, &key, &files);
            }
        }
    }
    Ok((manifest, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of a file made by entry `id` (`<recipe>#<entry>`).
    fn record(id: &str, sha: &str) -> FileRecord {
        let (recipe, entry) = id.split_once('#').expect("an entry id");
        FileRecord {
            sha256: sha.to_owned(),
            recipe: recipe.to_owned(),
            entry: entry.to_owned(),
            variant: Some(0),
            seed: 1,
            parameters: serde_json::Value::Null,
            metrics: BTreeMap::new(),
            model: "m".to_owned(),
            model_sha256: "00".to_owned(),
            model_licence: "CC0-1.0".to_owned(),
            model_attribution: None,
            execution_provider: "cpu".to_owned(),
            onnxruntime_version: "1.32.0".to_owned(),
            kiln_version: "0".to_owned(),
        }
    }

    #[test]
    fn a_journal_left_by_a_killed_bake_is_replayed_up_to_its_torn_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lock = JournaledManifest::open(dir.path()).expect("open");
        lock.record(
            "r#a",
            "r",
            "k1",
            BTreeMap::from([("a/0.png".to_owned(), record("r#a", "aa"))]),
        )
        .expect("record");
        lock.record(
            "r#b",
            "r",
            "k2",
            BTreeMap::from([("b/0.png".to_owned(), record("r#b", "bb"))]),
        )
        .expect("record");
        lock.close().expect("close");

        // A bake that forgot `a`, re-recorded `b`, then died while appending.
        let mut lock = JournaledManifest::open(dir.path()).expect("reopen");
        lock.forget("r#a").expect("forget");
        lock.record(
            "r#b",
            "r",
            "k3",
            BTreeMap::from([("b/0.png".to_owned(), record("r#b", "cc"))]),
        )
        .expect("record");
        drop(lock);
        let mut journal = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(BAKE_JOURNAL_FILE))
            .expect("journal");
        journal
            .write_all(br#"{"forget":{"id":"r#"#)
            .expect("torn line");

        let lock = JournaledManifest::open(dir.path()).expect("recover");
        let manifest = lock.manifest();
        assert!(!manifest.entries.contains_key("r#a"));
        assert!(!manifest.files.contains_key("a/0.png"));
        assert_eq!(manifest.entries["r#b"].key, "k3");
        assert_eq!(manifest.files["b/0.png"].sha256, "cc");
        // The recovered state is already on disk, before any new step.
        assert_eq!(&BakeManifest::load(dir.path()).expect("load"), manifest);
    }
}
