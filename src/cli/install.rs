//! Flags of `install`, `upgrade` and `uninstall`: the names, short forms and defaults of the
//! Red Hat "mirror registry for Red Hat OpenShift", so existing runbooks and scripts work unchanged.
//! Defaults that depend on the machine (hostname, user, home) are filled in by `install::target`.

use std::path::PathBuf;

/// Flags every installer command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Say what is done, step by step (commands run, files written).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Plain output without colours.
    #[arg(short = 'c', long = "no-color")]
    pub no_color: bool,
}

/// Where to install: this machine, or another one over ssh.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Host to install on [default: this machine's `hostname -f`]. Another host (or a port, as
    /// host:port) means a remote install over ssh with this same binary.
    #[arg(short = 'H', long = "targetHostname", value_name = "HOST")]
    pub target_hostname: Option<String>,
    /// User to install as [default: $USER]. Another user means an install over ssh.
    #[arg(short = 'u', long = "targetUsername", value_name = "USER")]
    pub target_username: Option<String>,
    /// Private key for ssh to the target [default: ~/.ssh/quay_installer, when it exists].
    #[arg(short = 'k', long = "ssh-key", value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
}

/// Paths of the install.
#[derive(Debug, Clone, clap::Args)]
pub struct PathArgs {
    /// Directory holding the config, certificates and (by default) all data [default: ~/quay-install].
    #[arg(short = 'r', long = "quayRoot", value_name = "DIR")]
    pub quay_root: Option<PathBuf>,
    /// Blob storage directory [default: <quayRoot>/quay-storage].
    #[arg(long = "quayStorage", value_name = "DIR")]
    pub quay_storage: Option<PathBuf>,
    /// Directory of the SQLite database [default: <quayRoot>/sqlite-storage].
    #[arg(long = "sqliteStorage", value_name = "DIR")]
    pub sqlite_storage: Option<PathBuf>,
}

/// Flags of `install` and `upgrade` about serving and certificates.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeTargetArgs {
    /// Name (and port) clients use to reach the registry [default: <targetHostname>:8443]; :8443
    /// is added when no port is given. An IP address works too (it goes into an IP SAN).
    #[arg(long = "quayHostname", value_name = "HOST[:PORT]")]
    pub quay_hostname: Option<String>,
    /// Server certificate (PEM; leaf first, then intermediates) instead of a generated one.
    #[arg(long = "sslCert", value_name = "FILE", requires = "ssl_key")]
    pub ssl_cert: Option<PathBuf>,
    /// Private key of --sslCert.
    #[arg(long = "sslKey", value_name = "FILE", requires = "ssl_cert")]
    pub ssl_key: Option<PathBuf>,
    /// Do not check that --sslCert names the host of --quayHostname.
    #[arg(long = "sslCheckSkip")]
    pub ssl_check_skip: bool,
    /// Accepted for compatibility; has no effect (there are no container images to load).
    #[arg(short = 'i', long = "image-archive", value_name = "FILE", hide = true)]
    pub image_archive: Option<PathBuf>,
    /// Accepted for compatibility; has no effect (nothing asks for a become password).
    #[arg(long = "askBecomePass", hide = true)]
    pub ask_become_pass: bool,
    /// Accepted for compatibility; has no effect (there is no ansible to pass arguments to).
    #[arg(long = "additionalArgs", value_name = "ARGS", hide = true, allow_hyphen_values = true)]
    pub additional_args: Option<String>,
}

/// `mirror-registry install`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub serve: ServeTargetArgs,
    /// Name of the first (admin) account.
    #[arg(long = "initUser", value_name = "NAME", default_value = "init")]
    pub init_user: String,
    /// Its password: at least 8 characters, no whitespace [default: 32 random characters].
    /// Prefer --initPasswordStdin: a password in the argument list is visible to `ps`.
    #[arg(long = "initPassword", value_name = "PASSWORD", conflicts_with = "init_password_stdin")]
    pub init_password: Option<String>,
    /// Read the init password from the first line of stdin (how remote installs pass it on).
    #[arg(long = "initPasswordStdin")]
    pub init_password_stdin: bool,
}

/// `mirror-registry upgrade`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(flatten)]
    pub serve: ServeTargetArgs,
}

/// `mirror-registry uninstall`.
#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub paths: PathArgs,
    /// Delete the data without asking.
    #[arg(long = "autoApprove")]
    pub auto_approve: bool,
}
