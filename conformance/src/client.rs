//! A small registry HTTP client for the checks: relative `Location`s, Basic credentials, and the
//! Docker token flow (401 with a Bearer challenge → token from the realm → retry).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reqwest::blocking::{Client as Http, Response};
use reqwest::{Method, StatusCode};

/// A request body that can be sent again after an auth round trip.
#[derive(Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// A body with a `Content-Length`.
    Bytes(Vec<u8>),
    /// A body sent with chunked transfer encoding (no `Content-Length`).
    Chunked(Vec<u8>),
}

/// The client.
pub struct Client {
    base: String,
    http: Http,
    credentials: Option<(String, String)>,
    /// Bearer tokens by challenge scope.
    tokens: Mutex<HashMap<String, String>>,
}

/// A response, read whole (the checks only move small content).
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text ("" when absent).
    #[must_use]
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }

    /// Every value of a header.
    #[must_use]
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }

    /// The first OCI error code of the body ("" when none).
    #[must_use]
    pub fn error_code(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The body as JSON.
    ///
    /// # Errors
    /// When the body is not JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("body is not JSON: {e}"))
    }
}

impl Client {
    /// A client for `base` (e.g. `https://registry:5000`), trusting invalid certificates only when asked.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        base: &str,
        credentials: Option<(String, String)>,
        insecure_tls: bool,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Client, String> {
        let mut builder = Http::builder()
            .timeout(Duration::from_mins(2))
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(insecure_tls);
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
            builder = builder.tls_certs_merge([cert]);
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        Ok(Client { base: base.trim_end_matches('/').to_string(), http, credentials, tokens: Mutex::default() })
    }

    /// An absolute URL for a path or a (possibly relative) `Location`.
    #[must_use]
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    /// Sends a request, authenticating on a 401 challenge and retrying once.
    ///
    /// # Errors
    /// Transport failures, as text.
    pub fn send(&self, method: &Method, path: &str, headers: &[(&str, String)], body: &Body) -> Result<Reply, String> {
        let url = self.url(path);
        let scope_key = scope_key(&url);
        let token = self.tokens.lock().map_err(|e| e.to_string())?.get(&scope_key).cloned();
        let first = self.raw(method, &url, headers, body, token.as_deref())?;
        if first.status != StatusCode::UNAUTHORIZED
            || self.credentials.is_none() && !first.header("www-authenticate").starts_with("Bearer")
        {
            return Ok(first);
        }
        let challenge = first.header("www-authenticate");
        let auth = if challenge.to_ascii_lowercase().starts_with("bearer") {
            let token = self.fetch_token(&challenge)?;
            self.tokens.lock().map_err(|e| e.to_string())?.insert(scope_key, token.clone());
            Some(token)
        } else {
            None
        };
        self.raw(method, &url, headers, body, auth.as_deref())
    }

    fn raw(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, String)],
        body: &Body,
        bearer: Option<&str>,
    ) -> Result<Reply, String> {
        let mut req = self.http.request(method.clone(), url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        match (bearer, &self.credentials) {
            (Some(t), _) => req = req.bearer_auth(t),
            (None, Some((u, p))) => req = req.basic_auth(u, Some(p)),
            (None, None) => {}
        }
        req = match body {
            Body::Empty => req,
            Body::Bytes(b) => req.body(b.clone()),
            Body::Chunked(b) => req.body(reqwest::blocking::Body::new(std::io::Cursor::new(b.clone()))),
        };
        let resp: Response = req.send().map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().map_err(|e| format!("{method} {url}: reading body: {e}"))?.to_vec();
        Ok(Reply { status, headers, body })
    }

    fn fetch_token(&self, challenge: &str) -> Result<String, String> {
        let params = parse_challenge(challenge);
        let realm = params.get("realm").ok_or_else(|| format!("challenge without realm: {challenge}"))?;
        let mut query: Vec<(String, String)> = Vec::new();
        if let Some(s) = params.get("service") {
            query.push(("service".into(), s.clone()));
        }
        for s in params.get("scope").map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>()).unwrap_or_default() {
            query.push(("scope".into(), s));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some((u, p)) = &self.credentials {
            req = req.header(
                "authorization",
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))),
            );
        }
        let resp = req.send().map_err(|e| format!("token request: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("token endpoint answered {}", resp.status()));
        }
        let v: serde_json::Value = resp.json().map_err(|e| format!("token response: {e}"))?;
        v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| "token response without token".into())
    }
}

/// The repository part of a `/v2/<name>/...` URL, to cache one token per repository and kind.
fn scope_key(url: &str) -> String {
    let path = url.split("/v2/").nth(1).unwrap_or("");
    let path = path.split('?').next().unwrap_or("");
    for marker in ["/blobs/", "/manifests/", "/tags/", "/referrers/"] {
        if let Some((name, _)) = path.split_once(marker) {
            return name.to_string();
        }
    }
    path.to_string()
}

/// `Bearer realm="..",service="..",scope=".."` into its parameters.
fn parse_challenge(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut out = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_string();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                value.push(c);
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let p =
            parse_challenge(r#"Bearer realm="https://r/v2/auth",service="r:5000",scope="repository:a/b:pull,push""#);
        assert_eq!(p["realm"], "https://r/v2/auth");
        assert_eq!(p["service"], "r:5000");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn scope_keys_name_the_repository() {
        assert_eq!(scope_key("http://r/v2/a/b/blobs/uploads/?x=1"), "a/b");
        assert_eq!(scope_key("http://r/v2/a/manifests/v1"), "a");
        assert_eq!(scope_key("http://r/v2/"), "");
    }
}
