//! The `platform:` source: OpenShift releases. The update graph says which releases a channel
//! selection means; each release payload is read for its component images; signatures are
//! fetched and verified; the graph data image is built on request.
//!
//! | module | owns |
//! | --- | --- |
//! | `graph` | the update graph: parsing, selection per channel (head, range, shortest path, full), several channels |
//! | `upstream` | the graph, graph data and signature services, and their environment overrides |
//! | `payload` | a payload's `release-manifests/`: components, version, KubeVirt image |
//! | `signature` | release signatures verified (OpenPGP) and the signature ConfigMap |
//! | `graph_image` | the graph data image, built in the cache |
//!
//! Every payload goes through the disk cache, whatever the workflow, as catalogs do:
//!
//! ```text
//! mirror to mirror, mirror to disk                 disk to mirror (no network)
//! graph per channel and arch -> working-dir        graph files read back from working-dir
//!   hold-release/cincinnati-graph-data/<arch>-<channel>.json
//! releases selected                                the same selection, from the same files
//! payload -> cache openshift/release-images:<tag>  payload read from the cache by tag
//! signature fetched, verified -> working-dir       signature read back, verified
//!   signatures/<tag>-sha256-<hex>
//! graph image built -> cache openshift/graph-image:latest
//! ```
//!
//! Names on the mirror are oc-mirror v2's: the payload `openshift/release-images:<version>-<arch>`
//! (arch as in release tags: x86_64, aarch64, ppc64le, s390x, multi), each component
//! `openshift/release:<version>-<arch>-<component>`, the graph image
//! `openshift/graph-image:latest`. A payload is pushed after its components, so a cluster never
//! sees a release whose images are missing. Release errors are critical: they stop the run.

pub mod graph;
pub mod graph_image;
pub mod payload;
pub mod signature;
pub mod upstream;

use std::path::{Path, PathBuf};

use super::cache::Cache;
use super::cached_image;
use super::copy::Engine;
use super::imageset::{Platform, ReleaseChannel};
use super::plan::{CACHE_REGISTRY, Category, ImagePlan, Mapping, Plan};
use super::version::Version;
use crate::reference::image::ImageRef;
use crate::reference::{Digest, Reference, RepoName, Tag};
use payload::Payload;
use signature::Keyring;
use upstream::Upstream;

/// Repository of release payloads on the mirror (and in the cache).
pub const RELEASE_REPO: &str = "openshift/release-images";
/// Repository of release components on the mirror.
pub const COMPONENT_REPO: &str = "openshift/release";
/// Repository of the graph data image.
pub const GRAPH_REPO: &str = "openshift/graph-image";
/// Tag of the graph data image.
pub const GRAPH_TAG: &str = "latest";
/// Working-dir directory of the graph responses (oc-mirror's).
const GRAPH_DIR: &str = "hold-release/cincinnati-graph-data";
/// Working-dir directory of the verified signatures (oc-mirror's).
const SIGNATURE_DIR: &str = "signatures";

/// Why the releases could not be prepared. Each error names the channel or the release.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The graph of a channel could not be read or has no such releases.
    #[error("channel {channel} ({arch}): {message}")]
    Channel {
        /// The channel.
        channel: String,
        /// The architecture.
        arch: String,
        /// Why.
        message: String,
    },
    /// A release payload could not be copied or read.
    #[error("release {release}: {message}")]
    Release {
        /// The payload (tag or reference).
        release: String,
        /// Why.
        message: String,
    },
    /// A signature is missing or does not verify.
    #[error("release {release}: signature: {message} (--ignore-release-signature mirrors it anyway)")]
    Signature {
        /// The payload.
        release: String,
        /// Why.
        message: String,
    },
    /// The graph data image could not be built or found.
    #[error("graph image: {0}")]
    GraphImage(String),
    /// The configuration or environment asks for something impossible.
    #[error("{0}")]
    Config(String),
}

/// How releases reach the cache in this run.
pub enum Fetch<'a> {
    /// From their registries (through this engine, registries to the cache) and the services.
    Online {
        /// Copies payloads and the graph base image into the cache.
        engine: &'a Engine,
        /// The graph, graph data and signature services.
        upstream: &'a Upstream,
    },
    /// Already in the cache and the working dir (disk to mirror).
    Offline,
}

/// What [`prepare`] works with.
pub struct Context<'a> {
    /// The disk cache.
    pub cache: &'a Cache,
    /// `<root>/working-dir`.
    pub working_dir: &'a Path,
    /// Online or offline.
    pub fetch: Fetch<'a>,
    /// `--ignore-release-signature`.
    pub ignore_signatures: bool,
}

/// One release made ready: its payload in the cache, read.
#[derive(Debug, Clone)]
pub struct Release {
    /// `<version>-<arch>`: the payload's tag on the mirror and its components' tag prefix.
    pub tag: Tag,
    /// The payload as a cluster names it (upstream, with the tag and pinned to the digest).
    pub origin: ImageRef,
    /// The payload's digest.
    pub digest: Digest,
    /// What the payload lists.
    pub payload: Payload,
    /// Its verified signature (none only with `--ignore-release-signature`).
    pub signature: Option<Vec<u8>>,
}

impl Release {
    /// The payload in the cache, pinned to its digest.
    #[must_use]
    pub fn cached(&self) -> ImageRef {
        let repo: RepoName = RELEASE_REPO.parse().expect("a valid repository name");
        ImageRef::new(CACHE_REGISTRY, repo, Some(self.tag.clone()), Some(self.digest.clone()))
            .expect("the cache name, a repository and a tag form a reference")
    }
}

/// The `platform:` section made ready.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The releases, by version.
    pub releases: Vec<Release>,
    /// The graph data image in the cache (`openshift/graph-image:latest`), pinned.
    pub graph_image: Option<ImageRef>,
}

/// One payload wanted: from the graph (with its version and arch) or named in `release:`.
struct Wanted {
    /// The payload reference (by digest from the graph; as configured for `release:`).
    image: ImageRef,
    /// `<version>-<arch>` when known before the payload is read.
    tag: Option<Tag>,
}

/// Prepares `platform`: releases resolved, payloads in the cache and read, signatures verified,
/// the graph image built.
///
/// # Errors
/// [`Error`], naming the channel or release; release errors stop the run.
pub async fn prepare(platform: &Platform, context: &Context<'_>) -> Result<Prepared, Error> {
    let keyring = keyring()?;
    let wanted = resolve(platform, context).await?;
    let digests = payloads_in_cache(&wanted, context).await?;
    let mut releases = Vec::new();
    for (want, digest) in wanted.iter().zip(digests) {
        releases.push(read_release(want, digest, platform.kube_virt_container, &keyring, context).await?);
    }
    releases.sort_by(|a, b| a.tag.as_str().cmp(b.tag.as_str()));
    releases.dedup_by(|a, b| a.digest == b.digest && a.tag == b.tag);
    let graph_image = if platform.graph { Some(graph_image(context).await?) } else { None };
    Ok(Prepared { releases, graph_image })
}

/// The key ring: `$OCP_SIGNATURE_VERIFICATION_PK` (a key file) or Red Hat's release keys.
fn keyring() -> Result<Keyring, Error> {
    let file = std::env::var_os(signature::KEY_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    Keyring::load(file.as_deref()).map_err(|e| Error::Config(format!("{}: {e}", signature::KEY_FILE_ENV)))
}

/// The payloads the configuration asks for: each channel's selection per architecture, and
/// `release:`.
async fn resolve(platform: &Platform, context: &Context<'_>) -> Result<Vec<Wanted>, Error> {
    let mut wanted = Vec::new();
    if !platform.channels.is_empty() {
        for arch in architectures(platform) {
            let arch_tag = graph::arch_tag(arch)
                .ok_or_else(|| Error::Config(format!("platform.architectures: unknown architecture {arch:?}")))?;
            let mut graphs = Vec::new();
            for channel in &platform.channels {
                graphs.push(channel_graph(channel, arch, context).await?);
            }
            let bounds = platform.channels.iter().map(bounds).collect::<Result<Vec<_>, _>>()?;
            let selections: Vec<(graph::ChannelSelection<'_>, &graph::Graph)> = platform
                .channels
                .iter()
                .zip(&bounds)
                .zip(&graphs)
                .map(|((channel, (min, max)), graph)| {
                    let selection = graph::ChannelSelection {
                        name: &channel.name,
                        arch,
                        min: min.as_ref(),
                        max: max.as_ref(),
                        shortest_path: channel.shortest_path,
                        full: channel.full,
                    };
                    (selection, graph)
                })
                .collect();
            let selected = graph::select_channels(&selections).map_err(|e| Error::Channel {
                channel: channel_names(&platform.channels),
                arch: arch.into(),
                message: e.to_string(),
            })?;
            for warning in &selected.warnings {
                tracing::warn!(arch, "{warning}");
            }
            for release in selected.releases {
                let tag = format!("{}-{arch_tag}", release.version);
                let bad = |message: String| Error::Release { release: tag.clone(), message };
                let image: ImageRef =
                    release.payload.parse().map_err(|e| bad(format!("payload {}: {e}", release.payload)))?;
                if image.digest().is_none() {
                    return Err(bad(format!("the graph names the payload {} without a digest", release.payload)));
                }
                wanted.push(Wanted { image, tag: Some(tag.parse().map_err(|e| bad(format!("tag {tag}: {e}")))?) });
            }
        }
    }
    if let Some(release) = &platform.release {
        let name = release.trim_start_matches("docker://");
        let image: ImageRef = name.parse().map_err(|e| Error::Config(format!("platform.release: {release}: {e}")))?;
        wanted.push(Wanted { tag: image.tag().cloned(), image });
    }
    Ok(wanted)
}

/// The configured architectures; `amd64` when none is.
fn architectures(platform: &Platform) -> Vec<&str> {
    if platform.architectures.is_empty() {
        vec!["amd64"]
    } else {
        platform.architectures.iter().map(String::as_str).collect()
    }
}

/// The working-dir files disk to mirror reads to make the same selection without a network,
/// relative to the working dir: the update graph of each channel and architecture, and the
/// signature of each release that has one. Mirror to disk archives these and no other
/// working-dir file.
#[must_use]
pub fn offline_inputs(platform: &Platform, prepared: &Prepared) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !platform.channels.is_empty() {
        for arch in architectures(platform) {
            out.extend(platform.channels.iter().map(|c| graph_file(arch, c)));
        }
    }
    out.extend(prepared.releases.iter().filter(|r| r.signature.is_some()).map(|r| signature_file(&r.tag, &r.digest)));
    out
}

/// A channel's update graph, relative to the working dir.
fn graph_file(arch: &str, channel: &ReleaseChannel) -> PathBuf {
    Path::new(GRAPH_DIR).join(format!("{arch}-{}.json", channel.name))
}

/// A release's signature, relative to the working dir.
fn signature_file(tag: &Tag, digest: &Digest) -> PathBuf {
    Path::new(SIGNATURE_DIR).join(format!("{tag}-{}", signature_suffix(digest)))
}

fn channel_names(channels: &[ReleaseChannel]) -> String {
    channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A channel's `minVersion` and `maxVersion` (`4.16` means `4.16.0`).
fn bounds(channel: &ReleaseChannel) -> Result<(Option<Version>, Option<Version>), Error> {
    let parse = |field: &str, value: Option<&String>| {
        value
            .map(|v| {
                Version::parse_lenient(v)
                    .map_err(|e| Error::Config(format!("platform.channels {}: {field} {v:?}: {e}", channel.name)))
            })
            .transpose()
    };
    Ok((parse("minVersion", channel.min_version.as_ref())?, parse("maxVersion", channel.max_version.as_ref())?))
}

/// The graph of one channel and arch: fetched and kept in the working dir (online), or read
/// back from there (offline).
async fn channel_graph(channel: &ReleaseChannel, arch: &str, context: &Context<'_>) -> Result<graph::Graph, Error> {
    let bad = |message: String| Error::Channel { channel: channel.name.clone(), arch: arch.to_string(), message };
    let file = context.working_dir.join(graph_file(arch, channel));
    let bytes = match &context.fetch {
        Fetch::Online { upstream, .. } => {
            let okd = channel.platform_type.as_deref() == Some("okd");
            let bytes = upstream.graph(&channel.name, arch, okd).await.map_err(|e| bad(e.to_string()))?;
            write_kept(&file, &bytes).map_err(bad)?;
            bytes
        }
        Fetch::Offline => std::fs::read(&file).map_err(|e| {
            bad(format!(
                "no update graph in the archives ({}: {e}); run mirror to disk with this configuration first",
                file.display()
            ))
        })?,
    };
    graph::parse(&bytes).map_err(|e| bad(e.to_string()))
}

fn release_repo() -> RepoName {
    RELEASE_REPO.parse().expect("a valid repository name")
}

/// The digests of the wanted payloads, in the cache: copied there (online) or looked up
/// (offline). Any failure stops the run.
async fn payloads_in_cache(wanted: &[Wanted], context: &Context<'_>) -> Result<Vec<Digest>, Error> {
    let repo = release_repo();
    match &context.fetch {
        Fetch::Online { engine, .. } => {
            let destination = ImageRef::new(CACHE_REGISTRY, repo, None, None).expect("a valid cache reference");
            let plans: Vec<ImagePlan> = wanted
                .iter()
                .map(|w| ImagePlan {
                    origin: w.image.clone(),
                    source: w.image.clone(),
                    destination: destination.clone(),
                    category: Category::Release,
                    needed_by: Vec::new(),
                })
                .collect();
            // Outcomes come in completion order: match them to the wanted payloads by origin.
            let outcomes = engine.copy_all(&plans).await;
            wanted
                .iter()
                .map(|w| {
                    let release = w.image.to_string();
                    match outcomes.iter().find(|o| o.plan.origin == w.image).map(|o| &o.result) {
                        Some(Ok(digest)) => Ok(digest.clone()),
                        Some(Err(e)) => Err(Error::Release { release, message: super::error_chain(e) }),
                        None => Err(Error::Release { release, message: "not copied".into() }),
                    }
                })
                .collect()
        }
        Fetch::Offline => {
            let mut out = Vec::new();
            for want in wanted {
                let missing = |e: String| Error::Release {
                    release: want.tag.as_ref().map_or_else(|| want.image.to_string(), ToString::to_string),
                    message: format!(
                        "{e}; the archives hold no such payload: run mirror to disk with this configuration first"
                    ),
                };
                let digest = match (&want.tag, want.image.digest()) {
                    (Some(tag), _) => context
                        .cache
                        .resolve_tag(&repo, tag)
                        .await
                        .map_err(|e| missing(e.to_string()))?
                        .ok_or_else(|| missing(format!("{RELEASE_REPO}:{tag} is not in the cache")))?,
                    (None, Some(d)) => d.clone(),
                    (None, None) => return Err(missing("no tag or digest".into())),
                };
                if let Some(expected) = want.image.digest().filter(|d| **d != digest) {
                    return Err(missing(format!("the cache holds {digest}, the configuration names {expected}")));
                }
                context
                    .cache
                    .get_manifest(&repo, &Reference::Digest(digest.clone()))
                    .await
                    .map_err(|e| missing(e.to_string()))?;
                out.push(digest);
            }
            Ok(out)
        }
    }
}

/// Reads one payload, finds its signature and names it; tags it in the cache.
async fn read_release(
    want: &Wanted,
    digest: Digest,
    kubevirt: bool,
    keyring: &Keyring,
    context: &Context<'_>,
) -> Result<Release, Error> {
    let repo = release_repo();
    let shown = want.tag.as_ref().map_or_else(|| want.image.to_string(), ToString::to_string);
    let bad = |message: String| Error::Release { release: shown.clone(), message };
    let payload = payload::read(context.cache, &repo, &digest, kubevirt).await.map_err(|e| bad(e.to_string()))?;
    let signature = match find_signature(&digest, &shown, keyring, context).await {
        Ok(found) => Some(found),
        Err(message) if context.ignore_signatures => {
            tracing::warn!(release = %shown, "signature: {message}; mirrored anyway (--ignore-release-signature)");
            None
        }
        Err(message) => return Err(Error::Signature { release: shown.clone(), message }),
    };
    let signed_tag = signature.as_ref().and_then(|(_, claims)| identity_tag(&claims.docker_reference));
    let tag = match want.tag.clone().or(signed_tag) {
        Some(tag) => tag,
        None => derived_tag(context.cache, &repo, &digest, &payload.version)
            .await
            .map_err(bad)?
            .ok_or_else(|| bad("cannot tell the release's version and architecture".into()))?,
    };
    let stored =
        context.cache.get_manifest(&repo, &Reference::Digest(digest.clone())).await.map_err(|e| bad(e.to_string()))?;
    context.cache.put_manifest(&repo, &stored.bytes, &digest, Some(&tag)).await.map_err(|e| bad(e.to_string()))?;
    if let Some((bytes, _)) = &signature {
        save_signature(context.working_dir, &tag, &digest, bytes).map_err(bad)?;
    }
    let origin =
        ImageRef::new(want.image.registry(), want.image.repository().clone(), Some(tag.clone()), Some(digest.clone()))
            .map_err(|e| bad(e.to_string()))?;
    tracing::info!(release = %tag, components = payload.components.len(), "release payload read");
    Ok(Release { tag, origin, digest, payload, signature: signature.map(|(bytes, _)| bytes) })
}

/// The tag of a signature's `docker-reference`.
fn identity_tag(reference: &str) -> Option<Tag> {
    reference.parse::<ImageRef>().ok()?.tag().cloned()
}

/// `<version>-<arch>` from the payload: release-metadata's version, and `multi` for an index or
/// the image config's architecture.
async fn derived_tag(cache: &Cache, repo: &RepoName, digest: &Digest, version: &str) -> Result<Option<Tag>, String> {
    let root = cache.get_manifest(repo, &Reference::Digest(digest.clone())).await.map_err(|e| e.to_string())?;
    let parsed = cached_image::parse_manifest(&root.bytes, digest).map_err(|e| e.to_string())?;
    let arch = if parsed.kind == crate::manifest::Kind::Index {
        "multi".to_string()
    } else {
        let image = cached_image::platform_image(cache, repo, digest).await.map_err(|e| e.to_string())?;
        let config = cached_image::read_blob(cache, &image.config.digest).await.map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_slice(&config).map_err(|e| format!("image config: {e}"))?;
        let Some(arch) = value["architecture"].as_str().and_then(graph::arch_tag) else { return Ok(None) };
        arch.to_string()
    };
    Ok(format!("{version}-{arch}").parse().ok())
}

/// The signature of `digest`: kept from an earlier run in the working dir, or fetched (online);
/// verified either way. Returns the bytes and what they claim.
async fn find_signature(
    digest: &Digest,
    shown: &str,
    keyring: &Keyring,
    context: &Context<'_>,
) -> Result<(Vec<u8>, signature::Claims), String> {
    if let Some(bytes) = saved_signature(context.working_dir, digest) {
        match signature::verify(keyring, &bytes, digest) {
            Ok(claims) => return Ok((bytes, claims)),
            Err(e) if matches!(context.fetch, Fetch::Offline) => return Err(e.to_string()),
            Err(e) => tracing::warn!(release = shown, "the kept signature does not verify ({e}); fetching it again"),
        }
    }
    let Fetch::Online { upstream, .. } = &context.fetch else {
        return Err("the archives hold no signature for it".into());
    };
    let bytes = upstream
        .signature(digest)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the signature store {} has none for {digest}", upstream.endpoints().signatures))?;
    let claims = signature::verify(keyring, &bytes, digest).map_err(|e| e.to_string())?;
    Ok((bytes, claims))
}

fn signature_suffix(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

/// A kept signature of `digest`: `signatures/<tag>-sha256-<hex>` (any tag).
fn saved_signature(working_dir: &Path, digest: &Digest) -> Option<Vec<u8>> {
    let suffix = signature_suffix(digest);
    let entries = std::fs::read_dir(working_dir.join(SIGNATURE_DIR)).ok()?;
    entries
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))
        .and_then(|e| std::fs::read(e.path()).ok())
}

fn save_signature(working_dir: &Path, tag: &Tag, digest: &Digest, bytes: &[u8]) -> Result<(), String> {
    let path = working_dir.join(signature_file(tag, digest));
    if std::fs::read(&path).is_ok_and(|kept| kept == bytes) {
        return Ok(());
    }
    write_kept(&path, bytes)
}

/// The graph data image: built in the cache from the graph data tarball and the base image
/// (online), or found there (offline).
async fn graph_image(context: &Context<'_>) -> Result<ImageRef, Error> {
    let repo: RepoName = GRAPH_REPO.parse().expect("a valid repository name");
    let tag: Tag = GRAPH_TAG.parse().expect("a valid tag");
    let digest = match &context.fetch {
        Fetch::Offline => {
            context.cache.resolve_tag(&repo, &tag).await.map_err(|e| Error::GraphImage(e.to_string()))?.ok_or_else(
                || {
                    Error::GraphImage(format!(
                        "{GRAPH_REPO}:{GRAPH_TAG} is not in the archives; run mirror to disk with graph: true first"
                    ))
                },
            )?
        }
        Fetch::Online { engine, upstream } => {
            let base_name = std::env::var("GRAPH_BASE_IMAGE_OVERRIDE")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| graph_image::BASE_IMAGE.to_string());
            let base: ImageRef = base_name
                .trim_start_matches("docker://")
                .parse()
                .map_err(|e| Error::GraphImage(format!("base image {base_name}: {e}")))?;
            let plan = ImagePlan {
                origin: base.clone(),
                source: base.clone(),
                destination: ImageRef::new(CACHE_REGISTRY, repo.clone(), None, None).expect("a valid cache reference"),
                category: Category::Graph,
                needed_by: Vec::new(),
            };
            let base_digest = match engine.copy_all(std::slice::from_ref(&plan)).await.pop().map(|o| o.result) {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    return Err(Error::GraphImage(format!("base image {base}: {}", super::error_chain(&e))));
                }
                None => return Err(Error::GraphImage(format!("base image {base}: not copied"))),
            };
            let tarball = context.cache.root().join(format!("graph-data-{}.tar.gz", uuid::Uuid::new_v4()));
            let built = async {
                upstream.graph_data(&tarball).await.map_err(|e| Error::GraphImage(format!("graph data: {e}")))?;
                graph_image::build(context.cache, &repo, &tag, &base_digest, &tarball)
                    .await
                    .map_err(|e| Error::GraphImage(e.to_string()))
            }
            .await;
            let _ = tokio::fs::remove_file(&tarball).await;
            built?
        }
    };
    Ok(ImageRef::new(CACHE_REGISTRY, repo, Some(tag), Some(digest)).expect("a valid cache reference"))
}

/// Adds the component images of every release (and KubeVirt images) to `plan`; returns the
/// entries that go from the cache after everything else: the payloads and the graph image.
///
/// # Errors
/// [`Error::Release`] when a component can't be named or mapped.
pub fn plan_releases(
    prepared: &Prepared,
    mapping: &Mapping<'_>,
    blocked: &[regex::Regex],
    plan: &mut Plan,
) -> Result<Vec<ImagePlan>, Error> {
    let component_repo: RepoName = COMPONENT_REPO.parse().expect("a valid repository name");
    let mut last = Vec::new();
    for release in &prepared.releases {
        let bad = |message: String| Error::Release { release: release.tag.to_string(), message };
        let kubevirt = release.payload.kubevirt.iter().map(|image| (payload::KUBEVIRT_COMPONENT, image.as_str()));
        let components = release.payload.components.iter().map(|c| (c.name.as_str(), c.image.as_str()));
        for (name, image) in components.chain(kubevirt) {
            let origin: ImageRef = image.parse().map_err(|e| bad(format!("component {name}: {image}: {e}")))?;
            let tag: Tag = format!("{}-{name}", release.tag)
                .parse()
                .map_err(|e| bad(format!("component {name}: no valid tag: {e}")))?;
            let mut entry = mapping
                .map(origin, Some(component_repo.clone()), Some(tag), Category::Release)
                .map_err(|e| bad(e.to_string()))?;
            entry.needed_by.push(format!("component {name} of release {}", release.tag));
            plan.add(entry, blocked);
        }
        let destination =
            mapping.registry_destination(&release_repo(), &release.tag).map_err(|e| bad(e.to_string()))?;
        let cached = release.cached();
        last.push(ImagePlan {
            origin: release.origin.clone(),
            source: cached.clone(),
            destination: destination.unwrap_or(cached),
            category: Category::Release,
            needed_by: vec![format!("release {}", release.tag)],
        });
    }
    if let Some(cached) = &prepared.graph_image {
        let repo: RepoName = GRAPH_REPO.parse().expect("a valid repository name");
        let tag: Tag = GRAPH_TAG.parse().expect("a valid tag");
        let destination = mapping.registry_destination(&repo, &tag).map_err(|e| Error::GraphImage(e.to_string()))?;
        last.push(ImagePlan {
            origin: cached.clone(),
            source: cached.clone(),
            destination: destination.unwrap_or_else(|| cached.clone()),
            category: Category::Graph,
            needed_by: vec!["graph: true".into()],
        });
    }
    Ok(last)
}

/// Writes a file kept in the working dir (a graph, a signature), whole or not at all.
fn write_kept(path: &Path, bytes: &[u8]) -> Result<(), String> {
    super::files::write_atomically(path, bytes).map_err(|(path, e)| format!("{}: {e}", path.display()))
}
