//! Phase 2: the manifests of a delete list taken off the registry (and, on request, their
//! signatures and their cache entries).
//!
//! Per image, as registries require: a tag is resolved to its digest with `HEAD`, then the
//! manifest is deleted by digest (`DELETE /v2/<repo>/manifests/<digest>`, which also drops the
//! tags pointing at it). A manifest already gone (404, `MANIFEST_UNKNOWN`) is reported as
//! already deleted and is not a failure, so a delete can be run again. Blobs are never deleted
//! through the API: the registry's garbage collection frees the ones no manifest references.

use futures_util::StreamExt as _;

use super::list::DeleteItem;
use crate::mirror::cache::Cache;
use crate::mirror::client::{ClientPool, RegistryClient};
use crate::mirror::plan::Target;
use crate::reference::image::ImageRef;
use crate::reference::{Digest, Reference, RepoName, Tag};

/// What one image's delete came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The manifest was deleted.
    Now,
    /// The registry had no such manifest any more.
    Already,
}

/// The outcome of one item.
#[derive(Debug)]
pub struct Outcome {
    /// The image on the mirror.
    pub reference: ImageRef,
    /// The registry's answer, or what went wrong.
    pub result: Result<Deleted, String>,
    /// Signature tags deleted with it.
    pub signatures: usize,
    /// Whether its cache entry was removed (`--force-cache-delete`).
    pub cache: Result<bool, String>,
}

/// How phase 2 runs.
pub struct Removal<'a> {
    /// Clients of the destination registry.
    pub pool: &'a ClientPool,
    /// `docker://REG[/ns]` of the command line.
    pub target: &'a Target,
    /// `--force-cache-delete`: the cache to take the images out of.
    pub cache: Option<&'a Cache>,
    /// `--delete-signatures`.
    pub signatures: bool,
    /// Images deleted at once.
    pub parallel: usize,
}

/// The mirror references of `items`, each checked to lie under the command line's
/// destination (oc-mirror's guard against a delete list meant for another registry).
///
/// # Errors
/// One line per item that does not parse or lies elsewhere.
pub fn references(items: &[DeleteItem], target: &Target) -> Result<Vec<ImageRef>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = &item.image_reference;
        match text.strip_prefix("docker://").map(str::parse::<ImageRef>) {
            None => problems.push(format!("items[{i}]: imageReference {text:?} must start with docker://")),
            Some(Err(e)) => problems.push(format!("items[{i}]: imageReference {text:?}: {e}")),
            Some(Ok(r)) if cache_repo(&r, target).is_none() => problems.push(format!(
                "items[{i}]: {text} is not under the destination docker://{}{} (check the destination on the command line)",
                target.registry,
                target.namespace.as_ref().map(|n| format!("/{n}")).unwrap_or_default()
            )),
            Some(Ok(r)) => out.push(r),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// The repository of `reference` in the cache: its path below the destination namespace
/// (where the disk-to-mirror run read it). `None` when the reference is not under `target`.
#[must_use]
pub fn cache_repo(reference: &ImageRef, target: &Target) -> Option<RepoName> {
    if reference.registry() != target.registry {
        return None;
    }
    let path = reference.repository().as_str();
    let below = match &target.namespace {
        Some(ns) => path.strip_prefix(ns.as_str())?.strip_prefix('/')?,
        None => path,
    };
    below.parse().ok()
}

impl Removal<'_> {
    /// Deletes every image, `parallel` at a time; outcomes in the order of `references`.
    pub async fn run(&self, references: Vec<ImageRef>) -> Vec<Outcome> {
        let client = self.pool.client(&self.target.registry);
        let mut outcomes: Vec<(usize, Outcome)> = futures_util::stream::iter(references.into_iter().enumerate())
            .map(|(i, reference)| {
                let client = client.clone();
                async move { (i, self.remove(&client, reference).await) }
            })
            .buffer_unordered(self.parallel.max(1))
            .collect()
            .await;
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }

    async fn remove(&self, client: &RegistryClient, reference: ImageRef) -> Outcome {
        let repo = reference.repository().clone();
        let mut signatures = 0;
        let result = async {
            let digest = match (reference.digest(), reference.tag()) {
                (Some(d), _) => Some(d.clone()),
                (None, Some(tag)) => {
                    client.head_manifest(&repo, &Reference::Tag(tag.clone())).await.map_err(|e| e.to_string())?
                }
                (None, None) => return Err("no tag or digest".to_string()),
            };
            let Some(digest) = digest else { return Ok(Deleted::Already) };
            let deleted = if client.delete_manifest(&repo, &digest).await.map_err(|e| e.to_string())? {
                Deleted::Now
            } else {
                Deleted::Already
            };
            if self.signatures {
                signatures = delete_signature(client, &repo, &digest).await?;
            }
            Ok(deleted)
        }
        .await;
        match &result {
            Ok(Deleted::Now) => tracing::info!(image = %reference, "deleted"),
            Ok(Deleted::Already) => tracing::info!(image = %reference, "already deleted"),
            Err(e) => tracing::error!(image = %reference, "delete failed: {e}"),
        }
        let cache = match self.cache {
            Some(cache) => self.remove_cached(cache, &reference).await,
            None => Ok(false),
        };
        Outcome { reference, result, signatures, cache }
    }

    async fn remove_cached(&self, cache: &Cache, reference: &ImageRef) -> Result<bool, String> {
        let repo = cache_repo(reference, self.target).ok_or_else(|| "not under the destination".to_string())?;
        let by = match (reference.tag(), reference.digest()) {
            (Some(t), _) => Reference::Tag(t.clone()),
            (None, Some(d)) => Reference::Digest(d.clone()),
            (None, None) => return Err("no tag or digest".into()),
        };
        cache.delete_manifest(&repo, &by).await.map_err(|e| e.to_string())
    }
}

/// Deletes the cosign-style signature tag `sha256-<hex>.sig` of `digest` when the repository
/// has one; returns how many were deleted (0 or 1).
async fn delete_signature(client: &RegistryClient, repo: &RepoName, digest: &Digest) -> Result<usize, String> {
    let tag: Tag = format!("{}-{}.sig", digest.algorithm().name(), digest.hex())
        .parse()
        .map_err(|e| format!("signature tag: {e}"))?;
    let Some(signature) = client.head_manifest(repo, &Reference::Tag(tag.clone())).await.map_err(|e| e.to_string())?
    else {
        return Ok(0);
    };
    let deleted = client.delete_manifest(repo, &signature).await.map_err(|e| format!("signature {tag}: {e}"))?;
    if deleted {
        tracing::info!(repository = %repo, signature = %tag, "signature deleted");
    }
    Ok(usize::from(deleted))
}

/// `mirror_registry_reclaimable_bytes` in a Prometheus exposition: what mirror-registry's next
/// garbage collection frees (blobs no manifest references). `None` when the text has no such
/// sample: the registry is not a mirror-registry.
#[must_use]
pub fn reclaimable_bytes(metrics: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix("mirror_registry_reclaimable_bytes")?;
        // The name must end here: `…_bytes_total` is another metric.
        let value = value.strip_prefix(' ').or_else(|| value.strip_prefix("{}"))?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::delete::list::ImageType;

    fn target(ns: Option<&str>) -> Target {
        Target { registry: "reg:5000".into(), namespace: ns.map(|n| n.parse().expect("ns")) }
    }

    fn item(reference: &str) -> DeleteItem {
        DeleteItem {
            image_name: "q.io/x:v1".into(),
            image_reference: reference.into(),
            image_type: Some(ImageType::Generic),
            related_blobs: Vec::new(),
        }
    }

    #[test]
    fn references_must_lie_under_the_destination() {
        let cases: &[(&str, Option<&str>, &str, Result<&str, &str>)] = &[
            ("no namespace", None, "docker://reg:5000/ns/app:v1", Ok("ns/app")),
            ("namespace", Some("m"), "docker://reg:5000/m/ns/app:v1", Ok("ns/app")),
            (
                "nested namespace",
                Some("a/b"),
                "docker://reg:5000/a/b/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                Ok("app"),
            ),
            (
                "other registry",
                None,
                "docker://other:5000/ns/app:v1",
                Err("not under the destination docker://reg:5000"),
            ),
            (
                "other namespace",
                Some("m"),
                "docker://reg:5000/mm/app:v1",
                Err("not under the destination docker://reg:5000/m"),
            ),
            ("namespace only", Some("m"), "docker://reg:5000/m:v1", Err("not under")),
            ("no transport", None, "reg:5000/ns/app:v1", Err("must start with docker://")),
            ("not a reference", None, "docker://reg:5000/Bad:v1", Err("imageReference")),
        ];
        for (name, ns, reference, expected) in cases {
            let t = target(*ns);
            match (references(&[item(reference)], &t), expected) {
                (Ok(refs), Ok(repo)) => {
                    assert_eq!(cache_repo(&refs[0], &t).map(|r| r.to_string()).as_deref(), Some(*repo), "case {name}");
                }
                (Err(problems), Err(part)) => assert!(problems[0].contains(part), "case {name}: {problems:?}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }

    #[test]
    fn reclaimable_bytes_come_from_our_gauge_only() {
        let ours = "# HELP mirror_registry_reclaimable_bytes Bytes of blobs no manifest references.\n# TYPE mirror_registry_reclaimable_bytes gauge\nmirror_registry_reclaimable_bytes 123456\n";
        let cases: &[(&str, &str, Option<u64>)] = &[
            ("mirror-registry", ours, Some(123_456)),
            ("empty labels", "mirror_registry_reclaimable_bytes{} 7\n", Some(7)),
            ("another metric with the prefix", "mirror_registry_reclaimable_bytes_total 9\n", None),
            ("another registry", "registry_storage_action_seconds_count 3\n", None),
            ("not a number", "mirror_registry_reclaimable_bytes many\n", None),
        ];
        for (name, text, expected) in cases {
            assert_eq!(reclaimable_bytes(text), *expected, "case {name}");
        }
    }
}
