//! Handler tests: the router over a real store in a temp dir, driven with `oneshot`.
//! They pin behaviour the conformance runner does not reach: config-dependent policies,
//! repository isolation of blobs, pagination edges and what lands on disk.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{App, router};
use crate::accounts::{Role, Secret};
use crate::auth::{self, Auth, password};
use crate::config::{Config, Storage};
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::reference::{Algorithm, Digest};
use crate::store::Store;

struct TestApp {
    dir: tempfile::TempDir,
    router: axum::Router,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or_default().to_string()
    }
}

impl TestApp {
    fn new() -> TestApp {
        Self::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        adjust(&mut config);
        let store = Store::open(&config).expect("open store");
        let frontend = Arc::new(super::headers::Frontend::from_config(&config.http));
        TestApp { dir, router: router(App { store, auth: None, metrics: Arc::default(), tls: false, frontend }) }
    }

    /// An app with auth on and three accounts: `admin1` (admin), `pusher` (push), `puller` (pull),
    /// each with password `password1`.
    async fn secured(anonymous_pull: bool) -> TestApp {
        Self::secured_with(anonymous_pull, std::time::Duration::from_hours(1)).await
    }

    async fn secured_with(anonymous_pull: bool, token_ttl: std::time::Duration) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        let store = Store::open(&config).expect("open store");
        for (name, role) in [("admin1", Role::Admin), ("pusher", Role::Push), ("puller", Role::Pull)] {
            let hash = password::hash(&Secret::password("password1").expect("valid")).expect("hash");
            store.create_user(&name.parse().expect("name"), hash, role, false).await.expect("create user");
        }
        let settings = auth::Settings { anonymous_pull, token_ttl };
        let auth = Some(Arc::new(Auth::open(store.clone(), settings).await.expect("auth")));
        TestApp {
            dir,
            router: router(App { store, auth, metrics: Arc::default(), tls: true, frontend: Arc::default() }),
        }
    }

    async fn token(&self, user: &str, scope: &str) -> String {
        let basic = format!("Basic {}", B64.encode(format!("{user}:password1")));
        let r = self
            .call("GET", &format!("/v2/auth?service=reg&scope={scope}"), &[("authorization", &basic)], Body::empty())
            .await;
        assert_eq!(r.status, StatusCode::OK, "token for {user}: {}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        assert_eq!(body["token"], body["access_token"]);
        body["token"].as_str().expect("token").to_string()
    }

    async fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(req.body(body.into()).expect("request")).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes().to_vec();
        Reply { status, headers, body }
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::of(Algorithm::Sha256, data);
        let r = self.call("POST", &format!("/v2/{repo}/blobs/uploads/?digest={d}"), &[], data.to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "push blob: {}", String::from_utf8_lossy(&r.body));
        d
    }

    /// Pushes an image manifest with a fresh config and one layer; returns its bytes and digest.
    async fn push_image(&self, repo: &str, reference: &str, seed: &str) -> (Vec<u8>, Digest) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        self.push_blob(repo, config.as_bytes()).await;
        self.push_blob(repo, seed.as_bytes()).await;
        let body = image_manifest(config.as_bytes(), seed.as_bytes(), None);
        let r = self
            .call("PUT", &format!("/v2/{repo}/manifests/{reference}"), &[("content-type", OCI_MANIFEST)], body.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "push manifest: {}", String::from_utf8_lossy(&r.body));
        (body.clone(), Digest::of(Algorithm::Sha256, &body))
    }
}

/// An image manifest naming the blobs `config` and `layer` (with their true sizes).
fn image_manifest(config: &[u8], layer: &[u8], subject: Option<&Digest>) -> Vec<u8> {
    let d = |data: &[u8]| Digest::of(Algorithm::Sha256, data).to_string();
    let mut m = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(layer), "size": layer.len()}],
    });
    if let Some(s) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s.to_string(), "size": 1});
        m["artifactType"] = json!("application/x.example.sbom");
        m["annotations"] = json!({"org.example": "yes"});
    }
    serde_json::to_vec(&m).expect("serialize")
}

fn index_of(children: &[(&Digest, usize)]) -> Vec<u8> {
    let manifests: Vec<Value> = children
        .iter()
        .map(|(d, size)| json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size}))
        .collect();
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})).expect("serialize")
}

#[tokio::test]
async fn sparse_index_is_accepted_by_default() {
    let app = TestApp::new();
    let (body, present) = app.push_image("multi", "amd64", "a").await;
    let absent = Digest::of(Algorithm::Sha256, b"a child that was filtered out");
    let r = app
        .call(
            "PUT",
            "/v2/multi/manifests/all",
            &[("content-type", OCI_INDEX)],
            index_of(&[(&present, body.len()), (&absent, 10)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn complete_indexes_are_enforced_when_configured() {
    let app = TestApp::with(|c| c.manifests.require_complete_indexes = true);
    let (body, present) = app.push_image("multi", "amd64", "a").await;
    let absent = Digest::of(Algorithm::Sha256, b"missing child");
    let r = app
        .call(
            "PUT",
            "/v2/multi/manifests/all",
            &[("content-type", OCI_INDEX)],
            index_of(&[(&present, body.len()), (&absent, 10)]),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"));
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], absent.to_string());
    let r = app
        .call("PUT", "/v2/multi/manifests/all", &[("content-type", OCI_INDEX)], index_of(&[(&present, body.len())]))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn push_by_digest_with_tag_parameters_answers_oci_tag_headers() {
    let app = TestApp::new();
    app.push_blob("r", b"{}").await;
    app.push_blob("r", b"layer").await;
    let body = image_manifest(b"{}", b"layer", None);
    let d = Digest::of(Algorithm::Sha256, &body);
    let r =
        app.call("PUT", &format!("/v2/r/manifests/{d}?tag=one&tag=two"), &[("content-type", OCI_MANIFEST)], body).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tags: Vec<&str> = r.headers.get_all("oci-tag").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(tags, ["one", "two"]);
    let r = app.call("GET", "/v2/r/tags/list", &[], Body::empty()).await;
    assert_eq!(r.json()["tags"], json!(["one", "two"]));
}

#[tokio::test]
async fn push_by_digest_without_tag_is_stored_untagged() {
    let app = TestApp::new();
    app.push_blob("r", b"{}").await;
    app.push_blob("r", b"layer").await;
    let body = image_manifest(b"{}", b"layer", None);
    let d = Digest::of(Algorithm::Sha512, &body);
    let r = app.call("PUT", &format!("/v2/r/manifests/{d}"), &[("content-type", OCI_MANIFEST)], body.clone()).await;
    assert_eq!((r.status, r.header("docker-content-digest")), (StatusCode::CREATED, d.to_string().as_str()));
    let r = app.call("GET", &format!("/v2/r/manifests/{d}"), &[], Body::empty()).await;
    assert_eq!(r.body, body, "served byte-for-byte");
    assert_eq!(app.call("GET", "/v2/r/tags/list", &[], Body::empty()).await.json()["tags"], json!([]));
}

#[tokio::test]
async fn referrers_list_filter_and_unknown_subject() {
    let app = TestApp::new();
    // The subject does not exist yet: accepted, and answered with OCI-Subject.
    let subject = Digest::of(Algorithm::Sha256, b"future subject");
    app.push_blob("r", b"{}").await;
    app.push_blob("r", b"sbom").await;
    let body = image_manifest(b"{}", b"sbom", Some(&subject));
    let referrer = Digest::of(Algorithm::Sha256, &body);
    let r =
        app.call("PUT", &format!("/v2/r/manifests/{referrer}"), &[("content-type", OCI_MANIFEST)], body.clone()).await;
    assert_eq!((r.status, r.header("oci-subject")), (StatusCode::CREATED, subject.to_string().as_str()));

    let r = app.call("GET", &format!("/v2/r/referrers/{subject}"), &[], Body::empty()).await;
    assert_eq!(r.header("content-type"), OCI_INDEX);
    let list = r.json();
    assert_eq!(list["manifests"][0]["digest"], referrer.to_string());
    assert_eq!(list["manifests"][0]["artifactType"], "application/x.example.sbom");
    assert_eq!(list["manifests"][0]["annotations"]["org.example"], "yes");
    assert_eq!(list["manifests"][0]["size"], body.len());
    assert!(r.headers.get("oci-filters-applied").is_none());

    let r = app
        .call("GET", &format!("/v2/r/referrers/{subject}?artifactType=application/x.other"), &[], Body::empty())
        .await;
    assert_eq!((r.status, r.header("oci-filters-applied")), (StatusCode::OK, "artifactType"));
    assert_eq!(r.json()["manifests"], json!([]));

    for repo in ["r", "never-pushed"] {
        let unknown = Digest::of(Algorithm::Sha256, b"nobody refers to me");
        let r = app.call("GET", &format!("/v2/{repo}/referrers/{unknown}"), &[], Body::empty()).await;
        assert_eq!((r.status, r.json()["manifests"].clone()), (StatusCode::OK, json!([])), "repo {repo}");
    }
}

#[tokio::test]
async fn blobs_are_scoped_to_repositories_until_mounted() {
    let app = TestApp::new();
    let d = app.push_blob("a", b"private layer").await;
    let r = app.call("HEAD", &format!("/v2/b/blobs/{d}"), &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a blob of repository a must not be served by b");
    let r = app.call("POST", &format!("/v2/b/blobs/uploads/?mount={d}&from=a"), &[], Body::empty()).await;
    assert_eq!((r.status, r.header("docker-content-digest")), (StatusCode::CREATED, d.to_string().as_str()));
    let r = app.call("HEAD", &format!("/v2/b/blobs/{d}"), &[], Body::empty()).await;
    assert_eq!((r.status, r.header("content-length")), (StatusCode::OK, "13"));
    // Mounting from a repository that lacks the blob starts an ordinary session instead.
    let other = Digest::of(Algorithm::Sha256, b"nowhere");
    let r = app.call("POST", &format!("/v2/c/blobs/uploads/?mount={other}&from=a"), &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("location").contains("/v2/c/blobs/uploads/"));
}

#[tokio::test]
async fn tag_pagination_edges() {
    let app = TestApp::new();
    for tag in ["c", "a", "b", "d"] {
        app.push_image("p", tag, "same").await;
    }
    let r = app.call("GET", "/v2/p/tags/list?n=2", &[], Body::empty()).await;
    assert_eq!(r.json()["tags"], json!(["a", "b"]));
    assert_eq!(r.header("link"), "</v2/p/tags/list?n=2&last=b>; rel=\"next\"");
    let r = app.call("GET", "/v2/p/tags/list?n=2&last=b", &[], Body::empty()).await;
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    assert!(r.headers.get("link").is_none(), "last page has no Link");
    let r = app.call("GET", "/v2/p/tags/list?n=0", &[], Body::empty()).await;
    assert_eq!((r.json()["tags"].clone(), r.headers.get("link").is_none()), (json!([]), true));
    for bad in ["-1", "abc"] {
        let r = app.call("GET", &format!("/v2/p/tags/list?n={bad}"), &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "n={bad}");
    }
    let r = app.call("GET", "/v2/unknown/tags/list", &[], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_manifest_and_deleting_the_digest_drops_its_tags() {
    let app = TestApp::new();
    let (_, d) = app.push_image("x", "v1", "s").await;
    let same = app.call("GET", "/v2/x/manifests/v1", &[], Body::empty()).await.body;
    let r = app.call("PUT", "/v2/x/manifests/v2", &[("content-type", OCI_MANIFEST)], same).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.call("DELETE", "/v2/x/manifests/v1", &[], Body::empty()).await.status, StatusCode::ACCEPTED);
    assert_eq!(app.call("GET", "/v2/x/manifests/v1", &[], Body::empty()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call("GET", &format!("/v2/x/manifests/{d}"), &[], Body::empty()).await.status, StatusCode::OK);
    assert_eq!(
        app.call("DELETE", &format!("/v2/x/manifests/{d}"), &[], Body::empty()).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(app.call("GET", "/v2/x/manifests/v2", &[], Body::empty()).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call("GET", "/v2/x/tags/list", &[], Body::empty()).await.json()["tags"], json!([]));
}

#[tokio::test]
async fn digest_mismatch_stores_nothing() {
    let app = TestApp::new();
    let claimed = Digest::of(Algorithm::Sha256, b"what I claim");
    let r = app.call("POST", &format!("/v2/r/blobs/uploads/?digest={claimed}"), &[], b"what I send".to_vec()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "DIGEST_INVALID"));
    let blobs = walk_files(&app.dir.path().join("quay-storage"));
    assert!(blobs.is_empty(), "files left behind: {blobs:?}");
    let r = app.call("HEAD", &format!("/v2/r/blobs/{claimed}"), &[], Body::empty()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Issue #12: upload data below `limits.min_free_bytes` of free space is refused before it is
/// written, with 507 and a message that says what to do (a 5xx message normally names only the
/// request id), and leaves no file behind.
#[tokio::test]
async fn uploads_short_of_free_space_are_507_with_a_clear_message() {
    let app = TestApp::with(|c| c.limits.min_free_bytes = u64::MAX);
    let d = Digest::of(Algorithm::Sha256, b"data");
    for (case, uri) in
        [("monolithic", format!("/v2/r/blobs/uploads/?digest={d}")), ("session", "/v2/r/blobs/uploads/".into())]
    {
        let r = app.call("POST", &uri, &[], b"data".to_vec()).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::INSUFFICIENT_STORAGE, "BLOB_UPLOAD_INVALID"), "{case}");
        let message = r.json()["errors"][0]["message"].as_str().unwrap_or_default().to_string();
        assert!(
            message.contains("not enough free space") && message.contains("mirror-registry gc"),
            "{case}: {message}"
        );
    }
    let files = walk_files(&app.dir.path().join("quay-storage"));
    assert!(files.is_empty(), "files left behind: {files:?}");
}

#[tokio::test]
async fn chunked_upload_out_of_order_then_resume() {
    let app = TestApp::new();
    let r = app.call("POST", "/v2/r/blobs/uploads/", &[], Body::empty()).await;
    assert_eq!((r.status, r.header("range")), (StatusCode::ACCEPTED, "0-0"));
    let location = r.header("location").to_string();
    let r = app.call("PATCH", &location, &[("content-range", "0-4")], b"hello".to_vec()).await;
    assert_eq!((r.status, r.header("range")), (StatusCode::ACCEPTED, "0-4"));
    let r = app.call("PATCH", &location, &[("content-range", "10-14")], b"later".to_vec()).await;
    assert_eq!((r.status, r.header("range")), (StatusCode::RANGE_NOT_SATISFIABLE, "0-4"));
    let r = app.call("GET", &location, &[], Body::empty()).await;
    assert_eq!((r.status, r.header("range")), (StatusCode::NO_CONTENT, "0-4"));
    let d = Digest::of(Algorithm::Sha256, b"hello world");
    let r = app.call("PUT", &format!("{location}?digest={d}"), &[("content-range", "5-10")], b" world".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let r = app.call("GET", &format!("/v2/r/blobs/{d}"), &[], Body::empty()).await;
    assert_eq!(r.body, b"hello world");
    let r = app.call("GET", &location, &[], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"), "session over");
}

#[tokio::test]
async fn forwarded_proto_from_a_trusted_proxy_sets_the_location_scheme() {
    // Requests driven with `oneshot` carry no peer address: they come from 0.0.0.0.
    let app = TestApp::with(|c| c.http.trusted_proxies = vec!["0.0.0.0".parse().expect("range")]);
    let r = app
        .call(
            "POST",
            "/v2/r/blobs/uploads/",
            &[("host", "mirror.example:8443"), ("x-forwarded-proto", "https")],
            Body::empty(),
        )
        .await;
    assert!(
        r.header("location").starts_with("https://mirror.example:8443/v2/r/blobs/uploads/"),
        "{}",
        r.header("location")
    );
}

#[tokio::test]
async fn schema1_is_refused_with_a_clear_message() {
    let app = TestApp::new();
    let body = br#"{"schemaVersion":1,"name":"r","tag":"v1","fsLayers":[],"history":[]}"#.to_vec();
    let r = app
        .call(
            "PUT",
            "/v2/r/manifests/v1",
            &[("content-type", "application/vnd.docker.distribution.manifest.v1+prettyjws")],
            body,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"));
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or_default().contains("schema1"));
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn base_without_credentials_is_challenged() {
    let app = TestApp::secured(false).await;
    let r = app.call("GET", "/v2/", &[("host", "reg.example:8443")], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"));
    assert_eq!(
        r.header("www-authenticate"),
        r#"Bearer realm="https://reg.example:8443/v2/auth",service="reg.example:8443""#
    );
    let r = app.call("GET", "/v2/", &[("authorization", &basic("puller", "password1"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK, "basic auth works directly on /v2/");
    let r = app.call("GET", "/v2/", &[("authorization", &basic("puller", "wrong-password"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repository_requests_are_challenged_with_their_scope() {
    let app = TestApp::secured(false).await;
    let r = app.call("POST", "/v2/a/b/blobs/uploads/", &[("host", "reg")], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.header("www-authenticate").ends_with(r#"scope="repository:a/b:pull,push""#),
        "{}",
        r.header("www-authenticate")
    );
    assert_eq!(r.json()["errors"][0]["detail"][0]["Action"], "push");
}

#[tokio::test]
async fn token_flow_grants_by_role() {
    let app = TestApp::secured(false).await;
    let t = app.token("pusher", "repository:r:pull,push").await;
    let bearer = format!("Bearer {t}");
    let d = Digest::of(Algorithm::Sha256, b"layer");
    let r = app
        .call("POST", &format!("/v2/r/blobs/uploads/?digest={d}"), &[("authorization", &bearer)], b"layer".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));

    // A pull account gets a token, but without push: pushing with it is forbidden (403 DENIED),
    // because no token it could get would allow it.
    let t = app.token("puller", "repository:r:pull,push").await;
    let bearer = format!("Bearer {t}");
    let r = app.call("HEAD", &format!("/v2/r/blobs/{d}"), &[("authorization", &bearer)], Body::empty()).await;
    assert_eq!(r.status, StatusCode::OK, "pull allowed");
    let r = app.call("POST", "/v2/r/blobs/uploads/", &[("authorization", &bearer)], Body::empty()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    let r = app
        .call("POST", "/v2/r/blobs/uploads/", &[("authorization", &basic("puller", "password1"))], Body::empty())
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "DENIED"), "same with basic auth");
}

#[tokio::test]
async fn token_for_one_repository_does_not_open_another() {
    let app = TestApp::secured(false).await;
    let t = app.token("admin1", "repository:a:pull").await;
    let r = app.call("GET", "/v2/b/tags/list", &[("authorization", &format!("Bearer {t}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the account may read b, so it is told to get a token for b");
    assert!(r.header("www-authenticate").contains(r#"scope="repository:b:pull""#));
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_refused() {
    let app = TestApp::secured(false).await;
    let t = app.token("admin1", "repository:a:pull").await;
    let mut tampered = t.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let other = TestApp::secured(false).await.token("admin1", "repository:a:pull").await;
    for (name, token) in [("tampered", tampered), ("signed by another registry", other), ("garbage", "x.y.z".into())] {
        let r =
            app.call("GET", "/v2/a/tags/list", &[("authorization", &format!("Bearer {token}"))], Body::empty()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_not_500() {
    let app = TestApp::secured(false).await;
    for (name, header) in [
        ("not base64", "Basic %%%".to_string()),
        ("no colon", format!("Basic {}", B64.encode("admin1"))),
        ("empty user", format!("Basic {}", B64.encode(":password1"))),
        ("unknown scheme", "Negotiate abc".into()),
    ] {
        let r = app.call("GET", "/v2/", &[("authorization", &header)], Body::empty()).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"), "{name}");
    }
}

#[tokio::test]
async fn garbage_scopes_are_a_bad_request() {
    let app = TestApp::secured(false).await;
    let r = app
        .call("GET", "/v2/auth?scope=garbage", &[("authorization", &basic("admin1", "password1"))], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or_default().contains("invalid scope"));
}

#[tokio::test]
async fn repeated_failed_logins_back_off() {
    let app = TestApp::secured(false).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.call("GET", "/v2/", &[("authorization", &basic("admin1", "nope-nope"))], Body::empty()).await.status,
        );
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3], "typos are free");
    assert!(statuses[4..].contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let r = app.call("GET", "/v2/", &[("authorization", &basic("admin1", "password1"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits out the back-off");
    assert!(!r.header("retry-after").is_empty());
}

#[tokio::test]
async fn anonymous_pull_when_enabled_only() {
    for (anonymous_pull, expected) in [(false, StatusCode::UNAUTHORIZED), (true, StatusCode::NOT_FOUND)] {
        let app = TestApp::secured(anonymous_pull).await;
        let r = app.call("GET", "/v2/r/tags/list", &[], Body::empty()).await;
        assert_eq!(r.status, expected, "anonymous_pull={anonymous_pull}");
        let r = app.call("POST", "/v2/r/blobs/uploads/", &[], Body::empty()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "anonymous push never");
    }
}

#[tokio::test]
async fn oauth_password_and_refresh_grants() {
    let app = TestApp::secured(false).await;
    let form = "grant_type=password&username=pusher&password=password1&service=reg&scope=repository%3Ar%3Apull&access_type=offline&client_id=docker";
    let r = app.call("POST", "/v2/auth", &[("content-type", "application/x-www-form-urlencoded")], form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let refresh = r.json()["refresh_token"].as_str().expect("refresh token").to_string();
    let form = format!("grant_type=refresh_token&refresh_token={refresh}&service=reg&scope=repository%3Ar%3Apush");
    let r = app.call("POST", "/v2/auth", &[("content-type", "application/x-www-form-urlencoded")], form).await;
    assert_eq!(r.status, StatusCode::OK);
    let access = r.json()["access_token"].as_str().expect("token").to_string();
    let r = app
        .call("POST", "/v2/r/blobs/uploads/", &[("authorization", &format!("Bearer {access}"))], Body::empty())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    // A refresh token is not an access token.
    let r = app.call("GET", "/v2/", &[("authorization", &format!("Bearer {refresh}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::secured_with(false, std::time::Duration::ZERO).await;
    let t = app.token("admin1", "repository:a:pull").await;
    let r = app.call("GET", "/v2/a/tags/list", &[("authorization", &format!("Bearer {t}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.json()["errors"][0]["message"].as_str().unwrap_or_default().contains("expired"));
}

#[tokio::test]
async fn deleted_accounts_lose_access_with_their_tokens() {
    let app = TestApp::secured(false).await;
    let t = app.token("pusher", "repository:a:pull").await;
    let store = Store::open(&Config { storage: Storage::under(app.dir.path()), ..Config::default() }).expect("store");
    store.delete_user(&"pusher".parse().expect("name")).await.expect("delete");
    let r = app.call("GET", "/v2/a/tags/list", &[("authorization", &format!("Bearer {t}"))], Body::empty()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

mod wire;
