//! Bad input over real HTTP: each case answers its OCI error and stores nothing. (Parser-level
//! cases are table tests in `src/`; these are the ones that need the wire or a crash.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Registry;

/// Sends a request exactly as written (no client-side path normalisation) and returns the
/// status line and body.
fn raw(reg: &Registry, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(&reg.host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.lines().next().unwrap_or("").to_string();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn dot_dot_names_are_name_invalid_as_sent() {
    let reg = Registry::ours();
    for path in ["/v2/../tags/list", "/v2/%2e%2e/tags/list", "/v2/a/%2e%2e/b/tags/list", "/v2/a/../b/manifests/v1"] {
        let (status, body) = raw(&reg, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        assert!(status.contains(" 400 "), "{path}: {status}");
        assert!(body.contains("NAME_INVALID"), "{path}: {body}");
    }
}

#[test]
fn a_manifest_over_four_mebibytes_is_refused_and_not_stored() {
    let reg = Registry::ours();
    let client = reqwest::blocking::Client::new();
    let mut big =
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":""#
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
    big.extend(br#""}}"#);
    let r = client
        .put(format!("{}/v2/big/manifests/v1", reg.url()))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(big)
        .send()
        .expect("request");
    assert_eq!(r.status(), 413);
    let r = client.get(format!("{}/v2/big/manifests/v1", reg.url())).send().expect("request");
    assert_eq!(r.status(), 404);
}

#[test]
fn unknown_upload_ids_are_blob_upload_unknown() {
    let reg = Registry::ours();
    let client = reqwest::blocking::Client::new();
    for id in ["0f8fad5b-d9cb-469f-a165-70867728950e", "not-a-uuid"] {
        let r = client.patch(format!("{}/v2/r/blobs/uploads/{id}", reg.url())).body("x").send().expect("request");
        assert_eq!(r.status(), 404, "{id}");
        assert!(r.text().expect("body").contains("BLOB_UPLOAD_UNKNOWN"), "{id}");
    }
}

#[test]
fn a_garbage_content_range_is_416_with_the_current_range() {
    let reg = Registry::ours();
    let client = reqwest::blocking::Client::new();
    let r = client.post(format!("{}/v2/r/blobs/uploads/", reg.url())).send().expect("post");
    let location = r.headers()["location"].to_str().expect("location").to_string();
    let r = client.patch(&location).header("content-range", "0-4").body("hello").send().expect("patch");
    assert_eq!(r.status(), 202);
    let r = client.patch(&location).header("content-range", "bananas").body("x").send().expect("patch");
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["range"], "0-4");
}

/// A server killed in the middle of a streamed upload leaves no visible blob: not after a
/// restart, not on disk under blobs/, and the half-sent session does not complete.
#[test]
fn kill_during_an_upload_leaves_no_visible_blob() {
    let reg = Registry::ours();
    let data = vec![7u8; 8 << 20];
    let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
    let client = reqwest::blocking::Client::new();
    let r = client.post(format!("{}/v2/r/blobs/uploads/", reg.url())).send().expect("post");
    let location = r.headers()["location"].to_str().expect("location").to_string();
    // Send half of the body by hand, then kill the server mid-stream.
    let url = location.trim_start_matches("http://");
    let (host, path) = url.split_once('/').expect("path");
    let mut s = TcpStream::connect(host).expect("connect");
    write!(s, "PATCH /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n", data.len()).expect("head");
    s.write_all(&data[..data.len() / 2]).expect("half the body");
    s.flush().expect("flush");
    let (dir, data_dir) = reg.crash();
    drop(s);
    let reg = Registry::ours_in(dir, &data_dir, &[]);
    let r = client.head(format!("{}/v2/r/blobs/{digest}", reg.url())).send().expect("head");
    assert_eq!(r.status(), 404, "a half-uploaded blob is visible");
    let on_disk = data_dir.join("quay-storage/blobs/sha256").join(&digest[7..9]).join(&digest[7..]);
    assert!(!on_disk.exists(), "a half-uploaded blob reached blobs/");
    // Completing the session with the right digest fails: only half the bytes arrived.
    let new_location = location.replace(&host.to_string(), &reg.host);
    let r = client.put(format!("{new_location}?digest={digest}")).send().expect("put");
    assert_eq!(r.status(), 400, "a truncated upload must not verify");
}
