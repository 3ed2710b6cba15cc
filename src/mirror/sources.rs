//! Every source of an image set planned into one [`Work`]: additional images, the charts of
//! `helm:`, the releases of `platform:`, the operator catalogs. The one planning path of the three workflows, their dry
//! runs and `delete --generate`, so that a delete lists exactly what a mirror run copied.
//!
//! How the catalogs and releases are found depends on the workflow and the purpose:
//!
//! ```text
//! mirror to mirror, mirror to disk   online: from their registries and services into the cache
//! disk to mirror                     offline: the cache as the archives filled it; each catalog
//!                                    there is the record of its selection
//! delete --generate                  offline, like disk to mirror, but each catalog in the cache
//!                                    is filtered again by the delete configuration's entry
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Failed;
use super::cache::Cache;
use super::client::{AuthFile, ClientPool, TransportConfig};
use super::copy::{Endpoint, Engine, EngineOptions};
use super::helm;
use super::imageset::{self, CatalogRef, ImageSet};
use super::operators::{self, Fetch, Prepared};
use super::plan::{self, ImagePlan, Mapping, Plan, PlanInput, Workflow};
use super::platform::{self, upstream::Upstream};
use super::progress::Progress;
use crate::reference::image::ImageRef;

/// Exit bit of release failures.
pub(super) const EXIT_RELEASE: u8 = 2;
/// Exit bit of operator failures.
pub(super) const EXIT_OPERATOR: u8 = 4;
/// Exit bit of helm failures.
pub(super) const EXIT_HELM: u8 = 16;

/// Why the images are planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// To copy them (a workflow or its dry run).
    Mirror,
    /// To list what an earlier run mirrored, for `delete --generate`: nothing is fetched, each
    /// catalog in the cache is filtered again, and release signatures are not required.
    Delete,
}

/// What planning needs from the command line.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Where images are read and written.
    pub workflow: Workflow,
    /// `--max-nested-paths` (0 = no limit).
    pub max_nested_paths: usize,
    /// The cache directory.
    pub cache: PathBuf,
    /// `<root>/working-dir`: update graphs, signatures, the error log.
    pub working_dir: PathBuf,
    /// `--authfile`.
    pub authfile: Option<PathBuf>,
    /// How the source registries and services are reached (online planning).
    pub source: TransportConfig,
    /// Limits of the engine that brings catalogs and payloads into the cache.
    pub engine: EngineOptions,
    /// `--ignore-release-signature`.
    pub ignore_release_signature: bool,
    /// Mirror or delete.
    pub purpose: Purpose,
}

impl PlanOptions {
    /// Whether sources are fetched from their registries and services (mirror to mirror and
    /// mirror to disk), rather than read from what the archives brought.
    fn online(&self) -> bool {
        self.purpose == Purpose::Mirror && matches!(self.workflow, Workflow::MirrorToMirror(_) | Workflow::MirrorToDisk)
    }
}

/// What one run copies: the images of every source, then from the cache the release payloads
/// and graph image, then the operator catalogs (a cluster must never see a release or a
/// catalog whose images are missing).
pub struct Work {
    /// The images of every source.
    pub plan: Plan,
    /// `platform:` made ready.
    pub releases: Option<platform::Prepared>,
    /// The release payloads' and the graph image's plan entries (from the cache).
    pub release_plans: Vec<ImagePlan>,
    /// The catalogs made ready.
    pub catalogs: Vec<Prepared>,
    /// The catalogs' plan entries, in the order of `catalogs`.
    pub catalog_plans: Vec<ImagePlan>,
    /// Working-dir files (relative) that disk to mirror reads besides the cache: helm's
    /// indexes and charts.
    pub kept: Vec<PathBuf>,
    /// Exit bits of what failed while planning.
    pub code: u8,
}

impl Work {
    /// Records what failed while planning (nothing when `lines` is empty): each line logged
    /// and written to the error log, and `bit` set in [`Work::code`].
    ///
    /// # Errors
    /// The error log can't be written.
    fn fail(&mut self, working_dir: &Path, bit: u8, lines: &[String]) -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        for line in lines {
            tracing::error!("{line}");
        }
        write_error_log(working_dir, lines)?;
        self.code |= bit;
        Ok(())
    }

    /// Every entry of the run, in copy order.
    #[must_use]
    pub fn all(&self) -> Vec<&ImagePlan> {
        self.plan.images.iter().chain(&self.release_plans).chain(&self.catalog_plans).collect()
    }
}

/// Plans every source: additional images, the releases of `platform:` (payloads in the cache,
/// read), then each operator catalog (in the cache, selected, and for a mirror run rebuilt)
/// with its bundle and related images. Failures of a catalog are logged, written to the error
/// log and recorded in [`Work::code`]; a release failure stops planning.
///
/// # Errors
/// Configuration, file and transport failures; [`Failed`] when a release can't be planned.
pub async fn plan(options: &PlanOptions, set: &ImageSet) -> anyhow::Result<Work> {
    let mapping = Mapping { workflow: &options.workflow, max_nested_paths: options.max_nested_paths };
    let plan = plan::build(&PlanInput {
        additional_images: &set.content.additional_images,
        blocked: &set.blocked,
        workflow: &options.workflow,
        max_nested_paths: options.max_nested_paths,
    })?;
    let mut work = Work {
        plan,
        releases: None,
        release_plans: Vec::new(),
        catalogs: Vec::new(),
        catalog_plans: Vec::new(),
        kept: Vec::new(),
        code: 0,
    };
    if let Some(helm) = &set.content.helm {
        plan_helm(options, helm, &mapping, set, &mut work).await?;
    }
    let platform = set.content.platform.as_ref().filter(|p| !p.channels.is_empty() || p.release.is_some() || p.graph);
    if platform.is_none() && set.content.operators.is_empty() {
        return Ok(work);
    }
    let cache = Cache::new(&options.cache);
    let online = if options.online() {
        let pool = client_pool(&options.source, &source_hosts(set), &auth_file(options.authfile.as_deref())?)?;
        Some(Engine::new(Endpoint::Registry(pool), Endpoint::Cache(cache.clone()), options.engine, Progress::new()))
    } else {
        None
    };
    if let Some(platform) = platform {
        plan_releases(options, platform, online.as_ref(), &cache, &mapping, set, &mut work).await?;
    }
    let fetch = match (&online, options.purpose) {
        (Some(engine), _) => Fetch::Online(engine),
        (None, Purpose::Mirror) => Fetch::Offline,
        (None, Purpose::Delete) => Fetch::Reselect,
    };
    for operator in &set.content.operators {
        let prepared = match operators::prepare(operator, &fetch, &cache).await {
            Ok(p) => p,
            Err(e) => {
                // The error names the catalog already.
                let message = format!("error mirroring {}", super::error_chain(&e));
                work.fail(&options.working_dir, EXIT_OPERATOR, &[message])?;
                continue;
            }
        };
        let bundles = prepared.selection.bundles().count();
        tracing::info!(catalog = %prepared.origin, packages = prepared.selection.packages.len(), bundles, "catalog filtered");
        let failures = operators::plan_bundles(&prepared, &mapping, &set.blocked, &mut work.plan);
        work.fail(&options.working_dir, EXIT_OPERATOR, &failures)?;
        let destination = mapping.registry_destination(&prepared.repo, &prepared.tag)?;
        work.catalog_plans.push(prepared.catalog_plan(destination));
        work.catalogs.push(prepared);
    }
    Ok(work)
}

/// Reads the charts of `mirror.helm` (from their repositories when online) and plans their
/// images. A chart that fails is logged, written to the error log and recorded in
/// [`Work::code`]; the others go on.
async fn plan_helm(
    options: &PlanOptions,
    helm: &imageset::Helm,
    mapping: &Mapping<'_>,
    set: &ImageSet,
    work: &mut Work,
) -> anyhow::Result<()> {
    let repositories = if options.online() {
        Some(helm::repository::Repositories::new(
            super::client::http_client(&options.source, &[])?,
            options.source.retry,
        ))
    } else {
        None
    };
    let fetch = repositories.as_ref().map_or(helm::Fetch::Offline, helm::Fetch::Online);
    let prepared = helm::prepare(helm, &fetch, &options.working_dir).await;
    let unplanned = helm::plan_images(&prepared, mapping, &set.blocked, &mut work.plan);
    let lines: Vec<String> =
        prepared.failures.iter().chain(&unplanned).map(|f| format!("error mirroring {f}")).collect();
    work.fail(&options.working_dir, EXIT_HELM, &lines)?;
    work.kept.extend(prepared.kept);
    Ok(())
}

/// The registries that catalogs and `platform.release` are fetched from.
fn source_hosts(set: &ImageSet) -> Vec<String> {
    let mut hosts: Vec<String> = set
        .content
        .operators
        .iter()
        .filter_map(|o| match o.catalog.parse::<CatalogRef>() {
            Ok(CatalogRef::Image(i)) => Some(i.registry().to_string()),
            _ => None,
        })
        .collect();
    hosts.extend(
        set.content
            .platform
            .as_ref()
            .and_then(|p| p.release.as_deref())
            .and_then(|r| r.trim_start_matches("docker://").parse::<ImageRef>().ok().map(|i| i.registry().to_string())),
    );
    hosts
}

/// Prepares `platform:` and plans its images. A release error is critical (oc-mirror's
/// rule): it is logged and stops the run with the release exit bit.
async fn plan_releases(
    options: &PlanOptions,
    platform: &imageset::Platform,
    online: Option<&Engine>,
    cache: &Cache,
    mapping: &Mapping<'_>,
    set: &ImageSet,
    work: &mut Work,
) -> anyhow::Result<()> {
    let upstream = match online {
        Some(_) => {
            let http = super::client::http_client(&options.source, &[])?;
            Some(Upstream::new(http, platform::upstream::Endpoints::from_env()?, options.source.retry))
        }
        None => None,
    };
    let fetch = match (online, &upstream) {
        (Some(engine), Some(upstream)) => platform::Fetch::Online { engine, upstream },
        _ => platform::Fetch::Offline,
    };
    let context = platform::Context {
        cache,
        working_dir: &options.working_dir,
        fetch,
        // A delete lists what is on the mirror; whether it was signed does not change that.
        ignore_signatures: options.ignore_release_signature || options.purpose == Purpose::Delete,
    };
    let prepared = platform::prepare(platform, &context).await;
    let planned = prepared.and_then(|p| {
        let last = platform::plan_releases(&p, mapping, &set.blocked, &mut work.plan)?;
        Ok((p, last))
    });
    match planned {
        Ok((prepared, last)) => {
            tracing::info!(
                releases = prepared.releases.len(),
                graph = prepared.graph_image.is_some(),
                "releases planned"
            );
            work.release_plans = last;
            work.releases = Some(prepared);
            Ok(())
        }
        Err(e) => {
            let message = format!("error mirroring {e}");
            tracing::error!("{message}");
            write_error_log(&options.working_dir, &[message])?;
            Err(Failed { code: EXIT_RELEASE | work.code, message: format!("release failed: {e}") }.into())
        }
    }
}

/// The auth file `--authfile` names, or the first default location that exists, or none.
///
/// # Errors
/// The file exists but can't be read or parsed.
pub fn auth_file(flag: Option<&Path>) -> anyhow::Result<AuthFile> {
    match AuthFile::locate(flag) {
        Some(path) => Ok(AuthFile::load(&path)?),
        None => Ok(AuthFile::default()),
    }
}

/// The clients of one side for `hosts` (their `certs.d` directories are read).
///
/// # Errors
/// The TLS configuration can't be built.
pub fn client_pool(config: &TransportConfig, hosts: &[String], auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let mut hosts = hosts.to_vec();
    hosts.sort();
    hosts.dedup();
    Ok(ClientPool::new(config.clone(), auth.clone(), &hosts)?)
}

/// Appends `lines` to this run's `logs/mirroring_errors_<time>.txt`; returns its path.
///
/// # Errors
/// The file can't be written.
pub fn write_error_log(working_dir: &Path, lines: &[String]) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    static STAMP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stamp = STAMP.get_or_init(|| {
        let format = time::macros::format_description!("[year][month][day]_[hour][minute][second]");
        time::OffsetDateTime::now_utc().format(&format).unwrap_or_default()
    });
    let dir = working_dir.join("logs");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("mirroring_errors_{stamp}.txt"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    for line in lines {
        writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}
