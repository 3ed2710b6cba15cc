//! Who and where: the machine defaults of the installer flags (`hostname -f`, `$USER`, `~`), the
//! `--quayHostname` grammar, and whether a target is this machine or a remote one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The port the original installer uses when `--quayHostname` names none.
pub const DEFAULT_PORT: u16 = 8443;

/// `--quayHostname` split into host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuayHostname {
    /// DNS name or IP address (without brackets).
    pub host: String,
    /// Listener port.
    pub port: u16,
}

impl QuayHostname {
    /// Parses `host`, `host:port`, `1.2.3.4:port`, `[::1]:port` or a bare IPv6 address.
    ///
    /// # Errors
    /// An empty host, a bad port, or characters no hostname has.
    pub fn parse(s: &str) -> anyhow::Result<QuayHostname> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').context("--quayHostname: missing ']' after an IPv6 address")?;
            (host, after.strip_prefix(':'))
        } else if s.parse::<IpAddr>().is_ok() {
            (s, None)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| format!("--quayHostname {s:?}: {p:?} is not a port number (1-65535)"))?,
        };
        anyhow::ensure!(
            !host.is_empty()
                && (host.parse::<IpAddr>().is_ok()
                    || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')),
            "--quayHostname {s:?}: {host:?} is not a hostname or IP address"
        );
        Ok(QuayHostname { host: host.to_ascii_lowercase(), port })
    }

    /// The host as it goes into a URL (`[::1]` for IPv6).
    #[must_use]
    pub fn url_host(&self) -> String {
        if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() }
    }

    /// The address the registry listens on: every interface, IPv6 too when the host is IPv6.
    #[must_use]
    pub fn listen_addr(&self) -> String {
        if self.host.contains(':') { format!("[::]:{}", self.port) } else { format!("0.0.0.0:{}", self.port) }
    }

    /// The IP address, when the host is one.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for QuayHostname {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.url_host(), self.port)
    }
}

/// This machine's fully qualified name (`hostname -f`), falling back to the kernel's hostname.
#[must_use]
pub fn local_hostname() -> String {
    std::process::Command::new("hostname")
        .arg("-f")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "localhost".into())
}

/// The user running this process (`$USER`, else the name of the effective uid).
#[must_use]
pub fn local_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name)
    })
}

/// `$HOME`.
///
/// # Errors
/// When it is unset.
pub fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).context("HOME is not set")
}

/// Expands a leading `~/` and makes the path absolute (units and configs need absolute paths).
///
/// # Errors
/// `~` without `$HOME`, or no current directory.
pub fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let expanded = match p.strip_prefix("~") {
        Ok(rest) => home()?.join(rest),
        Err(_) => p.to_path_buf(),
    };
    Ok(std::path::absolute(&expanded)?)
}

/// Where a command runs: here, or on another host over ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This machine, as the current user.
    Local,
    /// Another host (or another user, or an explicit ssh port).
    Remote {
        /// Host for ssh.
        host: String,
        /// ssh port, when given as `host:port`.
        port: Option<u16>,
        /// Login user.
        user: String,
    },
}

/// Decides from `-H`/`-u` where to run. A host that names this machine, without a port, and the
/// current user mean a local install; anything else goes over ssh, as the original always did.
#[must_use]
pub fn resolve(target_hostname: Option<&str>, target_username: Option<&str>) -> Target {
    let me = local_user();
    let user = target_username.map_or_else(|| me.clone(), str::to_string);
    let Some(spec) = target_hostname else {
        return if user == me { Target::Local } else { Target::Remote { host: "localhost".into(), port: None, user } };
    };
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            (h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse().ok())
        }
        _ => (spec.to_string(), None),
    };
    let fqdn = local_hostname();
    let short = fqdn.split('.').next().unwrap_or_default().to_string();
    let names_me =
        ["localhost", "127.0.0.1", "::1", fqdn.as_str(), short.as_str()].iter().any(|n| n.eq_ignore_ascii_case(&host));
    if names_me && port.is_none() && user == me { Target::Local } else { Target::Remote { host, port, user } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quay_hostname_forms() {
        let q = |s| QuayHostname::parse(s).expect(s);
        assert_eq!(q("registry.example"), QuayHostname { host: "registry.example".into(), port: 8443 });
        assert_eq!(q("Registry.Example:5000").port, 5000);
        assert_eq!(q("10.0.0.5").ip(), Some("10.0.0.5".parse().expect("ip")));
        assert_eq!(q("10.0.0.5:9000").to_string(), "10.0.0.5:9000");
        assert_eq!(q("[::1]:9000").to_string(), "[::1]:9000");
        assert_eq!(q("::1").port, 8443);
        for bad in ["", ":8443", "host:0", "host:99999", "host:x", "bad host", "a/b:1"] {
            assert!(QuayHostname::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(resolve(None, None), Target::Local);
        assert_eq!(resolve(Some("localhost"), None), Target::Local);
        assert_eq!(resolve(Some(&local_hostname()), None), Target::Local);
        assert_eq!(
            resolve(Some("127.0.0.1:2222"), None),
            Target::Remote { host: "127.0.0.1".into(), port: Some(2222), user: local_user() }
        );
        assert!(matches!(resolve(Some("bastion.example"), None), Target::Remote { port: None, .. }));
        assert!(matches!(resolve(None, Some("someone-else")), Target::Remote { .. }));
    }
}
