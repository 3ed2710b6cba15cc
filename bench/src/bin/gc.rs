//! `gc`: garbage collection at scale, and what it costs concurrent pushes.
//!
//! 1. **Scale.** A registry with `--blobs` blobs (default 100,000; files of 1 KiB on disk) and
//!    `--manifests` manifests (default 10,000, five blobs each, half of them tagged), so half of
//!    the blobs are referenced and half are unreferenced and old. The rows are written straight
//!    into a database made by `mirror-registry`, so the setup takes seconds; then
//!    `mirror-registry gc` runs once. Reported: wall time, peak RSS of the gc process, blobs
//!    deleted (target: under 10 s).
//! 2. **Push latency under GC.** 8 clients push small images (HEAD, POST, PUT per blob, then the
//!    manifest) to a running server, once alone and once while `mirror-registry gc
//!    --grace-period 0s` runs in a loop. Reported: p50/p99 of the push requests in each run and
//!    the p99 ratio (target: at most 1.2). A manifest refused with `MANIFEST_BLOB_UNKNOWN` (GC
//!    took a blob between upload and manifest, which a zero grace period allows) is retried, and
//!    counted.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/gc                      # or: --blobs 20000 --manifests 2000 for a quick run
//! ```

#![forbid(unsafe_code)]
#![allow(clippy::cast_precision_loss)] // durations and sizes become floats for display

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sha2::Digest as _;

/// Options.
#[derive(Parser)]
#[command(about = "GC at scale, and push latency with GC looping")]
struct Args {
    /// Our binary (default: target/release/mirror-registry of this workspace).
    #[arg(long)]
    ours: Option<PathBuf>,
    /// Blobs in the scale scenario.
    #[arg(long, default_value_t = 100_000)]
    blobs: usize,
    /// Manifests in the scale scenario.
    #[arg(long, default_value_t = 10_000)]
    manifests: usize,
    /// Images each of the 8 clients pushes in the latency scenario.
    #[arg(long, default_value_t = 60)]
    images: usize,
    /// Where to put the data (default: a temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ours = args
        .ours
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/mirror-registry"));
    anyhow::ensure!(ours.exists(), "{} not found: cargo build --release -p mirror-registry", ours.display());
    let work = match &args.work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let scale = scale(&ours, &work.path().join("scale"), args.blobs, args.manifests)?;
    let latency = latency(&ours, &work.path().join("latency"), args.images)?;
    println!("| figure | value | target | met |");
    println!("|---|--:|---|---|");
    println!(
        "| GC over {} blobs and {} manifests, wall s | {:.2} | < 10 | {} |",
        args.blobs,
        args.manifests,
        scale.seconds,
        yes(scale.seconds < 10.0)
    );
    println!("| GC peak RSS, MiB | {:.1} | | |", scale.peak_rss_kib as f64 / 1024.0);
    println!(
        "| blobs deleted | {} | {} | {} |",
        scale.deleted,
        args.blobs / 2,
        yes(scale.deleted == args.blobs as u64 / 2)
    );
    println!(
        "| push p50 without / with GC looping, ms | {:.2} / {:.2} | | |",
        ms(latency.alone.0),
        ms(latency.with_gc.0)
    );
    println!(
        "| push p99 without / with GC looping, ms | {:.2} / {:.2} | | |",
        ms(latency.alone.1),
        ms(latency.with_gc.1)
    );
    let ratio = latency.with_gc.1.as_secs_f64() / latency.alone.1.as_secs_f64();
    println!("| push p99 ratio with / without GC | {ratio:.2} | ≤ 1.2 | {} |", yes(ratio <= 1.2));
    println!("| GC runs during the pushes | {} | | |", latency.gc_runs);
    println!("| manifests retried after MANIFEST_BLOB_UNKNOWN | {} | | |", latency.retries);
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

struct Scale {
    seconds: f64,
    peak_rss_kib: i64,
    deleted: u64,
}

/// Builds the big store and times one `gc` run.
fn scale(ours: &Path, dir: &Path, blobs: usize, manifests: usize) -> anyhow::Result<Scale> {
    std::fs::create_dir_all(dir)?;
    let status = Command::new(ours).args(["user", "--data-dir"]).arg(dir).arg("list").stdout(Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "creating the database failed");
    eprintln!("scale: writing {blobs} blobs and {manifests} manifests");
    let started = Instant::now();
    let db = rusqlite::Connection::open(dir.join("sqlite-storage/registry.db"))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "OFF")?;
    let tx = db.unchecked_transaction()?;
    tx.execute("INSERT INTO repositories (id, name, created_at) VALUES (1, 'bench/scale', 0)", [])?;
    let mut digests = Vec::with_capacity(blobs);
    {
        let mut blob = tx.prepare("INSERT INTO blobs (digest, size, created_at, last_seen) VALUES (?1, 1024, 0, 0)")?;
        let mut link = tx.prepare("INSERT INTO repository_blobs (repository_id, digest) VALUES (1, ?1)")?;
        for i in 0..blobs {
            let data = format!("blob {i} ").repeat(200).into_bytes()[..1024].to_vec();
            let hex = sha256(&data);
            let path = dir.join("quay-storage/blobs/sha256").join(&hex[..2]);
            std::fs::create_dir_all(&path)?;
            std::fs::write(path.join(&hex), &data)?;
            let digest = format!("sha256:{hex}");
            blob.execute([&digest])?;
            link.execute([&digest])?;
            digests.push(digest);
        }
        let mut manifest = tx.prepare("INSERT INTO manifests (id, repository_id, digest, media_type, content, created_at) VALUES (?1, 1, ?2, 'application/vnd.oci.image.manifest.v1+json', ?3, 0)")?;
        let mut reference = tx.prepare("INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?1, ?2)")?;
        let mut tag =
            tx.prepare("INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES (1, ?1, ?2, 0)")?;
        let per = (blobs / 2 / manifests.max(1)).max(1);
        for m in 0..manifests {
            let refs: Vec<&String> = digests.iter().skip(m * per).take(per).collect();
            let content = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "layers": refs}))?;
            let id = i64::try_from(m + 1)?;
            manifest.execute(rusqlite::params![id, format!("sha256:{}", sha256(&content)), content])?;
            for d in refs {
                reference.execute(rusqlite::params![id, d])?;
            }
            if m % 2 == 0 {
                tag.execute(rusqlite::params![format!("t{m}"), id])?;
            }
        }
    }
    tx.commit()?;
    drop(db);
    eprintln!("scale: setup took {:.1?}; running gc", started.elapsed());
    let started = Instant::now();
    let out = Command::new(ours).args(["gc", "--grace-period", "1h", "--data-dir"]).arg(dir).output()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(out.status.success(), "gc failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("scale: {}", report.trim());
    let deleted = report.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    Ok(Scale { seconds, peak_rss_kib: usage.max_rss(), deleted })
}

struct Latency {
    alone: (Duration, Duration),
    with_gc: (Duration, Duration),
    gc_runs: usize,
    retries: usize,
}

struct Server {
    child: Child,
    base: String,
    config: PathBuf,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(ours: &Path, dir: &Path) -> anyhow::Result<Server> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("config.yml");
    std::fs::write(&config, "log_level: error\ninsecure_http: true\nauth: {enabled: false}\ngc: {enabled: false}\n")?;
    let data = dir.join("data");
    let mut child = Command::new(ours)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("mirror-registry listening on ") {
                    break url.to_string();
                }
            }
            _ => bail!("server exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, base, config, data })
}

/// Pushes `images` images from each of 8 clients; returns every push request's latency and the
/// number of manifest retries.
fn push_all(base: &str, images: usize, round: &str) -> anyhow::Result<(Vec<Duration>, usize)> {
    let results: Vec<anyhow::Result<(Vec<Duration>, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|c| {
                s.spawn(move || -> anyhow::Result<(Vec<Duration>, usize)> {
                    let http = reqwest::blocking::Client::builder().no_proxy().build()?;
                    let mut times = Vec::new();
                    let mut retries = 0;
                    let repo = format!("bench/{round}-{c}");
                    for i in 0..images {
                        let blobs: Vec<Vec<u8>> = (0..3).map(|b| format!("{round} {c} {i} {b} ").repeat(800).into_bytes()).collect();
                        let push_blobs = |times: &mut Vec<Duration>| -> anyhow::Result<()> {
                            for data in &blobs {
                                let digest = format!("sha256:{}", sha256(data));
                                let t = Instant::now();
                                http.head(format!("{base}/v2/{repo}/blobs/{digest}")).send()?;
                                times.push(t.elapsed());
                                let t = Instant::now();
                                let r = http.post(format!("{base}/v2/{repo}/blobs/uploads/")).send()?;
                                times.push(t.elapsed());
                                let location = r.headers().get("location").context("Location")?.to_str()?.to_string();
                                let t = Instant::now();
                                let r = http.put(format!("{location}?digest={digest}")).body(data.clone()).send()?;
                                times.push(t.elapsed());
                                anyhow::ensure!(r.status() == 201, "blob PUT answered {}", r.status());
                            }
                            Ok(())
                        };
                        push_blobs(&mut times)?;
                        let layers: Vec<_> = blobs
                            .iter()
                            .skip(1)
                            .map(|d| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", sha256(d)), "size": d.len()}))
                            .collect();
                        let manifest = serde_json::to_vec(&serde_json::json!({
                            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256(&blobs[0])), "size": blobs[0].len()},
                            "layers": layers,
                        }))?;
                        loop {
                            let t = Instant::now();
                            let r = http
                                .put(format!("{base}/v2/{repo}/manifests/t{i}"))
                                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                                .body(manifest.clone())
                                .send()?;
                            times.push(t.elapsed());
                            match r.status().as_u16() {
                                201 => break,
                                400 => {
                                    retries += 1;
                                    push_blobs(&mut times)?;
                                }
                                other => bail!("manifest PUT answered {other}"),
                            }
                        }
                    }
                    Ok((times, retries))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("pusher panicked")))).collect()
    });
    let mut all = Vec::new();
    let mut retries = 0;
    for r in results {
        let (t, n) = r?;
        all.extend(t);
        retries += n;
    }
    Ok((all, retries))
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let at = |p: usize| v.get((v.len() * p).div_ceil(100).max(1) - 1).copied().unwrap_or_default();
    (at(50), at(99))
}

fn latency(ours: &Path, dir: &Path, images: usize) -> anyhow::Result<Latency> {
    let server = start(ours, dir)?;
    eprintln!("latency: pushing without GC");
    let (alone, _) = push_all(&server.base, images, "alone")?;
    eprintln!("latency: pushing with GC looping");
    let stop = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let gc = {
        let (stop, runs, ours, config, data) =
            (stop.clone(), runs.clone(), ours.to_path_buf(), server.config.clone(), server.data.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ok = Command::new(&ours)
                    .args(["gc", "--grace-period", "0s", "--config"])
                    .arg(&config)
                    .arg("--data-dir")
                    .arg(&data)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    runs.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let pushed = push_all(&server.base, images, "with-gc");
    stop.store(true, Ordering::Relaxed);
    let _ = gc.join();
    let (with_gc, retries) = pushed?;
    Ok(Latency {
        alone: percentiles(alone),
        with_gc: percentiles(with_gc),
        gc_runs: runs.load(Ordering::Relaxed),
        retries,
    })
}
