//! The `operators:` source: operator catalogs (file-based catalogs) read, filtered and rebuilt.
//!
//! | module | owns |
//! | --- | --- |
//! | `version` | semantic versions and version ranges |
//! | `fbc` | reading a file-based catalog directory into packages, channels and bundles |
//! | `select` | which bundles an `operators:` entry selects (the docs' filtering table, dependencies) |
//! | `prune` | writing the filtered catalog's documents |
//! | `layers` | extracting the configs directory from an image's layers (whiteouts applied) |
//! | `rebuild` | the filtered catalog image: new layer, config, manifest, index |
//! | `layout` | `oci://` catalogs: OCI layouts imported into the cache |
//!
//! `version`, `fbc`, `select` and `prune` are pure functions over files and values, tested
//! without a network; the rest of this module drives them over the disk cache.

pub mod fbc;
pub mod layers;
pub mod layout;
pub mod prune;
pub mod rebuild;
pub mod select;
pub mod version;
