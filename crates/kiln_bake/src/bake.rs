//! Running a bake plan: generate, encode, write atomically, record.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use image::{DynamicImage, ImageFormat};
use kiln_gen::{GenerateError, ImageGenerator, make_sprites, make_textures};
use kiln_onnx::{ModelSession, SessionCache, SessionError, sha256_hex};
use kiln_recipe::{AssetKind, LoadError, ModelManifest};

use crate::{BakeManifest, FileRecord, Job, KILN_VERSION, ModelRegistry, write_atomic};

/// Why one entry was not baked. Other entries are unaffected.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The model's manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] LoadError),
    /// The model could not be loaded into ONNX Runtime.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
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

/// Progress of a running bake, for progress bars and logs.
#[derive(Debug)]
pub enum BakeEvent<'a> {
    /// An entry is done; `failed` tells whether it worked.
    EntryDone {
        /// The job.
        job: &'a Job,
        /// Files written for it.
        files: usize,
        /// Whether it failed.
        failed: bool,
    },
}

/// What a bake did.
#[derive(Debug, Default)]
pub struct BakeReport {
    /// Files written, relative to the output folder.
    pub written: Vec<String>,
    /// Entries that failed.
    pub failures: Vec<EntryFailure>,
    /// Execution providers that ran, with how many entries each.
    pub providers: Vec<(String, usize)>,
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
type LoadedModels = Mutex<HashMap<String, (ModelManifest, Arc<ModelSession>)>>;

struct Done {
    records: Vec<(String, FileRecord)>,
    provider: String,
}

impl Baker<'_> {
    /// Bakes every job, then rewrites the bake manifest (atomically) with the new records
    /// merged over the previous ones. Failed entries keep their previous files and records.
    pub fn bake(
        &self,
        jobs: &[Job],
        on_event: &(dyn Fn(BakeEvent<'_>) + Sync),
    ) -> Result<BakeReport, BakeError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BakeError::Io { path, source }
        };
        std::fs::create_dir_all(self.out_dir).map_err(io_error(self.out_dir))?;
        let lock_path = self.out_dir.join(BAKE_LOCK_FILE);
        let lock = std::fs::File::create(&lock_path).map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BakeError::Busy {
                    dir: self.out_dir.to_path_buf(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(BakeError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let loaded = LoadedModels::default();
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Result<Done, EntryError>)>> = Mutex::default();
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.clamp(1, jobs.len().max(1)) {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(index) else { break };
                        let result = self.bake_job(job, &loaded);
                        on_event(BakeEvent::EntryDone {
                            job,
                            files: result.as_ref().map_or(0, |done| done.records.len()),
                            failed: result.is_err(),
                        });
                        results
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((index, result));
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(index, _)| *index);

        let mut manifest = BakeManifest::load_or_default(self.out_dir);
        manifest.retain_existing(self.out_dir);
        let mut report = BakeReport::default();
        let mut providers: HashMap<String, usize> = HashMap::new();
        for ((_, result), job) in results.into_iter().zip(jobs) {
            match result {
                Ok(done) => {
                    *providers.entry(done.provider).or_default() += 1;
                    for (path, record) in done.records {
                        report.written.push(path.clone());
                        manifest.files.insert(path, record);
                    }
                }
                Err(error) => report.failures.push(EntryFailure {
                    recipe: job.recipe_label.clone(),
                    entry: job.entry_name.clone(),
                    error,
                }),
            }
        }
        manifest.format = BakeManifest::FORMAT;
        manifest
            .save(self.out_dir)
            .map_err(io_error(&self.out_dir.join(crate::BAKE_MANIFEST_FILE)))?;
        report.providers = providers.into_iter().collect();
        report.providers.sort();
        Ok(report)
    }

    /// Model `name`'s manifest and session, read, hashed and checked once per bake however
    /// many entries use it (a failed load is retried by the next entry, which reports it too).
    fn model(
        &self,
        name: &str,
        loaded: &LoadedModels,
    ) -> Result<(ModelManifest, Arc<ModelSession>), EntryError> {
        if let Some(model) = loaded.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(model.clone());
        }
        let (manifest, manifest_path) = self.models.load(name)?;
        let session = self.sessions.load_model(&manifest, &manifest_path)?;
        let model = (manifest, session);
        loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), model.clone());
        Ok(model)
    }

    fn bake_job(&self, job: &Job, loaded: &LoadedModels) -> Result<Done, EntryError> {
        let (manifest, session) = self.model(&job.entry.model, loaded)?;
        let generator = ImageGenerator::new(&manifest, session)?;
        // Everything is generated and encoded before anything is written, so a failing
        // variant leaves the entry's previous files untouched.
        let outputs = render(job, &generator)?;
        let session = generator.session();
        let parameters = serde_json::to_value(&job.entry.kind).unwrap_or(serde_json::Value::Null);
        let provider = session.provider().to_string();
        let mut records = Vec::with_capacity(outputs.len());
        for output in outputs {
            let relative = format!("{}/{}", job.output, output.file);
            let path = self.out_dir.join(&relative);
            write_atomic(&path, &output.bytes).map_err(|err| EntryError::Write {
                path,
                message: err.to_string(),
            })?;
            records.push((
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
                    execution_provider: provider.clone(),
                    onnxruntime_version: self.sessions.runtime().version().to_owned(),
                    kiln_version: KILN_VERSION.to_owned(),
                },
            ));
        }
        Ok(Done { records, provider })
    }
}

/// One file of an entry, encoded and ready to write.
struct Output {
    /// File name inside the entry's output folder.
    file: String,
    bytes: Vec<u8>,
    /// The variant it shows; `None` for files combining all variants (sheets).
    variant: Option<u32>,
    metrics: BTreeMap<String, f64>,
}

fn render(job: &Job, generator: &ImageGenerator) -> Result<Vec<Output>, EntryError> {
    let seeds = (0..job.entry.variants.get()).map(|variant| job.seed(variant));
    let single =
        |variant: usize, file: String, bytes: Vec<u8>, metrics: BTreeMap<String, f64>| Output {
            file,
            bytes,
            variant: Some(variant as u32),
            metrics,
        };
    let mut outputs = Vec::new();
    match &job.entry.kind {
        AssetKind::Texture(params) => {
            for (variant, texture) in make_textures(generator, params, seeds)?
                .into_iter()
                .enumerate()
            {
                let metrics = BTreeMap::from([("seam_score".to_owned(), texture.seam_score)]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&texture.image.into()),
                    metrics,
                ));
                if let Some(normal) = texture.normal_map {
                    outputs.push(single(
                        variant,
                        format!("{variant}.normal.png"),
                        encode_png(&normal.into()),
                        BTreeMap::new(),
                    ));
                }
            }
        }
        AssetKind::Sprite(params) => {
            let set = make_sprites(generator, params, seeds)?;
            for (variant, (_, sprite)) in set.sprites.into_iter().enumerate() {
                let metrics = BTreeMap::from([(
                    "colours".to_owned(),
                    kiln_gen::sprite::count_colours(&sprite) as f64,
                )]);
                outputs.push(single(
                    variant,
                    format!("{variant}.png"),
                    encode_png(&sprite.into()),
                    metrics,
                ));
            }
            let whole = |file: &str, bytes| Output {
                file: file.to_owned(),
                bytes,
                variant: None,
                metrics: BTreeMap::new(),
            };
            outputs.push(whole(SHEET_FILE, encode_png(&set.sheet.into())));
            outputs.push(whole(ATLAS_FILE, set.layout.to_ron().into_bytes()));
        }
    }
    Ok(outputs)
}

/// Sprite sheet of all variants of a sprite entry.
pub const SHEET_FILE: &str = "sheet.png";
/// Bevy `TextureAtlasLayout` (RON) for [`SHEET_FILE`].
pub const ATLAS_FILE: &str = "sheet.atlas.ron";

/// PNG bytes of `image` (deterministic: same pixels, same bytes).
fn encode_png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap_or_else(|err| unreachable!("PNG encoding into memory cannot fail: {err}"));
    bytes
}
