//! `mirror-registry-bench`: runs the same workload against mirror-registry and CNCF distribution
//! on loopback and prints a table of the figures, their ratio and the targets.
//!
//! The registries run one after the other, never at once (on a small machine they would compete
//! for the cores), each on fresh data in its own directory, which is removed after its run. For
//! each: start and measure idle memory; push the small-object corpus (scenario 1); run the
//! concurrent pullers over it (scenario 3); push and pull the big blob (scenario 2); read the
//! peak memory; stop. With `--rounds N` the whole sequence runs N times, alternating which
//! registry goes first, and the table shows the median of each figure. See README.md.

#![forbid(unsafe_code)]

mod big_blob;
mod client;
mod content;
mod cpu;
mod latency;
mod peers;
mod pullers;
mod report;
mod rss;
mod small_push;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use clap::Parser;

use peers::{Kind, Peer};
use report::{Figures, Usage};
use small_push::{Corpus, UploadFlow};

/// How long a freshly started registry is left alone before its idle memory is read, so that
/// start-up work (runtime threads, caches) is counted and a first request's transient is not.
const SETTLE: Duration = Duration::from_secs(1);

/// Benchmark mirror-registry against CNCF distribution (Debian's docker-registry) on loopback.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The mirror-registry binary [default: target/release/mirror-registry of this workspace].
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// The distribution binary.
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/docker-registry")]
    distribution: PathBuf,
    /// Where the registries keep their data (a temporary directory is made inside); the full run
    /// needs about 3 GiB free [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Scaled-down sizes for a smoke run (20 images, 64 MiB big blob, 2,000 pulls).
    #[arg(long)]
    quick: bool,
    /// Run one registry only (its figures are printed without ratios).
    #[arg(long, value_enum)]
    only: Option<Kind>,
    /// Concurrent clients pushing small objects.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Concurrent pullers.
    #[arg(long, default_value_t = 32)]
    pullers: usize,
    /// Images in the small-object corpus [default: 200, or 20 with --quick].
    #[arg(long)]
    images: Option<usize>,
    /// Layers per image.
    #[arg(long, default_value_t = 10)]
    layers: usize,
    /// Size of each layer in KiB.
    #[arg(long, default_value_t = 16)]
    layer_kib: usize,
    /// Size of the big blob in MiB [default: 1024, or 64 with --quick].
    #[arg(long)]
    big_mib: Option<u64>,
    /// GET requests made by the pullers in all [default: 20000, or 2000 with --quick].
    #[arg(long)]
    pull_requests: Option<usize>,
    /// How small blobs are sent after POST opens the session.
    #[arg(long, value_enum, default_value_t = UploadFlow::Put)]
    upload_flow: UploadFlow,
    /// Run everything this many times, alternating which registry goes first, and report the
    /// median of each figure.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Keep the registries' data and logs instead of removing them.
    #[arg(long)]
    keep: bool,
}

/// The workload, resolved from the arguments.
struct Plan {
    corpus: Arc<Corpus>,
    clients: usize,
    pullers: usize,
    pull_requests: usize,
    big_mib: u64,
    upload_flow: UploadFlow,
}

fn default_ours() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    target.join("release/mirror-registry")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kinds = match args.only {
        Some(kind) => vec![kind],
        None => vec![Kind::Ours, Kind::Distribution],
    };
    let ours = args.ours.clone().unwrap_or_else(default_ours);
    if kinds.contains(&Kind::Ours) {
        ensure!(
            ours.is_file(),
            "{} not found: run `cargo build --release -p mirror-registry` or pass --ours",
            ours.display()
        );
    }
    if kinds.contains(&Kind::Distribution) {
        ensure!(
            args.distribution.is_file(),
            "{} not found: `apt-get install docker-registry` or pass --distribution",
            args.distribution.display()
        );
    }
    let images = args.images.unwrap_or(if args.quick { 20 } else { 200 });
    eprintln!("making the corpus: {images} images × (1 config + {} layers of {} KiB)", args.layers, args.layer_kib);
    let plan = Plan {
        corpus: Arc::new(Corpus::generate(images, args.layers, args.layer_kib * 1024)),
        clients: args.clients,
        pullers: args.pullers,
        pull_requests: args.pull_requests.unwrap_or(if args.quick { 2_000 } else { 20_000 }),
        big_mib: args.big_mib.unwrap_or(if args.quick { 64 } else { 1024 }),
        upload_flow: args.upload_flow,
    };

    let ceiling = big_blob::client_ceiling(plan.big_mib * 1024 * 1024).await;
    let ceiling_mib_s = u32::try_from(plan.big_mib).map_or(0.0, f64::from) / ceiling.as_secs_f64();
    eprintln!("client alone generates and hashes {ceiling_mib_s:.0} MiB/s");

    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            tempfile::Builder::new().prefix("mirror-registry-bench-").tempdir_in(dir)
        }
        None => tempfile::Builder::new().prefix("mirror-registry-bench-").tempdir(),
    }
    .context("making the work directory")?;
    eprintln!("work directory: {}", work.path().display());

    let (mut ours_runs, mut distribution_runs) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        // Alternate which registry goes first, so that neither always gets the cooler machine.
        let mut order = kinds.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for &kind in &order {
            eprintln!("round {round}/{}: {kind}", args.rounds);
            let dir = work.path().join(format!("{kind}-{round}"));
            let figures = match run_one(kind, &ours, &args.distribution, &dir, &plan).await {
                Ok(figures) => figures,
                Err(e) => return Err(e.context(format!("data and logs kept in {}", work.keep().display()))),
            };
            if !args.keep {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            match kind {
                Kind::Ours => ours_runs.push(figures),
                Kind::Distribution => distribution_runs.push(figures),
            }
        }
    }
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }

    if args.rounds > 1 {
        println!("median of {} rounds", args.rounds);
    }
    println!(
        "{} images × {} layers of {} KiB + configs, {} clients, upload flow {:?}; {} pullers × {} requests in all",
        images, args.layers, args.layer_kib, plan.clients, plan.upload_flow, plan.pullers, plan.pull_requests
    );
    println!("the client alone generates and hashes {ceiling_mib_s:.0} MiB/s on one core");
    println!();
    print!("{}", report::table(&ours_runs, &distribution_runs, plan.big_mib, plan.pullers));
    Ok(())
}

/// Starts registry `kind` with its data in `dir`, measures it, and stops it.
async fn run_one(kind: Kind, ours: &Path, distribution: &Path, dir: &Path, plan: &Plan) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let peer = match kind {
        Kind::Ours => Peer::start_ours(ours, dir).await?,
        Kind::Distribution => Peer::start_distribution(distribution, dir).await?,
    };
    eprintln!("{kind}: pid {} at {}", peer.pid, peer.base);
    let figures = measure(kind, &peer, plan).await;
    peer.stop().await?;
    figures.with_context(|| format!("benchmarking {kind} (logs in {})", dir.display()))
}

/// Runs every scenario against a started registry.
async fn measure(kind: Kind, peer: &Peer, plan: &Plan) -> anyhow::Result<Figures> {
    tokio::time::sleep(SETTLE).await;
    let idle = rss::read(peer.pid)?;
    eprintln!(
        "{kind}: idle RSS {} KiB ({} KiB anonymous, {} KiB file-backed), {} threads",
        idle.rss_kib, idle.anon_kib, idle.file_kib, idle.threads
    );

    let (small, small_usage) =
        observe(peer.pid, small_push::run(&peer.base, plan.corpus.clone(), plan.clients, plan.upload_flow)).await;
    let small = small.context("small push")?;
    eprintln!(
        "{kind}: small push: {} blobs and {} manifests in {:.2} s",
        small.blobs,
        small.manifests,
        small.elapsed.as_secs_f64()
    );
    eprintln!("{kind}:   {}", describe(small_usage));
    for (step, summary) in &small.steps {
        eprintln!("{kind}:   {:<12} {summary}", step.name());
    }

    let (pull, pull_usage) =
        observe(peer.pid, pullers::run(&peer.base, plan.corpus.clone(), plan.pullers, plan.pull_requests)).await;
    let pull = pull.context("pullers")?;
    eprintln!("{kind}: pullers: {:.2} s, all {}", pull.elapsed.as_secs_f64(), pull.all);
    eprintln!("{kind}:   {}", describe(pull_usage));
    eprintln!("{kind}:   manifests {}", pull.manifests);
    eprintln!("{kind}:   blobs     {}", pull.blobs);

    let big_size = plan.big_mib * 1024 * 1024;
    let (pushed, big_push_usage) = observe(peer.pid, big_blob::push(&peer.base, big_size, 0xB16)).await;
    let pushed = pushed.context("big blob push")?;
    let big_push = pushed.elapsed;
    let (big_pull, big_pull_usage) = observe(peer.pid, big_blob::pull(&peer.base, &pushed.digest, big_size)).await;
    let big_pull = big_pull.context("big blob pull")?;
    eprintln!(
        "{kind}: big blob push {:.2} s (final PUT {:.2} s); {}",
        big_push.as_secs_f64(),
        pushed.finish.as_secs_f64(),
        describe(big_push_usage)
    );
    eprintln!("{kind}: big blob pull {:.2} s; {}", big_pull.as_secs_f64(), describe(big_pull_usage));

    let after = rss::read(peer.pid)?;
    eprintln!(
        "{kind}: after all: VmHWM {} KiB; RSS {} KiB ({} KiB anonymous, {} KiB file-backed), {} threads",
        after.hwm_kib, after.rss_kib, after.anon_kib, after.file_kib, after.threads
    );
    Ok(Figures {
        idle,
        small,
        small_usage,
        pull,
        pull_usage,
        big_size,
        big_push,
        big_push_usage,
        big_pull,
        big_pull_usage,
        after,
    })
}

fn describe(usage: Usage) -> String {
    format!(
        "server CPU user {:.2} s, system {:.2} s; peak RSS {} KiB",
        usage.cpu.user.as_secs_f64(),
        usage.cpu.system.as_secs_f64(),
        usage.peak_rss_kib
    )
}

/// Runs `scenario` while recording the server's peak RSS and CPU time.
async fn observe<T>(pid: u32, scenario: impl Future<Output = T>) -> (T, Usage) {
    let sampler = rss::PeakSampler::start(pid);
    let cpu_before = cpu::used(pid).unwrap_or_default();
    let out = scenario.await;
    let cpu = cpu::used(pid).unwrap_or_default().since(cpu_before);
    let peak_rss_kib = sampler.finish().await;
    (out, Usage { peak_rss_kib, cpu })
}
