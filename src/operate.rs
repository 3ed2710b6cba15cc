//! The operator commands `gc`, `status`, `fsck` and `migrate-storage`: open the store a config names (the server
//! may be running: same database, same rules), do the work, print a report on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::cli::ops::{FsckArgs, GcArgs, MigrateArgs, StatusArgs, Target};
use crate::config::{BlobBackend, Config};
use crate::store::Store;
use crate::store::gc::{self, human_bytes};

fn open(target: &Target) -> anyhow::Result<(Config, Store)> {
    // What gc and fsck create (trash, quarantine, journals) is the owner's alone, as in `serve`.
    crate::store::permissions::restrict_umask();
    let config = Config::resolve(target.config.as_deref(), target.data_dir.as_deref())?;
    config.validate()?;
    // A missing SQLite file means a wrong path, not a new registry: don't create one here.
    anyhow::ensure!(
        config.database.url.is_some() || config.storage.database.exists(),
        "no registry database at {} (check --config / --data-dir)",
        config.storage.database.display()
    );
    let store = Store::open(&config)
        .with_context(|| format!("opening the database {}", config.database.location(&config.storage)))?;
    Ok((config, store))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// `mirror-registry gc`.
///
/// # Errors
/// Config or storage failures.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let (config, store) = open(&args.target)?;
    let mut options = gc::Options::from_config(&config.gc);
    options.dry_run = args.dry_run;
    if let Some(g) = args.grace_period {
        options.grace_period = g.0;
    }
    let report = runtime()?.block_on(gc::run(&store, &options))?;
    if !report.busy {
        tracing::info!(%report, "garbage collection finished");
    }
    println!("{report}");
    Ok(())
}

/// `mirror-registry status`.
///
/// # Errors
/// Config or storage failures.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let (config, store) = open(&args.target)?;
    let (stats, last_gc) =
        runtime()?.block_on(async { anyhow::Ok((store.stats().await?, store.last_gc_run().await?)) })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "repositories        {}", stats.repositories)?;
    writeln!(out, "manifests           {}", stats.manifests)?;
    writeln!(out, "tags                {}", stats.tags)?;
    writeln!(out, "blobs               {}", stats.blobs)?;
    writeln!(out, "bytes stored        {}", human_bytes(stats.bytes_stored))?;
    writeln!(out, "bytes reclaimable   {} (blobs no manifest references)", human_bytes(stats.bytes_reclaimable))?;
    writeln!(out, "uploads in progress {}", stats.uploads)?;
    writeln!(out, "database            {}", store.database_description())?;
    match (&config.storage.backend, &config.storage.s3) {
        (BlobBackend::S3, Some(s3)) => {
            let answer = runtime()?
                .block_on(store.probe_blobs())
                .map_or_else(|e| format!("unreachable: {e}"), |()| "answering".into());
            writeln!(out, "blob store          s3 bucket {} at {} ({answer})", s3.bucket, s3.endpoint)?;
        }
        _ => match nix::sys::statvfs::statvfs(&config.storage.blobs) {
            Ok(v) => {
                let free = v.blocks_available() * v.fragment_size();
                writeln!(out, "disk free           {} ({})", human_bytes(free), config.storage.blobs.display())?;
            }
            Err(e) => writeln!(out, "disk free           unknown ({e})")?,
        },
    }
    if config.insecure_http {
        writeln!(out, "certificate         none (plain HTTP)")?;
    } else {
        match crate::tls::describe_cert(&config.tls.cert) {
            Ok((names, expires)) => {
                let days = expires.duration_since(SystemTime::now()).map_or(0, |d| d.as_secs() / 86400);
                writeln!(
                    out,
                    "certificate         {} expires in {days} days ({})",
                    config.tls.cert.display(),
                    names.join(", ")
                )?;
            }
            Err(e) => writeln!(out, "certificate         unreadable: {e}")?,
        }
    }
    match last_gc {
        Some(run) => {
            let ago = store.clock() - run.finished_at;
            writeln!(
                out,
                "last gc             {}s ago: {} blobs ({}), {} manifests, {} tags",
                ago,
                run.blobs_deleted,
                human_bytes(run.bytes_freed),
                run.manifests_deleted,
                run.tags_deleted
            )?;
        }
        None => writeln!(out, "last gc             never")?,
    }
    Ok(())
}

/// `mirror-registry fsck`. Exits non-zero when problems remain (none repaired).
///
/// # Errors
/// Config or storage failures, or problems found without `--repair`.
pub fn fsck(args: &FsckArgs) -> anyhow::Result<()> {
    let (_, store) = open(&args.target)?;
    let rt = runtime()?;
    let total = rt.block_on(store.stats())?.bytes_stored;
    let bar = byte_bar(total, "re-hashing blobs");
    let b = bar.clone();
    let report = rt.block_on(store.fsck(args.repair, Arc::new(move |n| b.inc(n))))?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    writeln!(out, "checked {} blobs ({})", report.blobs_checked, human_bytes(report.bytes_checked))?;
    let action = |repaired: &str| if args.repair { repaired.to_string() } else { String::new() };
    for d in &report.corrupt {
        writeln!(out, "corrupt blob {d}{}", action(" (quarantined)"))?;
    }
    for d in &report.missing {
        writeln!(out, "missing file for blob {d}{}", action(" (row removed; push it again)"))?;
    }
    for p in &report.orphans {
        writeln!(out, "file with no row {}{}", p.display(), action(" (deleted)"))?;
    }
    for p in &report.database {
        writeln!(out, "database: {p}")?;
    }
    if report.is_clean() {
        writeln!(out, "clean")?;
        return Ok(());
    }
    anyhow::ensure!(
        args.repair && report.database.is_empty(),
        "fsck found problems{}",
        if args.repair { " the repair cannot fix" } else { "; run with --repair" }
    );
    Ok(())
}

/// A byte progress bar on a terminal, hidden elsewhere.
fn byte_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        let template = format!("{{spinner}} {what} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}})");
        bar.set_style(
            indicatif::ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// `mirror-registry migrate-storage`.
///
/// # Errors
/// Config or storage failures, a corrupt source blob, or counts that do not match.
pub fn migrate_storage(args: &MigrateArgs) -> anyhow::Result<()> {
    let (_, source) = open(&args.target)?;
    let config = Config::load(&args.to)?;
    let destination = Store::open(&config)
        .with_context(|| format!("opening the destination {}", config.database.location(&config.storage)))?;
    let rt = runtime()?;
    rt.block_on(destination.probe_blobs()).context("checking the destination's blob store")?;
    let total = rt.block_on(source.stats())?.bytes_stored;
    let bar = byte_bar(total, "copying blobs");
    let b = bar.clone();
    let report = rt.block_on(crate::store::migrate::migrate(&source, &destination, Arc::new(move |n| b.inc(n))))?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "blobs: {} copied, {} already there, {} verified",
        report.blobs_copied,
        report.blobs_present,
        human_bytes(report.bytes)
    )?;
    for (table, rows) in &report.rows {
        writeln!(out, "{table:<20}{rows} rows")?;
    }
    writeln!(out, "migrated to {}", destination.database_description())?;
    Ok(())
}
