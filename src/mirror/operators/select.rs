//! Which bundles of a catalog an `operators:` entry selects, following the filtering table of
//! the oc-mirror v2 documentation, plus dependencies unless `skipDependencies` is set.
//! Pure: a function of the catalog and the configuration.

use std::collections::{BTreeMap, BTreeSet};

use super::fbc::Catalog;
use crate::mirror::imageset::Operator;

/// Why a selection could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A package, channel or bundle the configuration names is not in the catalog, or a filter
    /// selects nothing. The message names the package (and channel or bundle).
    #[error("{0}")]
    NotFound(String),
    /// A version in the configuration is not a semantic version.
    #[error("{0}")]
    Version(String),
}

/// What one `operators:` entry selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Selected packages by name.
    pub packages: BTreeMap<String, SelectedPackage>,
    /// Things worth telling the user (a default channel that had to change, ...).
    pub warnings: Vec<String>,
}

/// What is kept of one package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedPackage {
    /// `defaultChannel` of the rebuilt package (one of `channels`).
    pub default_channel: String,
    /// Kept channels, each with the bundles kept in it.
    pub channels: BTreeMap<String, BTreeSet<String>>,
    /// Every kept bundle of the package (the union of the channels').
    pub bundles: BTreeSet<String>,
}

impl Selection {
    /// Every selected `(package, bundle)` pair.
    pub fn bundles(&self) -> impl Iterator<Item = (&str, &str)> {
        self.packages.iter().flat_map(|(p, s)| s.bundles.iter().map(move |b| (p.as_str(), b.as_str())))
    }

    /// Everything in the catalog: what a `full: true` catalog without packages selects, and
    /// what a rebuilt catalog holds when read back.
    #[must_use]
    pub fn all(_catalog: &Catalog) -> Selection {
        unimplemented!()
    }
}

/// Selects the bundles `operator` asks for from `catalog`.
///
/// # Errors
/// [`Error`] naming the package, channel or bundle at fault.
pub fn select(_catalog: &Catalog, _operator: &Operator) -> Result<Selection, Error> {
    unimplemented!()
}
