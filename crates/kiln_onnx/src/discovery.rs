//! Finding `libonnxruntime` on this machine.
//!
//! Places are searched in a fixed order and every place looked at is remembered,
//! so "not found" can say exactly where Kiln looked.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ONNX Runtime release Kiln fetches when none is installed (the `onnxruntime` wheel on PyPI).
pub const PINNED_VERSION: &str = "1.32.0";

/// Oldest ONNX Runtime minor version (`1.x`) that `ort` rc.15 can drive.
pub const MIN_MINOR_VERSION: u32 = 31;

/// File-name stem of the shared library on this platform.
#[cfg(target_os = "linux")]
pub const LIBRARY_NAME: &str = "libonnxruntime.so";
/// File-name stem of the shared library on this platform.
#[cfg(target_os = "macos")]
pub const LIBRARY_NAME: &str = "libonnxruntime.dylib";
/// File-name stem of the shared library on this platform.
#[cfg(target_os = "windows")]
pub const LIBRARY_NAME: &str = "onnxruntime.dll";

/// Environment variable naming the library file directly (the `ort` convention).
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// Environment variable overriding Kiln's cache folder (default: `<project>/.kiln`).
pub const CACHE_ENV: &str = "KILN_CACHE_DIR";
/// Environment variable naming the Python interpreter used to find or fetch the wheel.
pub const PYTHON_ENV: &str = "KILN_PYTHON";

/// Where a library was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// Kiln's project-local cache (`.kiln/onnxruntime/<version>/`).
    ProjectCache,
    /// The folder of the running executable (how a shipped game carries it).
    NextToExecutable,
    /// A pip-installed `onnxruntime` or `onnxruntime-gpu` package.
    PipPackage,
    /// The system library path (`LD_LIBRARY_PATH`, `/usr/lib`, …).
    SystemPath,
    /// Fetched by Kiln into the project cache during this run.
    Fetched,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EnvVar => DYLIB_ENV,
            Self::ProjectCache => "project cache",
            Self::NextToExecutable => "next to the executable",
            Self::PipPackage => "pip package onnxruntime",
            Self::SystemPath => "system library path",
            Self::Fetched => "fetched with pip into the project cache",
        })
    }
}

/// A library file and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The library file.
    pub path: PathBuf,
    /// Which rule found it.
    pub source: LibrarySource,
}

/// The places to search, captured from the process environment or set by hand (tests, tools).
#[derive(Clone, Debug, Default)]
pub struct SearchPlaces {
    /// Value of `ORT_DYLIB_PATH`, if set.
    pub env_path: Option<PathBuf>,
    /// Kiln's cache folder; the library lives in `onnxruntime/<version>/` below it.
    pub cache_dir: PathBuf,
    /// Folder of the running executable.
    pub exe_dir: Option<PathBuf>,
    /// Python interpreter to ask for a pip-installed `onnxruntime` (`None` skips that rule).
    pub python: Option<OsString>,
    /// System library folders, in search order.
    pub system_dirs: Vec<PathBuf>,
}

impl SearchPlaces {
    /// The places this process would search.
    pub fn from_environment() -> Self {
        Self {
            env_path: std::env::var_os(DYLIB_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            cache_dir: cache_dir(),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf)),
            python: Some(python()),
            system_dirs: system_dirs(),
        }
    }

    /// Folder holding the cached library of the pinned version.
    pub fn cached_runtime_dir(&self) -> PathBuf {
        self.cache_dir.join("onnxruntime").join(PINNED_VERSION)
    }

    /// Each place in search order, looked at only when the iterator reaches it: the library
    /// found there, or the place described for a "not found" message. Loading stops at the
    /// first library that works, so later places (asking Python for a pip package costs a
    /// process start) are not searched at all.
    ///
    /// An `ORT_DYLIB_PATH` that names a missing file is returned anyway so that loading
    /// reports it: an explicit choice must never be silently skipped.
    pub fn search(&self) -> impl Iterator<Item = Result<Candidate, String>> + '_ {
        SEARCH_ORDER.into_iter().map(|source| {
            let (path, place) = self.look_in(source);
            path.map(|path| Candidate { path, source }).ok_or(place)
        })
    }

    /// Every library found, in priority order, with the places that had none.
    pub fn candidates(&self) -> (Vec<Candidate>, Vec<String>) {
        let mut found = Vec::new();
        let mut looked = Vec::new();
        for result in self.search() {
            match result {
                Ok(candidate) => found.push(candidate),
                Err(place) => looked.push(place),
            }
        }
        (found, looked)
    }

    /// The library `source`'s rule finds, and the place it looks in.
    fn look_in(&self, source: LibrarySource) -> (Option<PathBuf>, String) {
        match source {
            LibrarySource::EnvVar => (self.env_path.clone(), format!("{DYLIB_ENV} (not set)")),
            LibrarySource::ProjectCache | LibrarySource::Fetched => {
                let cache = self.cached_runtime_dir();
                let place = format!("project cache {}", cache.display());
                (library_in(&cache), place)
            }
            LibrarySource::NextToExecutable => {
                let exe_dir = self.exe_dir.as_deref();
                let place = format!(
                    "next to the executable ({})",
                    exe_dir.map_or("unknown".into(), |d| d.display().to_string())
                );
                (exe_dir.and_then(library_in), place)
            }
            LibrarySource::PipPackage => (
                self.python
                    .as_deref()
                    .and_then(pip_package_dir)
                    .and_then(|dir| library_in(&dir.join("capi"))),
                "pip package onnxruntime / onnxruntime-gpu (not installed)".to_owned(),
            ),
            LibrarySource::SystemPath => (
                self.system_dirs.iter().find_map(|dir| library_in(dir)),
                format!(
                    "system library path ({})",
                    std::env::join_paths(&self.system_dirs)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
            ),
        }
    }
}

/// The search rules, in priority order.
const SEARCH_ORDER: [LibrarySource; 5] = [
    LibrarySource::EnvVar,
    LibrarySource::ProjectCache,
    LibrarySource::NextToExecutable,
    LibrarySource::PipPackage,
    LibrarySource::SystemPath,
];

/// The library file in `dir`: `libonnxruntime.so` itself, else the newest versioned name
/// (`libonnxruntime.so.1.32.0`). Provider plug-ins (`libonnxruntime_providers_*`) never match.
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    let exact = dir.join(LIBRARY_NAME);
    if exact.is_file() {
        return Some(exact);
    }
    let prefix = format!("{LIBRARY_NAME}.");
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    versioned.sort();
    versioned.pop()
}

/// Kiln's cache folder: `$KILN_CACHE_DIR`, else `.kiln` in the project folder — the nearest
/// ancestor of the working directory that has a `.kiln` or `.git` folder, else the working directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let project = [".kiln", ".git"]
        .iter()
        .find_map(|marker| cwd.ancestors().find(|dir| dir.join(marker).exists()))
        .unwrap_or(&cwd);
    project.join(".kiln")
}

/// The Python interpreter Kiln uses: `$KILN_PYTHON`, else `python3`.
pub fn python() -> OsString {
    std::env::var_os(PYTHON_ENV)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Folder of the `onnxruntime` Python package, found without importing it (fast, no side effects).
fn pip_package_dir(python: &std::ffi::OsStr) -> Option<PathBuf> {
    let script = "import importlib.util as u\n\
                  s = u.find_spec('onnxruntime')\n\
                  print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let output = Command::new(python).args(["-c", script]).output().ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

fn system_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/local/lib",
            "/usr/local/lib64",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/lib",
        ]
        .map(PathBuf::from),
    );
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, b"not really a library").expect("write");
    }

    /// One temporary tree with a library in every place, so removing them one by one
    /// shows the order.
    struct Tree {
        _root: tempfile::TempDir,
        places: SearchPlaces,
        files: Vec<PathBuf>,
    }

    fn tree() -> Tree {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        let env_file = r.join("custom/libonnxruntime.so.1.31.0");
        let cache = r.join("project/.kiln");
        let cached = cache
            .join("onnxruntime")
            .join(PINNED_VERSION)
            .join(format!("{LIBRARY_NAME}.{PINNED_VERSION}"));
        let exe = r.join("bin").join(LIBRARY_NAME);
        let system = r.join("usr/lib").join(format!("{LIBRARY_NAME}.1"));
        for file in [&env_file, &cached, &exe, &system] {
            touch(file);
        }
        let places = SearchPlaces {
            env_path: Some(env_file.clone()),
            cache_dir: cache,
            exe_dir: Some(r.join("bin")),
            python: None,
            system_dirs: vec![r.join("empty"), r.join("usr/lib")],
        };
        Tree {
            files: vec![env_file, cached, exe, system],
            places,
            _root: root,
        }
    }

    fn sources(places: &SearchPlaces) -> Vec<LibrarySource> {
        places
            .candidates()
            .0
            .into_iter()
            .map(|c| c.source)
            .collect()
    }

    #[test]
    fn searches_in_the_documented_order() {
        let mut tree = tree();
        use LibrarySource::*;
        assert_eq!(
            sources(&tree.places),
            [EnvVar, ProjectCache, NextToExecutable, SystemPath]
        );
        let (found, _) = tree.places.candidates();
        let paths: Vec<_> = found.into_iter().map(|c| c.path).collect();
        assert_eq!(paths, tree.files);

        tree.places.env_path = None;
        assert_eq!(
            sources(&tree.places),
            [ProjectCache, NextToExecutable, SystemPath]
        );
        std::fs::remove_file(&tree.files[1]).expect("rm");
        assert_eq!(sources(&tree.places), [NextToExecutable, SystemPath]);
        std::fs::remove_file(&tree.files[2]).expect("rm");
        assert_eq!(sources(&tree.places), [SystemPath]);
        std::fs::remove_file(&tree.files[3]).expect("rm");
        let (found, looked) = tree.places.candidates();
        assert!(found.is_empty());
        assert_eq!(looked.len(), 5, "{looked:?}");
        assert!(looked[1].contains(".kiln"), "{looked:?}");
    }

    #[test]
    fn explicit_env_path_is_kept_even_when_missing() {
        let mut tree = tree();
        tree.places.env_path = Some(PathBuf::from("/nowhere/libonnxruntime.so"));
        let (found, _) = tree.places.candidates();
        assert_eq!(found[0].path, Path::new("/nowhere/libonnxruntime.so"));
        assert_eq!(found[0].source, LibrarySource::EnvVar);
    }

    #[test]
    fn pip_package_is_found_through_python() {
        let root = tempfile::tempdir().expect("tempdir");
        let package = root.path().join("site/onnxruntime");
        touch(
            &package
                .join("capi")
                .join(format!("{LIBRARY_NAME}.{PINNED_VERSION}")),
        );
        touch(&package.join("capi/libonnxruntime_providers_shared.so"));
        touch(&package.join("__init__.py"));
        // A real interpreter with the package on its path stands in for `pip install`.
        if Command::new(python()).arg("--version").output().is_err() {
            eprintln!("no python interpreter: rule not exercised");
            return;
        }
        let wrapper = root.path().join("python-with-site");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nPYTHONPATH='{}' exec {} \"$@\"\n",
                root.path().join("site").display(),
                python().to_string_lossy()
            ),
        )
        .expect("write wrapper");
        make_executable(&wrapper);
        let places = SearchPlaces {
            cache_dir: root.path().join("no-cache"),
            python: Some(wrapper.into_os_string()),
            ..SearchPlaces::default()
        };
        let found = places.candidates().0;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].source, LibrarySource::PipPackage);
        assert!(
            found[0]
                .path
                .ends_with(format!("capi/{LIBRARY_NAME}.{PINNED_VERSION}"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn later_places_are_searched_only_when_reached() {
        let tree = tree();
        // An "interpreter" that leaves a mark when it is asked for the pip package.
        let mark = tree._root.path().join("python-was-asked");
        let python = tree._root.path().join("python-leaving-a-mark");
        std::fs::write(&python, format!("#!/bin/sh\ntouch '{}'\n", mark.display())).expect("write");
        make_executable(&python);
        let places = SearchPlaces {
            python: Some(python.into_os_string()),
            ..tree.places.clone()
        };
        let first = places.search().next().expect("a first place");
        assert_eq!(first.expect("found").source, LibrarySource::EnvVar);
        assert!(!mark.exists(), "the pip rule ran before it was reached");
        places.candidates();
        assert!(mark.exists(), "listing every candidate asks Python");
    }

    #[cfg(unix)]
    fn make_executable(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn versioned_names_pick_the_newest_and_skip_providers() {
        let root = tempfile::tempdir().expect("tempdir");
        for name in [
            "libonnxruntime.so.1.31.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_cuda.so",
        ] {
            touch(&root.path().join(name));
        }
        assert_eq!(
            library_in(root.path()).and_then(|p| p.file_name().map(|n| n.to_owned())),
            Some("libonnxruntime.so.1.32.0".into())
        );
    }
}
