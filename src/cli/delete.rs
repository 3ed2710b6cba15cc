//! Command-line definition of `mirror delete` (and `oc-mirror delete`), flag-compatible with
//! oc-mirror v2's `delete` subcommand, and its translation into [`crate::mirror::delete::Options`].

use std::path::PathBuf;

use clap::ArgAction;

use crate::mirror::client::RetryPolicy;
use crate::mirror::delete::{Options, Task};
use crate::mirror::options::{cache_dir, parse_duration, parse_file_url, parse_target};

/// Flags of `mirror delete`. The boolean flags take Go's forms as oc-mirror does (`--generate`,
/// `--generate=true`, `--force-cache-delete=false`).
#[derive(Debug, Clone, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // one field per oc-mirror flag, as oc-mirror spells them
pub struct DeleteArgs {
    /// Phase 1: write the delete list from a DeleteImageSetConfiguration (-c); delete nothing.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub generate: bool,
    /// DeleteImageSetConfiguration file (mirror.openshift.io/v2alpha1), with --generate.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// With --generate: the directory of the mirror run (file://DIR; its working-dir is read and
    /// the list is written to working-dir/delete/).
    #[arg(long, value_name = "file://DIR")]
    pub workspace: Option<String>,
    /// With --generate: suffix of the files written (delete-images-ID.yaml), to keep versions apart.
    #[arg(long, value_name = "ID")]
    pub delete_id: Option<String>,
    /// Phase 2: the delete list to delete (working-dir/delete/delete-images[-ID].yaml).
    #[arg(long, value_name = "FILE")]
    pub delete_yaml_file: Option<PathBuf>,
    /// Phase 2: also take the images out of the local cache (untag and unlink their manifests;
    /// blobs stay in the cache). Keep the archives of the mirror run to rebuild the cache.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub force_cache_delete: bool,
    /// Phase 2: also delete each image's sigstore/cosign signature tag (sha256-<hex>.sig) if present.
    #[arg(long, default_value_t = false, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub delete_signatures: bool,
    /// The registry the images were mirrored to: docker://REGISTRY[/NAMESPACE].
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// Parent of the cache directory (.oc-mirror/.cache) of the mirror run; default
    /// $OC_MIRROR_CACHE, then $HOME.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Registry credentials; default $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Verify the destination registry's certificate (--dest-tls-verify=false to skip).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub dest_tls_verify: bool,
    /// Accepted for compatibility with oc-mirror: --generate reads only the cache.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL", hide = true)]
    pub src_tls_verify: bool,
    /// Directory of extra CA certificates (*.crt, *.pem) to trust; may be repeated.
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Vec<PathBuf>,
    /// The --max-nested-paths the images were mirrored with.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub max_nested_paths: usize,
    /// Images deleted at once (1-10).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub parallel_images: u8,
    /// Retries of a failed request.
    #[arg(long, default_value_t = 5)]
    pub retry_times: u32,
    /// Wait between retries, e.g. 500ms or 2s; 0 for exponential back-off.
    #[arg(long, default_value = "0", value_name = "DURATION")]
    pub retry_delay: String,
    /// Log level: error, warn, info, debug or trace (also spelt --loglevel).
    #[arg(long, alias = "loglevel", default_value = "info", value_parser = ["error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
    /// Accepted for compatibility with `oc-mirror --v2`; this is always the v2 behaviour.
    #[arg(long, hide = true)]
    pub v2: bool,
}

/// Checks the flags as oc-mirror does (each phase has its mandatory flags) and resolves them.
///
/// # Errors
/// A message naming the flag at fault.
pub fn options(args: &DeleteArgs) -> anyhow::Result<Options> {
    let task = if args.generate {
        let config = args.config.clone().ok_or_else(|| anyhow::anyhow!("-c/--config is mandatory with --generate"))?;
        let workspace = args
            .workspace
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--workspace file://DIR is mandatory with --generate"))?;
        for (flag, set) in [
            ("--delete-yaml-file", args.delete_yaml_file.is_some()),
            ("--force-cache-delete", args.force_cache_delete),
            ("--delete-signatures", args.delete_signatures),
        ] {
            anyhow::ensure!(!set, "{flag} belongs to the second phase (without --generate)");
        }
        if let Some(id) = &args.delete_id {
            anyhow::ensure!(
                !id.is_empty() && !id.contains(['/', '\\']) && id != "." && id != "..",
                "--delete-id {id:?}: it becomes part of a file name, so it can't be empty or hold a '/'"
            );
        }
        Task::Generate {
            config,
            workspace: parse_file_url(workspace, "--workspace")?,
            delete_id: args.delete_id.clone(),
        }
    } else {
        let file = args
            .delete_yaml_file
            .clone()
            .ok_or_else(|| anyhow::anyhow!("--delete-yaml-file is mandatory without --generate"))?;
        anyhow::ensure!(file.is_file(), "--delete-yaml-file {}: no such file", file.display());
        for (flag, set) in [("-c/--config", args.config.is_some()), ("--delete-id", args.delete_id.is_some())] {
            anyhow::ensure!(!set, "{flag} belongs to the first phase (with --generate)");
        }
        Task::Delete { file, force_cache_delete: args.force_cache_delete, delete_signatures: args.delete_signatures }
    };
    anyhow::ensure!(
        args.destination.starts_with("docker://"),
        "DESTINATION {:?}: the registry to delete from must be docker://REGISTRY[/NAMESPACE]",
        args.destination
    );
    Ok(Options {
        task,
        target: parse_target(&args.destination)?,
        cache: cache_dir(args.cache_dir.as_deref())?,
        authfile: args.authfile.clone(),
        dest_tls_verify: args.dest_tls_verify,
        cert_dirs: args.cert_dir.clone(),
        retry: RetryPolicy {
            times: args.retry_times,
            delay: parse_duration(&args.retry_delay).map_err(|r| anyhow::anyhow!("--retry-delay: {r}"))?,
        },
        parallel_images: usize::from(args.parallel_images),
        max_nested_paths: args.max_nested_paths,
        log_level: args.log_level.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DeleteArgs,
    }

    fn parse(argv: &[&str]) -> Result<Options, String> {
        let mut full = vec!["delete", "--cache-dir", "/tmp/c"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        options(&cli.args).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn each_phase_has_its_mandatory_flags() {
        let list = tempfile::NamedTempFile::new().expect("temp file");
        let file = list.path().to_str().expect("utf-8");
        let cases: Vec<(&str, Vec<&str>, Result<&str, &str>)> = vec![
            (
                "generate",
                vec!["-c", "d.yaml", "--generate", "--workspace", "file:///w", "--delete-id", "v1", "docker://reg/ns"],
                Ok("generate"),
            ),
            (
                "generate=true",
                vec!["-c", "d.yaml", "--generate=true", "--workspace", "file:///w", "docker://reg"],
                Ok("generate"),
            ),
            ("generate without workspace", vec!["-c", "d.yaml", "--generate", "docker://reg"], Err("--workspace")),
            (
                "generate without config",
                vec!["--generate", "--workspace", "file:///w", "docker://reg"],
                Err("--config"),
            ),
            (
                "workspace without file://",
                vec!["-c", "d", "--generate", "--workspace", "/w", "docker://reg"],
                Err("file://"),
            ),
            (
                "delete id with a slash",
                vec!["-c", "d", "--generate", "--workspace", "file:///w", "--delete-id", "a/b", "docker://reg"],
                Err("--delete-id"),
            ),
            (
                "cache delete in phase 1",
                vec!["-c", "d", "--generate", "--workspace", "file:///w", "--force-cache-delete", "docker://reg"],
                Err("second phase"),
            ),
            (
                "delete",
                vec!["--delete-yaml-file", file, "--force-cache-delete", "--delete-signatures", "docker://reg/ns"],
                Ok("delete"),
            ),
            ("delete without the file", vec!["docker://reg"], Err("--delete-yaml-file is mandatory")),
            (
                "delete with a missing file",
                vec!["--delete-yaml-file", "/nonexistent.yaml", "docker://reg"],
                Err("no such file"),
            ),
            ("config in phase 2", vec!["--delete-yaml-file", file, "-c", "d", "docker://reg"], Err("first phase")),
            ("file destination", vec!["--delete-yaml-file", file, "file:///x"], Err("docker://")),
            (
                "generate=false is phase 2",
                vec!["--generate=false", "docker://reg"],
                Err("--delete-yaml-file is mandatory"),
            ),
        ];
        for (name, argv, expected) in cases {
            match (parse(&argv), expected) {
                (Ok(o), Ok(phase)) => {
                    let got = match o.task {
                        Task::Generate { .. } => "generate",
                        Task::Delete { .. } => "delete",
                    };
                    assert_eq!(got, phase, "case {name}");
                }
                (Err(e), Err(part)) => assert!(e.contains(part), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }

    #[test]
    fn generate_resolves_the_workspace_target_and_id() {
        let o = parse(&[
            "-c",
            "d.yaml",
            "--generate",
            "--workspace",
            "file:///w",
            "--delete-id",
            "x",
            "docker://reg:5000/ns",
        ])
        .expect("parse");
        let Task::Generate { config, workspace, delete_id } = o.task else { panic!("phase 1") };
        assert_eq!((config, workspace, delete_id), (PathBuf::from("d.yaml"), PathBuf::from("/w"), Some("x".into())));
        assert_eq!(o.target.registry, "reg:5000");
        assert_eq!(o.target.namespace.map(|n| n.to_string()).as_deref(), Some("ns"));
        assert_eq!(o.cache, PathBuf::from("/tmp/c/.oc-mirror/.cache"));
    }
}
