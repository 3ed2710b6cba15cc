//! From what was typed to what the run uses: destinations (`file://`, `docker://`) decide the
//! workflow, durations and dates are parsed, defaults (cache location) are resolved. Every
//! mistake is reported here, before anything is read or written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::client::{RetryPolicy, TransportConfig};
use super::copy::EngineOptions;
use super::plan::{Target, Workflow};
use super::sources::{PlanOptions, Purpose};
use crate::cli::mirror::MirrorArgs;
use crate::reference::RepoName;

/// A mistake on the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A destination or directory is not in the expected form.
    #[error("{flag}: {reason}")]
    Flag {
        /// The flag or argument.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn flag(flag: &'static str, reason: impl Into<String>) -> Error {
    Error::Flag { flag, reason: reason.into() }
}

/// The resolved options of one run.
#[derive(Debug, Clone)]
#[allow(clippy::struct_excessive_bools)] // independent switches, each named after its flag
pub struct Options {
    /// The ImageSetConfiguration file.
    pub config: PathBuf,
    /// What goes where.
    pub workflow: Workflow,
    /// The directory of `file://`: archives and `working-dir/` live here.
    pub root: PathBuf,
    /// Write mapping files and copy nothing.
    pub dry_run: bool,
    /// `--since`: archive against the history written before this time.
    pub since: Option<OffsetDateTime>,
    /// The cache (`<cache-dir>/.oc-mirror/.cache`).
    pub cache: PathBuf,
    /// `--authfile`.
    pub authfile: Option<PathBuf>,
    /// Check source certificates.
    pub src_tls_verify: bool,
    /// Check destination certificates.
    pub dest_tls_verify: bool,
    /// Extra CA directories.
    pub cert_dirs: Vec<PathBuf>,
    /// 0 = no limit.
    pub max_nested_paths: usize,
    /// Images at once.
    pub parallel_images: usize,
    /// Blobs of one image at once.
    pub parallel_layers: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Per-image time limit.
    pub image_timeout: Duration,
    /// `--strict-archive`.
    pub strict_archive: bool,
    /// `--log-level`.
    pub log_level: String,
    /// `--ignore-release-signature`: a release without a valid signature is mirrored anyway.
    pub ignore_release_signature: bool,
}

impl Options {
    /// Checks and resolves the command line.
    ///
    /// # Errors
    /// [`Error::Flag`] naming the flag at fault.
    pub fn from_args(args: &MirrorArgs) -> Result<Options, Error> {
        let (workflow, root) = workflow(args)?;
        let since = args.since.as_deref().map(parse_date).transpose()?;
        let cache = cache_dir(args.cache_dir.as_deref())?;
        Ok(Options {
            config: args.config.clone(),
            workflow,
            root,
            dry_run: args.dry_run,
            since,
            cache,
            authfile: args.authfile.clone(),
            src_tls_verify: args.src_tls_verify,
            dest_tls_verify: args.dest_tls_verify,
            cert_dirs: args.cert_dir.clone(),
            max_nested_paths: args.max_nested_paths,
            parallel_images: usize::from(args.parallel_images),
            parallel_layers: usize::from(args.parallel_layers),
            retry: RetryPolicy {
                times: args.retry_times,
                delay: parse_duration(&args.retry_delay).map_err(|r| flag("--retry-delay", r))?,
            },
            image_timeout: parse_duration(&args.image_timeout).map_err(|r| flag("--image-timeout", r))?,
            strict_archive: args.strict_archive,
            log_level: args.log_level.clone(),
            ignore_release_signature: args.ignore_release_signature,
        })
    }

    /// `<root>/working-dir`.
    #[must_use]
    pub fn working_dir(&self) -> PathBuf {
        self.root.join("working-dir")
    }

    /// What planning needs from these options.
    #[must_use]
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            workflow: self.workflow.clone(),
            max_nested_paths: self.max_nested_paths,
            cache: self.cache.clone(),
            working_dir: self.working_dir(),
            authfile: self.authfile.clone(),
            source: TransportConfig {
                tls_verify: self.src_tls_verify,
                cert_dirs: self.cert_dirs.clone(),
                retry: self.retry,
            },
            engine: EngineOptions {
                parallel_images: self.parallel_images,
                parallel_layers: self.parallel_layers,
                retry: self.retry,
                image_timeout: self.image_timeout,
            },
            ignore_release_signature: self.ignore_release_signature,
            purpose: Purpose::Mirror,
        }
    }
}

/// The cache directory: `<parent>/.oc-mirror/.cache`, the parent being `--cache-dir`, else
/// `$OC_MIRROR_CACHE`, else `$HOME` (as oc-mirror resolves it).
///
/// # Errors
/// [`Error::Flag`] when none of them is set.
pub fn cache_dir(flag_value: Option<&Path>) -> Result<PathBuf, Error> {
    let parent = match flag_value {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("OC_MIRROR_CACHE")
            .or_else(|| std::env::var_os("HOME"))
            .map(PathBuf::from)
            .ok_or_else(|| flag("--cache-dir", "not given, and neither OC_MIRROR_CACHE nor HOME is set"))?,
    };
    Ok(parent.join(".oc-mirror/.cache"))
}

fn workflow(args: &MirrorArgs) -> Result<(Workflow, PathBuf), Error> {
    let file = parse_file_url;
    if args.destination.starts_with("file://") {
        if args.from.is_some() {
            return Err(flag("--from", "disk to mirror needs a docker:// destination"));
        }
        if args.workspace.is_some() {
            return Err(flag("--workspace", "mirror to disk keeps its working dir in the file:// destination"));
        }
        return Ok((Workflow::MirrorToDisk, file(&args.destination, "DESTINATION")?));
    }
    let target = parse_target(&args.destination)?;
    match (&args.from, &args.workspace) {
        (Some(from), None) => Ok((Workflow::DiskToMirror(target), file(from, "--from")?)),
        (None, Some(ws)) => Ok((Workflow::MirrorToMirror(target), file(ws, "--workspace")?)),
        (Some(_), Some(_)) => {
            Err(flag("--workspace", "use either --from (disk to mirror) or --workspace (mirror to mirror)"))
        }
        (None, None) => Err(flag(
            "--workspace",
            "a docker:// destination needs --from file://DIR (disk to mirror) or --workspace file://DIR (mirror to mirror)",
        )),
    }
}

/// `file://DIR`: the directory. `name` is the flag or argument, for the message.
///
/// # Errors
/// [`Error::Flag`] naming `name` when the value is not in that form.
pub fn parse_file_url(value: &str, name: &'static str) -> Result<PathBuf, Error> {
    let dir = value.strip_prefix("file://").ok_or_else(|| flag(name, format!("{value:?} must start with file://")))?;
    if dir.is_empty() {
        return Err(flag(name, "file:// needs a directory"));
    }
    Ok(Path::new(dir).to_path_buf())
}

/// `docker://REGISTRY[/NAMESPACE]`: the registry and the namespace under it.
///
/// # Errors
/// [`Error::Flag`] (flag `DESTINATION`) when the value is not in that form.
pub fn parse_target(value: &str) -> Result<Target, Error> {
    let rest = value
        .strip_prefix("docker://")
        .ok_or_else(|| flag("DESTINATION", format!("{value:?} must start with file:// or docker://")))?;
    let rest = rest.trim_end_matches('/');
    let (registry, namespace) = match rest.split_once('/') {
        Some((r, ns)) => (r, Some(ns)),
        None => (rest, None),
    };
    // The registry part is checked by building a reference with it.
    let probe: RepoName = "probe".parse().expect("a valid repository name");
    if crate::reference::image::ImageRef::new(registry, probe, None, None).is_err() {
        return Err(flag("DESTINATION", format!("{registry:?} is not a registry host[:port]")));
    }
    let namespace = namespace
        .map(str::parse::<RepoName>)
        .transpose()
        .map_err(|e| flag("DESTINATION", format!("namespace: {e}")))?;
    Ok(Target { registry: registry.to_string(), namespace })
}

/// Go-style durations: `0`, `500ms`, `2s`, `10m`, `1h30m` (the crate's one duration grammar).
///
/// # Errors
/// A message when the text is not a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<crate::duration::HumanDuration>().map(|d| d.0).map_err(|e| e.to_string())
}

fn parse_date(text: &str) -> Result<OffsetDateTime, Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|e| flag("--since", format!("{text:?} is not a date yyyy-mm-dd: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: MirrorArgs,
    }

    fn options(argv: &[&str]) -> Result<Options, String> {
        let mut full = vec!["test", "--cache-dir", "/tmp/c"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        Options::from_args(&cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn workflows_from_destinations() {
        let cases: Vec<(&str, Vec<&str>, Result<(Workflow, &str), &str>)> = vec![
            ("mirror to disk", vec!["-c", "i.yaml", "file://out"], Ok((Workflow::MirrorToDisk, "out"))),
            (
                "disk to mirror",
                vec!["-c", "i.yaml", "--from", "file:///d", "docker://reg:5000/ns"],
                Ok((
                    Workflow::DiskToMirror(Target {
                        registry: "reg:5000".into(),
                        namespace: Some("ns".parse().expect("ns")),
                    }),
                    "/d",
                )),
            ),
            (
                "mirror to mirror",
                vec!["-c", "i.yaml", "--workspace", "file://w", "docker://reg"],
                Ok((Workflow::MirrorToMirror(Target { registry: "reg".into(), namespace: None }), "w")),
            ),
            ("docker without workspace", vec!["-c", "i.yaml", "docker://reg"], Err("--workspace")),
            ("from with file destination", vec!["-c", "i.yaml", "--from", "file://a", "file://b"], Err("--from")),
            ("bad scheme", vec!["-c", "i.yaml", "--workspace", "file://w", "oci://x"], Err("DESTINATION")),
            ("bad namespace", vec!["-c", "i.yaml", "--workspace", "file://w", "docker://reg/Bad"], Err("namespace")),
            ("parallel out of range", vec!["-c", "i.yaml", "--parallel-images", "11", "file://o"], Err("11")),
        ];
        for (name, argv, expected) in cases {
            match (options(&argv), expected) {
                (Ok(o), Ok((workflow, root))) => {
                    assert_eq!(o.workflow, workflow, "case {name}");
                    assert_eq!(o.root, PathBuf::from(root), "case {name}");
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }

    #[test]
    fn tls_verify_flags_take_go_style_values() {
        let o = options(&["-c", "i", "--src-tls-verify=false", "--dest-tls-verify", "file://o"]).expect("parse");
        assert!(!o.src_tls_verify);
        assert!(o.dest_tls_verify);
        assert_eq!(o.cache, PathBuf::from("/tmp/c/.oc-mirror/.cache"));
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("0", Some(Duration::ZERO)),
            ("500ms", Some(Duration::from_millis(500))),
            ("10m", Some(Duration::from_mins(10))),
            ("1h30m", Some(Duration::from_mins(90))),
            ("10", Some(Duration::from_secs(10))),
            ("m", None),
            ("", None),
            ("5x", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input).ok(), *expected, "case {input:?}");
        }
    }
}
