//! The `operators:` source: operator catalogs (file-based catalogs) read, filtered and rebuilt,
//! and the plan entries of their bundle and related images.
//!
//! | module | owns |
//! | --- | --- |
//! | `catalog_image` | catalog images in the cache: configs extracted and read, the filtered image built |
//! | `fbc` | reading a file-based catalog directory into packages, channels and bundles |
//! | `select` | which bundles an `operators:` entry selects (the docs' filtering table, dependencies) |
//! | `prune` | writing the filtered catalog's documents |
//! | `layout` | `oci://` catalogs: OCI layouts imported into the cache |
//! | `list` | `mirror list operators`: packages, channels and versions as tables |
//!
//! `fbc`, `select` and `prune` are pure functions over files and values (versions are
//! `crate::mirror::version`), tested without a network; this file drives them over the disk
//! cache.
//!
//! Every catalog goes through the disk cache, whatever the workflow:
//!
//! ```text
//! mirror to mirror, mirror to disk      disk to mirror
//! original catalog -> cache (by digest)   archives -> cache
//! configs extracted, catalog read         the catalog under <repo>:<tag> read (it is the
//! bundles selected                        filtered one: everything in it is the selection)
//! filtered catalog built -> cache <repo>:<tag>
//! ```
//!
//! The catalog in the cache under `<repo>:<tag>` is thus the record of the selection: mirror to
//! disk archives it, disk to mirror pushes it and mirrors exactly the bundles it lists. A
//! catalog with `full: true` and no packages is not rebuilt; the original is tagged instead.
//! The catalog is pushed after its bundles, so a cluster never sees a catalog whose bundles
//! are not there yet.

mod catalog_image;
pub mod fbc;
pub mod layout;
pub mod list;
pub mod prune;
pub mod select;

use super::cache::Cache;
use super::copy::{Engine, ImageOutcome};
use super::imageset::{CatalogRef, Operator};
use super::plan::{self, CACHE_REGISTRY, Category, ImagePlan, Mapping, Plan};
use crate::reference::image::ImageRef;
use crate::reference::{Digest, Reference, RepoName, Tag};
use catalog_image::{read_catalog, rebuild_catalog};
use fbc::Catalog;
use select::Selection;

/// Manifest annotations that record which catalog a filtered catalog was built from (the OCI
/// image-spec's pre-defined base image annotations).
const BASE_NAME: &str = "org.opencontainers.image.base.name";
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Why a catalog could not be prepared. Each error names the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog could not be fetched or is not in the cache.
    #[error("catalog {catalog}: {message}")]
    Fetch {
        /// The catalog as configured.
        catalog: String,
        /// Why.
        message: String,
    },
    /// The catalog image is not an operator catalog, or its content is broken.
    #[error("catalog {catalog}: {source}")]
    Image {
        /// The catalog as configured.
        catalog: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The selection could not be made.
    #[error("catalog {catalog}: {source}")]
    Select {
        /// The catalog as configured.
        catalog: String,
        /// Why.
        source: select::Error,
    },
}

impl Error {
    fn image(catalog: &str, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Image { catalog: catalog.to_string(), source: Box::new(source) }
    }
}

/// One `operators:` entry made ready: the catalog to push is in the cache, its selection known.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The configuration entry.
    pub operator: Operator,
    /// Where the catalog comes from.
    pub origin: CatalogRef,
    /// Repository of the catalog on the mirror (below the destination namespace).
    pub repo: RepoName,
    /// Tag of the catalog on the mirror.
    pub tag: Tag,
    /// The catalog to push (filtered, or the original for a full catalog), in the cache, pinned
    /// to its digest.
    pub cached: ImageRef,
    /// The catalog read (the original; in disk to mirror, the filtered one).
    pub catalog: Catalog,
    /// What is mirrored.
    pub selection: Selection,
}

impl Prepared {
    /// The catalog's digest in the cache.
    #[must_use]
    pub fn digest(&self) -> &Digest {
        self.cached.digest().expect("prepared catalogs are pinned to their digest")
    }

    /// The catalog's plan entry: from the cache to `destination` (itself for mirror to disk).
    #[must_use]
    pub fn catalog_plan(&self, destination: Option<ImageRef>) -> ImagePlan {
        let origin = match &self.origin {
            CatalogRef::Image(i) => i.clone(),
            CatalogRef::Layout(_) => self.cached.clone(),
        };
        ImagePlan {
            origin,
            source: self.cached.clone(),
            destination: destination.unwrap_or_else(|| self.cached.clone()),
            category: Category::Catalog,
            needed_by: vec![format!("catalog {}", self.origin)],
        }
    }
}

/// Where a catalog goes on the mirror: `targetCatalog` or the catalog's own repository (for an
/// OCI layout, its directory name), and `targetTag` or its own tag (`latest` for a layout,
/// `sha256-<hex>` for a catalog pinned by digest only).
///
/// # Errors
/// [`Error::Fetch`] when no valid repository name can be made.
pub fn destination_name(operator: &Operator, origin: &CatalogRef) -> Result<(RepoName, Tag), Error> {
    let bad = |message: String| Error::Fetch { catalog: operator.catalog.clone(), message };
    let repo = match (&operator.target_catalog, origin) {
        (Some(t), _) => t.parse::<RepoName>().map_err(|e| bad(format!("targetCatalog: {e}")))?,
        (None, CatalogRef::Image(i)) => i.repository().clone(),
        (None, CatalogRef::Layout(path)) => {
            let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            name.parse::<RepoName>()
                .map_err(|_| bad(format!("the directory name {name:?} is no repository name; set targetCatalog")))?
        }
    };
    let tag = match (&operator.target_tag, origin) {
        (Some(t), _) => t.parse::<Tag>().map_err(|e| bad(format!("targetTag: {e}")))?,
        (None, CatalogRef::Image(i)) => i.tag().cloned().unwrap_or_else(|| plan::digest_tag(i.digest())),
        (None, CatalogRef::Layout(_)) => "latest".parse().expect("a valid tag"),
    };
    Ok((repo, tag))
}

/// How catalogs reach the cache in this run.
pub enum Fetch<'a> {
    /// From their registries (or OCI layouts), through this engine (registries to the cache).
    Online(&'a Engine),
    /// Already in the cache (disk to mirror: the archives were extracted).
    Offline,
    /// Already in the cache from an earlier run (delete): the catalog there is what that run
    /// mirrored, and this entry selects again inside it. Nothing is rebuilt.
    Reselect,
}

/// Prepares one `operators:` entry: the catalog in the cache, read, selected and (unless full)
/// rebuilt. Blocking file work runs off the async runtime.
///
/// # Errors
/// [`Error`] naming the catalog.
pub async fn prepare(operator: &Operator, fetch: &Fetch<'_>, cache: &Cache) -> Result<Prepared, Error> {
    let name = operator.catalog.as_str();
    let origin: CatalogRef = name.parse().map_err(|message| Error::Fetch { catalog: name.to_string(), message })?;
    let (repo, tag) = destination_name(operator, &origin)?;
    let cache_ref =
        |digest: Option<Digest>| plan::cache_ref(&repo, &tag, digest, name).map_err(|e| Error::image(name, e));
    match fetch {
        Fetch::Offline | Fetch::Reselect => {
            let stored = cache.get_manifest(&repo, &Reference::Tag(tag.clone())).await.map_err(|e| Error::Fetch {
                catalog: name.to_string(),
                message: match fetch {
                    Fetch::Reselect => format!(
                        "{e}; delete --generate reads the catalog an earlier mirror run left in the cache: use that run's --cache-dir"
                    ),
                    _ => format!(
                        "{e}; the archives hold no catalog {repo}:{tag}: run mirror to disk with this configuration first"
                    ),
                },
            })?;
            let catalog = read_catalog(cache, &repo, &stored.digest).await.map_err(|e| e.named(name))?.catalog;
            let selection = match fetch {
                Fetch::Reselect => select_in(&catalog, operator)?,
                _ => Selection::all(&catalog),
            };
            Ok(Prepared {
                operator: operator.clone(),
                origin,
                cached: cache_ref(Some(stored.digest))?,
                repo,
                tag,
                catalog,
                selection,
            })
        }
        Fetch::Online(engine) => {
            let original = fetch_original(operator, &origin, &repo, engine, cache).await?;
            let read = read_catalog(cache, &repo, &original).await.map_err(|e| e.named(name))?;
            let full = operator.full && operator.packages.is_empty();
            let selection = select_in(&read.catalog, operator)?;
            let digest = if full {
                let stored = cache
                    .get_manifest(&repo, &Reference::Digest(original.clone()))
                    .await
                    .map_err(|e| Error::image(name, e))?;
                cache
                    .put_manifest(&repo, &stored.bytes, &original, Some(&tag))
                    .await
                    .map_err(|e| Error::image(name, e))?;
                original
            } else {
                let base =
                    [(BASE_NAME.to_string(), origin.to_string()), (BASE_DIGEST.to_string(), original.to_string())];
                rebuild_catalog(cache, &repo, &tag, &original, &read, &selection, &base)
                    .await
                    .map_err(|e| e.named(name))?
            };
            Ok(Prepared {
                operator: operator.clone(),
                origin,
                cached: cache_ref(Some(digest))?,
                repo,
                tag,
                catalog: read.catalog,
                selection,
            })
        }
    }
}

/// What `operator` selects in `catalog`: everything for `full: true` without packages, else the
/// documented filters. Warnings are logged.
fn select_in(catalog: &Catalog, operator: &Operator) -> Result<Selection, Error> {
    let selection = if operator.full && operator.packages.is_empty() {
        Selection::all(catalog)
    } else {
        select::select(catalog, operator)
            .map_err(|source| Error::Select { catalog: operator.catalog.clone(), source })?
    };
    for warning in &selection.warnings {
        tracing::warn!(catalog = operator.catalog, "{warning}");
    }
    Ok(selection)
}

/// Reads the catalog `reference` (an image or `oci://` layout) through the cache, without
/// selecting anything: what `mirror list operators` shows.
///
/// # Errors
/// [`Error`] naming the catalog.
pub async fn read(reference: &str, engine: &Engine, cache: &Cache) -> Result<Catalog, Error> {
    let operator = Operator { catalog: reference.to_string(), ..Operator::default() };
    let origin: CatalogRef =
        reference.parse().map_err(|message| Error::Fetch { catalog: reference.to_string(), message })?;
    let (repo, _) = destination_name(&operator, &origin)?;
    let digest = fetch_original(&operator, &origin, &repo, engine, cache).await?;
    Ok(read_catalog(cache, &repo, &digest).await.map_err(|e| e.named(reference))?.catalog)
}

/// Brings the original catalog into the cache under `repo` (by digest, untagged).
async fn fetch_original(
    operator: &Operator,
    origin: &CatalogRef,
    repo: &RepoName,
    engine: &Engine,
    cache: &Cache,
) -> Result<Digest, Error> {
    let name = operator.catalog.as_str();
    match origin {
        CatalogRef::Layout(dir) => {
            layout::import(dir, None, cache, repo, None).await.map_err(|e| Error::image(name, e))
        }
        CatalogRef::Image(image) => {
            let destination =
                ImageRef::new(CACHE_REGISTRY, repo.clone(), None, None).map_err(|e| Error::image(name, e))?;
            let entry = ImagePlan {
                origin: image.clone(),
                source: image.clone(),
                destination,
                category: Category::Catalog,
                needed_by: Vec::new(),
            };
            let mut outcomes: Vec<ImageOutcome> = engine.copy_all(std::slice::from_ref(&entry)).await;
            match outcomes.pop().map(|o| o.result) {
                Some(Ok(digest)) => Ok(digest),
                Some(Err(e)) => Err(Error::Fetch { catalog: name.to_string(), message: super::error_chain(&e) }),
                None => Err(Error::Fetch { catalog: name.to_string(), message: "not copied".into() }),
            }
        }
    }
}

/// How [`plan_bundles`] names a bundle image in `needed_by` (`bundle image of bundle B of package P`).
const BUNDLE_ROLE: &str = "bundle image";
/// How [`plan_bundles`] names a related image in `needed_by`.
const RELATED_ROLE: &str = "related image";

/// Whether a plan entry of [`plan_bundles`] is a bundle image (else it is a related image
/// only). An image that is both counts as a bundle.
#[must_use]
pub fn is_bundle_image(plan: &ImagePlan) -> bool {
    plan.needed_by.iter().any(|n| n.strip_prefix(BUNDLE_ROLE).is_some_and(|rest| rest.starts_with(" of bundle ")))
}

/// Adds the bundle and related images a prepared catalog selects to `plan`, mapped like any other
/// image. An image reference that can't be mapped fails its bundle: the returned lines name
/// the image, the bundle and the package.
pub fn plan_bundles(
    prepared: &Prepared,
    mapping: &Mapping<'_>,
    blocked: &[regex::Regex],
    plan: &mut Plan,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (package, bundle_name) in prepared.selection.bundles() {
        let Some(bundle) = prepared.catalog.packages.get(package).and_then(|p| p.bundles.get(bundle_name)) else {
            failures.push(format!("bundle {bundle_name} of package {package}: not in catalog {}", prepared.origin));
            continue;
        };
        let mut images = vec![(bundle.image.as_str(), BUNDLE_ROLE)];
        images.extend(bundle.related_images.iter().map(|r| (r.image.as_str(), RELATED_ROLE)));
        let mut seen = std::collections::HashSet::new();
        for (image, role) in images {
            if image.is_empty() || !seen.insert(image) {
                continue;
            }
            match mapping.map_named(image, Category::Operator) {
                Ok(mut entry) => {
                    entry.needed_by.push(format!("{role} of bundle {bundle_name} of package {package}"));
                    plan.add(entry, blocked);
                }
                Err(e) => failures.push(format!(
                    "{role} {image} of bundle {bundle_name} of package {package} (catalog {}): {e}",
                    prepared.origin
                )),
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn catalogs_keep_their_name_unless_targeted() {
        let op = |catalog: &str, target: Option<&str>, tag: Option<&str>| Operator {
            catalog: catalog.to_string(),
            target_catalog: target.map(str::to_string),
            target_tag: tag.map(str::to_string),
            ..Operator::default()
        };
        let cases: Vec<(&str, Operator, Result<(&str, String), &str>)> = vec![
            ("image tag", op("r.io/redhat/index:v4.17", None, None), Ok(("redhat/index", "v4.17".into()))),
            (
                "digest only",
                op(&format!("r.io/ns/index@sha256:{HEX}"), None, None),
                Ok(("ns/index", format!("sha256-{HEX}"))),
            ),
            ("targets", op("r.io/ns/index:v1", Some("my/cat"), Some("prod")), Ok(("my/cat", "prod".into()))),
            ("layout", op("oci:///srv/My-Catalog", None, None), Ok(("my-catalog", "latest".into()))),
            ("layout with targets", op("oci:///srv/x", Some("a/b"), Some("v2")), Ok(("a/b", "v2".into()))),
            ("layout with no usable name", op("oci:///srv/bad name", None, None), Err("set targetCatalog")),
        ];
        for (name, operator, expected) in cases {
            let origin: CatalogRef = operator.catalog.parse().expect("valid catalog");
            match (destination_name(&operator, &origin), expected) {
                (Ok((repo, tag)), Ok((want_repo, want_tag))) => {
                    assert_eq!((repo.as_str(), tag.as_str()), (want_repo, want_tag.as_str()), "case {name}");
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }
}
