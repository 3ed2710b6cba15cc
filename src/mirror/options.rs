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

/// The error of `flag`.
pub fn flag(flag: &'static str, reason: impl Into<String>) -> Error {
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
    /// Flags accepted for compatibility that have no effect here, each with why (logged as
    /// warnings when the run starts).
    pub notices: Vec<String>,
}

impl Options {
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

/// The workflow a destination and `--from`/`--workspace` describe, and its root directory.
///
/// # Errors
/// [`Error::Flag`] naming the flag at fault.
pub fn workflow(destination: &str, from: Option<&str>, workspace: Option<&str>) -> Result<(Workflow, PathBuf), Error> {
    let file = parse_file_url;
    if destination.starts_with("file://") {
        if from.is_some() {
            return Err(flag("--from", "disk to mirror needs a docker:// destination"));
        }
        if workspace.is_some() {
            return Err(flag("--workspace", "mirror to disk keeps its working dir in the file:// destination"));
        }
        return Ok((Workflow::MirrorToDisk, file(destination, "DESTINATION")?));
    }
    let target = parse_target(destination)?;
    match (from, workspace) {
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

/// `--since`: a date `yyyy-mm-dd`, as midnight UTC.
///
/// # Errors
/// [`Error::Flag`].
pub fn parse_date(text: &str) -> Result<OffsetDateTime, Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|e| flag("--since", format!("{text:?} is not a date yyyy-mm-dd: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflows_from_destinations() {
        let cases: Vec<(&str, &str, Option<&str>, Option<&str>, Result<(Workflow, &str), &str>)> = vec![
            ("mirror to disk", "file://out", None, None, Ok((Workflow::MirrorToDisk, "out"))),
            (
                "disk to mirror",
                "docker://reg:5000/ns",
                Some("file:///d"),
                None,
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
                "docker://reg",
                None,
                Some("file://w"),
                Ok((Workflow::MirrorToMirror(Target { registry: "reg".into(), namespace: None }), "w")),
            ),
            ("docker without workspace", "docker://reg", None, None, Err("--workspace")),
            ("from with file destination", "file://b", Some("file://a"), None, Err("--from")),
            ("bad scheme", "oci://x", None, Some("file://w"), Err("DESTINATION")),
            ("bad namespace", "docker://reg/Bad", None, Some("file://w"), Err("namespace")),
        ];
        for (name, destination, from, workspace, expected) in cases {
            match (workflow(destination, from, workspace), expected) {
                (Ok((w, root)), Ok((want, want_root))) => {
                    assert_eq!(w, want, "case {name}");
                    assert_eq!(root, PathBuf::from(want_root), "case {name}");
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
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
