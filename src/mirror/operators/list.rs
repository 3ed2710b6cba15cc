//! `mirror list operators`: what a catalog offers, as the tables `oc-mirror list operators`
//! prints, so that an image set configuration can be written without another tool.
//!
//! ```text
//! --catalog REF                          NAME  DISPLAY NAME  DEFAULT CHANNEL   (one row a package)
//! --catalog REF --package P              the package's row, then PACKAGE  CHANNEL  HEAD
//! --catalog REF --package P --channel C  VERSIONS, lowest first
//! ```

use std::fmt::Write as _;

use super::fbc::{Catalog, Package};
use crate::mirror::version::Version;

/// What to list, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Request {
    /// The catalog reference (image or `oci://DIR`).
    pub catalog: String,
    /// Narrow to this package.
    pub package: Option<String>,
    /// Narrow to this channel of the package.
    pub channel: Option<String>,
    /// Parent of the cache directory (`--cache-dir`).
    pub cache_parent: Option<std::path::PathBuf>,
    /// `--authfile`.
    pub authfile: Option<std::path::PathBuf>,
    /// Check the registry's certificate.
    pub tls_verify: bool,
    /// Extra CA directories.
    pub cert_dirs: Vec<std::path::PathBuf>,
}

/// Why a listing could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The package or channel asked for is not in the catalog.
    #[error("{0}")]
    NotFound(String),
}

/// The table for `catalog`, narrowed to `package` and `channel` when given.
///
/// # Errors
/// [`Error::NotFound`] naming the missing package or channel and what exists.
pub fn render(catalog: &Catalog, package: Option<&str>, channel: Option<&str>) -> Result<String, Error> {
    let Some(name) = package else {
        let rows = catalog.packages.values().map(|p| vec![p.name.clone(), display_name(p), p.default_channel.clone()]);
        return Ok(table(&["NAME", "DISPLAY NAME", "DEFAULT CHANNEL"], rows));
    };
    let pkg = catalog.packages.get(name).ok_or_else(|| {
        let names: Vec<&str> = catalog.packages.keys().map(String::as_str).collect();
        Error::NotFound(format!("package {name:?} is not in the catalog; it has: {}", names.join(", ")))
    })?;
    match channel {
        None => {
            let mut out = table(
                &["NAME", "DISPLAY NAME", "DEFAULT CHANNEL"],
                [vec![pkg.name.clone(), display_name(pkg), pkg.default_channel.clone()]],
            );
            out.push('\n');
            let rows = pkg.channels.values().map(|c| {
                let head = c.head(&pkg.bundles).map(|e| e.name.clone()).unwrap_or_default();
                vec![pkg.name.clone(), c.name.clone(), head]
            });
            out.push_str(&table(&["PACKAGE", "CHANNEL", "HEAD"], rows));
            Ok(out)
        }
        Some(ch) => {
            let channel = pkg.channels.get(ch).ok_or_else(|| {
                let names: Vec<&str> = pkg.channels.keys().map(String::as_str).collect();
                Error::NotFound(format!("package {name:?} has no channel {ch:?}; it has: {}", names.join(", ")))
            })?;
            let mut versions: Vec<&Version> =
                channel.entries.iter().filter_map(|e| pkg.bundles.get(&e.name)).map(|b| &b.version).collect();
            versions.sort();
            versions.dedup();
            Ok(table(&["VERSIONS"], versions.into_iter().map(|v| vec![v.to_string()])))
        }
    }
}

/// The display name of the package's default channel head, where its CSV metadata has one.
fn display_name(pkg: &Package) -> String {
    pkg.channels
        .get(&pkg.default_channel)
        .and_then(|c| c.head(&pkg.bundles))
        .and_then(|e| pkg.bundles.get(&e.name))
        .and_then(|b| b.display_name.clone())
        .unwrap_or_default()
}

/// Left-aligned columns separated by two spaces, like `kubectl` and `oc-mirror` print them.
fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let t = table(&["NAME", "X"], [vec!["a-long-name".into(), "1".into()], vec!["b".into(), "22".into()]]);
        assert_eq!(t, "NAME         X\na-long-name  1\nb            22\n");
    }
}
