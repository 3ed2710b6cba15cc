//! The one seam between the installer and the host's service managers: every `systemctl`,
//! `loginctl`, `firewall-cmd`, `selinuxenabled` and `restorecon` call goes through [`Host`],
//! found on `PATH` (tests put recording stubs first on `PATH`). Also the health wait.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::layout::Scope;
use super::target::QuayHostname;

/// Runs the host tools for one scope (user units add `--user`).
#[derive(Debug, Clone, Copy)]
pub struct Host {
    /// System or user units.
    pub scope: Scope,
}

impl Host {
    fn run(tool: &str, args: &[&str]) -> std::io::Result<Output> {
        tracing::debug!("running: {tool} {}", args.join(" "));
        let mut cmd = Command::new(tool);
        cmd.args(args).stdin(Stdio::null());
        // `systemctl --user` finds the user's manager through XDG_RUNTIME_DIR, which `su` and
        // `sudo -u` do not set.
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            cmd.env("XDG_RUNTIME_DIR", user_runtime_dir());
        }
        cmd.output()
    }

    /// For user units: waits (up to 10 s) for the user's systemd instance that lingering has
    /// just started. A no-op for system units, on machines not booted with systemd, and when
    /// the runtime directory does not exist (systemctl will then say what is wrong).
    pub fn user_manager_ready(&self) {
        // sd_booted(): without systemd as init there is no user manager to wait for.
        if self.scope == Scope::System || !Path::new("/run/systemd/system").exists() {
            return;
        }
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(user_runtime_dir, std::path::PathBuf::from);
        if !runtime.exists() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !runtime.join("systemd/private").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `systemctl [--user] ARGS`, failing with its stderr when it fails.
    ///
    /// # Errors
    /// No systemctl, or a non-zero exit.
    pub fn systemctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = Vec::with_capacity(args.len() + 1);
        if self.scope == Scope::User {
            all.push("--user");
        }
        all.extend_from_slice(args);
        let out = Self::run("systemctl", &all).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "systemctl not found: the installer needs systemd (run `mirror-registry serve` by hand instead)"
                )
            } else {
                anyhow::anyhow!("running systemctl: {e}")
            }
        })?;
        anyhow::ensure!(
            out.status.success(),
            "`systemctl {}` failed ({}): {}",
            all.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// `loginctl enable-linger|disable-linger USER`, so user units run without a login session.
    ///
    /// # Errors
    /// When loginctl fails.
    pub fn linger(&self, user: &str, enable: bool) -> anyhow::Result<()> {
        let verb = if enable { "enable-linger" } else { "disable-linger" };
        let out = Self::run("loginctl", &[verb, user]).with_context(|| format!("running loginctl {verb}"))?;
        anyhow::ensure!(
            out.status.success(),
            "`loginctl {verb} {user}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// Whether firewalld runs (`firewall-cmd --state`); false when it is not installed.
    #[must_use]
    pub fn firewalld_running(&self) -> bool {
        Self::run("firewall-cmd", &["--state"]).is_ok_and(|o| o.status.success())
    }

    /// Opens or closes `port/tcp` permanently and in the running firewall.
    ///
    /// # Errors
    /// When firewall-cmd fails.
    pub fn firewall_port(&self, port: u16, open: bool) -> anyhow::Result<()> {
        let flag = format!("--{}-port={port}/tcp", if open { "add" } else { "remove" });
        for args in [vec!["--permanent", flag.as_str()], vec![flag.as_str()]] {
            let out = Self::run("firewall-cmd", &args).context("running firewall-cmd")?;
            anyhow::ensure!(
                out.status.success(),
                "`firewall-cmd {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Whether SELinux is on (`selinuxenabled`); false when the tool is absent.
    #[must_use]
    pub fn selinux_enabled(&self) -> bool {
        Self::run("selinuxenabled", &[]).is_ok_and(|o| o.status.success())
    }

    /// Gives `paths` the default SELinux labels of their location (a binary copied from a home
    /// directory would otherwise keep a label systemd may not execute).
    ///
    /// # Errors
    /// When restorecon fails.
    pub fn restorecon(&self, paths: &[&Path]) -> anyhow::Result<()> {
        let mut args = vec!["-R".to_string()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = Self::run("restorecon", &args).context("running restorecon")?;
        anyhow::ensure!(out.status.success(), "restorecon failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(())
    }
}

fn user_runtime_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/run/user/{}", nix::unistd::geteuid()))
}

/// Waits until `https://<quay>/health/instance` answers 200 on this machine, trusting `ca`
/// (or, for certificates the operator brought, any certificate: this checks the service, the
/// operator's PKI is theirs).
///
/// # Errors
/// When it does not answer within `timeout`; the last failure is in the message.
pub fn wait_healthy(quay: &QuayHostname, ca: Option<&Path>, timeout: Duration) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let loopback: SocketAddr = if quay.host.contains(':') {
            ([0u16, 0, 0, 0, 0, 0, 0, 1], quay.port).into()
        } else {
            ([127, 0, 0, 1], quay.port).into()
        };
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
        if quay.ip().is_none() {
            builder = builder.resolve(&quay.host, loopback);
        }
        builder = match ca {
            Some(ca) => {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(&pem)?)
            }
            None => builder.danger_accept_invalid_certs(true),
        };
        let client = builder.build()?;
        let url = format!("https://{quay}/health/instance");
        let deadline = Instant::now() + timeout;
        loop {
            let last = match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("HTTP {}", r.status()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                anyhow::bail!("the registry did not become healthy at {url} within {timeout:?} (last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}
