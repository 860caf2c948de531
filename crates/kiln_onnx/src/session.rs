//! Sessions: created under the provider policy, cached by model content hash.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use kiln_recipe::{ModelKind, ModelManifest};
use ort::session::Session;
use sha2::{Digest, Sha256};

use crate::contract::{ContractError, GraphTensor, compare};
use crate::provider::{Provider, ProviderPolicy, register_cuda, warn_cuda_fallback};
use crate::runtime::{Runtime, RuntimeError};

/// How sessions are created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    /// Execution-provider policy.
    pub policy: ProviderPolicy,
    /// Threads ONNX Runtime may use inside one operator; `None` lets it choose (all cores).
    pub intra_threads: Option<usize>,
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

/// An ONNX Runtime session and what it runs on.
#[derive(Debug)]
pub struct ModelSession {
    sha256: String,
    provider: Provider,
    fallback: Option<String>,
    inputs: Vec<GraphTensor>,
    outputs: Vec<GraphTensor>,
    session: Mutex<Session>,
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

    /// Exclusive access to the session for `run` (ONNX Runtime sessions run one call at a time here).
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sessions keyed by model content hash: the same bytes never load twice; changed bytes load fresh.
#[derive(Debug)]
pub struct SessionCache {
    runtime: &'static Runtime,
    options: SessionOptions,
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
        let actual = sha256_hex(bytes);
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            let mismatch = SessionError::HashMismatch {
                path: path.to_path_buf(),
                expected: manifest.sha256.clone(),
                actual: actual.clone(),
            };
            match check {
                HashCheck::Strict => return Err(mismatch),
                HashCheck::Warn => tracing::warn!("{mismatch}"),
            }
        }
        let label = path.display().to_string();
        let session =
            self.load_bytes_with_hash(bytes, actual, &label, auto_prefers_cpu(manifest))?;
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
        let create_error = |err: &dyn std::fmt::Display| SessionError::Create {
            model: label.to_owned(),
            message: err.to_string(),
        };
        let mut builder = Session::builder(&self.runtime.environment)
            .and_then(|b| b.with_deterministic_compute(true).map_err(Into::into))
            .map_err(|err| create_error(&err))?;
        if let Some(threads) = self.options.intra_threads {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|err| create_error(&err))?;
        }
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
        let session = builder
            .commit_from_memory(bytes)
            .map_err(|err| match provider {
                Provider::Cuda if self.options.policy == ProviderPolicy::Cuda => {
                    SessionError::CudaUnavailable {
                        reason: err.to_string(),
                    }
                }
                _ => create_error(&err),
            })?;
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
            session: Mutex::new(session),
        })
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
