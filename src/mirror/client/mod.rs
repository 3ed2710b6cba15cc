//! The registry client of the mirroring engine: the distribution-spec calls the copy engine
//! needs, over reqwest with rustls, with authentication and retries.
//!
//! - **Transport.** HTTPS first. With TLS verification off (`--src-tls-verify=false`,
//!   `--dest-tls-verify=false`) certificates are not checked and, when the registry does not
//!   speak TLS at all, plain HTTP is used (as containers/image does for insecure registries).
//!   Extra trusted certificates come from `--cert-dir` and from `/etc/containers/certs.d/HOST`
//!   and `/etc/docker/certs.d/HOST`: CAs, or a server's own certificate (see `trust`). A
//!   refused certificate fails at once with [`Error::Handshake`], saying how to trust it.
//! - **Authentication.** Anonymous first; a 401 brings a `WWW-Authenticate` challenge. `Basic`:
//!   the credentials from `auth.json` go on every request. `Bearer`: a token is fetched from the
//!   realm (with the credentials as basic auth, when there are any) for the scopes the request
//!   needs, cached until it expires, and the request is sent again.
//! - **Retries.** 429, 5xx, time-outs and broken connections are retried per [`RetryPolicy`]:
//!   `--retry-times` attempts per request in all. When they are spent the error is final
//!   ([`Error::GaveUp`], or [`Error::Unreachable`] when no connection could be made, after which
//!   the registry's later requests get one attempt each). Requests whose body is a stream are sent
//!   once; the copy engine retries the whole blob.
//! - **Memory.** Blob bodies are never buffered: downloads are handed out as responses to
//!   stream, uploads take a streaming body. Manifests are read whole, up to 4 MiB.

pub mod auth;
pub mod retry;
mod session;
mod transport;
mod trust;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};

use crate::reference::{Digest, Reference, RepoName};
pub use auth::{AuthFile, Credentials};
pub use retry::RetryPolicy;
use session::AuthState;
pub use transport::{ClientPool, TransportConfig, http_client};

/// Largest manifest read, as the distribution-spec recommends.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// `Accept` for manifests: every format the engine copies.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A failed registry call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be sent or its answer not read.
    #[error("{method} {url}: {}", describe(error))]
    Transport {
        /// HTTP method.
        method: Method,
        /// Request URL.
        url: String,
        /// reqwest's error; the message shows the cause at the end of its chain.
        error: reqwest::Error,
    },
    /// The TLS handshake failed, most often because the server's certificate is not trusted.
    #[error("{url}: TLS handshake failed: {reason}{}", if *untrusted { UNTRUSTED_HINT } else { "" })]
    Handshake {
        /// Request URL.
        url: String,
        /// What rustls said.
        reason: String,
        /// Whether the certificate was refused (the user can trust it).
        untrusted: bool,
    },
    /// A request failed in every attempt the retry policy allows.
    #[error("{registry}: gave up after {attempts} attempt{}: {last}", if *attempts == 1 { "" } else { "s" })]
    GaveUp {
        /// The registry.
        registry: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// No connection to the registry could be made in all the attempts of a request; for the
    /// rest of the run its requests give up after one failed attempt.
    #[error("{registry}: unreachable (no connection in {attempts} attempt{}): {last}", if *attempts == 1 { "" } else { "s" })]
    Unreachable {
        /// The registry.
        registry: String,
        /// Attempts of the request that found it unreachable.
        attempts: u32,
        /// The last error.
        last: Box<Error>,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// HTTP method.
        method: Method,
        /// Request URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// Start of the body (OCI error JSON, usually).
        body: String,
    },
    /// Authentication was refused or impossible.
    #[error("{registry}: authentication failed: {reason}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
    /// Content did not hash to the digest it was fetched by.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// A manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("{url}: manifest larger than {MAX_MANIFEST_BYTES} bytes")]
    ManifestTooLarge {
        /// Request URL.
        url: String,
    },
    /// A header the protocol requires is missing or malformed.
    #[error("{url}: bad or missing {header} header")]
    Header {
        /// Request URL.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// The TLS configuration could not be built.
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// What to do about a certificate that is not trusted.
const UNTRUSTED_HINT: &str = "; to trust it, put the registry's CA certificate (or its own certificate) \
as a .crt or .pem file in a directory given with --cert-dir DIR, or skip the check with \
--src-tls-verify=false or --dest-tls-verify=false";

impl Error {
    /// A request that failed before an answer was read: [`Error::Handshake`] when TLS failed,
    /// else [`Error::Transport`].
    fn transport(method: Method, url: &str, error: reqwest::Error) -> Error {
        match tls_failure(&error) {
            Some(tls) => Error::Handshake {
                url: url.to_string(),
                reason: if tls.to_string().contains("CaUsedAsEndEntity") {
                    format!(
                        "{tls} (the server's certificate is marked as a CA, as self-signed ones often are, and is not among the trusted certificates)"
                    )
                } else {
                    tls.to_string()
                },
                untrusted: matches!(tls, rustls::Error::InvalidCertificate(_)),
            },
            None => Error::Transport { method, url: url.to_string(), error },
        }
    }

    /// Whether trying the same operation again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { error, .. } => retry::is_retryable_error(error),
            Error::Status { status, .. } => retry::is_retryable_status(*status),
            Error::DigestMismatch { .. } => true,
            _ => false,
        }
    }

    /// Whether no connection could be made (refused, unroutable, connect time-out).
    #[must_use]
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Transport { error, .. } if error.is_connect())
    }

    /// Whether the registry said the thing does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// A manifest as fetched: its bytes exactly as served, its media type and digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The body.
    pub bytes: Bytes,
    /// `Content-Type` of the answer.
    pub media_type: Option<String>,
    /// Digest of the body (checked against the one asked for).
    pub digest: Digest,
}

/// The outcome of a cross-repository mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob (201).
    Mounted,
    /// The registry opened an upload session instead (202); push into it.
    Upload(String),
}

/// A client for one registry host. Cheap to clone; clones share tokens and the transport.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    registry: String,
    api_host: String,
    tls_verify: bool,
    retry: RetryPolicy,
    credentials: Option<Credentials>,
    base: tokio::sync::OnceCell<String>,
    auth: Mutex<AuthState>,
    /// Set when a request could not connect in all its attempts: how many it made, and the
    /// error it ended with.
    unreachable: Mutex<Option<(u32, String)>>,
}

impl RegistryClient {
    /// A client for `registry` (`host[:port]`), with the credentials `auth` holds for it.
    #[must_use]
    pub fn new(http: reqwest::Client, registry: &str, config: &TransportConfig, auth: &AuthFile) -> RegistryClient {
        // Docker Hub's API lives on another host than its image names.
        let api_host = if registry == "docker.io" { "registry-1.docker.io".to_string() } else { registry.to_string() };
        RegistryClient {
            inner: Arc::new(Inner {
                http,
                registry: registry.to_string(),
                api_host,
                tls_verify: config.tls_verify,
                retry: config.retry,
                credentials: auth.lookup_registry(registry).cloned(),
                base: tokio::sync::OnceCell::new(),
                auth: Mutex::new(AuthState::default()),
                unreachable: Mutex::new(None),
            }),
        }
    }

    /// The registry this client talks to.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.inner.registry
    }

    /// Why the registry is unreachable, when a request of this run found it so (and no later
    /// request got an answer from it).
    #[must_use]
    pub fn unreachable(&self) -> Option<String> {
        self.inner
            .unreachable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|(_, e)| e.clone())
    }

    fn pull_scope(repo: &RepoName) -> String {
        format!("repository:{repo}:pull")
    }

    fn push_scope(repo: &RepoName) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// Fetches a manifest, checking its digest: against `reference` when that is a digest, and
    /// against `Docker-Content-Digest` when the registry sends one.
    ///
    /// # Errors
    /// [`Error`]; a missing manifest is [`Error::Status`] with 404 ([`Error::is_not_found`]).
    pub async fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<FetchedManifest, Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base().await?);
        let scopes = [Self::pull_scope(repo)];
        let mut resp = self.send(&Method::GET, &url, &scopes, |r| r.header(ACCEPT, MANIFEST_ACCEPT)).await?;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            return Err(status_error(Method::GET, &url, status, resp).await);
        }
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_string());
        let header_digest = resp
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|error| Error::transport(Method::GET, &url, error))? {
            if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(Error::ManifestTooLarge { url });
            }
            body.extend_from_slice(&chunk);
        }
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => header_digest,
        };
        let algorithm = expected.as_ref().map_or(crate::reference::Algorithm::Sha256, Digest::algorithm);
        let digest = Digest::of(algorithm, &body);
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(Error::DigestMismatch { what: url, expected, actual: digest });
        }
        Ok(FetchedManifest { bytes: Bytes::from(body), media_type, digest })
    }

    /// The digest a manifest reference resolves to, or `None` when the registry has no such
    /// manifest.
    ///
    /// # Errors
    /// [`Error`] for failures other than 404.
    pub async fn head_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<Option<Digest>, Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base().await?);
        let scopes = [Self::pull_scope(repo)];
        let resp = self.send(&Method::HEAD, &url, &scopes, |r| r.header(ACCEPT, MANIFEST_ACCEPT)).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let digest = resp
                    .headers()
                    .get(DOCKER_CONTENT_DIGEST)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<Digest>().ok());
                match digest {
                    Some(d) => Ok(Some(d)),
                    // Without the header, only the body can tell.
                    None => self.get_manifest(repo, reference).await.map(|m| Some(m.digest)),
                }
            }
            status => Err(status_error(Method::HEAD, &url, status, resp).await),
        }
    }

    /// Whether the repository holds the blob.
    ///
    /// # Errors
    /// [`Error`] for failures other than 404.
    pub async fn has_blob(&self, repo: &RepoName, digest: &Digest, for_push: bool) -> Result<bool, Error> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base().await?);
        let scopes = [if for_push { Self::push_scope(repo) } else { Self::pull_scope(repo) }];
        let resp = self.send(&Method::HEAD, &url, &scopes, |r| r).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(status_error(Method::HEAD, &url, status, resp).await),
        }
    }

    /// Starts downloading a blob from byte `offset`. Returns the response to stream and the
    /// offset it actually starts at (0 when the registry ignored the range).
    ///
    /// # Errors
    /// [`Error`]; 404 is [`Error::is_not_found`].
    pub async fn get_blob(&self, repo: &RepoName, digest: &Digest, offset: u64) -> Result<(Response, u64), Error> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base().await?);
        let scopes = [Self::pull_scope(repo)];
        let resp =
            self.send(&Method::GET, &url, &scopes, |r| {
                if offset > 0 { r.header(RANGE, format!("bytes={offset}-")) } else { r }
            })
            .await?;
        match resp.status() {
            StatusCode::OK => Ok((resp, 0)),
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok((resp, offset)),
            status => Err(status_error(Method::GET, &url, status, resp).await),
        }
    }

    /// Asks the registry to link a blob from another repository of the same registry.
    ///
    /// # Errors
    /// [`Error`] when the registry fails the request.
    pub async fn mount_blob(&self, repo: &RepoName, digest: &Digest, from: &RepoName) -> Result<Mount, Error> {
        let base = self.base().await?;
        let url = format!("{base}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}");
        let scopes = [Self::push_scope(repo), Self::pull_scope(from)];
        let resp = self.send(&Method::POST, &url, &scopes, |r| r.header(CONTENT_LENGTH, "0")).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(Self::location(&url, resp.headers())?)),
            status => Err(status_error(Method::POST, &url, status, resp).await),
        }
    }

    /// Opens an upload session and returns its URL.
    ///
    /// # Errors
    /// [`Error`] when the registry refuses.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<String, Error> {
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base().await?);
        let scopes = [Self::push_scope(repo)];
        let resp = self.send(&Method::POST, &url, &scopes, |r| r.header(CONTENT_LENGTH, "0")).await?;
        match resp.status() {
            StatusCode::ACCEPTED => Self::location(&url, resp.headers()),
            status => Err(status_error(Method::POST, &url, status, resp).await),
        }
    }

    /// Finishes an upload session with the whole blob in one streaming `PUT`. Sent once: the
    /// body can't be replayed, so the caller retries the whole transfer.
    ///
    /// # Errors
    /// [`Error`] when the registry does not answer 201 Created.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        location: &str,
        digest: &Digest,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), Error> {
        let mut url = reqwest::Url::parse(location)
            .map_err(|_| Error::Header { url: location.to_string(), header: "Location" })?;
        url.query_pairs_mut().append_pair("digest", &digest.to_string());
        let scopes = [Self::push_scope(repo)];
        self.prepare_token(&scopes).await?;
        let mut req = self
            .inner
            .http
            .put(url.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        if let Some(h) = self.authorization(&scopes) {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(|error| Error::transport(Method::PUT, url.as_str(), error))?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            status => Err(status_error(Method::PUT, url.as_str(), status, resp).await),
        }
    }

    /// Pushes a manifest under `reference` (a tag, or its digest).
    ///
    /// # Errors
    /// [`Error`] when the registry refuses it.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        media_type: &str,
        bytes: &Bytes,
    ) -> Result<(), Error> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base().await?);
        let scopes = [Self::push_scope(repo)];
        let resp =
            self.send(&Method::PUT, &url, &scopes, |r| r.header(CONTENT_TYPE, media_type).body(bytes.clone())).await?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            status => Err(status_error(Method::PUT, &url, status, resp).await),
        }
    }

    /// Deletes a manifest by digest (registries refuse deletes by tag, or take them as an untag).
    /// Returns `false` when the registry has no such manifest (404, `MANIFEST_UNKNOWN`).
    ///
    /// # Errors
    /// [`Error`] for any other refusal (405 when the registry does not allow deletes).
    pub async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool, Error> {
        let url = format!("{}/v2/{repo}/manifests/{digest}", self.base().await?);
        // The actions containers/image asks for when it deletes: token servers grant deletes
        // under `*` or `delete`, and `*` covers both.
        let scopes = [format!("repository:{repo}:*")];
        let resp = self.send(&Method::DELETE, &url, &scopes, |r| r).await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(status_error(Method::DELETE, &url, status, resp).await),
        }
    }

    /// `GET /metrics` of the registry, when it serves Prometheus metrics there without
    /// authentication (as mirror-registry does); `None` for any other answer.
    ///
    /// # Errors
    /// [`Error`] when the registry can't be reached.
    pub async fn get_metrics(&self) -> Result<Option<String>, Error> {
        let url = format!("{}/metrics", self.base().await?);
        let resp = self.inner.http.get(&url).send().await.map_err(|e| Error::transport(Method::GET, &url, e))?;
        let is_text =
            resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/plain"));
        if resp.status() != StatusCode::OK || !is_text {
            return Ok(None);
        }
        Ok(resp.text().await.ok())
    }

    fn location(request_url: &str, headers: &HeaderMap) -> Result<String, Error> {
        let header = || Error::Header { url: request_url.to_string(), header: "Location" };
        let value = headers.get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(header)?;
        let base = reqwest::Url::parse(request_url).map_err(|_| header())?;
        base.join(value).map(|u| u.to_string()).map_err(|_| header())
    }
}

async fn status_error(method: Method, url: &str, status: StatusCode, resp: Response) -> Error {
    let body = if method == Method::HEAD { String::new() } else { resp.text().await.unwrap_or_default() };
    Error::Status { method, url: url.to_string(), status, body: truncate(&body) }
}

/// The rustls error a request failed with, if the TLS handshake failed. It sits in the chain of
/// sources, inside `io::Error`s (whose `source` skips the error they wrap).
fn tls_failure(error: &reqwest::Error) -> Option<&rustls::Error> {
    fn unwrap_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner: &(dyn std::error::Error + 'static) = e.downcast_ref::<std::io::Error>()?.get_ref()?;
        unwrap_io(inner)
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = unwrap_io(e) {
            return Some(tls);
        }
        next = e.source();
    }
    None
}

/// A request failure in words. reqwest's own message only says "error sending request for url
/// (...)"; what happened (refused, reset, timed out, a certificate refused) is at the end of its
/// chain of sources.
fn describe(error: &reqwest::Error) -> String {
    let Some(mut root) = std::error::Error::source(error) else { return error.to_string() };
    while let Some(next) = root.source() {
        root = next;
    }
    if error.is_timeout() {
        format!("timed out: {root}")
    } else if error.is_connect() {
        format!("cannot connect: {root}")
    } else {
        root.to_string()
    }
}

fn truncate(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_string(),
    }
}
