//! Writes the filtered catalog: the original documents of the selected packages, channels and
//! bundles, channels' entries pruned to the kept bundles, each package's `defaultChannel` set
//! to the selection's. Streams the original files document by document; bundle documents are
//! written as they were (property values untouched).

use std::path::{Path, PathBuf};

use super::select::Selection;

/// Why the filtered catalog could not be written.
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
    /// A document could not be read again.
    #[error("{path}: document {document}: {message}")]
    Document {
        /// The file.
        path: PathBuf,
        /// 1-based position of the document in the file.
        document: usize,
        /// What is wrong.
        message: String,
    },
}

/// Writes the documents of `src` (an FBC directory) that `selection` keeps into `out` (created;
/// must not exist), one `<package>/catalog.json` per package.
///
/// # Errors
/// [`Error`].
pub fn write_filtered(_src: &Path, _selection: &Selection, _out: &Path) -> Result<(), Error> {
    unimplemented!()
}
