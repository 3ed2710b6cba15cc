//! Semantic versions (semver 2.0.0) of operator bundles, and the version ranges bundles use in
//! `olm.package.required` (blang/semver range syntax, as OLM reads them).
//!
//! Bundle versions are strict semver. Versions typed in an ImageSetConfiguration
//! (`minVersion`, `maxVersion`) are read leniently ([`Version::parse_lenient`]): an optional
//! `v`, and a missing minor or patch counts as 0 (`4.16` is `4.16.0`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version or range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a semantic version.
    #[error("{0:?} is not a semantic version")]
    Version(String),
    /// Not a version range.
    #[error("{0:?} is not a version range")]
    Range(String),
}

/// A semantic version. Ordered by semver precedence; build metadata does not count for
/// precedence but breaks ties so that the order is total and `Eq` agrees with `Ord`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    // private fields chosen by the implementation
    text: String,
}

impl Version {
    /// Parses a version typed by a user: optional `v`, one to three numbers.
    ///
    /// # Errors
    /// [`Error::Version`].
    pub fn parse_lenient(_text: &str) -> Result<Version, Error> {
        unimplemented!()
    }
}

impl FromStr for Version {
    type Err = Error;
    fn from_str(_s: &str) -> Result<Version, Error> {
        unimplemented!()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ord for Version {
    fn cmp(&self, _other: &Self) -> Ordering {
        unimplemented!()
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version range such as `>=1.2.0 <2.0.0 || 3.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    text: String,
}

impl Range {
    /// Whether `version` lies in the range.
    #[must_use]
    pub fn contains(&self, _version: &Version) -> bool {
        unimplemented!()
    }
}

impl FromStr for Range {
    type Err = Error;
    fn from_str(_s: &str) -> Result<Range, Error> {
        unimplemented!()
    }
}
