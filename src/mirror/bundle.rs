//! What a mirror-to-disk run puts in its archives, and nothing else: the cache's repositories
//! tree, the blobs of the mirrored images that earlier archives (per the history) do not already
//! hold, the configuration, and the few working-dir files disk to mirror reads to make the same
//! selection offline (the releases' update graphs and signatures). The images' blobs are found
//! by walking their manifests in the cache: manifests (index and children) are blobs too in the
//! distribution layout.
//!
//! The rest of the working dir stays out: `logs/`, `dry-run/` and `cluster-resources/` belong to
//! the run that wrote them (disk to mirror writes its own cluster resources), and `.history` is
//! the mirror-to-disk side's own record of what went into archives.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::archive::{self, CACHE_PREFIX, Member, WORKING_DIR};
use super::cache::{self, Cache};
use super::plan::ImagePlan;
use crate::manifest::{self, Kind};
use crate::reference::{Digest, Reference};

/// Why the archive content could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cache lacks or can't read something a mirrored image needs.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// A cached manifest does not parse.
    #[error("cached manifest {digest}: {source}")]
    Manifest {
        /// Its digest.
        digest: Digest,
        /// Why.
        source: manifest::Error,
    },
    /// Listing files failed.
    #[error(transparent)]
    Archive(#[from] archive::Error),
}

/// Every blob (manifests included) the images need, read from the cache.
///
/// # Errors
/// [`Error`] when a manifest is missing or unparsable.
pub async fn blobs_of(cache: &Cache, images: &[&ImagePlan]) -> Result<BTreeSet<Digest>, Error> {
    let mut out = BTreeSet::new();
    for image in images {
        let repo = image.destination.repository();
        let mut pending = vec![image.destination.reference()];
        while let Some(reference) = pending.pop() {
            let m = cache.get_manifest(repo, &reference).await?;
            let parsed = manifest::parse(None, &m.bytes)
                .map_err(|source| Error::Manifest { digest: m.digest.clone(), source })?;
            out.insert(m.digest);
            match parsed.kind {
                Kind::Index => pending.extend(parsed.children.iter().map(|c| Reference::Digest(c.digest.clone()))),
                Kind::Image => out.extend(parsed.blobs.iter().filter(|d| !d.foreign).map(|d| d.digest.clone())),
            }
        }
    }
    Ok(out)
}

/// The archive members: repositories tree, the working-dir files named in `kept` (relative to
/// `working_dir`; those that do not exist are skipped), the configuration, then `blobs`.
///
/// # Errors
/// [`Error::Archive`] when a directory can't be listed.
pub fn members(
    cache: &Cache,
    working_dir: &Path,
    kept: &[PathBuf],
    config: &Path,
    blobs: &BTreeSet<Digest>,
) -> Result<Vec<Member>, Error> {
    let mut out = archive::collect_tree(
        &cache.v2().join("repositories"),
        &format!("{CACHE_PREFIX}/repositories"),
        &["_uploads"],
    )?;
    let mut kept: Vec<&PathBuf> = kept.iter().collect();
    kept.sort();
    kept.dedup();
    for relative in kept {
        let source = working_dir.join(relative);
        if !source.is_file() {
            continue;
        }
        let parts: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
        out.push(Member { source, name: format!("{WORKING_DIR}/{}", parts.join("/")) });
    }
    let stamp = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    out.push(Member { source: config.to_path_buf(), name: format!("isc_{stamp}") });
    for d in blobs {
        out.push(Member {
            source: cache.blob_path(d),
            name: format!("{CACHE_PREFIX}/{}", cache::blob_relative_path(d).to_string_lossy()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive packed stale `dry-run/` files and an earlier run's `cluster-resources`.
    #[test]
    fn only_the_named_working_dir_files_are_packed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(&dir.path().join("cache"));
        let working_dir = dir.path().join("working-dir");
        let files = [
            "logs/mirroring_errors_20240101_000000.txt",
            "dry-run/mapping.txt",
            "cluster-resources/idms-oc-mirror.yaml",
            ".history/history-2024-01-01T00:00:00Z",
            "hold-release/cincinnati-graph-data/amd64-stable-4.2.json",
            "signatures/4.2.4-x86_64-sha256-abcd",
        ];
        for f in files {
            let path = working_dir.join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, f).expect("write");
        }
        let link = cache.v2().join("repositories/a/_manifests/tags/v1/current/link");
        std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        std::fs::write(&link, "sha256:00").expect("link");
        let config = dir.path().join("isc.yaml");
        std::fs::write(&config, "kind: ImageSetConfiguration").expect("config");
        let kept = [
            PathBuf::from("hold-release/cincinnati-graph-data/amd64-stable-4.2.json"),
            PathBuf::from("signatures/4.2.4-x86_64-sha256-abcd"),
            PathBuf::from("signatures/missing-sha256-ef01"),
        ];
        let members = members(&cache, &working_dir, &kept, &config, &BTreeSet::new()).expect("members");
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).filter(|n| !n.starts_with("isc_")).collect();
        assert_eq!(
            names,
            vec![
                "docker/registry/v2/repositories/a/_manifests/tags/v1/current/link",
                "working-dir/hold-release/cincinnati-graph-data/amd64-stable-4.2.json",
                "working-dir/signatures/4.2.4-x86_64-sha256-abcd",
            ]
        );
        assert_eq!(members.iter().filter(|m| m.name.starts_with("isc_")).count(), 1, "the configuration");
    }
}
