//! `mirror` with `platform:` (OpenShift releases). The upstream is built by the tests: release
//! payloads and components in Debian's `docker-registry` on loopback (`mirror/release.rs`), a
//! Cincinnati-style graph server, graph data and a release-signature store on loopback with
//! signatures made by gpg and skopeo (`mirror/upstream_services.rs`), and the standard world of
//! thirteen releases in one call (`mirror/scenario.rs`).

#[path = "mirror/catalog.rs"]
mod catalog;
mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/release.rs"]
mod release;
#[path = "mirror/scenario.rs"]
mod scenario;
#[path = "mirror/upstream_services.rs"]
mod upstream_services;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;

use common::{Registry, require_tool};
use fixtures::Http;
use release::{
    BASE_IMAGE_REPO, BASE_IMAGE_TAG, BOOTIMAGES, IMAGE_REFERENCES, PushedRelease, RELEASE_METADATA, RELEASE_REPO,
};
use scenario::{MULTI_STABLE_42, SKIP_EDGE, STABLE_42, Scenario};
use upstream_services::{CHANNELS_KEY, Signer, UpstreamServer};

/// The upstream registry, the graph/signature server and the standard world built on them.
/// `None` when a tool is missing outside CI.
fn upstream() -> Option<(Registry, UpstreamServer, Scenario)> {
    if !require_tool("docker-registry") || !require_tool("skopeo") || !require_tool("gpg") {
        return None;
    }
    let registry = Registry::distribution()?;
    let server = UpstreamServer::start();
    let world = scenario::standard(&Http::new(&registry.url()), &registry.host, &server)?;
    Some((registry, server, world))
}

/// A plain GET: status and body.
fn get(url: &str, accept: Option<&str>) -> (u16, Vec<u8>) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (response.status().as_u16(), response.bytes().expect("body").to_vec())
}

/// `host/repo@digest` → (`repo`, `digest`).
fn split(pull_spec: &str) -> (String, String) {
    let (name, digest) = pull_spec.split_once('@').unwrap_or_else(|| panic!("{pull_spec} is by digest"));
    (name.split_once('/').expect("host/repo").1.to_string(), digest.to_string())
}

/// The graph's nodes (version → payload, channels) and edges as version pairs.
fn graph_of(
    server: &UpstreamServer,
    channel: &str,
    arch: &str,
) -> (BTreeMap<String, (String, String)>, BTreeSet<(String, String)>) {
    let url = format!("{}?channel={channel}&arch={arch}&id=01234567-89ab-cdef-0123-456789abcdef", server.graph_url());
    let (status, body) = get(&url, Some("application/json"));
    assert_eq!(status, 200, "graph {channel}/{arch}");
    let graph: serde_json::Value = serde_json::from_slice(&body).expect("graph json");
    assert_eq!(graph["conditionalEdges"], serde_json::json!([]), "{channel}/{arch}");
    let nodes: Vec<&serde_json::Value> = graph["nodes"].as_array().expect("nodes").iter().collect();
    let version = |i: &serde_json::Value| {
        nodes[usize::try_from(i.as_u64().expect("index")).expect("usize")]["version"]
            .as_str()
            .expect("version")
            .to_string()
    };
    let edges = graph["edges"].as_array().expect("edges").iter().map(|e| (version(&e[0]), version(&e[1]))).collect();
    let nodes = nodes
        .iter()
        .map(|n| {
            let field = |v: &serde_json::Value| v.as_str().expect("string").to_string();
            (field(&n["version"]), (field(&n["payload"]), field(&n["metadata"][CHANNELS_KEY])))
        })
        .collect();
    (nodes, edges)
}

fn assert_graphs(server: &UpstreamServer, world: &Scenario) {
    let (nodes, edges) = graph_of(server, "stable-4.2", "amd64");
    assert_eq!(nodes.keys().map(String::as_str).collect::<Vec<_>>(), STABLE_42, "stable-4.2 nodes");
    for (version, (payload, _)) in &nodes {
        assert_eq!(payload, &world.release(version).payload, "payload of {version}");
    }
    assert_eq!(nodes["4.1.5"].1, "stable-4.1,stable-4.2", "4.1.5 is in both channels");
    let mut expected: BTreeSet<(String, String)> =
        STABLE_42.windows(2).map(|p| (p[0].to_string(), p[1].to_string())).collect();
    expected.insert((SKIP_EDGE.0.to_string(), SKIP_EDGE.1.to_string()));
    assert_eq!(edges, expected, "stable-4.2 edges, with the skip edge");

    let (multi, multi_edges) = graph_of(server, "stable-4.2", "multi");
    assert_eq!(multi.keys().map(String::as_str).collect::<Vec<_>>(), MULTI_STABLE_42, "multi nodes");
    assert_eq!(multi["4.2.3"].0, world.multi_release("4.2.3").payload);
    assert_eq!(multi_edges, BTreeSet::from([("4.2.3".to_string(), "4.2.4".to_string())]));

    let (unknown, _) = graph_of(server, "stable-9.9", "amd64");
    assert!(unknown.is_empty(), "an unknown channel answers an empty graph");
    let (status, _) = get(&format!("{}?channel=stable-4.2", server.graph_url()), Some("text/html"));
    assert_eq!(status, 406, "Cincinnati refuses an Accept it cannot produce");
    let (status, _) = get(&format!("{}?arch=amd64", server.graph_url()), None);
    assert_eq!(status, 400, "channel is mandatory");
    let recorded = server.requests();
    let seen = recorded.iter().find(|r| r.param("channel") == Some("stable-4.2") && r.param("arch") == Some("multi"));
    let seen = seen.expect("the multi graph request was recorded");
    assert_eq!(seen.accept.as_deref(), Some("application/json"));
    assert!(seen.param("id").is_some(), "other parameters are recorded");
}

/// Everything a release names exists in the registry by digest.
fn assert_release_complete(http: &Http, release: &PushedRelease) {
    let tag = &release.tag;
    assert_eq!(http.digest_of(RELEASE_REPO, tag), release.digest, "{tag} points at the payload");
    let files = release_files_checked(http, &release.tag);
    let references = release::image_references(&files[IMAGE_REFERENCES]);
    assert_eq!(references, release.components, "{tag}: image-references names the pushed components");
    for (name, pull_spec) in &references {
        let (repo, digest) = split(pull_spec);
        let (bytes, _) = http.manifest(&repo, &digest).unwrap_or_else(|| panic!("{tag}: {name} ({pull_spec}) missing"));
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("component manifest");
        let children = manifest["manifests"].as_array().map_or(0, Vec::len);
        assert_eq!(children, if release.children.is_empty() { 0 } else { 2 }, "{tag}: {name} platforms");
    }
    let kubevirt = release::kubevirt_digest_ref(&files[BOOTIMAGES], "x86_64").expect("kubevirt digest-ref");
    assert_eq!(kubevirt, release.kubevirt, "{tag}: kubevirt image");
    let (repo, digest) = split(&kubevirt);
    assert!(http.manifest(&repo, &digest).is_some(), "{tag}: kubevirt image {kubevirt} missing");
    assert!(!references.iter().any(|(_, r)| *r == kubevirt), "{tag}: kubevirt is not in image-references");
    let metadata: serde_json::Value = serde_json::from_slice(&files[RELEASE_METADATA]).expect("release-metadata");
    assert_eq!(metadata["kind"], "cincinnati-metadata-v0");
    assert_eq!(metadata["version"], release.version.as_str());
    for (arch, digest) in &release.children {
        let child = release::release_files(http, RELEASE_REPO, digest);
        assert_eq!(child[IMAGE_REFERENCES], files[IMAGE_REFERENCES], "{tag}: {arch} names the same components");
    }
}

/// The payload's release-manifests, with the four files every payload has.
fn release_files_checked(http: &Http, tag: &str) -> BTreeMap<String, Vec<u8>> {
    let files = release::release_files(http, RELEASE_REPO, tag);
    for name in [IMAGE_REFERENCES, RELEASE_METADATA, BOOTIMAGES, release::CVO_NAMESPACE] {
        assert!(files.contains_key(name), "{tag} lacks {name}: {:?}", files.keys());
    }
    files
}

/// Each component list of `multi` has as amd64 child the image `x86_64` names.
fn assert_multi_amd64_is_x86_64(http: &Http, multi: &PushedRelease, x86_64: &PushedRelease) {
    for (name, pull_spec) in &multi.components {
        let (repo, digest) = split(pull_spec);
        let (bytes, _) = http.manifest(&repo, &digest).expect("component list");
        let list: serde_json::Value = serde_json::from_slice(&bytes).expect("list json");
        let amd64 =
            list["manifests"].as_array().expect("a list").iter().find(|m| m["platform"]["architecture"] == "amd64");
        let amd64 = amd64.and_then(|m| m["digest"].as_str()).expect("an amd64 child");
        assert_eq!(amd64, split(x86_64.component(name)).1, "{name}: the amd64 child is the x86_64 image");
    }
}

/// Stored signatures verify with skopeo and the signer's key; others do not.
fn assert_signatures(http: &Http, server: &UpstreamServer, world: &Scenario) {
    for release in [world.release("4.2.3"), world.multi_release("4.2.4")] {
        let (status, signature) = get(&server.signature_url(&release.digest), None);
        assert_eq!(status, 200, "{}: signature stored", release.tag);
        let (manifest, _) = http.manifest(RELEASE_REPO, &release.digest).expect("payload");
        let verified = world.signer.verify(&manifest, &release.tagged, &signature);
        let verified = verified.unwrap_or_else(|e| panic!("{}: standalone-verify refused: {e}", release.tag));
        assert!(verified.contains(&release.digest), "{}: {verified}", release.tag);
        let corrupted = upstream_services::corrupt(&signature);
        assert!(world.signer.verify(&manifest, &release.tagged, &corrupted).is_err(), "corrupted signature");
        let elsewhere = release.tagged.replace("ocp-release", "other");
        assert!(world.signer.verify(&manifest, &elsewhere, &signature).is_err(), "another reference");
    }
    let release = world.release("4.1.0");
    let untrusted = Signer::other().expect("gpg and skopeo are present").sign(&release.manifest, &release.tagged);
    assert!(world.signer.verify(&release.manifest, &release.tagged, &untrusted).is_err(), "untrusted key");
    let unknown = format!("sha256:{}", "0".repeat(64));
    assert_eq!(get(&server.signature_url(&unknown), None).0, 404, "no signature for an unknown digest");
    let public_key = std::fs::read_to_string(world.signer.public_key_file()).expect("public key");
    assert!(public_key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
}

fn assert_graph_data(server: &UpstreamServer, world: &Scenario) {
    let (status, body) = get(&server.graph_data_url(), None);
    assert_eq!(status, 200);
    assert!(body == world.graph_data, "the served graph data is the scenario's");
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(body.as_slice()));
    for entry in archive.entries().expect("a tar.gz") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut content = String::new();
        entry.read_to_string(&mut content).expect("utf-8 entry");
        files.insert(path, content);
    }
    for name in ["channels/stable-4.1.yaml", "channels/stable-4.2.yaml", "raw/metadata.json", "version"] {
        assert!(files.contains_key(name), "graph data lacks {name}: {:?}", files.keys());
    }
    assert!(files.keys().any(|k| k.starts_with("blocked-edges/")), "graph data has blocked edges");
    let channel: serde_yaml::Value = serde_yaml::from_str(&files["channels/stable-4.2.yaml"]).expect("channel yaml");
    assert_eq!(channel["name"].as_str(), Some("stable-4.2"));
    let versions: Vec<&str> =
        channel["versions"].as_sequence().expect("versions").iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(versions, STABLE_42);
}

#[test]
fn fixtures_build_a_consistent_release_world() {
    let Some((registry, server, world)) = upstream() else { return };
    let http = Http::new(&registry.url());
    assert_graphs(&server, &world);
    for release in world.all() {
        assert_release_complete(&http, release);
    }
    // Consecutive releases share half their component images; the multi release's amd64
    // components are the x86_64 release's.
    let (a, b) = (world.release("4.1.0"), world.release("4.1.1"));
    let shared = a.components.iter().filter(|c| b.components.contains(c)).count();
    assert_eq!(shared, scenario::COMPONENTS / 2, "4.1.0 and 4.1.1 share half their components");
    assert_multi_amd64_is_x86_64(&http, world.multi_release("4.2.3"), world.release("4.2.3"));
    assert_signatures(&http, &server, &world);
    assert_graph_data(&server, &world);
    assert!(http.manifest(BASE_IMAGE_REPO, BASE_IMAGE_TAG).is_some(), "{} pushed", world.base_image);
    let mut server = server;
    server.stop();
    assert!(std::net::TcpStream::connect(server.url().trim_start_matches("http://")).is_err(), "stopped");
}
