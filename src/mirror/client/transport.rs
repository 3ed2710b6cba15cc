//! The transport of one side (source or destination): the reqwest client with its TLS settings
//! (certificate checks per `trust`, extra certificate directories, `certs.d`), and the pool of
//! per-registry clients that share it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use super::trust::TrustedCertificates;
use super::{AuthFile, Error, RegistryClient, RetryPolicy};

/// Transport settings shared by every registry of one side (source or destination).
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Check certificates (and never fall back to plain HTTP).
    pub tls_verify: bool,
    /// Extra trusted certificates (CAs, or a server's own): `*.crt` and `*.pem` files in these
    /// directories.
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
        .read_timeout(Duration::from_mins(2))
        .pool_max_idle_per_host(32);
    if config.tls_verify {
        let mut dirs = config.cert_dirs.clone();
        for host in hosts {
            dirs.push(Path::new("/etc/containers/certs.d").join(host));
            dirs.push(Path::new("/etc/docker/certs.d").join(host));
        }
        builder = builder.tls_backend_preconfigured(tls_config(load_certificates(&dirs)?)?);
    } else {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| Error::Tls(e.to_string()))
}

/// The rustls configuration reqwest would make (its crypto provider, TLS 1.2 and 1.3, SNI, ALPN
/// `h2` then `http/1.1`), with [`TrustedCertificates`] as the verifier.
fn tls_config(trusted: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig, Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = TrustedCertificates::new(trusted, provider.clone()).map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn load_certificates(dirs: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, Error> {
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
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| Error::Tls(format!("{}: {e}", file.display())))?;
            out.extend(certs);
        }
    }
    Ok(out)
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

    /// Why registries of this side are unreachable, one line each (see
    /// [`RegistryClient::unreachable`]).
    #[must_use]
    pub fn unreachable(&self) -> Vec<String> {
        let clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<String> = clients.values().filter_map(RegistryClient::unreachable).collect();
        out.sort();
        out
    }

    /// The client for `registry`, made on first use.
    #[must_use]
    pub fn client(&self, registry: &str) -> RegistryClient {
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(registry.to_string())
            .or_insert_with(|| RegistryClient::new(self.http.clone(), registry, &self.config, &self.auth))
            .clone()
    }
}
