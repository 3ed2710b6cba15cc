//! Listings: tags of a repository, the catalog of repositories, referrers of a manifest.
//!
//! Tags and repositories come in lexical (byte) order and paginate with `last` (exclusive) and
//! `n`, as the distribution-spec describes.

use serde_json::{Map, Value};

use super::sql::{Conn, Param, params};
use super::{Error, Result, Store, find_repository};
use crate::manifest;
use crate::reference::{Digest, RepoName};

/// One page of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The names, in lexical order.
    pub items: Vec<String>,
    /// Whether more names follow the last one.
    pub more: bool,
}

/// A manifest that names another as its `subject`, described for the referrers API.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// Media type of the referring manifest.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its `artifactType` (or config media type).
    pub artifact_type: Option<String>,
    /// Its annotations.
    pub annotations: Option<Map<String, Value>>,
}

/// Runs a paginated name query: `sql` takes the `head` parameters, then `last`, then the limit.
fn page(c: &dyn Conn, sql: &str, head: &[Param<'_>], last: Option<&str>, n: Option<u32>) -> Result<Page> {
    if n == Some(0) {
        return Ok(Page { items: Vec::new(), more: false });
    }
    // Fetch one more than asked to learn whether another page exists; "no limit" is the
    // largest one, as PostgreSQL refuses SQLite's `LIMIT -1`.
    let limit = n.map_or(i64::MAX, |n| i64::from(n) + 1);
    let mut params = head.to_vec();
    params.extend([Param::Text(last.unwrap_or("")), Param::Int(limit)]);
    let mut items: Vec<String> = c.query_column(sql, &params)?;
    let more = n.is_some_and(|n| items.len() > n as usize);
    if more {
        items.pop();
    }
    Ok(Page { items, more })
}

impl Store {
    /// Tags of `repo` after `last`, at most `n` (all when `None`).
    ///
    /// # Errors
    /// [`Error::NameUnknown`] when the repository does not exist.
    pub async fn list_tags(&self, repo: &RepoName, last: Option<String>, n: Option<u32>) -> Result<Page> {
        let r = repo.clone();
        self.db
            .read(move |c| {
                let repo_id = find_repository(c, &r)?.ok_or_else(|| Error::NameUnknown(r.clone()))?;
                page(
                    c,
                    "SELECT name FROM tags WHERE repository_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
                    params![repo_id],
                    last.as_deref(),
                    n,
                )
            })
            .await
    }

    /// Repository names after `last`, at most `n` (all when `None`), keeping only those `keep`
    /// accepts (the caller's visibility; `None` keeps all). Filtering happens before the page is
    /// cut, so pages stay full and `Link` points past the last name shown.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_repositories(
        &self,
        last: Option<String>,
        n: Option<u32>,
        keep: Option<Box<dyn Fn(&str) -> bool + Send>>,
    ) -> Result<Page> {
        if n == Some(0) {
            return Ok(Page { items: Vec::new(), more: false });
        }
        let Some(keep) = keep else {
            return self
                .db
                .read(move |c| {
                    page(
                        c,
                        "SELECT name FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2",
                        params![],
                        last.as_deref(),
                        n,
                    )
                })
                .await;
        };
        self.db
            .read(move |c| {
                let names: Vec<String> = c.query_column(
                    "SELECT name FROM repositories WHERE name > ?1 ORDER BY name",
                    params![last.as_deref().unwrap_or("")],
                )?;
                let wanted = n.map_or(usize::MAX, |n| n as usize);
                let mut items = Vec::new();
                let mut more = false;
                for name in names {
                    if !keep(&name) {
                        continue;
                    }
                    if items.len() == wanted {
                        more = true;
                        break;
                    }
                    items.push(name);
                }
                Ok(Page { items, more })
            })
            .await
    }

    /// Manifests in `repo` whose subject is `subject`, optionally only those of `artifact_type`.
    /// An unknown repository or subject has no referrers (never an error).
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<String>,
    ) -> Result<Vec<Referrer>> {
        let (r, s) = (repo.clone(), subject.to_string());
        self.db
            .read(move |c| {
                let Some(repo_id) = find_repository(c, &r)? else { return Ok(Vec::new()) };
                let rows = c.query_map(
                    "SELECT digest, media_type, artifact_type, content FROM manifests
                      WHERE repository_id = ?1 AND subject = ?2 AND (CAST(?3 AS TEXT) IS NULL OR artifact_type = ?3)
                      ORDER BY created_at, id",
                    params![repo_id, &s, artifact_type.as_deref()],
                    |mut row| {
                        Ok((
                            row.get::<String>(0)?,
                            row.get::<String>(1)?,
                            row.get::<Option<String>>(2)?,
                            row.get::<Vec<u8>>(3)?,
                        ))
                    },
                )?;
                let mut out = Vec::new();
                for (digest, media_type, artifact_type, content) in rows {
                    let Ok(digest) = digest.parse::<Digest>() else { continue };
                    // Annotations are read back from the stored bytes, which passed `parse` on push.
                    let annotations = manifest::parse(Some(&media_type), &content).ok().and_then(|m| m.annotations);
                    out.push(Referrer { media_type, digest, size: content.len() as u64, artifact_type, annotations });
                }
                Ok::<_, Error>(out)
            })
            .await
    }
}
