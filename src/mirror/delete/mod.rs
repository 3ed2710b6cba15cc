//! `mirror delete`: oc-mirror v2's delete workflow, in two phases.
//!
//! ```text
//! 1. mirror delete -c delete-isc.yaml --generate --workspace file://DIR [--delete-id ID] docker://REG[/ns]
//!      reads a DeleteImageSetConfiguration, plans it the way the mirror run that filled REG did
//!      (offline, from the cache and DIR/working-dir of that run), and writes
//!      DIR/working-dir/delete/delete-images[-ID].yaml           the DeleteImageList
//!      DIR/working-dir/delete/delete-imageset-config[-ID].yaml  the configuration, as given
//!      Nothing is deleted.
//! 2. mirror delete --delete-yaml-file FILE docker://REG[/ns] [--force-cache-delete] [--delete-signatures]
//!      deletes the manifests the file lists (see `remove`), then says how to free the blobs.
//! ```
//!
//! What is listed is what the same configuration mirrors, through the same planning code
//! (`sources`): additional images, the bundles and related images the operator entries select
//! (in the catalog the earlier run left in the cache), the payloads, components and graph image
//! of the releases. Operator catalogs are not listed: operators left in them still need them.
//! Only manifests are deleted, never blobs; the registry's garbage collection frees those. On a
//! mirror-registry the figure comes from its `/metrics` (`mirror_registry_reclaimable_bytes`).

pub mod list;
pub mod remove;

use std::path::PathBuf;

use anyhow::Context as _;

use super::Failed;
use super::cache::Cache;
use super::client::{RetryPolicy, TransportConfig};
use super::copy::EngineOptions;
use super::imageset::{self, Kind};
use super::plan::{Target, Workflow};
use super::sources::{self, PlanOptions, Purpose};
use crate::store::gc::human_bytes;
use list::DeleteImageList;
use remove::{Deleted, Outcome, Removal};

/// Stem of the delete list's file name.
const IMAGES_STEM: &str = "delete-images";
/// Stem of the configuration copy's file name.
const CONFIG_STEM: &str = "delete-imageset-config";

/// The resolved options of one `mirror delete`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Phase 1 or phase 2.
    pub task: Task,
    /// `docker://REG[/ns]`: the registry the images were mirrored to.
    pub target: Target,
    /// The cache of the mirror run (`<cache-dir>/.oc-mirror/.cache`).
    pub cache: PathBuf,
    /// `--authfile`.
    pub authfile: Option<PathBuf>,
    /// Check the destination's certificate.
    pub dest_tls_verify: bool,
    /// Extra CA directories.
    pub cert_dirs: Vec<PathBuf>,
    /// Retries of each request.
    pub retry: RetryPolicy,
    /// Images deleted at once.
    pub parallel_images: usize,
    /// `--max-nested-paths` of the mirror run, so that the names match what it pushed.
    pub max_nested_paths: usize,
    /// `--log-level`.
    pub log_level: String,
}

/// The two phases.
#[derive(Debug, Clone)]
pub enum Task {
    /// `--generate`: write the delete list.
    Generate {
        /// The DeleteImageSetConfiguration.
        config: PathBuf,
        /// `--workspace` (`file://DIR`): the directory of the mirror run, holding `working-dir`.
        workspace: PathBuf,
        /// `--delete-id`.
        delete_id: Option<String>,
    },
    /// `--delete-yaml-file`: delete what the list names.
    Delete {
        /// The delete list.
        file: PathBuf,
        /// `--force-cache-delete`.
        force_cache_delete: bool,
        /// `--delete-signatures`.
        delete_signatures: bool,
    },
}

/// Runs the phase the options name.
///
/// # Errors
/// Anything that stops the phase; [`Failed`] when some images could not be listed or deleted.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    match &options.task {
        Task::Generate { config, workspace, delete_id } => {
            generate(options, config, &workspace.join("working-dir"), delete_id.as_deref()).await
        }
        Task::Delete { file, force_cache_delete, delete_signatures } => {
            delete(options, file, *force_cache_delete, *delete_signatures).await
        }
    }
}

async fn generate(
    options: &Options,
    config: &std::path::Path,
    working_dir: &std::path::Path,
    delete_id: Option<&str>,
) -> anyhow::Result<()> {
    let set = imageset::load(config)?;
    if set.kind != Kind::Delete {
        anyhow::bail!(
            "{}: delete --generate needs kind: {} (the images to delete), not {}",
            config.display(),
            imageset::DELETE_KIND,
            imageset::KIND
        );
    }
    let mut code = 0;
    let plan_options = PlanOptions {
        // The images are found as a disk-to-mirror run finds them: in the cache, mapped to REG.
        workflow: Workflow::DiskToMirror(options.target.clone()),
        max_nested_paths: options.max_nested_paths,
        cache: options.cache.clone(),
        working_dir: working_dir.to_path_buf(),
        authfile: options.authfile.clone(),
        source: transport(options),
        engine: EngineOptions {
            parallel_images: options.parallel_images,
            parallel_layers: 1,
            retry: options.retry,
            image_timeout: std::time::Duration::from_hours(1),
        },
        ignore_release_signature: true,
        purpose: Purpose::Delete,
    };
    let work = sources::plan(&plan_options, &set).await?;
    code |= work.code;
    for blocked in &work.plan.blocked {
        tracing::info!(image = %blocked.origin, pattern = %blocked.pattern, "not listed: matches blockedImages");
    }
    let list = DeleteImageList::from_work(&work);
    let images = list::file_path(working_dir, IMAGES_STEM, delete_id);
    let copy = list::file_path(working_dir, CONFIG_STEM, delete_id);
    let dir = working_dir.join(list::DELETE_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&images, list.to_yaml()?).with_context(|| format!("writing {}", images.display()))?;
    std::fs::copy(config, &copy).with_context(|| format!("copying {} to {}", config.display(), copy.display()))?;
    println!("{} images to delete are listed in {}; nothing was deleted.", list.items.len(), images.display());
    println!("Check the list, then delete them with:");
    println!("  {} --delete-yaml-file {} {}", delete_command(), images.display(), destination(&options.target));
    if code == 0 {
        Ok(())
    } else {
        Err(Failed {
            code,
            message: format!("not every image could be listed (exit status {code}); see the log above"),
        }
        .into())
    }
}

async fn delete(
    options: &Options,
    file: &std::path::Path,
    force_cache_delete: bool,
    delete_signatures: bool,
) -> anyhow::Result<()> {
    let list = DeleteImageList::load(file)?;
    let references = remove::references(&list.items, &options.target)
        .map_err(|problems| anyhow::anyhow!("{}: nothing deleted:\n  {}", file.display(), problems.join("\n  ")))?;
    let auth = sources::auth_file(options.authfile.as_deref())?;
    let pool = sources::client_pool(&transport(options), std::slice::from_ref(&options.target.registry), &auth)?;
    // One connection first: an unreachable registry (or a TLS mismatch) stops here, not once
    // per image.
    pool.client(&options.target.registry)
        .get_metrics()
        .await
        .with_context(|| format!("{}: nothing deleted", options.target.registry))?;
    let cache = force_cache_delete.then(|| Cache::new(&options.cache));
    let removal = Removal {
        pool: &pool,
        target: &options.target,
        cache: cache.as_ref(),
        signatures: delete_signatures,
        parallel: options.parallel_images,
    };
    tracing::info!(images = references.len(), file = %file.display(), "deleting manifests");
    let outcomes = removal.run(references).await;
    let failed = summarize(&outcomes, force_cache_delete, delete_signatures);
    report_reclaimable(&pool, &options.target).await;
    if failed.is_empty() {
        return Ok(());
    }
    let message =
        format!("{} of {} images could not be deleted:\n  {}", failed.len(), outcomes.len(), failed.join("\n  "));
    Err(Failed { code: 1, message }.into())
}

/// Prints what was done; returns one line per image that failed.
fn summarize(outcomes: &[Outcome], cache: bool, signatures: bool) -> Vec<String> {
    let count = |want: &Deleted| outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|d| d == want)).count();
    let mut failed: Vec<String> =
        outcomes.iter().filter_map(|o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.reference))).collect();
    println!(
        "{} manifests deleted, {} already deleted, {} failed (of {})",
        count(&Deleted::Now),
        count(&Deleted::Already),
        failed.len(),
        outcomes.len()
    );
    if signatures {
        println!("{} signatures deleted", outcomes.iter().map(|o| o.signatures).sum::<usize>());
    }
    if cache {
        let removed = outcomes.iter().filter(|o| o.cache == Ok(true)).count();
        println!("{removed} images removed from the cache (their blobs stay in the cache until it is cleaned up)");
        failed.extend(
            outcomes.iter().filter_map(|o| o.cache.as_ref().err().map(|e| format!("{} (cache): {e}", o.reference))),
        );
    }
    failed
}

/// Tells how the space of the deleted images is freed: on a mirror-registry, how many bytes its
/// next garbage collection frees and the command that runs it; elsewhere, the registry's own
/// garbage collection.
async fn report_reclaimable(pool: &super::client::ClientPool, target: &Target) {
    let metrics = pool.client(&target.registry).get_metrics().await;
    match metrics.ok().flatten().as_deref().and_then(remove::reclaimable_bytes) {
        Some(bytes) => {
            println!(
                "{}: {bytes} bytes ({}) of blobs are no longer referenced by any manifest.",
                target.registry,
                human_bytes(bytes)
            );
            println!(
                "Run `mirror-registry gc` on the registry host to free them (blobs touched within gc.grace_period, 1h by default, wait for a later run)."
            );
        }
        None => println!(
            "Only manifests were deleted: run your registry's garbage collection to free the space of their blobs."
        ),
    }
}

fn transport(options: &Options) -> TransportConfig {
    TransportConfig { tls_verify: options.dest_tls_verify, cert_dirs: options.cert_dirs.clone(), retry: options.retry }
}

/// How the user runs phase 2: as `oc-mirror delete` when the binary was invoked as `oc-mirror`.
fn delete_command() -> &'static str {
    let invoked_as = std::env::args_os().next().map(PathBuf::from);
    if invoked_as.as_deref().and_then(std::path::Path::file_name).is_some_and(|n| n == "oc-mirror") {
        "oc-mirror delete"
    } else {
        "mirror-registry mirror delete"
    }
}

fn destination(target: &Target) -> String {
    match &target.namespace {
        Some(ns) => format!("docker://{}/{ns}", target.registry),
        None => format!("docker://{}", target.registry),
    }
}
