//! Small files the client keeps between runs (update graphs, signatures, the blobs known on a
//! destination) are replaced whole: written under a temporary name next to the file, then
//! renamed over it, so a crash never leaves half a file under the real name.

use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, creating its directory. On failure, returns the path
/// at fault with the error.
///
/// # Errors
/// The path that could not be created, written or renamed, and why.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), (PathBuf, std::io::Error)> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4()));
    let written = std::fs::write(&tmp, bytes).map_err(|e| (tmp.clone(), e));
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/file");
        write_atomically(&path, b"one").expect("first");
        write_atomically(&path, b"two").expect("second");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).expect("dir").count(), 1);
        let blocked = dir.path().join("sub/file/under-a-file");
        assert!(write_atomically(&blocked, b"x").is_err());
    }
}
