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
//!     helm/indexes/, helm/charts/, helm/local/   chart repository indexes and charts (see `helm`) *
//!     .history/                         blobs already archived
//!     delete/                           delete-images[-ID].yaml, delete-imageset-config[-ID].yaml
//!                                       (`mirror delete --generate`, see `delete`)
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
use super::imageset::{self, ImageSet, Kind};
use super::known_blobs::KnownBlobs;
use super::options::Options;
use super::plan::{Category, ImagePlan, Plan, Target, Workflow};
use super::platform;
use super::progress::Progress;
use super::resources::CatalogResource;
use super::sources::{self, Work, write_error_log};
use super::{Failed, archive, bundle, resources};
use crate::reference::Digest;
use crate::reference::image::ImageRef;

/// Runs the workflow the options describe.
///
/// # Errors
/// Configuration, file and transport failures that stop the run; [`Failed`] with oc-mirror's
/// exit bitmask when the run finished without mirroring everything.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    let set = imageset::load(&options.config)?;
    if set.kind == Kind::Delete {
        anyhow::bail!(
            "{}: a DeleteImageSetConfiguration is the input of `mirror delete --generate`, not of a mirror run",
            options.config.display()
        );
    }
    let working_dir = options.working_dir();
    for sub in ["logs", "cluster-resources"] {
        let dir = working_dir.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut code = 0u8;
    if let Workflow::DiskToMirror(_) = &options.workflow
        && (!options.dry_run
            || !set.content.operators.is_empty()
            || set.content.platform.is_some()
            || set.content.helm.is_some())
    {
        // Catalogs, releases and charts are read from the archives, so they are unpacked first.
        let (from, cache_root) = (options.root.clone(), options.cache.clone());
        let extracted = tokio::task::spawn_blocking(move || archive::extract(&from, &cache_root)).await??;
        tracing::info!(archives = extracted.archives, blobs = extracted.blobs, "archives extracted and verified");
    }
    let work = sources::plan(&options.plan_options(), &set).await?;
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

fn auth_file(options: &Options) -> anyhow::Result<AuthFile> {
    sources::auth_file(options.authfile.as_deref())
}

fn client_pool(options: &Options, tls_verify: bool, hosts: &[String], auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let config = TransportConfig { tls_verify, cert_dirs: options.cert_dirs.clone(), retry: options.retry };
    sources::client_pool(&config, hosts, auth)
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
    let mut kept = match (set.content.platform.as_ref(), &work.releases) {
        (Some(platform), Some(prepared)) => platform::offline_inputs(platform, prepared),
        _ => Vec::new(),
    };
    kept.extend(work.kept.iter().cloned());
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
            let line =
                format!("error mirroring image docker://{}{needed_by} error: {}", o.plan.origin, super::error_chain(e));
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
