//! Kiln's ONNX Runtime layer.
//!
//! - [`Runtime`]: finds `libonnxruntime` (see [`discovery`] for the order), fetching the
//!   pinned wheel with pip when none is installed, and loads it once per process.
//! - [`ProviderPolicy`]: `auto | cpu | cuda`; the [`Provider`] that actually ran is reported.
//! - [`SessionCache`]: sessions keyed by model content hash, checked against their manifest.
//!
//! This crate knows nothing of textures, sprites or Bevy.

mod clock;
pub mod contract;
pub mod discovery;
pub mod fetch;
mod identity;
mod provider;
mod runtime;
mod session;
mod stamps;
mod tensor;

pub use clock::{RunClock, inference_wall_time};
pub use contract::{ContractError, GraphTensor, Mismatch};
pub use identity::FileIdentity;
pub use provider::{Provider, ProviderPolicy};
pub use runtime::{
    NO_FETCH_ENV, NO_TELEMETRY_ENV, Runtime, RuntimeError, disable_telemetry, probe_version,
};
pub use session::{
    HashCheck, ModelSession, SEQUENCES_ON_CPU, SessionCache, SessionError, SessionOptions,
    sha256_hex,
};
pub use tensor::filled_tensor;

/// Whether this ONNX Runtime build can create a CUDA session here, with its reason when not.
pub fn cuda_status(runtime: &Runtime) -> Result<(), String> {
    let mut builder =
        ort::session::Session::builder(&runtime.environment).map_err(|err| err.to_string())?;
    provider::register_cuda(&mut builder)
}

/// Fails up front when `policy` requires a provider this machine cannot load, so a bake
/// with `--ep cuda` stops before generating anything.
pub fn check_policy(runtime: &Runtime, policy: ProviderPolicy) -> Result<(), SessionError> {
    match policy {
        ProviderPolicy::Cuda => {
            cuda_status(runtime).map_err(|reason| SessionError::CudaUnavailable { reason })
        }
        ProviderPolicy::Auto | ProviderPolicy::Cpu => Ok(()),
    }
}
