//! Reading one directory out of an image's layers: the layers are applied in order, as a
//! container runtime would (OCI image-spec "Applying Changesets"), whiteouts included, but only
//! entries below the wanted directory are written. Layers are tar, gzip or zstd (recognised by
//! their first bytes, whatever the media type says), read as streams.

use std::path::{Path, PathBuf};

/// Why a directory could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A layer is not a tar stream in a known compression, or an entry is unsafe.
    #[error("layer {path}: {message}")]
    Layer {
        /// The layer's blob file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes what the directory `subtree` (for example `/configs`, from the catalog label) holds
/// after applying `layers` (blob files, lowest first) into `out` (created; must not exist).
/// Regular files and directories are written; symlinks, devices and hard links below `subtree`
/// are skipped with a warning. Returns the number of files written.
///
/// # Errors
/// [`Error`]; entries whose path leaves the root (`..`) are refused.
pub fn extract_subtree(_layers: &[PathBuf], _subtree: &str, _out: &Path) -> Result<usize, Error> {
    unimplemented!()
}
