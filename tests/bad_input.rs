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

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)))
}

/// Issue #12 item 11: a manifest whose descriptor `size` disagreed with the stored blob was
/// accepted, and clients that trust the descriptor broke on pull. Refused for the config and for
/// a layer, with a message naming the digest and both sizes; nothing is stored.
#[test]
fn a_descriptor_size_that_disagrees_with_the_blob_is_manifest_invalid() {
    let reg = Registry::ours();
    let client = reqwest::blocking::Client::new();
    let (config, layer) = (br#"{"architecture":"amd64","os":"linux"}"#.to_vec(), b"layer bytes".to_vec());
    for data in [&config, &layer] {
        let r = client
            .post(format!("{}/v2/sizes/blobs/uploads/?digest={}", reg.url(), sha256(data)))
            .body(data.clone())
            .send()
            .expect("push blob");
        assert_eq!(r.status(), 201);
    }
    let manifest = |config_size: usize, layer_size: usize| {
        serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer_size}],
        })
        .to_string()
    };
    let cases = [
        ("config too small", manifest(config.len() - 1, layer.len()), sha256(&config), config.len() - 1, config.len()),
        ("layer too large", manifest(config.len(), layer.len() + 100), sha256(&layer), layer.len() + 100, layer.len()),
    ];
    for (name, body, digest, declared, actual) in cases {
        let r = client
            .put(format!("{}/v2/sizes/manifests/v1", reg.url()))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(body.clone())
            .send()
            .expect("put manifest");
        assert_eq!(r.status(), 400, "case {name}");
        let reply: serde_json::Value = r.json().expect("OCI error body");
        assert_eq!(reply["errors"][0]["code"], "MANIFEST_INVALID", "case {name}");
        let message = reply["errors"][0]["message"].as_str().unwrap_or_default();
        for part in [digest, declared.to_string(), actual.to_string()] {
            assert!(message.contains(&part), "case {name}: message {message:?} does not name {part}");
        }
        let r =
            client.get(format!("{}/v2/sizes/manifests/{}", reg.url(), sha256(body.as_bytes()))).send().expect("get");
        assert_eq!(r.status(), 404, "case {name}: the refused manifest is stored");
    }
    let r = client.get(format!("{}/v2/sizes/manifests/v1", reg.url())).send().expect("get");
    assert_eq!(r.status(), 404, "a refused manifest was tagged");
    let r = client
        .put(format!("{}/v2/sizes/manifests/v1", reg.url()))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest(config.len(), layer.len()))
        .send()
        .expect("put manifest");
    assert_eq!(r.status(), 201, "the same manifest with true sizes");
}

/// Issue #12 item 10: `Range: items=0-1` (a unit we do not know) was answered 416; RFC 9110
/// says to ignore it, so the whole blob comes back with 200, as for a malformed `bytes` range.
#[test]
fn an_unknown_range_unit_is_ignored_over_the_wire() {
    let reg = Registry::ours();
    let client = reqwest::blocking::Client::new();
    let data = b"0123456789".to_vec();
    let url = format!("{}/v2/ranges/blobs/{}", reg.url(), sha256(&data));
    let r = client
        .post(format!("{}/v2/ranges/blobs/uploads/?digest={}", reg.url(), sha256(&data)))
        .body(data.clone())
        .send();
    assert_eq!(r.expect("push blob").status(), 201);
    for (range, status, body) in [
        ("items=0-1", 200, &data[..]),
        ("bytes=x-y", 200, &data[..]),
        ("bytes=3-4", 206, b"34"),
        ("bytes=10-", 416, b""),
    ] {
        let r = client.get(&url).header("range", range).send().expect("get");
        assert_eq!(r.status(), status, "{range}");
        if status == 416 {
            assert_eq!(r.headers()["content-range"], "bytes */10", "{range}");
        } else {
            assert_eq!(r.bytes().expect("body").as_ref(), body, "{range}");
        }
    }
}
