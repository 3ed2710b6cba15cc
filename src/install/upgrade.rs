//! `mirror-registry upgrade` on this machine: keep the install's hostname, port, paths and
//! accounts; stop, back up, replace the binary, migrate, renew expiring generated certificates,
//! render the units again, start and wait until healthy. On failure, restore and restart.

use super::backup::Backup;
use super::layout::{GC_SERVICE, GC_TIMER, Layout, Marker, SERVICE, Scope};
use super::provision::{HEALTH_TIMEOUT, copy_executable};
use super::system::{self, Host};
use super::target::QuayHostname;
use super::{certs, units};
use crate::cli::install::UpgradeArgs;
use crate::config::Config;
use crate::store::Store;

/// An install found on this machine.
pub struct Existing {
    /// Its config file.
    pub config_file: std::path::PathBuf,
    /// The config.
    pub config: Config,
    /// Its data paths.
    pub layout: Layout,
    /// Name and port clients use.
    pub quay: QuayHostname,
}

impl Existing {
    /// Loads the install whose config is `config_file`.
    ///
    /// # Errors
    /// A config that does not load.
    pub fn load(config_file: &std::path::Path) -> anyhow::Result<Existing> {
        let config = Config::load(config_file)?;
        let layout = Layout::of_config(config_file, &config);
        let port = config.listen_addr()?.port();
        let host = config.tls.hosts.first().cloned().unwrap_or_else(|| "localhost".into());
        let quay = QuayHostname { host, port };
        Ok(Existing { config_file: config_file.to_path_buf(), config, layout, quay })
    }
}

/// Runs the upgrade of `existing`.
///
/// # Errors
/// Validation failures (nothing changed), or a failed upgrade (after restoring the backup).
pub fn run(args: &UpgradeArgs, existing: &Existing, scope: Scope) -> anyhow::Result<()> {
    let layout = &existing.layout;
    if let Some(q) = &args.serve.quay_hostname
        && QuayHostname::parse(q)? != existing.quay
    {
        tracing::warn!("--quayHostname {q} ignored: upgrade keeps the installed {}", existing.quay);
    }
    for (flag, given, installed) in [
        ("--quayStorage", &args.paths.quay_storage, &layout.storage),
        ("--sqliteStorage", &args.paths.sqlite_storage, &layout.sqlite),
    ] {
        if let Some(g) = given
            && super::target::absolute(g).ok().as_ref() != Some(installed)
        {
            tracing::warn!("{flag} {} ignored: upgrade keeps the installed {}", g.display(), installed.display());
        }
    }
    let given = super::ssl_pair(&args.serve);
    if let Some((cert, key)) = given {
        certs::check_given(cert, key, &existing.quay, args.serve.ssl_check_skip)?;
    }
    let host = Host { scope };
    let binary = scope.binary()?;
    tracing::info!("stopping {SERVICE}");
    host.systemctl(&["stop", SERVICE, GC_TIMER, GC_SERVICE])?;
    let backup = match Backup::create(layout, &binary) {
        Ok(b) => b,
        Err(e) => {
            let _ = host.systemctl(&["start", SERVICE, GC_TIMER]);
            return Err(e.context("upgrade stopped before changing anything: the backup failed"));
        }
    };
    tracing::info!("backed up the database and config to {}", backup.dir.display());
    match apply(existing, given, host, &binary) {
        Ok(notes) => {
            for note in notes {
                println!("{note}");
            }
            println!(
                "mirror-registry upgraded to {} in {}; the previous state is backed up in {}",
                env!("CARGO_PKG_VERSION"),
                layout.root.display(),
                backup.dir.display()
            );
            Ok(())
        }
        Err(e) => {
            tracing::warn!("upgrade failed: {e:#}; restoring {}", backup.dir.display());
            let _ = host.systemctl(&["stop", SERVICE]);
            let restored = backup.restore(layout).and_then(|()| {
                host.systemctl(&["start", SERVICE, GC_TIMER])?;
                system::wait_healthy(&existing.quay, ca_to_trust(existing).as_deref(), HEALTH_TIMEOUT)
            });
            match restored {
                Ok(()) => Err(e.context(format!(
                    "upgrade failed; restored the database, config and binary from {} and restarted the previous version",
                    backup.dir.display()
                ))),
                Err(r) => Err(e.context(format!(
                    "upgrade failed, and restoring {} failed too ({r:#}): restore it by hand",
                    backup.dir.display()
                ))),
            }
        }
    }
}

fn ca_to_trust(existing: &Existing) -> Option<std::path::PathBuf> {
    Marker::read(&existing.layout.root)
        .is_some_and(|m| m.generated_certificates)
        .then(|| existing.layout.ca_dir().join("rootCA.pem"))
}

fn apply(
    existing: &Existing,
    given: Option<(&std::path::Path, &std::path::Path)>,
    host: Host,
    binary: &std::path::Path,
) -> anyhow::Result<Vec<String>> {
    let layout = &existing.layout;
    let mut notes = Vec::new();
    let me = std::env::current_exe()?;
    if std::fs::canonicalize(&me).ok() != std::fs::canonicalize(binary).ok() {
        tracing::info!("installing {}", binary.display());
        if let Some(dir) = binary.parent() {
            std::fs::create_dir_all(dir)?;
        }
        copy_executable(&me, binary)?;
    }
    // Opening the store runs the migrations of this (new) version.
    drop(Store::open(&existing.config)?);
    match given {
        Some((cert, key)) => {
            certs::install_given(layout, cert, key)?;
            Marker { generated_certificates: false }.write(&layout.root)?;
            notes.push(format!("installed the certificate {}", cert.display()));
        }
        None if Marker::read(&layout.root).is_some_and(|m| m.generated_certificates) => {
            notes.extend(certs::renew_if_expiring(layout)?);
        }
        None => {}
    }
    let unit_dir = host.scope.unit_dir()?;
    std::fs::create_dir_all(&unit_dir)?;
    for unit in units::render(host.scope, layout, binary) {
        std::fs::write(unit_dir.join(unit.name), unit.text)?;
    }
    host.systemctl(&["daemon-reload"])?;
    if host.selinux_enabled() {
        host.restorecon(&[binary])?;
    }
    tracing::info!("starting {SERVICE}");
    host.systemctl(&["enable", "--now", SERVICE, GC_TIMER])?;
    system::wait_healthy(&existing.quay, ca_to_trust(existing).as_deref(), HEALTH_TIMEOUT)?;
    Ok(notes)
}
