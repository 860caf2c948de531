//! Running a bake plan: generate, encode, write atomically, record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiln_gen::{GenerateError, ImageGenerator};
use kiln_music::MusicError;
use kiln_onnx::{ModelSession, SessionCache, SessionError, sha256_hex};
use kiln_recipe::{AssetKind, LoadError, ModelKind, ModelManifest};
use kiln_seq::{SequenceError, SequenceModel, TextError};

use crate::lockfile::Lockfile;
use crate::manifest::ManifestError;
use crate::render::{EntryFile, Generator, render};
use crate::{FileRecord, Job, KILN_VERSION, ModelRegistry, write_atomic};

/// Why one entry was not baked. Other entries are unaffected.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The model's manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] LoadError),
    /// The model could not be loaded into ONNX Runtime.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Image generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The sequence model cannot be used with its tokenizer, or failed.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// No text within the recipe's limits.
    #[error(transparent)]
    Text(#[from] TextError),
    /// No music loop.
    #[error(transparent)]
    Music(#[from] MusicError),
    /// The recipe's kind needs another kind of model.
    #[error(
        "model {model:?} cannot make a {kind}: choose a model of that kind (see `kiln models`)"
    )]
    WrongModel {
        /// The model.
        model: String,
        /// The recipe's kind.
        kind: &'static str,
    },
    /// Another entry of the bake writes to the same output folder.
    #[error(
        "its output folder {output:?} is also the output of {other}: give one of them another `output`"
    )]
    OutputClash {
        /// The shared output folder.
        output: String,
        /// The entry (`<recipe>#<entry>`) that keeps it.
        other: String,
    },
    /// An output could not be encoded or written.
    #[error("{path}: cannot write: {message}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A bake could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum BakeError {
    /// Another bake holds the output folder's lock.
    #[error(
        "{dir}: another `kiln bake` is writing to this folder (it holds {lock}); \
         wait for it to finish or bake into another folder"
    )]
    Busy {
        /// The output folder.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The folder's bake manifest is unreadable.
    #[error("{0}; delete it to re-bake everything")]
    Manifest(#[from] ManifestError),
    /// The output folder, its lock or its manifest could not be written.
    #[error("{path}: {source}")]
    Io {
        /// What was being written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Lock file in the output folder: held for the whole bake, so two bakes never interleave
/// their files and manifests. The operating system releases it if the bake dies.
pub const BAKE_LOCK_FILE: &str = ".kiln-bake.lock";

/// An entry that failed, and why.
#[derive(Debug)]
pub struct EntryFailure {
    /// Recipe path as recorded in manifests.
    pub recipe: String,
    /// Entry name.
    pub entry: String,
    /// The error.
    pub error: EntryError,
}

/// How an entry ended in a bake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Generated; this many files written.
    Baked(usize),
    /// Its recorded files were made from the same inputs: nothing to do.
    UpToDate,
    /// Failed; its previous files, if any, are kept.
    Failed,
}

/// Progress of a running bake, for progress bars and logs.
#[derive(Debug)]
pub enum BakeEvent<'a> {
    /// An entry is done.
    EntryDone {
        /// The job.
        job: &'a Job,
        /// How it ended.
        status: EntryStatus,
    },
}

/// What a bake did.
#[derive(Debug, Default)]
pub struct BakeReport {
    /// Files written, relative to the output folder.
    pub written: Vec<String>,
    /// Entries whose files were already up to date.
    pub up_to_date: usize,
    /// Entries that failed.
    pub failures: Vec<EntryFailure>,
    /// Entries removed from the folder because their recipe no longer has them.
    pub pruned: Vec<String>,
    /// Execution providers that ran, with how many entries each.
    pub providers: Vec<(String, usize)>,
    /// Time spent inside ONNX Runtime's `session.run`, summed over entries (which may run in
    /// parallel): the rest of a bake's time is Kiln's own work.
    pub inference: Duration,
    /// Credit owed for the folder's files, by model: `(licence, attribution)` of every model
    /// whose manifest asks for attribution and that made a file now in the folder.
    pub attributions: BTreeMap<String, (String, String)>,
}

/// An entry generated in memory by [`Baker::preview`].
#[derive(Clone, Debug)]
pub struct Preview {
    /// The files a bake would write, in order.
    pub files: Vec<EntryFile>,
    /// Model name.
    pub model: String,
    /// sha256 of the model bytes that ran.
    pub model_sha256: String,
    /// Execution provider that ran.
    pub execution_provider: String,
    /// Time inside `session.run`.
    pub inference: Duration,
}

/// Which recorded entries that are not among a bake's jobs it removes, with their files.
#[derive(Clone, Copy, Debug)]
pub enum Prune<'p> {
    /// Keep them (baking a few selected entries).
    Nothing,
    /// Remove them, except those of these recipes (ones that failed to load this time: their
    /// last good outputs stay).
    Stale {
        /// Recipe labels whose entries are kept.
        keep_recipes: &'p [String],
    },
}

/// Bakes jobs into an output folder with one session cache.
#[derive(Debug)]
pub struct Baker<'a> {
    /// Sessions (and so the provider policy) used for every model.
    pub sessions: &'a SessionCache,
    /// Where models are found.
    pub models: &'a ModelRegistry,
    /// The output folder.
    pub out_dir: &'a Path,
    /// Entries generated at once.
    pub jobs: usize,
}

/// Models loaded during one bake, by name.
pub(crate) type LoadedModels = Mutex<HashMap<String, (ModelManifest, PathBuf, Arc<ModelSession>)>>;

/// An entry's files, generated in memory with the model that made them.
pub(crate) struct Generated {
    pub manifest: ModelManifest,
    pub session: Arc<ModelSession>,
    pub outputs: Vec<EntryFile>,
    /// Time inside `session.run`.
    pub inference: Duration,
}

impl Baker<'_> {
    /// Bakes the jobs that are not up to date, recording each in the folder's manifest as it
    /// completes (see [`crate::lockfile`]: killed at any moment, the folder stays consistent).
    /// Failed entries keep their previous files and records.
    pub fn bake(
        &self,
        jobs: &[Job],
        prune: Prune<'_>,
        on_event: &(dyn Fn(BakeEvent<'_>) + Sync),
    ) -> Result<BakeReport, BakeError> {
        let _lock = lock_folder(self.out_dir)?;
        remove_partial_files(self.out_dir);
        let lockfile = Mutex::new(Lockfile::open(self.out_dir)?);
        let keys = self.keys(jobs);
        let clashes = output_clashes(jobs);

        let mut report = BakeReport::default();
        let mut todo = Vec::new();
        {
            let lockfile = lock(&lockfile);
            for (index, job) in jobs.iter().enumerate() {
                let fresh = keys[index]
                    .as_ref()
                    .is_some_and(|key| lockfile.manifest().is_fresh(&job.id(), key, self.out_dir));
                if fresh && !clashes.contains_key(&index) {
                    report.up_to_date += 1;
                    on_event(BakeEvent::EntryDone {
                        job,
                        status: EntryStatus::UpToDate,
                    });
                } else {
                    todo.push(index);
                }
            }
        }

        let loaded = LoadedModels::default();
        let results = self.parallel(todo.len(), |n| {
            let index = todo[n];
            let job = &jobs[index];
            let result = match clashes.get(&index) {
                Some((output, other)) => Err(EntryError::OutputClash {
                    output: output.clone(),
                    other: other.clone(),
                }),
                None => self.bake_job(job, keys[index].as_deref(), &loaded, &lockfile),
            };
            let status = match &result {
                Ok(baked) => EntryStatus::Baked(baked.files.len()),
                Err(_) => EntryStatus::Failed,
            };
            on_event(BakeEvent::EntryDone { job, status });
            (index, result)
        });

        let mut lockfile = lockfile.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut providers: HashMap<String, usize> = HashMap::new();
        for (index, result) in results {
            let job = &jobs[index];
            match result {
                Ok(baked) => {
                    *providers.entry(baked.provider).or_default() += 1;
                    report.inference += baked.inference;
                    report.written.extend(baked.files);
                }
                Err(error) => report.failures.push(EntryFailure {
                    recipe: job.recipe_label.clone(),
                    entry: job.entry_name.clone(),
                    error,
                }),
            }
        }
        if let Prune::Stale { keep_recipes } = prune {
            let baked: HashSet<String> = jobs.iter().map(Job::id).collect();
            let stale: Vec<String> = lockfile
                .manifest()
                .entries
                .iter()
                .filter(|(id, entry)| !baked.contains(*id) && !keep_recipes.contains(&entry.recipe))
                .map(|(id, _)| id.clone())
                .collect();
            for id in stale {
                if let Some(entry) = lockfile.forget(&id).map_err(self.io_error(BAKE_JOURNAL))? {
                    remove_files(self.out_dir, &entry.files, &BTreeMap::new());
                }
                report.pruned.push(id);
            }
        }
        report.attributions = lockfile
            .manifest()
            .files
            .values()
            .filter_map(|record| {
                let credit = record.model_attribution.clone()?;
                Some((record.model.clone(), (record.model_licence.clone(), credit)))
            })
            .collect();
        lockfile
            .close()
            .map_err(self.io_error(crate::BAKE_MANIFEST_FILE))?;
        report.providers = providers.into_iter().collect();
        report.providers.sort();
        Ok(report)
    }

    /// Runs `task(0..count)` on up to [`Baker::jobs`] threads; results in index order.
    pub(crate) fn parallel<T: Send>(
        &self,
        count: usize,
        task: impl Fn(usize) -> T + Sync,
    ) -> Vec<T> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, T)>> = Mutex::default();
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.clamp(1, count.max(1)) {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= count {
                            break;
                        }
                        let result = task(index);
                        lock(&results).push((index, result));
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(index, _)| *index);
        results.into_iter().map(|(_, result)| result).collect()
    }

    /// Generates `job`'s files in memory exactly as [`Baker::bake`] would write them, touching
    /// nothing on disk (the editor's gallery). `on_variant(i)` is called as variant `i` starts.
    pub fn preview(
        &self,
        job: &Job,
        on_variant: &(dyn Fn(u32) + Sync),
    ) -> Result<Preview, EntryError> {
        let generated = self.generate(job, &LoadedModels::default(), on_variant)?;
        Ok(Preview {
            files: generated.outputs,
            model: generated.manifest.name,
            model_sha256: generated.session.sha256().to_owned(),
            execution_provider: generated.session.provider().to_string(),
            inference: generated.inference,
        })
    }

    /// Generates `job`'s files in memory, writing nothing.
    pub(crate) fn generate(
        &self,
        job: &Job,
        loaded: &LoadedModels,
        on_variant: &(dyn Fn(u32) + Sync),
    ) -> Result<Generated, EntryError> {
        let (manifest, manifest_path, session) = self.model(&job.entry.model, loaded)?;
        let generator = match &job.entry.kind {
            AssetKind::Texture(_) | AssetKind::Sprite(_) => {
                Generator::Image(ImageGenerator::new(&manifest, Arc::clone(&session))?)
            }
            AssetKind::Text(_) | AssetKind::Music(_) => Generator::Sequence(Box::new(
                SequenceModel::new(&manifest, &manifest_path, Arc::clone(&session))?,
            )),
        };
        let outputs = render(job, &generator, on_variant)?;
        Ok(Generated {
            manifest,
            session,
            outputs,
            inference: generator.run_time(),
        })
    }

    /// Each job's key (see [`Job::key`]), or `None` where its model cannot be read (the job
    /// then runs, and reports why).
    pub(crate) fn keys(&self, jobs: &[Job]) -> Vec<Option<String>> {
        let provider = self.sessions.expected_provider().to_string();
        let version = self.sessions.runtime().version();
        let mut model_hashes: HashMap<&str, Option<String>> = HashMap::new();
        jobs.iter()
            .map(|job| {
                let model = model_hashes
                    .entry(&job.entry.model)
                    .or_insert_with(|| self.model_file_sha256(&job.entry.model));
                model.as_deref().map(|sha| job.key(sha, &provider, version))
            })
            .collect()
    }

    /// sha256 of the model's ONNX file; for sequence models, of it and its tokenizer.
    fn model_file_sha256(&self, name: &str) -> Option<String> {
        let (manifest, path) = self.models.load(name).ok()?;
        let onnx = sha256_hex(&std::fs::read(manifest.onnx_path(&path)).ok()?);
        match &manifest.kind {
            ModelKind::ImageGenerator(_) => Some(onnx),
            ModelKind::SequenceGenerator(sequence) => {
                let tokenizer = path.parent()?.join(&sequence.tokenizer);
                let tokenizer = sha256_hex(&std::fs::read(tokenizer).ok()?);
                Some(sha256_hex(format!("{onnx}:{tokenizer}").as_bytes()))
            }
        }
    }

    /// Model `name`'s manifest and session, read, hashed and checked once per bake however
    /// many entries use it (a failed load is retried by the next entry, which reports it too).
    pub(crate) fn model(
        &self,
        name: &str,
        loaded: &LoadedModels,
    ) -> Result<(ModelManifest, PathBuf, Arc<ModelSession>), EntryError> {
        if let Some(model) = lock(loaded).get(name) {
            return Ok(model.clone());
        }
        let (manifest, manifest_path) = self.models.load(name)?;
        let session = self.sessions.load_model(&manifest, &manifest_path)?;
        let model = (manifest, manifest_path, session);
        lock(loaded).insert(name.to_owned(), model.clone());
        Ok(model)
    }

    fn bake_job(
        &self,
        job: &Job,
        key: Option<&str>,
        loaded: &LoadedModels,
        lockfile: &Mutex<Lockfile>,
    ) -> Result<Baked, EntryError> {
        // Everything is generated and encoded before anything is touched, so a failing
        // variant leaves the entry's previous files and record as they were.
        let Generated {
            manifest,
            session,
            outputs,
            inference,
        } = self.generate(job, loaded, &|_| {})?;
        let id = job.id();
        let journal_error = |err: std::io::Error| EntryError::Write {
            path: self.out_dir.join(BAKE_JOURNAL),
            message: err.to_string(),
        };
        let previous = lock(lockfile).forget(&id).map_err(journal_error)?;
        let parameters = serde_json::to_value(&job.entry.kind).unwrap_or(serde_json::Value::Null);
        let provider = session.provider().to_string();
        let mut records = BTreeMap::new();
        for output in outputs {
            let relative = format!("{}/{}", job.output, output.file);
            let path = self.out_dir.join(&relative);
            write_atomic(&path, &output.bytes).map_err(|err| EntryError::Write {
                path,
                message: err.to_string(),
            })?;
            records.insert(
                relative,
                FileRecord {
                    sha256: sha256_hex(&output.bytes),
                    recipe: job.recipe_label.clone(),
                    entry: job.entry_name.clone(),
                    variant: output.variant,
                    seed: output
                        .variant
                        .map_or(job.entry.seed, |variant| job.seed(variant)),
                    parameters: parameters.clone(),
                    metrics: output.metrics,
                    model: manifest.name.clone(),
                    model_sha256: session.sha256().to_owned(),
                    model_licence: manifest.licence.clone(),
                    model_attribution: manifest.attribution.clone(),
                    execution_provider: provider.clone(),
                    onnxruntime_version: self.sessions.runtime().version().to_owned(),
                    kiln_version: KILN_VERSION.to_owned(),
                },
            );
        }
        if let Some(previous) = previous {
            remove_files(self.out_dir, &previous.files, &records);
        }
        // Keyed by what actually ran (the model bytes the session was made from).
        let key = key.map_or_else(
            || {
                job.key(
                    session.sha256(),
                    &provider,
                    self.sessions.runtime().version(),
                )
            },
            str::to_owned,
        );
        let files: Vec<String> = records.keys().cloned().collect();
        lock(lockfile)
            .record(&id, &job.recipe_label, &key, records)
            .map_err(journal_error)?;
        Ok(Baked {
            files,
            provider,
            inference,
        })
    }

    pub(crate) fn io_error(&self, file: &str) -> impl FnOnce(std::io::Error) -> BakeError {
        let path = self.out_dir.join(file);
        move |source| BakeError::Io { path, source }
    }
}

use crate::lockfile::BAKE_JOURNAL_FILE as BAKE_JOURNAL;

/// Takes the output folder's bake lock, held until the guard drops.
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

struct Baked {
    files: Vec<String>,
    provider: String,
    inference: Duration,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Jobs (by index) whose output folder an earlier job already uses: the folder, and the id of
/// the job that keeps it.
fn output_clashes(jobs: &[Job]) -> HashMap<usize, (String, String)> {
    let mut owners: HashMap<&str, &Job> = HashMap::new();
    let mut clashes = HashMap::new();
    for (index, job) in jobs.iter().enumerate() {
        match owners.get(job.output.as_str()) {
            Some(owner) => {
                clashes.insert(index, (job.output.clone(), owner.id()));
            }
            None => {
                owners.insert(&job.output, job);
            }
        }
    }
    clashes
}

/// Deletes `files` (relative to `dir`) that `keep` does not hold, and folders left empty.
fn remove_files(dir: &Path, files: &[String], keep: &BTreeMap<String, FileRecord>) {
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
/// into place whole). Only called with the folder's bake lock held.
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

/// Sprite sheet of all variants of a sprite entry.
pub const SHEET_FILE: &str = "sheet.png";
/// Bevy `TextureAtlasLayout` (RON) for [`SHEET_FILE`].
pub const ATLAS_FILE: &str = "sheet.atlas.ron";
