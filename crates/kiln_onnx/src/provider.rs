//! Execution-provider policy: what the user asked for and what actually ran.

use std::fmt;
use std::str::FromStr;
use std::sync::Once;

use ort::ep::{self, ExecutionProvider as _};
use ort::session::builder::SessionBuilder;

/// Which execution provider a user asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProviderPolicy {
    /// CUDA when it loads, else CPU with a warning printed once.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA or a clear error; never a silent fallback.
    Cuda,
}

impl FromStr for ProviderPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            _ => Err(format!(
                "unknown execution provider {text:?}: use auto, cpu or cuda"
            )),
        }
    }
}

impl fmt::Display for ProviderPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// The execution provider a session actually runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
}

impl Provider {
    /// The name ONNX Runtime uses (`CPUExecutionProvider`, `CUDAExecutionProvider`).
    pub fn ort_name(self) -> &'static str {
        match self {
            Self::Cpu => ep::CPU::NAME,
            Self::Cuda => ep::CUDA::NAME,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// Registers CUDA on `builder`, returning ONNX Runtime's reason when it cannot.
///
/// cuDNN picks convolution algorithms by heuristic rather than by its default exhaustive
/// benchmark, which runs again for every new input shape (each texture size, each batch
/// size): one of the reasons small image bakes measured slower on an H100 than on its CPU
/// (issue #13). Not yet measured on a GPU.
pub(crate) fn register_cuda(builder: &mut SessionBuilder) -> Result<(), String> {
    ep::CUDA::default()
        .with_conv_algorithm_search(ep::cuda::ConvAlgorithmSearch::Heuristic)
        .build()
        .error_on_failure()
        .register(builder)
        .map_err(|err| err.to_string())
}

/// Logs the `auto` fallback once per process; every session still records its own reason.
pub(crate) fn warn_cuda_fallback(reason: &str) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        tracing::warn!("CUDA is unavailable ({reason}); running on CPU. Use --ep cpu to silence this or --ep cuda to require CUDA.");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policy_names_case_insensitively() {
        assert_eq!("CUDA".parse(), Ok(ProviderPolicy::Cuda));
        assert_eq!("cpu".parse(), Ok(ProviderPolicy::Cpu));
        assert_eq!("auto".parse(), Ok(ProviderPolicy::Auto));
        let err = "tpu".parse::<ProviderPolicy>().unwrap_err();
        assert!(err.contains("auto, cpu or cuda"), "{err}");
    }
}
