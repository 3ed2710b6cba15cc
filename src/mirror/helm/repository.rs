//! Chart repositories (`helm.repositories`): the `index.yaml` that lists every version of every
//! chart, the choice of versions, and the download of each chart archive, streamed to disk and
//! checked against the digest the index gives.
//!
//! Files in the working dir, where oc-mirror v2 keeps them (disk to mirror reads them back):
//!
//! ```text
//! working-dir/helm/indexes/<host>/<path>/index.yaml   the index as downloaded
//! working-dir/helm/charts/<name>-<version>.tgz        the chart archives
//! ```

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::mirror::client::{RetryPolicy, retry};
use crate::mirror::version::{Range, Version};
use crate::reference::{Algorithm, Digest};

/// The working-dir folder of helm's files.
pub const HELM_DIR: &str = "helm";
/// Where the chart archives are, under [`HELM_DIR`].
pub const CHARTS_DIR: &str = "charts";
/// Where the repository indexes are, under [`HELM_DIR`].
pub const INDEXES_DIR: &str = "indexes";

/// Why a repository or a chart could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository answered with an error or could not be reached.
    #[error("{url}: {message}")]
    Http {
        /// What was asked for.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// The index does not parse.
    #[error("{url}: not a chart repository index: {message}")]
    Index {
        /// The index URL or file.
        url: String,
        /// Why.
        message: String,
    },
    /// The index has no such chart, or no such version of it.
    #[error("chart {chart} {version}: not in repository {repository} (versions there: {available})")]
    NoVersion {
        /// Chart name.
        chart: String,
        /// The version asked for (`latest` when none was).
        version: String,
        /// Repository name.
        repository: String,
        /// What the index has.
        available: String,
    },
    /// A download does not match the digest of the index.
    #[error("{url}: digest mismatch: index says {expected}, got {actual}")]
    Digest {
        /// The chart URL.
        url: String,
        /// From the index.
        expected: Digest,
        /// Of the bytes received.
        actual: Digest,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A repository's `index.yaml` (the fields used here).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Index {
    /// Chart name → its versions.
    #[serde(default)]
    pub entries: std::collections::BTreeMap<String, Vec<ChartVersion>>,
}

/// One version of a chart in an index.
#[derive(Debug, Clone, Deserialize)]
pub struct ChartVersion {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// `application` (the default) or `library`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Where the archive is (absolute, or relative to the repository URL).
    #[serde(default)]
    pub urls: Vec<String>,
    /// SHA-256 of the archive, hex.
    #[serde(default)]
    pub digest: Option<String>,
}

impl ChartVersion {
    /// The archive's digest per the index, `None` when the index gives none.
    ///
    /// # Errors
    /// [`Error::Index`] when the index gives something that is no SHA-256.
    fn expected_digest(&self, index: &str) -> Result<Option<Digest>, Error> {
        self.digest
            .as_deref()
            .map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()).parse::<Digest>())
            .transpose()
            .map_err(|e| Error::Index {
                url: index.to_string(),
                message: format!("chart {} {}: digest: {e}", self.name, self.version),
            })
    }
}

impl ChartVersion {
    fn is_library(&self) -> bool {
        self.kind.as_deref() == Some("library")
    }
}

/// The URL of a repository's index.
#[must_use]
pub fn index_url(repository_url: &str) -> String {
    if repository_url.ends_with("/index.yaml") {
        repository_url.to_string()
    } else {
        format!("{}/index.yaml", repository_url.trim_end_matches('/'))
    }
}

/// Where the index of `repository_url` is kept, relative to the working dir: oc-mirror's
/// `helm/indexes/<host>/<path>/index.yaml`.
#[must_use]
pub fn index_file(repository_url: &str) -> PathBuf {
    let url = index_url(repository_url);
    let without_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let mut path = Path::new(HELM_DIR).join(INDEXES_DIR);
    // Host and path segments only: nothing in a URL can climb out of the folder.
    for segment in without_scheme.split('/').filter(|s| !s.is_empty() && *s != "." && *s != "..") {
        path.push(segment.replace(':', "_"));
    }
    path
}

/// Where a chart archive is kept, relative to the working dir.
#[must_use]
pub fn chart_file(name: &str, version: &str) -> PathBuf {
    Path::new(HELM_DIR).join(CHARTS_DIR).join(format!("{}-{}.tgz", safe(name), safe(version)))
}

/// A name made safe for a file name (chart names and versions normally are already).
pub(super) fn safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' }).collect()
}

/// Parses an index.
///
/// # Errors
/// [`Error::Index`] naming `source`.
pub fn parse_index(source: &str, bytes: &[u8]) -> Result<Index, Error> {
    serde_yaml::from_slice(bytes).map_err(|e| Error::Index { url: source.to_string(), message: e.to_string() })
}

/// The version to mirror of one configured chart: the one named (an exact version, or a Helm
/// constraint such as `^1.2` or `>=1.2.0 <2.0.0`, whose highest match is taken; pre-releases
/// only when the constraint names one, as Helm does), or the latest stable one when none is
/// named.
///
/// # Errors
/// [`Error::NoVersion`] listing what the index has.
pub fn select<'a>(
    index: &'a Index,
    repository: &str,
    chart: &str,
    version: Option<&str>,
) -> Result<&'a ChartVersion, Error> {
    let versions = index.entries.get(chart).map(Vec::as_slice).unwrap_or_default();
    let parsed = |v: &ChartVersion| Version::parse_lenient(&v.version).ok();
    let found = match version.map(str::trim).filter(|v| !v.is_empty()) {
        Some(wanted) => versions.iter().find(|v| v.version == wanted).or_else(|| {
            let range = Range::parse_helm(wanted).ok()?;
            let pre = wanted.contains('-');
            let fits = |p: Version| range.contains(&p.core()) && (pre || !p.is_prerelease());
            versions.iter().filter(|v| parsed(v).is_some_and(fits)).max_by_key(|v| parsed(v))
        }),
        None => versions.iter().filter(|v| parsed(v).is_some_and(|p| !p.is_prerelease())).max_by_key(|v| parsed(v)),
    };
    found.ok_or_else(|| Error::NoVersion {
        chart: chart.to_string(),
        version: version.unwrap_or("latest").to_string(),
        repository: repository.to_string(),
        available: if versions.is_empty() {
            "none".to_string()
        } else {
            versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>().join(", ")
        },
    })
}

/// Every version of every application chart of the index: what a repository without a
/// `charts` list stands for (oc-mirror's rule).
#[must_use]
pub fn all_versions(index: &Index) -> Vec<&ChartVersion> {
    index.entries.values().flatten().filter(|v| !v.is_library()).collect()
}

/// Reads chart repositories over HTTP with the run's retry policy.
pub struct Repositories {
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl Repositories {
    /// A reader with `http` (the source side's TLS settings).
    #[must_use]
    pub fn new(http: reqwest::Client, retry: RetryPolicy) -> Repositories {
        Repositories { http, retry }
    }

    /// Downloads the index of `repository_url` into `working_dir` and parses it.
    ///
    /// # Errors
    /// [`Error`] naming the URL or the file.
    pub async fn fetch_index(&self, repository_url: &str, working_dir: &Path) -> Result<Index, Error> {
        let url = index_url(repository_url);
        let response = self.get(&url).await?;
        let bytes = response.bytes().await.map_err(|e| Error::Http { url: url.clone(), message: e.to_string() })?;
        let index = parse_index(&url, &bytes)?;
        let path = working_dir.join(index_file(repository_url));
        crate::mirror::files::write_atomically(&path, &bytes).map_err(|(path, source)| Error::Io { path, source })?;
        Ok(index)
    }

    /// Downloads `chart` from the repository at `repository_url` to `working_dir`, unless a
    /// file with the index's digest is there already. Returns the file's path.
    ///
    /// # Errors
    /// [`Error`] naming the URL or the file; a digest mismatch leaves no file behind.
    pub async fn fetch_chart(
        &self,
        repository_url: &str,
        chart: &ChartVersion,
        working_dir: &Path,
    ) -> Result<PathBuf, Error> {
        let path = working_dir.join(chart_file(&chart.name, &chart.version));
        let expected = chart.expected_digest(&index_url(repository_url))?;
        if let Some(expected) = &expected
            && file_digest(&path).is_ok_and(|actual| actual == *expected)
        {
            return Ok(path);
        }
        let url = chart_url(repository_url, chart)?;
        let response = self.get(&url).await?;
        stream_to(&url, response, &path, expected).await?;
        Ok(path)
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, Error> {
        match retry::get(&self.http, url, "*/*", self.retry).await {
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(Error::Http { url: url.to_string(), message: "not found (404)".into() }),
            Err(message) => Err(Error::Http { url: url.to_string(), message }),
        }
    }
}

/// The absolute URL of a chart archive: its first `urls` entry, resolved against the
/// repository URL when relative.
fn chart_url(repository_url: &str, chart: &ChartVersion) -> Result<String, Error> {
    let index = index_url(repository_url);
    let first = chart.urls.first().ok_or_else(|| Error::Index {
        url: index.clone(),
        message: format!("chart {} {} has no urls", chart.name, chart.version),
    })?;
    let base = reqwest::Url::parse(&index).map_err(|e| Error::Index { url: index.clone(), message: e.to_string() })?;
    base.join(first)
        .map(String::from)
        .map_err(|e| Error::Index { url: index, message: format!("chart url {first}: {e}") })
}

/// Streams a response into `path` through a temporary file, renamed into place only when the
/// bytes have the `expected` digest when one is given. A failure leaves no file at `path`.
async fn stream_to(url: &str, response: reqwest::Response, path: &Path, expected: Option<Digest>) -> Result<(), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let dir = path.parent().expect("chart files are in a folder");
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let tmp = dir.join(format!(".download.{}", uuid::Uuid::new_v4()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
        let mut hasher = Algorithm::Sha256.hasher();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Http { url: url.to_string(), message: e.to_string() })?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io(&tmp))?;
        }
        file.sync_all().await.map_err(io(&tmp))?;
        let actual = hasher.finish();
        match expected {
            Some(expected) if expected != actual => Err(Error::Digest { url: url.to_string(), expected, actual }),
            _ => Ok(()),
        }
    }
    .await;
    match result {
        Ok(()) => tokio::fs::rename(&tmp, path).await.map_err(io(path)),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

/// SHA-256 of a file, read in pieces.
fn file_digest(path: &Path) -> std::io::Result<Digest> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Algorithm::Sha256.hasher();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hasher.finish()),
            n => hasher.update(&buffer[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "apiVersion: v1
entries:
  web:
  - {name: web, version: 1.10.0, urls: [charts/web-1.10.0.tgz], digest: abc}
  - {name: web, version: 1.9.0, urls: [https://cdn.example/web-1.9.0.tgz]}
  - {name: web, version: 2.0.0-rc.1, urls: [charts/web-2.0.0-rc.1.tgz]}
  common:
  - {name: common, version: 2.0.0, type: library, urls: [common-2.0.0.tgz]}
generated: 2024-01-01T00:00:00Z
";

    #[test]
    fn versions_are_chosen_as_helm_does() {
        let index = parse_index("test", INDEX.as_bytes()).expect("index");
        let pick = |v: Option<&str>| select(&index, "repo", "web", v).map(|c| c.version.clone());
        assert_eq!(pick(None).expect("latest"), "1.10.0", "latest stable, by semver not by text");
        assert_eq!(pick(Some("1.9.0")).expect("exact"), "1.9.0");
        assert_eq!(pick(Some("2.0.0-rc.1")).expect("exact pre-release"), "2.0.0-rc.1");
        assert_eq!(pick(Some(">=1.0.0 <1.10.0")).expect("range"), "1.9.0");
        assert_eq!(pick(Some("^1.9")).expect("caret"), "1.10.0", "pre-releases only when asked for");
        assert_eq!(pick(Some(">=2.0.0-0")).expect("pre-release range"), "2.0.0-rc.1");
        let missing = pick(Some("3.0.0")).expect_err("no such version");
        assert_eq!(
            missing.to_string(),
            "chart web 3.0.0: not in repository repo (versions there: 1.10.0, 1.9.0, 2.0.0-rc.1)"
        );
        assert!(
            select(&index, "repo", "nope", None).expect_err("no chart").to_string().contains("versions there: none")
        );
        let all: Vec<&str> = all_versions(&index).iter().map(|c| c.version.as_str()).collect();
        assert_eq!(all, ["1.10.0", "1.9.0", "2.0.0-rc.1"], "library charts are not mirrored");
        assert!(parse_index("u", b"entries: [1, 2]").is_err());
    }

    #[test]
    fn urls_and_files() {
        let index = parse_index("test", INDEX.as_bytes()).expect("index");
        let web = &index.entries["web"];
        assert_eq!(chart_url("http://h:8/repo", &web[0]).expect("relative"), "http://h:8/repo/charts/web-1.10.0.tgz");
        assert!(web[0].expected_digest("i").expect_err("abc is no SHA-256").to_string().contains("web 1.10.0: digest"));
        assert_eq!(web[1].expected_digest("i").expect("none given"), None);
        assert_eq!(chart_url("http://h:8/repo/", &web[1]).expect("absolute"), "https://cdn.example/web-1.9.0.tgz");
        assert_eq!(index_url("http://h/x/index.yaml"), "http://h/x/index.yaml");
        assert_eq!(
            index_file("https://charts.example:8443/stable/"),
            Path::new("helm/indexes/charts.example_8443/stable/index.yaml")
        );
        assert_eq!(index_file("http://h/../../etc"), Path::new("helm/indexes/h/etc/index.yaml"));
        assert_eq!(chart_file("web", "1.0.0"), Path::new("helm/charts/web-1.0.0.tgz"));
        assert_eq!(chart_file("../x", "1/2"), Path::new("helm/charts/.._x-1_2.tgz"));
    }
}
