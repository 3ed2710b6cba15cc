//! A test operator catalog, built here and pushed to a registry on loopback: a multi-arch OCI
//! index (amd64, arm64) whose images carry a base layer (`bin/opm`, a stale `tmp/cache`) and a
//! configs layer with the file-based catalog below, labelled
//! `operators.operatorframework.io.index.configs.v1=/configs` and served by
//! `opm serve /configs --cache-dir=/tmp/cache`. Every bundle image and related image is a real
//! image in the same registry, referenced by digest.
//!
//! ```text
//! package  default    channel    entries (replaces / skips)                       notes
//! alpha    stable     stable     alpha.v1.9.0, alpha.v1.10.0 (replaces 1.9.0)       1.10.0 sorts before 1.9.0 as text
//!                     fast       alpha.v1.10.0, alpha.v2.0.0-rc.1 (replaces 1.10.0),
//!                                alpha.v2.0.0 (replaces rc.1, skips 1.10.0,
//!                                skipRange >=1.0.0 <2.0.0)
//! beta     release-1  release-1  beta.v1.0.0, beta.v1.1.0 (replaces 1.0.0)          1.1.0 requires package gamma >=1.0.0
//!                     release-2  beta.v2.0.0
//! gamma    stable     stable     gamma.v1.0.0, gamma.v1.2.0 (replaces 1.0.0)        provides example.com/v1 Widget
//! delta    stable     stable     delta.v0.1.0                                       requires GVK example.com/v1 Widget
//! ```
//!
//! Each bundle has its bundle image (`bundles/<pkg>`) and one operator image
//! (`operators/<pkg>-controller`, one per bundle) as related images; `alpha.v1.9.0` and
//! `alpha.v1.10.0` also share `operators/shared-proxy`.
#![allow(dead_code)] // tests/mirror_platform.rs uses only gzip_layer

use std::collections::BTreeMap;
use std::io::Write as _;

use sha2::Digest as _;

use crate::fixtures::{Http, OCI_INDEX, OCI_MANIFEST};

/// Repository and tag of the catalog in the source registry.
pub const CATALOG_REPO: &str = "catalogs/test-index";
pub const CATALOG_TAG: &str = "v1";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One bundle of the fixture: name, package, version, channels it is an entry of (with
/// `replaces`, `skips`, `skipRange`).
struct BundleSpec {
    name: &'static str,
    package: &'static str,
    version: &'static str,
    entries: &'static [(&'static str, Option<&'static str>, &'static [&'static str], Option<&'static str>)],
    properties: fn() -> Vec<serde_json::Value>,
    shares_proxy: bool,
}

fn none() -> Vec<serde_json::Value> {
    Vec::new()
}

const BUNDLES: &[BundleSpec] = &[
    BundleSpec {
        name: "alpha.v1.9.0",
        package: "alpha",
        version: "1.9.0",
        entries: &[("stable", None, &[], None)],
        properties: none,
        shares_proxy: true,
    },
    BundleSpec {
        name: "alpha.v1.10.0",
        package: "alpha",
        version: "1.10.0",
        entries: &[("stable", Some("alpha.v1.9.0"), &[], None), ("fast", None, &[], None)],
        properties: none,
        shares_proxy: true,
    },
    BundleSpec {
        name: "alpha.v2.0.0-rc.1",
        package: "alpha",
        version: "2.0.0-rc.1",
        entries: &[("fast", Some("alpha.v1.10.0"), &[], None)],
        properties: none,
        shares_proxy: false,
    },
    BundleSpec {
        name: "alpha.v2.0.0",
        package: "alpha",
        version: "2.0.0",
        entries: &[("fast", Some("alpha.v2.0.0-rc.1"), &["alpha.v1.10.0"], Some(">=1.0.0 <2.0.0"))],
        properties: none,
        shares_proxy: false,
    },
    BundleSpec {
        name: "beta.v1.0.0",
        package: "beta",
        version: "1.0.0",
        entries: &[("release-1", None, &[], None)],
        properties: none,
        shares_proxy: false,
    },
    BundleSpec {
        name: "beta.v1.1.0",
        package: "beta",
        version: "1.1.0",
        entries: &[("release-1", Some("beta.v1.0.0"), &[], None)],
        properties: || {
            vec![
                serde_json::json!({"type": "olm.package.required", "value": {"packageName": "gamma", "versionRange": ">=1.0.0"}}),
            ]
        },
        shares_proxy: false,
    },
    BundleSpec {
        name: "beta.v2.0.0",
        package: "beta",
        version: "2.0.0",
        entries: &[("release-2", None, &[], None)],
        properties: none,
        shares_proxy: false,
    },
    BundleSpec {
        name: "gamma.v1.0.0",
        package: "gamma",
        version: "1.0.0",
        entries: &[("stable", None, &[], None)],
        properties: widget_provider,
        shares_proxy: false,
    },
    BundleSpec {
        name: "gamma.v1.2.0",
        package: "gamma",
        version: "1.2.0",
        entries: &[("stable", Some("gamma.v1.0.0"), &[], None)],
        properties: widget_provider,
        shares_proxy: false,
    },
    BundleSpec {
        name: "delta.v0.1.0",
        package: "delta",
        version: "0.1.0",
        entries: &[("stable", None, &[], None)],
        properties: || {
            vec![
                serde_json::json!({"type": "olm.gvk.required", "value": {"group": "example.com", "version": "v1", "kind": "Widget"}}),
            ]
        },
        shares_proxy: false,
    },
];

fn widget_provider() -> Vec<serde_json::Value> {
    vec![serde_json::json!({"type": "olm.gvk", "value": {"group": "example.com", "version": "v1", "kind": "Widget"}})]
}

const PACKAGES: &[(&str, &str)] =
    &[("alpha", "stable"), ("beta", "release-1"), ("gamma", "stable"), ("delta", "stable")];

/// What was pushed: for each bundle, its bundle image and related images (`host/repo@digest`).
pub struct Pushed {
    /// Bundle name → (bundle image, related images other than the bundle image).
    pub bundles: BTreeMap<String, (String, Vec<String>)>,
    /// Digest of the catalog index.
    pub catalog_digest: String,
}

impl Pushed {
    /// Every image (bundle and related) of the named bundles, sorted and deduplicated.
    pub fn images_of(&self, bundles: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = bundles
            .iter()
            .flat_map(|b| {
                let (image, related) = self.bundles.get(*b).unwrap_or_else(|| panic!("no bundle {b}"));
                std::iter::once(image.clone()).chain(related.iter().cloned())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// A gzip layer of `files` (path, content), with directories as needed; returns
/// (compressed bytes, diff ID).
pub fn gzip_layer(files: &[(&str, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, content) in files {
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if dirs.insert(dir.clone()) {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(1_700_000_000);
                tar.append_data(&mut h, format!("{dir}/"), std::io::empty()).expect("dir entry");
            }
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(1_700_000_000);
        tar.append_data(&mut h, path, content.as_slice()).expect("file entry");
    }
    let raw = tar.into_inner().expect("tar");
    let diff_id = sha256(&raw);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).expect("gzip");
    (gz.finish().expect("gzip"), diff_id)
}

/// Pushes a one-layer image to `repo` (by digest only) and returns its digest.
pub fn push_small_image(http: &Http, repo: &str, content: &str) -> String {
    let (layer, diff_id) = gzip_layer(&[("content.txt", content.as_bytes().to_vec())]);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"test.content": content}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    })
    .to_string();
    push_image(http, repo, None, config.as_bytes(), &[layer])
}

/// Pushes an OCI image (config and gzip layers) under `tag` or by digest; returns its digest.
pub fn push_image(http: &Http, repo: &str, tag: Option<&str>, config: &[u8], layers: &[Vec<u8>]) -> String {
    let config_digest = http.push_blob(repo, config);
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": LAYER_GZIP, "digest": http.push_blob(repo, l), "size": l.len()}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layers,
    })
    .to_string();
    let digest = sha256(manifest.as_bytes());
    http.push_manifest(repo, tag.unwrap_or(&digest), OCI_MANIFEST, manifest.as_bytes())
}

/// The FBC documents of the fixture, one `catalog.json` per package (concatenated JSON
/// documents, as `opm render` writes them), with the given image references.
pub fn fbc_files(images: &BTreeMap<String, (String, Vec<String>)>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (package, default_channel) in PACKAGES {
        let mut docs =
            vec![serde_json::json!({"schema": "olm.package", "name": package, "defaultChannel": default_channel})];
        let mut channels: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
        for b in BUNDLES.iter().filter(|b| b.package == *package) {
            for (channel, replaces, skips, skip_range) in b.entries {
                let mut entry = serde_json::json!({"name": b.name});
                if let Some(r) = replaces {
                    entry["replaces"] = (*r).into();
                }
                if !skips.is_empty() {
                    entry["skips"] = serde_json::json!(skips);
                }
                if let Some(r) = skip_range {
                    entry["skipRange"] = (*r).into();
                }
                channels.entry(channel).or_default().push(entry);
            }
        }
        for (channel, entries) in channels {
            docs.push(
                serde_json::json!({"schema": "olm.channel", "name": channel, "package": package, "entries": entries}),
            );
        }
        for b in BUNDLES.iter().filter(|b| b.package == *package) {
            let (image, related) = &images[b.name];
            let mut properties = vec![
                serde_json::json!({"type": "olm.package", "value": {"packageName": package, "version": b.version}}),
            ];
            properties.extend((b.properties)());
            properties.push(serde_json::json!({"type": "olm.csv.metadata", "value": {"displayName": format!("The {package} operator")}}));
            properties.push(serde_json::json!({"type": "olm.bundle.object", "value": {"data": "eyJraW5kIjoiQ2x1c3RlclNlcnZpY2VWZXJzaW9uIn0="}}));
            let mut related_images = vec![serde_json::json!({"name": "", "image": image})];
            related_images.extend(related.iter().map(|r| serde_json::json!({"name": "operator", "image": r})));
            docs.push(serde_json::json!({
                "schema": "olm.bundle", "name": b.name, "package": package, "image": image,
                "properties": properties, "relatedImages": related_images,
            }));
        }
        let mut text = String::new();
        for d in &docs {
            text.push_str(&serde_json::to_string_pretty(d).expect("json"));
            text.push('\n');
        }
        out.push((format!("configs/{package}/catalog.json"), text.into_bytes()));
    }
    out
}

/// Pushes every bundle and related image, then the catalog index, to `http` (whose registry is
/// `host`). `skip_related` names a related image repository that is referenced but never pushed
/// (a broken upstream).
pub fn push_catalog(http: &Http, host: &str, skip_related: Option<&str>) -> Pushed {
    let mut bundles = BTreeMap::new();
    let proxy = format!("{host}/operators/shared-proxy@{}", push_small_image(http, "operators/shared-proxy", "proxy"));
    for b in BUNDLES {
        let bundle = format!(
            "{host}/bundles/{}@{}",
            b.package,
            push_small_image(http, &format!("bundles/{}", b.package), b.name)
        );
        let controller_repo = format!("operators/{}-controller", b.package);
        let controller_digest = if skip_related == Some(b.name) {
            sha256(format!("never pushed {}", b.name).as_bytes())
        } else {
            push_small_image(http, &controller_repo, &format!("controller of {}", b.name))
        };
        let mut related = vec![format!("{host}/{controller_repo}@{controller_digest}")];
        if b.shares_proxy {
            related.push(proxy.clone());
        }
        bundles.insert(b.name.to_string(), (bundle, related));
    }
    let fbc: Vec<(String, Vec<u8>)> = fbc_files(&bundles);
    let files: Vec<(&str, Vec<u8>)> = fbc.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    let (configs_layer, configs_diff) = gzip_layer(&files);
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (base, base_diff) = gzip_layer(&[
            ("bin/opm", format!("opm for {arch}").into_bytes()),
            ("tmp/cache/cache.json", b"{\"stale\": true}".to_vec()),
        ]);
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {
                "Labels": {"operators.operatorframework.io.index.configs.v1": "/configs"},
                "Entrypoint": ["/bin/opm"],
                "Cmd": ["serve", "/configs", "--cache-dir=/tmp/cache"],
            },
            "rootfs": {"type": "layers", "diff_ids": [base_diff, configs_diff]},
            "history": [{"created_by": "base"}, {"created_by": "configs"}],
        })
        .to_string();
        let digest = push_image(http, CATALOG_REPO, None, config.as_bytes(), &[base, configs_layer.clone()]);
        let size = http.manifest(CATALOG_REPO, &digest).expect("child").0.len();
        children.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).to_string();
    let catalog_digest = http.push_manifest(CATALOG_REPO, CATALOG_TAG, OCI_INDEX, index.as_bytes());
    Pushed { bundles, catalog_digest }
}

/// Reads the file-based catalog out of the catalog image `repo:reference` in `http`'s registry:
/// the linux/amd64 image's layers applied with the project's own layer reader, then read with
/// its own FBC reader. Returns the catalog, the image config and the index (or manifest).
pub fn read_catalog_image(
    http: &Http,
    repo: &str,
    reference: &str,
) -> (mirror_registry::mirror::operators::fbc::Catalog, serde_json::Value, serde_json::Value) {
    let (root, _) = http.manifest(repo, reference).unwrap_or_else(|| panic!("{repo}:{reference} missing"));
    let root: serde_json::Value = serde_json::from_slice(&root).expect("manifest json");
    let image_digest = match root["manifests"].as_array() {
        Some(children) => children
            .iter()
            .find(|c| c["platform"]["architecture"] == "amd64")
            .and_then(|c| c["digest"].as_str())
            .expect("amd64 child")
            .to_string(),
        None => reference.to_string(),
    };
    let (manifest, _) = http.manifest(repo, &image_digest).expect("image manifest");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
    let dir = tempfile::tempdir().expect("temp dir");
    let blob = |digest: &str| -> std::path::PathBuf {
        let path = dir.path().join(digest.replace(':', "-"));
        std::fs::write(&path, http.blob(repo, digest)).expect("write blob");
        path
    };
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(manifest["config"]["digest"].as_str().expect("config"))).expect("read"),
    )
    .expect("config json");
    let layers: Vec<std::path::PathBuf> = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| blob(l["digest"].as_str().expect("layer digest")))
        .collect();
    let label = config["config"]["Labels"]["operators.operatorframework.io.index.configs.v1"].as_str().expect("label");
    let out = dir.path().join("configs");
    mirror_registry::mirror::layers::extract_subtree(&layers, label, &out).expect("extract configs");
    let catalog = mirror_registry::mirror::operators::fbc::read_dir(&out).expect("the catalog reads back");
    (catalog, config, root)
}

/// Writes the fixture catalog (the images of `pushed`) as an OCI layout at `dir`: one amd64
/// image with a Docker-style base layer and the configs layer, as `oci://` catalogs are.
pub fn write_layout(dir: &std::path::Path, pushed: &Pushed) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dirs");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let put = |data: &[u8]| -> String {
        let digest = sha256(data);
        std::fs::write(blobs.join(&digest[7..]), data).expect("write blob");
        digest
    };
    let fbc = fbc_files(&pushed.bundles);
    let files: Vec<(&str, Vec<u8>)> = fbc.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    let (configs, configs_diff) = gzip_layer(&files);
    let (base, base_diff) = gzip_layer(&[("bin/opm", b"opm".to_vec())]);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"operators.operatorframework.io.index.configs.v1": "/configs"}, "Cmd": ["serve", "/configs"]},
        "rootfs": {"type": "layers", "diff_ids": [base_diff, configs_diff]},
    })
    .to_string();
    let layers: Vec<serde_json::Value> = [base, configs]
        .iter()
        .map(|l| serde_json::json!({"mediaType": LAYER_GZIP, "digest": put(l), "size": l.len()}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config.as_bytes()), "size": config.len()},
        "layers": layers,
    })
    .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": put(manifest.as_bytes()), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index.json");
}
