//! Command-line definition of `mirror-registry mirror` (and of the binary invoked as
//! `oc-mirror`), flag-compatible with `oc-mirror --v2`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::mirror::client::RetryPolicy;
use crate::mirror::options::{self, Options};

/// Mirror an image set: registry to registry, registry to disk, or disk to registry.
///
///   mirror -c isc.yaml file://DIR                                 mirror to disk
///   mirror -c isc.yaml --from file://DIR docker://REG[/ns]        disk to mirror
///   mirror -c isc.yaml --workspace file://DIR docker://REG[/ns]   mirror to mirror
///
/// Deleting is the `delete` subcommand (`mirror delete --help`).
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
    /// Log level: error, warn, info, debug or trace (also spelt --loglevel, as oc-mirror does).
    #[arg(long, alias = "loglevel", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
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
    /// oc-mirror: verify sigstore signatures of the images with a secure policy. No effect here
    /// (a warning says so): release signatures are always verified, image signatures are not.
    #[arg(long)]
    pub secure_policy: bool,
    /// oc-mirror: port of its local cache registry. No effect here (a warning says so): the cache
    /// is a directory in the distribution layout, read without a server.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// oc-mirror: rebuild operator catalogs. No effect here (a warning says so): filtered catalogs
    /// are always rebuilt.
    #[arg(long)]
    pub rebuild_catalogs: bool,
    /// oc-mirror: do not copy image signatures. No effect here (a warning says so): signatures are
    /// only copied when the image set names them.
    #[arg(long)]
    pub remove_signatures: bool,
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
    /// Print the client's version (oc-mirror's `version` command).
    Version(VersionArgs),
    /// Delete mirrored images from a registry, in two phases (oc-mirror v2's delete).
    ///
    /// Phase 1 lists what a DeleteImageSetConfiguration names (kind: DeleteImageSetConfiguration,
    /// a `delete:` section shaped like `mirror:`), the way the mirror run that filled the registry
    /// planned it: from that run's cache (--cache-dir) and working dir (--workspace). It writes
    /// DIR/working-dir/delete/delete-images[-ID].yaml and deletes nothing:
    ///
    ///   mirror delete -c delete-isc.yaml --generate --workspace file://DIR [--delete-id ID] docker://REG[/ns]
    ///
    /// Phase 2, after checking that list, deletes the manifests it names (by digest; a manifest
    /// already gone is reported and skipped), and with --force-cache-delete takes them out of the
    /// cache too:
    ///
    ///   mirror delete --delete-yaml-file DIR/working-dir/delete/delete-images[-ID].yaml docker://REG[/ns]
    ///
    /// Operator catalogs are never deleted. Blobs are left to the registry's garbage collection;
    /// on a mirror-registry, the bytes it will free are printed, and `mirror-registry gc` on the
    /// registry host frees them. Example:
    ///
    ///   mirror delete -c delete-isc.yaml --generate --workspace file:///srv/m1 --delete-id old docker://reg:8443/mirror
    ///   less /srv/m1/working-dir/delete/delete-images-old.yaml
    ///   mirror delete --delete-yaml-file /srv/m1/working-dir/delete/delete-images-old.yaml docker://reg:8443/mirror
    #[command(verbatim_doc_comment)]
    Delete(Box<super::delete::DeleteArgs>),
}

/// Flags of `mirror version`.
#[derive(Debug, Clone, clap::Args)]
pub struct VersionArgs {
    /// Output format: json or yaml (default: one line of text).
    #[arg(long, short = 'o', value_parser = ["json", "yaml"])]
    pub output: Option<String>,
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
        (Some(MirrorSubcommand::Version(version)), _) => {
            print!("{}", crate::mirror::version_text(version.output.as_deref()));
            Ok(())
        }
        (Some(MirrorSubcommand::Delete(delete)), _) => crate::mirror::run_delete(&super::delete::options(delete)?),
        (None, Some(args)) => crate::mirror::run(&options(args)?),
        (None, None) => anyhow::bail!("mirror needs -c FILE and a destination, or a subcommand; see --help"),
    }
}

/// Runs `mirror` with the process's arguments, as `oc-mirror` would take them.
///
/// # Errors
/// Whatever the mirror run reports; a [`crate::mirror::Failed`] carries oc-mirror's exit code.
pub fn run_as_oc_mirror() -> anyhow::Result<()> {
    // `oc mirror --v2 delete ...` puts --v2 before the subcommand, where no run flag may go; it
    // changes nothing here, so it is dropped wherever it stands.
    let cli: OcMirrorCli = super::parse_args_from(std::env::args_os().filter(|a| a != "--v2"));
    run(&cli.mirror)
}

/// The run's options from the flags: every value checked, defaults resolved.
///
/// # Errors
/// [`options::Error`] naming the flag at fault.
pub fn options(args: &MirrorArgs) -> Result<Options, options::Error> {
    let (workflow, root) = options::workflow(&args.destination, args.from.as_deref(), args.workspace.as_deref())?;
    let duration = |flag: &'static str, text: &str| options::parse_duration(text).map_err(|r| options::flag(flag, r));
    let mut notices = Vec::new();
    for (set, name, why) in [
        (
            args.secure_policy,
            "--secure-policy",
            "image signatures are not verified by this client (release signatures always are)",
        ),
        (args.port.is_some(), "--port", "the cache is a directory read without a local registry"),
        (args.rebuild_catalogs, "--rebuild-catalogs", "filtered catalogs are always rebuilt"),
        (
            args.remove_signatures,
            "--remove-signatures",
            "image signatures are only copied when the image set names them",
        ),
    ] {
        if set {
            notices.push(format!("{name} has no effect here: {why}"));
        }
    }
    Ok(Options {
        config: args.config.clone(),
        workflow,
        root,
        dry_run: args.dry_run,
        since: args.since.as_deref().map(options::parse_date).transpose()?,
        cache: options::cache_dir(args.cache_dir.as_deref())?,
        authfile: args.authfile.clone(),
        src_tls_verify: args.src_tls_verify,
        dest_tls_verify: args.dest_tls_verify,
        cert_dirs: args.cert_dir.clone(),
        max_nested_paths: args.max_nested_paths,
        parallel_images: usize::from(args.parallel_images),
        parallel_layers: usize::from(args.parallel_layers),
        retry: RetryPolicy { times: args.retry_times, delay: duration("--retry-delay", &args.retry_delay)? },
        image_timeout: duration("--image-timeout", &args.image_timeout)?,
        strict_archive: args.strict_archive,
        log_level: args.log_level.clone(),
        ignore_release_signature: args.ignore_release_signature,
        notices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MirrorArgs,
    }

    fn parse(argv: &[&str]) -> Result<Options, String> {
        let mut full = vec!["test", "--cache-dir", "/tmp/c"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        options(&cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn flags_become_options() {
        let o = parse(&["-c", "i", "--src-tls-verify=false", "--dest-tls-verify", "--loglevel", "debug", "file://o"])
            .expect("parse");
        assert!(!o.src_tls_verify);
        assert!(o.dest_tls_verify);
        assert_eq!(o.log_level, "debug");
        assert_eq!(o.cache, PathBuf::from("/tmp/c/.oc-mirror/.cache"));
        assert!(o.notices.is_empty());
        let e = parse(&["-c", "i", "--parallel-images", "11", "file://o"]).expect_err("out of range");
        assert!(e.contains("11"), "{e}");
        let e = parse(&["-c", "i", "--retry-delay", "soon", "file://o"]).expect_err("bad duration");
        assert!(e.contains("--retry-delay"), "{e}");
    }

    #[test]
    fn compatibility_flags_without_effect_say_so() {
        let o = parse(&[
            "-c",
            "i",
            "--secure-policy",
            "--port",
            "55000",
            "--rebuild-catalogs",
            "--remove-signatures",
            "file://o",
        ])
        .expect("parse");
        let flags: Vec<&str> = o.notices.iter().filter_map(|n| n.split(' ').next()).collect();
        assert_eq!(flags, ["--secure-policy", "--port", "--rebuild-catalogs", "--remove-signatures"]);
    }
}
