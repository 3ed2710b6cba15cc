//! File-based catalogs (FBC): the `configs` directory of an operator catalog image, read into
//! the model selection needs. Pure: reads files from a directory, never the network.
//!
//! Every `*.json`, `*.yaml` and `*.yml` file below the directory is read, in path order; a JSON
//! file may hold several concatenated documents, a YAML file several `---` documents. Schemas
//! read: `olm.package`, `olm.channel`, `olm.bundle` (others are kept for the rebuilt catalog but
//! not modelled). Documents are streamed; bundle blobs such as `olm.bundle.object` are not kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::version::{Range, Version};

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is malformed: names the file and the document (1-based).
    #[error("{path}: document {document}: {message}")]
    Document {
        /// The file.
        path: PathBuf,
        /// 1-based position of the document in the file.
        document: usize,
        /// What is wrong.
        message: String,
    },
    /// The documents do not form a consistent catalog (a channel of an unknown package, two
    /// bundles of one name, ...).
    #[error("catalog: {0}")]
    Inconsistent(String),
}

/// A whole catalog: packages by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Packages by name.
    pub packages: BTreeMap<String, Package>,
}

/// One operator package.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// `defaultChannel`.
    pub default_channel: String,
    /// Channels by name.
    pub channels: BTreeMap<String, Channel>,
    /// Bundles by name.
    pub bundles: BTreeMap<String, Bundle>,
}

/// One channel of a package: its upgrade graph entries.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// Entries in document order.
    pub entries: Vec<Entry>,
}

/// One entry of a channel.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Bundle name.
    pub name: String,
    /// The bundle this one replaces.
    pub replaces: Option<String>,
    /// Bundles this one skips.
    pub skips: Vec<String>,
    /// `skipRange`, as written.
    pub skip_range: Option<String>,
}

/// A `group/version/kind` an operator provides or requires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvk {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// One image a bundle's operator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedImage {
    /// `name`, may be empty.
    pub name: String,
    /// The image reference, as written.
    pub image: String,
}

/// One bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Bundle name (`pkg.v1.2.3` by convention).
    pub name: String,
    /// Its package.
    pub package: String,
    /// The bundle image reference, as written.
    pub image: String,
    /// From the `olm.package` property.
    pub version: Version,
    /// `relatedImages` (the bundle image itself may be among them).
    pub related_images: Vec<RelatedImage>,
    /// `olm.package.required`: package name and version range.
    pub required_packages: Vec<(String, Range)>,
    /// `olm.gvk.required`.
    pub required_gvks: Vec<Gvk>,
    /// `olm.gvk`: what it provides.
    pub provided_gvks: Vec<Gvk>,
    /// `displayName` from `olm.csv.metadata`, when present.
    pub display_name: Option<String>,
}

impl Channel {
    /// The channel head: the entry no other entry replaces or skips. When the graph has
    /// several such entries, the one with the highest version among them.
    #[must_use]
    pub fn head<'a>(&'a self, _bundles: &BTreeMap<String, Bundle>) -> Option<&'a Entry> {
        unimplemented!()
    }
}

/// Reads the catalog under `dir` (the extracted `configs` directory).
///
/// # Errors
/// [`Error::Io`], [`Error::Document`] naming the file and document, [`Error::Inconsistent`].
pub fn read_dir(_dir: &Path) -> Result<Catalog, Error> {
    unimplemented!()
}
