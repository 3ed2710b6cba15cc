//! The request loop of a [`RegistryClient`]: choosing HTTPS or (for insecure registries)
//! HTTP, answering authentication challenges (basic, or Bearer tokens fetched from the realm and
//! cached per scope), and retrying what is retryable, per the one policy of `retry`: each
//! request (the scheme probe, a token, an API call) gets `--retry-times` attempts in all, and a
//! registry found unreachable gets one attempt per request from then on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use super::{Credentials, Error, RegistryClient, auth, retry, status_error, truncate};

/// A token is renewed this long before it expires.
const TOKEN_SLACK: Duration = Duration::from_secs(10);

/// What the client learnt about a registry's authentication.
#[derive(Default)]
pub(super) struct AuthState {
    pub(super) basic: bool,
    pub(super) bearer: Option<(String, Option<String>)>,
    pub(super) tokens: HashMap<String, (String, Instant)>,
}
impl RegistryClient {
    /// `https://host` or, for an insecure registry without TLS, `http://host`.
    pub(super) async fn base(&self) -> Result<&str, Error> {
        let inner = &self.inner;
        let base = inner
            .base
            .get_or_try_init(|| async {
                let mut attempt = 1;
                loop {
                    match self.probe_scheme().await {
                        Ok(base) => {
                            self.reached();
                            return Ok(base);
                        }
                        Err(e) if e.is_retryable() => self.give_up(attempt, e)?,
                        Err(e) => return Err(e),
                    }
                    tokio::time::sleep(inner.retry.wait(attempt - 1, None)).await;
                    attempt += 1;
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
                    Err(error) => Err(Error::transport(Method::GET, &url, error)),
                }
            }
            Err(error) => Err(Error::transport(Method::GET, &url, error)),
        }
    }

    /// After attempt number `attempt` (from 1) of a request failed with the retryable
    /// `failure`: `Ok` when another attempt may follow (the caller waits, then tries again),
    /// else the final error. A registry already found unreachable gets no second attempt, and a
    /// request that could not connect in all its attempts marks the registry unreachable.
    pub(super) fn give_up(&self, attempt: u32, failure: Error) -> Result<(), Error> {
        let inner = &self.inner;
        let registry = inner.registry.clone();
        if failure.is_connect() {
            let marked = inner.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            if let Some((attempts, _)) = marked {
                return Err(Error::Unreachable { registry, attempts, last: Box::new(failure) });
            }
        }
        if attempt < inner.retry.attempts() {
            tracing::debug!(registry = %inner.registry, attempt, error = %failure, "retrying");
            return Ok(());
        }
        if failure.is_connect() {
            let error = Error::Unreachable { registry, attempts: attempt, last: Box::new(failure) };
            *inner.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((attempt, error.to_string()));
            return Err(error);
        }
        Err(Error::GaveUp { registry, attempts: attempt, last: Box::new(failure) })
    }

    /// The registry answered: it is reachable again, if it was not.
    pub(super) fn reached(&self) {
        let mut mark = self.inner.unreachable.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if mark.take().is_some() {
            tracing::info!(registry = %self.inner.registry, "reachable again");
        }
    }

    fn scope_key(scopes: &[String]) -> String {
        let mut s = scopes.to_vec();
        s.sort();
        s.join(" ")
    }

    pub(super) fn authorization(&self, scopes: &[String]) -> Option<String> {
        let state = self.inner.auth.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    /// `sent` is the `Authorization` the refused request carried, so that a request that went
    /// out anonymously while another task was switching to basic auth is simply sent again.
    async fn authenticate(&self, headers: &HeaderMap, scopes: &[String], sent: Option<&str>) -> Result<(), Error> {
        let registry = self.inner.registry.clone();
        let unauthorized =
            |reason: &str| Error::Unauthorized { registry: registry.clone(), reason: reason.to_string() };
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
            let mut state = self.inner.auth.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.bearer = Some((realm, service));
            state.tokens.insert(Self::scope_key(scopes), (token, Instant::now() + Duration::from_secs(ttl)));
            return Ok(());
        }
        if challenges.contains(&auth::Challenge::Basic) {
            if self.inner.credentials.is_none() {
                return Err(unauthorized(
                    "the registry asks for basic authentication and the auth file has no credentials for it",
                ));
            }
            if sent.is_some_and(|h| h.starts_with("Basic ")) {
                return Err(unauthorized("credentials refused"));
            }
            let mut state = self.inner.auth.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
        let mut attempt = 1;
        loop {
            let mut req = inner.http.get(url.clone());
            if let Some(c) = &inner.credentials {
                req = req.header(AUTHORIZATION, c.basic_header());
            }
            let after = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let body: auth::TokenResponse =
                        resp.json().await.map_err(|error| Error::transport(Method::GET, url.as_str(), error))?;
                    return body.into_token().ok_or_else(|| Error::Unauthorized {
                        registry: inner.registry.clone(),
                        reason: "token endpoint answered without a token".into(),
                    });
                }
                Ok(resp) if retry::is_retryable_status(resp.status()) => {
                    let after = retry::retry_after(resp.headers());
                    let status = resp.status();
                    self.give_up(attempt, status_error(Method::GET, url.as_str(), status, resp).await)?;
                    after
                }
                Ok(resp) => {
                    return Err(Error::Unauthorized {
                        registry: inner.registry.clone(),
                        reason: format!("token endpoint answered {}", resp.status()),
                    });
                }
                Err(error) => {
                    let failure = Error::transport(Method::GET, url.as_str(), error);
                    if !failure.is_retryable() {
                        return Err(failure);
                    }
                    self.give_up(attempt, failure)?;
                    None
                }
            };
            tokio::time::sleep(inner.retry.wait(attempt - 1, after)).await;
            attempt += 1;
        }
    }

    /// Makes sure a Bearer token for `scopes` is at hand before a request that can't be sent
    /// twice. Nothing to do for anonymous or basic-auth registries.
    pub(super) async fn prepare_token(&self, scopes: &[String]) -> Result<(), Error> {
        let bearer = {
            let state = self.inner.auth.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            state.bearer.clone()
        };
        let Some((realm, service)) = bearer else { return Ok(()) };
        if self.authorization(scopes).is_some() {
            return Ok(());
        }
        let (token, ttl) = self.fetch_token(&realm, service.as_deref(), scopes).await?;
        let mut state = self.inner.auth.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.tokens.insert(Self::scope_key(scopes), (token, Instant::now() + Duration::from_secs(ttl)));
        Ok(())
    }

    /// Sends a request built by `build` (called once per attempt), authenticating on 401 and
    /// retrying what is retryable. Returns any other answer (callers check the status); a
    /// retryable failure in the last attempt is the final [`Error::GaveUp`] or
    /// [`Error::Unreachable`].
    pub(super) async fn send<F>(
        &self,
        method: &Method,
        url: &str,
        scopes: &[String],
        build: F,
    ) -> Result<Response, Error>
    where
        F: Fn(RequestBuilder) -> RequestBuilder,
    {
        let inner = &self.inner;
        let mut attempt = 1;
        let mut authenticated = false;
        loop {
            let mut req = build(inner.http.request(method.clone(), url));
            let sent = self.authorization(scopes);
            if let Some(h) = &sent {
                req = req.header(AUTHORIZATION, h);
            }
            let after = match req.send().await {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !authenticated => {
                    self.reached();
                    self.authenticate(resp.headers(), scopes, sent.as_deref()).await?;
                    authenticated = true;
                    // Answering the challenge is part of this attempt, not another one.
                    continue;
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    let body = resp.text().await.unwrap_or_default();
                    return Err(Error::Unauthorized { registry: inner.registry.clone(), reason: truncate(&body) });
                }
                Ok(resp) if retry::is_retryable_status(resp.status()) => {
                    self.reached();
                    let after = retry::retry_after(resp.headers());
                    let status = resp.status();
                    self.give_up(attempt, status_error(method.clone(), url, status, resp).await)?;
                    after
                }
                Ok(resp) => {
                    self.reached();
                    return Ok(resp);
                }
                Err(error) => {
                    let failure = Error::transport(method.clone(), url, error);
                    if !failure.is_retryable() {
                        return Err(failure);
                    }
                    self.give_up(attempt, failure)?;
                    None
                }
            };
            tokio::time::sleep(inner.retry.wait(attempt - 1, after)).await;
            attempt += 1;
        }
    }
}
