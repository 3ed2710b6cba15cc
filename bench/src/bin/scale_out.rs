//! `scale-out`: push and pull throughput of mirror-registry as one host and as replicas on
//! PostgreSQL and Garage (issue #14), and where the time goes in each.
//!
//! Three setups, one after the other, each on fresh data:
//!
//! 1. **single host**: one `serve` on SQLite and the filesystem (the default install);
//! 2. **1 replica**: one `serve` with `database.url` on a throwaway PostgreSQL and
//!    `storage.backend: s3` on a 3-node Garage cluster (replication factor 3);
//! 3. **2 replicas**: two such `serve`s on the same database and bucket (each talking to its own
//!    Garage node), behind a round-robin proxy that sends every request to the next replica, so a
//!    push's `POST`, `PUT` and manifest `PUT` land on different replicas.
//!
//! Each runs the workload of `mirror-registry-bench` (its modules are included here): small
//! images pushed by concurrent clients (`HEAD`, `POST`, `PUT` with the body per blob, then the
//! manifest), concurrent pullers of those manifests and blobs (every body's digest checked), and
//! one big blob streamed up and down (hashed on the fly, never held whole). The table gives each
//! throughput and the ratios between setups. Then, to see whether the registry, PostgreSQL or
//! Garage is the bottleneck: latency percentiles of each kind of request, and the CPU time each
//! process tree used in each phase against its wall time (`/proc/PID/stat`).
//!
//! Everything shares one machine's cores, the benchmark clients and the proxy included, so this
//! measures what replication costs, not what more hosts would buy. See bench/README.md.
//!
//! ```sh
//! cargo build --release -p mirror-registry -p mirror-registry-bench
//! target/release/scale-out            # or --quick: a smoke run of about a minute
//! ```

#![forbid(unsafe_code)]
#![allow(clippy::cast_precision_loss)] // counts, sizes and durations become floats for display

#[path = "../big_blob.rs"]
mod big_blob;
#[path = "../client.rs"]
mod client;
#[path = "../content.rs"]
mod content;
#[path = "../../../tests/common/garage.rs"]
mod garage;
#[path = "../latency.rs"]
mod latency;
#[path = "../peers.rs"]
#[allow(dead_code)] // only mirror-registry is started here, never distribution
mod peers;
#[path = "../../../tests/common/postgres.rs"]
mod postgres;
#[path = "shared/processes.rs"]
mod processes;
#[path = "shared/proxy.rs"]
mod proxy;
#[path = "../pullers.rs"]
mod pullers;
#[path = "../small_push.rs"]
mod small_push;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;
use reqwest::Url;

use latency::Summary;
use peers::Peer;
use small_push::{Corpus, Step, UploadFlow};

/// Background GC off everywhere: a collection starting mid-run would be measured with the push.
const GC_OFF: &str = "gc: {enabled: false}\n";

/// Push and pull throughput: one host against replicas on PostgreSQL and Garage.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The mirror-registry binary [default: target/release/mirror-registry of this workspace].
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// Where the registries keep their data [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Scaled-down sizes for a smoke run (20 images, 32 MiB big blob, 1,000 pulls), about a minute.
    #[arg(long)]
    quick: bool,
    /// Concurrent clients pushing small images.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Concurrent pullers.
    #[arg(long, default_value_t = 32)]
    pullers: usize,
    /// Images pushed [default: 100, or 20 with --quick].
    #[arg(long)]
    images: Option<usize>,
    /// Layers per image (plus one config blob).
    #[arg(long, default_value_t = 5)]
    layers: usize,
    /// Size of each layer in KiB.
    #[arg(long, default_value_t = 16)]
    layer_kib: usize,
    /// Size of the big blob in MiB [default: 256, or 32 with --quick].
    #[arg(long)]
    big_mib: Option<u64>,
    /// GET requests made by the pullers in all [default: 10000, or 1000 with --quick].
    #[arg(long)]
    pull_requests: Option<usize>,
}

/// The workload, resolved from the arguments.
struct Plan {
    corpus: Arc<Corpus>,
    clients: usize,
    pullers: usize,
    pull_requests: usize,
    big_mib: u64,
}

/// The three setups compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    SingleHost,
    OneReplica,
    TwoReplicas,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::SingleHost, Setup::OneReplica, Setup::TwoReplicas];

    fn label(self) -> &'static str {
        match self {
            Setup::SingleHost => "(1) single host: SQLite + filesystem",
            Setup::OneReplica => "(2) 1 replica: PostgreSQL + Garage",
            Setup::TwoReplicas => "(3) 2 replicas: PostgreSQL + Garage, round-robin proxy",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Setup::SingleHost => "(1)",
            Setup::OneReplica => "(2)",
            Setup::TwoReplicas => "(3)",
        }
    }

    fn replicas(self) -> usize {
        if self == Setup::TwoReplicas { 2 } else { 1 }
    }
}

/// A process tree whose CPU time is recorded per phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Replica,
    Postgres,
    Garage,
}

/// One setup, running.
struct Services {
    replicas: Vec<Peer>,
    /// Where the clients send requests: the proxy, or the only replica.
    base: Url,
    watched: Vec<(Role, u32)>,
    /// Kept for its `Drop`, which stops the nodes.
    _garage: Option<garage::Garage>,
}

/// One phase of the workload: its wall time and the CPU time each process tree used meanwhile.
struct Phase {
    name: &'static str,
    wall: Duration,
    cpu: Vec<(Role, Duration)>,
    /// This process: the benchmark clients and the proxy.
    client: Duration,
}

/// What one setup measured.
struct Figures {
    setup: Setup,
    small: small_push::PushResult,
    pulls: pullers::PullResult,
    big_push: big_blob::Pushed,
    big_pull: Duration,
    phases: Vec<Phase>,
}

fn default_ours() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    target.join("release/mirror-registry")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ours = args.ours.clone().unwrap_or_else(default_ours);
    ensure!(
        ours.is_file(),
        "{} not found: run `cargo build --release -p mirror-registry` or pass --ours",
        ours.display()
    );
    let images = args.images.unwrap_or(if args.quick { 20 } else { 100 });
    let plan = Plan {
        corpus: Arc::new(Corpus::generate(images, args.layers, args.layer_kib * 1024)),
        clients: args.clients,
        pullers: args.pullers,
        pull_requests: args.pull_requests.unwrap_or(if args.quick { 1_000 } else { 10_000 }),
        big_mib: args.big_mib.unwrap_or(if args.quick { 32 } else { 256 }),
    };
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            tempfile::Builder::new().prefix("scale-out-").tempdir_in(dir)
        }
        None => tempfile::Builder::new().prefix("scale-out-").tempdir(),
    }
    .context("making the work directory")?;
    let ceiling = big_blob::client_ceiling(plan.big_mib * 1024 * 1024).await;
    let ceiling_mib_s = plan.big_mib as f64 / secs(ceiling);
    let mut results = Vec::new();
    for setup in Setup::ALL {
        eprintln!("{}", setup.label());
        let dir = work.path().join(setup.short().trim_matches(['(', ')']));
        match run_setup(setup, &ours, &dir, &plan).await {
            Ok(figures) => results.push(figures),
            Err(e) => return Err(e.context(format!("{} (logs kept in {})", setup.label(), work.keep().display()))),
        }
    }
    println!(
        "{images} images × ({} layers of {} KiB + config), {} push clients; {} pullers × {} GETs in all; \
         big blob {} MiB",
        args.layers, args.layer_kib, plan.clients, plan.pullers, plan.pull_requests, plan.big_mib
    );
    println!("the client alone generates and hashes {ceiling_mib_s:.0} MiB/s on one core");
    println!();
    print!("{}", throughput_table(&results, plan.big_mib));
    println!();
    print!("{}", latency_table(&results));
    println!();
    print!("{}", cpu_table(&results));
    Ok(())
}

/// Starts `setup` under `dir`, runs the workload on it and stops it.
async fn run_setup(setup: Setup, ours: &Path, dir: &Path, plan: &Plan) -> anyhow::Result<Figures> {
    let services = start(setup, ours, dir).await?;
    for (role, pid) in &services.watched {
        eprintln!("  {role:?}: pid {pid}");
    }
    let figures = measure(setup, &services, plan).await;
    for replica in services.replicas {
        replica.stop().await?;
    }
    figures
}

/// Starts the processes of `setup`: the replicas, and for the scale-out setups a fresh Garage
/// cluster, a fresh PostgreSQL database and (for more than one replica) the proxy.
async fn start(setup: Setup, ours: &Path, dir: &Path) -> anyhow::Result<Services> {
    let data_dir = dir.join("data");
    if setup == Setup::SingleHost {
        let replica = start_replica(ours, dir, 0, &data_dir, GC_OFF).await?;
        let watched = vec![(Role::Replica, replica.pid)];
        return Ok(Services { base: replica.base.clone(), replicas: vec![replica], watched, _garage: None });
    }
    let garage = tokio::task::spawn_blocking(garage::Garage::start)
        .await
        .context("starting Garage")?
        .context("garage is not installed (cargo install garage --locked)")?;
    let database = tokio::task::spawn_blocking(|| postgres::cluster().map(postgres::Cluster::create_database))
        .await
        .context("starting PostgreSQL")?
        .context("PostgreSQL is not installed (apt-get install postgresql)")?;
    let proxy = if setup.replicas() > 1 { Some(proxy::Proxy::bind().await?) } else { None };
    let mut shared = format!("{GC_OFF}database: {{url: \"{database}\"}}\n");
    if let Some(proxy) = &proxy {
        // Location headers must send the client back through the proxy, not to one replica.
        writeln!(shared, "http: {{public_host: \"{}\"}}", proxy.host)?;
    }
    let mut replicas = Vec::new();
    for i in 0..setup.replicas() {
        let yaml = format!("{shared}{}", garage.storage_yaml(i));
        replicas.push(start_replica(ours, dir, i, &data_dir, &yaml).await?);
    }
    let base = match proxy {
        Some(proxy) => proxy.serve(replicas.iter().map(|r| r.base.clone()).collect())?,
        None => replicas[0].base.clone(),
    };
    let mut watched: Vec<(Role, u32)> = replicas.iter().map(|r| (Role::Replica, r.pid)).collect();
    // When running as root, PostgreSQL runs under `runuser`, whose tree holds it.
    watched.extend(processes::children_named(&["postgres", "runuser"]).into_iter().map(|pid| (Role::Postgres, pid)));
    watched.extend(processes::children_named(&["garage"]).into_iter().map(|pid| (Role::Garage, pid)));
    Ok(Services { replicas, base, watched, _garage: Some(garage) })
}

async fn start_replica(ours: &Path, dir: &Path, i: usize, data_dir: &Path, yaml: &str) -> anyhow::Result<Peer> {
    let own = dir.join(format!("replica{i}"));
    std::fs::create_dir_all(&own).with_context(|| format!("creating {}", own.display()))?;
    Peer::start_ours_with(ours, &own, data_dir, yaml).await
}

/// Runs the workload's four phases against a started setup.
async fn measure(setup: Setup, services: &Services, plan: &Plan) -> anyhow::Result<Figures> {
    let (base, watched) = (&services.base, services.watched.as_slice());
    let push = small_push::run(base, plan.corpus.clone(), plan.clients, UploadFlow::Put);
    let (small, push_phase) = phase("small push", watched, push).await?;
    eprintln!("  small push: {} blobs, {} manifests in {:.2} s", small.blobs, small.manifests, secs(small.elapsed));
    let pull = pullers::run(base, plan.corpus.clone(), plan.pullers, plan.pull_requests);
    let (pulls, pull_phase) = phase("concurrent pulls", watched, pull).await?;
    eprintln!("  pulls: {} in {:.2} s", pulls.all.count, secs(pulls.elapsed));
    let size = plan.big_mib * 1024 * 1024;
    let (big_push, big_push_phase) = phase("big blob push", watched, big_blob::push(base, size, 0xB16)).await?;
    let (big_pull, big_pull_phase) =
        phase("big blob pull", watched, big_blob::pull(base, &big_push.digest, size)).await?;
    eprintln!("  big blob: push {:.2} s, pull {:.2} s", secs(big_push.elapsed), secs(big_pull));
    let phases = vec![push_phase, pull_phase, big_push_phase, big_pull_phase];
    Ok(Figures { setup, small, pulls, big_push, big_pull, phases })
}

/// Runs `work`, recording its wall time and the CPU time of each watched process tree.
async fn phase<T>(
    name: &'static str,
    watched: &[(Role, u32)],
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Phase)> {
    let before: Vec<Duration> = watched.iter().map(|&(_, pid)| processes::tree_cpu(pid)).collect();
    let client_before = processes::own_cpu();
    let started = Instant::now();
    let out = work.await.context(name)?;
    let wall = started.elapsed();
    let client = processes::own_cpu().saturating_sub(client_before);
    let cpu = watched.iter().zip(before).map(|(&(role, pid), b)| (role, processes::tree_cpu(pid).saturating_sub(b)));
    Ok((out, Phase { name, wall, cpu: cpu.collect(), client }))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A throughput figure of one setup, given the big blob's size in MiB.
type Throughput = fn(&Figures, f64) -> f64;

/// The throughput figures and the ratios of the setups to each other.
fn throughput_table(results: &[Figures], big_mib: u64) -> String {
    let rows: [(&str, Throughput); 4] = [
        ("small push, blobs/s", |f, _| f.small.blobs as f64 / secs(f.small.elapsed)),
        ("big blob push, MiB/s", |f, mib| mib / secs(f.big_push.elapsed)),
        ("big blob pull, MiB/s", |f, mib| mib / secs(f.big_pull)),
        ("concurrent pulls, requests/s", |f, _| f.pulls.per_second()),
    ];
    let mut out = String::from("| figure |");
    for f in results {
        let _ = write!(out, " {} |", f.setup.label());
    }
    out.push_str(" (2)/(1) | (3)/(1) | (3)/(2) |\n| --- |");
    out.push_str(&" ---: |".repeat(results.len() + 3));
    out.push('\n');
    for (name, figure) in rows {
        let values: Vec<f64> = results.iter().map(|f| figure(f, big_mib as f64)).collect();
        let _ = write!(out, "| {name} |");
        for v in &values {
            let _ = write!(out, " {v:.1} |");
        }
        for (a, b) in [(1, 0), (2, 0), (2, 1)] {
            match (values.get(a), values.get(b)) {
                (Some(a), Some(b)) => {
                    let _ = write!(out, " {:.2} |", a / b);
                }
                _ => out.push_str(" |"),
            }
        }
        out.push('\n');
    }
    out
}

/// p50 / p99 in milliseconds of each kind of request, per setup.
fn latency_table(results: &[Figures]) -> String {
    let mut out = String::from("| request, p50 / p99 ms |");
    for f in results {
        let _ = write!(out, " {} |", f.setup.short());
    }
    out.push_str("\n| --- |");
    out.push_str(&" ---: |".repeat(results.len()));
    out.push('\n');
    let step = |f: &Figures, want: Step| {
        f.small.steps.iter().find(|(s, _)| *s == want).map(|&(_, summary)| summary).unwrap_or_default()
    };
    for want in [Step::Head, Step::Post, Step::Put, Step::Manifest] {
        latency_row(&mut out, want.name(), results.iter().map(|f| step(f, want)));
    }
    latency_row(&mut out, "GET manifest (pullers)", results.iter().map(|f| f.pulls.manifests));
    latency_row(&mut out, "GET blob (pullers)", results.iter().map(|f| f.pulls.blobs));
    out.push_str("| big blob: final PUT (verify and place), ms |");
    for f in results {
        let _ = write!(out, " {:.0} |", ms(f.big_push.finish));
    }
    out.push('\n');
    out
}

fn latency_row(out: &mut String, name: &str, summaries: impl Iterator<Item = Summary>) {
    let _ = write!(out, "| {name} |");
    for s in summaries {
        let _ = write!(out, " {:.2} / {:.2} |", ms(s.p50), ms(s.p99));
    }
    out.push('\n');
}

/// CPU seconds of each process tree in each phase, against the phase's wall time.
fn cpu_table(results: &[Figures]) -> String {
    let mut out = String::from(
        "| setup | phase | wall s | registry CPU s (per replica) | PostgreSQL CPU s | Garage CPU s (per node) \
         | clients + proxy CPU s | cores busy |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for f in results {
        for p in &f.phases {
            let total = p.cpu.iter().map(|&(_, d)| d).sum::<Duration>() + p.client;
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {} | {} | {:.2} | {:.2} |",
                f.setup.short(),
                p.name,
                secs(p.wall),
                cpu_of(p, Role::Replica),
                cpu_of(p, Role::Postgres),
                cpu_of(p, Role::Garage),
                secs(p.client),
                secs(total) / secs(p.wall),
            );
        }
    }
    out
}

/// `total (a + b + …)` CPU seconds of the trees in `role`, or `-` when there are none.
fn cpu_of(phase: &Phase, role: Role) -> String {
    let each: Vec<f64> = phase.cpu.iter().filter(|(r, _)| *r == role).map(|&(_, d)| secs(d)).collect();
    match each.as_slice() {
        [] => "-".to_owned(),
        [one] => format!("{one:.2}"),
        many => {
            let parts: Vec<String> = many.iter().map(|v| format!("{v:.2}")).collect();
            format!("{:.2} ({})", many.iter().sum::<f64>(), parts.join(" + "))
        }
    }
}
