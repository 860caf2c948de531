//! Sessions: created under the provider policy, cached by model content hash.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use kiln_recipe::{ModelKind, ModelManifest};
use ort::session::Session;
use ort::session::builder::SessionBuilder;
use sha2::{Digest, Sha256};

use crate::contract::{ContractError, GraphTensor, compare};
use crate::provider::{Provider, ProviderPolicy, register_cuda, warn_cuda_fallback};
use crate::runtime::{Runtime, RuntimeError};

/// How sessions are created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    /// Execution-provider policy.
    pub policy: ProviderPolicy,
    /// Threads ONNX Runtime may use inside one operator; `None` lets it choose (all cores),
    /// or [`SessionCache::share_cores`] share them out.
    pub intra_threads: Option<usize>,
    /// Most sessions of one model, each made when every other is running: so many calls of
    /// the model can run at once (0 and 1: one session, whose calls take turns). Replaced by
    /// the lanes of [`SessionCache::share_cores`] once it is called.
    pub sessions_per_model: usize,
}

/// What the sessions of a [`SessionCache`] are made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    intra_threads: Option<usize>,
    sessions_per_model: usize,
}

/// What to do when a model file's sha256 differs from its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCheck {
    /// Refuse the model (bakes: outputs must be reproducible from the manifest).
    Strict,
    /// Warn and use it, recording its real hash (hot reload while retraining a model).
    Warn,
}

/// Loading a model into a session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// ONNX Runtime itself is not available.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The model file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The model file's bytes are not the ones its manifest names.
    #[error(
        "{path}: sha256 is {actual}, but its manifest says {expected}\n\
         fix: if the new model is intended, set `sha256: \"{actual}\"` in the manifest"
    )]
    HashMismatch {
        /// The model file.
        path: PathBuf,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the file.
        actual: String,
    },
    /// `--ep cuda` was asked for and CUDA cannot run here.
    #[error(
        "CUDA was required (--ep cuda) but cannot be used: {reason}\n\
         fix: install the onnxruntime-gpu build with CUDA and cuDNN, or use --ep auto or --ep cpu"
    )]
    CudaUnavailable {
        /// ONNX Runtime's reason.
        reason: String,
    },
    /// ONNX Runtime could not create a session from the bytes (corrupt or unsupported model).
    #[error("{model}: ONNX Runtime cannot load this model: {message}")]
    Create {
        /// The model (file or hash).
        model: String,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The graph does not match its manifest.
    #[error(transparent)]
    Contract(#[from] ContractError),
}

/// An ONNX Runtime session and what it runs on; more sessions of the same model are made as
/// calls overlap, up to [`ModelSession::most_sessions`].
pub struct ModelSession {
    sha256: String,
    provider: Provider,
    fallback: Option<String>,
    inputs: Vec<GraphTensor>,
    outputs: Vec<GraphTensor>,
    /// Sessions not in use.
    idle: Mutex<Vec<Session>>,
    /// Signalled when a session is handed back.
    returned: Condvar,
    /// Sessions made so far, and the most there may be.
    made: AtomicUsize,
    most: usize,
    /// Threads each session may use inside an operator (`None`: ONNX Runtime's choice).
    intra_threads: Option<usize>,
    /// Makes another session of the same model, on the same provider.
    make: Box<dyn Fn() -> Result<Session, SessionError> + Send + Sync>,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession")
            .field("sha256", &self.sha256)
            .field("provider", &self.provider)
            .field("sessions", &self.made.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A session of a [`ModelSession`], its own until dropped.
pub struct SessionLease<'a> {
    owner: &'a ModelSession,
    session: Option<Session>,
}

impl Deref for SessionLease<'_> {
    type Target = Session;

    fn deref(&self) -> &Session {
        self.session.as_ref().expect("held until dropped")
    }
}

impl DerefMut for SessionLease<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("held until dropped")
    }
}

impl Drop for SessionLease<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.owner.idle_sessions().push(session);
            self.owner.returned.notify_one();
        }
    }
}

impl ModelSession {
    /// Lower-case hex sha256 of the model bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The execution provider the session runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Why CUDA was not used under the `auto` policy, if it was not.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// The graph's inputs.
    pub fn inputs(&self) -> &[GraphTensor] {
        &self.inputs
    }

    /// The graph's outputs.
    pub fn outputs(&self) -> &[GraphTensor] {
        &self.outputs
    }

    /// How many sessions of the model have been made.
    pub fn sessions_made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    /// The most sessions of the model there may be.
    pub fn most_sessions(&self) -> usize {
        self.most
    }

    /// Threads each of its sessions may use inside an operator (`None`: all cores, ONNX
    /// Runtime's choice).
    pub fn intra_threads(&self) -> Option<usize> {
        self.intra_threads
    }

    /// A session to `run` on alone until the lease is dropped (keep it for a whole decoder
    /// generation: its I/O binding belongs to it). An idle one, else a new one while fewer than
    /// [`ModelSession::most_sessions`] exist, else the next one handed back. A session
    /// that cannot be made (out of memory, say) is waited for instead.
    pub fn lock(&self) -> SessionLease<'_> {
        let mut idle = self.idle_sessions();
        loop {
            if let Some(session) = idle.pop() {
                return self.lease(session);
            }
            let made = self.made.load(Ordering::Relaxed);
            if made < self.most {
                self.made.store(made + 1, Ordering::Relaxed);
                drop(idle);
                match (self.make)() {
                    Ok(session) => return self.lease(session),
                    Err(err) => {
                        tracing::warn!("another session of model {}: {err}", &self.sha256[..12]);
                        idle = self.idle_sessions();
                        continue;
                    }
                }
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn lease(&self, session: Session) -> SessionLease<'_> {
        SessionLease {
            owner: self,
            session: Some(session),
        }
    }

    fn idle_sessions(&self) -> MutexGuard<'_, Vec<Session>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sessions keyed by model content hash: the same bytes never load twice; changed bytes load fresh.
#[derive(Debug)]
pub struct SessionCache {
    runtime: &'static Runtime,
    options: SessionOptions,
    /// What new sessions are made with: `options`, until [`SessionCache::share_cores`].
    shape: Mutex<Shape>,
    sessions: Mutex<HashMap<String, Arc<ModelSession>>>,
    created: AtomicUsize,
    expected_provider: OnceLock<Provider>,
}

/// Why `auto` runs sequence generators on the CPU even where CUDA works: a decoder step is one
/// token of a small model, and on an H100 kernel launches and transfers cost more per token
/// than two CPU cores take for the whole step (docs/benchmarks.md, "On a GPU machine").
pub const SEQUENCES_ON_CPU: &str = "auto runs sequence models on the CPU: one token per step is faster there than on CUDA (use --ep cuda to force it)";

/// Whether the `auto` policy runs `manifest`'s model on the CPU whatever the machine has.
fn auto_prefers_cpu(manifest: &ModelManifest) -> bool {
    matches!(manifest.kind, ModelKind::SequenceGenerator(_))
}

impl SessionCache {
    /// A cache whose sessions follow `options`; loads ONNX Runtime if needed.
    pub fn new(options: SessionOptions) -> Result<Self, RuntimeError> {
        Ok(Self {
            runtime: Runtime::global()?,
            options,
            shape: Mutex::new(Shape {
                intra_threads: options.intra_threads,
                sessions_per_model: options.sessions_per_model.max(1),
            }),
            sessions: Mutex::default(),
            created: AtomicUsize::new(0),
            expected_provider: OnceLock::new(),
        })
    }

    /// The runtime the sessions use.
    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    /// The options sessions are created with.
    pub fn options(&self) -> SessionOptions {
        self.options
    }

    /// Shapes the sessions made from now on for `lanes` calls at once (a bake's entries that
    /// run together): up to `lanes` sessions of a model, each with an equal share of the cores
    /// unless [`SessionOptions::intra_threads`] fixes their threads; one lane gets every core.
    /// Cached sessions of another shape are dropped (calls holding one finish on it), so a
    /// re-bake of one entry after a bake of many runs on all the cores again.
    pub fn share_cores(&self, lanes: usize) {
        let lanes = lanes.max(1);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let shape = Shape {
            intra_threads: self
                .options
                .intra_threads
                .or_else(|| (lanes > 1).then(|| (cores / lanes).max(1))),
            sessions_per_model: lanes,
        };
        let changed = {
            let mut current = self.shape.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *current, shape) != shape
        };
        if changed {
            self.lock_sessions().clear();
        }
    }

    fn shape(&self) -> Shape {
        *self.shape.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The provider a session of `manifest`'s model will run on, decided without loading it
    /// (CUDA is checked once): what incremental bakes key their outputs by. Under `cuda` it is
    /// CUDA even when CUDA cannot load, since such sessions fail rather than fall back.
    pub fn expected_provider(&self, manifest: &ModelManifest) -> Provider {
        if self.options.policy == ProviderPolicy::Auto && auto_prefers_cpu(manifest) {
            return Provider::Cpu;
        }
        *self
            .expected_provider
            .get_or_init(|| match self.options.policy {
                ProviderPolicy::Cpu => Provider::Cpu,
                ProviderPolicy::Cuda => Provider::Cuda,
                ProviderPolicy::Auto => match crate::cuda_status(self.runtime) {
                    Ok(()) => Provider::Cuda,
                    Err(_) => Provider::Cpu,
                },
            })
    }

    /// How many sessions this cache has created (not served from cache).
    pub fn sessions_created(&self) -> usize {
        self.created.load(Ordering::Relaxed)
    }

    /// Session for the model a manifest describes: reads the ONNX file, checks its sha256
    /// against the manifest and its inputs/outputs against the declared contract.
    pub fn load_model(
        &self,
        manifest: &ModelManifest,
        manifest_path: &Path,
    ) -> Result<Arc<ModelSession>, SessionError> {
        let path = manifest.onnx_path(manifest_path);
        let bytes = std::fs::read(&path).map_err(|source| SessionError::Read {
            path: path.clone(),
            source,
        })?;
        self.load_model_bytes(manifest, &bytes, &path, HashCheck::Strict)
    }

    /// Like [`SessionCache::load_model`] for bytes already read from `path`.
    pub fn load_model_bytes(
        &self,
        manifest: &ModelManifest,
        bytes: &[u8],
        path: &Path,
        check: HashCheck,
    ) -> Result<Arc<ModelSession>, SessionError> {
        self.load_model_hashed(manifest, bytes, sha256_hex(bytes), path, check)
    }

    /// Like [`SessionCache::load_model_bytes`] where the caller has already hashed the bytes:
    /// `sha256` must be [`sha256_hex`] of `bytes` (a model file is tens of MB, so hashing it
    /// once per load matters).
    pub fn load_model_hashed(
        &self,
        manifest: &ModelManifest,
        bytes: &[u8],
        sha256: String,
        path: &Path,
        check: HashCheck,
    ) -> Result<Arc<ModelSession>, SessionError> {
        debug_assert_eq!(sha256, sha256_hex(bytes), "the hash of other bytes");
        if !sha256.eq_ignore_ascii_case(&manifest.sha256) {
            let mismatch = SessionError::HashMismatch {
                path: path.to_path_buf(),
                expected: manifest.sha256.clone(),
                actual: sha256.clone(),
            };
            match check {
                HashCheck::Strict => return Err(mismatch),
                HashCheck::Warn => tracing::warn!("{mismatch}"),
            }
        }
        let label = path.display().to_string();
        let session =
            self.load_bytes_with_hash(bytes, sha256, &label, auto_prefers_cpu(manifest))?;
        let mismatches = compare(
            &manifest.inputs,
            &manifest.outputs,
            session.inputs(),
            session.outputs(),
        );
        if !mismatches.is_empty() {
            return Err(ContractError {
                model: path.display().to_string(),
                mismatches,
            }
            .into());
        }
        Ok(session)
    }

    /// Session for raw model bytes, without a manifest.
    pub fn load_bytes(&self, bytes: &[u8]) -> Result<Arc<ModelSession>, SessionError> {
        let hash = sha256_hex(bytes);
        let label = format!("model {}", &hash[..12]);
        self.load_bytes_with_hash(bytes, hash, &label, false)
    }

    /// Drops cached sessions whose hash `keep` rejects (e.g. models that were replaced).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.lock_sessions().retain(|hash, _| keep(hash));
    }

    fn lock_sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<ModelSession>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn load_bytes_with_hash(
        &self,
        bytes: &[u8],
        hash: String,
        label: &str,
        prefers_cpu: bool,
    ) -> Result<Arc<ModelSession>, SessionError> {
        // Held while creating, so two threads asking for the same new model create it once.
        let mut sessions = self.lock_sessions();
        if let Some(session) = sessions.get(&hash) {
            return Ok(Arc::clone(session));
        }
        let session = Arc::new(self.create(bytes, hash.clone(), label, prefers_cpu)?);
        self.created.fetch_add(1, Ordering::Relaxed);
        sessions.insert(hash, Arc::clone(&session));
        Ok(session)
    }

    fn create(
        &self,
        bytes: &[u8],
        sha256: String,
        label: &str,
        prefers_cpu: bool,
    ) -> Result<ModelSession, SessionError> {
        let label = label.to_owned();
        let Shape {
            intra_threads,
            sessions_per_model,
        } = self.shape();
        let runtime = self.runtime;
        let mut builder = session_builder(runtime, intra_threads, &label)?;
        let (provider, fallback) = match self.options.policy {
            ProviderPolicy::Cpu => (Provider::Cpu, None),
            ProviderPolicy::Cuda => {
                register_cuda(&mut builder)
                    .map_err(|reason| SessionError::CudaUnavailable { reason })?;
                (Provider::Cuda, None)
            }
            ProviderPolicy::Auto if prefers_cpu => {
                tracing::debug!("{label}: {SEQUENCES_ON_CPU}");
                (Provider::Cpu, Some(SEQUENCES_ON_CPU.to_owned()))
            }
            ProviderPolicy::Auto => match register_cuda(&mut builder) {
                Ok(()) => (Provider::Cuda, None),
                Err(reason) => {
                    warn_cuda_fallback(&reason);
                    (Provider::Cpu, Some(reason))
                }
            },
        };
        let required = self.options.policy == ProviderPolicy::Cuda;
        let session = commit(builder, bytes, provider, required, &label)?;
        let most = sessions_per_model;
        // The bytes are kept only where more sessions may be made from them.
        let kept: Arc<[u8]> = if most > 1 { bytes.into() } else { Arc::new([]) };
        let make = move || {
            let mut builder = session_builder(runtime, intra_threads, &label)?;
            if provider == Provider::Cuda {
                register_cuda(&mut builder)
                    .map_err(|reason| SessionError::CudaUnavailable { reason })?;
            }
            commit(builder, &kept, provider, required, &label)
        };
        Ok(ModelSession {
            sha256,
            provider,
            fallback,
            inputs: session
                .inputs()
                .iter()
                .map(GraphTensor::from_outlet)
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(GraphTensor::from_outlet)
                .collect(),
            idle: Mutex::new(vec![session]),
            returned: Condvar::new(),
            made: AtomicUsize::new(1),
            most,
            intra_threads,
            make: Box::new(make),
        })
    }
}

/// A session builder with Kiln's settings: deterministic kernels, `intra_threads` per operator.
fn session_builder(
    runtime: &Runtime,
    intra_threads: Option<usize>,
    label: &str,
) -> Result<SessionBuilder, SessionError> {
    let create_error = |err: ort::Error| SessionError::Create {
        model: label.to_owned(),
        message: err.to_string(),
    };
    let builder = Session::builder(&runtime.environment)
        .and_then(|b| b.with_deterministic_compute(true).map_err(Into::into))
        .map_err(create_error)?;
    match intra_threads {
        Some(threads) => builder
            .with_intra_threads(threads)
            .map_err(|err| create_error(err.into())),
        None => Ok(builder),
    }
}

/// The session `builder` makes of `bytes` on `provider` (`required`: `--ep cuda`, whose
/// failure to load says so).
fn commit(
    mut builder: SessionBuilder,
    bytes: &[u8],
    provider: Provider,
    required: bool,
    label: &str,
) -> Result<Session, SessionError> {
    builder
        .commit_from_memory(bytes)
        .map_err(|err| match provider {
            Provider::Cuda if required => SessionError::CudaUnavailable {
                reason: err.to_string(),
            },
            _ => SessionError::Create {
                model: label.to_owned(),
                message: err.to_string(),
            },
        })
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
