//! The appliance config file (YAML): defaults, strict decoding, validation, and the paths of the
//! data it points at.
//!
//! ```yaml
//! listen: 127.0.0.1:5000          # address of the registry listener
//! log_level: info                 # error | warn | info | debug | trace (RUST_LOG overrides)
//! insecure_http: false            # plain HTTP (loopback tests, TLS-terminating proxies)
//! http:
//!   public_host: registry.example:8443   # host[:port] clients use: token realm, Location headers
//!                                       # (default: the request's Host, when it is a valid host)
//!   trusted_proxies: [10.0.0.5, 10.1.0.0/16]   # X-Forwarded-Host/-Proto believed only from these
//!   header_read_timeout: 10s      # a client must send a request's headers within this time
//!   idle_timeout: 2m              # a connection with no traffic for this long is closed
//!   max_connections_per_client: 256   # concurrent connections per client address (0 = no cap)
//! tls:
//!   cert: /srv/quay-config/ssl.cert   # leaf then intermediates, PEM
//!   key: /srv/quay-config/ssl.key
//!   ca_dir: /srv/quay-rootCA          # where a CA is generated when `generate` makes certificates
//!   generate: false                   # make a CA and certificate when both files are missing
//!   hosts: [registry.example]         # names for a generated certificate (plus localhost, IPs)
//! auth:
//!   enabled: true                 # false: no accounts at all (loopback tests only)
//!   anonymous_pull: false         # let requests without credentials pull
//!   token_ttl_seconds: 3600       # lifetime of Bearer tokens
//!   init_user: init               # admin created with a random password when there is no account
//! storage:
//!   backend: filesystem           # filesystem | s3 (an S3-compatible object store, e.g. Garage)
//!   blobs: /srv/quay-storage      # holds blobs/ and uploads/   (relative paths: to this file)
//!   database: /srv/sqlite-storage/registry.db
//!   s3:                           # only with backend: s3
//!     endpoint: http://127.0.0.1:3900   # the S3 API of the store
//!     bucket: registry
//!     region: garage              # as the store names it (Garage: `s3_region`)
//!     prefix: ""                  # key prefix inside the bucket, to share one
//!     path_style: true            # https://endpoint/bucket/key (false: https://bucket.endpoint/key)
//!     credentials_file: s3.yaml   # {access_key_id, secret_access_key}, 0600; else the
//!                                 # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment
//!     redirect: false             # answer blob GETs with a 307 to a presigned URL
//!     redirect_ttl: 20m           # how long such a URL is valid
//! database:                       # metadata in PostgreSQL instead of the SQLite file above
//!   url: postgres://registry@db.example:5432/registry   # no password in the URL (refused)
//!   password_file: /srv/quay-config/pg.password   # else the PGPASSWORD environment variable
//!   ca_file: /srv/quay-config/pg-ca.pem   # with ?sslmode=require: trusted besides the system's roots
//! limits:
//!   max_manifest_bytes: 4194304   # the distribution-spec's recommended 4 MiB
//!   max_blob_bytes: 0             # 0 = no limit
//!   min_free_bytes: 268435456     # upload data is refused (507) below this much free space
//! manifests:
//!   require_complete_indexes: false   # true refuses an index whose children are absent
//! gc:
//!   enabled: true                 # background garbage collection in `serve`
//!   interval: 1h                  # between runs
//!   grace_period: 1h              # unreferenced blobs younger than this (last touch) are kept
//!   upload_expiry: 24h            # upload sessions idle this long are removed
//!   retention:                    # opt-in manifest deletion, per repository pattern
//!     - repositories: "ci/*"      # glob; '*' matches any characters including '/'
//!       delete_untagged_older_than: 7d
//!       keep_newest_tags: 10
//!       delete_tags_older_than: 90d
//! ```
//!
//! `serve --data-dir DIR` points the storage and TLS paths into DIR with the same layout the
//! installer uses under `--quayRoot`: `DIR/quay-storage`, `DIR/sqlite-storage/registry.db`,
//! `DIR/quay-config/ssl.{cert,key}` and `DIR/quay-rootCA`. The embedded default (no file) does
//! the same under `./mirror-registry-data` and generates what is missing on first start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::Deserialize;

use crate::duration::HumanDuration;
use crate::ip_range::IpRange;

/// Directory used by `serve` when neither `--config` nor `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "mirror-registry-data";

/// The whole config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listener address.
    pub listen: String,
    /// Default tracing filter.
    pub log_level: String,
    /// Serve plain HTTP.
    pub insecure_http: bool,
    /// How the listener names itself and treats clients and proxies.
    pub http: Http,
    /// The server certificate.
    pub tls: Tls,
    /// Accounts and tokens.
    pub auth: Auth,
    /// Where data lives.
    pub storage: Storage,
    /// Metadata in PostgreSQL (absent: the SQLite file `storage.database`).
    pub database: Database,
    /// Size limits.
    pub limits: Limits,
    /// Manifest acceptance policy.
    pub manifests: ManifestPolicy,
    /// Garbage collection and retention.
    pub gc: Gc,
}

/// `http:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// `host[:port]` clients reach the registry at, for the token realm and `Location` headers.
    pub public_host: Option<String>,
    /// Peers whose `X-Forwarded-Host` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpRange>,
    /// Time a client has to send a request's headers.
    pub header_read_timeout: HumanDuration,
    /// A connection with no traffic in either direction for this long is closed.
    pub idle_timeout: HumanDuration,
    /// Connections one client address may hold at once; 0 means no cap.
    pub max_connections_per_client: u32,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            public_host: None,
            trusted_proxies: Vec::new(),
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            idle_timeout: HumanDuration(Duration::from_mins(2)),
            max_connections_per_client: 256,
        }
    }
}

/// `gc:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Gc {
    /// Run GC in the background of `serve`.
    pub enabled: bool,
    /// Time between background runs.
    pub interval: HumanDuration,
    /// Unreferenced blobs touched more recently than this are kept.
    pub grace_period: HumanDuration,
    /// Upload sessions older than this are removed.
    pub upload_expiry: HumanDuration,
    /// Retention policies, applied in order.
    pub retention: Vec<RetentionPolicy>,
}

impl Default for Gc {
    fn default() -> Self {
        Gc {
            enabled: true,
            interval: HumanDuration(Duration::from_hours(1)),
            grace_period: HumanDuration(Duration::from_hours(1)),
            upload_expiry: HumanDuration(Duration::from_hours(24)),
            retention: Vec::new(),
        }
    }
}

/// One retention policy: which repositories, and what to delete there.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Glob over repository names (`*` matches anything, `/` included).
    pub repositories: String,
    /// Delete manifests with no tag (and not part of a kept index or a referrer of a kept
    /// manifest) older than this.
    #[serde(default)]
    pub delete_untagged_older_than: Option<HumanDuration>,
    /// Keep only the newest N tags (by push time) of each repository.
    #[serde(default)]
    pub keep_newest_tags: Option<u32>,
    /// Delete tags not pushed for this long.
    #[serde(default)]
    pub delete_tags_older_than: Option<HumanDuration>,
}

/// `storage:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Where blob bytes live.
    pub backend: BlobBackend,
    /// Blob store root (`blobs/` and `uploads/` beneath it) of the filesystem backend.
    pub blobs: PathBuf,
    /// `SQLite` database file.
    pub database: PathBuf,
    /// The object store of the `s3` backend.
    pub s3: Option<S3>,
}

/// `storage.backend`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    /// A local directory (`storage.blobs`): the single-host appliance.
    #[default]
    Filesystem,
    /// An S3-compatible object store (`storage.s3`), shared by several replicas.
    S3,
}

/// `storage.s3:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// Base URL of the S3 API, `http://` or `https://`.
    pub endpoint: String,
    /// Bucket holding the registry's objects (created beforehand).
    pub bucket: String,
    /// Region the store expects in signatures.
    #[serde(default = "S3::default_region")]
    pub region: String,
    /// Prefix of every key, so that one bucket can hold several registries.
    #[serde(default)]
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), what Garage and MinIO expect by default.
    #[serde(default = "S3::default_path_style")]
    pub path_style: bool,
    /// YAML file with `access_key_id` and `secret_access_key`; else the AWS_* environment.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Redirect blob GETs to a presigned URL instead of streaming through the registry.
    #[serde(default)]
    pub redirect: bool,
    /// Validity of a presigned URL.
    #[serde(default = "S3::default_redirect_ttl")]
    pub redirect_ttl: HumanDuration,
}

impl S3 {
    fn default_region() -> String {
        "us-east-1".into()
    }
    fn default_path_style() -> bool {
        true
    }
    fn default_redirect_ttl() -> HumanDuration {
        HumanDuration(Duration::from_mins(20))
    }
}

/// `database:` section. `Debug` shows the URL without any password it may hold.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `postgres://user@host:port/db`; when absent, metadata stays in `storage.database`.
    pub url: Option<String>,
    /// File whose first line is the password; when absent, `PGPASSWORD` is used if set.
    pub password_file: Option<PathBuf>,
    /// PEM certificates that may sign the server's (with `sslmode=require` in the URL), besides
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `url` with the password of its `user:password@` part replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "***".into() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_string() };
            format!("{scheme}://{masked}{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

impl Database {
    /// Where metadata lives, for messages: the URL (without a password) or the SQLite file.
    #[must_use]
    pub fn location(&self, storage: &Storage) -> String {
        match &self.url {
            Some(url) => redact_url(url),
            None => storage.database.display().to_string(),
        }
    }

    /// The password: the first line of `password_file`, else `PGPASSWORD`, else none.
    ///
    /// # Errors
    /// [`Error::Read`] when the password file cannot be read.
    pub fn password(&self) -> Result<Option<crate::accounts::Secret>, Error> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.clone(), source })?;
            return Ok(Some(crate::accounts::Secret::presented(text.lines().next().unwrap_or_default())));
        }
        Ok(std::env::var("PGPASSWORD").ok().map(|p| crate::accounts::Secret::presented(&p)))
    }

    fn problems(&self) -> Vec<String> {
        let Some(url) = &self.url else {
            return if self.password_file.is_some() || self.ca_file.is_some() {
                vec!["database.password_file, database.ca_file: set without database.url".into()]
            } else {
                Vec::new()
            };
        };
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return vec!["database.url: must start with postgres:// (like postgres://user@host:5432/db)".into()];
        }
        if redact_url(url) != *url {
            return vec!["database.url: must not contain a password; use database.password_file or PGPASSWORD".into()];
        }
        Vec::new()
    }
}

/// `tls:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Directory of `rootCA.pem`/`rootCA.key` for generated certificates.
    pub ca_dir: PathBuf,
    /// Generate a CA and a certificate when both files are missing.
    pub generate: bool,
    /// Extra names for a generated certificate.
    pub hosts: Vec<String>,
}

impl Tls {
    /// The installer layout under one data directory, generating what is missing.
    #[must_use]
    pub fn under(dir: &Path) -> Tls {
        let config = dir.join("quay-config");
        Tls {
            cert: config.join("ssl.cert"),
            key: config.join("ssl.key"),
            ca_dir: dir.join("quay-rootCA"),
            generate: true,
            hosts: Vec::new(),
        }
    }
}

impl Default for Tls {
    fn default() -> Self {
        Tls::under(Path::new(DEFAULT_DATA_DIR))
    }
}

/// `auth:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Require accounts. Turning it off leaves the registry open to anyone who reaches it.
    pub enabled: bool,
    /// Let requests without credentials pull.
    pub anonymous_pull: bool,
    /// Lifetime of Bearer tokens, in seconds.
    pub token_ttl_seconds: u64,
    /// Name of the admin created with a random password when there is no account.
    pub init_user: String,
}

impl Default for Auth {
    fn default() -> Self {
        Auth { enabled: true, anonymous_pull: false, token_ttl_seconds: 3600, init_user: "init".into() }
    }
}

/// `limits:` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: u64,
    /// Largest blob accepted, in bytes; 0 means no limit.
    pub max_blob_bytes: u64,
    /// Upload data is refused while the blob filesystem has less free space than this, so that
    /// a push fails with a clear error before the database runs out of room; 0 turns it off.
    pub min_free_bytes: u64,
}

/// `manifests:` section.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ManifestPolicy {
    /// Refuse indexes whose child manifests are not in the repository.
    pub require_complete_indexes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5000".into(),
            log_level: "info".into(),
            insecure_http: false,
            http: Http::default(),
            tls: Tls::default(),
            auth: Auth::default(),
            storage: Storage::default(),
            database: Database::default(),
            limits: Limits::default(),
            manifests: ManifestPolicy::default(),
            gc: Gc::default(),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage::under(Path::new(DEFAULT_DATA_DIR))
    }
}

impl Storage {
    /// The standard layout under one data directory (the installer's `quayRoot`).
    #[must_use]
    pub fn under(dir: &Path) -> Storage {
        Storage {
            backend: BlobBackend::Filesystem,
            blobs: dir.join("quay-storage"),
            database: dir.join("sqlite-storage").join("registry.db"),
            s3: None,
        }
    }
}

impl Storage {
    fn check_s3(&self, problems: &mut Vec<String>) {
        match (&self.s3, self.backend) {
            (None, BlobBackend::S3) => problems.push("storage.s3: required with backend: s3".into()),
            (Some(s3), _) => {
                if !(s3.endpoint.starts_with("http://") || s3.endpoint.starts_with("https://")) {
                    problems.push(format!("storage.s3.endpoint: {:?} is not an http:// or https:// URL", s3.endpoint));
                }
                if s3.bucket.is_empty() {
                    problems.push("storage.s3.bucket: must not be empty".into());
                }
                if s3.redirect_ttl.0 < Duration::from_secs(10) || s3.redirect_ttl.0 > Duration::from_hours(24 * 7) {
                    problems.push(format!("storage.s3.redirect_ttl: {} is outside 10s..7d", s3.redirect_ttl));
                }
            }
            (None, BlobBackend::Filesystem) => {}
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_manifest_bytes: 4 * 1024 * 1024, max_blob_bytes: 0, min_free_bytes: 256 * 1024 * 1024 }
    }
}

/// A config that could not be loaded; the message lists every problem with its key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML does not decode (syntax, unknown key, wrong type); `serde_yaml` names line and column.
    #[error("config file {path}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// `serde_yaml`'s message.
        message: String,
    },
    /// Values decode but are not usable.
    #[error("invalid config:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Reads and validates a config file. Relative storage paths are taken relative to the file.
    ///
    /// # Errors
    /// [`Error::Read`], [`Error::Decode`] or [`Error::Invalid`].
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.into(), source })?;
        let mut config =
            Config::from_yaml(&text).map_err(|e| Error::Decode { path: path.into(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut config.storage.blobs,
            &mut config.storage.database,
            &mut config.tls.cert,
            &mut config.tls.key,
            &mut config.tls.ca_dir,
        ]
        .into_iter()
        .chain(config.storage.s3.as_mut().and_then(|s3| s3.credentials_file.as_mut()))
        .chain(config.database.ca_file.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = config.database.password_file.as_mut().filter(|p| p.is_relative()) {
            *p = base.join(&*p);
        }
        config.validate()?;
        Ok(config)
    }

    /// The config every command uses: the file when given (else the embedded default), with
    /// `--data-dir` pointing storage and TLS paths into one directory.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn resolve(file: Option<&Path>, data_dir: Option<&Path>) -> Result<Config, Error> {
        let mut config = match file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(dir) = data_dir {
            // The object store stays where the file puts it; only local paths move.
            config.storage =
                Storage { backend: config.storage.backend, s3: config.storage.s3.take(), ..Storage::under(dir) };
            config.tls = Tls { hosts: config.tls.hosts.clone(), ..Tls::under(dir) };
        }
        Ok(config)
    }

    /// Decodes YAML without validating. An empty document is the default config.
    ///
    /// # Errors
    /// `serde_yaml`'s error for syntax, unknown keys and wrong types.
    pub fn from_yaml(text: &str) -> Result<Config, serde_yaml::Error> {
        if text.trim().is_empty() { Ok(Config::default()) } else { serde_yaml::from_str(text) }
    }

    /// Checks every value, reporting all problems at once.
    ///
    /// # Errors
    /// [`Error::Invalid`] with one line per problem.
    pub fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!("listen: {:?} is not an address like 127.0.0.1:5000 or [::]:8443", self.listen));
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            problems.push(format!("log_level: {:?} is not one of error, warn, info, debug, trace", self.log_level));
        }
        if self.storage.blobs.as_os_str().is_empty() {
            problems.push("storage.blobs: must not be empty".into());
        }
        if self.storage.database.as_os_str().is_empty() || self.storage.database.file_name().is_none() {
            problems.push("storage.database: must name a file".into());
        }
        self.storage.check_s3(&mut problems);
        problems.extend(self.database.problems());
        if !(1024..=64 * 1024 * 1024).contains(&self.limits.max_manifest_bytes) {
            problems.push(format!(
                "limits.max_manifest_bytes: {} is outside 1 KiB..64 MiB",
                self.limits.max_manifest_bytes
            ));
        }
        if let Some(host) = self.http.public_host.as_deref().filter(|h| !crate::reference::image::is_valid_host(h)) {
            problems.push(format!("http.public_host: {host:?} is not a host[:port] like registry.example:8443"));
        }
        if self.http.header_read_timeout.0.is_zero() || self.http.idle_timeout.0.is_zero() {
            problems.push("http.header_read_timeout, http.idle_timeout: must be longer than 0s".into());
        }
        if !(60..=86400).contains(&self.auth.token_ttl_seconds) {
            problems.push(format!("auth.token_ttl_seconds: {} is outside 60..86400", self.auth.token_ttl_seconds));
        }
        if self.auth.enabled && self.auth.init_user.parse::<crate::accounts::UserName>().is_err() {
            problems.push(format!("auth.init_user: {:?} is not a valid user name", self.auth.init_user));
        }
        if !self.insecure_http && (self.tls.cert.as_os_str().is_empty() || self.tls.key.as_os_str().is_empty()) {
            problems.push("tls.cert, tls.key: both are required unless insecure_http is true".into());
        }
        if self.gc.interval.0 < Duration::from_mins(1) {
            problems.push(format!("gc.interval: {} is shorter than 1m", self.gc.interval));
        }
        for (i, p) in self.gc.retention.iter().enumerate() {
            if p.repositories.is_empty() {
                problems.push(format!("gc.retention[{i}].repositories: must not be empty"));
            }
            if p.delete_untagged_older_than.is_none()
                && p.keep_newest_tags.is_none()
                && p.delete_tags_older_than.is_none()
            {
                problems.push(format!("gc.retention[{i}]: names no rule (delete_untagged_older_than, keep_newest_tags, delete_tags_older_than)"));
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(Error::Invalid(problems)) }
    }

    /// The listener address (valid after [`Config::validate`]).
    ///
    /// # Errors
    /// When `listen` does not parse.
    pub fn listen_addr(&self) -> Result<SocketAddr, Error> {
        self.listen.parse().map_err(|_| Error::Invalid(vec![format!("listen: {:?} is not an address", self.listen)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_yaml("").expect("empty"), Config::default());
        Config::default().validate().expect("the default config is valid");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Config::from_yaml("listen: 127.0.0.1:1\nstorage:\n  blobz: /x\n").expect_err("unknown key");
        assert!(err.to_string().contains("blobz"), "{err}");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut c =
            Config::from_yaml("listen: nowhere\nlog_level: loud\nlimits: {max_manifest_bytes: 3}\n").expect("decodes");
        c.storage.database = PathBuf::new();
        let Err(Error::Invalid(problems)) = c.validate() else { panic!("should be invalid") };
        let keys: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap_or_default()).collect();
        assert_eq!(keys, ["listen", "log_level", "storage.database", "limits.max_manifest_bytes"]);
    }

    #[test]
    fn gc_section_with_durations_and_policies() {
        let c = Config::from_yaml(
            "gc:\n  grace_period: 0s\n  retention:\n    - repositories: 'ci/*'\n      keep_newest_tags: 3\n",
        )
        .expect("decodes");
        assert_eq!(c.gc.grace_period.0, Duration::ZERO);
        assert_eq!(c.gc.retention[0].keep_newest_tags, Some(3));
        c.validate().expect("valid");
        let c = Config::from_yaml("gc:\n  retention:\n    - repositories: 'x'\n").expect("decodes");
        let Err(Error::Invalid(p)) = c.validate() else { panic!("a policy without a rule is refused") };
        assert!(p[0].starts_with("gc.retention[0]"), "{p:?}");
        assert!(Config::from_yaml("gc: {grace_period: soon}").is_err());
    }

    #[test]
    fn database_section_is_checked_and_never_shows_a_password() {
        let c = Config::from_yaml("database:\n  url: postgres://reg@db:5432/registry\n  password_file: pg.pw\n")
            .expect("decodes");
        c.validate().expect("valid");
        let cases = [
            (
                "password in the url",
                "database: {url: 'postgres://reg:hunter2@db/registry'}",
                "must not contain a password",
            ),
            ("not postgres", "database: {url: 'mysql://reg@db/registry'}", "must start with postgres://"),
            ("password file alone", "database: {password_file: /pw}", "without database.url"),
        ];
        for (name, yaml, expected) in cases {
            let c = Config::from_yaml(yaml).expect("decodes");
            let Err(Error::Invalid(p)) = c.validate() else { panic!("case {name}: should be invalid") };
            assert!(p.iter().any(|p| p.contains(expected)), "case {name}: {p:?}");
            assert!(!format!("{c:?} {p:?}").contains("hunter2"), "case {name}: password shown");
        }
        assert_eq!(redact_url("postgres://u:p@h:1/d?x=@"), "postgres://u:***@h:1/d?x=@");
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("pg.pw");
        std::fs::write(&file, "s3cret\nignored\n").expect("write");
        let db = Database { url: Some("postgres://reg@db/registry".into()), password_file: Some(file), ca_file: None };
        let password = db.password().expect("read").expect("a password");
        assert_eq!((password.expose(), format!("{password:?}")), ("s3cret", "***".to_string()));
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn relative_storage_paths_follow_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, "storage: {blobs: data/b, database: data/r.db}\n").expect("write");
        let c = Config::load(&file).expect("loads");
        assert_eq!(c.storage.blobs, dir.path().join("data/b"));
        assert_eq!(c.storage.database, dir.path().join("data/r.db"));
    }
}
