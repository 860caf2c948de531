//! Remembering that a library matched its recorded sha256, so that an unchanged file is hashed
//! once rather than at every start (ONNX Runtime is ~35 MB: tens of milliseconds a process).
//! A stamp holds the file's [`FileIdentity`] and the hash it matched; a file changed within
//! [`FileIdentity::SETTLE`] is never stamped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::identity::FileIdentity;

/// The stamps kept in one folder (`<cache>/verified/`), one small file per library path.
#[derive(Clone, Debug)]
pub(crate) struct Stamps {
    dir: PathBuf,
    settle: Duration,
}

impl Stamps {
    /// The stamps under Kiln's cache folder `cache_dir`.
    pub(crate) fn in_cache(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join("verified"),
            settle: FileIdentity::SETTLE,
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
        let Some(identity) = FileIdentity::of(library) else {
            return false;
        };
        std::fs::read_to_string(self.stamp_path(library))
            .is_ok_and(|line| line == stamp_line(library, identity, hash))
    }

    /// Remembers that `library`, as it was when it was read (`read_as`, its identity then),
    /// matched `hash`; not if it has changed since, or changed too recently before to be told
    /// apart from a later change. Best effort: a cache that cannot be written only means
    /// hashing again next time.
    pub(crate) fn remember(&self, library: &Path, read_as: Option<FileIdentity>, hash: &str) {
        let Some(identity) = read_as.filter(|id| id.vouches_for_read(library, self.settle)) else {
            return;
        };
        let line = stamp_line(library, identity, hash);
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

/// What a stamp of `library` holds.
fn stamp_line(library: &Path, identity: FileIdentity, hash: &str) -> String {
    format!("{} {identity} sha256={hash}\n", library.display())
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
        stamps.remember(&library, FileIdentity::of(&library), "abc");
        assert!(stamps.vouch_for(&library, "abc"));
        assert!(!stamps.vouch_for(&library, "abd"), "another recorded hash");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&library, b"library bytez").expect("edit");
        assert!(!stamps.vouch_for(&library, "abc"), "edited since stamped");
    }

    #[test]
    fn a_file_changed_while_it_was_hashed_is_not_stamped() {
        let (dir, library) = library();
        let stamps = Stamps::settled_at_once(dir.path());
        let read_as = FileIdentity::of(&library);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&library, b"library bytez").expect("edit");
        stamps.remember(&library, read_as, "abc");
        assert!(!stamps.vouch_for(&library, "abc"));
    }

    #[test]
    fn a_file_changed_just_now_is_not_stamped() {
        let (dir, library) = library();
        let stamps = Stamps::in_cache(dir.path());
        stamps.remember(&library, FileIdentity::of(&library), "abc");
        assert!(!stamps.vouch_for(&library, "abc"));
        assert!(!dir.path().join("verified").exists());
    }
}
