//! Telling that a file is unchanged without reading it, as git's index does: its device,
//! inode, size, and modification and change times. Any write changes the change time, which no
//! tool can set back. Kiln uses it to hash ONNX Runtime once ([`crate::stamps`]) and to read a
//! model's files again only when one changed (`kiln_engine::ModelRegistry`).

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A file's identity at one moment (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
    bytes: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileIdentity {
    /// How long a file must have been left alone before its identity is trusted: a second
    /// write within the same clock tick as the first could leave every field equal.
    pub const SETTLE: Duration = Duration::from_secs(2);

    /// The identity of the file at `path` now; `None` if it cannot be read, or off Unix (where
    /// callers read the file every time).
    #[cfg(unix)]
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            device: m.dev(),
            inode: m.ino(),
            bytes: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
            changed: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// The identity of the file at `path` now; `None` if it cannot be read, or off Unix (where
    /// callers read the file every time).
    #[cfg(not(unix))]
    pub fn of(_path: &Path) -> Option<Self> {
        None
    }

    /// Whether this identity, taken of `path` before it was read, vouches for what was read:
    /// the file had been left alone for `settle` then, and is unchanged now.
    pub fn vouches_for_read(&self, path: &Path, settle: Duration) -> bool {
        self.settled(settle) && Self::of(path).as_ref() == Some(self)
    }

    /// Whether the file was last written or changed at least `settle` ago (see
    /// [`FileIdentity::SETTLE`]).
    pub fn settled(&self, settle: Duration) -> bool {
        let at = |(seconds, nanos): (i64, i64)| {
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(
                u64::try_from(seconds).ok()?,
                u32::try_from(nanos).ok()?,
            ))
        };
        let (Some(modified), Some(changed)) = (at(self.modified), at(self.changed)) else {
            return false;
        };
        SystemTime::now()
            .duration_since(modified.max(changed))
            .is_ok_and(|age| age >= settle)
    }
}

impl fmt::Display for FileIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dev {} ino {} bytes {} modified {}.{:09} changed {}.{:09}",
            self.device,
            self.inode,
            self.bytes,
            self.modified.0,
            self.modified.1,
            self.changed.0,
            self.changed.1
        )
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn an_edit_changes_the_identity_even_with_the_size_and_mtime_put_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("file");
        std::fs::write(&path, b"library bytes").expect("write");
        let before = FileIdentity::of(&path).expect("identity");
        assert_eq!(FileIdentity::of(&path), Some(before), "unchanged");
        assert!(before.vouches_for_read(&path, Duration::ZERO));
        assert!(
            !before.vouches_for_read(&path, FileIdentity::SETTLE),
            "written just now"
        );
        let modified = std::fs::metadata(&path).and_then(|m| m.modified());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"library bytez").expect("edit");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|file| file.set_modified(modified.expect("mtime")))
            .expect("set mtime");
        assert_ne!(FileIdentity::of(&path), Some(before));
        assert!(
            !before.vouches_for_read(&path, Duration::ZERO),
            "edited since"
        );
        assert!(before.settled(Duration::ZERO));
        assert!(!before.settled(FileIdentity::SETTLE), "written just now");
        assert_eq!(FileIdentity::of(&dir.path().join("missing")), None);
    }
}
