//! The few distribution-spec requests the scenarios send, in the order real clients send them.
//!
//! Each function is one request and checks its status, so a registry that answers wrongly stops
//! the benchmark instead of producing a fast but meaningless figure.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Body, Client, Response, StatusCode, Url};

/// Media type of the OCI image manifests the benchmark pushes.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What a puller accepts, as containers-image sends it.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// One HTTP client, as one registry client process would have (its own connection pool).
///
/// # Errors
/// When reqwest cannot build a client.
pub fn http_client() -> anyhow::Result<Client> {
    Client::builder()
        // Proxy variables of the environment must not divert loopback traffic.
        .no_proxy()
        .timeout(Duration::from_hours(1))
        .build()
        .context("building the HTTP client")
}

async fn expect(response: Response, want: StatusCode, what: &str) -> anyhow::Result<Response> {
    if response.status() == want {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    bail!("{what}: expected {want}, got {status}: {}", body.chars().take(500).collect::<String>())
}

fn location(response: &Response, what: &str) -> anyhow::Result<Url> {
    let value = response.headers().get(LOCATION).with_context(|| format!("{what}: no Location header"))?;
    let value = value.to_str().with_context(|| format!("{what}: Location is not ASCII"))?;
    response.url().join(value).with_context(|| format!("{what}: bad Location {value:?}"))
}

fn with_digest(mut url: Url, digest: &str) -> Url {
    url.query_pairs_mut().append_pair("digest", digest);
    url
}

/// `HEAD /v2/<repo>/blobs/<digest>`: whether the registry already has the blob.
///
/// # Errors
/// Transport failures and answers other than 200 or 404.
pub async fn blob_exists(client: &Client, base: &Url, repo: &str, digest: &str) -> anyhow::Result<bool> {
    let url = base.join(&format!("v2/{repo}/blobs/{digest}"))?;
    let response = client.head(url).send().await.context("HEAD blob")?;
    match response.status() {
        StatusCode::OK => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        other => bail!("HEAD blob {digest}: unexpected {other}"),
    }
}

/// `POST /v2/<repo>/blobs/uploads/`: starts an upload session and returns its URL.
///
/// # Errors
/// Transport failures and answers other than 202 with a `Location`.
pub async fn start_upload(client: &Client, base: &Url, repo: &str) -> anyhow::Result<Url> {
    let url = base.join(&format!("v2/{repo}/blobs/uploads/"))?;
    let response = client.post(url).header(CONTENT_LENGTH, 0).send().await.context("POST upload")?;
    let response = expect(response, StatusCode::ACCEPTED, "POST upload").await?;
    location(&response, "POST upload")
}

/// `PATCH <session>`: sends `body` (of `len` bytes) as one streamed chunk, the way
/// containers-image does (a `Content-Length`, no `Content-Range`); returns the next session URL.
///
/// # Errors
/// Transport failures and answers other than 202 with a `Location`.
pub async fn patch_upload(client: &Client, session: Url, body: Body, len: u64) -> anyhow::Result<Url> {
    let response = client
        .patch(session)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .body(body)
        .send()
        .await
        .context("PATCH upload")?;
    let response = expect(response, StatusCode::ACCEPTED, "PATCH upload").await?;
    location(&response, "PATCH upload")
}

/// `PUT <session>?digest=`: completes the upload, with `body` as its last (or only) chunk.
///
/// # Errors
/// Transport failures and answers other than 201.
pub async fn finish_upload(
    client: &Client,
    session: Url,
    digest: &str,
    body: impl Into<Body>,
    len: u64,
) -> anyhow::Result<()> {
    let response = client
        .put(with_digest(session, digest))
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .body(body)
        .send()
        .await
        .context("PUT upload")?;
    expect(response, StatusCode::CREATED, "PUT upload").await?;
    Ok(())
}

/// `PUT /v2/<repo>/manifests/<tag>`.
///
/// # Errors
/// Transport failures and answers other than 201.
pub async fn put_manifest(client: &Client, base: &Url, repo: &str, tag: &str, manifest: Vec<u8>) -> anyhow::Result<()> {
    let url = base.join(&format!("v2/{repo}/manifests/{tag}"))?;
    let response =
        client.put(url).header(CONTENT_TYPE, OCI_MANIFEST).body(manifest).send().await.context("PUT manifest")?;
    expect(response, StatusCode::CREATED, "PUT manifest").await?;
    Ok(())
}

/// `GET /v2/<repo>/blobs/<digest>` (200 expected), the body left to the caller to stream.
///
/// # Errors
/// Transport failures and answers other than 200.
pub async fn get_blob(client: &Client, base: &Url, repo: &str, digest: &str) -> anyhow::Result<Response> {
    let url = base.join(&format!("v2/{repo}/blobs/{digest}"))?;
    let response = client.get(url).send().await.context("GET blob")?;
    expect(response, StatusCode::OK, "GET blob").await
}

/// `GET /v2/<repo>/manifests/<reference>` with the `Accept` list of containers-image.
///
/// # Errors
/// Transport failures and answers other than 200.
pub async fn get_manifest(client: &Client, base: &Url, repo: &str, reference: &str) -> anyhow::Result<Response> {
    let url = base.join(&format!("v2/{repo}/manifests/{reference}"))?;
    let response = client.get(url).header(ACCEPT, MANIFEST_ACCEPT).send().await.context("GET manifest")?;
    expect(response, StatusCode::OK, "GET manifest").await
}

/// `GET /v2/` until it answers 200: the registry serves requests, not only accepts connections.
///
/// # Errors
/// Transport failures and answers other than 200.
pub async fn check_api(client: &Client, base: &Url) -> anyhow::Result<()> {
    let response = client.get(base.join("v2/")?).send().await.context("GET /v2/")?;
    expect(response, StatusCode::OK, "GET /v2/").await?;
    Ok(())
}
