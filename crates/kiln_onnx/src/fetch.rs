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
use crate::identity::FileIdentity;
use crate::stamps::Stamps;

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

    if std::fs::rename(&unpacked, target_dir).is_err() && !is_verified_install(target_dir) {
        // Not another process's verified install (which would be as good as ours): a damaged
        // or unrecorded earlier one, replaced.
        let _ = std::fs::remove_dir_all(target_dir);
        std::fs::rename(&unpacked, target_dir).map_err(|source| FetchError::Cache {
            path: target_dir.to_path_buf(),
            source,
        })?;
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

    let prefix = format!("{PACKAGE_LIBRARY_DIR}/{LIBRARY_NAME}");
    let mut installed_record = String::new();
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
        let actual = record_hash(&bytes);
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
        installed_record.push_str(&format!(
            "{},sha256={actual},{}\n",
            file_name.to_string_lossy(),
            bytes.len()
        ));
    }
    if installed_record.is_empty() {
        return Err(bad(format!("it contains no {prefix}*")));
    }
    // Kept with the library, so every later load checks it is still what was verified.
    let path = dest.join(RECORD_FILE);
    std::fs::write(&path, installed_record).map_err(|source| FetchError::Cache { path, source })
}

/// Name of the file that lists each file's sha256 and size, in a wheel's `.dist-info` and
/// (for the library alone) next to a library Kiln fetched.
const RECORD_FILE: &str = "RECORD";

/// Where a wheel keeps the library, relative to its `site-packages` folder.
const PACKAGE_LIBRARY_DIR: &str = "onnxruntime/capi";

/// A hash as `RECORD` writes it: sha256, URL-safe base64 without padding.
fn record_hash(bytes: &[u8]) -> String {
    record_encoding(&Sha256::digest(bytes))
}

fn record_encoding(digest: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// How a library passed [`check_recorded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// No record lists it (a system or hand-built library).
    Unrecorded,
    /// Its sha256 was computed and matched.
    Hashed,
    /// A stamp vouched that it is unchanged since its sha256 last matched.
    Remembered,
}

/// Checks a library against the size and sha256 recorded when it was installed: the `RECORD`
/// next to a library Kiln fetched, or the `.dist-info/RECORD` of the pip package it belongs
/// to. A library with no record (a system or hand-built one) passes. With `stamps`, a library
/// unchanged since it last matched is not hashed again.
pub(crate) fn check_recorded(library: &Path, stamps: Option<&Stamps>) -> Result<Checked, String> {
    let Some((record_path, name)) = find_record(library) else {
        return Ok(Checked::Unrecorded);
    };
    let record = std::fs::read_to_string(&record_path)
        .map_err(|err| format!("cannot read {}: {err}", record_path.display()))?;
    let Some((hash, size)) = record.lines().find_map(|line| {
        let mut fields = line.split(',');
        (fields.next()? == name).then(|| (fields.next().unwrap_or(""), fields.next()))
    }) else {
        return Ok(Checked::Unrecorded);
    };
    let damaged = |what: String| {
        format!(
            "{what} {} records: the file is damaged (a half-copied cache or an edited file); \
             delete it and let Kiln fetch it again, or reinstall its package",
            record_path.display()
        )
    };
    let length = std::fs::metadata(library)
        .map_err(|err| err.to_string())?
        .len();
    if let Some(recorded) = size.and_then(|size| size.parse::<u64>().ok())
        && recorded != length
    {
        return Err(damaged(format!(
            "it has {length} bytes, not the {recorded} that"
        )));
    }
    let Some(expected) = hash.strip_prefix("sha256=") else {
        return Ok(Checked::Unrecorded);
    };
    if stamps.is_some_and(|stamps| stamps.vouch_for(library, expected)) {
        return Ok(Checked::Remembered);
    }
    // Streamed: the library is tens of MB.
    let read_as = FileIdentity::of(library);
    let mut hasher = Sha256::new();
    std::fs::File::open(library)
        .and_then(|mut file| std::io::copy(&mut file, &mut hasher))
        .map_err(|err| err.to_string())?;
    if record_encoding(&hasher.finalize()) != expected {
        return Err(damaged("its sha256 differs from the one".to_owned()));
    }
    if let Some(stamps) = stamps {
        stamps.remember(library, read_as, expected);
    }
    Ok(Checked::Hashed)
}

/// Whether `dir` holds a library Kiln fetched that still matches its `RECORD`.
fn is_verified_install(dir: &Path) -> bool {
    dir.join(RECORD_FILE).is_file()
        && library_in(dir).is_some_and(|library| check_recorded(&library, None).is_ok())
}

/// The `RECORD` that lists `library`, and the name it is listed under.
fn find_record(library: &Path) -> Option<(PathBuf, String)> {
    let folder = library.parent()?;
    let file_name = library.file_name()?.to_str()?;
    let beside = folder.join(RECORD_FILE);
    if beside.is_file() {
        return Some((beside, file_name.to_owned()));
    }
    if !folder.ends_with(PACKAGE_LIBRARY_DIR) {
        return None;
    }
    let site_packages = folder.parent()?.parent()?;
    let name = format!("{PACKAGE_LIBRARY_DIR}/{file_name}");
    std::fs::read_dir(site_packages)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|dir| {
            dir.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("onnxruntime") && name.ends_with(".dist-info"))
        })
        .map(|dir| dir.join(RECORD_FILE))
        .find(|record| {
            std::fs::read_to_string(record).is_ok_and(|text| {
                text.lines()
                    .any(|line| line.starts_with(&format!("{name},")))
            })
        })
        .map(|record| (record, name))
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
        let hash = record_hash(recorded);
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
    fn a_fetched_library_is_checked_against_its_record_on_every_load() {
        let (dir, wheel) = wheel_with(b"library bytes", b"library bytes");
        let dest = dir.path().join("out");
        std::fs::create_dir_all(&dest).expect("mkdir");
        extract_verified_library(&wheel, &dest).expect("valid wheel");
        let library = library_in(&dest).expect("installed");
        check_recorded(&library, None).expect("as fetched");
        std::fs::write(&library, b"library bytez").expect("edit");
        let err = check_recorded(&library, None).unwrap_err();
        assert!(err.contains("its sha256 differs from the one"), "{err}");
        assert!(!is_verified_install(&dest));
        std::fs::write(&library, b"library").expect("cut off");
        let err = check_recorded(&library, None).unwrap_err();
        assert!(
            err.contains("it has 7 bytes, not the 13 that") && err.contains("delete it"),
            "{err}"
        );
    }

    #[test]
    fn an_unchanged_library_is_hashed_once_and_an_edited_one_again() {
        let (dir, wheel) = wheel_with(b"library bytes", b"library bytes");
        let dest = dir.path().join("out");
        std::fs::create_dir_all(&dest).expect("mkdir");
        extract_verified_library(&wheel, &dest).expect("valid wheel");
        let library = library_in(&dest).expect("installed");
        let stamps = Stamps::settled_at_once(&dir.path().join("cache"));
        assert_eq!(check_recorded(&library, Some(&stamps)), Ok(Checked::Hashed));
        assert_eq!(
            check_recorded(&library, Some(&stamps)),
            Ok(Checked::Remembered)
        );
        assert_eq!(check_recorded(&library, None), Ok(Checked::Hashed));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&library, b"library bytez").expect("edit");
        let err = check_recorded(&library, Some(&stamps)).unwrap_err();
        assert!(err.contains("its sha256 differs from the one"), "{err}");
    }

    #[test]
    fn a_pip_installed_library_is_checked_against_its_package_record() {
        let site_packages = tempfile::tempdir().expect("tempdir");
        let capi = site_packages.path().join(PACKAGE_LIBRARY_DIR);
        std::fs::create_dir_all(&capi).expect("mkdir");
        let library = capi.join(format!("{LIBRARY_NAME}.{PINNED_VERSION}"));
        std::fs::write(&library, b"library bytes").expect("write");
        let dist_info = site_packages.path().join("onnxruntime-1.32.0.dist-info");
        std::fs::create_dir_all(&dist_info).expect("mkdir");
        std::fs::write(
            dist_info.join(RECORD_FILE),
            format!(
                "{PACKAGE_LIBRARY_DIR}/{LIBRARY_NAME}.{PINNED_VERSION},sha256={},13\n",
                record_hash(b"library bytes")
            ),
        )
        .expect("write");
        check_recorded(&library, None).expect("as installed");
        std::fs::write(&library, b"library bytez").expect("edit");
        assert!(check_recorded(&library, None).is_err());
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
