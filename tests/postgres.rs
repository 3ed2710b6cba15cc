//! The registry with its metadata in PostgreSQL (issue #14): `serve` with `database.url` set
//! takes a push from skopeo and serves it back, and `status`, `gc` and `user` work on the same
//! database next to it. The database is a fresh one in a throwaway cluster (`common::postgres`).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use common::{Registry, output_with_stdin, require_tool};
use sha2::{Digest as _, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run");
    stdout_of(&out, &format!("{command:?}"))
}

fn stdout_of(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes an OCI layout holding one image tagged `v1` (a gzipped tar layer and its config);
/// returns the manifest's bytes.
fn write_layout(dir: &Path) -> Vec<u8> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout dir");
    let put = |data: &[u8]| {
        let digest = sha256(data);
        std::fs::write(blobs.join(&digest[7..]), data).expect("write blob");
        digest
    };
    let mut tar = tar::Builder::new(Vec::new());
    let text = b"metadata in postgresql\n".repeat(100);
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", &text[..]).expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar.into_inner().expect("tar bytes")).expect("gzip");
    let layer = gz.finish().expect("gzip");
    let diff_id = sha256(&gunzip(&layer));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}, "config": {}
    }))
    .expect("config");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(&layer), "size": layer.len()}]
    }))
    .expect("manifest");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(&manifest), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).expect("index")).expect("index.json");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    manifest
}

/// The uncompressed bytes of a gzipped layer (its digest is the config's `diff_id`).
fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out).expect("gunzip");
    out
}

#[test]
fn serve_status_gc_and_user_run_on_postgresql() {
    if !require_tool("skopeo") {
        return;
    }
    let Some(cluster) = common::postgres::cluster() else { return };
    let url = cluster.create_database();
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let layout = dir.path().join("layout");
    let manifest = write_layout(&layout);
    let reg = Registry::ours_configured(dir, &data_dir, &format!("database: {{url: '{url}'}}\n"), &[]);
    assert!(
        reg.startup.iter().any(|l| l.contains(&url)),
        "serve names the PostgreSQL database it uses: {:?}",
        reg.startup
    );

    let image = format!("docker://{}/pg/app:v1", reg.host);
    run(Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(&image));
    let raw = run(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false", &image]));
    assert_eq!(raw.as_bytes(), manifest.as_slice(), "the manifest comes back byte for byte");
    let pulled = reg.data_dir.join("pulled");
    run(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &image])
        .arg(format!("oci:{}:v1", pulled.display())));
    assert!(
        !reg.data_dir.join("sqlite-storage/registry.db").exists(),
        "with database.url set, no SQLite file is created"
    );

    // A stray blob for gc to collect; the image's blobs stay.
    let stray = b"unreferenced".to_vec();
    let client = reqwest::blocking::Client::new();
    let r = client
        .post(format!("{}/v2/pg/app/blobs/uploads/?digest={}", reg.url(), sha256(&stray)))
        .body(stray)
        .send()
        .expect("upload");
    assert_eq!(r.status(), 201);

    let status = run(&mut reg.command(&["status"]));
    for line in ["repositories        1", "manifests           1", "tags                1", "blobs               3"] {
        assert!(status.contains(line), "status lacks {line:?}:\n{status}");
    }
    assert!(status.contains(&format!("database            {url}")), "{status}");

    let gc = reg.gc();
    assert!(gc.starts_with("deleted 1 blobs"), "{gc}");
    let status = run(&mut reg.command(&["status"]));
    assert!(status.contains("blobs               2") && status.contains("last gc             "), "{status}");
    assert!(!status.contains("last gc             never"), "the run is recorded: {status}");
    run(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false", &image])
        .arg(format!("oci:{}:again", pulled.display())));

    let added =
        output_with_stdin(&mut reg.command(&["user", "add", "carol", "--password-stdin"]), "correct-horse-battery\n");
    assert!(stdout_of(&added, "user add").contains("created user carol"));
    let list = run(&mut reg.command(&["user", "list"]));
    assert!(list.lines().any(|l| l.starts_with("carol") && l.contains("push")), "{list}");
    let again =
        output_with_stdin(&mut reg.command(&["user", "add", "carol", "--password-stdin"]), "another-password\n");
    assert!(!again.status.success(), "the account exists in the shared database");
}
