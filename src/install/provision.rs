//! `mirror-registry install` on this machine: validate everything, then lay out the data,
//! certificates, database and init user, the binary and the units, start the service and wait
//! until it is healthy. Every change is journaled in [`Undo`], and a failure takes them all back.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::layout::{GC_TIMER, Layout, MARKER, Marker, SERVICE, Scope};
use super::system::{self, Host};
use super::target::QuayHostname;
use super::undo::Undo;
use super::{certs, units};
use crate::accounts::{Role, Secret, UserName};
use crate::cli::install::InstallArgs;
use crate::config::Config;
use crate::store::Store;

/// How long `install` and `upgrade` wait for `/health/instance`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_mins(1);

/// The init password: `--initPassword`, the first stdin line with `--initPasswordStdin`, or 32
/// random characters. Checked before anything is written.
///
/// # Errors
/// A password that breaks the rule (≥ 8 characters, no whitespace), or no stdin line.
pub fn init_password(args: &InstallArgs) -> anyhow::Result<Secret> {
    let given = if args.init_password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the init password from stdin")?;
        Some(line.trim_end_matches(['\r', '\n']).to_string())
    } else {
        args.init_password.clone()
    };
    match given {
        Some(p) => Secret::password(&p).map_err(|_| {
            anyhow::anyhow!("--initPassword must be at least 8 characters long and contain no whitespace")
        }),
        None => Ok(Secret::generate(32)),
    }
}

/// What a local install needs, resolved and validated.
pub struct Plan {
    /// Data paths.
    pub layout: Layout,
    /// Name and port clients use.
    pub quay: QuayHostname,
    /// System or user units.
    pub scope: Scope,
    /// The init account.
    pub user: UserName,
    /// Its password.
    pub password: Secret,
    /// `--sslCert`/`--sslKey`, checked.
    pub given_pair: Option<(PathBuf, PathBuf)>,
}

/// Refuses a second install, then checks ports, certificates and directories, writing nothing.
///
/// # Errors
/// The first problem found, as one line.
pub fn validate(plan: &Plan, ssl_check_skip: bool) -> anyhow::Result<()> {
    let layout = &plan.layout;
    super::refuse_foreign(layout)?;
    if layout.config_file().exists() || Marker::read(&layout.root).is_some() {
        anyhow::bail!(
            "mirror-registry is already installed in {} (its config is {}): run `mirror-registry upgrade` to update it, or `mirror-registry uninstall` first",
            layout.root.display(),
            layout.config_file().display()
        );
    }
    let unit = plan.scope.unit_dir()?.join(SERVICE);
    if unit.exists() {
        let other = std::fs::read_to_string(&unit).ok().and_then(|t| units::config_of_unit(&t));
        anyhow::bail!(
            "a mirror-registry service is already installed ({}, config {}): run `mirror-registry upgrade` or `mirror-registry uninstall` first",
            unit.display(),
            other.map_or_else(|| "unknown".into(), |p| p.display().to_string())
        );
    }
    let listen = plan.quay.listen_addr();
    std::net::TcpListener::bind(&listen).map_err(|e| {
        anyhow::anyhow!(
            "port {} is not free ({listen}: {e}); choose another with --quayHostname {}:PORT",
            plan.quay.port,
            plan.quay.url_host()
        )
    })?;
    if let Some((cert, key)) = &plan.given_pair {
        certs::check_given(cert, key, &plan.quay, ssl_check_skip)?;
    }
    for dir in [&layout.root, &layout.storage, &layout.sqlite] {
        check_empty_or_absent(dir)?;
    }
    for dir in [layout.root.clone(), layout.storage.clone(), layout.sqlite.clone(), plan.scope.unit_dir()?] {
        check_writable(&dir)?;
    }
    if let Some(bin_dir) = plan.scope.binary()?.parent() {
        check_writable(bin_dir)?;
    }
    Ok(())
}

fn check_empty_or_absent(dir: &Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let other = entries.filter_map(Result::ok).find(|e| e.file_name() != "lost+found");
    anyhow::ensure!(
        other.is_none(),
        "{} exists and is not empty: install into a new or empty directory (found {})",
        dir.display(),
        other.map(|e| e.file_name()).unwrap_or_default().display()
    );
    Ok(())
}

/// The nearest existing ancestor must be a writable directory.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let existing = dir.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
    anyhow::ensure!(existing.is_dir(), "{} is not a directory (needed for {})", existing.display(), dir.display());
    nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {} is not writable ({e})", dir.display(), existing.display()))
}

/// Runs the install; on failure every change is rolled back before the error is returned.
///
/// # Errors
/// The step that failed.
pub fn run(plan: &Plan) -> anyhow::Result<()> {
    let host = Host { scope: plan.scope };
    let mut undo = Undo::new(host);
    match provision(plan, host, &mut undo) {
        Ok(()) => {
            undo.commit();
            Ok(())
        }
        Err(e) => {
            tracing::warn!("install failed, rolling back: {e:#}");
            undo.roll_back();
            Err(e.context("install failed; what it had created has been removed"))
        }
    }
}

fn provision(plan: &Plan, host: Host, undo: &mut Undo) -> anyhow::Result<()> {
    let layout = &plan.layout;
    tracing::info!("laying out {}", layout.root.display());
    for dir in [&layout.root, &layout.storage, &layout.sqlite] {
        undo.create_dir(dir)?;
        undo.empty_on_undo(dir);
    }
    // Blobs and the database are the service user's alone: read only through the registry.
    for dir in [&layout.storage, &layout.sqlite] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(crate::store::permissions::DIR_MODE))
            .with_context(|| format!("making {} owner-only", dir.display()))?;
    }
    undo.create_dir(&layout.config_dir())?;
    undo.create_dir(&layout.ca_dir())?;
    let marker = Marker { generated_certificates: plan.given_pair.is_none() };
    for dir in [&layout.root, &layout.storage, &layout.sqlite] {
        if !dir.join(MARKER).exists() {
            marker.write(dir)?;
        }
    }

    if let Some((cert, key)) = &plan.given_pair {
        certs::install_given(layout, cert, key)?;
    } else {
        tracing::info!("generating a root CA and a server certificate for {}", plan.quay.host);
        certs::generate(layout, &plan.quay)?;
    }
    std::fs::write(layout.config_file(), layout.render_config(&plan.quay, plan.user.as_str()))
        .with_context(|| format!("writing {}", layout.config_file().display()))?;
    let config = Config::load(&layout.config_file())?;

    tracing::info!("creating the database {} and the user {}", layout.database().display(), plan.user);
    create_database(&config, &plan.user, &plan.password)?;

    let binary = plan.scope.binary()?;
    install_binary(&binary, undo)?;
    if host.selinux_enabled() {
        host.restorecon(&[&layout.root, &layout.storage, &layout.sqlite, &binary])?;
    }

    let unit_dir = plan.scope.unit_dir()?;
    undo.create_dir(&unit_dir)?;
    undo.daemon_reload();
    for unit in units::render(plan.scope, layout, &binary) {
        let path = unit_dir.join(unit.name);
        undo.will_write(&path)?;
        std::fs::write(&path, unit.text).with_context(|| format!("writing {}", path.display()))?;
    }
    if plan.scope == Scope::User {
        // Lingering first: it starts the user's systemd instance when no login session has one
        // (an install through `su` or a non-interactive ssh), which daemon-reload then needs.
        let user = super::target::local_user();
        if let Err(e) = host.linger(&user, true) {
            tracing::warn!(
                "{e:#}: the registry will stop when {user} logs out; run `sudo loginctl enable-linger {user}` to keep it running"
            );
        }
    }
    host.user_manager_ready();
    host.systemctl(&["daemon-reload"])?;
    tracing::info!("starting {SERVICE} and {GC_TIMER}");
    undo.enabled(vec![SERVICE, GC_TIMER]);
    host.systemctl(&["enable", "--now", SERVICE, GC_TIMER])?;
    if host.firewalld_running() {
        tracing::info!("opening port {}/tcp in firewalld", plan.quay.port);
        undo.port(plan.quay.port);
        host.firewall_port(plan.quay.port, true)?;
    }
    let ca = layout.ca_dir().join("rootCA.pem");
    system::wait_healthy(&plan.quay, plan.given_pair.is_none().then_some(ca.as_path()), HEALTH_TIMEOUT)
}

/// Creates the database (running the migrations) and the init admin.
///
/// # Errors
/// Database failures.
pub fn create_database(config: &Config, user: &UserName, password: &Secret) -> anyhow::Result<()> {
    let store = Store::open(config)?;
    let hash = crate::auth::password::hash(password).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(store.create_user(user, hash, Role::Admin, false))?;
    Ok(())
}

/// Copies this executable to `binary` (atomically; a running old copy keeps its inode), unless
/// it already is that file.
///
/// # Errors
/// I/O.
pub fn install_binary(binary: &Path, undo: &mut Undo) -> anyhow::Result<()> {
    let me = std::env::current_exe().context("locating this executable")?;
    if std::fs::canonicalize(&me).ok() == std::fs::canonicalize(binary).ok() {
        return Ok(());
    }
    if let Some(dir) = binary.parent() {
        undo.create_dir(dir)?;
    }
    undo.will_write(binary)?;
    copy_executable(&me, binary)
}

/// Copies an executable into place through a temp file and a rename.
///
/// # Errors
/// I/O.
pub fn copy_executable(from: &Path, to: &Path) -> anyhow::Result<()> {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, to).with_context(|| format!("installing {}", to.display()))?;
    Ok(())
}
