//! `install`, `upgrade` and `uninstall`: provision and maintain the appliance on this machine,
//! or on another one over ssh, with the flags of the Red Hat mirror registry installer.
//!
//! - [`target`]: machine defaults, `--quayHostname`, local or remote
//! - [`layout`]: data paths, binary and unit locations, markers, the config file
//! - [`certs`]: checking, generating and renewing certificates
//! - [`units`]: systemd units rendered from `systemd/*.in`
//! - [`system`]: the seam to systemctl, loginctl, firewall-cmd, SELinux tools; the health wait
//! - [`undo`]: the journal that rolls back a failed install
//! - [`backup`]: upgrade's backup and restore
//! - [`provision`], [`upgrade`], [`uninstall`]: the three commands on this machine
//! - [`remote`]: the same commands on another machine

pub mod backup;
pub mod certs;
pub mod layout;
pub mod provision;
pub mod remote;
pub mod system;
pub mod target;
pub mod undo;
pub mod uninstall;
pub mod units;
pub mod upgrade;

use std::path::Path;

use anyhow::Context;

use crate::accounts::UserName;
use crate::cli::install::{CommonArgs, InstallArgs, PathArgs, ServeTargetArgs, TargetArgs, UninstallArgs, UpgradeArgs};
use layout::{Layout, Scope};
use target::{QuayHostname, Target};

fn init_logging(common: &CommonArgs) {
    use std::io::IsTerminal;
    let level = if common.verbose { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::new(format!("mirror_registry={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!common.no_color && std::io::stderr().is_terminal())
        .without_time()
        .with_target(false)
        .try_init();
}

fn warn_ignored(serve: &ServeTargetArgs) {
    for (given, flag) in [
        (serve.image_archive.is_some(), "--image-archive"),
        (serve.ask_become_pass, "--askBecomePass"),
        (serve.additional_args.is_some(), "--additionalArgs"),
    ] {
        if given {
            tracing::warn!("{flag} has no effect: this installer needs no images, become password or ansible");
        }
    }
}

/// `--sslCert`/`--sslKey` when both are given (clap refuses one without the other).
fn ssl_pair(serve: &ServeTargetArgs) -> Option<(&Path, &Path)> {
    serve.ssl_cert.as_deref().zip(serve.ssl_key.as_deref())
}

/// The certificate files a remote command needs copied along, with the flags that name them.
fn ssl_files(serve: &ServeTargetArgs) -> Vec<(&Path, &str)> {
    ssl_pair(serve).map(|(c, k)| vec![(c, "--sslCert"), (k, "--sslKey")]).unwrap_or_default()
}

fn remote_of(target: &TargetArgs) -> anyhow::Result<Option<remote::Remote>> {
    match target::resolve(target.target_hostname.as_deref(), target.target_username.as_deref()) {
        Target::Local => Ok(None),
        Target::Remote { host, port, user } => {
            Ok(Some(remote::Remote::new(host, port, user, target.ssh_key.as_deref())?))
        }
    }
}

/// Flags passed on to the same command on a remote target.
fn common_flags(common: &CommonArgs, paths: &PathArgs) -> Vec<String> {
    let mut args = Vec::new();
    if common.verbose {
        args.push("-v".into());
    }
    if common.no_color {
        args.push("--no-color".into());
    }
    for (value, flag) in [
        (&paths.quay_root, "--quayRoot"),
        (&paths.quay_storage, "--quayStorage"),
        (&paths.sqlite_storage, "--sqliteStorage"),
    ] {
        if let Some(v) = value {
            args.extend([flag.to_string(), v.display().to_string()]);
        }
    }
    args
}

/// `mirror-registry install`.
///
/// # Errors
/// Validation failures (nothing written) or a failed install (rolled back).
pub fn install(args: &InstallArgs) -> anyhow::Result<()> {
    init_logging(&args.common);
    warn_ignored(&args.serve);
    let user: UserName = args.init_user.parse().map_err(|e| anyhow::anyhow!("--initUser {:?}: {e}", args.init_user))?;
    let password = provision::init_password(args)?;
    let explicit_password = args.init_password.is_some() || args.init_password_stdin;
    if let Some(remote) = remote_of(&args.target)? {
        let quay =
            args.serve.quay_hostname.clone().unwrap_or_else(|| format!("{}:{}", remote.host, target::DEFAULT_PORT));
        let mut flags = vec!["install".to_string()];
        flags.extend(common_flags(&args.common, &args.paths));
        flags.extend(["--quayHostname".into(), quay, "--initUser".into(), args.init_user.clone()]);
        if args.serve.ssl_check_skip {
            flags.push("--sslCheckSkip".into());
        }
        if explicit_password {
            flags.push("--initPasswordStdin".into());
        }
        return remote.run(&flags, &ssl_files(&args.serve), explicit_password.then_some(&password));
    }
    let hostname = args.target.target_hostname.clone().unwrap_or_else(target::local_hostname);
    let quay = QuayHostname::parse(
        &args.serve.quay_hostname.clone().unwrap_or_else(|| format!("{hostname}:{}", target::DEFAULT_PORT)),
    )?;
    let layout = Layout::resolve(
        args.paths.quay_root.as_deref(),
        args.paths.quay_storage.as_deref(),
        args.paths.sqlite_storage.as_deref(),
    )?;
    let given_pair = match ssl_pair(&args.serve) {
        Some((c, k)) => Some((target::absolute(c)?, target::absolute(k)?)),
        None => None,
    };
    let plan = provision::Plan { layout, quay, scope: Scope::current(), user, password, given_pair };
    provision::validate(&plan, args.serve.ssl_check_skip)?;
    provision::run(&plan)?;
    // The original installer's lines, which scripts parse.
    println!("Quay installed successfully, config data is stored in {}", plan.layout.root.display());
    println!("Quay is available at https://{} with credentials ({}, {})", plan.quay, plan.user, plan.password.expose());
    if plan.given_pair.is_none() {
        println!(
            "Clients trust it with: sudo mkdir -p /etc/containers/certs.d/{q} && sudo cp {ca} /etc/containers/certs.d/{q}/ca.crt",
            q = plan.quay,
            ca = plan.layout.ca_dir().join("rootCA.pem").display()
        );
    }
    Ok(())
}

/// Refuses a quayRoot holding a config this installer did not write (no marker): most likely
/// the Quay-based Red Hat mirror registry, whose config.yaml is another format entirely.
fn refuse_foreign(layout: &Layout) -> anyhow::Result<()> {
    if layout.config_file().exists() && layout::Marker::read(&layout.root).is_none() {
        anyhow::bail!(
            "{} holds an install this installer did not make (no {} marker; the Quay-based mirror registry?): remove it with the tool that made it, or use another --quayRoot (`mirror-registry mirror` can copy its images over)",
            layout.root.display(),
            layout::MARKER
        );
    }
    Ok(())
}

/// Finds and loads an existing install: `<quayRoot>/quay-config/config.yaml`, else the config
/// the installed service unit runs with. One this installer did not make is refused.
fn find_existing(quay_root: Option<&Path>, scope: Scope) -> anyhow::Result<Option<upgrade::Existing>> {
    let mut config_file = Some(Layout::resolve(quay_root, None, None)?.config_file()).filter(|c| c.exists());
    if config_file.is_none() && quay_root.is_none() {
        let unit = scope.unit_dir()?.join(layout::SERVICE);
        config_file =
            std::fs::read_to_string(&unit).ok().and_then(|t| units::config_of_unit(&t)).filter(|c| c.exists());
    }
    let Some(config_file) = config_file else { return Ok(None) };
    if let Some(root) = config_file.parent().and_then(Path::parent) {
        refuse_foreign(&Layout::resolve(Some(root), None, None)?)?;
    }
    upgrade::Existing::load(&config_file).map(Some)
}

/// `mirror-registry upgrade`.
///
/// # Errors
/// No install found, validation failures, or a failed upgrade (after restoring its backup).
pub fn upgrade(args: &UpgradeArgs) -> anyhow::Result<()> {
    init_logging(&args.common);
    warn_ignored(&args.serve);
    if let Some(remote) = remote_of(&args.target)? {
        let mut flags = vec!["upgrade".to_string()];
        flags.extend(common_flags(&args.common, &args.paths));
        if let Some(q) = &args.serve.quay_hostname {
            flags.extend(["--quayHostname".into(), q.clone()]);
        }
        if args.serve.ssl_check_skip {
            flags.push("--sslCheckSkip".into());
        }
        return remote.run(&flags, &ssl_files(&args.serve), None);
    }
    let scope = Scope::current();
    let existing = find_existing(args.paths.quay_root.as_deref(), scope)?.with_context(|| {
        format!(
            "no mirror-registry install found (no {} and no installed {}): run `mirror-registry install`",
            Layout::resolve(args.paths.quay_root.as_deref(), None, None)
                .map(|l| l.config_file().display().to_string())
                .unwrap_or_default(),
            layout::SERVICE
        )
    })?;
    upgrade::run(args, &existing, scope)
}

/// `mirror-registry uninstall`.
///
/// # Errors
/// Nothing to uninstall, no answer to the prompt, or a step that failed.
pub fn uninstall(args: &UninstallArgs) -> anyhow::Result<()> {
    init_logging(&args.common);
    if let Some(remote) = remote_of(&args.target)? {
        let mut flags = vec!["uninstall".to_string()];
        flags.extend(common_flags(&args.common, &args.paths));
        if args.auto_approve {
            flags.push("--autoApprove".into());
        }
        return remote.run(&flags, &[], None);
    }
    let scope = Scope::current();
    let (mut layout, port) = match find_existing(args.paths.quay_root.as_deref(), scope)? {
        Some(existing) => (existing.layout, Some(existing.quay.port)),
        None => (Layout::resolve(args.paths.quay_root.as_deref(), None, None)?, None),
    };
    if let Some(s) = &args.paths.quay_storage {
        layout.storage = target::absolute(s)?;
    }
    if let Some(s) = &args.paths.sqlite_storage {
        layout.sqlite = target::absolute(s)?;
    }
    let unit_exists = scope.unit_dir()?.join(layout::SERVICE).exists();
    anyhow::ensure!(
        unit_exists || layout.root.exists(),
        "no mirror-registry install found: {} does not exist and no {} is installed",
        layout.root.display(),
        layout::SERVICE
    );
    let approved = args.auto_approve
        || uninstall::ask(
            &uninstall::prompt(&layout.root),
            &mut std::io::stdin().lock(),
            &mut std::io::stdout().lock(),
        )?;
    uninstall::run(&layout, scope, port, approved)?;
    println!("Quay uninstalled successfully");
    Ok(())
}
