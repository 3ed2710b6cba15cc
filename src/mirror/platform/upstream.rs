//! The services around releases that are not registries: the update graph (Cincinnati), the
//! graph data tarball and the release signature store. Their addresses come from oc-mirror's
//! environment overrides, read in one place ([`Endpoints::from_env`]):
//!
//! | variable | default | what |
//! | --- | --- | --- |
//! | `UPDATE_URL_OVERRIDE` | `https://api.openshift.com/api/upgrades_info/v1/graph` | the graph (OCP channels) |
//! | `GRAPH_DATA_URL_OVERRIDE` | `…/api/upgrades_info/graph-data` next to the graph URL | graph data tarball |
//! | `OCP_SIGNATURE_URL` | `https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/` | signature store |
//!
//! OKD channels (`type: okd`) read `https://origin-release.ci.openshift.org/graph` without
//! query parameters, as oc-mirror does.

use std::path::Path;

use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

use super::{graph, signature};
use crate::mirror::client::RetryPolicy;
use crate::mirror::client::retry;
use crate::reference::Digest;

/// The public graph data tarball.
pub const GRAPH_DATA_URL: &str = "https://api.openshift.com/api/upgrades_info/graph-data";

/// Why a service could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error status or could not be reached.
    #[error("{url}: {message}")]
    Http {
        /// What was asked for.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// A URL from the environment is invalid.
    #[error("{variable}={value}: {message}")]
    Override {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why.
        message: String,
    },
    /// Writing a download failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The update graph of OCP channels.
    pub graph: String,
    /// The graph data tarball.
    pub graph_data: String,
    /// The signature store (ends with `/`).
    pub signatures: String,
}

impl Endpoints {
    /// The endpoints per the environment (see the module table).
    ///
    /// # Errors
    /// [`Error::Override`] when a variable holds no absolute http(s) URL.
    pub fn from_env() -> Result<Endpoints, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Endpoints::new(
            var("UPDATE_URL_OVERRIDE").as_deref(),
            var("GRAPH_DATA_URL_OVERRIDE").as_deref(),
            var("OCP_SIGNATURE_URL").as_deref(),
        )
    }

    /// The endpoints from the override values (pure, for tests). The graph data tarball is
    /// looked for next to an overridden graph (`…/v1/graph` → `…/graph-data`), since a site
    /// that serves its own graph cannot reach the public tarball either.
    ///
    /// # Errors
    /// [`Error::Override`] when a value is no absolute http(s) URL.
    pub fn new(graph: Option<&str>, graph_data: Option<&str>, signatures: Option<&str>) -> Result<Endpoints, Error> {
        let check = |variable: &'static str, value: &str| -> Result<String, Error> {
            match reqwest::Url::parse(value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(value.to_string()),
                Ok(_) => Err(Error::Override { variable, value: value.into(), message: "not an http(s) URL".into() }),
                Err(e) => Err(Error::Override { variable, value: value.into(), message: e.to_string() }),
            }
        };
        let graph_url = match graph {
            Some(v) => check("UPDATE_URL_OVERRIDE", v)?,
            None => graph::UPDATE_URL.to_string(),
        };
        let graph_data = match (graph_data, graph) {
            (Some(v), _) => check("GRAPH_DATA_URL_OVERRIDE", v)?,
            (None, Some(_)) => sibling_graph_data(&graph_url),
            (None, None) => GRAPH_DATA_URL.to_string(),
        };
        let mut signatures = match signatures {
            Some(v) => check("OCP_SIGNATURE_URL", v)?,
            None => signature::DEFAULT_STORE.to_string(),
        };
        if !signatures.ends_with('/') {
            signatures.push('/');
        }
        Ok(Endpoints { graph: graph_url, graph_data, signatures })
    }
}

/// `…/api/upgrades_info/v1/graph?x` → `…/api/upgrades_info/graph-data`; any other path gets
/// `graph-data` in place of its last segment.
fn sibling_graph_data(graph_url: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(graph_url) else { return GRAPH_DATA_URL.to_string() };
    url.set_query(None);
    let path = url.path().trim_end_matches('/').to_string();
    let base = path
        .strip_suffix("/v1/graph")
        .map_or_else(|| path.rsplit_once('/').map_or(String::new(), |(parent, _)| parent.to_string()), str::to_string);
    url.set_path(&format!("{base}/graph-data"));
    url.to_string()
}

/// Reads the services with one HTTP client and the run's retry policy.
pub struct Upstream {
    http: reqwest::Client,
    endpoints: Endpoints,
    retry: RetryPolicy,
}

impl Upstream {
    /// A reader of `endpoints`.
    #[must_use]
    pub fn new(http: reqwest::Client, endpoints: Endpoints, retry: RetryPolicy) -> Upstream {
        Upstream { http, endpoints, retry }
    }

    /// Where the services are.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The graph of `channel` for `arch` (the response body, JSON). OKD channels are read from
    /// the OKD graph, which takes no parameters.
    ///
    /// # Errors
    /// [`Error::Http`] naming the URL.
    pub async fn graph(&self, channel: &str, arch: &str, okd: bool) -> Result<Vec<u8>, Error> {
        let url = if okd {
            graph::OKD_UPDATE_URL.to_string()
        } else {
            graph::query_url(&self.endpoints.graph, channel, arch)
                .map_err(|e| Error::Http { url: self.endpoints.graph.clone(), message: e.to_string() })?
        };
        match self.get(&url).await? {
            Some(response) => body(&url, response).await,
            None => Err(Error::Http { url, message: "not found (404)".into() }),
        }
    }

    /// The first signature of the release `digest`, `None` when the store has none.
    ///
    /// # Errors
    /// [`Error::Http`] naming the URL.
    pub async fn signature(&self, digest: &Digest) -> Result<Option<Vec<u8>>, Error> {
        let url = signature::signature_url(&self.endpoints.signatures, digest, 1);
        match self.get(&url).await? {
            Some(response) => body(&url, response).await.map(Some),
            None => Ok(None),
        }
    }

    /// Downloads the graph data tarball into `out`, streamed.
    ///
    /// # Errors
    /// [`Error`] naming the URL or the file.
    pub async fn graph_data(&self, out: &Path) -> Result<(), Error> {
        let url = self.endpoints.graph_data.clone();
        let response =
            self.get(&url).await?.ok_or_else(|| Error::Http { url: url.clone(), message: "not found (404)".into() })?;
        let io = |source| Error::Io { path: out.to_path_buf(), source };
        let mut file = tokio::fs::File::create(out).await.map_err(io)?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Http { url: url.clone(), message: e.to_string() })?;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)
    }

    /// GET with retries of transient failures; `None` on 404.
    async fn get(&self, url: &str) -> Result<Option<reqwest::Response>, Error> {
        retry::get(&self.http, url, "application/json", self.retry)
            .await
            .map_err(|message| Error::Http { url: url.to_string(), message })
    }
}

async fn body(url: &str, response: reqwest::Response) -> Result<Vec<u8>, Error> {
    response.bytes().await.map(|b| b.to_vec()).map_err(|e| Error::Http { url: url.to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_overrides() {
        let public = Endpoints::new(None, None, None).expect("defaults");
        assert_eq!(public.graph, graph::UPDATE_URL);
        assert_eq!(public.graph_data, GRAPH_DATA_URL);
        assert_eq!(public.signatures, signature::DEFAULT_STORE);

        let local = Endpoints::new(
            Some("http://127.0.0.1:9/api/upgrades_info/v1/graph"),
            None,
            Some("http://127.0.0.1:9/signatures"),
        )
        .expect("overrides");
        assert_eq!(local.graph_data, "http://127.0.0.1:9/api/upgrades_info/graph-data");
        assert_eq!(local.signatures, "http://127.0.0.1:9/signatures/");

        let other_path = Endpoints::new(Some("https://osus.example/graph?x=1"), None, None).expect("override");
        assert_eq!(other_path.graph_data, "https://osus.example/graph-data");
        let explicit = Endpoints::new(Some("https://a/v1/graph"), Some("https://b/data.tgz"), None).expect("both");
        assert_eq!(explicit.graph_data, "https://b/data.tgz");

        let bad = Endpoints::new(Some("ftp://x/graph"), None, None).expect_err("not http");
        assert!(bad.to_string().starts_with("UPDATE_URL_OVERRIDE=ftp://x/graph"), "{bad}");
        assert!(Endpoints::new(None, None, Some("not a url")).is_err());
    }
}
