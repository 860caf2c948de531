//! Fetching the pinned ONNX Runtime wheel with pip into Kiln's cache.
//!
//! pip chooses the index (whatever the machine's pip is configured for); Kiln names no host.
//! The library is checked against the wheel's own `RECORD` hashes before it is installed,
//! and installed by renaming a complete folder, so a cache is either whole or absent.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::discovery::{LIBRARY_NAME, PINNED_VERSION, library_in};

/// Fetching ONNX Runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// pip could not be started or exited with an error.
    #[error(
        "`{python} -m pip download onnxruntime=={PINNED_VERSION}` failed: {detail}\n\
         fix: install it yourself (`pip install onnxruntime=={PINNED_VERSION}`) or set ORT_DYLIB_PATH to a \
         libonnxruntime 1.31 or newer"
    )]
    Pip {
        /// The interpreter that was used.
        python: String,
        /// pip's own words (last lines of its error output).
        detail: String,
    },
    /// The downloaded wheel is not what it should be.
    #[error("the onnxruntime wheel {wheel} is unusable: {reason}")]
    BadWheel {
        /// The wheel file.
        wheel: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The cache folder could not be written.
    #[error("cannot write the ONNX Runtime cache at {path}: {source}")]
    Cache {
        /// The folder being written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Fetches `onnxruntime==PINNED_VERSION` with `python -m pip download`, verifies the library
/// against the wheel's `RECORD` and installs it as `target_dir`. Returns the library path.
pub fn fetch_runtime(python: &OsStr, target_dir: &Path) -> Result<PathBuf, FetchError> {
    let parent = target_dir.parent().unwrap_or(Path::new("."));
    let cache_error = |source| FetchError::Cache {
        path: parent.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(cache_error)?;
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(cache_error)?;

    let wheel = download_wheel(python, staging.path())?;
    let unpacked = staging.path().join(PINNED_VERSION);
    std::fs::create_dir_all(&unpacked).map_err(cache_error)?;
    extract_verified_library(&wheel, &unpacked)?;

    match std::fs::rename(&unpacked, target_dir) {
        Ok(()) => {}
        // Another process installed it first: theirs is as good as ours.
        Err(_) if library_in(target_dir).is_some() => {}
        Err(source) => {
            return Err(FetchError::Cache {
                path: target_dir.to_path_buf(),
                source,
            });
        }
    }
    library_in(target_dir).ok_or_else(|| FetchError::BadWheel {
        wheel,
        reason: format!("no {LIBRARY_NAME} was installed"),
    })
}

fn download_wheel(python: &OsStr, dir: &Path) -> Result<PathBuf, FetchError> {
    let pip_error = |detail: String| FetchError::Pip {
        python: python.to_string_lossy().into_owned(),
        detail,
    };
    let output = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "--dest"])
        .arg(dir)
        .arg(format!("onnxruntime=={PINNED_VERSION}"))
        .output()
        .map_err(|err| pip_error(err.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(4).collect();
        return Err(pip_error(
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        ));
    }
    std::fs::read_dir(dir)
        .map_err(|err| pip_error(err.to_string()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| pip_error("pip reported success but saved no wheel".to_owned()))
}

/// Extracts `onnxruntime/capi/libonnxruntime*` from the wheel into `dest`, checking each
/// file's sha256 against the wheel's `RECORD`.
pub fn extract_verified_library(wheel: &Path, dest: &Path) -> Result<(), FetchError> {
    let bad = |reason: String| FetchError::BadWheel {
        wheel: wheel.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(wheel).map_err(|err| bad(err.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|err| bad(err.to_string()))?;
    let record_name = archive
        .file_names()
        .find(|name| name.ends_with(".dist-info/RECORD"))
        .map(str::to_owned)
        .ok_or_else(|| bad("it has no .dist-info/RECORD".to_owned()))?;
    let mut record = String::new();
    archive
        .by_name(&record_name)
        .and_then(|mut entry| entry.read_to_string(&mut record).map_err(Into::into))
        .map_err(|err| bad(format!("cannot read RECORD: {err}")))?;

    let prefix = format!("onnxruntime/capi/{LIBRARY_NAME}");
    let mut extracted = 0;
    for line in record.lines() {
        let mut fields = line.split(',');
        let (Some(name), Some(hash)) = (fields.next(), fields.next()) else {
            continue;
        };
        // The core library only: provider plug-ins (CUDA…) come from their own wheels.
        if !name.starts_with(&prefix) {
            continue;
        }
        let expected = hash
            .strip_prefix("sha256=")
            .ok_or_else(|| bad(format!("RECORD has no sha256 for {name}")))?;
        let mut bytes = Vec::new();
        archive
            .by_name(name)
            .and_then(|mut entry| entry.read_to_end(&mut bytes).map_err(Into::into))
            .map_err(|err| bad(format!("cannot extract {name}: {err}")))?;
        let actual =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(bad(format!(
                "{name} has sha256 {actual}, but RECORD says {expected}: the download is corrupt"
            )));
        }
        let file_name = Path::new(name)
            .file_name()
            .unwrap_or(OsStr::new(LIBRARY_NAME));
        let path = dest.join(file_name);
        std::fs::write(&path, &bytes).map_err(|source| FetchError::Cache { path, source })?;
        extracted += 1;
    }
    if extracted == 0 {
        return Err(bad(format!("it contains no {prefix}*")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn wheel_with(library: &[u8], recorded: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("onnxruntime-1.32.0-cp311-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let options = zip::write::SimpleFileOptions::default();
        let name = format!("onnxruntime/capi/{LIBRARY_NAME}.{PINNED_VERSION}");
        zip.start_file(&name, options).expect("start");
        zip.write_all(library).expect("write");
        let hash =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(recorded));
        zip.start_file("onnxruntime-1.32.0.dist-info/RECORD", options)
            .expect("start");
        write!(
            zip,
            "{name},sha256={hash},{}\nonnxruntime/__init__.py,,\n",
            library.len()
        )
        .expect("write");
        zip.finish().expect("finish");
        (dir, path)
    }

    #[test]
    fn extracts_a_library_that_matches_its_record() {
        let (dir, wheel) = wheel_with(b"library bytes", b"library bytes");
        let dest = dir.path().join("out");
        std::fs::create_dir_all(&dest).expect("mkdir");
        extract_verified_library(&wheel, &dest).expect("valid wheel");
        assert_eq!(
            std::fs::read(library_in(&dest).expect("installed")).expect("read"),
            b"library bytes"
        );
    }

    #[test]
    fn refuses_a_library_whose_hash_differs_from_record() {
        let (dir, wheel) = wheel_with(b"tampered bytes", b"library bytes");
        let dest = dir.path().join("out");
        std::fs::create_dir_all(&dest).expect("mkdir");
        let err = extract_verified_library(&wheel, &dest).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(library_in(&dest).is_none(), "nothing half-installed");
    }

    #[test]
    fn pip_failure_says_how_to_fix_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err =
            fetch_runtime(OsStr::new("/no/such/python"), &dir.path().join("ort")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ORT_DYLIB_PATH"), "{text}");
        assert!(!dir.path().join("ort").exists());
    }
}
