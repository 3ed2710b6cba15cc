//! The bundled mirroring client, `mirror-registry mirror` (also the binary invoked as
//! `oc-mirror`): image set configurations, planning, the registry client, the copy engine,
//! the disk cache, archives and cluster resources, compatible with oc-mirror v2.
//!
//! | module | owns |
//! | --- | --- |
//! | `options` | the command line resolved: workflow, directories, durations |
//! | `imageset` | the ImageSetConfiguration file: strict decoding, validation with positions |
//! | `plan` | which image goes where: destination mapping, nested paths, blocked images |
//! | `client` | the registry client: transport, TLS, auth.json, tokens, retries |
//! | `copy` | the copy engine: manifests and blobs, source to destination, once per run |
//! | `verify` | digest verification of blob streams on the fly |
//! | `cache` | the disk cache in the distribution filesystem layout |
//! | `known_blobs` | which repository of a destination registry holds a blob, kept across runs |
//! | `files` | small files kept between runs, replaced whole (write and rename) |
//! | `cached_image`, `layers` | images in the cache read as files: one directory out of the layers |
//! | `rebuild` | an image rebuilt with one more layer (filtered catalogs, the graph data image) |
//! | `archive`, `bundle`, `history` | `mirror_NNNNNN.tar` files, what goes in them, `.history` |
//! | `platform` | the `platform:` source: update graph, release payloads, signatures, graph image |
//! | `operators` | the `operators:` source: catalogs read, filtered, rebuilt; bundles planned |
//! | `helm` | the `helm:` source: chart repositories, charts rendered like `helm template`, their images |
//! | `version` | semantic versions and version ranges, shared by releases and bundles |
//! | `resources` | IDMS, ITMS, CatalogSource and ClusterCatalog files |
//! | `sources` | every source planned into one `Work`: shared by the workflows and `delete` |
//! | `workflow` | the three workflows and the dry run, end to end |
//! | `delete` | `mirror delete`: the delete list generated from a DeleteImageSetConfiguration, then deleted |
//! | `progress` | the progress display |
//!
//! Calls go one way: `workflow`, `delete` → `sources` (planning: `plan`, `operators`,
//! `platform`, `helm`) and `copy`/`archive`/`bundle`/`resources` → `client`/`cache`/`known_blobs`/
//! `verify` → `reference`/`manifest`. Each module below them has its own `thiserror` enum;
//! `workflow`, `delete` and `sources` gather them with `anyhow`.
//!
//! Exit status (oc-mirror's bitmask): 0 when everything was mirrored; otherwise 1 for a generic
//! failure, plus 2 for release images, 4 for operators, 8 for additional images and 16 for
//! helm charts or images that failed.

pub mod archive;
pub mod bundle;
pub mod cache;
pub mod cached_image;
pub mod client;
pub mod copy;
pub mod delete;
pub mod files;
pub mod helm;
pub mod history;
pub mod imageset;
pub mod known_blobs;
pub mod layers;
pub mod operators;
pub mod options;
pub mod plan;
pub mod platform;
pub mod progress;
pub mod rebuild;
pub mod resources;
pub mod sources;
pub mod verify;
pub mod version;
pub mod workflow;

/// A run that finished but did not mirror everything; `code` is oc-mirror's exit bitmask.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failed {
    /// The process exit code.
    pub code: u8,
    /// What failed, in one line.
    pub message: String,
}

/// Runs `mirror` with the parsed command line: sets up logging and a runtime, then the workflow.
///
/// # Errors
/// Anything that stops the run; [`Failed`] (inside the `anyhow::Error`) when images failed.
pub fn run(options: &options::Options) -> anyhow::Result<()> {
    init_logging(&options.log_level);
    for notice in &options.notices {
        tracing::warn!("{notice}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(workflow::run(options))
}

/// `mirror version`: the version, as text or as oc-mirror's `--output json|yaml` object.
#[must_use]
pub fn version_text(output: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let info = serde_json::json!({
        "clientVersion": {
            "gitVersion": format!("v{version}"),
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        },
        "compatibleWith": "oc-mirror --v2",
    });
    match output {
        Some("json") => format!("{}\n", serde_json::to_string_pretty(&info).unwrap_or_default()),
        Some("yaml") => serde_yaml::to_string(&info).unwrap_or_default(),
        _ => format!("mirror-registry mirror {version} (oc-mirror v2 compatible)\n"),
    }
}

/// Runs `mirror delete`: sets up logging and a runtime, then the phase the options name.
///
/// # Errors
/// Anything that stops the phase; [`Failed`] (inside the `anyhow::Error`) when images could not
/// be listed or deleted.
pub fn run_delete(options: &delete::Options) -> anyhow::Result<()> {
    init_logging(&options.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(delete::run(options))
}

/// Runs `mirror list operators`: reads the catalog through the cache and prints the table.
///
/// # Errors
/// The catalog can't be fetched or read, or has no such package or channel.
pub fn list_operators(request: &operators::list::Request) -> anyhow::Result<()> {
    init_logging("warn");
    let cache = cache::Cache::new(&options::cache_dir(request.cache_parent.as_deref())?);
    let auth = match client::AuthFile::locate(request.authfile.as_deref()) {
        Some(path) => client::AuthFile::load(&path)?,
        None => client::AuthFile::default(),
    };
    let hosts: Vec<String> = match request.catalog.parse::<imageset::CatalogRef>() {
        Ok(imageset::CatalogRef::Image(i)) => vec![i.registry().to_string()],
        _ => Vec::new(),
    };
    let config = client::TransportConfig {
        tls_verify: request.tls_verify,
        cert_dirs: request.cert_dirs.clone(),
        retry: client::RetryPolicy { times: 3, delay: std::time::Duration::ZERO },
    };
    let pool = client::ClientPool::new(config, auth, &hosts)?;
    let engine = copy::Engine::new(
        copy::Endpoint::Registry(pool),
        copy::Endpoint::Cache(cache.clone()),
        copy::EngineOptions {
            parallel_images: 1,
            parallel_layers: 4,
            retry: client::RetryPolicy { times: 3, delay: std::time::Duration::ZERO },
            image_timeout: std::time::Duration::from_hours(1),
        },
        progress::Progress::new(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let catalog = runtime.block_on(operators::read(&request.catalog, &engine, &cache))?;
    let table = operators::list::render(&catalog, request.package.as_deref(), request.channel.as_deref())?;
    print!("{table}");
    Ok(())
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("mirror_registry={level}")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

/// An error and its causes on one line, each said once.
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    use std::fmt::Write as _;
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Errors that print their source (`{path}: {source}`) are not repeated.
        let text = s.to_string();
        if !chain.contains(&text) {
            let _ = write!(chain, ": {text}");
        }
        source = s.source();
    }
    chain
}
