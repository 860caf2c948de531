//! Remembering that a library matched its recorded sha256, so that an unchanged file is hashed
//! once rather than at every start (ONNX Runtime is ~35 MB: tens of milliseconds a process).
//!
//! A stamp is keyed on the file's identity, as git's index is: device, inode, size,
//! modification and change times. Any write changes the change time, which no tool can set
//! back. A file changed within the last [`Stamps::SETTLE`] is never stamped, so a second write
//! in the same clock tick as the check cannot hide behind the stamp.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The stamps kept in one folder (`<cache>/verified/`), one small file per library path.
#[derive(Clone, Debug)]
pub(crate) struct Stamps {
    dir: PathBuf,
    settle: Duration,
}

impl Stamps {
    /// How long a file must be left unchanged before it may be stamped.
    pub(crate) const SETTLE: Duration = Duration::from_secs(2);

    /// The stamps under Kiln's cache folder `cache_dir`.
    pub(crate) fn in_cache(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join("verified"),
            settle: Self::SETTLE,
        }
    }

    /// Stamps that take a file as settled at once (for tests, which cannot wait).
    #[cfg(test)]
    pub(crate) fn settled_at_once(cache_dir: &Path) -> Self {
        Self {
            settle: Duration::ZERO,
            ..Self::in_cache(cache_dir)
        }
    }

    /// Whether `library` is unchanged since it was stamped as matching `hash`.
    pub(crate) fn vouch_for(&self, library: &Path, hash: &str) -> bool {
        let Some(expected) = stamp_line(library, hash) else {
            return false;
        };
        std::fs::read_to_string(self.stamp_path(library)).is_ok_and(|line| line == expected)
    }

    /// Remembers that `library` matched `hash`, unless it changed too recently to be
    /// told apart from a later change. Best effort: a cache that cannot be written only means
    /// hashing again next time.
    pub(crate) fn remember(&self, library: &Path, hash: &str) {
        let Ok(metadata) = std::fs::metadata(library) else {
            return;
        };
        let settled = changed_at(&metadata)
            .and_then(|changed| SystemTime::now().duration_since(changed).ok())
            .is_some_and(|age| age >= self.settle);
        let Some(line) = stamp_line(library, hash).filter(|_| settled) else {
            return;
        };
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut file, line.as_bytes())?;
            file.persist(self.stamp_path(library))
                .map(drop)
                .map_err(|err| err.error)
        });
        if let Err(err) = written {
            tracing::debug!("cannot remember {} as verified: {err}", library.display());
        }
    }

    fn stamp_path(&self, library: &Path) -> PathBuf {
        let key = crate::session::sha256_hex(library.as_os_str().as_encoded_bytes());
        self.dir.join(&key[..32])
    }
}

/// The line a stamp holds for `library` as it is now, or `None` where files have no identity
/// to key on (not Unix).
#[cfg(unix)]
fn stamp_line(library: &Path, hash: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(library).ok()?;
    Some(format!(
        "{} dev {} ino {} bytes {} modified {}.{:09} changed {}.{:09} sha256={hash}\n",
        library.display(),
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

#[cfg(not(unix))]
fn stamp_line(_library: &Path, _hash: &str) -> Option<String> {
    None
}

/// The later of the file's modification and change times.
#[cfg(unix)]
fn changed_at(metadata: &std::fs::Metadata) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt as _;
    let changed = SystemTime::UNIX_EPOCH.checked_add(Duration::new(
        u64::try_from(metadata.ctime()).ok()?,
        u32::try_from(metadata.ctime_nsec()).ok()?,
    ))?;
    Some(metadata.modified().ok()?.max(changed))
}

#[cfg(not(unix))]
fn changed_at(metadata: &std::fs::Metadata) -> Option<SystemTime> {
    metadata.modified().ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A folder holding a stand-in library file.
    fn library() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let library = dir.path().join("libonnxruntime.so");
        std::fs::write(&library, b"library bytes").expect("write");
        (dir, library)
    }

    #[test]
    fn a_stamp_vouches_only_for_the_unchanged_file_and_hash() {
        let (dir, library) = library();
        let stamps = Stamps::settled_at_once(dir.path());
        assert!(!stamps.vouch_for(&library, "abc"), "nothing stamped yet");
        stamps.remember(&library, "abc");
        assert!(stamps.vouch_for(&library, "abc"));
        assert!(!stamps.vouch_for(&library, "abd"), "another recorded hash");
        // Same size, and the modification time put back: the change time still differs.
        let modified = std::fs::metadata(&library).and_then(|m| m.modified());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&library, b"library bytez").expect("edit");
        std::fs::File::options()
            .write(true)
            .open(&library)
            .and_then(|file| file.set_modified(modified.expect("mtime")))
            .expect("set mtime");
        assert!(!stamps.vouch_for(&library, "abc"), "edited since stamped");
    }

    #[test]
    fn a_file_changed_just_now_is_not_stamped() {
        let (dir, library) = library();
        let stamps = Stamps::in_cache(dir.path());
        stamps.remember(&library, "abc");
        assert!(!stamps.vouch_for(&library, "abc"));
        assert!(!dir.path().join("verified").exists());
    }
}
