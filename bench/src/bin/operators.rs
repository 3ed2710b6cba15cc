//! `operators`: times `mirror-registry mirror` on an operator catalog (`operators:` in the
//! `ImageSetConfiguration`): the selection (a dry run over a whole catalog and over part of it)
//! and the mirror itself, against `skopeo sync` of the same images.
//!
//! The catalog: `--packages` packages (default 50) of `--bundles-per-package` bundles (default
//! 20), a file-based catalog in an OCI image (`catalogs/bench-index:v1`: a base layer and a
//! `configs/pkg-NN/catalog.json` layer, uncompressed tar). Package `pkg-NN` has one channel,
//! `stable`, in which each bundle `pkg-NN.v1.K.0` replaces the one before. Each bundle document
//! carries about 2 KiB of base64 in an `olm.bundle.object` property (as real catalogs carry the
//! CSV) and three images, by digest: its bundle image (`bundles/pkg-NN`), a controller image
//! unique to the bundle (`operators/pkg-NN-controller`) and a proxy image shared by the package
//! (`operators/pkg-NN-proxy`). Only the images of the first `--selected-packages` packages
//! (default 5: 100 bundles, 205 images, each a config and one random layer of `--layer-kib`
//! KiB) exist; the other packages' documents name digests that were never pushed.
//!
//! The source is Debian's `docker-registry` on loopback, filled over HTTP by this program.
//! Measured, each as the wall time and peak RSS of the client process:
//!
//! 1. **Selection.** `mirror --dry-run` with the whole catalog (`full: true`) and with the 100
//!    bundles (`minVersion: 1.0.0` in channel `stable` of 5 packages), each first with an empty
//!    cache (cold: the catalog is pulled and unpacked) and then again (warm). The number of lines
//!    of `mapping.txt` is checked against the images the selection names.
//! 2. **Mirror.** The 100 bundles from the source to a fresh `mirror-registry serve`
//!    (registry to registry, empty cache), then `skopeo sync --preserve-digests` of the same
//!    205 images and the catalog (by tags pushed for it, as skopeo's YAML source takes tags)
//!    into another fresh one. Every image must then be on each destination by digest, and the
//!    catalog under its tag (ours rebuilt with only the selected bundles, so a new digest).
//!
//! Prints a Markdown table and the ratio skopeo/ours for the mirror. Each client runs under
//! this program started again as a wrapper, whose `getrusage(RUSAGE_CHILDREN)` gives the
//! client's exact peak RSS (`ru_maxrss`).
//!
//! ```sh
//! apt-get install docker-registry skopeo
//! cargo build --release -p mirror-registry -p mirror-registry-bench
//! target/release/operators               # or: --packages 10 --layer-kib 256 for a quick run
//! ```

#![forbid(unsafe_code)]
// Byte counts and KiB become MiB for display; a few GiB is exact in an f64.
#![allow(clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use clap::Parser;

#[path = "shared/loopback.rs"]
mod loopback;
#[path = "shared/measure.rs"]
mod measure;
use loopback::{sha256, start_distribution, start_ours};
use measure::{MEASURE, Measured, measure_child, run_measured};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIGS_LABEL: &str = "operators.operatorframework.io.index.configs.v1";
const CATALOG_REPO: &str = "catalogs/bench-index";
const CATALOG_TAG: &str = "v1";
/// Base64 characters in each bundle's `olm.bundle.object` (3 bytes per 4 characters: 1.5 KiB).
const BUNDLE_OBJECT_CHARS: usize = 2048;
const MIB: u64 = 1024 * 1024;

/// Benchmark mirroring an operator catalog: selection, and mirror-registry mirror against skopeo sync.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The mirror-registry binary [default: target/release/mirror-registry of this workspace].
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// Where the registries, workspaces and caches are kept [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Packages in the catalog.
    #[arg(long, default_value_t = 50)]
    packages: usize,
    /// Bundles in each package (one channel, each replacing the one before).
    #[arg(long, default_value_t = 20)]
    bundles_per_package: usize,
    /// Packages whose images exist and are selected (the first N).
    #[arg(long, default_value_t = 5)]
    selected_packages: usize,
    /// Size of the one layer of each bundle and related image, in KiB.
    #[arg(long, default_value_t = 2048)]
    layer_kib: usize,
}

/// xorshift64: random-looking, incompressible content, the same on every run.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        out
    }

    /// `len` characters of the base64 alphabet; a multiple of 4 decodes without padding.
    fn base64(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        self.bytes(len).iter().map(|b| char::from(ALPHABET[usize::from(b & 63)])).collect()
    }
}

/// Appends one ustar entry: a regular file when `content` is given, else a directory.
fn tar_entry(out: &mut Vec<u8>, name: &str, content: Option<&[u8]>) -> anyhow::Result<()> {
    fn field(header: &mut [u8; 512], at: usize, text: &str) {
        header[at..at + text.len()].copy_from_slice(text.as_bytes());
    }
    ensure!(name.len() <= 100, "tar name longer than 100 bytes: {name}");
    let size = content.map_or(0, <[u8]>::len);
    let mut header = [0u8; 512];
    field(&mut header, 0, name);
    field(&mut header, 100, if content.is_some() { "0000644" } else { "0000755" });
    field(&mut header, 108, "0000000");
    field(&mut header, 116, "0000000");
    field(&mut header, 124, &format!("{size:011o}"));
    field(&mut header, 136, &format!("{:011o}", 1_700_000_000));
    field(&mut header, 148, "        ");
    header[156] = if content.is_some() { b'0' } else { b'5' };
    field(&mut header, 257, "ustar\0");
    field(&mut header, 263, "00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    field(&mut header, 148, &format!("{sum:06o}\0"));
    out.extend_from_slice(&header);
    if let Some(content) = content {
        out.extend_from_slice(content);
        out.resize(out.len() + (512 - size % 512) % 512, 0);
    }
    Ok(())
}

/// Ends a tar stream: two zero blocks.
fn tar_finish(out: &mut Vec<u8>) {
    out.resize(out.len() + 1024, 0);
}

/// The source registry, driven over HTTP.
struct Registry {
    http: reqwest::blocking::Client,
    base: String,
}

impl Registry {
    fn new(host: &str) -> anyhow::Result<Registry> {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_mins(5)).build()?;
        Ok(Registry { http, base: format!("http://{host}") })
    }

    fn push_blob(&self, repo: &str, data: Vec<u8>) -> anyhow::Result<serde_json::Value> {
        let (digest, size) = (sha256(&data), data.len());
        let r = self.http.post(format!("{}/v2/{repo}/blobs/uploads/", self.base)).send()?;
        ensure!(r.status() == 202, "start upload in {repo}: {}", r.status());
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).context("Location")?;
        let mut url = reqwest::Url::parse(&self.base)?.join(location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let r = self.http.put(url).header("content-type", "application/octet-stream").body(data).send()?;
        ensure!(r.status() == 201, "finish upload in {repo}: {}", r.status());
        Ok(serde_json::json!({"mediaType": LAYER, "digest": digest, "size": size}))
    }

    /// Pushes an image of `layers` (uncompressed tar) under `tag`; returns its digest and the
    /// bytes of its config and layers.
    fn push_image(
        &self,
        repo: &str,
        tag: &str,
        config: &serde_json::Value,
        layers: Vec<Vec<u8>>,
    ) -> anyhow::Result<(String, u64)> {
        let mut config = config.clone();
        let mut descriptors = Vec::new();
        let mut bytes = 0;
        for layer in layers {
            bytes += layer.len() as u64;
            descriptors.push(self.push_blob(repo, layer)?);
        }
        config["rootfs"] = serde_json::json!({"type": "layers",
            "diff_ids": descriptors.iter().map(|d| d["digest"].clone()).collect::<Vec<_>>()});
        let config = config.to_string().into_bytes();
        bytes += config.len() as u64;
        let mut config_descriptor = self.push_blob(repo, config)?;
        config_descriptor["mediaType"] = OCI_CONFIG.into();
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": config_descriptor, "layers": descriptors})
        .to_string();
        let digest = sha256(manifest.as_bytes());
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
            .header("content-type", OCI_MANIFEST)
            .body(manifest)
            .send()?;
        ensure!(r.status() == 201, "manifest {repo}:{tag}: {}", r.status());
        Ok((digest, bytes))
    }
}

/// One image of the selection in the source: pushed under `tag`, referenced by `digest`.
struct Image {
    repo: String,
    tag: String,
    digest: String,
}

/// What was pushed to the source.
struct Seeded {
    /// The selected packages' bundle and related images, each once.
    images: Vec<Image>,
    /// Their content (configs and layers), bytes.
    image_bytes: u64,
    /// Digest of the catalog image.
    catalog_digest: String,
    /// Size of the catalog's configs layer (the FBC documents in a tar), bytes.
    configs_bytes: u64,
}

fn package_name(p: usize) -> String {
    format!("pkg-{p:02}")
}

/// Pushes the bundle and related images of the selected packages, then the catalog.
fn seed(source: &Registry, host: &str, args: &Args) -> anyhow::Result<Seeded> {
    let mut prng = Prng(0x9E37_79B9_7F4A_7C15);
    let mut images = Vec::new();
    let mut image_bytes = 0u64;
    let layer_size = args.layer_kib * 1024;
    let mut push = |prng: &mut Prng, repo: &str, tag: &str| -> anyhow::Result<String> {
        let mut layer = Vec::with_capacity(layer_size + 1536);
        tar_entry(&mut layer, "content.bin", Some(&prng.bytes(layer_size)))?;
        tar_finish(&mut layer);
        let config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "config": {"Labels": {"bench.image": format!("{repo}:{tag}")}}});
        let (digest, bytes) = source.push_image(repo, tag, &config, vec![layer])?;
        image_bytes += bytes;
        images.push(Image { repo: repo.to_string(), tag: tag.to_string(), digest: digest.clone() });
        Ok(format!("{host}/{repo}@{digest}"))
    };
    let never_pushed = |what: &str| format!("{host}/{what}@{}", sha256(format!("never pushed: {what}").as_bytes()));

    let mut configs = Vec::new();
    tar_entry(&mut configs, "configs/", None)?;
    for p in 0..args.packages {
        let package = package_name(p);
        let selected = p < args.selected_packages;
        let (bundle_repo, controller_repo, proxy_repo) = (
            format!("bundles/{package}"),
            format!("operators/{package}-controller"),
            format!("operators/{package}-proxy"),
        );
        let proxy = if selected { push(&mut prng, &proxy_repo, "v1")? } else { never_pushed(&proxy_repo) };
        let mut docs = vec![serde_json::json!({"schema": "olm.package", "name": package, "defaultChannel": "stable"})];
        let mut entries = Vec::new();
        let mut bundles = Vec::new();
        for k in 0..args.bundles_per_package {
            let name = format!("{package}.v1.{k}.0");
            let mut entry = serde_json::json!({"name": name});
            if k > 0 {
                entry["replaces"] = format!("{package}.v1.{}.0", k - 1).into();
            }
            entries.push(entry);
            let (bundle, controller) = if selected {
                (push(&mut prng, &bundle_repo, &name)?, push(&mut prng, &controller_repo, &name)?)
            } else {
                (never_pushed(&format!("{bundle_repo}/{name}")), never_pushed(&format!("{controller_repo}/{name}")))
            };
            bundles.push(serde_json::json!({
                "schema": "olm.bundle", "name": name, "package": package, "image": bundle,
                "properties": [
                    {"type": "olm.gvk", "value": {"group": "example.com", "version": "v1", "kind": format!("Kind{p:02}")}},
                    {"type": "olm.package", "value": {"packageName": package, "version": format!("1.{k}.0")}},
                    {"type": "olm.bundle.object", "value": {"data": prng.base64(BUNDLE_OBJECT_CHARS)}},
                ],
                "relatedImages": [
                    {"name": "", "image": bundle},
                    {"name": "controller", "image": controller},
                    {"name": "proxy", "image": proxy},
                ],
            }));
        }
        docs.push(
            serde_json::json!({"schema": "olm.channel", "name": "stable", "package": package, "entries": entries}),
        );
        docs.extend(bundles);
        let mut text = String::new();
        for d in &docs {
            text.push_str(&serde_json::to_string_pretty(d)?);
            text.push('\n');
        }
        tar_entry(&mut configs, &format!("configs/{package}/"), None)?;
        tar_entry(&mut configs, &format!("configs/{package}/catalog.json"), Some(text.as_bytes()))?;
        if selected {
            eprint!(".");
        }
    }
    tar_finish(&mut configs);
    let configs_bytes = configs.len() as u64;

    let mut base = Vec::new();
    tar_entry(&mut base, "bin/", None)?;
    tar_entry(&mut base, "bin/opm", Some(&prng.bytes(64 * 1024)))?;
    tar_entry(&mut base, "tmp/", None)?;
    tar_entry(&mut base, "tmp/cache/", None)?;
    tar_entry(&mut base, "tmp/cache/cache.json", Some(b"{\"stale\": true}"))?;
    tar_finish(&mut base);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Labels": {CONFIGS_LABEL: "/configs"}, "Entrypoint": ["/bin/opm"],
                   "Cmd": ["serve", "/configs", "--cache-dir=/tmp/cache"]},
        "history": [{"created_by": "base"}, {"created_by": "configs"}]});
    let (catalog_digest, _) = source.push_image(CATALOG_REPO, CATALOG_TAG, &config, vec![base, configs])?;
    Ok(Seeded { images, image_bytes, catalog_digest, configs_bytes })
}

/// Writes an `ImageSetConfiguration` for the catalog: the whole of it, or the first `selected`
/// packages' channel `stable` from 1.0.0 up.
fn write_isc(path: &Path, host: &str, selected: Option<usize>) -> anyhow::Result<()> {
    let mut text = format!(
        "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: {host}/{CATALOG_REPO}:{CATALOG_TAG}\n"
    );
    match selected {
        None => text.push_str("    full: true\n"),
        Some(n) => {
            text.push_str("    packages:\n");
            for p in 0..n {
                let _ = write!(
                    text,
                    "    - name: {}\n      channels:\n      - name: stable\n        minVersion: 1.0.0\n",
                    package_name(p)
                );
            }
        }
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Paths of one client run: its configuration, workspace, cache and log.
struct Run<'a> {
    ours: &'a Path,
    isc: &'a Path,
    workspace: PathBuf,
    cache: PathBuf,
    authfile: &'a Path,
}

impl Run<'_> {
    fn command(&self, destination: &str, dry_run: bool) -> Command {
        let mut cmd = Command::new(self.ours);
        cmd.arg("mirror")
            .arg("-c")
            .arg(self.isc)
            .arg("--workspace")
            .arg(format!("file://{}", self.workspace.display()))
            .arg(destination)
            .args(["--src-tls-verify=false", "--dest-tls-verify=false", "--log-level", "error"])
            .arg("--authfile")
            .arg(self.authfile)
            .arg("--cache-dir")
            .arg(&self.cache);
        if dry_run {
            cmd.arg("--dry-run");
        }
        cmd
    }

    fn mapping_lines(&self) -> anyhow::Result<usize> {
        let path = self.workspace.join("working-dir/dry-run/mapping.txt");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
    }
}

/// Status of `GET /v2/<repo>/manifests/<reference>` on `host`, and the digest it answers with.
fn manifest_status(
    http: &reqwest::blocking::Client,
    host: &str,
    repo: &str,
    reference: &str,
) -> anyhow::Result<(u16, String)> {
    let r = http
        .get(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("accept", format!("{OCI_MANIFEST}, application/vnd.oci.image.index.v1+json"))
        .send()?;
    let status = r.status().as_u16();
    let digest = if status == 200 { sha256(&r.bytes()?) } else { String::new() };
    Ok((status, digest))
}

/// Checks that every image is on `host` by digest, under `name(image repository)`.
fn verify_images(host: &str, images: &[Image], name: impl Fn(&str) -> String) -> anyhow::Result<()> {
    let http = reqwest::blocking::Client::new();
    let mut missing = Vec::new();
    for image in images {
        let repo = name(&image.repo);
        let (status, _) = manifest_status(&http, host, &repo, &image.digest)?;
        if status != 200 {
            missing.push(format!("{repo}@{} ({status})", image.digest));
        }
    }
    ensure!(
        missing.is_empty(),
        "{} of {} images missing on {host}: {}",
        missing.len(),
        images.len(),
        missing.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// What every scenario needs: the binary, the work directory, the source and its content.
struct Bench<'a> {
    args: &'a Args,
    ours: &'a Path,
    work: &'a Path,
    source: &'a str,
    seeded: &'a Seeded,
    authfile: PathBuf,
    full_isc: PathBuf,
    selected_isc: PathBuf,
}

impl Bench<'_> {
    /// The selection: a dry run of the whole catalog and one of the selected packages, each with a
    /// cold cache then a warm one. Nothing listens on port 1: a dry run must not touch the
    /// destination.
    fn dry_runs(&self) -> anyhow::Result<Vec<(String, Measured)>> {
        let a = self.args;
        let (bundles, selected) = (a.packages * a.bundles_per_package, a.selected_packages * a.bundles_per_package);
        let cases = [
            ("full", &self.full_isc, format!("whole catalog ({bundles} bundles)"), 2 * bundles + a.packages + 1),
            (
                "selected",
                &self.selected_isc,
                format!("{selected} bundles of {} packages", a.selected_packages),
                2 * selected + a.selected_packages + 1,
            ),
        ];
        let mut rows = Vec::new();
        for (key, isc, label, expected_lines) in cases {
            let run = Run {
                ours: self.ours,
                isc,
                workspace: self.work.join(format!("ws-dry-{key}")),
                cache: self.work.join(format!("cache-dry-{key}")),
                authfile: &self.authfile,
            };
            for temperature in ["cold", "warm"] {
                let what = format!("dry run, {label}, {temperature} cache");
                eprint!("{what} ... ");
                let log = self.work.join(format!("dry-{key}-{temperature}.log"));
                let m = run_measured(&run.command("docker://127.0.0.1:1/x", true), &what, &log)?;
                let lines = run.mapping_lines()?;
                eprintln!(
                    "{:.2} s, {:.1} MiB, mapping.txt {lines} lines (expected {expected_lines}{})",
                    m.seconds,
                    m.peak_mib(),
                    if lines == expected_lines { "" } else { ": MISMATCH" }
                );
                rows.push((format!("{what}; mapping.txt {lines} lines"), m));
            }
        }
        Ok(rows)
    }

    /// Our client mirrors the selection registry to registry, with an empty cache, into a fresh
    /// mirror-registry; then every image must be there by digest and the catalog rebuilt.
    fn mirror_ours(&self) -> anyhow::Result<(String, Measured)> {
        let dest = start_ours(self.ours, &self.work.join("dest-mirror"))?;
        let run = Run {
            ours: self.ours,
            isc: &self.selected_isc,
            workspace: self.work.join("ws-mirror"),
            cache: self.work.join("cache-mirror"),
            authfile: &self.authfile,
        };
        let images = &self.seeded.images;
        let what = format!(
            "mirror-registry mirror, {} bundles ({} images + catalog)",
            self.args.selected_packages * self.args.bundles_per_package,
            images.len()
        );
        eprint!("{what} ... ");
        let log = self.work.join("mirror.log");
        let m = run_measured(&run.command(&format!("docker://{}/mirror", dest.host), false), &what, &log)?;
        eprintln!("{:.2} s", m.seconds);
        verify_images(&dest.host, images, |repo| format!("mirror/{repo}"))?;
        let http = reqwest::blocking::Client::new();
        let (status, catalog) = manifest_status(&http, &dest.host, &format!("mirror/{CATALOG_REPO}"), CATALOG_TAG)?;
        ensure!(status == 200, "mirror/{CATALOG_REPO}:{CATALOG_TAG} on the destination: {status}");
        ensure!(catalog != self.seeded.catalog_digest, "the mirrored catalog is the original, not a filtered rebuild");
        eprintln!("  all {} images there by digest; catalog rebuilt as {catalog}", images.len());
        Ok((what, m))
    }

    /// `skopeo sync` of the same images (by the tags pushed for them) and the original catalog
    /// into a fresh mirror-registry; then every image must be there by digest.
    fn mirror_skopeo(&self) -> anyhow::Result<(String, Measured)> {
        let dest = start_ours(self.ours, &self.work.join("dest-skopeo"))?;
        let images = &self.seeded.images;
        let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for image in images {
            tags.entry(&image.repo).or_default().push(&image.tag);
        }
        tags.entry(CATALOG_REPO).or_default().push(CATALOG_TAG);
        let mut yaml = format!("{}:\n  tls-verify: false\n  images:\n", self.source);
        for (repo, tags) in &tags {
            let quoted: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
            let _ = writeln!(yaml, "    {repo}: [{}]", quoted.join(", "));
        }
        let sync = self.work.join("sync.yaml");
        std::fs::write(&sync, yaml)?;
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "sync", "--preserve-digests", "--src", "yaml", "--dest", "docker"])
            .arg("--dest-tls-verify=false")
            .arg(&sync)
            .arg(format!("{}/skopeo", dest.host));
        let what = format!("skopeo sync, the same {} images + catalog", images.len());
        eprint!("{what} ... ");
        let m = run_measured(&cmd, &what, &self.work.join("skopeo.log"))?;
        eprintln!("{:.2} s", m.seconds);
        // skopeo sync names each image after the last component of its source path.
        let last = |repo: &str| format!("skopeo/{}", repo.rsplit('/').next().unwrap_or(repo));
        verify_images(&dest.host, images, last)?;
        let http = reqwest::blocking::Client::new();
        let (status, catalog) = manifest_status(&http, &dest.host, &last(CATALOG_REPO), CATALOG_TAG)?;
        ensure!(status == 200 && catalog == self.seeded.catalog_digest, "skopeo's catalog: {status} {catalog}");
        Ok((what, m))
    }
}

fn main() -> anyhow::Result<()> {
    let mut raw = std::env::args_os().skip(1);
    if raw.next().is_some_and(|a| a == MEASURE) {
        std::process::exit(measure_child(raw)?);
    }
    let args = Args::parse();
    ensure!(args.selected_packages <= args.packages, "--selected-packages is more than --packages");
    ensure!(args.bundles_per_package > 0 && args.selected_packages > 0, "nothing to select");
    let ours = args
        .ours
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/mirror-registry"));
    ensure!(ours.is_file(), "{} not found: cargo build --release first, or pass --ours", ours.display());
    let work = match &args.work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let w = work.path();
    let source_dir = w.join("source");
    std::fs::create_dir_all(&source_dir)?;
    let source = start_distribution(&source_dir)?;
    eprint!(
        "seeding {} images of {} KiB and a catalog of {} bundles into {} ",
        (2 * args.bundles_per_package + 1) * args.selected_packages,
        args.layer_kib,
        args.packages * args.bundles_per_package,
        source.host
    );
    let seeded = seed(&Registry::new(&source.host)?, &source.host, &args)?;
    let image_mib = seeded.image_bytes as f64 / MIB as f64;
    eprintln!(
        " {image_mib:.0} MiB of images, catalog configs layer {:.1} MiB",
        seeded.configs_bytes as f64 / MIB as f64
    );
    let bench = Bench {
        args: &args,
        ours: &ours,
        work: w,
        source: &source.host,
        seeded: &seeded,
        authfile: w.join("auth.json"),
        full_isc: w.join("isc-full.yaml"),
        selected_isc: w.join("isc-selected.yaml"),
    };
    std::fs::write(&bench.authfile, r#"{"auths":{}}"#)?;
    write_isc(&bench.full_isc, &source.host, None)?;
    write_isc(&bench.selected_isc, &source.host, Some(args.selected_packages))?;

    let mut rows = bench.dry_runs()?;
    let (ours_row, skopeo_row) = (bench.mirror_ours()?, bench.mirror_skopeo()?);
    let ratio = skopeo_row.1.seconds / ours_row.1.seconds;
    rows.extend([ours_row, skopeo_row]);

    println!("| scenario | seconds | peak RSS MiB |");
    println!("| --- | ---: | ---: |");
    for (what, m) in &rows {
        println!("| {what} | {:.2} | {:.1} |", m.seconds, m.peak_mib());
    }
    println!(
        "\n{} bundle and related images ({image_mib:.0} MiB) and the catalog: mirror-registry is {ratio:.2}x as fast as skopeo sync",
        seeded.images.len()
    );
    Ok(())
}
