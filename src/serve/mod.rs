//! `mirror-registry serve`: load the config, make what a first start lacks, open the store,
//! bind, serve until SIGINT/SIGTERM; SIGHUP (or a change of the files) reloads the certificate.
//!
//! - [`bootstrap`]: CA, server certificate and initial admin on first start
//! - [`listener`]: the accept loop (TLS or plain HTTP), timeouts and per-client connection caps
//! - [`idle`]: closes connections with no traffic
//! - [`notify`]: systemd readiness notification (`READY=1` once bound, `STOPPING=1`)

pub mod bootstrap;
pub mod idle;
pub mod listener;
pub mod notify;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::auth::{self, Auth};
use crate::config::Config;
use crate::console::{self, Console};
use crate::metrics::Metrics;
use crate::registry::{self, App};
use crate::store::Store;
use crate::store::gc;
use crate::tls::ReloadableCert;

/// Prefix of the stdout line that says the listener is up (tests and scripts wait for it).
pub const LISTENING: &str = "mirror-registry listening on ";

/// What the command line sets for `serve` (the CLI's flags, as plain values).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The config file; `None` for the embedded default.
    pub config: Option<PathBuf>,
    /// The listen address, over the config's.
    pub listen: Option<std::net::SocketAddr>,
    /// The data directory, over the config's.
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP.
    pub insecure_http: bool,
}

/// The config `serve` runs with: the file (or the embedded default) with flags applied.
///
/// # Errors
/// When the file cannot be loaded or the result is invalid.
pub fn effective_config(args: &Overrides) -> anyhow::Result<Config> {
    let mut config = Config::resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen.to_string();
    }
    config.insecure_http |= args.insecure_http;
    config.validate()?;
    Ok(config)
}

pub(crate) fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// Runs the registry until interrupted.
///
/// # Errors
/// Config, storage or listener failures at start-up.
pub fn run(args: &Overrides) -> anyhow::Result<()> {
    let config = effective_config(args)?;
    // Before anything is created: whatever `serve` makes is its owner's alone (issue #12).
    crate::store::permissions::restrict_umask();
    init_logging(&config.log_level);
    // Every SQLite call and file operation is a short blocking task; a bounded pool keeps the
    // thread count (and so the memory) flat under load while leaving room for bursts.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(32)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config).with_context(|| {
        format!(
            "opening storage (database {}, blobs {})",
            config.database.location(&config.storage),
            config.storage.blobs.display()
        )
    })?;
    store.probe_blobs().await.context("checking the blob store")?;
    let tightened = crate::store::permissions::tighten(&config.storage).context("tightening data permissions")?;
    let mut notes = Vec::new();
    notes.extend(bootstrap::ensure_certificate(&config)?);
    let init_user = bootstrap::ensure_init_user(&config, &store).await?;
    let auth = if config.auth.enabled {
        let settings = auth::Settings {
            anonymous_pull: config.auth.anonymous_pull,
            token_ttl: Duration::from_secs(config.auth.token_ttl_seconds),
        };
        Some(Arc::new(Auth::open(store.clone(), settings).await?))
    } else {
        tracing::warn!("auth.enabled is false: anyone who reaches this registry can push and delete");
        None
    };
    let cert = if config.insecure_http { None } else { Some(ReloadableCert::load(&config.tls.cert, &config.tls.key)?) };
    let tls = cert.as_ref().map(ReloadableCert::server_config).transpose().context("TLS configuration")?;
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Alone on its SQLite file, a starting server settles every placement; on PostgreSQL other
    // replicas may be mid-push, so only placements older than GC's margin are theirs to settle.
    let margin = if config.database.url.is_some() { 60 } else { 0 };
    let restored = store.recover_interrupted(margin).await?;
    if restored > 0 {
        tracing::warn!(restored, "blobs put back from the trash of an interrupted garbage collection");
    }
    let metrics = Arc::new(Metrics::default());
    if config.gc.enabled {
        tokio::spawn(gc::run_periodically(store.clone(), config.gc.clone(), metrics.clone()));
    }
    let frontend = Arc::new(registry::headers::Frontend::from_config(&config.http));
    let database = store.database_description();
    let app = App { store, auth, metrics, tls: tls.is_some(), frontend };
    let console = Arc::new(Console {
        app: app.clone(),
        gc: gc::Options::from_config(&config.gc),
        cert: tls.is_some().then(|| config.tls.cert.clone()),
        blobs_dir: config.storage.blobs.clone(),
        gc_running: tokio::sync::Mutex::new(()),
    });
    let app = registry::router(app).merge(console::router(console)).layer(registry::trace_layer());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "mirror-registry: blobs in {}", absolute(&config.storage.blobs))?;
        match &config.database.url {
            Some(_) => writeln!(out, "mirror-registry: database {database}")?,
            None => writeln!(out, "mirror-registry: database {}", absolute(&config.storage.database))?,
        }
        if tightened > 0 {
            writeln!(
                out,
                "mirror-registry: removed group and other access from {tightened} data files and directories"
            )?;
        }
        for note in &notes {
            writeln!(out, "mirror-registry: {note}")?;
        }
        if let Some(ca) = notes.first().and(Some(config.tls.ca_dir.join("rootCA.pem"))) {
            writeln!(
                out,
                "mirror-registry: clients trust it with: podman login --cert-dir DIR (DIR holding a copy of {} named ca.crt)",
                absolute(&ca)
            )?;
        }
        if let Some((name, password)) = &init_user {
            // Shown once, on stdout only (never in a log line); the database keeps only a hash.
            writeln!(
                out,
                "mirror-registry: created admin {name} with password {} (shown once; change it with `mirror-registry user passwd {name}`)",
                password.expose()
            )?;
        }
        if !config.auth.enabled {
            writeln!(out, "mirror-registry: WARNING: authentication is disabled")?;
        }
        writeln!(out, "{LISTENING}{scheme}://{bound}")?;
        out.flush()?;
    }
    notify::notify(&format!("READY=1\nSTATUS=serving {scheme}://{bound}"));
    tracing::info!(%bound, scheme, "registry ready");
    if let Some(cert) = cert {
        tokio::spawn(watch_certificate(cert));
    }
    listener::serve(listener, app, tls, listener::Limits::from_config(&config.http), shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Reloads the certificate on SIGHUP, and when its files change (checked every few seconds).
async fn watch_certificate(cert: Arc<ReloadableCert>) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            () = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => cert.reload(true),
            () = tokio::time::sleep(Duration::from_secs(5)) => cert.reload(false),
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    // Before the graceful drain, so systemd shows "deactivating" while connections finish.
    notify::notify("STOPPING=1");
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("mirror_registry={default_level},tower_http=warn"))
    });
    // Colour only on a terminal: under systemd the journal would keep the escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
