//! `mirror`: times `mirror-registry mirror` (registry to registry) against `skopeo sync` on the
//! same image set, each into a fresh mirror-registry on loopback.
//!
//! The image set: `--images` images (default 50) of `--layers` layers (default 5): two base
//! layers shared by every image and the rest unique, about 500 MiB of content in all. The
//! source is Debian's `docker-registry`, filled over HTTP by this program (shared layers are
//! mounted across repositories, as a real registry holds them). Each client copies all the
//! images into its own fresh destination; the destination's catalog and every manifest are
//! checked afterwards. Prints seconds, MiB/s and the ratio (target: mirror at least 2x faster).
//!
//! With `--to-disk`, mirror to disk instead, of the same set: a full run (empty cache, new
//! directory); then the first 90 % of the images into another directory (the earlier archives),
//! and the whole set again into that directory (the incremental run: about 90 % of the blobs
//! are in the earlier archives); and the whole set into a new directory with the cache warm (a
//! full archive without downloads). Prints seconds, MiB downloaded and MiB archived of each;
//! afterwards disk to mirror from the incremental directory must bring every image to a fresh
//! mirror-registry.
//!
//! ```sh
//! cargo build --release --workspace
//! target/release/mirror                   # or: --images 10 for a quick run
//! target/release/mirror --to-disk
//! ```

#![forbid(unsafe_code)]
// Byte counts become MiB and MiB/s for display; a few hundred MiB is exact in an f64.
#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;

#[path = "shared/loopback.rs"]
mod loopback;
use loopback::{sha256, start_distribution, start_ours};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MIB: u64 = 1024 * 1024;

/// Benchmark the bundled mirroring client against skopeo sync.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The mirror-registry binary [default: target/release/mirror-registry of this workspace].
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// Images in the set.
    #[arg(long, default_value_t = 50)]
    images: usize,
    /// Layers per image; the first two are shared by every image.
    #[arg(long, default_value_t = 5)]
    layers: usize,
    /// Content of the whole set in MiB (shared layers counted once).
    #[arg(long, default_value_t = 500)]
    total_mib: u64,
    /// Where the registries keep their data [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Measure mirror to disk, full and incremental, instead of comparing with skopeo sync.
    #[arg(long)]
    to_disk: bool,
}

async fn seed(host: &str, args: &Args) -> anyhow::Result<(Vec<String>, u64)> {
    let http = reqwest::Client::new();
    let base = format!("http://{host}");
    let layers = args.layers.max(3);
    let unique = layers - 2;
    let shared_size = args.total_mib * MIB / 6;
    let unique_size = (args.total_mib * MIB - 2 * shared_size) / (args.images * unique) as u64;
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut content = |size: u64| -> Vec<u8> {
        let mut out = vec![0u8; usize::try_from(size).unwrap_or(usize::MAX)];
        for chunk in out.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        out
    };
    let shared: Vec<Vec<u8>> = (0..2).map(|_| content(shared_size)).collect();
    let mut repos = Vec::new();
    let mut total = 0u64;
    for i in 0..args.images {
        let repo = format!("bench/app-{i:02}");
        let mut descriptors = Vec::new();
        for (n, data) in shared.iter().enumerate() {
            let digest = sha256(data);
            if i == 0 {
                push_blob(&http, &base, &repo, data).await?;
                total += data.len() as u64;
            } else {
                let r = http
                    .post(format!("{base}/v2/{repo}/blobs/uploads/?mount={digest}&from=bench/app-00"))
                    .send()
                    .await?;
                ensure!(r.status() == 201, "mount of shared layer {n} into {repo}: {}", r.status());
            }
            descriptors.push(serde_json::json!({"mediaType": LAYER, "digest": digest, "size": data.len()}));
        }
        for _ in 0..unique {
            let data = content(unique_size);
            push_blob(&http, &base, &repo, &data).await?;
            total += data.len() as u64;
            descriptors.push(serde_json::json!({"mediaType": LAYER, "digest": sha256(&data), "size": data.len()}));
        }
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
            "diff_ids": descriptors.iter().map(|d| d["digest"].clone()).collect::<Vec<_>>()}})
        .to_string();
        push_blob(&http, &base, &repo, config.as_bytes()).await?;
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config.as_bytes()), "size": config.len()},
            "layers": descriptors});
        let r = http
            .put(format!("{base}/v2/{repo}/manifests/v1"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.to_string())
            .send()
            .await?;
        ensure!(r.status() == 201, "manifest {repo}: {}", r.status());
        repos.push(repo);
    }
    Ok((repos, total))
}

async fn push_blob(http: &reqwest::Client, base: &str, repo: &str, data: &[u8]) -> anyhow::Result<()> {
    let r = http.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await?;
    ensure!(r.status() == 202, "start upload in {repo}: {}", r.status());
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).context("Location")?;
    let mut url = reqwest::Url::parse(base)?.join(location)?;
    url.query_pairs_mut().append_pair("digest", &sha256(data));
    let r = http.put(url).header("content-type", "application/octet-stream").body(data.to_vec()).send().await?;
    ensure!(r.status() == 201, "finish upload in {repo}: {}", r.status());
    Ok(())
}

/// Checks that every repository arrived under `prefix` with the source's manifest bytes.
async fn verify(source: &str, dest: &str, prefix: &str, repos: &[String]) -> anyhow::Result<()> {
    let pairs: Vec<(String, String)> = repos.iter().map(|r| (r.clone(), format!("{prefix}/{r}"))).collect();
    verify_pairs(source, dest, &pairs).await
}

/// Checks that each `(source repository, destination repository)` holds the same manifest.
async fn verify_pairs(source: &str, dest: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for (repo, target) in pairs {
        let get = |host: String, repo: String| {
            let http = http.clone();
            async move {
                let r = http
                    .get(format!("http://{host}/v2/{repo}/manifests/v1"))
                    .header("accept", OCI_MANIFEST)
                    .send()
                    .await?;
                ensure!(r.status() == 200, "{host}/{repo}:v1: {}", r.status());
                Ok::<_, anyhow::Error>(r.bytes().await?)
            }
        };
        let a = get(source.to_string(), repo.clone()).await?;
        let b = get(dest.to_string(), target.clone()).await?;
        ensure!(a == b, "{target}: manifest differs from the source");
    }
    Ok(())
}

/// Writes an image set configuration of `repos` (tag `v1`) on `host`.
fn write_isc(path: &Path, host: &str, repos: &[String]) -> anyhow::Result<()> {
    let mut text = String::from(
        "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n",
    );
    for r in repos {
        let _ = writeln!(text, "  - name: {host}/{r}:v1");
    }
    Ok(std::fs::write(path, text)?)
}

/// `mirror-registry mirror` with the bench's auth file and TLS settings, and `args`.
fn mirror_command(ours: &Path, work: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(ours);
    cmd.arg("mirror")
        .args(args)
        .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg("--authfile")
        .arg(work.join("auth.json"));
    cmd
}

/// What one mirror-to-disk run did.
struct DiskRun {
    seconds: f64,
    /// Blob bytes fetched from the source (the run's summary line).
    downloaded: u64,
    /// Bytes of the archives the run added.
    archived: u64,
    /// How many archives it added.
    archives: usize,
}

fn archive_sizes(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_archive = path.extension().is_some_and(|e| e == "tar")
            && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("mirror_"));
        if is_archive {
            let size = std::fs::metadata(&path)?.len();
            out.push((path, size));
        }
    }
    Ok(out)
}

/// Mirrors `isc` to disk into `dir` with the cache under `cache`, timed.
fn mirror_to_disk(ours: &Path, work: &Path, isc: &Path, dir: &Path, cache: &Path) -> anyhow::Result<DiskRun> {
    let before = archive_sizes(dir)?;
    let destination = format!("file://{}", dir.display());
    let mut cmd = mirror_command(ours, work, &["-c".as_ref(), isc.as_os_str(), destination.as_ref()]);
    cmd.args(["--log-level", "info"]).arg("--cache-dir").arg(cache);
    let started = Instant::now();
    let out = cmd.output().context("running mirror to disk")?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "mirror to disk failed: {stderr}");
    let downloaded = stderr
        .lines()
        .rfind(|l| l.contains(" blobs copied ("))
        .and_then(|l| l.split(" blobs copied (").nth(1)?.split(' ').next()?.parse().ok())
        .context("the summary line")?;
    let added: Vec<(PathBuf, u64)> =
        archive_sizes(dir)?.into_iter().filter(|(p, _)| !before.iter().any(|(b, _)| b == p)).collect();
    Ok(DiskRun { seconds, downloaded, archived: added.iter().map(|(_, s)| s).sum(), archives: added.len() })
}

/// The `--to-disk` scenario: full, earlier 90 %, incremental, full with a warm cache; then disk
/// to mirror of the incremental directory, checked.
async fn to_disk(ours: &Path, work: &Path, source: &str, repos: &[String], layers: usize) -> anyhow::Result<()> {
    let earlier = repos.len() - repos.len().div_ceil(10);
    let (all, first) = (work.join("all.yaml"), work.join("first.yaml"));
    write_isc(&all, source, repos)?;
    write_isc(&first, source, &repos[..earlier])?;
    // Blobs of the set, manifests included: the shared layers, then per image its own layers,
    // its config and its manifest.
    let per_image = layers.max(3) - 2 + 2;
    let blobs = |images: usize| 2 + images * per_image;

    eprint!("full run ... ");
    let full = mirror_to_disk(ours, work, &all, &work.join("full"), &work.join("cold-cache"))?;
    eprintln!("{:.2} s", full.seconds);
    let incremental_dir = work.join("incremental");
    let cache = work.join("cache");
    eprint!("earlier run ({earlier} images) ... ");
    let first_run = mirror_to_disk(ours, work, &first, &incremental_dir, &cache)?;
    eprintln!("{:.2} s", first_run.seconds);
    eprint!("incremental run ... ");
    let incremental = mirror_to_disk(ours, work, &all, &incremental_dir, &cache)?;
    eprintln!("{:.2} s", incremental.seconds);
    eprint!("full run, warm cache ... ");
    let warm = mirror_to_disk(ours, work, &all, &work.join("warm"), &cache)?;
    eprintln!("{:.2} s", warm.seconds);

    // Every run's archives together bring the whole set across.
    let dest_dir = work.join("dest-disk");
    let dest = start_ours(ours, &dest_dir)?;
    let from = format!("file://{}", incremental_dir.display());
    let target = format!("docker://{}/disk", dest.host);
    let mut cmd = mirror_command(
        ours,
        work,
        &["-c".as_ref(), all.as_os_str(), "--from".as_ref(), from.as_ref(), target.as_ref()],
    );
    cmd.args(["--log-level", "error"]).arg("--cache-dir").arg(work.join("far-cache"));
    run_timed(cmd, "disk to mirror")?;
    verify(source, &dest.host, "disk", repos).await?;

    let mib = |b: u64| b as f64 / MIB as f64;
    println!("| mirror to disk | images | seconds | MiB downloaded | MiB archived | archives |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, images, run) in [
        ("full (empty cache, new directory)", repos.len(), &full),
        ("earlier run (first 90 % of the images)", earlier, &first_run),
        ("incremental (the rest is in earlier archives)", repos.len(), &incremental),
        ("full with a warm cache (new directory)", repos.len(), &warm),
    ] {
        println!(
            "| {name} | {images} | {:.2} | {:.1} | {:.1} | {} |",
            run.seconds,
            mib(run.downloaded),
            mib(run.archived),
            run.archives
        );
    }
    let already = blobs(earlier) as f64 / blobs(repos.len()) as f64 * 100.0;
    println!(
        "\n{} blobs in the set, {:.0} % of them in earlier archives: the incremental run archived {:.1} % of the bytes of the full run in {:.0} % of its time ({:.0} % of the warm-cache full run's)",
        blobs(repos.len()),
        already,
        incremental.archived as f64 / full.archived as f64 * 100.0,
        incremental.seconds / full.seconds * 100.0,
        incremental.seconds / warm.seconds * 100.0,
    );
    Ok(())
}

fn run_timed(mut cmd: Command, what: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    let elapsed = started.elapsed();
    ensure!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(elapsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ours = args
        .ours
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/mirror-registry"));
    ensure!(ours.is_file(), "{} not found: cargo build --release first, or pass --ours", ours.display());
    let work = match &args.work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let source_dir = work.path().join("source");
    std::fs::create_dir_all(&source_dir)?;
    let source = start_distribution(&source_dir)?;
    eprint!("seeding {} images x {} layers into {} ... ", args.images, args.layers, source.host);
    let (repos, bytes) = seed(&source.host, &args).await?;
    eprintln!("{:.0} MiB", bytes as f64 / MIB as f64);
    std::fs::write(work.path().join("auth.json"), r#"{"auths":{}}"#)?;
    if args.to_disk {
        return to_disk(&ours, work.path(), &source.host, &repos, args.layers).await;
    }

    // Our client, registry to registry.
    let dest_dir = work.path().join("dest-mirror");
    std::fs::create_dir_all(&dest_dir)?;
    let dest = start_ours(&ours, &dest_dir)?;
    let isc = work.path().join("isc.yaml");
    write_isc(&isc, &source.host, &repos)?;
    let mut cmd = Command::new(&ours);
    cmd.arg("mirror")
        .arg("-c")
        .arg(&isc)
        .arg("--workspace")
        .arg(format!("file://{}", work.path().join("ws").display()))
        .arg(format!("docker://{}/mirror", dest.host))
        .args(["--src-tls-verify=false", "--dest-tls-verify=false", "--log-level", "error"])
        .arg("--authfile")
        .arg(work.path().join("auth.json"))
        .arg("--cache-dir")
        .arg(work.path().join("cache"));
    eprint!("mirror-registry mirror ... ");
    let ours_time = run_timed(cmd, "mirror-registry mirror")?;
    eprintln!("{:.2} s", ours_time.as_secs_f64());
    verify(&source.host, &dest.host, "mirror", &repos).await?;
    drop(dest);

    // skopeo sync of the same images into another fresh registry.
    let dest_dir = work.path().join("dest-skopeo");
    std::fs::create_dir_all(&dest_dir)?;
    let dest = start_ours(&ours, &dest_dir)?;
    let sync = work.path().join("sync.yaml");
    let mut f = std::fs::File::create(&sync)?;
    writeln!(f, "{}:\n  tls-verify: false\n  images:", source.host)?;
    for r in &repos {
        writeln!(f, "    {r}: [v1]")?;
    }
    drop(f);
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "sync",
        "--preserve-digests",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
    ])
    .arg(&sync)
    .arg(format!("{}/skopeo", dest.host));
    eprint!("skopeo sync ... ");
    let skopeo_time = run_timed(cmd, "skopeo sync")?;
    eprintln!("{:.2} s", skopeo_time.as_secs_f64());
    // skopeo sync names each image after the last component of its source path.
    let flat: Vec<(String, String)> =
        repos.iter().map(|r| (r.clone(), format!("skopeo/{}", r.rsplit('/').next().unwrap_or(r)))).collect();
    verify_pairs(&source.host, &dest.host, &flat).await?;
    drop(dest);

    let mib = bytes as f64 / MIB as f64;
    let ratio = skopeo_time.as_secs_f64() / ours_time.as_secs_f64();
    println!("| client | seconds | MiB/s |");
    println!("| --- | ---: | ---: |");
    println!("| mirror-registry mirror | {:.2} | {:.0} |", ours_time.as_secs_f64(), mib / ours_time.as_secs_f64());
    println!("| skopeo sync | {:.2} | {:.0} |", skopeo_time.as_secs_f64(), mib / skopeo_time.as_secs_f64());
    println!(
        "\n{} images, {mib:.0} MiB: mirror-registry is {ratio:.2}x as fast as skopeo sync (target >= 2x: {})",
        repos.len(),
        if ratio >= 2.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
