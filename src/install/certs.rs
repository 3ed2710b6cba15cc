//! The appliance's certificates: checking a pair the operator brings, generating a CA and a
//! server certificate when they bring none, and renewing generated ones before they expire.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::layout::Layout;
use super::target::QuayHostname;
use crate::tls::{self, PemPair};

/// Generated certificates are renewed by `upgrade` when they expire within this long.
pub const RENEW_BEFORE: Duration = Duration::from_hours(30 * 24);

/// Checks `--sslCert`/`--sslKey`: both load, belong together, have not expired, and (unless
/// `skip_name_check`) name the host clients will use.
///
/// # Errors
/// A one-line reason naming the file.
pub fn check_given(cert: &Path, key: &Path, quay: &QuayHostname, skip_name_check: bool) -> anyhow::Result<()> {
    tls::load_certified_key(cert, key)?;
    let (names, expires) = tls::describe_cert(cert)?;
    anyhow::ensure!(expires > SystemTime::now(), "--sslCert {} has expired", cert.display());
    anyhow::ensure!(
        skip_name_check || tls::names_cover(&names, &quay.host),
        "--sslCert {} is for {} but --quayHostname is {}; use a certificate for that name, or pass --sslCheckSkip",
        cert.display(),
        if names.is_empty() { "no name (it has no subjectAltName)".to_string() } else { names.join(", ") },
        quay.host
    );
    Ok(())
}

/// Copies the operator's pair into `quay-config/` (the key 0600).
///
/// # Errors
/// I/O.
pub fn install_given(layout: &Layout, cert: &Path, key: &Path) -> anyhow::Result<()> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    tls::write_public(&layout.cert(), &read(cert)?)?;
    tls::write_private(&layout.key(), &read(key)?)?;
    Ok(())
}

/// The names a generated server certificate covers: the host of `--quayHostname` and localhost
/// (an IP host becomes an IP SAN).
#[must_use]
pub fn hosts(quay: &QuayHostname) -> Vec<String> {
    let mut hosts = vec![quay.host.clone()];
    if quay.host != "localhost" {
        hosts.push("localhost".into());
    }
    hosts
}

/// Generates a root CA in `quay-rootCA/` and a server certificate signed by it in `quay-config/`.
///
/// # Errors
/// Generation or I/O failures.
pub fn generate(layout: &Layout, quay: &QuayHostname) -> anyhow::Result<()> {
    let ca = tls::generate_ca()?;
    tls::write_private(&layout.ca_dir().join("rootCA.key"), ca.key.as_bytes())?;
    tls::write_public(&layout.ca_dir().join("rootCA.pem"), ca.cert.as_bytes())?;
    write_server(layout, &ca, &hosts(quay))
}

fn write_server(layout: &Layout, ca: &PemPair, hosts: &[String]) -> anyhow::Result<()> {
    let server = tls::issue_server_cert(ca, hosts)?;
    tls::write_private(&layout.key(), server.key.as_bytes())?;
    tls::write_public(&layout.cert(), server.cert.as_bytes())?;
    Ok(())
}

/// Renews generated certificates that expire within [`RENEW_BEFORE`]: the server certificate
/// (same names) and, when it expires too, the CA. Returns what it did, for the operator.
///
/// # Errors
/// Unreadable files or generation failures.
pub fn renew_if_expiring(layout: &Layout) -> anyhow::Result<Option<String>> {
    let soon = SystemTime::now() + RENEW_BEFORE;
    let (names, expires) = tls::describe_cert(&layout.cert())?;
    let ca_pem = layout.ca_dir().join("rootCA.pem");
    let ca_key = layout.ca_dir().join("rootCA.key");
    let (_, ca_expires) = tls::describe_cert(&ca_pem)?;
    if expires > soon && ca_expires > soon {
        return Ok(None);
    }
    if ca_expires <= soon {
        let ca = tls::generate_ca()?;
        tls::write_private(&ca_key, ca.key.as_bytes())?;
        tls::write_public(&ca_pem, ca.cert.as_bytes())?;
        write_server(layout, &ca, &names)?;
        return Ok(Some(format!(
            "renewed the expiring root CA and server certificate: clients must trust the new {}",
            ca_pem.display()
        )));
    }
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let ca = PemPair { cert: read(&ca_pem)?, key: read(&ca_key)? };
    write_server(layout, &ca, &names)?;
    Ok(Some(format!("renewed the server certificate {} (it expired within 30 days)", layout.cert().display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_hostname_becomes_an_ip_san_and_renewal_keeps_the_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::resolve(Some(dir.path()), None, None).expect("layout");
        let quay = QuayHostname::parse("10.1.2.3:8443").expect("host");
        generate(&layout, &quay).expect("generate");
        let (names, _) = tls::describe_cert(&layout.cert()).expect("describe");
        assert_eq!(names, vec!["10.1.2.3".to_string(), "localhost".into()]);
        check_given(&layout.cert(), &layout.key(), &quay, false).expect("the generated pair passes the check");
        let other = QuayHostname::parse("registry.example").expect("host");
        assert!(check_given(&layout.cert(), &layout.key(), &other, false).is_err());
        check_given(&layout.cert(), &layout.key(), &other, true).expect("--sslCheckSkip");
        assert_eq!(renew_if_expiring(&layout).expect("renew"), None, "a fresh certificate is kept");
    }
}
