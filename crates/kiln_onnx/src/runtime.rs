//! The process-wide ONNX Runtime: found, version-checked and loaded once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::logging::LogLevel;

use crate::discovery::{Candidate, LibrarySource, MIN_MINOR_VERSION, SearchPlaces};
use crate::fetch::{FetchError, fetch_runtime};
use crate::stamps::Stamps;

/// Environment variable that, when set to `1`, forbids fetching ONNX Runtime.
pub const NO_FETCH_ENV: &str = "KILN_NO_FETCH";

/// Environment variable that, set before ONNX Runtime loads, keeps it from starting its
/// telemetry (see [`disable_telemetry`]).
pub const NO_TELEMETRY_ENV: &str = "ORT_DISABLE_TELEMETRY";

/// Keeps ONNX Runtime from recording telemetry in this process, unless `ORT_DISABLE_TELEMETRY`
/// is already set to something (then the user's choice stands).
///
/// Microsoft's Linux builds (the `onnxruntime` wheel, 1.32) start a telemetry client when the
/// library is initialised: it records an event for every process (program path, OS, a device
/// id) in `~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db` to upload, and
/// syncs that file at exit. `DisableTelemetryEvents`, which Kiln also calls, does not stop it;
/// only this variable does, read when the library starts.
///
/// # Safety
///
/// It sets an environment variable, so, as with [`std::env::set_var`], no other thread may be
/// reading or writing the environment: call it first thing in `main`, before any thread starts.
pub unsafe fn disable_telemetry() {
    if std::env::var_os(NO_TELEMETRY_ENV).is_none_or(|value| value.is_empty()) {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var(NO_TELEMETRY_ENV, "1") };
    }
}

/// ONNX Runtime could not be made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No usable library anywhere Kiln looks, and fetching was not allowed.
    #[error(
        "ONNX Runtime was not found. Looked in:\n  - {}\n\
         fix: unset {NO_FETCH_ENV} to let Kiln fetch it, `pip install onnxruntime`, \
         or set ORT_DYLIB_PATH to libonnxruntime 1.{MIN_MINOR_VERSION} or newer",
        looked.join("\n  - ")
    )]
    NotFound {
        /// Every place searched, with why it did not serve.
        looked: Vec<String>,
    },
    /// Nothing usable was found and fetching failed too.
    #[error("ONNX Runtime was not found (looked in: {}), and fetching it failed: {source}", looked.join("; "))]
    Fetch {
        /// Every place searched, with why it did not serve.
        looked: Vec<String>,
        /// Why fetching failed.
        source: FetchError,
    },
    /// The library named by `ORT_DYLIB_PATH` cannot be used.
    #[error(
        "ORT_DYLIB_PATH={path}: {reason}\nfix: point it at libonnxruntime 1.{MIN_MINOR_VERSION} or newer, or unset it"
    )]
    BadExplicitLibrary {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// `ort` refused to initialise with the library.
    #[error("ONNX Runtime at {path} failed to initialise: {message}")]
    Init {
        /// The library.
        path: PathBuf,
        /// What `ort` said.
        message: String,
    },
}

/// The loaded ONNX Runtime.
#[derive(Debug)]
pub struct Runtime {
    library: Candidate,
    version: String,
    skipped: Vec<String>,
    pub(crate) environment: ort::environment::Environment,
    /// The probe's handle on the library, kept so that it stays loaded: dropped, it would be
    /// unloaded and `ort` would map, relocate and initialise all of it a second time.
    _probed: libloading::Library,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

impl Runtime {
    /// The process's runtime, loading it on first use from [`SearchPlaces::from_environment`]
    /// (fetching it when nothing is found, unless `KILN_NO_FETCH=1`).
    ///
    /// A failure is not remembered: fixing the installation and calling again works.
    pub fn global() -> Result<&'static Runtime, RuntimeError> {
        if let Some(runtime) = RUNTIME.get() {
            return Ok(runtime);
        }
        let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(runtime) = RUNTIME.get() {
            return Ok(runtime);
        }
        let allow_fetch = std::env::var_os(NO_FETCH_ENV).is_none_or(|v| v != "1");
        let runtime = Self::load(&SearchPlaces::from_environment(), allow_fetch)?;
        Ok(RUNTIME.get_or_init(|| runtime))
    }

    fn load(places: &SearchPlaces, allow_fetch: bool) -> Result<Self, RuntimeError> {
        let stamps = Stamps::in_cache(&places.cache_dir);
        let mut looked = Vec::new();
        for found in places.search() {
            let candidate = match found {
                Ok(candidate) => candidate,
                Err(place) => {
                    looked.push(place);
                    continue;
                }
            };
            match probe(&candidate.path, Some(&stamps)) {
                Ok(probed) => return Self::init(candidate, probed, looked),
                Err(reason) if candidate.source == LibrarySource::EnvVar => {
                    return Err(RuntimeError::BadExplicitLibrary {
                        path: candidate.path,
                        reason,
                    });
                }
                Err(reason) => {
                    tracing::warn!(
                        "skipping ONNX Runtime at {}: {reason}",
                        candidate.path.display()
                    );
                    looked.push(format!(
                        "{} ({}): {reason}",
                        candidate.path.display(),
                        candidate.source
                    ));
                }
            }
        }
        if !allow_fetch {
            return Err(RuntimeError::NotFound { looked });
        }
        let target = places.cached_runtime_dir();
        let python = places
            .python
            .clone()
            .unwrap_or_else(crate::discovery::python);
        tracing::warn!(
            "ONNX Runtime not found; fetching onnxruntime=={} with pip into {} (one time only)",
            crate::discovery::PINNED_VERSION,
            target.display()
        );
        let path = fetch_runtime(&python, &target).map_err(|source| RuntimeError::Fetch {
            looked: looked.clone(),
            source,
        })?;
        let probed = probe(&path, Some(&stamps)).map_err(|reason| RuntimeError::Init {
            path: path.clone(),
            message: reason,
        })?;
        let candidate = Candidate {
            path,
            source: LibrarySource::Fetched,
        };
        Self::init(candidate, probed, looked)
    }

    fn init(
        library: Candidate,
        Probed { version, loaded }: Probed,
        skipped: Vec<String>,
    ) -> Result<Self, RuntimeError> {
        let init_error = |message: String| RuntimeError::Init {
            path: library.path.clone(),
            message,
        };
        let environment = ort::init_from(&library.path)
            .map_err(|err| init_error(err.to_string()))?
            .with_name("kiln")
            // A content pipeline reports nothing about its user's models (see also
            // `disable_telemetry`, which alone stops the Linux builds' telemetry client).
            .with_telemetry(false)
            .with_logger(Arc::new(forward_log))
            .build()
            .map_err(|err| init_error(err.to_string()))?;
        tracing::info!(
            "ONNX Runtime {version} loaded from {} ({})",
            library.path.display(),
            library.source
        );
        Ok(Self {
            library,
            version,
            skipped,
            environment,
            _probed: loaded,
        })
    }

    /// The library file in use.
    pub fn library_path(&self) -> &Path {
        &self.library.path
    }

    /// Which search rule found the library.
    pub fn source(&self) -> LibrarySource {
        self.library.source
    }

    /// The library's own version string, e.g. `1.32.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Places searched before the library in use was found.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// ONNX Runtime's own log messages, at Kiln's verbose level (`-v`) rather than among Kiln's
/// warnings: what matters to a user (a provider that does not load, a failed run) reaches
/// them as an error or a one-line notice of Kiln's; the rest ("Memcpy nodes are added…",
/// "Some nodes were not assigned…") is detail for whoever is tuning.
fn forward_log(level: LogLevel, category: &str, _id: &str, location: &str, message: &str) {
    match level {
        LogLevel::Warning | LogLevel::Error | LogLevel::Fatal => {
            tracing::info!(target: "onnxruntime", "{category} ({location}): {message}");
        }
        LogLevel::Info | LogLevel::Verbose => {
            tracing::debug!(target: "onnxruntime", "{category} ({location}): {message}");
        }
    }
}

/// Opens the library at `path` and asks its version, without initialising it.
/// Fails when the file is missing, damaged, not a library, or older than `ort` supports.
pub fn probe_version(path: &Path) -> Result<String, String> {
    probe(path, None).map(|probed| probed.version)
}

/// A library that passed [`probe`]: its version, and the handle that loaded it.
struct Probed {
    version: String,
    loaded: libloading::Library,
}

/// [`probe_version`], keeping the library loaded; with `stamps`, a library unchanged since its
/// sha256 last matched its record is not hashed again.
fn probe(path: &Path, stamps: Option<&Stamps>) -> Result<Probed, String> {
    if !path.is_file() {
        return Err("no such file".to_owned());
    }
    // Loading a cut-off library (a half-copied cache) crashes with SIGBUS instead of failing.
    check_complete(path)?;
    crate::fetch::check_recorded(path, stamps)?;
    // SAFETY: loading ONNX Runtime runs only its static initialisers, which have no
    // preconditions; `OrtGetApiBase` and `GetVersionString` take no arguments and return
    // pointers into the library's static data, valid while `loaded` is.
    let (version, loaded) = unsafe {
        let loaded = libloading::Library::new(path).map_err(|err| err.to_string())?;
        let get_base: libloading::Symbol<
            unsafe extern "system" fn() -> *const ort::sys::OrtApiBase,
        > = loaded
            .get(b"OrtGetApiBase")
            .map_err(|_| "not an ONNX Runtime library (no OrtGetApiBase)".to_owned())?;
        let base = get_base();
        if base.is_null() {
            return Err("OrtGetApiBase returned null".to_owned());
        }
        let version = std::ffi::CStr::from_ptr(((*base).GetVersionString)())
            .to_string_lossy()
            .into_owned();
        (version, loaded)
    };
    let minor: Option<u32> = version.split('.').nth(1).and_then(|m| m.parse().ok());
    match minor {
        Some(minor) if minor >= MIN_MINOR_VERSION => Ok(Probed { version, loaded }),
        _ => Err(format!(
            "version {version} is too old: Kiln needs 1.{MIN_MINOR_VERSION} or newer"
        )),
    }
}

/// Refuses an ELF library that ends before its own section headers do: a file cut off while
/// being copied, which `dlopen` would map and crash on. Other formats pass unchecked.
fn check_complete(path: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let mut header = [0u8; 64];
    let length = std::fs::metadata(path)
        .map_err(|err| err.to_string())?
        .len();
    let read = std::fs::File::open(path)
        .and_then(|mut file| file.read(&mut header))
        .map_err(|err| err.to_string())?;
    if read < 52 || header[..4] != *b"\x7fELF" || header[5] != 1 {
        return Ok(()); // not a little-endian ELF file: left to the loader
    }
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([header[at], header[at + 1]]));
    let (table, entry_size, entries) = match header[4] {
        1 => {
            let offset = u32::from_le_bytes([header[32], header[33], header[34], header[35]]);
            (u64::from(offset), u16_at(46), u16_at(48))
        }
        2 if read == 64 => {
            let mut offset = [0u8; 8];
            offset.copy_from_slice(&header[40..48]);
            (u64::from_le_bytes(offset), u16_at(58), u16_at(60))
        }
        _ => return Ok(()),
    };
    let needed = table.saturating_add(entry_size * entries);
    if needed > length {
        return Err(format!(
            "the file is cut off ({length} bytes; its headers need {needed}): a half-copied \
             download or cache; delete it and let Kiln fetch it again (`kiln doctor`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_rejects_files_that_are_not_libraries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an ELF").expect("write");
        assert!(probe_version(&fake).is_err());
        assert_eq!(
            probe_version(&dir.path().join("missing.so")),
            Err("no such file".to_owned())
        );
    }

    #[test]
    fn explicit_bad_library_is_an_error_not_a_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an ELF").expect("write");
        let places = SearchPlaces {
            env_path: Some(fake.clone()),
            cache_dir: dir.path().join("cache"),
            ..SearchPlaces::default()
        };
        let err = Runtime::load(&places, false).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::BadExplicitLibrary { path, .. } if *path == fake),
            "{err}"
        );
        assert!(err.to_string().contains("fix:"), "{err}");
    }

    #[test]
    fn nothing_found_without_fetch_lists_every_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let places = SearchPlaces {
            cache_dir: dir.path().join("cache"),
            system_dirs: vec![dir.path().join("lib")],
            ..SearchPlaces::default()
        };
        let err = Runtime::load(&places, false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, RuntimeError::NotFound { .. }), "{text}");
        for place in [
            "ORT_DYLIB_PATH",
            "project cache",
            "executable",
            "pip package",
            "system library path",
        ] {
            assert!(text.contains(place), "{place} missing from: {text}");
        }
    }
}
