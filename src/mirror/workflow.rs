//! The workflows end to end: mirror to mirror, mirror to disk, disk to mirror, and the dry run
//! of each. This is the top of the mirror command, so errors are gathered with `anyhow`.
//!
//! ```text
//! DIR/                                  file://DIR (mirror to disk), --from, --workspace
//!   mirror_000001.tar ...               archives (mirror to disk writes, disk to mirror reads)
//!   working-dir/
//!     logs/mirroring_errors_<time>.txt  one line per image that failed
//!     dry-run/mapping.txt               docker://SOURCE=docker://DESTINATION per image
//!     dry-run/missing.txt               (mirror to disk) images the cache lacks
//!     cluster-resources/                idms-oc-mirror.yaml, itms-oc-mirror.yaml
//!     .history/                         blobs already archived
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::cache::Cache;
use super::client::{AuthFile, ClientPool, TransportConfig};
use super::copy::{Endpoint, Engine, EngineOptions, ImageOutcome};
use super::history::History;
use super::imageset::{self, ImageSet, Kind};
use super::options::Options;
use super::plan::{self, ImagePlan, Plan, PlanInput, Target, Workflow};
use super::progress::Progress;
use super::{Failed, archive, bundle, resources};

/// Exit bit of a generic failure.
const EXIT_GENERIC: u8 = 1;

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
            "platform" => 2,
            "operators" => 4,
            "helm" => 16,
            _ => EXIT_GENERIC,
        };
    }
    let plan = plan::build(&PlanInput {
        additional_images: &set.content.additional_images,
        blocked: &set.blocked,
        workflow: &options.workflow,
        max_nested_paths: options.max_nested_paths,
    })?;
    for blocked in &plan.blocked {
        tracing::info!(image = %blocked.origin, pattern = %blocked.pattern, "skipped: matches blockedImages");
    }
    if options.dry_run {
        dry_run(options, &plan).await?;
    } else {
        code |= match &options.workflow {
            Workflow::MirrorToMirror(target) => mirror_to_mirror(options, target, &plan).await?,
            Workflow::MirrorToDisk => mirror_to_disk(options, &set, &plan).await?,
            Workflow::DiskToMirror(target) => disk_to_mirror(options, target, &plan).await?,
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
    match AuthFile::locate(options.authfile.as_deref()) {
        Some(path) => Ok(AuthFile::load(&path)?),
        None => Ok(AuthFile::default()),
    }
}

fn source_pool(options: &Options, plan: &Plan, auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let hosts: BTreeSet<String> = plan.images.iter().map(|p| p.source.registry().to_string()).collect();
    let config = TransportConfig {
        tls_verify: options.src_tls_verify,
        cert_dirs: options.cert_dirs.clone(),
        retry: options.retry,
    };
    Ok(ClientPool::new(config, auth.clone(), &hosts.into_iter().collect::<Vec<_>>())?)
}

fn destination_pool(options: &Options, registry: &str, auth: &AuthFile) -> anyhow::Result<ClientPool> {
    let config = TransportConfig {
        tls_verify: options.dest_tls_verify,
        cert_dirs: options.cert_dirs.clone(),
        retry: options.retry,
    };
    Ok(ClientPool::new(config, auth.clone(), &[registry.to_string()])?)
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

async fn mirror_to_mirror(options: &Options, target: &Target, plan: &Plan) -> anyhow::Result<u8> {
    let auth = auth_file(options)?;
    let engine = engine(
        options,
        Endpoint::Registry(source_pool(options, plan, &auth)?),
        Endpoint::Registry(destination_pool(options, &target.registry, &auth)?),
    );
    let outcomes = engine.copy_all(&plan.images).await;
    summarize(&engine, &outcomes);
    write_resources(options, &succeeded(&outcomes))?;
    report_failures(&options.working_dir(), &outcomes)
}

async fn mirror_to_disk(options: &Options, set: &ImageSet, plan: &Plan) -> anyhow::Result<u8> {
    let auth = auth_file(options)?;
    let cache = Cache::new(&options.cache);
    let engine =
        engine(options, Endpoint::Registry(source_pool(options, plan, &auth)?), Endpoint::Cache(cache.clone()));
    let outcomes = engine.copy_all(&plan.images).await;
    summarize(&engine, &outcomes);
    let code = report_failures(&options.working_dir(), &outcomes)?;

    let mirrored = succeeded(&outcomes);
    let blobs = bundle::blobs_of(&cache, &mirrored).await?;
    let history = History::new(&options.working_dir());
    let previous = history.read(options.since)?;
    let new: BTreeSet<_> = blobs.difference(&previous).cloned().collect();
    tracing::info!(blobs = blobs.len(), new = new.len(), "archiving the blobs earlier archives lack");
    let members = bundle::members(&cache, &options.working_dir(), &options.config, &new)?;
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

async fn disk_to_mirror(options: &Options, target: &Target, plan: &Plan) -> anyhow::Result<u8> {
    let (from, cache_root) = (options.root.clone(), options.cache.clone());
    let extracted = tokio::task::spawn_blocking(move || archive::extract(&from, &cache_root)).await??;
    tracing::info!(archives = extracted.archives, blobs = extracted.blobs, "archives extracted and verified");
    let auth = auth_file(options)?;
    let engine = engine(
        options,
        Endpoint::Cache(Cache::new(&options.cache)),
        Endpoint::Registry(destination_pool(options, &target.registry, &auth)?),
    );
    let outcomes = engine.copy_all(&plan.images).await;
    summarize(&engine, &outcomes);
    write_resources(options, &succeeded(&outcomes))?;
    report_failures(&options.working_dir(), &outcomes)
}

async fn dry_run(options: &Options, plan: &Plan) -> anyhow::Result<()> {
    let dir = options.working_dir().join("dry-run");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let line = |p: &ImagePlan| format!("docker://{}=docker://{}\n", p.source, p.destination);
    let mapping: String = plan.images.iter().map(line).collect();
    std::fs::write(dir.join("mapping.txt"), mapping)?;
    match &options.workflow {
        Workflow::MirrorToDisk => {
            let cache = Cache::new(&options.cache);
            let mut missing = String::new();
            for p in &plan.images {
                if cache.get_manifest(p.destination.repository(), &p.destination.reference()).await.is_err() {
                    missing.push_str(&line(p));
                }
            }
            if !missing.is_empty() {
                let count = missing.lines().count();
                std::fs::write(dir.join("missing.txt"), missing)?;
                tracing::warn!(
                    "{count}/{} images are not in the cache yet: see {}",
                    plan.images.len(),
                    dir.join("missing.txt").display()
                );
            }
        }
        Workflow::MirrorToMirror(_) | Workflow::DiskToMirror(_) => {
            write_resources(options, &plan.images.iter().collect::<Vec<_>>())?;
        }
    }
    tracing::info!(images = plan.images.len(), mapping = %dir.join("mapping.txt").display(), "dry run: nothing copied");
    Ok(())
}

fn succeeded(outcomes: &[ImageOutcome]) -> Vec<&ImagePlan> {
    outcomes.iter().filter(|o| o.result.is_ok()).map(|o| &o.plan).collect()
}

fn write_resources(options: &Options, images: &[&ImagePlan]) -> anyhow::Result<()> {
    if images.is_empty() {
        tracing::info!("nothing mirrored: no IDMS or ITMS written");
        return Ok(());
    }
    let dir = options.working_dir().join("cluster-resources");
    let written = resources::write(&dir, images, options.max_nested_paths > 0)?;
    for file in [written.idms, written.itms].into_iter().flatten() {
        tracing::info!(file = %file.display(), "cluster resource written");
    }
    Ok(())
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
}

/// Writes `logs/mirroring_errors_<time>.txt` when images failed; returns their exit bits.
fn report_failures(working_dir: &Path, outcomes: &[ImageOutcome]) -> anyhow::Result<u8> {
    let failed: Vec<&ImageOutcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if failed.is_empty() {
        return Ok(0);
    }
    let mut text = String::new();
    let mut code = 0;
    for o in &failed {
        if let Err(e) = &o.result {
            let mut chain = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let _ = write!(chain, ": {s}");
                source = s.source();
            }
            let _ = writeln!(text, "error mirroring image docker://{} error: {chain}", o.plan.origin);
        }
        code |= o.plan.category.exit_bit();
    }
    let format = time::macros::format_description!("[year][month][day]_[hour][minute][second]");
    let stamp = time::OffsetDateTime::now_utc().format(&format).unwrap_or_default();
    let path = working_dir.join("logs").join(format!("mirroring_errors_{stamp}.txt"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    tracing::error!("{} of {} images failed; the errors are in {}", failed.len(), outcomes.len(), path.display());
    Ok(code)
}
