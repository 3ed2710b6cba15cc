//! skopeo round trips: OCI layouts built with umoci go into the registry as OCI, as Docker
//! schema2 and as a multi-arch index, come back out, and must be byte-identical.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Registry, require_tool};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn run(program: &str, args: &[&str], tmp: &Path) -> String {
    let out = Command::new(program).args(args).env("TMPDIR", tmp).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An OCI image layout on disk.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("index.json")).expect("index.json")).expect("json")
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let (alg, hex) = digest.split_once(':').expect("digest");
        std::fs::read(self.dir.join("blobs").join(alg).join(hex)).unwrap_or_else(|e| panic!("blob {digest}: {e}"))
    }

    /// The descriptor tagged `tag` in index.json.
    fn descriptor(&self, tag: &str) -> Value {
        self.index()["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .cloned()
            .unwrap_or_else(|| panic!("no {tag} in {}", self.dir.display()))
    }

    fn manifest(&self, tag: &str) -> Vec<u8> {
        self.blob(self.descriptor(tag)["digest"].as_str().expect("digest"))
    }

    fn write_blob(&self, data: &[u8]) -> String {
        let digest = sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(&digest[7..]), data).expect("write blob");
        digest
    }
}

/// Builds, with umoci, a layout holding `v1` (amd64, two layers), `arm` (arm64) and `multi`, an
/// index of the two.
fn build_layout(tmp: &Path) -> Layout {
    let dir = tmp.join("src");
    let image = |tag: &str| format!("{}:{tag}", dir.display());
    run("umoci", &["init", "--layout", dir.to_str().expect("utf-8")], tmp);
    for (tag, arch) in [("v1", "amd64"), ("arm", "arm64")] {
        run("umoci", &["new", "--image", &image(tag)], tmp);
        for layer in 0..2 {
            let bundle = tmp.join(format!("bundle-{tag}-{layer}"));
            run("umoci", &["unpack", "--rootless", "--image", &image(tag), bundle.to_str().expect("utf-8")], tmp);
            std::fs::write(
                bundle.join(format!("rootfs/file-{layer}.txt")),
                format!("{tag} layer {layer}\n").repeat(1000),
            )
            .expect("write");
            run("umoci", &["repack", "--image", &image(tag), bundle.to_str().expect("utf-8")], tmp);
        }
        run("umoci", &["config", "--image", &image(tag), "--architecture", arch, "--os", "linux"], tmp);
    }
    let layout = Layout { dir };
    let child = |tag: &str, arch: &str| {
        let d = layout.descriptor(tag);
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d["digest"], "size": d["size"], "platform": {"architecture": arch, "os": "linux"}})
    };
    let multi = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [child("v1", "amd64"), child("arm", "arm64")],
    }))
    .expect("json");
    let digest = layout.write_blob(&multi);
    let mut index = layout.index();
    index["manifests"].as_array_mut().expect("manifests").push(json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": multi.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"},
    }));
    std::fs::write(layout.dir.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("write index");
    layout
}

fn referenced_blobs(manifest: &[u8]) -> Vec<String> {
    let m: Value = serde_json::from_slice(manifest).expect("manifest json");
    let mut out = vec![m["config"]["digest"].as_str().expect("config").to_string()];
    out.extend(
        m["layers"].as_array().expect("layers").iter().map(|l| l["digest"].as_str().expect("digest").to_string()),
    );
    out
}

#[test]
fn skopeo_round_trips_are_byte_identical() {
    if !require_tool("skopeo") || !require_tool("umoci") {
        return;
    }
    let reg = Registry::ours();
    let tmp = tempfile::tempdir().expect("temp dir");
    let tmp = tmp.path();
    let src = build_layout(tmp);
    let reg_ref = |path: &str| format!("docker://{}/{path}", reg.host);
    let oci = |dir: &Path, tag: &str| format!("oci:{}:{tag}", dir.display());
    let skopeo = |args: &[&str]| run("skopeo", args, tmp);

    // OCI image in and out: the same manifest bytes and the same blobs.
    skopeo(&["copy", "--dest-tls-verify=false", &oci(&src.dir, "v1"), &reg_ref("skopeo/app:v1")]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &reg_ref("skopeo/app:v1")]);
    assert_eq!(raw.as_bytes(), src.manifest("v1"), "the registry must serve the manifest byte-for-byte");
    let info: Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &reg_ref("skopeo/app:v1")]))
        .expect("inspect json");
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(2));
    assert_eq!(info["Digest"], sha256(&src.manifest("v1")));
    let out = tmp.join("out");
    skopeo(&["copy", "--src-tls-verify=false", &reg_ref("skopeo/app:v1"), &oci(&out, "v1")]);
    let back = Layout { dir: out };
    assert_eq!(back.manifest("v1"), src.manifest("v1"));
    for digest in referenced_blobs(&src.manifest("v1")) {
        assert_eq!(back.blob(&digest), src.blob(&digest), "blob {digest}");
    }

    // Docker schema2: converted by skopeo on the way in; the layers are the same bytes.
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &oci(&src.dir, "v1"),
        &reg_ref("skopeo/docker:v1"),
    ]);
    let v2s2: Value =
        serde_json::from_str(&skopeo(&["inspect", "--raw", "--tls-verify=false", &reg_ref("skopeo/docker:v1")]))
            .expect("json");
    assert_eq!(v2s2["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    let dir_out = tmp.join("dir-out");
    skopeo(&["copy", "--src-tls-verify=false", &reg_ref("skopeo/docker:v1"), &format!("dir:{}", dir_out.display())]);
    let src_manifest: Value = serde_json::from_slice(&src.manifest("v1")).expect("json");
    for layer in src_manifest["layers"].as_array().expect("layers") {
        let digest = layer["digest"].as_str().expect("digest");
        let copied = std::fs::read(dir_out.join(&digest[7..])).expect("layer in dir: output");
        assert_eq!(copied, src.blob(digest), "v2s2 layer {digest}");
    }

    // A multi-arch index with --all, and back.
    skopeo(&["copy", "--all", "--dest-tls-verify=false", &oci(&src.dir, "multi"), &reg_ref("skopeo/multi:v1")]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &reg_ref("skopeo/multi:v1")]);
    assert_eq!(raw.as_bytes(), src.manifest("multi"));
    let multi_out = tmp.join("multi-out");
    skopeo(&["copy", "--all", "--src-tls-verify=false", &reg_ref("skopeo/multi:v1"), &oci(&multi_out, "multi")]);
    let back = Layout { dir: multi_out };
    assert_eq!(back.manifest("multi"), src.manifest("multi"));
    for tag in ["v1", "arm"] {
        let child = src.manifest(tag);
        assert_eq!(back.blob(&sha256(&child)), child, "child {tag}");
        for digest in referenced_blobs(&child) {
            assert_eq!(back.blob(&digest), src.blob(&digest), "blob {digest} of {tag}");
        }
    }

    // Tags, and delete.
    let tags: Value =
        serde_json::from_str(&skopeo(&["list-tags", "--tls-verify=false", &reg_ref("skopeo/app")])).expect("json");
    assert_eq!(tags["Tags"], json!(["v1"]));
    skopeo(&["delete", "--tls-verify=false", &reg_ref("skopeo/app:v1")]);
    let gone = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &reg_ref("skopeo/app:v1")])
        .env("TMPDIR", tmp)
        .output()
        .expect("skopeo");
    assert!(!gone.status.success(), "deleted image still inspects");
}
