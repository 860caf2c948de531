use std::io::Write;
use std::path::Path;

/// Name prefix of the temporary files [`write_atomic`] renames into place.
pub(crate) const PARTIAL_PREFIX: &str = ".kiln-partial-";

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// the bytes go to a temporary file in the same folder, are flushed to disk and renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(PARTIAL_PREFIX);
    // Like `File::create` (0666 less the umask), not tempfile's private 0600: outputs are
    // artefacts other users and servers read.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/out.png");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second, longer").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.png"]);
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_the_permissions_of_an_ordinary_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let ordinary = dir.path().join("ordinary");
        std::fs::write(&ordinary, b"x").expect("write");
        write_atomic(&dir.path().join("atomic"), b"x").expect("write");
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .expect("stat")
                .permissions()
                .mode()
        };
        assert_eq!(mode("atomic"), mode("ordinary"));
    }

    #[test]
    fn failure_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.png");
        write_atomic(&path, b"good").expect("write");
        // A directory in the way of the rename: the write must fail and keep the old content.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("child")).expect("mkdir");
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).expect("read"), b"good");
        assert!(blocked.join("child").is_dir());
    }
}
