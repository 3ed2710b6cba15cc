//! TLS: a root CA and server certificates made with rcgen, the rustls server config, and
//! certificate reload without dropping connections.
//!
//! Files (installer layout under `quayRoot`):
//!
//! ```text
//! quay-rootCA/rootCA.pem, rootCA.key     the CA (ECDSA P-256, ~5 years); key 0600
//! quay-config/ssl.cert, ssl.key          server certificate (leaf then CA) and key; key 0600
//! ```
//!
//! The server resolves its certificate through [`ReloadableCert`] on every handshake, so
//! replacing `ssl.cert`/`ssl.key` (the documented procedure) and sending SIGHUP, or just waiting
//! for the file watcher, changes the certificate for new connections while open ones go on.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Common name of the CA we generate (also how we recognise our own certificates).
pub const CA_COMMON_NAME: &str = "mirror-registry root CA";
const CA_DAYS: i64 = 5 * 365;
const SERVER_DAYS: i64 = 365;

/// TLS failures, each naming the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key does not belong to the certificate, or rustls refuses them.
    #[error("certificate {cert} and key {key} do not form a usable pair: {reason}")]
    Pair {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// Writes a file readable by its owner only (keys), atomically via a temp file and rename.
///
/// # Errors
/// [`Error::Io`].
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    write_with_mode(path, contents, 0o600)
}

/// Writes a world-readable file (certificates), atomically.
///
/// # Errors
/// [`Error::Io`].
pub fn write_public(path: &Path, contents: &[u8]) -> Result<(), Error> {
    write_with_mode(path, contents, 0o644)
}

fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    // Explicitly, as the umask (077 in `serve`) narrows the mode given at creation.
    f.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io_err(&tmp))?;
    f.write_all(contents).and_then(|()| f.sync_all()).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// A certificate and its private key, PEM encoded.
pub struct PemPair {
    /// Certificate (for a server: leaf followed by the CA).
    pub cert: String,
    /// Private key (PKCS#8).
    pub key: String,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time_now();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::from(SystemTime::now())
}

/// Generates a root CA (ECDSA P-256, valid ~5 years).
///
/// # Errors
/// [`Error::Generate`].
pub fn generate_ca() -> Result<PemPair, Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name.push(DnType::OrganizationName, "mirror-registry");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    validity(&mut params, CA_DAYS);
    let cert = params.self_signed(&key)?;
    Ok(PemPair { cert: cert.pem(), key: key.serialize_pem() })
}

/// Issues a server certificate for `hosts` (DNS names or IP addresses) signed by the CA, valid
/// ~1 year, for serverAuth. The returned certificate PEM is the leaf followed by the CA.
///
/// # Errors
/// [`Error::Generate`] (including a CA PEM that does not parse).
pub fn issue_server_cert(ca: &PemPair, hosts: &[String]) -> Result<PemPair, Error> {
    issue_server_cert_for_days(ca, hosts, SERVER_DAYS)
}

/// [`issue_server_cert`] with another lifetime (tests of certificate renewal use short ones).
///
/// # Errors
/// As [`issue_server_cert`].
pub fn issue_server_cert_for_days(ca: &PemPair, hosts: &[String], days: i64) -> Result<PemPair, Error> {
    let ca_key = KeyPair::from_pem(&ca.key)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key)?;
    let key = KeyPair::generate()?;
    let mut names: Vec<String> = Vec::new();
    for h in hosts.iter().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()) {
        if !h.is_empty() && !names.contains(&h) {
            names.push(h);
        }
    }
    let mut params = CertificateParams::new(names.clone())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_else(|| "localhost".into()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    let cert = params.signed_by(&key, &issuer)?;
    Ok(PemPair { cert: format!("{}{}", cert.pem(), ca.cert), key: key.serialize_pem() })
}

/// The names a certificate is valid for (DNS and IP SANs) and when it expires.
///
/// # Errors
/// [`Error::Pem`] when the PEM holds no parsable certificate.
pub fn describe_cert(path: &Path) -> Result<(Vec<String>, SystemTime), Error> {
    let pem_err = |reason: String| Error::Pem { path: path.to_path_buf(), reason };
    let der = CertificateDer::from_pem_file(path).map_err(|e| pem_err(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| pem_err(e.to_string()))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let expires = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(cert.validity().not_after.timestamp()).unwrap_or_default());
    Ok((names, expires))
}

/// Whether `host` (a DNS name or IP) is covered by `names` (SANs, `*.` wildcards allowed).
#[must_use]
pub fn names_cover(names: &[String], host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        n == host
            || n.strip_prefix("*.").is_some_and(|suffix| host.split_once('.').is_some_and(|(_, rest)| rest == suffix))
    })
}

/// Loads a certificate chain and key and checks that they belong together.
///
/// # Errors
/// [`Error::Io`], [`Error::Pem`] or [`Error::Pair`].
pub fn load_certified_key(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, Error> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| Error::Pem { path: cert_path.to_path_buf(), reason: e.to_string() })?
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Pem { path: cert_path.to_path_buf(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(Error::Pem { path: cert_path.to_path_buf(), reason: "no certificate in the file".into() });
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| Error::Pem { path: key_path.to_path_buf(), reason: format!("no private key: {e}") })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| Error::Pair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The server certificate, swappable while the server runs.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

impl ReloadableCert {
    /// Loads the pair for the first time.
    ///
    /// # Errors
    /// As [`load_certified_key`].
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<ReloadableCert>, Error> {
        let key = load_certified_key(cert_path, key_path)?;
        Ok(Arc::new(ReloadableCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new((Arc::new(key), modified(cert_path, key_path))),
        }))
    }

    /// Reloads the files if they changed since the last load (or always, with `force`). A pair
    /// that fails to load is logged and the running certificate kept.
    pub fn reload(&self, force: bool) {
        let stamp = modified(&self.cert_path, &self.key_path);
        let unchanged = self.current.read().is_ok_and(|c| c.1 == stamp);
        if unchanged && !force {
            return;
        }
        match load_certified_key(&self.cert_path, &self.key_path) {
            Ok(key) => {
                if let Ok(mut c) = self.current.write() {
                    *c = (Arc::new(key), stamp);
                }
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; keeping the current one"),
        }
    }

    /// A rustls server config (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1) that resolves through `self`.
    ///
    /// # Errors
    /// When rustls refuses the protocol versions (not expected).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.0.clone())
    }
}

fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    m(cert).max(m(key))
}

/// Ensures a server certificate exists at `cert`/`key`, generating a CA in `ca_dir` (if none
/// is there) and a certificate for `hosts` signed by it. Returns true when it generated.
///
/// # Errors
/// [`Error`] for unreadable or unwritable files; half a pair (only one of cert and key) is
/// refused rather than overwritten.
pub fn ensure_server_cert(cert: &Path, key: &Path, ca_dir: &Path, hosts: &[String]) -> Result<bool, Error> {
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok(false),
        (true, false) | (false, true) => {
            return Err(Error::Pem {
                path: if cert.exists() { key.to_path_buf() } else { cert.to_path_buf() },
                reason: "missing: the certificate and key must both exist (or neither, to generate them)".into(),
            });
        }
        (false, false) => {}
    }
    let ca_cert = ca_dir.join("rootCA.pem");
    let ca_key = ca_dir.join("rootCA.key");
    let ca = if ca_cert.exists() && ca_key.exists() {
        PemPair {
            cert: std::fs::read_to_string(&ca_cert).map_err(io_err(&ca_cert))?,
            key: std::fs::read_to_string(&ca_key).map_err(io_err(&ca_key))?,
        }
    } else {
        let ca = generate_ca()?;
        write_private(&ca_key, ca.key.as_bytes())?;
        write_public(&ca_cert, ca.cert.as_bytes())?;
        ca
    };
    let server = issue_server_cert(&ca, hosts)?;
    write_private(key, server.key.as_bytes())?;
    write_public(cert, server.cert.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_pair_loads_names_hosts_and_keeps_keys_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key, ca) = (dir.path().join("c/ssl.cert"), dir.path().join("c/ssl.key"), dir.path().join("ca"));
        let hosts = vec!["registry.example".to_string(), "localhost".into(), "127.0.0.1".into()];
        assert!(ensure_server_cert(&cert, &key, &ca, &hosts).expect("generate"));
        assert!(!ensure_server_cert(&cert, &key, &ca, &hosts).expect("second call"), "existing pair kept");
        load_certified_key(&cert, &key).expect("pair loads");
        let (names, expires) = describe_cert(&cert).expect("describe");
        assert_eq!(names, hosts);
        assert!(expires > SystemTime::now() + Duration::from_hours(300 * 24));
        for k in [&key, &ca.join("rootCA.key")] {
            assert_eq!(std::fs::metadata(k).expect("stat").permissions().mode() & 0o777, 0o600, "{}", k.display());
        }
        assert!(
            names_cover(&names, "REGISTRY.example")
                && names_cover(&names, "127.0.0.1")
                && !names_cover(&names, "other.example")
        );
    }

    #[test]
    fn half_a_pair_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (dir.path().join("ssl.cert"), dir.path().join("ssl.key"));
        std::fs::write(&cert, "x").expect("write");
        assert!(ensure_server_cert(&cert, &key, dir.path(), &["localhost".into()]).is_err());
    }

    #[test]
    fn mismatched_key_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        ensure_server_cert(&a.join("ssl.cert"), &a.join("ssl.key"), &a, &["localhost".into()]).expect("a");
        ensure_server_cert(&b.join("ssl.cert"), &b.join("ssl.key"), &b, &["localhost".into()]).expect("b");
        let err = load_certified_key(&a.join("ssl.cert"), &b.join("ssl.key")).expect_err("mismatch");
        assert!(matches!(err, Error::Pair { .. }), "{err}");
    }

    #[test]
    fn wildcard_names() {
        let names = vec!["*.apps.example".to_string()];
        assert!(names_cover(&names, "registry.apps.example"));
        assert!(!names_cover(&names, "a.b.apps.example"));
        assert!(!names_cover(&names, "apps.example"));
    }
}
