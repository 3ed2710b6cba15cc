//! Wire details found wanting by the hardening review of issue #12: manifest references that
//! cannot exist, `Range` headers by RFC 9110, and descriptor sizes checked against the store.

use axum::body::Body;
use axum::http::StatusCode;

use super::{TestApp, basic, index_of};
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::reference::{Algorithm, Digest};

/// Issue #12 item 9: the OCI conformance suites GET and HEAD `.INVALID_MANIFEST_NAME` and expect
/// 404; we answered 400 for every method. Reads now answer 404, writes still refuse the name.
#[tokio::test]
async fn manifest_references_that_cannot_exist_read_as_unknown_and_are_refused_as_names() {
    let app = TestApp::new();
    let (body, digest) = app.push_image("r", "v1", "seed").await;
    let cases: &[(&str, &str, String, StatusCode, &str)] = &[
        (
            "GET invalid tag",
            "GET",
            "/v2/r/manifests/.INVALID_MANIFEST_NAME".into(),
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        ("HEAD invalid tag", "HEAD", "/v2/r/manifests/.INVALID_MANIFEST_NAME".into(), StatusCode::NOT_FOUND, ""),
        (
            "DELETE invalid tag",
            "DELETE",
            "/v2/r/manifests/.INVALID_MANIFEST_NAME".into(),
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        ("GET malformed digest", "GET", "/v2/r/manifests/sha256:abc".into(), StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        (
            "GET unknown algorithm",
            "GET",
            "/v2/r/manifests/md5:d41d8cd98f00b204e9800998ecf8427e".into(),
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        (
            "PUT invalid tag",
            "PUT",
            "/v2/r/manifests/.INVALID_MANIFEST_NAME".into(),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            "PUT tag too long",
            "PUT",
            format!("/v2/r/manifests/{}", "t".repeat(129)),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        ("PUT malformed digest", "PUT", "/v2/r/manifests/sha256:abc".into(), StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        (
            "PUT by digest with an invalid tag parameter",
            "PUT",
            format!("/v2/r/manifests/{digest}?tag=-bad"),
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
    ];
    for (name, method, path, status, code) in cases {
        let r = app.call(method, path, &[("content-type", OCI_MANIFEST)], body.clone()).await;
        assert_eq!(r.status, *status, "case {name}: {}", String::from_utf8_lossy(&r.body));
        if !code.is_empty() {
            assert_eq!(r.code(), *code, "case {name}");
        }
    }
    let r = app.call("GET", "/v2/r/tags/list", &[], Body::empty()).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["v1"]), "a refused write stored a tag");
}

/// The route of an impossible reference still names its repository, so access is decided before
/// the 404: a caller without credentials is challenged for that repository, and a pull account
/// may not delete there.
#[tokio::test]
async fn access_is_checked_before_an_impossible_reference_is_answered() {
    let app = TestApp::secured(false).await;
    let path = "/v2/team/app/manifests/.INVALID_MANIFEST_NAME";
    let r = app.call("GET", path, &[("host", "reg")], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.header("www-authenticate").ends_with(r#"scope="repository:team/app:pull""#),
        "{}",
        r.header("www-authenticate")
    );
    let puller = basic("puller", "password1");
    let r = app.call("DELETE", path, &[("authorization", &puller)], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    let r = app.call("GET", path, &[("authorization", &puller)], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"));
}

/// Issue #12 item 10: `Range: items=0-1` answered 416. RFC 9110 §14.2: an unknown unit and an
/// invalid range set are ignored (200); only a valid set with no satisfiable range is 416.
#[tokio::test]
async fn blob_range_headers_follow_rfc_9110() {
    let app = TestApp::new();
    let data = b"0123456789";
    let d = app.push_blob("r", data).await;
    let cases: &[(&str, &str, StatusCode, &[u8], &str)] = &[
        ("one range", "bytes=2-4", StatusCode::PARTIAL_CONTENT, b"234", "bytes 2-4/10"),
        ("open end", "bytes=7-", StatusCode::PARTIAL_CONTENT, b"789", "bytes 7-9/10"),
        ("suffix", "bytes=-2", StatusCode::PARTIAL_CONTENT, b"89", "bytes 8-9/10"),
        ("end past the blob is clamped", "bytes=8-100", StatusCode::PARTIAL_CONTENT, b"89", "bytes 8-9/10"),
        ("unit is case-insensitive", "BYTES=0-0", StatusCode::PARTIAL_CONTENT, b"0", "bytes 0-0/10"),
        ("unknown unit is ignored", "items=0-1", StatusCode::OK, data, ""),
        ("invalid syntax is ignored", "bytes=a-b", StatusCode::OK, data, ""),
        ("last before first is ignored", "bytes=5-1", StatusCode::OK, data, ""),
        ("several ranges: the whole blob", "bytes=0-1,4-5", StatusCode::OK, data, ""),
        ("start past the end", "bytes=10-", StatusCode::RANGE_NOT_SATISFIABLE, b"", "bytes */10"),
        ("zero suffix", "bytes=-0", StatusCode::RANGE_NOT_SATISFIABLE, b"", "bytes */10"),
        ("several, none satisfiable", "bytes=20-,30-40", StatusCode::RANGE_NOT_SATISFIABLE, b"", "bytes */10"),
    ];
    for (name, range, status, body, content_range) in cases {
        let r = app.call("GET", &format!("/v2/r/blobs/{d}"), &[("range", range)], Body::empty()).await;
        assert_eq!(r.status, *status, "case {name}");
        assert_eq!(r.header("content-range"), *content_range, "case {name}");
        if *status == StatusCode::RANGE_NOT_SATISFIABLE {
            assert_eq!(r.code(), "SIZE_INVALID", "case {name}");
        } else {
            assert_eq!(r.body, *body, "case {name}");
            assert_eq!(r.header("content-length"), body.len().to_string(), "case {name}");
        }
    }
}

/// Issue #12 item 11, for indexes: a child that is stored here must be named with its size.
#[tokio::test]
async fn index_children_stored_here_must_have_their_true_size() {
    let app = TestApp::new();
    let (body, child) = app.push_image("multi", "amd64", "a").await;
    let absent = Digest::of(Algorithm::Sha256, b"a child that was filtered out");
    let wrong = body.len() + 1;
    let r = app
        .call(
            "PUT",
            "/v2/multi/manifests/all",
            &[("content-type", OCI_INDEX)],
            index_of(&[(&child, wrong), (&absent, 1)]),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"));
    let message = r.json()["errors"][0]["message"].as_str().unwrap_or_default().to_string();
    for part in [child.to_string(), wrong.to_string(), body.len().to_string()] {
        assert!(message.contains(&part), "message {message:?} does not name {part}");
    }
    let r = app.call("GET", "/v2/multi/manifests/all", &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the refused index was stored");
}
