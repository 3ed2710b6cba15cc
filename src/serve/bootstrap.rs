//! First start: make what a new appliance lacks — a CA and server certificate, and an admin
//! with a random password — and say so once on stdout.

use std::net::IpAddr;

use anyhow::Context;

use crate::accounts::{Role, Secret, UserName};
use crate::auth::password;
use crate::config::Config;
use crate::store::Store;
use crate::tls;

/// Names a generated certificate covers: configured hosts, this machine's hostname, loopback,
/// and the listen address when it is a specific IP.
#[must_use]
pub fn certificate_hosts(config: &Config) -> Vec<String> {
    let mut hosts = config.tls.hosts.clone();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            hosts.push(h.to_string());
        }
    }
    hosts.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    if let Ok(addr) = config.listen_addr()
        && !addr.ip().is_unspecified()
        && !addr.ip().is_loopback()
    {
        hosts.push(addr.ip().to_string());
    }
    hosts.retain(|h| !h.is_empty());
    hosts.dedup();
    hosts
}

/// Generates the CA and server certificate when TLS is on, generation is allowed and both
/// files are missing. Returns a line to print when it generated.
///
/// # Errors
/// Unwritable paths, half a pair, rcgen failures.
pub fn ensure_certificate(config: &Config) -> anyhow::Result<Option<String>> {
    if config.insecure_http {
        return Ok(None);
    }
    let (cert, key) = (&config.tls.cert, &config.tls.key);
    if !config.tls.generate {
        anyhow::ensure!(
            cert.exists() && key.exists(),
            "TLS certificate {} or key {} is missing (set tls.generate: true to create them, or use --insecure-http)",
            cert.display(),
            key.display()
        );
        return Ok(None);
    }
    let hosts = certificate_hosts(config);
    if !tls::ensure_server_cert(cert, key, &config.tls.ca_dir, &hosts)? {
        return Ok(None);
    }
    Ok(Some(format!(
        "generated CA {} and server certificate {} for {}",
        super::absolute(&config.tls.ca_dir.join("rootCA.pem")),
        super::absolute(cert),
        hosts.join(", ")
    )))
}

/// Creates the initial admin with a random password when auth is on and there is no account.
/// Returns the name and password, to be shown once.
///
/// # Errors
/// Database failures.
pub async fn ensure_init_user(config: &Config, store: &Store) -> anyhow::Result<Option<(UserName, Secret)>> {
    if !config.auth.enabled || !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let name: UserName = config.auth.init_user.parse().context("auth.init_user")?;
    let secret = Secret::generate(32);
    let hash = password::hash(&secret).map_err(anyhow::Error::msg)?;
    store.create_user(&name, hash, Role::Admin, false).await?;
    Ok(Some((name, secret)))
}

/// Whether `ip` is a loopback address (auth may be off only there).
#[must_use]
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.is_loopback()
}
