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
#[path = "mirror/workspace.rs"]
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use serde::Deserialize as _;

use common::{Registry, require_tool};
use fixtures::Http;
use release::{
    BASE_IMAGE_REPO, BASE_IMAGE_TAG, BOOTIMAGES, IMAGE_REFERENCES, PushedRelease, RELEASE_METADATA, RELEASE_REPO,
};
use scenario::{MULTI_STABLE_42, SKIP_EDGE, STABLE_41, STABLE_42, Scenario};
use upstream_services::{CHANNELS_KEY, Signer, UpstreamServer};
use workspace::{Workspace, archives, file_url, stderr, tar_members};

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

// ---- mirroring --------------------------------------------------------------------------------

/// The environment that points the client at the test's services and key.
fn service_env(server: &UpstreamServer, world: &Scenario, key: &Path) -> Vec<(String, String)> {
    vec![
        ("UPDATE_URL_OVERRIDE".into(), server.graph_url()),
        ("OCP_SIGNATURE_URL".into(), server.signatures_url()),
        ("OCP_SIGNATURE_VERIFICATION_PK".into(), key.display().to_string()),
        ("GRAPH_BASE_IMAGE_OVERRIDE".into(), world.base_image.clone()),
    ]
}

fn platform_isc(channels: &str, extra: &str) -> String {
    format!("mirror:\n  platform:\n{extra}    channels:\n{channels}")
}

/// The release tags a dry run maps (`openshift/release-images:<tag>` destinations).
fn mapped_release_tags(ws: &Workspace) -> BTreeSet<String> {
    let mapping = std::fs::read_to_string(ws.path("work/working-dir/dry-run/mapping.txt")).expect("mapping.txt");
    mapping
        .lines()
        .filter_map(|l| l.split_once("=docker://").map(|(_, d)| d))
        .filter_map(|d| d.split_once("/openshift/release-images:").map(|(_, t)| t.to_string()))
        .collect()
}

fn tags(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn channel_selection_follows_the_docs() {
    let Some((_registry, server, world)) = upstream() else { return };
    let ours = Registry::ours();
    let ws = Workspace::new();
    let key = world.signer.public_key_file();
    let env = service_env(&server, &world, &key);
    let ch = |name: &str, extra: &str| format!("    - name: {name}\n{extra}");
    let cases: Vec<(&str, String, &str, BTreeSet<String>)> = vec![
        ("head", ch("stable-4.1", ""), "", tags(&["4.1.5-x86_64"])),
        ("full", ch("stable-4.1", "      full: true\n"), "", STABLE_41.iter().map(|v| format!("{v}-x86_64")).collect()),
        (
            "only min",
            ch("stable-4.2", "      minVersion: 4.2.2\n"),
            "",
            tags(&["4.2.2-x86_64", "4.2.3-x86_64", "4.2.4-x86_64"]),
        ),
        ("only max", ch("stable-4.1", "      maxVersion: 4.1.1\n"), "", tags(&["4.1.0-x86_64", "4.1.1-x86_64"])),
        (
            "range ignores edges",
            ch("stable-4.2", "      minVersion: 4.2.0\n      maxVersion: 4.2.3\n"),
            "",
            tags(&["4.2.0-x86_64", "4.2.1-x86_64", "4.2.2-x86_64", "4.2.3-x86_64"]),
        ),
        (
            "shortest path takes the skip edge",
            ch("stable-4.2", "      minVersion: 4.2.0\n      maxVersion: 4.2.4\n      shortestPath: true\n"),
            "",
            tags(&["4.2.0-x86_64", "4.2.3-x86_64", "4.2.4-x86_64"]),
        ),
        (
            "two channels: heads and the path between them",
            format!("{}{}", ch("stable-4.1", ""), ch("stable-4.2", "")),
            "",
            tags(&["4.1.5-x86_64", "4.2.0-x86_64", "4.2.3-x86_64", "4.2.4-x86_64"]),
        ),
        ("multi", ch("stable-4.2", ""), "    architectures: [multi]\n", tags(&["4.2.4-multi"])),
        (
            "two architectures",
            ch("stable-4.2", ""),
            "    architectures: [amd64, multi]\n",
            tags(&["4.2.4-x86_64", "4.2.4-multi"]),
        ),
    ];
    for (name, channels, extra, expected) in cases {
        let isc = ws.write_isc("isc.yaml", &platform_isc(&channels, extra));
        let out = ws.mirror_env(
            "cache",
            &[
                "-c",
                isc.to_str().expect("utf-8"),
                "--workspace",
                &file_url(&ws.path("work")),
                &format!("docker://{}", ours.host),
                "--dry-run",
            ],
            &env,
        );
        assert!(out.status.success(), "case {name}: {}", stderr(&out));
        assert_eq!(mapped_release_tags(&ws), expected, "case {name}");
    }
}

/// Runs a mirror-to-mirror run of `isc` into `destination` with the services' environment.
fn run_m2m(
    ws: &Workspace,
    env: &[(String, String)],
    isc: &str,
    destination: &str,
    extra: &[&str],
) -> std::process::Output {
    let isc = ws.write_isc("isc.yaml", isc);
    let work = file_url(&ws.path("work"));
    let mut args =
        vec!["-c", isc.to_str().expect("utf-8"), "--workspace", &work, "--dest-tls-verify=false", destination];
    args.extend_from_slice(extra);
    ws.mirror_env("cache", &args, env)
}

/// The multi-document YAML file `name` of the run's cluster resources.
fn resource_docs(ws: &Workspace, name: &str) -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(ws.path("work/working-dir/cluster-resources").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_yaml::Deserializer::from_str(&text).map(|d| serde_yaml::Value::deserialize(d).expect("yaml")).collect()
}

/// source → mirrors of the mirror set object `object` in `file`.
fn mirror_set(ws: &Workspace, file: &str, object: &str, list: &str) -> BTreeMap<String, Vec<String>> {
    let docs = resource_docs(ws, file);
    let doc = docs
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some(object))
        .unwrap_or_else(|| panic!("{file} has no {object}"));
    doc["spec"][list]
        .as_sequence()
        .expect("entries")
        .iter()
        .map(|e| {
            let mirrors =
                e["mirrors"].as_sequence().expect("mirrors").iter().map(|m| m.as_str().expect("str").to_string());
            (e["source"].as_str().expect("source").to_string(), mirrors.collect())
        })
        .collect()
}

/// Checks that `release` is on `down` under `prefix` exactly as upstream: payload, every
/// component and the KubeVirt image, by the same digests.
fn assert_mirrored(down: &Http, prefix: &str, release: &PushedRelease, kubevirt: bool) {
    assert_eq!(
        down.digest_of(&format!("{prefix}openshift/release-images"), &release.tag),
        release.digest,
        "{}",
        release.tag
    );
    let components = format!("{prefix}openshift/release");
    for (name, spec) in &release.components {
        assert_eq!(
            down.digest_of(&components, &format!("{}-{name}", release.tag)),
            split(spec).1,
            "{} {name}",
            release.tag
        );
    }
    let kubevirt_tag = format!("{}-kube-virt-container", release.tag);
    if kubevirt {
        assert_eq!(down.digest_of(&components, &kubevirt_tag), split(&release.kubevirt).1, "{}", release.tag);
    } else {
        assert!(down.manifest(&components, &kubevirt_tag).is_none(), "kubevirt not asked for");
    }
}

/// The files of the graph image's last layer (the graph data), and its command.
fn graph_image_files(down: &Http, repo: &str) -> (BTreeMap<String, Vec<u8>>, String) {
    let (bytes, _) = down.manifest(repo, "latest").expect("graph image");
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("manifest");
    let layer =
        manifest["layers"].as_array().expect("layers").last().expect("a layer")["digest"].as_str().expect("digest");
    let config = down.blob(repo, manifest["config"]["digest"].as_str().expect("config"));
    let config: serde_json::Value = serde_json::from_slice(&config).expect("config json");
    (tar_files(&down.blob(repo, layer)), config["config"]["Cmd"].to_string())
}

/// Regular files of a gzip tar: path (without a leading `./` or `/`) → content.
fn tar_files(gz: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type().is_file() {
            let path = entry
                .path()
                .expect("path")
                .to_string_lossy()
                .trim_start_matches("./")
                .trim_start_matches('/')
                .to_string();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("read");
            out.insert(path, content);
        }
    }
    out
}

#[test]
fn mirror_to_mirror_copies_releases_graph_image_and_writes_their_resources() {
    let Some((registry, server, world)) = upstream() else { return };
    let ours = Registry::ours();
    let ws = Workspace::new();
    let key = world.signer.public_key_file();
    let env = service_env(&server, &world, &key);
    let isc = "mirror:\n  platform:\n    graph: true\n    kubeVirtContainer: true\n    channels:\n    - name: stable-4.2\n      minVersion: 4.2.0\n      maxVersion: 4.2.4\n      shortestPath: true\n";
    let destination = format!("docker://{}/mirror", ours.host);
    let out = run_m2m(&ws, &env, isc, &destination, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let graph_asked = server.requests().into_iter().any(|r| {
        r.path == upstream_services::GRAPH_PATH
            && r.param("channel") == Some("stable-4.2")
            && r.param("arch") == Some("amd64")
    });
    assert!(graph_asked, "the graph was asked for stable-4.2/amd64");

    let down = Http::new(&ours.url());
    let shortest = ["4.2.0", "4.2.3", "4.2.4"];
    for version in shortest {
        assert_mirrored(&down, "mirror/", world.release(version), true);
    }
    for skipped in ["4.2.1", "4.2.2"] {
        assert!(down.manifest("mirror/openshift/release-images", &world.release(skipped).tag).is_none(), "{skipped}");
    }
    let (files, command) = graph_image_files(&down, "mirror/openshift/graph-image");
    for (path, content) in tar_files(&world.graph_data) {
        assert_eq!(files.get(&format!("var/lib/cincinnati-graph-data/{path}")), Some(&content), "graph data {path}");
    }
    assert!(
        command.contains("exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"),
        "{command}"
    );

    let upstream_host = &registry.host;
    let digest_mirrors = mirror_set(&ws, "idms-oc-mirror.yaml", "idms-release-0", "imageDigestMirrors");
    let expected = BTreeMap::from([
        (format!("{upstream_host}/{RELEASE_REPO}"), vec![format!("{}/mirror/openshift/release-images", ours.host)]),
        (
            format!("{upstream_host}/{}", release::COMPONENT_REPO),
            vec![format!("{}/mirror/openshift/release", ours.host)],
        ),
    ]);
    assert_eq!(digest_mirrors, expected);
    let tag_mirrors = mirror_set(&ws, "itms-oc-mirror.yaml", "itms-release-0", "imageTagMirrors");
    assert_eq!(tag_mirrors.keys().collect::<Vec<_>>(), [&format!("{upstream_host}/{RELEASE_REPO}")]);

    let configmap: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path("work/working-dir/cluster-resources/signature-configmap.json")).expect("configmap json"),
    )
    .expect("json");
    assert_eq!(configmap["metadata"]["namespace"], "openshift-config-managed");
    assert_eq!(configmap["metadata"]["labels"]["release.openshift.io/verification-signatures"], "");
    let data = configmap["binaryData"].as_object().expect("binaryData");
    let keys: BTreeSet<String> = data.keys().cloned().collect();
    let want: BTreeSet<String> =
        shortest.iter().map(|v| format!("{}-1", world.release(v).digest.replace(':', "-"))).collect();
    assert_eq!(keys, want);
    for version in shortest {
        let digest = &world.release(version).digest;
        let key = format!("{}-1", digest.replace(':', "-"));
        let decoded = base64_decode(data[&key].as_str().expect("base64"));
        assert_eq!(Some(decoded), server.signature(digest), "signature of {version}");
    }
    let service = &resource_docs(&ws, "updateService.yaml")[0];
    assert_eq!(service["kind"], "UpdateService");
    assert_eq!(
        service["spec"]["releases"].as_str(),
        Some(format!("{}/mirror/openshift/release-images", ours.host).as_str())
    );
    assert_eq!(
        service["spec"]["graphDataImage"].as_str(),
        Some(format!("{}/mirror/openshift/graph-image:latest", ours.host).as_str())
    );

    let again = run_m2m(&ws, &env, isc, &destination, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains(" 0 blobs copied"), "a second run copies nothing: {}", stderr(&again));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
}

#[test]
fn mirror_to_disk_then_disk_to_mirror_without_network() {
    let Some((registry, mut server, world)) = upstream() else { return };
    let ours = Registry::ours();
    let ws = Workspace::new();
    let key = world.signer.public_key_file();
    let env = service_env(&server, &world, &key);
    let isc = ws.write_isc(
        "isc.yaml",
        "mirror:\n  platform:\n    graph: true\n    architectures: [amd64, multi]\n    channels:\n    - name: stable-4.2\n",
    );
    let isc = isc.to_str().expect("utf-8");
    let m2d = ws.mirror_env("cache", &["-c", isc, &file_url(&ws.path("archive"))], &env);
    assert!(m2d.status.success(), "{}", stderr(&m2d));
    // From the working dir, the archives carry exactly what disk to mirror reads.
    let mut carried: Vec<String> = archives(&ws.path("archive"))
        .iter()
        .flat_map(|a| tar_members(a))
        .filter_map(|m| m.strip_prefix("working-dir/").map(String::from))
        .collect();
    carried.sort();
    let graphs =
        ["amd64-stable-4.2.json", "multi-stable-4.2.json"].map(|g| format!("hold-release/cincinnati-graph-data/{g}"));
    assert_eq!(carried[..2], graphs, "{carried:?}");
    assert_eq!(carried.len(), 4, "the graphs and the two payloads' signatures: {carried:?}");
    assert!(carried[2..].iter().all(|m| m.starts_with("signatures/4.2.4-")), "{carried:?}");

    // Only the archives cross the air gap: a new directory, a new cache, no upstream at all.
    std::fs::create_dir_all(ws.path("carried")).expect("mkdir");
    for entry in std::fs::read_dir(ws.path("archive")).expect("archive dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "tar") {
            std::fs::copy(&path, ws.path("carried").join(path.file_name().expect("name"))).expect("copy archive");
        }
    }
    drop(registry);
    server.stop();
    let d2m = ws.mirror_env(
        "cache2",
        &[
            "-c",
            isc,
            "--from",
            &file_url(&ws.path("carried")),
            "--dest-tls-verify=false",
            &format!("docker://{}", ours.host),
        ],
        &env,
    );
    assert!(d2m.status.success(), "{}", stderr(&d2m));

    let down = Http::new(&ours.url());
    assert_mirrored(&down, "", world.release("4.2.4"), false);
    let multi = world.multi_release("4.2.4");
    assert_mirrored(&down, "", multi, false);
    for (arch, child) in &multi.children {
        assert!(down.manifest("openshift/release-images", child).is_some(), "multi payload's {arch} image");
    }
    assert!(down.manifest("openshift/release-images", &world.release("4.2.3").tag).is_none(), "heads only");
    let (files, _) = graph_image_files(&down, "openshift/graph-image");
    assert!(files.keys().any(|f| f.starts_with("var/lib/cincinnati-graph-data/channels/")), "graph data in the image");
    let configmap = std::fs::read_to_string(ws.path("carried/working-dir/cluster-resources/signature-configmap.yaml"))
        .expect("the configmap is written from the archived signatures");
    for digest in [&world.release("4.2.4").digest, &multi.digest] {
        assert!(configmap.contains(&format!("{}-1", digest.replace(':', "-"))), "{digest} in {configmap}");
    }
    assert!(ws.path("carried/working-dir/cluster-resources/updateService.yaml").is_file());
}

#[test]
fn signatures_must_verify_unless_the_user_opts_out() {
    let Some((_registry, server, world)) = upstream() else { return };
    let Some(stranger) = Signer::other() else { return };
    let ours = Registry::ours();
    let release = world.release("4.1.5");
    let isc = platform_isc("    - name: stable-4.1\n", "");
    let good = server.signature(&release.digest).expect("signed");
    let cases: Vec<(&str, Option<Vec<u8>>, bool, Result<(), &str>)> = vec![
        ("missing", None, false, Err("has none")),
        ("tampered", Some(upstream_services::corrupt(&good)), false, Err("signature")),
        ("unknown key", Some(stranger.sign(&release.manifest, &release.tagged)), false, Err("not a trusted key")),
        ("missing, opted out", None, true, Ok(())),
    ];
    for (name, signature, opt_out, expected) in cases {
        match signature {
            Some(s) => server.put_signature(&release.digest, s),
            None => server.remove_signature(&release.digest),
        }
        let ws = Workspace::new();
        let key = world.signer.public_key_file();
        let namespace = name.replace([' ', ','], "-");
        let extra: &[&str] = if opt_out { &["--ignore-release-signature"] } else { &[] };
        let destination = format!("docker://{}/{namespace}", ours.host);
        let out = run_m2m(&ws, &service_env(&server, &world, &key), &isc, &destination, extra);
        let payload = Http::new(&ours.url()).manifest(&format!("{namespace}/openshift/release-images"), &release.tag);
        let configmap = ws.path("work/working-dir/cluster-resources/signature-configmap.json");
        match expected {
            Ok(()) => {
                assert!(out.status.success(), "case {name}: {}", stderr(&out));
                assert!(payload.is_some(), "case {name}: mirrored");
                assert!(stderr(&out).contains("--ignore-release-signature"), "case {name}: warned");
                assert!(!configmap.exists(), "case {name}: no signature to publish");
            }
            Err(part) => {
                assert_eq!(out.status.code(), Some(2), "case {name}: {}", stderr(&out));
                let text = stderr(&out);
                assert!(text.contains(&release.tag) && text.contains(part), "case {name}: {text}");
                assert!(payload.is_none(), "case {name}: nothing pushed");
            }
        }
    }
    server.put_signature(&release.digest, good);
}

#[test]
fn releases_that_cannot_be_resolved_stop_the_run_with_a_named_error() {
    let Some((_registry, server, world)) = upstream() else { return };
    let ws = Workspace::new();
    let key = world.signer.public_key_file();
    let closed = format!("http://127.0.0.1:{}/api/upgrades_info/v1/graph", common::free_port());
    let ch = |extra: &str| format!("    - name: stable-4.2\n{extra}");
    let cases: Vec<(&str, String, Option<&str>, &[&str])> = vec![
        ("unknown channel", "    - name: stable-4.9\n".into(), None, &["stable-4.9", "does the channel exist"]),
        ("unknown version", ch("      minVersion: 4.2.9\n"), None, &["4.2.9", "stable-4.2"]),
        ("min above max", ch("      minVersion: 4.2.3\n      maxVersion: 4.2.1\n"), None, &["4.2.3", "4.2.1"]),
        ("graph unreachable", ch(""), Some(closed.as_str()), &["stable-4.2", "127.0.0.1"]),
    ];
    for (name, channels, graph_url, parts) in cases {
        let mut env = service_env(&server, &world, &key);
        if let Some(url) = graph_url {
            env.retain(|(k, _)| k != "UPDATE_URL_OVERRIDE");
            env.push(("UPDATE_URL_OVERRIDE".into(), url.to_string()));
        }
        let out = run_m2m(&ws, &env, &platform_isc(&channels, ""), "docker://127.0.0.1:9/x", &["--dry-run"]);
        assert_eq!(out.status.code(), Some(2), "case {name}: {}", stderr(&out));
        let text = stderr(&out);
        for part in parts {
            assert!(text.contains(part), "case {name}: {part:?} in {text}");
        }
        let log = std::fs::read_dir(ws.path("work/working-dir/logs")).expect("logs").count();
        assert!(log > 0, "case {name}: the error is logged");
    }
}

#[test]
fn a_release_named_by_digest_gets_its_signed_tag() {
    let Some((registry, server, world)) = upstream() else { return };
    let ours = Registry::ours();
    let release = world.release("4.1.3");
    let isc = format!("mirror:\n  platform:\n    release: {}\n", release.payload);
    for (name, signed) in [("signed", true), ("unsigned, opted out", false)] {
        if !signed {
            server.remove_signature(&release.digest);
        }
        let ws = Workspace::new();
        let key = world.signer.public_key_file();
        let namespace = if signed { "signed" } else { "unsigned" };
        let extra: &[&str] = if signed { &[] } else { &["--ignore-release-signature"] };
        let out = run_m2m(
            &ws,
            &service_env(&server, &world, &key),
            &isc,
            &format!("docker://{}/{namespace}", ours.host),
            extra,
        );
        assert!(out.status.success(), "case {name}: {}", stderr(&out));
        // Signed: the tag comes from the signature's identity; unsigned: from release-metadata
        // and the image's architecture. Both are the upstream tag.
        assert_mirrored(&Http::new(&ours.url()), &format!("{namespace}/"), release, false);
        assert!(
            !server.requests().iter().any(|r| r.path.starts_with(upstream_services::GRAPH_PATH)),
            "case {name}: a named release needs no graph"
        );
    }
    drop(registry);
}
