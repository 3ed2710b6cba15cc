//! Command-line definition of `mirror-registry mirror` (and of the binary invoked as
//! `oc-mirror`), flag-compatible with `oc-mirror --v2`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// Mirror an image set: registry to registry, registry to disk, or disk to registry.
///
///   mirror -c isc.yaml file://DIR                                 mirror to disk
///   mirror -c isc.yaml --from file://DIR docker://REG[/ns]        disk to mirror
///   mirror -c isc.yaml --workspace file://DIR docker://REG[/ns]   mirror to mirror
#[derive(Debug, Clone, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // one field per oc-mirror flag, as oc-mirror spells them
pub struct MirrorArgs {
    /// ImageSetConfiguration file (mirror.openshift.io/v2alpha1).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where the archives are (disk to mirror): file://DIR.
    #[arg(long, value_name = "file://DIR")]
    pub from: Option<String>,
    /// Working directory of a mirror-to-mirror run: file://DIR.
    #[arg(long, value_name = "file://DIR")]
    pub workspace: Option<String>,
    /// file://DIR (mirror to disk) or docker://REGISTRY[/NAMESPACE].
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// Write the mapping (and for mirror to disk, the missing images) and copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Archive the blobs that archives made before this date lack (yyyy-mm-dd).
    #[arg(long, value_name = "yyyy-mm-dd")]
    pub since: Option<String>,
    /// Parent of the cache directory (.oc-mirror/.cache); default $OC_MIRROR_CACHE, then $HOME.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Registry credentials; default $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the source registries' certificates (--src-tls-verify=false to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub src_tls_verify: bool,
    /// Verify the destination registry's certificate (--dest-tls-verify=false to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub dest_tls_verify: bool,
    /// Directory of extra CA certificates (*.crt, *.pem) to trust; may be repeated.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Vec<PathBuf>,
    /// Keep at most N path components on the destination, joining the rest with '-'.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_nested_paths: usize,
    /// Images copied at once (1-10).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub parallel_images: u8,
    /// Blobs of one image copied at once (1-10).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub parallel_layers: u8,
    /// Attempts of each request (and of each blob transfer) in all, before giving up.
    #[arg(long, default_value_t = 5)]
    pub retry_times: u32,
    /// Wait between attempts, e.g. 500ms or 2s; 0 for exponential back-off.
    #[arg(long, default_value = "0", value_name = "DURATION")]
    pub retry_delay: String,
    /// Longest time one image may take, e.g. 10m or 1h30m.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub image_timeout: String,
    /// Fail when a file is larger than archiveSize instead of giving it an archive of its own.
    #[arg(long)]
    pub strict_archive: bool,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
    /// Mirror releases whose signature is missing or fails verification (with a warning)
    /// instead of failing them; such releases get no entry in signature-configmap.yaml.
    /// The signature store is $OCP_SIGNATURE_URL, the key file $OCP_SIGNATURE_VERIFICATION_PK
    /// (default: Red Hat's release keys).
    #[arg(long)]
    pub ignore_release_signature: bool,
    /// Accepted for compatibility with `oc-mirror --v2`; this is always the v2 behaviour.
    #[arg(long, hide = true)]
    pub v2: bool,
}

/// `mirror`: a run (flags and a destination) or a subcommand such as `list operators`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true, arg_required_else_help = true)]
pub struct MirrorCommand {
    /// A subcommand instead of a run.
    #[command(subcommand)]
    pub command: Option<MirrorSubcommand>,
    /// The flags of a run.
    #[command(flatten)]
    pub args: Option<MirrorArgs>,
}

/// Subcommands of `mirror`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MirrorSubcommand {
    /// Show what a source offers before writing an image set configuration.
    #[command(subcommand)]
    List(ListCommand),
}

/// `mirror list ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ListCommand {
    /// List the packages of an operator catalog, a package's channels, or a channel's versions.
    ///
    ///   mirror list operators --catalog registry.redhat.io/redhat/redhat-operator-index:v4.17
    ///   mirror list operators --catalog REF --package aws-load-balancer-operator
    ///   mirror list operators --catalog REF --package aws-load-balancer-operator --channel stable-v1
    ///
    /// The catalog (an image, or oci://DIR) is read through the cache (--cache-dir).
    #[command(verbatim_doc_comment)]
    Operators(ListOperatorsArgs),
}

/// Flags of `mirror list operators`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListOperatorsArgs {
    /// The catalog: an image reference (tag or digest) or oci://DIR.
    #[arg(long, value_name = "REF")]
    pub catalog: String,
    /// Show this package's channels and their heads.
    #[arg(long, value_name = "NAME")]
    pub package: Option<String>,
    /// With --package: show this channel's versions.
    #[arg(long, value_name = "NAME", requires = "package")]
    pub channel: Option<String>,
    /// Parent of the cache directory (.oc-mirror/.cache); default $OC_MIRROR_CACHE, then $HOME.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Registry credentials (as for a run).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the catalog registry's certificate (--src-tls-verify=false to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub src_tls_verify: bool,
    /// Directory of extra CA certificates (*.crt, *.pem) to trust; may be repeated.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Vec<PathBuf>,
    /// Accepted for compatibility with `oc-mirror --v2`.
    #[arg(long, hide = true)]
    pub v2: bool,
}

/// The command line of the binary when it is invoked as `oc-mirror`.
#[derive(Debug, Parser)]
#[command(
    name = "oc-mirror",
    version,
    about = "Mirror an image set (mirror-registry's oc-mirror v2 compatible client)"
)]
pub struct OcMirrorCli {
    /// The mirror flags or subcommand.
    #[command(flatten)]
    pub mirror: MirrorCommand,
}

/// Runs `mirror`: a run, or a subcommand.
///
/// # Errors
/// Whatever the command reports; a [`crate::mirror::Failed`] carries oc-mirror's exit code.
pub fn run(command: &MirrorCommand) -> anyhow::Result<()> {
    match (&command.command, &command.args) {
        (Some(MirrorSubcommand::List(ListCommand::Operators(list))), _) => {
            crate::mirror::list_operators(&crate::mirror::operators::list::Request {
                catalog: list.catalog.clone(),
                package: list.package.clone(),
                channel: list.channel.clone(),
                cache_parent: list.cache_dir.clone(),
                authfile: list.authfile.clone(),
                tls_verify: list.src_tls_verify,
                cert_dirs: list.cert_dir.clone(),
            })
        }
        (None, Some(args)) => crate::mirror::run(args),
        (None, None) => anyhow::bail!("mirror needs -c FILE and a destination, or a subcommand; see --help"),
    }
}

/// Runs `mirror` with the process's arguments, as `oc-mirror` would take them.
///
/// # Errors
/// Whatever the mirror run reports; a [`crate::mirror::Failed`] carries oc-mirror's exit code.
pub fn run_as_oc_mirror() -> anyhow::Result<()> {
    let cli = OcMirrorCli::parse();
    run(&cli.mirror)
}
