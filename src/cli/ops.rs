//! Clap definitions of the operator commands `gc`, `status`, `fsck` and `migrate-storage`.

use std::path::PathBuf;

use clap::Args;

/// Which registry: the same `--config` / `--data-dir` resolution as `serve`.
#[derive(Debug, Args)]
pub struct Target {
    /// Config file of the registry.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the registry (as given to `serve --data-dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `mirror-registry gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// The registry.
    #[command(flatten)]
    pub target: Target,
    /// Report what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep unreferenced blobs touched within this time (default: gc.grace_period, 1h).
    #[arg(long, value_name = "DURATION")]
    pub grace_period: Option<crate::duration::HumanDuration>,
}

/// `mirror-registry status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The registry.
    #[command(flatten)]
    pub target: Target,
}

/// `mirror-registry fsck`.
#[derive(Debug, Args)]
pub struct FsckArgs {
    /// The registry.
    #[command(flatten)]
    pub target: Target,
    /// Quarantine corrupt blobs, forget rows whose file is missing, delete files with no row.
    #[arg(long)]
    pub repair: bool,
}

/// `mirror-registry migrate-storage`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The registry to copy from (left unchanged).
    #[command(flatten)]
    pub target: Target,
    /// Config file of the destination: where its metadata and blobs go.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}
