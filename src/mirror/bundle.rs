//! What a mirror-to-disk run puts in its archives: the cache's repositories tree, the working
//! dir, the configuration, and the blobs of the mirrored images that earlier archives (per the
//! history) do not already hold. The images' blobs are found by walking their manifests in the
//! cache: manifests (index and children) are blobs too in the distribution layout.

use std::collections::BTreeSet;
use std::path::Path;

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

/// The archive members: repositories tree, working dir, configuration, then `blobs`.
///
/// # Errors
/// [`Error::Archive`] when a directory can't be listed.
pub fn members(
    cache: &Cache,
    working_dir: &Path,
    config: &Path,
    blobs: &BTreeSet<Digest>,
) -> Result<Vec<Member>, Error> {
    let mut out = archive::collect_tree(
        &cache.v2().join("repositories"),
        &format!("{CACHE_PREFIX}/repositories"),
        &["_uploads"],
    )?;
    out.extend(archive::collect_tree(working_dir, WORKING_DIR, &[])?);
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
