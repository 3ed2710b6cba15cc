//! OCI image layouts on disk (`oci://DIR` catalogs): `oci-layout`, `index.json` and
//! `blobs/<alg>/<hex>`, imported into the disk cache so that the rest of the run treats the
//! catalog like one pulled from a registry. Every blob is verified against its digest on the way.

use std::path::{Path, PathBuf};

use crate::mirror::cache::Cache;
use crate::reference::{Digest, RepoName, Tag};

/// Why a layout could not be read.
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
    /// The directory is not an OCI layout, or its content does not match its digests.
    #[error("{path}: {message}")]
    Invalid {
        /// The layout or the file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] crate::mirror::cache::Error),
}

/// Copies the image of the layout at `dir` into `cache` under `repo`, tagged `tag` when given,
/// with every manifest and blob it references (an index's children too). The image is the one
/// `index.json` names with `org.opencontainers.image.ref.name` equal to `reference`, or, with no
/// reference, the only one it lists. Returns the root manifest's digest.
///
/// # Errors
/// [`Error`].
pub async fn import(
    _dir: &Path,
    _reference: Option<&str>,
    _cache: &Cache,
    _repo: &RepoName,
    _tag: Option<&Tag>,
) -> Result<Digest, Error> {
    unimplemented!()
}
