//! Counts and sizes for `mirror-registry status` and the metrics.

use super::sql::params;
use super::{Error, Result, Store, to_u64};

/// What the registry holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Repositories.
    pub repositories: u64,
    /// Manifests (all repositories).
    pub manifests: u64,
    /// Tags.
    pub tags: u64,
    /// Distinct blobs.
    pub blobs: u64,
    /// Bytes of all blobs.
    pub bytes_stored: u64,
    /// Bytes of blobs no manifest references (what GC frees once their grace period passes).
    pub bytes_reclaimable: u64,
    /// Upload sessions in progress.
    pub uploads: u64,
}

impl Store {
    /// Current counts and sizes.
    ///
    /// # Errors
    /// Database failures.
    pub async fn stats(&self) -> Result<Stats> {
        self.db
            .read(|c| {
                let mut r = c.query_row(
                    "SELECT (SELECT COUNT(*) FROM repositories), (SELECT COUNT(*) FROM manifests), (SELECT COUNT(*) FROM tags),
                            (SELECT COUNT(*) FROM blobs), (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs),
                            (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs b
                              WHERE NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = b.digest)),
                            (SELECT COUNT(*) FROM uploads)",
                    params![],
                )?;
                Ok::<_, Error>(Stats {
                    repositories: to_u64(r.get(0)?),
                    manifests: to_u64(r.get(1)?),
                    tags: to_u64(r.get(2)?),
                    blobs: to_u64(r.get(3)?),
                    bytes_stored: to_u64(r.get(4)?),
                    bytes_reclaimable: to_u64(r.get(5)?),
                    uploads: to_u64(r.get(6)?),
                })
            })
            .await
    }
}
