//! Building the filtered catalog image: one new layer that replaces the configs directory (an
//! opaque whiteout, then the filtered files), the config with that layer's diff ID and a history
//! entry appended (labels, `Cmd` and `Entrypoint` unchanged), and the manifest with the new
//! config and the layer appended. For a multi-arch catalog each platform's image gets the same
//! new layer, and the index points at the rebuilt children.
//!
//! Deterministic: the same filtered files give the same layer digest (sorted entries, zero
//! times and owners, fixed modes, gzip without name or time), so that a re-run pushes nothing
//! new.

use std::path::{Path, PathBuf};

use crate::manifest::Descriptor;
use crate::reference::Digest;

/// Why the image could not be rebuilt.
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
    /// The manifest, index or config is not what an image of this kind must be.
    #[error("{0}")]
    Invalid(String),
}

/// The new layer, written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The gzip-compressed tar.
    pub file: PathBuf,
    /// Digest of the compressed bytes.
    pub digest: Digest,
    /// Size of the compressed bytes.
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
}

/// Writes the layer: `<subtree>/.wh..wh..opq`, then every file of `dir` below `<subtree>/`, and a
/// whiteout for each path of `remove` (image-absolute paths such as `/tmp/cache`, for content
/// the filtering makes stale).
///
/// # Errors
/// [`Error::Io`].
pub fn build_layer(_dir: &Path, _subtree: &str, _remove: &[String], _out: &Path) -> Result<BuiltLayer, Error> {
    unimplemented!()
}

/// The config with `layer` appended: `rootfs.diff_ids` and a `history` entry whose
/// `created_by` is `comment`. Everything else is kept.
///
/// # Errors
/// [`Error::Invalid`] when the config is not an image config JSON object.
pub fn rebuild_config(_config: &[u8], _layer: &BuiltLayer, _comment: &str) -> Result<Vec<u8>, Error> {
    unimplemented!()
}

/// The image manifest with `config` as its config and `layer` appended (as a Docker or OCI gzip
/// layer, following the manifest's own format). `annotations` are added to an OCI manifest's
/// `annotations` (Docker manifests have none). Returns the bytes and the media type.
///
/// # Errors
/// [`Error::Invalid`] when `manifest` is not an image manifest.
pub fn rebuild_manifest(
    _manifest: &[u8],
    _config: &Descriptor,
    _layer: &BuiltLayer,
    _annotations: &[(String, String)],
) -> Result<(Vec<u8>, String), Error> {
    unimplemented!()
}

/// The index (or Docker manifest list) with each child whose digest is a key of `children`
/// replaced by the new descriptor (platform and other fields kept); `annotations` as for
/// [`rebuild_manifest`]. Returns the bytes and the media type.
///
/// # Errors
/// [`Error::Invalid`] when `index` is not an index.
pub fn rebuild_index(
    _index: &[u8],
    _children: &std::collections::HashMap<Digest, Descriptor>,
    _annotations: &[(String, String)],
) -> Result<(Vec<u8>, String), Error> {
    unimplemented!()
}

/// What a catalog config says about itself: the configs directory (label
/// `operators.operatorframework.io.index.configs.v1`) and the cache directory of `opm serve`
/// (`--cache-dir=DIR` or `--cache-dir DIR` in `Cmd` or `Entrypoint`), if any.
///
/// # Errors
/// [`Error::Invalid`] when the config is not JSON or lacks the label.
pub fn catalog_dirs(_config: &[u8]) -> Result<(String, Option<String>), Error> {
    unimplemented!()
}
