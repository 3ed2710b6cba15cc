//! Issue #12, item 7: blob and upload files were 0644 and data directories 0755, so any local
//! user could read every image without going through auth. Data is owner-only now, and a start
//! tightens what an older version left wide.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Registry;
use sha2::{Digest as _, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Every directory and file under `root`.
fn walk(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut dirs, mut files) = (vec![root.to_path_buf()], Vec::new());
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path.clone());
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    (dirs, files)
}

/// The data `serve` owns: the blob store and the database directory.
fn data_roots(data_dir: &Path) -> [PathBuf; 2] {
    [data_dir.join("quay-storage"), data_dir.join("sqlite-storage")]
}

fn push_blob(http: &reqwest::blocking::Client, reg: &Registry, data: &[u8]) -> String {
    let digest = sha256(data);
    let r = http
        .post(format!("{}/v2/perm/test/blobs/uploads/?digest={digest}", reg.url()))
        .body(data.to_vec())
        .send()
        .expect("post");
    assert_eq!(r.status(), 201, "monolithic upload");
    digest
}

fn blob_file(data_dir: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    data_dir.join("quay-storage/blobs/sha256").join(&hex[..2]).join(hex)
}

#[test]
fn data_left_wide_is_tightened_at_start_and_new_data_is_owner_only() {
    let http = reqwest::blocking::Client::new();
    let reg = Registry::ours();
    let first = push_blob(&http, &reg, b"pushed by an older version");
    let (dir, data_dir) = reg.crash();
    // What an older version (umask 022, no explicit modes) left behind.
    let mut widened = 0;
    for root in data_roots(&data_dir) {
        let (dirs, files) = walk(&root);
        for d in &dirs {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        for f in &files {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        widened += dirs.len() + files.len();
    }
    assert!(widened > 8, "the first start made the layout and the database");

    let reg = Registry::ours_in(dir, &data_dir, &[]);
    let said = reg.startup.iter().find(|l| l.contains("removed group and other access from"));
    assert_eq!(
        said.map(String::as_str),
        Some(
            format!("mirror-registry: removed group and other access from {widened} data files and directories")
                .as_str()
        ),
        "startup lines: {:?}",
        reg.startup
    );
    for root in data_roots(&data_dir) {
        let (dirs, files) = walk(&root);
        for d in &dirs {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
    }
    assert_eq!(mode(&blob_file(&data_dir, &first)), 0o600);

    // New data: an upload in progress, then a blob in a fan-out directory made now.
    let r = http.post(format!("{}/v2/perm/test/blobs/uploads/", reg.url())).send().expect("start upload");
    assert_eq!(r.status(), 202);
    let id = r.headers()["docker-upload-uuid"].to_str().expect("uuid").to_string();
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let location = if location.starts_with('/') { format!("{}{location}", reg.url()) } else { location };
    let r = http.patch(&location).header("content-range", "0-4").body(&b"chunk"[..]).send().expect("patch");
    assert_eq!(r.status(), 202);
    assert_eq!(mode(&data_dir.join("quay-storage/uploads").join(&id)), 0o600, "upload file");
    let fresh = (0..1000)
        .map(|i| format!("fresh blob {i}"))
        .find(|d| !blob_file(&data_dir, &sha256(d.as_bytes())).parent().expect("dir").exists())
        .expect("a digest in a new fan-out directory");
    let digest = push_blob(&http, &reg, fresh.as_bytes());
    let file = blob_file(&data_dir, &digest);
    assert_eq!(mode(&file), 0o600, "pushed blob");
    assert_eq!(mode(file.parent().expect("fan-out dir")), 0o700, "fan-out directory made by the push");
    for journal in ["registry.db", "registry.db-wal", "registry.db-shm"] {
        assert_eq!(mode(&data_dir.join("sqlite-storage").join(journal)), 0o600, "{journal}");
    }
}
