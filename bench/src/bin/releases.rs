//! `releases`: times `mirror-registry mirror` on an OCP release (`platform:` in the
//! `ImageSetConfiguration`): mirror to mirror against `skopeo sync` of the same images, and
//! mirror to disk then disk to mirror.
//!
//! The release, 4.99.0 (`x86_64`), in Debian's `docker-registry` on loopback, filled over HTTP by
//! this program: `--components` component images (default 180), each a Docker v2-2 image of a
//! config, a base layer shared by all (`--base-mib`, default 80) and a layer of its own
//! (`--layer-mib`, default 16), pushed by digest to `openshift-release-dev/ocp-v4.0-art-dev`;
//! and the payload `openshift-release-dev/ocp-release:4.99.0-x86_64`, the base layer and a
//! `release-manifests/` layer (`image-references` naming every component by digest,
//! `release-metadata`). Layers are gzip tar; the files in the big ones are PRNG bytes stored
//! without compression (deflate level 0), as incompressible as real binaries. The defaults make
//! about 2.9 GiB of content.
//!
//! The update graph and the signature store are a small HTTP server in this program: channel
//! `stable-4.99` holds the one release, and its signature is made for real by gpg (a fresh
//! RSA 3072 key in a temporary `GNUPGHOME`) and `skopeo standalone-sign`. The client finds them
//! as users point it elsewhere: `UPDATE_URL_OVERRIDE`, `OCP_SIGNATURE_URL`,
//! `OCP_SIGNATURE_VERIFICATION_PK`.
//!
//! Measured, each as the wall time, peak RSS and CPU time of the client process (run under this
//! program as a measuring wrapper, `shared/measure.rs`) and the CPU time the source and the
//! destination used meanwhile; each with an empty cache and, when it writes to a registry, into
//! a fresh `mirror-registry serve`; dirty pages are flushed (`sync`) before each:
//!
//! 1. `mirror-registry mirror`, mirror to mirror;
//! 2. `skopeo sync --preserve-digests --src yaml` of the same images: the payload by its tag,
//!    the components by digest;
//! 3. `mirror-registry mirror`, mirror to disk, then disk to mirror from the archives alone
//!    (moved to a fresh directory, with a fresh cache).
//!
//! After each, every image must be on the destination by digest with the source's bytes, and
//! ours must hold the payload under its tag. `--rounds N` repeats the steps on the same source
//! (ours and skopeo taking turns to go first). Prints a Markdown table (medians over the
//! rounds) and the ratio skopeo/ours for mirror to mirror (the median of each round's ratio).
//!
//! ```sh
//! apt-get install docker-registry skopeo gpg
//! cargo build --release -p mirror-registry -p mirror-registry-bench
//! target/release/releases                 # or: --components 30 --layer-mib 2 --base-mib 16 for a quick run
//! ```

#![forbid(unsafe_code)]
// Byte counts become MiB and MiB/s for display; a few GiB is exact in an f64.
#![allow(clippy::cast_precision_loss)]

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;

#[path = "../cpu.rs"]
mod cpu;
#[path = "shared/loopback.rs"]
mod loopback;
#[path = "shared/measure.rs"]
mod measure;
use loopback::{Process, sha256, start_distribution, start_ours};
use measure::{MEASURE, Measured, measure_child, run_measured};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const RELEASE_REPO: &str = "openshift-release-dev/ocp-release";
const COMPONENT_REPO: &str = "openshift-release-dev/ocp-v4.0-art-dev";
const VERSION: &str = "4.99.0";
const RELEASE_TAG: &str = "4.99.0-x86_64";
const CHANNEL: &str = "stable-4.99";
const GRAPH_PATH: &str = "/api/upgrades_info/v1/graph";
const SIGNATURES_PATH: &str = "/signatures/";
/// Where the client puts payloads and components on the mirror (oc-mirror v2's names).
const MIRROR_RELEASE_REPO: &str = "openshift/release-images";
const MIRROR_COMPONENT_REPO: &str = "openshift/release";
/// Parallel pushes while filling the source.
const FILL_WORKERS: usize = 4;
const MIB: u64 = 1024 * 1024;

/// Benchmark mirroring an OCP release: mirror-registry mirror against skopeo sync.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The mirror-registry binary [default: target/release/mirror-registry of this workspace].
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
    /// Where the registries, workspaces, caches and archives are kept; a default run needs about
    /// 12 GiB free [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Component images in the release.
    #[arg(long, default_value_t = 180)]
    components: usize,
    /// Size of the base layer every component and the payload share, in MiB.
    #[arg(long, default_value_t = 80)]
    base_mib: usize,
    /// Size of each component's own layer, in MiB.
    #[arg(long, default_value_t = 16)]
    layer_mib: usize,
    /// Repeat the measured steps N times on the same source (alternating whether ours or
    /// skopeo goes first); the table shows medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Keep the work directory (the clients' logs, the source's data) and print its path.
    #[arg(long)]
    keep: bool,
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

    /// Appends `len` bytes.
    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        let end = out.len() + len;
        while out.len() + 8 <= end {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        let rest = end - out.len();
        out.extend_from_slice(&self.next().to_le_bytes()[..rest]);
    }
}

/// Appends one ustar header: a regular file of `size` bytes, or a directory for `None`.
fn tar_header(out: &mut Vec<u8>, name: &str, size: Option<usize>) -> anyhow::Result<()> {
    fn field(header: &mut [u8; 512], at: usize, text: &str) {
        header[at..at + text.len()].copy_from_slice(text.as_bytes());
    }
    ensure!(name.len() <= 100, "tar name longer than 100 bytes: {name}");
    let mut header = [0u8; 512];
    field(&mut header, 0, name);
    field(&mut header, 100, "0000755");
    field(&mut header, 108, "0000000");
    field(&mut header, 116, "0000000");
    field(&mut header, 124, &format!("{:011o}", size.unwrap_or(0)));
    field(&mut header, 136, &format!("{:011o}", 1_700_000_000));
    field(&mut header, 148, "        ");
    header[156] = if size.is_some() { b'0' } else { b'5' };
    field(&mut header, 257, "ustar\0");
    field(&mut header, 263, "00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    field(&mut header, 148, &format!("{sum:06o}\0"));
    out.extend_from_slice(&header);
    Ok(())
}

/// Pads a file's content to the next 512-byte block.
fn tar_pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(512), 0);
}

/// Appends a regular file with its content.
fn tar_file(out: &mut Vec<u8>, name: &str, content: &[u8]) -> anyhow::Result<()> {
    tar_header(out, name, Some(content.len()))?;
    out.extend_from_slice(content);
    tar_pad(out);
    Ok(())
}

/// A layer: its gzip bytes, and the digest of the tar inside (the config's `diff_id`).
struct Layer {
    gzip: Vec<u8>,
    diff_id: String,
}

/// Ends the tar stream `tar` and gzips it at `level`.
fn gzip_tar(mut tar: Vec<u8>, level: flate2::Compression) -> anyhow::Result<Layer> {
    tar.resize(tar.len() + 1024, 0);
    let diff_id = sha256(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(tar.len() + tar.len() / 1000 + 64), level);
    gz.write_all(&tar)?;
    Ok(Layer { gzip: gz.finish()?, diff_id })
}

/// A layer of one file of `size` PRNG bytes under `dir/` (a parent directory entry first),
/// stored in the gzip stream without compression.
fn random_layer(prng: &mut Prng, dir: &str, file: &str, size: usize) -> anyhow::Result<Layer> {
    let mut tar = Vec::with_capacity(size + 4096);
    tar_header(&mut tar, &format!("{dir}/"), None)?;
    tar_header(&mut tar, &format!("{dir}/{file}"), Some(size))?;
    prng.fill(&mut tar, size);
    tar_pad(&mut tar);
    gzip_tar(tar, flate2::Compression::none())
}

/// A blob in the source: what a manifest says of it.
struct Blob {
    digest: String,
    size: usize,
    diff_id: String,
}

impl Blob {
    fn descriptor(&self, media_type: &str) -> serde_json::Value {
        serde_json::json!({"mediaType": media_type, "size": self.size, "digest": self.digest})
    }
}

/// The source registry, driven over HTTP.
struct Source {
    http: reqwest::blocking::Client,
    base: String,
}

impl Source {
    fn new(host: &str) -> anyhow::Result<Source> {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_mins(10)).build()?;
        Ok(Source { http, base: format!("http://{host}") })
    }

    /// `POST` then `PUT ?digest=` with the whole blob.
    fn push_blob(&self, repo: &str, data: Vec<u8>) -> anyhow::Result<(String, usize)> {
        let (digest, size) = (sha256(&data), data.len());
        let r = self.http.post(format!("{}/v2/{repo}/blobs/uploads/", self.base)).send()?;
        ensure!(r.status() == 202, "start upload in {repo}: {}", r.status());
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).context("Location")?;
        let mut url = reqwest::Url::parse(&self.base)?.join(location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let r = self.http.put(url).header("content-type", "application/octet-stream").body(data).send()?;
        ensure!(r.status() == 201, "finish upload in {repo}: {}", r.status());
        Ok((digest, size))
    }

    fn push_layer(&self, repo: &str, layer: Layer) -> anyhow::Result<Blob> {
        let (digest, size) = self.push_blob(repo, layer.gzip)?;
        Ok(Blob { digest, size, diff_id: layer.diff_id })
    }

    /// Makes `blob` of repository `from` part of `repo` too.
    fn mount(&self, repo: &str, from: &str, blob: &Blob) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/?mount={}&from={from}", self.base, blob.digest))
            .send()?;
        ensure!(r.status() == 201, "mount {} into {repo}: {}", blob.digest, r.status());
        Ok(())
    }

    /// Pushes a Docker v2-2 image of `layers` (already in `repo`) with `config` (its `rootfs`
    /// filled in here), under `tag` or by digest only; returns its digest and manifest bytes.
    fn push_image(
        &self,
        repo: &str,
        tag: Option<&str>,
        mut config: serde_json::Value,
        layers: &[&Blob],
    ) -> anyhow::Result<(String, Vec<u8>)> {
        config["rootfs"] = serde_json::json!({"type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>()});
        let (config_digest, config_size) = self.push_blob(repo, config.to_string().into_bytes())?;
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": config_size, "digest": config_digest},
            "layers": layers.iter().map(|l| l.descriptor(DOCKER_LAYER)).collect::<Vec<_>>(),
        }))?;
        let digest = sha256(&manifest);
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{}", self.base, tag.unwrap_or(&digest)))
            .header("content-type", DOCKER_MANIFEST)
            .body(manifest.clone())
            .send()?;
        ensure!(r.status() == 201, "manifest {repo}:{}: {}", tag.unwrap_or(&digest), r.status());
        Ok((digest, manifest))
    }
}

/// The release in the source.
struct Release {
    /// Digest of the payload manifest.
    payload_digest: String,
    /// The payload manifest's bytes (what the signature signs).
    payload_manifest: Vec<u8>,
    /// (component name, manifest digest), in `image-references` order.
    components: Vec<(String, String)>,
    /// Bytes of the layers and manifests, each once.
    bytes: u64,
}

fn component_name(i: usize) -> String {
    format!("component-{i:03}")
}

/// Pushes the components (in parallel) and then the payload.
fn fill(source: &Source, host: &str, args: &Args) -> anyhow::Result<Release> {
    let mut prng = Prng(0x9E37_79B9_7F4A_7C15);
    let base =
        source.push_layer(COMPONENT_REPO, random_layer(&mut prng, "usr", "lib/base.bin", args.base_mib << 20)?)?;
    let bytes = AtomicUsize::new(base.size);
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let push_component = |i: usize| -> anyhow::Result<()> {
        let name = component_name(i);
        // A distinct non-zero seed per component, so any of them can be made alone.
        let mut prng = Prng(0x2545_F491_4F6C_DD1D ^ ((i as u64 + 1) << 20));
        let own = source.push_layer(
            COMPONENT_REPO,
            random_layer(&mut prng, "usr", &format!("bin/{name}"), args.layer_mib << 20)?,
        )?;
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": [format!("/usr/bin/{name}")],
                       "Labels": {"io.openshift.release.operator": "true", "io.openshift.build.source-location": format!("https://github.com/openshift/{name}")}},
        });
        let (digest, manifest) = source.push_image(COMPONENT_REPO, None, config, &[&base, &own])?;
        bytes.fetch_add(own.size + manifest.len(), Ordering::Relaxed);
        let mut done = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        done.push((i, digest));
        if done.len().is_multiple_of(10) {
            eprint!(".");
        }
        Ok(())
    };
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..FILL_WORKERS)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= args.components {
                            return Ok(());
                        }
                        push_component(i)?;
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a fill worker panicked"))??;
        }
        Ok(())
    })?;
    let mut done = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    done.sort();
    let components: Vec<(String, String)> = done.into_iter().map(|(i, digest)| (component_name(i), digest)).collect();

    let tags: Vec<serde_json::Value> = components
        .iter()
        .map(|(name, digest)| {
            serde_json::json!({
                "name": name,
                "annotations": {"io.openshift.build.source-location": format!("https://github.com/openshift/{name}")},
                "from": {"kind": "DockerImage", "name": format!("{host}/{COMPONENT_REPO}@{digest}")},
                "generation": null, "importPolicy": {}, "referencePolicy": {"type": ""},
            })
        })
        .collect();
    let references = serde_json::json!({"kind": "ImageStream", "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": VERSION, "creationTimestamp": null},
        "spec": {"lookupPolicy": {"local": false}, "tags": tags}});
    let metadata = serde_json::json!({"kind": "cincinnati-metadata-v0", "version": VERSION, "previous": [],
        "metadata": {"url": format!("https://access.redhat.com/errata/RHBA-2099:{VERSION}")}});
    let mut tar = Vec::new();
    tar_header(&mut tar, "release-manifests/", None)?;
    tar_file(&mut tar, "release-manifests/image-references", &serde_json::to_vec_pretty(&references)?)?;
    tar_file(&mut tar, "release-manifests/release-metadata", &serde_json::to_vec_pretty(&metadata)?)?;
    let manifests = source.push_layer(RELEASE_REPO, gzip_tar(tar, flate2::Compression::default())?)?;
    source.mount(RELEASE_REPO, COMPONENT_REPO, &base)?;
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "config": {"Labels": {"io.openshift.release": VERSION}, "Entrypoint": ["/usr/bin/cluster-version-operator"]}});
    let (payload_digest, payload_manifest) =
        source.push_image(RELEASE_REPO, Some(RELEASE_TAG), config, &[&base, &manifests])?;
    let bytes = bytes.into_inner() + manifests.size + payload_manifest.len();
    Ok(Release { payload_digest, payload_manifest, components, bytes: bytes as u64 })
}

/// A gpg key in its own `GNUPGHOME` that signs releases as Red Hat does (`skopeo
/// standalone-sign`); the agent gpg starts is stopped on drop.
struct Signer {
    dir: tempfile::TempDir,
    fingerprint: String,
}

impl Signer {
    fn new() -> anyhow::Result<Signer> {
        // In the system temp dir, whatever --work-dir: gpg-agent's socket path must stay short.
        let dir = tempfile::tempdir()?;
        let home = dir.path().join("gnupg");
        std::fs::create_dir(&home)?;
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let mut signer = Signer { dir, fingerprint: String::new() };
        signer.gpg(&["--passphrase", "", "--quick-gen-key", "Bench <b@bench.invalid>", "rsa3072", "sign", "never"])?;
        let listing = signer.gpg(&["--with-colons", "--list-secret-keys"])?;
        signer.fingerprint = String::from_utf8_lossy(&listing)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .context("no fingerprint in gpg's key listing")?
            .to_string();
        let armored = signer.gpg(&["--armor", "--export", &signer.fingerprint])?;
        std::fs::write(signer.public_key_file(), armored)?;
        Ok(signer)
    }

    fn gnupghome(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    /// The armored public key (what `OCP_SIGNATURE_VERIFICATION_PK` names).
    fn public_key_file(&self) -> PathBuf {
        self.dir.path().join("public-key.asc")
    }

    fn gpg(&self, args: &[&str]) -> anyhow::Result<Vec<u8>> {
        let out = Command::new("gpg")
            .arg("--batch")
            .args(args)
            .env("GNUPGHOME", self.gnupghome())
            .output()
            .context("running gpg (apt-get install gpg)")?;
        ensure!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(out.stdout)
    }

    /// The signature of `manifest` for `docker_reference` (`host/repo:tag`).
    fn sign(&self, manifest: &[u8], docker_reference: &str) -> anyhow::Result<Vec<u8>> {
        let (manifest_file, out_file) = (self.dir.path().join("manifest.json"), self.dir.path().join("signature-1"));
        std::fs::write(&manifest_file, manifest)?;
        let out = Command::new("skopeo")
            .arg("standalone-sign")
            .arg(&manifest_file)
            .arg(docker_reference)
            .arg(&self.fingerprint)
            .arg("-o")
            .arg(&out_file)
            .env("GNUPGHOME", self.gnupghome())
            .output()
            .context("running skopeo standalone-sign")?;
        ensure!(out.status.success(), "skopeo standalone-sign: {}", String::from_utf8_lossy(&out.stderr));
        Ok(std::fs::read(&out_file)?)
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.gnupghome())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The update graph and the signature store on `127.0.0.1:<port>`, one request per
/// connection, served until the program exits.
struct Services {
    url: String,
    /// Requests answered: (graph, signature).
    served: Arc<Mutex<(usize, usize)>>,
}

impl Services {
    fn start(graph: &serde_json::Value, signature: Vec<u8>, signed_digest: &str) -> anyhow::Result<Services> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let graph = graph.to_string().into_bytes();
        let signature_path = format!("{SIGNATURES_PATH}{}/signature-1", signed_digest.replacen(':', "=", 1));
        let served = Arc::new(Mutex::new((0, 0)));
        let counts = Arc::clone(&served);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let Some((path, query)) = read_request(&stream) else { continue };
                let mut counts = counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let (status, body): (u16, &[u8]) = if path == GRAPH_PATH {
                    counts.0 += 1;
                    let ours = query.split('&').any(|p| p == format!("channel={CHANNEL}"))
                        && !query.split('&').any(|p| p.starts_with("arch=") && p != "arch=amd64");
                    (200, if ours { &graph } else { br#"{"nodes":[],"edges":[],"conditionalEdges":[]}"# })
                } else if path == signature_path {
                    counts.1 += 1;
                    (200, &signature)
                } else {
                    (404, b"not found\n")
                };
                drop(counts);
                respond(stream, status, body);
            }
        });
        Ok(Services { url, served })
    }
}

/// The path and query of a request; its headers are read and ignored.
fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some((path.to_string(), query.to_string()))
}

fn respond(mut stream: TcpStream, status: u16, body: &[u8]) {
    let (reason, content_type) = if status == 200 { ("OK", "application/json") } else { ("Not Found", "text/plain") };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).and_then(|()| stream.flush());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Checks that `repo@digest` on `host` answers 200 with bytes of that digest, for each digest.
fn verify_images<'a>(host: &str, images: impl IntoIterator<Item = (String, &'a str)>) -> anyhow::Result<usize> {
    let http = reqwest::blocking::Client::new();
    let (mut checked, mut missing) = (0, Vec::new());
    for (repo, digest) in images {
        let r = http
            .get(format!("http://{host}/v2/{repo}/manifests/{digest}"))
            .header("accept", format!("{DOCKER_MANIFEST}, application/vnd.oci.image.manifest.v1+json"))
            .send()?;
        let status = r.status().as_u16();
        if status != 200 || sha256(&r.bytes()?) != digest {
            missing.push(format!("{repo}@{digest} ({status})"));
        }
        checked += 1;
    }
    ensure!(
        missing.is_empty(),
        "{} of {checked} images missing on {host}: {}",
        missing.len(),
        missing[..missing.len().min(10)].join(", ")
    );
    Ok(checked)
}

/// Flushes dirty pages, so that one step's writes are not paid for by the next.
fn sync_disks() {
    let _ = Command::new("sync").status();
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.metadata().map_or(0, |m| m.len())).sum()
}

/// One client run: its measurements, and the CPU time the registries used meanwhile.
struct Step {
    m: Measured,
    /// The source's (docker-registry's) CPU seconds, when the step reads it.
    source_cpu: Option<f64>,
    /// The destination's (mirror-registry serve's) CPU seconds, when the step writes to one.
    dest_cpu: Option<f64>,
}

/// What every step needs.
struct Bench<'a> {
    ours: &'a Path,
    work: &'a Path,
    source: &'a Process,
    isc: PathBuf,
    authfile: PathBuf,
    env: Vec<(&'static str, String)>,
    release: &'a Release,
}

fn cpu_used(p: &Process) -> anyhow::Result<cpu::CpuTime> {
    cpu::used(p.child.id())
}

/// CPU seconds `p` used since `before`.
fn cpu_since(p: &Process, before: cpu::CpuTime) -> anyhow::Result<f64> {
    Ok(cpu_used(p)?.since(before).total().as_secs_f64())
}

impl Bench<'_> {
    /// `mirror-registry mirror -c ISC ARGS...` with the services' environment.
    fn mirror(&self, cache: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.ours);
        cmd.arg("mirror")
            .arg("-c")
            .arg(&self.isc)
            .args(args)
            .args(["--src-tls-verify=false", "--dest-tls-verify=false", "--log-level", "info"])
            .arg("--authfile")
            .arg(&self.authfile)
            .arg("--cache-dir")
            .arg(self.work.join(cache))
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs one measured step after flushing earlier writes; `dest` is the registry it writes
    /// to, if any, and `reads_source` whether it reads the source registry.
    fn run(
        &self,
        cmd: &Command,
        what: &str,
        log: &str,
        dest: Option<&Process>,
        reads_source: bool,
    ) -> anyhow::Result<Step> {
        sync_disks();
        eprint!("{what} ... ");
        let log = self.work.join(log);
        let (source_before, dest_before) = (cpu_used(self.source)?, dest.map(cpu_used).transpose()?);
        let m = run_measured(cmd, what, &log)?;
        let source_cpu = reads_source.then(|| cpu_since(self.source, source_before)).transpose()?;
        let dest_cpu = match (dest, dest_before) {
            (Some(d), Some(before)) => Some(cpu_since(d, before)?),
            _ => None,
        };
        eprintln!(
            "{:.2} s, peak RSS {:.1} MiB, CPU s: client {:.2}, source {}, destination {}",
            m.seconds,
            m.peak_mib(),
            m.cpu_seconds,
            source_cpu.map_or_else(|| "-".into(), |c| format!("{c:.2}")),
            dest_cpu.map_or_else(|| "-".into(), |c| format!("{c:.2}")),
        );
        // Our client's summaries ("N/N images mirrored ...: B blobs copied ..."), else the last line.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut summaries: Vec<&str> = text.lines().filter(|l| l.contains("images mirrored")).collect();
        if summaries.is_empty() {
            summaries.extend(text.lines().last());
        }
        for line in summaries {
            eprintln!("  {}", line.trim());
        }
        Ok(Step { m, source_cpu, dest_cpu })
    }

    /// Every image of the release, as our client names them on the mirror, by digest.
    fn verify_ours(&self, host: &str) -> anyhow::Result<()> {
        let r = self.release;
        let images = std::iter::once((MIRROR_RELEASE_REPO.to_string(), r.payload_digest.as_str()))
            .chain(r.components.iter().map(|(_, d)| (MIRROR_COMPONENT_REPO.to_string(), d.as_str())));
        let n = verify_images(host, images)?;
        let tagged = verify_tag(host, MIRROR_RELEASE_REPO, RELEASE_TAG)?;
        ensure!(tagged == r.payload_digest, "{MIRROR_RELEASE_REPO}:{RELEASE_TAG} is {tagged}, not the payload");
        eprintln!("  all {n} images there by digest, the payload under {MIRROR_RELEASE_REPO}:{RELEASE_TAG}");
        Ok(())
    }

    fn ours_mirror_to_mirror(&self) -> anyhow::Result<Step> {
        let dest = start_ours(self.ours, &self.work.join("dest-m2m"))?;
        let workspace = format!("file://{}", self.work.join("ws-m2m").display());
        let cmd = self.mirror("cache-m2m", &["--workspace", &workspace, &format!("docker://{}", dest.host)]);
        let step = self.run(&cmd, "mirror-registry mirror, mirror to mirror", "m2m.log", Some(&dest), true)?;
        self.verify_ours(&dest.host)?;
        drop(dest);
        remove(&[&self.work.join("dest-m2m"), &self.work.join("cache-m2m"), &self.work.join("ws-m2m")]);
        Ok(step)
    }

    fn skopeo_sync(&self) -> anyhow::Result<Step> {
        let dest = start_ours(self.ours, &self.work.join("dest-skopeo"))?;
        let r = self.release;
        let mut yaml = format!(
            "{}:\n  tls-verify: false\n  images:\n    {RELEASE_REPO}: [\"{RELEASE_TAG}\"]\n    {COMPONENT_REPO}:\n",
            self.source.host
        );
        for (_, digest) in &r.components {
            let _ = writeln!(yaml, "    - \"{digest}\"");
        }
        let sync = self.work.join("sync.yaml");
        std::fs::write(&sync, yaml)?;
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "sync", "--preserve-digests", "--src", "yaml", "--dest", "docker"])
            .arg("--dest-tls-verify=false")
            .arg(&sync)
            .arg(format!("{}/skopeo", dest.host));
        let step = self.run(&cmd, "skopeo sync, the same images", "skopeo.log", Some(&dest), true)?;
        // skopeo sync names each image after the last component of its source path.
        let last = |repo: &str| format!("skopeo/{}", repo.rsplit('/').next().unwrap_or(repo));
        let images = std::iter::once((last(RELEASE_REPO), r.payload_digest.as_str()))
            .chain(r.components.iter().map(|(_, d)| (last(COMPONENT_REPO), d.as_str())));
        let n = verify_images(&dest.host, images)?;
        eprintln!("  all {n} images there by digest");
        drop(dest);
        remove(&[&self.work.join("dest-skopeo")]);
        Ok(step)
    }

    /// Mirror to disk, then disk to mirror from the archives alone; and the archives' bytes.
    fn ours_through_disk(&self) -> anyhow::Result<(Step, Step, u64)> {
        let archive = self.work.join("archive");
        let cmd = self.mirror("cache-m2d", &[&format!("file://{}", archive.display())]);
        let m2d = self.run(&cmd, "mirror-registry mirror, mirror to disk", "m2d.log", None, true)?;
        remove(&[&self.work.join("cache-m2d")]);
        // Only the archives cross the air gap: into a new directory, to be read with a new cache.
        let carried = self.work.join("carried");
        std::fs::create_dir_all(&carried)?;
        for entry in std::fs::read_dir(&archive)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tar") {
                std::fs::rename(&path, carried.join(path.file_name().context("file name")?))?;
            }
        }
        let archive_bytes = dir_bytes(&carried);
        ensure!(archive_bytes > 0, "mirror to disk wrote no archive in {}", archive.display());
        let dest = start_ours(self.ours, &self.work.join("dest-d2m"))?;
        let from = format!("file://{}", carried.display());
        let cmd = self.mirror("cache-d2m", &["--from", &from, &format!("docker://{}", dest.host)]);
        let d2m = self.run(&cmd, "mirror-registry mirror, disk to mirror", "d2m.log", Some(&dest), false)?;
        self.verify_ours(&dest.host)?;
        drop(dest);
        remove(&[&self.work.join("dest-d2m"), &self.work.join("cache-d2m"), &archive, &carried]);
        Ok((m2d, d2m, archive_bytes))
    }
}

/// The tag's manifest digest on `host`.
fn verify_tag(host: &str, repo: &str, tag: &str) -> anyhow::Result<String> {
    let r = reqwest::blocking::Client::new()
        .get(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("accept", DOCKER_MANIFEST)
        .send()?;
    ensure!(r.status() == 200, "{repo}:{tag} on {host}: {}", r.status());
    Ok(sha256(&r.bytes()?))
}

/// Removes directories a finished step leaves, to keep the disk and page cache to the next one.
fn remove(dirs: &[&Path]) {
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) }
}

/// One table row over the rounds: `name` and its steps; `mib` of content.
fn print_row(name: &str, steps: &[Step], mib: f64, ratio: &str) {
    let seconds: Vec<f64> = steps.iter().map(|s| s.m.seconds).collect();
    let t = median(&seconds);
    let range = if steps.len() > 1 {
        let (lo, hi) =
            (seconds.iter().copied().fold(f64::INFINITY, f64::min), seconds.iter().copied().fold(0.0, f64::max));
        format!(" ({lo:.2}–{hi:.2})")
    } else {
        String::new()
    };
    let peak = steps.iter().map(|s| s.m.peak_mib()).fold(0.0, f64::max);
    let cpu = |f: &dyn Fn(&Step) -> Option<f64>| {
        let v: Vec<f64> = steps.iter().filter_map(f).collect();
        if v.is_empty() { "-".to_string() } else { format!("{:.1}", median(&v)) }
    };
    println!(
        "| {name} | {t:.2}{range} | {:.0} | {peak:.1} | {} | {} | {} | {ratio} |",
        mib / t,
        cpu(&|s| Some(s.m.cpu_seconds)),
        cpu(&|s| s.source_cpu),
        cpu(&|s| s.dest_cpu),
    );
}

/// Signs the release with a fresh key and serves the graph of channel `stable-4.99` and the
/// signature; the signer must live as long as its public key file is used.
fn serve_release(source_host: &str, release: &Release) -> anyhow::Result<(Signer, Services)> {
    let signer = Signer::new()?;
    let tagged = format!("{source_host}/{RELEASE_REPO}:{RELEASE_TAG}");
    let signature = signer.sign(&release.payload_manifest, &tagged)?;
    let graph = serde_json::json!({
        "nodes": [{"version": VERSION, "payload": format!("{source_host}/{RELEASE_REPO}@{}", release.payload_digest),
                   "metadata": {"io.openshift.upgrades.graph.release.channels": CHANNEL,
                                "io.openshift.upgrades.graph.release.manifestref": release.payload_digest}}],
        "edges": [], "conditionalEdges": []});
    let services = Services::start(&graph, signature, &release.payload_digest)?;
    eprintln!("release {tagged} signed by key {}; graph and signatures at {}", signer.fingerprint, services.url);
    Ok((signer, services))
}

/// Every round's steps.
#[derive(Default)]
struct Rounds {
    m2m: Vec<Step>,
    skopeo: Vec<Step>,
    m2d: Vec<Step>,
    d2m: Vec<Step>,
    /// Mirror to disk and disk to mirror together.
    through_disk: Vec<Step>,
    archive_bytes: u64,
}

fn run_rounds(bench: &Bench, rounds: usize) -> anyhow::Result<Rounds> {
    let mut r = Rounds::default();
    for round in 1..=rounds {
        if rounds > 1 {
            eprintln!("round {round} of {rounds}");
        }
        // Alternate who goes first, as the main bench does.
        if round % 2 == 1 {
            r.m2m.push(bench.ours_mirror_to_mirror()?);
            r.skopeo.push(bench.skopeo_sync()?);
        } else {
            r.skopeo.push(bench.skopeo_sync()?);
            r.m2m.push(bench.ours_mirror_to_mirror()?);
        }
        let (to_disk, from_disk, bytes) = bench.ours_through_disk()?;
        r.archive_bytes = bytes;
        let add = |a: Option<f64>, b: Option<f64>| {
            if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)) }
        };
        r.through_disk.push(Step {
            m: Measured {
                seconds: to_disk.m.seconds + from_disk.m.seconds,
                peak_kib: to_disk.m.peak_kib.max(from_disk.m.peak_kib),
                cpu_seconds: to_disk.m.cpu_seconds + from_disk.m.cpu_seconds,
            },
            source_cpu: add(to_disk.source_cpu, from_disk.source_cpu),
            dest_cpu: add(to_disk.dest_cpu, from_disk.dest_cpu),
        });
        r.m2d.push(to_disk);
        r.d2m.push(from_disk);
    }
    Ok(r)
}

/// Prints the Markdown table and the verdict.
fn report(r: &Rounds, release: &Release, rounds: usize) {
    let mib = release.bytes as f64 / MIB as f64;
    // Ratios within each round (the same machine load for both), then their median.
    let ratios =
        |ours: &[Step]| -> Vec<f64> { r.skopeo.iter().zip(ours).map(|(s, o)| s.m.seconds / o.m.seconds).collect() };
    let ratio = median(&ratios(&r.m2m));
    let each: Vec<String> = ratios(&r.m2m).iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| step | seconds | MiB/s | peak RSS MiB | client CPU s | source CPU s | destination CPU s | skopeo/ours |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    print_row("mirror-registry mirror, mirror to mirror", &r.m2m, mib, &format!("{ratio:.2}"));
    print_row(&format!("skopeo sync, the same {} images", release.components.len() + 1), &r.skopeo, mib, "");
    print_row(
        &format!("mirror-registry mirror, mirror to disk ({:.0} MiB of archives)", r.archive_bytes as f64 / MIB as f64),
        &r.m2d,
        mib,
        "",
    );
    print_row("mirror-registry mirror, disk to mirror", &r.d2m, mib, "");
    let through_disk = format!("{:.2}", median(&ratios(&r.through_disk)));
    print_row("mirror to disk + disk to mirror", &r.through_disk, mib, &through_disk);
    let peak = r.m2m.iter().chain(&r.m2d).chain(&r.d2m).map(|s| s.m.peak_mib()).fold(0.0, f64::max);
    println!(
        "\nrelease {VERSION}: payload + {} components, {mib:.0} MiB{}: mirror-registry is {ratio:.2}x as fast as skopeo sync mirror to mirror (median of the rounds' ratios: {}; target >= 2x: {}); its peak RSS {peak:.1} MiB (target <= 100 MiB: {})",
        release.components.len(),
        if rounds > 1 { format!(", medians of {rounds} rounds") } else { String::new() },
        each.join(", "),
        if ratio >= 2.0 { "met" } else { "NOT met" },
        if peak <= 100.0 { "met" } else { "NOT met" },
    );
}

fn main() -> anyhow::Result<()> {
    let mut raw = std::env::args_os().skip(1);
    if raw.next().is_some_and(|a| a == MEASURE) {
        std::process::exit(measure_child(raw)?);
    }
    let args = Args::parse();
    ensure!(args.components > 0 && args.base_mib > 0 && args.layer_mib > 0, "nothing to mirror");
    ensure!(args.rounds > 0, "--rounds must be at least 1");
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
        "filling {} with release {VERSION}: {} components of a {} MiB shared layer and a {} MiB layer each ",
        source.host, args.components, args.base_mib, args.layer_mib
    );
    let started = Instant::now();
    let release = fill(&Source::new(&source.host)?, &source.host, &args)?;
    eprintln!(" {:.0} MiB in {:.1} s", release.bytes as f64 / MIB as f64, started.elapsed().as_secs_f64());

    let (signer, services) = serve_release(&source.host, &release)?;

    let bench = Bench {
        ours: &ours,
        work: w,
        source: &source,
        isc: w.join("isc.yaml"),
        authfile: w.join("auth.json"),
        env: vec![
            ("UPDATE_URL_OVERRIDE", format!("{}{GRAPH_PATH}", services.url)),
            ("OCP_SIGNATURE_URL", format!("{}{SIGNATURES_PATH}", services.url)),
            ("OCP_SIGNATURE_VERIFICATION_PK", signer.public_key_file().display().to_string()),
        ],
        release: &release,
    };
    std::fs::write(&bench.authfile, r#"{"auths":{}}"#)?;
    std::fs::write(
        &bench.isc,
        format!(
            "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  platform:\n    channels:\n    - name: {CHANNEL}\n"
        ),
    )?;

    let rounds = run_rounds(&bench, args.rounds)?;
    let (graphs, signatures) = *services.served.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    eprintln!("the services answered {graphs} graph and {signatures} signature requests");
    ensure!(signatures >= 2 * args.rounds, "our client did not fetch the release signature in every online run");

    report(&rounds, &release, args.rounds);
    if args.keep {
        eprintln!("kept {}", work.keep().display());
    }
    Ok(())
}
