//! The registry client of the mirroring engine: the distribution-spec calls the copy engine
//! needs, over reqwest with rustls, with authentication and retries.
//!
//! - **Transport.** HTTPS first. With TLS verification off (`--src-tls-verify=false`,
//!   `--dest-tls-verify=false`) certificates are not checked and, when the registry does not
//!   speak TLS at all, plain HTTP is used (as containers/image does for insecure registries).
//!   Extra CA certificates come from `--cert-dir` and from `/etc/containers/certs.d/HOST` and
//!   `/etc/docker/certs.d/HOST`.
//! - **Authentication.** Anonymous first; a 401 brings a `WWW-Authenticate` challenge. `Basic`:
//!   the credentials from `auth.json` go on every request. `Bearer`: a token is fetched from the
//!   realm (with the credentials as basic auth, when there are any) for the scopes the request
//!   needs, cached until it expires, and the request is sent again.
//! - **Retries.** 429, 5xx, time-outs and broken connections are retried per [`RetryPolicy`].
//!   Requests whose body is a stream are sent once; the copy engine retries the whole blob.
//! - **Memory.** Blob bodies are never buffered: downloads are handed out as responses to
//!   stream, uploads take a streaming body. Manifests are read whole, up to 4 MiB.

pub mod auth;
pub mod retry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, RANGE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::reference::{Digest, Reference, RepoName};
pub use auth::{AuthFile, Credentials};
pub use retry::RetryPolicy;

/// Largest manifest read, as the distribution-spec recommends.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// `Accept` for manifests: every format the engine copies.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// A token is renewed this long before it expires.
const TOKEN_SLACK: Duration = Duration::from_secs(10);

/// A failed registry call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be sent or its answer not read.
    #[error("{method} {url}: {source}")]
    Transport {
        /// HTTP method.
        method: Method,
        /// Request URL.
        url: String,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
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

impl Error {
    /// Whether trying the same operation again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => retry::is_retryable_error(source),
            Error::Status { status, .. } => retry::is_retryable_status(*status),
            Error::DigestMismatch { .. } => true,
            _ => false,
        }
    }

    /// Whether the registry said the thing does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// Transport settings shared by every registry of one side (source or destination).
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Check certificates (and never fall back to plain HTTP).
    pub tls_verify: bool,
    /// Extra CA certificates: `*.crt` and `*.pem` files in these directories.
    pub cert_dirs: Vec<PathBuf>,
    /// Retries of each request.
    pub retry: RetryPolicy,
}

/// Makes the HTTP client of one side. Hosts' `certs.d` directories are read for every host of
/// `hosts`.
///
/// # Errors
/// [`Error::Tls`] when a certificate file is unreadable or not PEM.
pub fn http_client(config: &TransportConfig, hosts: &[String]) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("mirror-registry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(32);
    if config.tls_verify {
        let mut dirs = config.cert_dirs.clone();
        for host in hosts {
            dirs.push(Path::new("/etc/containers/certs.d").join(host));
            dirs.push(Path::new("/etc/docker/certs.d").join(host));
        }
        builder = builder.tls_certs_merge(load_certificates(&dirs)?);
    } else {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| Error::Tls(e.to_string()))
}

fn load_certificates(dirs: &[PathBuf]) -> Result<Vec<reqwest::Certificate>, Error> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "crt" || e == "pem"))
            .collect();
        files.sort();
        for file in files {
            let pem = std::fs::read(&file).map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
            out.extend(certs);
        }
    }
    Ok(out)
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
}

#[derive(Default)]
struct AuthState {
    basic: bool,
    bearer: Option<(String, Option<String>)>,
    tokens: HashMap<String, (String, Instant)>,
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
            }),
        }
    }

    /// The registry this client talks to.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.inner.registry
    }

    /// `https://host` or, for an insecure registry without TLS, `http://host`.
    async fn base(&self) -> Result<&str, Error> {
        let inner = &self.inner;
        let base = inner
            .base
            .get_or_try_init(|| async {
                let mut attempt = 0;
                loop {
                    match self.probe_scheme().await {
                        Ok(base) => return Ok(base),
                        Err(e) if e.is_retryable() && attempt < inner.retry.times => {
                            tokio::time::sleep(inner.retry.wait(attempt, None)).await;
                            attempt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
            .await?;
        Ok(base.as_str())
    }

    async fn probe_scheme(&self) -> Result<String, Error> {
        let inner = &self.inner;
        let https = format!("https://{}", inner.api_host);
        let url = format!("{https}/v2/");
        match inner.http.get(&url).send().await {
            Ok(_) => Ok(https),
            Err(e) if !inner.tls_verify && (e.is_connect() || e.is_request()) => {
                let http = format!("http://{}", inner.api_host);
                let url = format!("{http}/v2/");
                match inner.http.get(&url).send().await {
                    Ok(_) => Ok(http),
                    Err(source) => Err(Error::Transport { method: Method::GET, url, source }),
                }
            }
            Err(source) => Err(Error::Transport { method: Method::GET, url, source }),
        }
    }

    fn scope_key(scopes: &[String]) -> String {
        let mut s = scopes.to_vec();
        s.sort();
        s.join(" ")
    }

    fn authorization(&self, scopes: &[String]) -> Option<String> {
        let state = self.inner.auth.lock().expect("auth state lock is never poisoned: no panics while held");
        if let Some((token, expiry)) = state.tokens.get(&Self::scope_key(scopes))
            && Instant::now() + TOKEN_SLACK < *expiry
        {
            return Some(format!("Bearer {token}"));
        }
        if state.basic {
            return self.inner.credentials.as_ref().map(Credentials::basic_header);
        }
        None
    }

    /// Handles a 401: learns the scheme from the challenge and, for Bearer, fetches a token.
    async fn authenticate(&self, headers: &HeaderMap, scopes: &[String]) -> Result<(), Error> {
        let registry = self.inner.registry.clone();
        let unauthorized = |reason: &str| Error::Unauthorized { registry: registry.clone(), reason: reason.to_string() };
        let challenges: Vec<auth::Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(auth::parse_challenge)
            .collect();
        let bearer = challenges.iter().find_map(|c| match c {
            auth::Challenge::Bearer { realm, service, .. } => Some((realm.clone(), service.clone())),
            auth::Challenge::Basic => None,
        });
        if let Some((realm, service)) = bearer {
            let (token, ttl) = self.fetch_token(&realm, service.as_deref(), scopes).await?;
            let mut state = self.inner.auth.lock().expect("auth state lock is never poisoned: no panics while held");
            state.bearer = Some((realm, service));
            state.tokens.insert(Self::scope_key(scopes), (token, Instant::now() + Duration::from_secs(ttl)));
            return Ok(());
        }
        if challenges.contains(&auth::Challenge::Basic) {
            if self.inner.credentials.is_none() {
                return Err(unauthorized("the registry asks for basic authentication and the auth file has no credentials for it"));
            }
            let mut state = self.inner.auth.lock().expect("auth state lock is never poisoned: no panics while held");
            if state.basic {
                return Err(unauthorized("credentials refused"));
            }
            state.basic = true;
            return Ok(());
        }
        Err(unauthorized("401 without a usable WWW-Authenticate challenge"))
    }

    async fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<(String, u64), Error> {
        let inner = &self.inner;
        let mut url = reqwest::Url::parse(realm).map_err(|_| Error::Unauthorized {
            registry: inner.registry.clone(),
            reason: format!("token realm {realm:?} is not a URL"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let mut attempt = 0;
        loop {
            let mut req = inner.http.get(url.clone());
            if let Some(c) = &inner.credentials {
                req = req.header(AUTHORIZATION, c.basic_header());
            }
            let result = req.send().await;
            match result {
                Ok(resp) if resp.status().is_success() => {
                    let body: auth::TokenResponse = resp.json().await.map_err(|source| Error::Transport {
                        method: Method::GET,
                        url: url.to_string(),
                        source,
                    })?;
                    return body.into_token().ok_or_else(|| Error::Unauthorized {
                        registry: inner.registry.clone(),
                        reason: "token endpoint answered without a token".into(),
                    });
                }
                Ok(resp) if retry::is_retryable_status(resp.status()) && attempt < inner.retry.times => {
                    tokio::time::sleep(inner.retry.wait(attempt, retry::retry_after(resp.headers()))).await;
                }
                Ok(resp) => {
                    return Err(Error::Unauthorized {
                        registry: inner.registry.clone(),
                        reason: format!("token endpoint answered {}", resp.status()),
                    });
                }
                Err(e) if retry::is_retryable_error(&e) && attempt < inner.retry.times => {
                    tokio::time::sleep(inner.retry.wait(attempt, None)).await;
                }
                Err(source) => return Err(Error::Transport { method: Method::GET, url: url.to_string(), source }),
            }
            attempt += 1;
        }
    }

    /// Makes sure a Bearer token for `scopes` is at hand before a request that can't be sent
    /// twice. Nothing to do for anonymous or basic-auth registries.
    async fn prepare_token(&self, scopes: &[String]) -> Result<(), Error> {
        let bearer = {
            let state = self.inner.auth.lock().expect("auth state lock is never poisoned: no panics while held");
            state.bearer.clone()
        };
        let Some((realm, service)) = bearer else { return Ok(()) };
        if self.authorization(scopes).is_some() {
            return Ok(());
        }
        let (token, ttl) = self.fetch_token(&realm, service.as_deref(), scopes).await?;
        let mut state = self.inner.auth.lock().expect("auth state lock is never poisoned: no panics while held");
        state.tokens.insert(Self::scope_key(scopes), (token, Instant::now() + Duration::from_secs(ttl)));
        Ok(())
    }

    /// Sends a request built by `build` (called once per attempt), authenticating on 401 and
    /// retrying what is retryable. Returns any final answer; callers check the status.
    async fn send<F>(&self, method: &Method, url: &str, scopes: &[String], build: F) -> Result<Response, Error>
    where
        F: Fn(RequestBuilder) -> RequestBuilder,
    {
        let inner = &self.inner;
        let mut attempt = 0;
        let mut authenticated = false;
        loop {
            let mut req = build(inner.http.request(method.clone(), url));
            if let Some(h) = self.authorization(scopes) {
                req = req.header(AUTHORIZATION, h);
            }
            match req.send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !authenticated => {
                    self.authenticate(resp.headers(), scopes).await?;
                    authenticated = true;
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    let body = resp.text().await.unwrap_or_default();
                    return Err(Error::Unauthorized { registry: inner.registry.clone(), reason: truncate(&body) });
                }
                Ok(resp) if retry::is_retryable_status(resp.status()) && attempt < inner.retry.times => {
                    tracing::debug!(%url, status = %resp.status(), attempt, "retrying");
                    tokio::time::sleep(inner.retry.wait(attempt, retry::retry_after(resp.headers()))).await;
                    attempt += 1;
                }
                Ok(resp) => return Ok(resp),
                Err(e) if retry::is_retryable_error(&e) && attempt < inner.retry.times => {
                    tracing::debug!(%url, error = %e, attempt, "retrying");
                    tokio::time::sleep(inner.retry.wait(attempt, None)).await;
                    attempt += 1;
                }
                Err(source) => return Err(Error::Transport { method: method.clone(), url: url.to_string(), source }),
            }
        }
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
        let resp_ok = check_status(resp.status(), &[StatusCode::OK]);
        if let Err(status) = resp_ok {
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
        while let Some(chunk) =
            resp.chunk().await.map_err(|source| Error::Transport { method: Method::GET, url: url.clone(), source })?
        {
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
        let resp = self
            .send(&Method::GET, &url, &scopes, |r| if offset > 0 { r.header(RANGE, format!("bytes={offset}-")) } else { r })
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
            StatusCode::ACCEPTED => Ok(Mount::Upload(self.location(&url, resp.headers())?)),
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
            StatusCode::ACCEPTED => self.location(&url, resp.headers()),
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
        let mut url = reqwest::Url::parse(location).map_err(|_| Error::Header { url: location.to_string(), header: "Location" })?;
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
        let resp = req
            .send()
            .await
            .map_err(|source| Error::Transport { method: Method::PUT, url: url.to_string(), source })?;
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
        let resp = self
            .send(&Method::PUT, &url, &scopes, |r| r.header(CONTENT_TYPE, media_type).body(bytes.clone()))
            .await?;
        match resp.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            status => Err(status_error(Method::PUT, &url, status, resp).await),
        }
    }

    fn location(&self, request_url: &str, headers: &HeaderMap) -> Result<String, Error> {
        let header = || Error::Header { url: request_url.to_string(), header: "Location" };
        let value = headers.get(LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(header)?;
        let base = reqwest::Url::parse(request_url).map_err(|_| header())?;
        base.join(value).map(|u| u.to_string()).map_err(|_| header())
    }
}

/// The clients of one side (source or destination), one per registry host, sharing one
/// transport and one auth file.
pub struct ClientPool {
    http: reqwest::Client,
    config: TransportConfig,
    auth: AuthFile,
    clients: Mutex<HashMap<String, RegistryClient>>,
}

impl ClientPool {
    /// A pool for the registries in `hosts` (their `certs.d` directories are read now).
    ///
    /// # Errors
    /// [`Error::Tls`] when the TLS configuration can't be built.
    pub fn new(config: TransportConfig, auth: AuthFile, hosts: &[String]) -> Result<ClientPool, Error> {
        let http = http_client(&config, hosts)?;
        Ok(ClientPool { http, config, auth, clients: Mutex::new(HashMap::new()) })
    }

    /// The client for `registry`, made on first use.
    #[must_use]
    pub fn client(&self, registry: &str) -> RegistryClient {
        let mut clients = self.clients.lock().expect("client pool lock is never poisoned: no panics while held");
        clients
            .entry(registry.to_string())
            .or_insert_with(|| RegistryClient::new(self.http.clone(), registry, &self.config, &self.auth))
            .clone()
    }
}

fn check_status(status: StatusCode, ok: &[StatusCode]) -> Result<(), StatusCode> {
    if ok.contains(&status) { Ok(()) } else { Err(status) }
}

async fn status_error(method: Method, url: &str, status: StatusCode, resp: Response) -> Error {
    let body = if method == Method::HEAD { String::new() } else { resp.text().await.unwrap_or_default() };
    Error::Status { method, url: url.to_string(), status, body: truncate(&body) }
}

fn truncate(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_string(),
    }
}

/// The media types the engine copies, for callers that must pick a `Content-Type`.
#[must_use]
pub fn is_manifest_media_type(media_type: &str) -> bool {
    [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].contains(&media_type)
}
