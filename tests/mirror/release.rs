//! OpenShift release images for the `platform:` tests, built here and pushed to a registry on
//! loopback in Red Hat's layout. Everything is Docker schema 2 (as Red Hat publishes releases),
//! tiny (a few KB per release) and deterministic: the same spec and host give the same digests.
//!
//! ```text
//! openshift-release-dev/ocp-release:<version>-x86_64   payload: a Docker v2-2 manifest
//! openshift-release-dev/ocp-release:<version>-multi    payload: a manifest list (amd64, arm64)
//! openshift-release-dev/ocp-v4.0-art-dev@sha256:…      components and kubevirt images, by digest only
//! ubi9/ubi:latest                                      the graph image's base (push_base_image)
//! ```
//!
//! A payload image has three gzip layers: a RHEL base (`etc/redhat-release`, per architecture,
//! shared with every component image, so the two repositories share a blob), the CVO
//! (`usr/bin/cluster-version-operator`, the same bytes in every payload of an architecture) and
//! `release-manifests/`:
//!
//! - `image-references`: the ImageStream naming every component by digest (as `oc adm release
//!   new` writes it, pretty-printed, fields in the real order);
//! - `release-metadata`: `cincinnati-metadata-v0` with `version` and `previous`;
//! - `0000_50_installer_coreos-bootimages.yaml`: the `coreos-bootimages` ConfigMap whose `stream`
//!   JSON names the kubevirt image (`architectures.x86_64.images.kubevirt.digest-ref`, and
//!   `aarch64` for multi payloads). That image is NOT in image-references;
//! - `0000_00_cluster-version-operator_00_namespace.yaml`: an ordinary manifest.
//!
//! The config carries `architecture`, `os` and the label `io.openshift.release: <version>`.
//!
//! Components (`component_names(n)`: `cli`, `installer`, …, then `component-<i>`): a RHEL base
//! layer plus one small layer. Components at even positions change with every version; those at
//! odd positions only with the minor version, so 4.1.0 and 4.1.1 share half their component
//! images, as real z-streams do. A multi payload's two children carry the same image-references,
//! whose components are manifest lists (amd64, arm64); their amd64 child is the very image the
//! x86_64 release of the same version names.
//!
//! API: [`push_release`] (a [`ReleaseSpec`] → a [`PushedRelease`]), [`push_releases`] (several
//! in parallel, shared blobs pushed once), [`push_base_image`], and to
//! read releases back from any registry: [`release_files`] and [`image_references`].
#![allow(dead_code)] // the smoke test and the mirroring tests use different parts

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use sha2::Digest as _;

use crate::catalog::gzip_layer;
use crate::fixtures::Http;

/// Repository of release payloads (tagged `<version>-x86_64` or `<version>-multi`).
pub const RELEASE_REPO: &str = "openshift-release-dev/ocp-release";
/// Repository of component and kubevirt images (pushed by digest, never tagged).
pub const COMPONENT_REPO: &str = "openshift-release-dev/ocp-v4.0-art-dev";
/// Repository and tag of the graph image's base.
pub const BASE_IMAGE_REPO: &str = "ubi9/ubi";
pub const BASE_IMAGE_TAG: &str = "latest";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Paths inside a payload image.
pub const IMAGE_REFERENCES: &str = "release-manifests/image-references";
pub const RELEASE_METADATA: &str = "release-manifests/release-metadata";
pub const BOOTIMAGES: &str = "release-manifests/0000_50_installer_coreos-bootimages.yaml";
pub const CVO_NAMESPACE: &str = "release-manifests/0000_00_cluster-version-operator_00_namespace.yaml";

/// The architectures of a multi payload, as (image architecture, RHCOS stream architecture).
const MULTI_ARCHES: [(&str, &str); 2] = [("amd64", "x86_64"), ("arm64", "aarch64")];

const COMPONENT_NAMES: &[&str] = &[
    "cli",
    "installer",
    "machine-config-operator",
    "etcd",
    "hyperkube",
    "console",
    "oauth-server",
    "cluster-network-operator",
    "ovn-kubernetes",
    "coredns",
    "haproxy-router",
    "prometheus",
    "insights-operator",
    "must-gather",
    "tools",
    "pod",
    "kube-rbac-proxy",
    "cluster-ingress-operator",
    "cluster-storage-operator",
    "tests",
];

/// What to push.
#[derive(Debug, Clone)]
pub struct ReleaseSpec {
    /// `4.1.0`.
    pub version: String,
    /// A `multi` payload (manifest list of amd64 and arm64) instead of an `x86_64` one.
    pub multi: bool,
    /// How many components (5–20 is typical; names beyond the built-in list are generated).
    pub components: usize,
    /// Versions in the payload's `release-metadata` `previous` list.
    pub previous: Vec<String>,
}

impl ReleaseSpec {
    /// An x86_64 release with six components and no `previous`.
    pub fn x86_64(version: &str) -> ReleaseSpec {
        ReleaseSpec { version: version.into(), multi: false, components: 6, previous: Vec::new() }
    }

    /// A multi release with six components and no `previous`.
    pub fn multi(version: &str) -> ReleaseSpec {
        ReleaseSpec { multi: true, ..ReleaseSpec::x86_64(version) }
    }
}

/// What [`push_release`] pushed. Pull specs are `host/repo@sha256:…`.
#[derive(Debug, Clone)]
pub struct PushedRelease {
    /// `4.1.0`.
    pub version: String,
    /// `4.1.0-x86_64` or `4.1.0-multi`.
    pub tag: String,
    /// Digest of the payload manifest (of the manifest list for multi).
    pub digest: String,
    /// `host/openshift-release-dev/ocp-release@sha256:…`.
    pub payload: String,
    /// `host/openshift-release-dev/ocp-release:<tag>` (the signatures' docker-reference).
    pub tagged: String,
    /// The payload manifest's bytes (what a release signature signs) and media type.
    pub manifest: Vec<u8>,
    pub media_type: String,
    /// Multi only: the platform payloads, (architecture, digest).
    pub children: Vec<(String, String)>,
    /// Components in image-references order: (name, pull spec by digest).
    pub components: Vec<(String, String)>,
    /// The kubevirt image named by the x86_64 stream (pull spec by digest).
    pub kubevirt: String,
}

impl PushedRelease {
    /// The pull spec of component `name`.
    pub fn component(&self, name: &str) -> &str {
        self.components
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| panic!("{} has no component {name}", self.tag), |(_, spec)| spec.as_str())
    }

    /// Every image the release consists of (payload, components, kubevirt), sorted.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = std::iter::once(self.payload.clone())
            .chain(self.components.iter().map(|(_, s)| s.clone()))
            .chain(std::iter::once(self.kubevirt.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The first `n` component names.
pub fn component_names(n: usize) -> Vec<String> {
    (0..n).map(|i| COMPONENT_NAMES.get(i).map_or_else(|| format!("component-{i}"), |s| (*s).to_string())).collect()
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Pushes to one registry, each blob and untagged manifest once per `Pusher` (the registry is
/// not asked again for what this run already gave it). Shared by the threads of one
/// [`push_releases`] call.
struct Pusher<'a> {
    http: &'a Http,
    host: &'a str,
    /// (repository, digest) → done once pushed. A thread that wants something another thread is
    /// pushing waits for it: distribution 2.8 rewrites a repository's blob link in place, so a
    /// second concurrent upload of a blob can make a manifest PUT see the blob as unknown.
    done: Mutex<HashMap<(String, String), Arc<OnceLock<()>>>>,
}

impl Pusher<'_> {
    fn new<'a>(http: &'a Http, host: &'a str) -> Pusher<'a> {
        Pusher { http, host, done: Mutex::new(HashMap::new()) }
    }

    /// Runs `push` for (`repo`, `digest`) unless this pusher already did; returns once it is done.
    fn once(&self, repo: &str, digest: &str, push: impl FnOnce()) {
        let cell = {
            let mut done = self.done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(done.entry((repo.into(), digest.into())).or_default())
        };
        cell.get_or_init(push);
    }

    fn blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        self.once(repo, &digest, || {
            self.http.push_blob(repo, data);
        });
        digest
    }

    fn manifest(&self, repo: &str, tag: Option<&str>, media_type: &'static str, bytes: &[u8]) -> Pushed {
        let digest = sha256(bytes);
        match tag {
            Some(tag) => {
                self.http.push_manifest(repo, tag, media_type, bytes);
            }
            None => self.once(repo, &digest, || {
                self.http.push_manifest(repo, &digest, media_type, bytes);
            }),
        }
        Pushed { digest, size: bytes.len(), media_type }
    }

    /// `host/repo@digest`.
    fn pull_spec(&self, repo: &str, digest: &str) -> String {
        format!("{}/{repo}@{digest}", self.host)
    }
}

/// A manifest that was pushed: digest, size, media type.
#[derive(Debug, Clone)]
struct Pushed {
    digest: String,
    size: usize,
    media_type: &'static str,
}

/// Pushes a Docker v2-2 image (gzip layers given with their diff IDs) under `tag` or by digest.
fn push_image(
    p: &Pusher,
    repo: &str,
    tag: Option<&str>,
    config: &serde_json::Value,
    layers: &[(Vec<u8>, String)],
) -> Pushed {
    let mut config = config.clone();
    config["os"] = "linux".into();
    config["created"] = "2024-01-01T00:00:00Z".into();
    config["rootfs"] =
        serde_json::json!({"type": "layers", "diff_ids": layers.iter().map(|(_, d)| d).collect::<Vec<_>>()});
    let config = config.to_string();
    let config_digest = p.blob(repo, config.as_bytes());
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(l, _)| serde_json::json!({"mediaType": DOCKER_LAYER, "size": l.len(), "digest": p.blob(repo, l)}))
        .collect();
    let manifest = serde_json::to_string_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.len(), "digest": config_digest},
        "layers": layers,
    }))
    .expect("manifest json");
    p.manifest(repo, tag, DOCKER_MANIFEST, manifest.as_bytes())
}

/// Pushes a manifest list of `children` (architecture, manifest) under `tag` or by digest.
fn push_list(p: &Pusher, repo: &str, tag: Option<&str>, children: &[(&str, Pushed)]) -> Pushed {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(arch, m)| {
            serde_json::json!({
                "mediaType": m.media_type, "size": m.size, "digest": m.digest,
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let list = serde_json::to_string_pretty(&serde_json::json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": manifests,
    }))
    .expect("list json");
    p.manifest(repo, tag, DOCKER_LIST, list.as_bytes())
}

/// The RHEL base layer of an architecture, shared by payloads, components and kubevirt images.
fn rhel_base(arch: &str) -> (Vec<u8>, String) {
    gzip_layer(&[
        ("etc/redhat-release", b"Red Hat Enterprise Linux CoreOS release 4 (test fixture)\n".to_vec()),
        ("usr/lib/arch", format!("{arch}\n").into_bytes()),
    ])
}

/// `4.1.5` → (4, 1, 5), for sorting versions.
pub fn version_parts(version: &str) -> (u32, u32, u32) {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// What a component's own layer depends on: the version for even positions, the minor version
/// for odd ones.
fn component_key(index: usize, version: &str) -> String {
    let (major, minor, _) = version_parts(version);
    if index.is_multiple_of(2) { version.to_string() } else { format!("{major}.{minor}") }
}

/// A 40-hex "commit" derived from `seed`.
fn commit_of(seed: &str) -> String {
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..40].to_string()
}

/// Pushes the single-architecture image of one component.
fn push_component_image(p: &Pusher, name: &str, key: &str, arch: &str) -> Pushed {
    let own =
        gzip_layer(&[(&format!("usr/bin/{name}"), format!("#!/bin/sh\n# {name} {key} for {arch}\n").into_bytes())]);
    let config = serde_json::json!({
        "architecture": arch,
        "config": {"Labels": {
            "io.openshift.build.commit.id": commit_of(&format!("{name} {key}")),
            "io.openshift.build.source-location": format!("https://github.com/openshift/{name}"),
            "io.openshift.release.test-component": name,
        }},
    });
    push_image(p, COMPONENT_REPO, None, &config, &[rhel_base(arch), own])
}

/// Pushes component `index` (`name`) of `version`; returns its pull spec.
fn push_component(p: &Pusher, name: &str, index: usize, version: &str, multi: bool) -> String {
    let key = component_key(index, version);
    let pushed = if multi {
        let children: Vec<(&str, Pushed)> =
            MULTI_ARCHES.iter().map(|(arch, _)| (*arch, push_component_image(p, name, &key, arch))).collect();
        push_list(p, COMPONENT_REPO, None, &children)
    } else {
        push_component_image(p, name, &key, "amd64")
    };
    p.pull_spec(COMPONENT_REPO, &pushed.digest)
}

/// Pushes the kubevirt (RHCOS container disk) image of `version` for one architecture.
fn push_kubevirt(p: &Pusher, version: &str, arch: &str) -> String {
    let disk = gzip_layer(&[("disk/rhcos-kubevirt.qcow2", format!("QFI\u{fb} rhcos {version} {arch}\n").into_bytes())]);
    let config = serde_json::json!({"architecture": arch, "config": {"Labels": {"version": rhcos_build(version)}}});
    let pushed = push_image(p, COMPONENT_REPO, None, &config, &[rhel_base(arch), disk]);
    p.pull_spec(COMPONENT_REPO, &pushed.digest)
}

/// The RHCOS build of a release: `4.1.5` → `41.92.202401010500-0`.
fn rhcos_build(version: &str) -> String {
    let (major, minor, patch) = version_parts(version);
    format!("{major}{minor}.92.20240101{patch:02}00-0")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageStream<'a> {
    kind: &'a str,
    api_version: &'a str,
    metadata: StreamMeta<'a>,
    spec: StreamSpec<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamMeta<'a> {
    name: &'a str,
    creation_timestamp: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamSpec<'a> {
    lookup_policy: BTreeMap<&'a str, bool>,
    tags: Vec<StreamTag<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamTag<'a> {
    name: &'a str,
    annotations: BTreeMap<&'a str, String>,
    from: BTreeMap<&'a str, &'a str>,
    generation: Option<()>,
    import_policy: serde_json::Map<String, serde_json::Value>,
    reference_policy: BTreeMap<&'a str, &'a str>,
}

/// The `image-references` ImageStream of a release.
fn image_references_json(version: &str, components: &[(String, String)]) -> String {
    let tags = components
        .iter()
        .map(|(name, spec)| StreamTag {
            name,
            annotations: BTreeMap::from([
                ("io.openshift.build.commit.id", commit_of(spec)),
                ("io.openshift.build.commit.ref", String::new()),
                ("io.openshift.build.source-location", format!("https://github.com/openshift/{name}")),
            ]),
            from: BTreeMap::from([("kind", "DockerImage"), ("name", spec.as_str())]),
            generation: None,
            import_policy: serde_json::Map::new(),
            reference_policy: BTreeMap::from([("type", "")]),
        })
        .collect();
    let stream = ImageStream {
        kind: "ImageStream",
        api_version: "image.openshift.io/v1",
        metadata: StreamMeta { name: version, creation_timestamp: None },
        spec: StreamSpec { lookup_policy: BTreeMap::from([("local", false)]), tags },
    };
    serde_json::to_string_pretty(&stream).expect("image-references json") + "\n"
}

#[derive(Serialize)]
struct ReleaseMetadata<'a> {
    kind: &'a str,
    version: &'a str,
    previous: &'a [String],
    metadata: BTreeMap<&'a str, String>,
}

fn release_metadata_json(spec: &ReleaseSpec) -> String {
    let mut metadata =
        BTreeMap::from([("url", format!("https://access.redhat.com/errata/RHBA-2024:{}", spec.version))]);
    if spec.multi {
        metadata.insert("release.openshift.io/architecture", "multi".into());
    }
    let doc =
        ReleaseMetadata { kind: "cincinnati-metadata-v0", version: &spec.version, previous: &spec.previous, metadata };
    serde_json::to_string_pretty(&doc).expect("release-metadata json") + "\n"
}

/// The `coreos-bootimages` ConfigMap; `kubevirt` is (RHCOS architecture, pull spec by digest).
fn bootimages_yaml(version: &str, kubevirt: &[(&str, String)]) -> String {
    let (major, minor, _) = version_parts(version);
    let architectures: serde_json::Map<String, serde_json::Value> = kubevirt
        .iter()
        .map(|(arch, spec)| {
            let image = spec.split_once('@').map_or(spec.as_str(), |(name, _)| name);
            let entry = serde_json::json!({
                "artifacts": {},
                "images": {"kubevirt": {"release": rhcos_build(version), "image": image, "digest-ref": spec}},
            });
            ((*arch).to_string(), entry)
        })
        .collect();
    let stream = serde_json::json!({
        "stream": format!("rhcos-{major}.{minor}"),
        "metadata": {"last-modified": "2024-01-01T00:00:00Z", "generator": "mirror-registry test fixture"},
        "architectures": architectures,
    });
    let stream = serde_json::to_string_pretty(&stream).expect("stream json");
    let indented: String = stream.lines().flat_map(|l| ["    ", l, "\n"]).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coreos-bootimages\n  namespace: openshift-machine-config-operator\n  annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\ndata:\n  releaseVersion: \"{version}\"\n  stream: |\n{indented}"
    )
}

const CVO_NAMESPACE_YAML: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-cluster-version\n  annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\n    openshift.io/node-selector: \"\"\n  labels:\n    name: openshift-cluster-version\n    openshift.io/run-level: \"\"\n";

/// Pushes one platform payload image (`arch`) with the given `release-manifests/` layer.
fn push_payload(p: &Pusher, tag: Option<&str>, version: &str, arch: &str, manifests: &(Vec<u8>, String)) -> Pushed {
    let cvo = gzip_layer(&[(
        "usr/bin/cluster-version-operator",
        format!("#!/bin/sh\n# cluster-version-operator for {arch}\n").into_bytes(),
    )]);
    let config = serde_json::json!({
        "architecture": arch,
        "config": {
            "Labels": {"io.openshift.release": version},
            "Entrypoint": ["/usr/bin/cluster-version-operator"],
        },
    });
    push_image(p, RELEASE_REPO, tag, &config, &[rhel_base(arch), cvo, manifests.clone()])
}

/// Pushes a release: components, kubevirt image(s), then the payload (a manifest list of two
/// platform payloads for multi), tagged `<version>-x86_64` or `<version>-multi`.
pub fn push_release(http: &Http, host: &str, spec: &ReleaseSpec) -> PushedRelease {
    push_releases(http, host, std::slice::from_ref(spec)).remove(0)
}

/// Pushes several releases at once (in parallel, each shared blob once), in `specs` order.
pub fn push_releases(http: &Http, host: &str, specs: &[ReleaseSpec]) -> Vec<PushedRelease> {
    let pusher = Pusher::new(http, host);
    std::thread::scope(|scope| {
        let pushing: Vec<_> = specs.iter().map(|spec| scope.spawn(|| push_one(&pusher, spec))).collect();
        pushing.into_iter().map(|t| t.join().expect("a release push panicked")).collect()
    })
}

fn push_one(p: &Pusher, spec: &ReleaseSpec) -> PushedRelease {
    let components: Vec<(String, String)> = std::thread::scope(|scope| {
        let pushing: Vec<_> = component_names(spec.components)
            .into_iter()
            .enumerate()
            .map(|(i, name)| scope.spawn(move || (push_component(p, &name, i, &spec.version, spec.multi), name)))
            .collect();
        pushing
            .into_iter()
            .map(|t| t.join().expect("a component push panicked"))
            .map(|(pull, name)| (name, pull))
            .collect()
    });
    let stream_arches: Vec<(&str, &str)> = if spec.multi { MULTI_ARCHES.to_vec() } else { vec![("amd64", "x86_64")] };
    let kubevirt: Vec<(&str, String)> =
        stream_arches.iter().map(|(arch, rhcos)| (*rhcos, push_kubevirt(p, &spec.version, arch))).collect();
    let manifests = gzip_layer(&[
        (CVO_NAMESPACE, CVO_NAMESPACE_YAML.as_bytes().to_vec()),
        (BOOTIMAGES, bootimages_yaml(&spec.version, &kubevirt).into_bytes()),
        (IMAGE_REFERENCES, image_references_json(&spec.version, &components).into_bytes()),
        (RELEASE_METADATA, release_metadata_json(spec).into_bytes()),
    ]);
    let tag = format!("{}-{}", spec.version, if spec.multi { "multi" } else { "x86_64" });
    let (top, children) = if spec.multi {
        let children: Vec<(&str, Pushed)> = MULTI_ARCHES
            .iter()
            .map(|(arch, _)| (*arch, push_payload(p, None, &spec.version, arch, &manifests)))
            .collect();
        let list = push_list(p, RELEASE_REPO, Some(&tag), &children);
        (list, children.into_iter().map(|(a, c)| (a.to_string(), c.digest)).collect())
    } else {
        (push_payload(p, Some(&tag), &spec.version, "amd64", &manifests), Vec::new())
    };
    let (manifest, media_type) = p.http.manifest(RELEASE_REPO, &tag).expect("the payload was pushed");
    assert_eq!(sha256(&manifest), top.digest, "the registry serves the payload's bytes under {tag}");
    PushedRelease {
        version: spec.version.clone(),
        payload: p.pull_spec(RELEASE_REPO, &top.digest),
        tagged: format!("{}/{RELEASE_REPO}:{tag}", p.host),
        tag,
        digest: top.digest,
        manifest,
        media_type,
        children,
        components,
        kubevirt: kubevirt.into_iter().find(|(a, _)| *a == "x86_64").map(|(_, s)| s).expect("an x86_64 kubevirt image"),
    }
}

/// Pushes `ubi9/ubi:latest` (linux/amd64, one layer with a dummy `bin/bash`); returns
/// `host/ubi9/ubi:latest`.
pub fn push_base_image(http: &Http, host: &str) -> String {
    let p = Pusher::new(http, host);
    let layer = gzip_layer(&[
        ("bin/bash", b"#!/bin/false\n# bash of the test ubi9\n".to_vec()),
        ("etc/redhat-release", b"Red Hat Enterprise Linux release 9.4 (Plow)\n".to_vec()),
    ]);
    let config = serde_json::json!({
        "architecture": "amd64",
        "config": {"Cmd": ["/bin/bash"], "Labels": {"name": "ubi9", "vendor": "Red Hat, Inc."}},
    });
    push_image(&p, BASE_IMAGE_REPO, Some(BASE_IMAGE_TAG), &config, &[layer]);
    format!("{host}/{BASE_IMAGE_REPO}:{BASE_IMAGE_TAG}")
}

/// The files under `release-manifests/` of the payload `repo:reference` in `http`'s registry
/// (its linux/amd64 image for a manifest list), path → bytes. Works on any registry holding a
/// payload, so mirrored payloads can be read back the same way.
pub fn release_files(http: &Http, repo: &str, reference: &str) -> BTreeMap<String, Vec<u8>> {
    let (bytes, _) = http.manifest(repo, reference).unwrap_or_else(|| panic!("{repo}:{reference} missing"));
    let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest json");
    if let Some(children) = manifest["manifests"].as_array() {
        let amd64 = children
            .iter()
            .find(|c| c["platform"]["architecture"] == "amd64")
            .and_then(|c| c["digest"].as_str())
            .unwrap_or_else(|| panic!("{repo}:{reference} has no amd64 payload"))
            .to_string();
        let (bytes, _) = http.manifest(repo, &amd64).expect("amd64 payload");
        manifest = serde_json::from_slice(&bytes).expect("manifest json");
    }
    let mut files = BTreeMap::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        let blob = http.blob(repo, layer["digest"].as_str().expect("layer digest"));
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob.as_slice()));
        for entry in archive.entries().expect("tar entries") {
            let mut entry = entry.expect("tar entry");
            let path = entry.path().expect("entry path").to_string_lossy().into_owned();
            if entry.header().entry_type().is_file() && path.starts_with("release-manifests/") {
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("read entry");
                files.insert(path, content);
            }
        }
    }
    files
}

/// The (name, pull spec) pairs of an `image-references` file.
pub fn image_references(bytes: &[u8]) -> Vec<(String, String)> {
    let stream: serde_json::Value = serde_json::from_slice(bytes).expect("image-references json");
    stream["spec"]["tags"]
        .as_array()
        .expect("spec.tags")
        .iter()
        .map(|t| {
            let name = t["name"].as_str().expect("tag name").to_string();
            let from = t["from"]["name"].as_str().expect("from.name").to_string();
            (name, from)
        })
        .collect()
}

/// The `architectures.<arch>.images.kubevirt.digest-ref` of a `coreos-bootimages` ConfigMap.
pub fn kubevirt_digest_ref(bootimages: &[u8], rhcos_arch: &str) -> Option<String> {
    let config_map: serde_yaml::Value = serde_yaml::from_slice(bootimages).expect("configmap yaml");
    let stream: serde_json::Value =
        serde_json::from_str(config_map["data"]["stream"].as_str().expect("data.stream")).expect("stream json");
    stream["architectures"][rhcos_arch]["images"]["kubevirt"]["digest-ref"].as_str().map(String::from)
}
