//! `mirror-registry serve`: load the config, open the store, bind, serve until SIGINT/SIGTERM.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::config::{Config, Storage};
use crate::registry::{self, App};
use crate::store::Store;

/// Prefix of the stdout line that says the listener is up (tests and scripts wait for it).
pub const LISTENING: &str = "mirror-registry listening on ";

/// The config `serve` runs with: the file (or the embedded default) with flags applied.
///
/// # Errors
/// When the file cannot be loaded or the result is invalid.
pub fn effective_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen.to_string();
    }
    if let Some(dir) = &args.data_dir {
        config.storage = Storage::under(dir);
    }
    config.insecure_http |= args.insecure_http;
    config.validate()?;
    Ok(config)
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// Runs the registry until interrupted.
///
/// # Errors
/// Config, storage or listener failures at start-up.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let config = effective_config(args)?;
    init_logging(&config.log_level);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config).with_context(|| {
        format!(
            "opening storage (database {}, blobs {})",
            config.storage.database.display(),
            config.storage.blobs.display()
        )
    })?;
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = registry::router(App { store, tls: false }).layer(registry::trace_layer());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "mirror-registry: blobs in {}", absolute(&config.storage.blobs))?;
        writeln!(out, "mirror-registry: database {}", absolute(&config.storage.database))?;
        writeln!(out, "{LISTENING}http://{bound}")?;
        out.flush()?;
    }
    tracing::info!(%bound, "registry ready");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("mirror_registry={default_level},tower_http=warn"))
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
