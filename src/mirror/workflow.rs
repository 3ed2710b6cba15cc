//! The workflows end to end: mirror to mirror, mirror to disk, disk to mirror, and the dry run
//! of each. This is the top of the mirror command, so errors are gathered with `anyhow`.
//!
//! ```text
//! DIR/                                  file://DIR (mirror to disk), --from, --workspace
//!   mirror_000001.tar ...               archives (mirror to disk adds, disk to mirror reads)
//!   working-dir/
//!     logs/mirroring_errors_<time>.txt  one line per image that failed
//!     dry-run/mapping.txt               docker://SOURCE=docker://DESTINATION per image
//!     dry-run/missing.txt               (mirror to disk) images the cache lacks
//!     cluster-resources/                idms-oc-mirror.yaml, itms-oc-mirror.yaml,
//!                                       cs-<catalog>-<tag>.yaml, cc-<catalog>-<tag>.yaml,
//!                                       signature-configmap.{json,yaml}, updateService.yaml
//!     hold-release/cincinnati-graph-data/<arch>-<channel>.json   update graphs (read offline)  *
//!     signatures/<tag>-sha256-<hex>     verified release signatures (read offline)           *
//!     .history/                         blobs already archived
//! ```
//!
//! Archives carry only the files marked `*` from the working dir (see `bundle`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::cache::Cache;
use super::client::{AuthFile, ClientPool, TransportConfig};
use super::copy::{Endpoint, Engine, EngineOptions, ImageOutcome};
use super::history::History;
use super::imageset::{self, CatalogRef, ImageSet, Kind};
use super::known_blobs::KnownBlobs;
use super::operators::{self, Fetch, Prepared};
use super::options::Options;
use super::plan::{self, Category, ImagePlan, Mapping, Plan, PlanInput, Target, Workflow};
use super::platform::{self, upstream::Upstream};
use super::progress::Progress;
use super::resources::CatalogResource;
use super::{Failed, archive, bundle, resources};
use crate::reference::Digest;
use crate::reference::image::ImageRef;

/// Exit bit of a generic failure.
const EXIT_GENERIC: u8 = 1;
/// Exit bit of release failures.
const EXIT_RELEASE: u8 = 2;
/// Exit bit of operator failures.
const EXIT_OPERATOR: u8 = 4;

/// What one run copies: the images of every source, then from the cache the release payloads
/// and graph image, then the operator catalogs (a cluster must never see a release or a
/// catalog whose images are missing).
struct Work {
    plan: Plan,
    /// `platform:` made ready.
    releases: Option<platform::Prepared>,
    /// The release payloads' and the graph image's plan entries (from the cache).
    release_plans: Vec<ImagePlan>,
    catalogs: Vec<Prepared>,
    /// The catalogs' plan entries, in the order of `catalogs`.
    catalog_plans: Vec<ImagePlan>,
    /// Exit bits of what failed while planning.
    code: u8,
}

impl Work {
    /// Every entry of the run, in copy order.
    fn all(&self) -> Vec<&ImagePlan> {
        self.plan.images.iter().chain(&self.release_plans).chain(&self.catalog_plans).collect()
    }
}

/// Runs the workflow the options describe.
///
/// # Errors
/// Configuration, file and transport failures that stop the run; [`Failed`] with oc-mirror's
/// exit bitmask when the run finished without mirroring everything.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    let set = imageset::load(&options.config)?;
    if set.kind == Kind::Delete {
        anyhow::bail!(
            "{}: DeleteImageSetConfiguration: the delete workflow is not supported yet",
            options.config.display()
        );
    }
    let working_dir = options.working_dir();
    for sub in ["logs", "cluster-resources"] {
        let dir = working_dir.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut code = 0u8;
    for section in set.unsupported_sections() {
        tracing::error!("mirror.{section}: not supported by this version yet; its images are not mirrored");
        code |= match section {
            "helm" => 16,
            _ => EXIT_GENERIC,
        };
    }
    if let Workflow::DiskToMirror(_) = &options.workflow
        && (!options.dry_run || !set.content.operators.is_empty() || set.content.platform.is_some())
    {
        // Catalogs and releases are read from the cache, so the archives are unpacked first.
        let (from, cache_root) = (options.root.clone(), options.cache.clone());
        let extracted = tokio::task::spawn_blocking(move || archive::extract(&from, &cache_root)).await??;
        tracing::info!(archives = extracted.archives, blobs = extracted.blobs, "archives extracted and verified");
    }
    let work = plan_work(options, &set).await?;
    code |= work.code;
    for blocked in &work.plan.blocked {
        tracing::info!(image = %blocked.origin, pattern = %blocked.pattern, "skipped: matches blockedImages");
    }
    if options.dry_run {
        dry_run(options, &work).await?;
    } else {
        code |= match &options.workflow {
            Workflow::MirrorToMirror(target) => mirror_to_mirror(options, target, &work).await?,
            Workflow::MirrorToDisk => mirror_to_disk(options, &set, &work).await?,
            Workflow::DiskToMirror(target) => disk_to_mirror(options, target, &work).await?,
        };
    }
    if code == 0 {
        Ok(())
    } else {
        Err(Failed { code, message: format!("not everything was mirrored (exit status {code}); see the log above") }
            .into())
    }
}

/// Plans every source: additional images, the releases of `platform:` (payloads fetched and
/// read in the cache), then each operator catalog (fetched, selected and rebuilt in the cache)
/// with its bundle and related images.
async fn plan_work(options: &Options, set: &ImageSet) -> anyhow::Result<Work> {
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
        code: 0,
    };
    let platform = set.content.platform.as_ref().filter(|p| !p.channels.is_empty() || p.release.is_some() || p.graph);
    if platform.is_none() && set.content.operators.is_empty() {
        return Ok(work);
    }
    let cache = Cache::new(&options.cache);
    let online = match &options.workflow {
        Workflow::DiskToMirror(_) => None,
        Workflow::MirrorToMirror(_) | Workflow::MirrorToDisk => {
            let mut hosts: Vec<String> = set
                .content
                .operators
                .iter()
                .filter_map(|o| match o.catalog.parse::<CatalogRef>() {
                    Ok(CatalogRef::Image(i)) => Some(i.registry().to_string()),
                    _ => None,
                })
                .collect();
            hosts.extend(platform.and_then(|p| p.release.as_deref()).and_then(|r| {
                r.trim_start_matches("docker://").parse::<ImageRef>().ok().map(|i| i.registry().to_string())
            }));
            let pool = client_pool(options, options.src_tls_verify, &hosts, &auth_file(options)?)?;
            Some(engine(options, Endpoint::Registry(pool), Endpoint::Cache(cache.clone())))
        }
    };
    if let Some(platform) = platform {
        plan_releases(options, platform, online.as_ref(), &cache, &mapping, set, &mut work).await?;
    }
    let fetch = online.as_ref().map_or(Fetch::Offline, Fetch::Online);
    for operator in &set.content.operators {
        let prepared = match operators::prepare(operator, &fetch, &cache).await {
            Ok(p) => p,
            Err(e) => {
                // The error names the catalog already.
                let message = format!("error mirroring {}", operators::error_chain(&e));
                tracing::error!("{message}");
                write_error_log(&options.working_dir(), &[message])?;
                work.code |= EXIT_OPERATOR;
                continue;
            }
        };
        let bundles = prepared.selection.bundles().count();
        tracing::info!(catalog = %prepared.origin, packages = prepared.selection.packages.len(), bundles, "catalog filtered");
        let failures = operators::plan_bundles(&prepared, &mapping, &set.blocked, &mut work.plan);
        if !failures.is_empty() {
            for f in &failures {
                tracing::error!("{f}");
            }
            write_error_log(&options.working_dir(), &failures)?;
            work.code |= EXIT_OPERATOR;
        }
        let destination = mapping.registry_destination(&prepared.repo, &prepared.tag)?;
        work.catalog_plans.push(prepared.catalog_plan(destination));
        work.catalogs.push(prepared);
    }
    Ok(work)
}

/// Prepares `platform:` and plans its images. A release error is critical (oc-mirror's
/// rule): it is logged and stops the run with the release exit bit.
async fn plan_releases(
    options: &Options,
    platform: &imageset::Platform,
    online: Option<&Engine>,
    cache: &Cache,
    mapping: &Mapping<'_>,
    set: &ImageSet,
    work: &mut Work,
) -> anyhow::Result<()> {
    let upstream = match online {
        Some(_) => {
            let config = TransportConfig {
                tls_verify: options.src_tls_verify,
                cert_dirs: options.cert_dirs.clone(),
                retry: options.retry,
            };
            let http = super::client::http_client(&config, &[])?;
            Some(Upstream::new(http, platform::upstream::Endpoints::from_env()?, options.retry))
        }
        None => None,
    };
    let fetch = match (online, &upstream) {
        (Some(engine), Some(upstream)) => platform::Fetch::Online { engine, upstream },
        _ => platform::Fetch::Offline,
    };
    let working_dir = options.working_dir();
    let context = platform::Context {
        cache,
        working_dir: &working_dir,
        fetch,
        ignore_signatures: options.ignore_release_signature,
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
            write_error_log(&working_dir, &[message])?;
            Err(Failed { code: EXIT_RELEASE | work.code, message: format!("release failed: {e}") }.into())
        }
    }
}

fn auth_file(options: &Options) -> anyhow::Result<AuthFile> {
    match AuthFile::locate(options.authfile.as_deref()) {
        Some(path) => Ok(AuthFile::load(&path)?),
        None => Ok(AuthFile::default()),
    }
}

fn client_pool(options: &Options, tls_verify: bool, hosts: &[String], auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let config = TransportConfig { tls_verify, cert_dirs: options.cert_dirs.clone(), retry: options.retry };
    let mut hosts = hosts.to_vec();
    hosts.sort();
    hosts.dedup();
    Ok(ClientPool::new(config, auth.clone(), &hosts)?)
}

fn source_pool(options: &Options, plan: &Plan, auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let hosts: Vec<String> = plan.images.iter().map(|p| p.source.registry().to_string()).collect();
    client_pool(options, options.src_tls_verify, &hosts, auth)
}

fn destination_pool(options: &Options, registry: &str, auth: &AuthFile) -> anyhow::Result<ClientPool> {
    client_pool(options, options.dest_tls_verify, &[registry.to_string()], auth)
}

fn engine(options: &Options, source: Endpoint, sink: Endpoint) -> Engine {
    Engine::new(
        source,
        sink,
        EngineOptions {
            parallel_images: options.parallel_images,
            parallel_layers: options.parallel_layers,
            retry: options.retry,
            image_timeout: options.image_timeout,
        },
        Progress::new(),
    )
}

/// An engine that writes to the target registry, knowing where earlier runs left blobs there.
async fn engine_to(options: &Options, source: Endpoint, target: &Target, auth: &AuthFile) -> anyhow::Result<Engine> {
    let known = KnownBlobs::load(&Cache::new(&options.cache), &target.registry).await;
    let sink = Endpoint::Registry(destination_pool(options, &target.registry, auth)?);
    Ok(engine(options, source, sink).with_known_blobs(known))
}

async fn mirror_to_mirror(options: &Options, target: &Target, work: &Work) -> anyhow::Result<u8> {
    let auth = auth_file(options)?;
    let source = Endpoint::Registry(source_pool(options, &work.plan, &auth)?);
    let engine = engine_to(options, source, target, &auth).await?;
    let mut outcomes = engine.copy_all(&work.plan.images).await;
    summarize(&engine, &outcomes);
    let last = from_cache(work, &outcomes);
    if !last.is_empty() {
        let from_cache = engine_to(options, Endpoint::Cache(Cache::new(&options.cache)), target, &auth).await?;
        let pushed = from_cache.copy_all(&last).await;
        summarize(&from_cache, &pushed);
        outcomes.extend(pushed);
    }
    write_resources(options, &succeeded(&outcomes), work)?;
    report_failures(&options.working_dir(), &outcomes)
}

/// What goes from the cache once the images are copied: the release payloads (unless one of
/// the release images failed: a cluster must not see a release it can't pull) and the graph
/// image, then the catalogs.
fn from_cache(work: &Work, outcomes: &[ImageOutcome]) -> Vec<ImagePlan> {
    let release_failed = outcomes.iter().any(|o| o.result.is_err() && o.plan.category == Category::Release);
    if release_failed {
        tracing::error!("release payloads not pushed: some of their component images failed");
    }
    work.release_plans
        .iter()
        .filter(|p| !(release_failed && p.category == Category::Release))
        .chain(&work.catalog_plans)
        .cloned()
        .collect()
}

async fn mirror_to_disk(options: &Options, set: &ImageSet, work: &Work) -> anyhow::Result<u8> {
    let auth = auth_file(options)?;
    let cache = Cache::new(&options.cache);
    let engine =
        engine(options, Endpoint::Registry(source_pool(options, &work.plan, &auth)?), Endpoint::Cache(cache.clone()));
    let outcomes = engine.copy_all(&work.plan.images).await;
    summarize(&engine, &outcomes);
    let code = report_failures(&options.working_dir(), &outcomes)?;

    // Release payloads, the graph image and catalogs are in the cache already (prepared there):
    // archive them with the images.
    let mut mirrored = succeeded(&outcomes);
    mirrored.extend(work.release_plans.iter().chain(&work.catalog_plans));
    let blobs = bundle::blobs_of(&cache, &mirrored).await?;
    let history = History::new(&options.working_dir());
    let previous = history.read(options.since)?;
    let new: BTreeSet<_> = blobs.difference(&previous).cloned().collect();
    tracing::info!(blobs = blobs.len(), new = new.len(), "archiving the blobs earlier archives lack");
    let kept = match (set.content.platform.as_ref(), &work.releases) {
        (Some(platform), Some(prepared)) => platform::offline_inputs(platform, prepared),
        _ => Vec::new(),
    };
    let members = bundle::members(&cache, &options.working_dir(), &kept, &options.config, &new)?;
    let (root, strict) = (options.root.clone(), options.strict_archive);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    // archiveSize is validated positive and finite; sizes far below 2^52 bytes are exact.
    let max = (set.archive_size_gib * archive::GIB as f64) as u64;
    let written = tokio::task::spawn_blocking(move || archive::write(&root, &members, max, strict)).await??;
    for (name, size) in &written.oversized {
        tracing::warn!(
            file = %name,
            size,
            "larger than archiveSize; consider archiveSize: {} or more",
            size.div_ceil(archive::GIB)
        );
    }
    for chunk in &written.chunks {
        tracing::info!(archive = %chunk.display(), "written");
    }
    history.append(&previous, &new)?;
    Ok(code)
}

async fn disk_to_mirror(options: &Options, target: &Target, work: &Work) -> anyhow::Result<u8> {
    let auth = auth_file(options)?;
    let engine = engine_to(options, Endpoint::Cache(Cache::new(&options.cache)), target, &auth).await?;
    let mut outcomes = engine.copy_all(&work.plan.images).await;
    let last = from_cache(work, &outcomes);
    outcomes.extend(engine.copy_all(&last).await);
    summarize(&engine, &outcomes);
    write_resources(options, &succeeded(&outcomes), work)?;
    report_failures(&options.working_dir(), &outcomes)
}

async fn dry_run(options: &Options, work: &Work) -> anyhow::Result<()> {
    let dir = options.working_dir().join("dry-run");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let all = work.all();
    let line = |p: &ImagePlan| format!("docker://{}=docker://{}\n", p.source, p.destination);
    let mapping: String = all.iter().map(|p| line(p)).collect();
    std::fs::write(dir.join("mapping.txt"), mapping)?;
    match &options.workflow {
        Workflow::MirrorToDisk => {
            let cache = Cache::new(&options.cache);
            let mut missing = String::new();
            for p in &all {
                if cache.get_manifest(p.destination.repository(), &p.destination.reference()).await.is_err() {
                    missing.push_str(&line(p));
                }
            }
            if !missing.is_empty() {
                let count = missing.lines().count();
                std::fs::write(dir.join("missing.txt"), missing)?;
                tracing::warn!(
                    "{count}/{} images are not in the cache yet: see {}",
                    all.len(),
                    dir.join("missing.txt").display()
                );
            }
        }
        Workflow::MirrorToMirror(_) | Workflow::DiskToMirror(_) => {
            write_resources(options, &all, work)?;
        }
    }
    tracing::info!(images = all.len(), mapping = %dir.join("mapping.txt").display(), "dry run: nothing copied");
    Ok(())
}

fn succeeded(outcomes: &[ImageOutcome]) -> Vec<&ImagePlan> {
    outcomes.iter().filter(|o| o.result.is_ok()).map(|o| &o.plan).collect()
}

fn write_resources(options: &Options, images: &[&ImagePlan], work: &Work) -> anyhow::Result<()> {
    let dir = options.working_dir().join("cluster-resources");
    if images.is_empty() {
        tracing::info!("nothing mirrored: no cluster resources written");
        return Ok(());
    }
    let written = resources::write(&dir, images, options.max_nested_paths > 0)?;
    let mut files: Vec<PathBuf> = [written.idms, written.itms].into_iter().flatten().collect();
    // A catalog gets its CatalogSource once it is on the mirror, by the digest it has there.
    let pushed: Vec<CatalogResource> = work
        .catalogs
        .iter()
        .filter_map(|c| {
            let plan = images.iter().find(|i| i.category == Category::Catalog && i.source == c.cached)?;
            Some(CatalogResource {
                image: format!("{}@{}", plan.destination.name(), c.digest()),
                repository: plan.destination.repository().to_string(),
                tag: c.tag.to_string(),
                template: c.operator.target_catalog_source_template.as_ref().map(PathBuf::from),
            })
        })
        .collect();
    files.extend(resources::write_catalogs(&dir, &pushed)?);
    if let Some(releases) = &work.releases {
        files.extend(write_release_resources(&dir, images, releases)?);
    }
    for file in files {
        tracing::info!(file = %file.display(), "cluster resource written");
    }
    Ok(())
}

/// The signature ConfigMap of the mirrored releases, and the UpdateService when the graph
/// image is on the mirror.
fn write_release_resources(
    dir: &Path,
    images: &[&ImagePlan],
    releases: &platform::Prepared,
) -> anyhow::Result<Vec<PathBuf>> {
    let mirrored = |cached: &ImageRef| images.iter().find(|i| i.source == *cached);
    let signatures: Vec<(Digest, Vec<u8>)> = releases
        .releases
        .iter()
        .filter(|r| mirrored(&r.cached()).is_some())
        .filter_map(|r| Some((r.digest.clone(), r.signature.clone()?)))
        .collect();
    let mut files = platform::signature::write_configmap(dir, &signatures)?;
    let payload = releases.releases.iter().find_map(|r| mirrored(&r.cached()));
    let graph = releases.graph_image.as_ref().and_then(mirrored);
    if let (Some(payload), Some(graph)) = (payload, graph) {
        files.push(resources::write_update_service(dir, &payload.destination.name(), &graph.destination.to_string())?);
    }
    Ok(files)
}

fn summarize(engine: &Engine, outcomes: &[ImageOutcome]) {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = engine.stats();
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    tracing::info!(
        "{ok}/{} images mirrored ({} already there): {} blobs copied ({} bytes), {} mounted, {} already present, {} manifests written",
        outcomes.len(),
        stats.images_unchanged.load(Relaxed),
        stats.blobs_copied.load(Relaxed),
        stats.bytes.get(),
        stats.blobs_mounted.load(Relaxed),
        stats.blobs_present.load(Relaxed),
        stats.manifests.load(Relaxed),
    );
    for reason in engine.unreachable() {
        tracing::error!("{reason}");
    }
}

/// Writes `logs/mirroring_errors_<time>.txt` when images failed; returns their exit bits.
fn report_failures(working_dir: &Path, outcomes: &[ImageOutcome]) -> anyhow::Result<u8> {
    let failed: Vec<&ImageOutcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if failed.is_empty() {
        return Ok(0);
    }
    let mut lines = Vec::new();
    let mut code = 0;
    for o in &failed {
        if let Err(e) = &o.result {
            let needed_by =
                if o.plan.needed_by.is_empty() { String::new() } else { format!(" ({})", o.plan.needed_by.join("; ")) };
            let line = format!(
                "error mirroring image docker://{}{needed_by} error: {}",
                o.plan.origin,
                operators::error_chain(e)
            );
            if !o.plan.needed_by.is_empty() {
                tracing::error!("{line}");
            }
            lines.push(line);
        }
        code |= o.plan.category.exit_bit();
    }
    let path = write_error_log(working_dir, &lines)?;
    tracing::error!("{} of {} images failed; the errors are in {}", failed.len(), outcomes.len(), path.display());
    Ok(code)
}

/// Appends `lines` to this run's `logs/mirroring_errors_<time>.txt`; returns its path.
fn write_error_log(working_dir: &Path, lines: &[String]) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    static STAMP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stamp = STAMP.get_or_init(|| {
        let format = time::macros::format_description!("[year][month][day]_[hour][minute][second]");
        time::OffsetDateTime::now_utc().format(&format).unwrap_or_default()
    });
    let path = working_dir.join("logs").join(format!("mirroring_errors_{stamp}.txt"));
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
