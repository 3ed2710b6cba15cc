//! Planning: which image goes where. Turns the image set and the command line into a list of
//! [`ImagePlan`]s, applying oc-mirror's destination mapping, `targetRepo`/`targetTag`,
//! `--max-nested-paths` and `blockedImages`.
//!
//! Mapping (as oc-mirror v2 does it):
//!
//! ```text
//! source quay.io/ns/app:v1                    -> REG[/ns-of-dest]/ns/app:v1
//! source quay.io/ns/app@sha256:HEX            -> REG[/..]/ns/app:sha256-HEX    (digest only)
//! source quay.io/ns/app:v1@sha256:HEX         -> pulled by digest, pushed as REG[/..]/ns/app:v1
//! targetRepo: x/y, targetTag: t               -> REG[/..]/x/y:t
//! --max-nested-paths 3: REG/a/b/c/d/e         -> REG/a/b/c-d-e
//! ```
//!
//! The disk cache is addressed like a registry named [`CACHE_REGISTRY`] (oc-mirror's local
//! storage), so that `mapping.txt` lines read the same as oc-mirror's.

use crate::reference::image::ImageRef;
use crate::reference::{Digest, RepoName, Tag};

/// The registry name under which the disk cache appears in mapping files.
pub const CACHE_REGISTRY: &str = "localhost:55000";

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference built from the configuration is invalid (for example a path that the
    /// destination namespace makes longer than 255 characters).
    #[error("cannot map {image}: {source}")]
    Reference {
        /// The image from the configuration.
        image: String,
        /// Why.
        source: crate::reference::image::Error,
    },
    /// A repository path built from the configuration is invalid.
    #[error("cannot map {image}: {source}")]
    Path {
        /// The image from the configuration.
        image: String,
        /// Why.
        source: crate::reference::Error,
    },
}

/// Where images are read and written in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workflow {
    /// Registry to registry.
    MirrorToMirror(Target),
    /// Registry to the disk cache (and then archives).
    MirrorToDisk,
    /// Disk cache (filled from archives) to registry.
    DiskToMirror(Target),
}

/// `docker://REG[/ns]`: a destination registry and an optional namespace under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]`.
    pub registry: String,
    /// Path prefix inside the registry.
    pub namespace: Option<RepoName>,
}

/// The kind of content an image came from (oc-mirror's categories, used to name cluster
/// resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// `mirror.additionalImages`.
    Generic,
    /// Bundle and related images of `mirror.operators`.
    Operator,
    /// An operator catalog image: reached by the cluster through its CatalogSource, so it is in
    /// no IDMS or ITMS (as oc-mirror does it).
    Catalog,
    /// A release payload or one of its component images (`mirror.platform`).
    Release,
    /// The update graph data image (`platform.graph`): reached through the UpdateService, so
    /// in no IDMS or ITMS either.
    Graph,
    /// An image named by a chart of `mirror.helm`.
    Helm,
}

impl Category {
    /// The name used in resource names (`idms-generic-0`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Category::Generic | Category::Helm => "generic",
            Category::Operator | Category::Catalog => "operator",
            Category::Release | Category::Graph => "release",
        }
    }

    /// Whether the cluster reaches these images through the IDMS and ITMS (catalogs and the
    /// graph image are reached through their own resources).
    #[must_use]
    pub fn in_mirror_sets(self) -> bool {
        !matches!(self, Category::Catalog | Category::Graph)
    }

    /// oc-mirror's exit-code bit for failures in this category.
    #[must_use]
    pub fn exit_bit(self) -> u8 {
        match self {
            Category::Generic => 8,
            Category::Operator | Category::Catalog => 4,
            Category::Release | Category::Graph => 2,
            Category::Helm => 16,
        }
    }
}

/// One image to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    /// The image as the configuration names it (what a cluster asks for).
    pub origin: ImageRef,
    /// Where this run reads it (the origin, or the cache).
    pub source: ImageRef,
    /// Where this run writes it (a registry, or the cache). Always has a tag.
    pub destination: ImageRef,
    /// Where it came from in the configuration.
    pub category: Category,
    /// What needs it, for error messages (`related image of bundle B of package P`); several
    /// entries when several bundles share the image.
    pub needed_by: Vec<String>,
}

impl ImagePlan {
    /// Whether two entries copy the same image to the same place.
    fn same_copy(&self, other: &ImagePlan) -> bool {
        self.source == other.source && self.destination == other.destination && self.category == other.category
    }
}

/// One image taken out of the plan by `blockedImages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The image.
    pub origin: ImageRef,
    /// The pattern that matched.
    pub pattern: String,
}

/// The images of one run.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Images to copy, in configuration order, without duplicates.
    pub images: Vec<ImagePlan>,
    /// Images left out by `blockedImages`.
    pub blocked: Vec<Blocked>,
}

/// What the planner needs from the image set and the command line.
pub struct PlanInput<'a> {
    /// `mirror.additionalImages`.
    pub additional_images: &'a [crate::mirror::imageset::AdditionalImage],
    /// Compiled `blockedImages`.
    pub blocked: &'a [regex::Regex],
    /// The workflow and its destination.
    pub workflow: &'a Workflow,
    /// `--max-nested-paths` (0 = no limit).
    pub max_nested_paths: usize,
}

/// Builds the plan of `mirror.additionalImages`.
///
/// # Errors
/// [`Error`] when an image name from the configuration can't be mapped.
pub fn build(input: &PlanInput<'_>) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    for image in input.additional_images {
        let name = image.name.trim_start_matches("docker://");
        let origin: ImageRef = name.parse().map_err(|source| Error::Reference { image: image.name.clone(), source })?;
        let target_repo = parse_opt::<RepoName>(image.target_repo.as_deref(), &image.name)?;
        let target_tag = parse_opt::<Tag>(image.target_tag.as_deref(), &image.name)?;
        let mapping = Mapping { workflow: input.workflow, max_nested_paths: input.max_nested_paths };
        let entry = mapping.map(origin, target_repo, target_tag, Category::Generic)?;
        plan.add(entry, input.blocked);
    }
    Ok(plan)
}

impl Plan {
    /// Adds an entry unless `blocked` matches it (then it is recorded as blocked) or the plan
    /// already copies the same image to the same place (then only its `needed_by` is merged).
    pub fn add(&mut self, entry: ImagePlan, blocked: &[regex::Regex]) {
        if let Some(pattern) = blocking_pattern(blocked, &entry.origin, &entry.destination) {
            self.blocked.push(Blocked { origin: entry.origin, pattern });
            return;
        }
        match self.images.iter_mut().find(|p| p.same_copy(&entry)) {
            Some(existing) => {
                for need in entry.needed_by {
                    if !existing.needed_by.contains(&need) {
                        existing.needed_by.push(need);
                    }
                }
            }
            None => self.images.push(entry),
        }
    }
}

/// oc-mirror's destination mapping for one workflow: where an image named in the configuration
/// is read and written in this run.
#[derive(Debug, Clone, Copy)]
pub struct Mapping<'a> {
    /// The workflow and its destination.
    pub workflow: &'a Workflow,
    /// `--max-nested-paths` (0 = no limit).
    pub max_nested_paths: usize,
}

impl Mapping<'_> {
    /// The plan entry of `origin`, renamed by `target_repo` and `target_tag` when given.
    ///
    /// # Errors
    /// [`Error`] when the mapped name is not a valid reference.
    pub fn map(
        &self,
        origin: ImageRef,
        target_repo: Option<RepoName>,
        target_tag: Option<Tag>,
        category: Category,
    ) -> Result<ImagePlan, Error> {
        let name = origin.to_string();
        let repo = target_repo.unwrap_or_else(|| origin.repository().clone());
        let tag = match (target_tag, origin.tag()) {
            (Some(t), _) => t,
            (None, Some(t)) => t.clone(),
            (None, None) => digest_tag(origin.digest()),
        };
        let (source, destination) = match self.workflow {
            Workflow::MirrorToDisk => (origin.clone(), cache_ref(&repo, &tag, None, &name)?),
            Workflow::MirrorToMirror(target) => {
                (origin.clone(), registry_destination(target, &repo, &tag, self.max_nested_paths, &name)?)
            }
            Workflow::DiskToMirror(target) => {
                // Read from the cache by digest when the configuration pins one: that is what the
                // mirror-to-disk run stored and what the cluster will ask for.
                let source = cache_ref(&repo, &tag, origin.digest().cloned(), &name)?;
                (source, registry_destination(target, &repo, &tag, self.max_nested_paths, &name)?)
            }
        };
        Ok(ImagePlan { origin, source, destination, category, needed_by: Vec::new() })
    }

    /// The plan entry of an image named by content (a bundle's related image, a chart's
    /// image): parsed, `docker://` allowed, mapped as named.
    ///
    /// # Errors
    /// Why the name is no valid reference or can't be mapped, as one line.
    pub fn map_named(&self, image: &str, category: Category) -> Result<ImagePlan, String> {
        let origin = image.trim_start_matches("docker://").parse::<ImageRef>().map_err(|e| e.to_string())?;
        self.map(origin, None, None, category).map_err(|e| e.to_string())
    }

    /// Where `repo:tag` goes on the destination registry (`None` for mirror to disk).
    ///
    /// # Errors
    /// [`Error`] when the mapped name is not a valid reference.
    pub fn registry_destination(&self, repo: &RepoName, tag: &Tag) -> Result<Option<ImageRef>, Error> {
        match self.workflow {
            Workflow::MirrorToDisk => Ok(None),
            Workflow::MirrorToMirror(target) | Workflow::DiskToMirror(target) => {
                registry_destination(target, repo, tag, self.max_nested_paths, repo.as_str()).map(Some)
            }
        }
    }
}

/// The disk cache's name for `repo:tag` (pinned to `digest` when given).
///
/// # Errors
/// [`Error::Reference`] (only for names no registry accepts).
pub fn cache_ref(repo: &RepoName, tag: &Tag, digest: Option<Digest>, image: &str) -> Result<ImageRef, Error> {
    ImageRef::new(CACHE_REGISTRY, repo.clone(), Some(tag.clone()), digest)
        .map_err(|source| Error::Reference { image: image.to_string(), source })
}

fn parse_opt<T: std::str::FromStr<Err = crate::reference::Error>>(
    value: Option<&str>,
    image: &str,
) -> Result<Option<T>, Error> {
    value.map(str::parse).transpose().map_err(|source| Error::Path { image: image.to_string(), source })
}

/// The tag a digest-only image gets on the mirror: `sha256-<hex>`, cut to the 128 characters a
/// tag may have (only sha512 needs the cut).
#[must_use]
pub fn digest_tag(digest: Option<&Digest>) -> Tag {
    let text = match digest {
        Some(d) => {
            let mut t = format!("{}-{}", d.algorithm().name(), d.hex());
            t.truncate(128);
            t
        }
        None => "latest".to_string(),
    };
    text.parse().expect("algorithm name, '-' and hex form a valid tag")
}

fn registry_destination(
    target: &Target,
    repo: &RepoName,
    tag: &Tag,
    max_nested_paths: usize,
    image: &str,
) -> Result<ImageRef, Error> {
    let full = match &target.namespace {
        Some(ns) => format!("{ns}/{repo}"),
        None => repo.to_string(),
    };
    let path = flatten_path(&full, max_nested_paths)
        .parse::<RepoName>()
        .map_err(|source| Error::Path { image: image.to_string(), source })?;
    ImageRef::new(&target.registry, path, Some(tag.clone()), None)
        .map_err(|source| Error::Reference { image: image.to_string(), source })
}

/// Keeps the first `max - 1` path components and joins the rest with `-`, so that the path has
/// at most `max` components. `max` 0 means no limit.
#[must_use]
pub fn flatten_path(path: &str, max: usize) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    if max == 0 || parts.len() <= max {
        return path.to_string();
    }
    let keep = max - 1;
    let mut out: Vec<String> = parts[..keep].iter().map(|s| (*s).to_string()).collect();
    out.push(parts[keep..].join("-"));
    out.join("/")
}

/// The first `blockedImages` pattern found anywhere in the source or destination reference.
fn blocking_pattern(blocked: &[regex::Regex], origin: &ImageRef, destination: &ImageRef) -> Option<String> {
    let origin = origin.to_string();
    let destination = destination.to_string();
    blocked.iter().find(|re| re.is_match(&origin) || re.is_match(&destination)).map(|re| re.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::imageset::AdditionalImage;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(name: &str, repo: Option<&str>, tag: Option<&str>) -> AdditionalImage {
        AdditionalImage {
            name: name.to_string(),
            target_repo: repo.map(str::to_string),
            target_tag: tag.map(str::to_string),
        }
    }

    fn target(ns: Option<&str>) -> Target {
        Target { registry: "mirror.local:5000".into(), namespace: ns.map(|n| n.parse().expect("valid ns")) }
    }

    #[test]
    fn maps_destinations_like_oc_mirror() {
        let digest = format!("sha256:{HEX}");
        let m2m = |ns| Workflow::MirrorToMirror(target(ns));
        let cases: Vec<(&str, AdditionalImage, Workflow, usize, String, String)> = vec![
            (
                "tag, no namespace",
                image("quay.io/ns/app:v1", None, None),
                m2m(None),
                0,
                "quay.io/ns/app:v1".into(),
                "mirror.local:5000/ns/app:v1".into(),
            ),
            (
                "tag, namespace",
                image("quay.io/ns/app:v1", None, None),
                m2m(Some("team/mirror")),
                0,
                "quay.io/ns/app:v1".into(),
                "mirror.local:5000/team/mirror/ns/app:v1".into(),
            ),
            (
                "digest only gets a digest tag",
                image(&format!("quay.io/ns/app@{digest}"), None, None),
                m2m(None),
                0,
                format!("quay.io/ns/app@{digest}"),
                format!("mirror.local:5000/ns/app:sha256-{HEX}"),
            ),
            (
                "tag and digest: pull by digest, push under the tag",
                image(&format!("quay.io/ns/app:v3@{digest}"), None, None),
                m2m(None),
                0,
                format!("quay.io/ns/app:v3@{digest}"),
                "mirror.local:5000/ns/app:v3".into(),
            ),
            (
                "targetRepo and targetTag",
                image("quay.io/ns/app:v1", Some("other/name"), Some("prod")),
                m2m(Some("m")),
                0,
                "quay.io/ns/app:v1".into(),
                "mirror.local:5000/m/other/name:prod".into(),
            ),
            (
                "max nested paths",
                image("quay.io/a/b/c/d:v1", None, None),
                m2m(Some("ns")),
                3,
                "quay.io/a/b/c/d:v1".into(),
                "mirror.local:5000/ns/a/b-c-d:v1".into(),
            ),
            (
                "to disk",
                image("quay.io/ns/app:v1", None, None),
                Workflow::MirrorToDisk,
                0,
                "quay.io/ns/app:v1".into(),
                "localhost:55000/ns/app:v1".into(),
            ),
            (
                "from disk reads the cache",
                image(&format!("quay.io/ns/app@{digest}"), None, None),
                Workflow::DiskToMirror(target(Some("x"))),
                0,
                format!("localhost:55000/ns/app:sha256-{HEX}@{digest}"),
                format!("mirror.local:5000/x/ns/app:sha256-{HEX}"),
            ),
        ];
        for (name, img, workflow, nested, source, destination) in cases {
            let images = [img];
            let plan = build(&PlanInput {
                additional_images: &images,
                blocked: &[],
                workflow: &workflow,
                max_nested_paths: nested,
            })
            .unwrap_or_else(|e| panic!("case {name}: {e}"));
            let p = &plan.images[0];
            assert_eq!(p.source.to_string(), source, "case {name}");
            assert_eq!(p.destination.to_string(), destination, "case {name}");
        }
    }

    #[test]
    fn blocked_images_match_source_or_destination_unanchored() {
        let images = [
            image("quay.io/ns/alpine:3", None, None),
            image("quay.io/ns/busybox:1", None, None),
            image("quay.io/ns/keep:1", Some("renamed/blockme"), None),
        ];
        let blocked = [regex::Regex::new("alp").expect("re"), regex::Regex::new("renamed/block").expect("re")];
        let workflow = Workflow::MirrorToMirror(target(None));
        let plan = build(&PlanInput {
            additional_images: &images,
            blocked: &blocked,
            workflow: &workflow,
            max_nested_paths: 0,
        })
        .expect("plan");
        let kept: Vec<String> = plan.images.iter().map(|p| p.origin.to_string()).collect();
        assert_eq!(kept, vec!["quay.io/ns/busybox:1"]);
        assert_eq!(plan.blocked.len(), 2);
    }

    #[test]
    fn flattening() {
        let cases: &[(&str, usize, &str)] =
            &[("a/b/c", 0, "a/b/c"), ("a/b/c", 3, "a/b/c"), ("a/b/c/d", 2, "a/b-c-d"), ("a/b/c/d", 1, "a-b-c-d")];
        for (input, max, expected) in cases {
            assert_eq!(flatten_path(input, *max), *expected, "case {input} max {max}");
        }
    }
}
