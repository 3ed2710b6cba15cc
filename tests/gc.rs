//! Garbage collection next to real pushes: a GC process looping with a zero grace period while
//! clients push images that share layers, and crashes (kill -9) of the server and of a GC run.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::Registry;
use sha2::{Digest as _, Sha256};

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A pusher speaking the HTTP API like containers/image does.
struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

/// An image a client believes it pushed: what must pull afterwards.
struct Pushed {
    repo: String,
    tag: String,
    manifest: Vec<u8>,
    blobs: Vec<(String, Vec<u8>)>,
}

impl Client {
    fn new(reg: &Registry) -> Client {
        Client {
            base: reg.url(),
            http: reqwest::blocking::Client::builder().timeout(Duration::from_mins(1)).build().expect("client"),
        }
    }

    fn has_blob(&self, repo: &str, digest: &str) -> bool {
        self.http.head(format!("{}/v2/{repo}/blobs/{digest}", self.base)).send().is_ok_and(|r| r.status() == 200)
    }

    fn mount(&self, repo: &str, digest: &str, from: &str) -> bool {
        self.http
            .post(format!("{}/v2/{repo}/blobs/uploads/?mount={digest}&from={from}", self.base))
            .send()
            .is_ok_and(|r| r.status() == 201)
    }

    /// Monolithic upload, or a session with two PATCH chunks when `chunked`.
    fn upload(&self, repo: &str, data: &[u8], chunked: bool) {
        let digest = sha256(data);
        if !chunked {
            let r = self
                .http
                .post(format!("{}/v2/{repo}/blobs/uploads/?digest={digest}", self.base))
                .body(data.to_vec())
                .send()
                .expect("post");
            assert_eq!(r.status(), 201, "monolithic upload");
            return;
        }
        let r = self.http.post(format!("{}/v2/{repo}/blobs/uploads/", self.base)).send().expect("post");
        assert_eq!(r.status(), 202);
        let mut location = r.headers()["location"].to_str().expect("location").to_string();
        let half = data.len() / 2;
        for (start, chunk) in [(0, &data[..half]), (half, &data[half..])] {
            let end = start + chunk.len() - 1;
            let r = self
                .http
                .patch(&location)
                .header("content-range", format!("{start}-{end}"))
                .body(chunk.to_vec())
                .send()
                .expect("patch");
            assert_eq!(r.status(), 202, "patch");
            location = r.headers()["location"].to_str().expect("location").to_string();
        }
        let r = self.http.put(format!("{location}?digest={digest}")).send().expect("put");
        assert_eq!(r.status(), 201, "put");
    }

    /// Pushes a manifest; on `MANIFEST_BLOB_UNKNOWN` (GC took a blob between upload and
    /// manifest, which a zero grace period allows) uploads the blobs again and retries.
    fn push_image(&self, repo: &str, tag: &str, blobs: &[(String, Vec<u8>)], manifest: &[u8]) -> bool {
        for _ in 0..50 {
            let r = self
                .http
                .put(format!("{}/v2/{repo}/manifests/{tag}", self.base))
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest.to_vec())
                .send()
                .expect("put manifest");
            match r.status().as_u16() {
                201 => return true,
                400 => {
                    let body = r.text().unwrap_or_default();
                    assert!(body.contains("MANIFEST_BLOB_UNKNOWN"), "unexpected refusal: {body}");
                    for (_, data) in blobs {
                        self.upload(repo, data, false);
                    }
                }
                other => panic!("manifest push answered {other}"),
            }
        }
        false
    }

    fn verify(&self, image: &Pushed) {
        let r = self
            .http
            .get(format!("{}/v2/{}/manifests/{}", self.base, image.repo, image.tag))
            .send()
            .expect("get manifest");
        assert_eq!(r.status(), 200, "{}:{} lost its manifest", image.repo, image.tag);
        assert_eq!(r.bytes().expect("body").to_vec(), image.manifest);
        for (digest, data) in &image.blobs {
            let r = self.http.get(format!("{}/v2/{}/blobs/{digest}", self.base, image.repo)).send().expect("get blob");
            assert_eq!(r.status(), 200, "{}:{} lost blob {digest}", image.repo, image.tag);
            let body = r.bytes().expect("body");
            assert_eq!(sha256(&body), *digest, "blob {digest} corrupt");
            assert_eq!(&body[..], &data[..]);
        }
    }
}

fn manifest_for(config: &(String, Vec<u8>), layers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, data)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": data.len()}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.0, "size": config.1.len()},
        "layers": layers,
    }))
    .expect("json")
}

fn blob(data: Vec<u8>) -> (String, Vec<u8>) {
    (sha256(&data), data)
}

/// Runs `mirror-registry gc --grace-period 0s` against the registry's data until `stop`.
fn gc_loop(reg: &Registry, stop: Arc<AtomicBool>, runs: Arc<AtomicUsize>) -> std::thread::JoinHandle<()> {
    let config = reg.config_file();
    let data = reg.data_dir.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
                .args(["gc", "--grace-period", "0s", "--config"])
                .arg(&config)
                .arg("--data-dir")
                .arg(&data)
                .output()
                .expect("run gc");
            assert!(out.status.success(), "gc failed: {}", String::from_utf8_lossy(&out.stderr));
            runs.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// 8 clients push images sharing layers (HEAD then skip, mount, fresh monolithic and chunked
/// uploads) while GC loops with a zero grace period; afterwards every image a client saw
/// accepted pulls, and every digest verifies.
///
/// Guards the re-check in the sweep's delete transaction (`still_garbage` in `store/gc/sweep.rs`):
/// without it, a blob that was unreferenced when GC listed its candidates but became
/// referenced by a manifest committed just before the delete is deleted anyway, and
/// `verify` fails with "lost blob". (Checked by removing the re-check: the test then fails.)
#[test]
fn gc_looping_with_zero_grace_never_loses_a_pushed_image() {
    let reg = Registry::ours();
    let rounds: usize = std::env::var("GC_TEST_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let seed_client = Client::new(&reg);
    // Base layers held by a tagged image in a shared repository: mounts come from there.
    let bases: Vec<_> = (0..3).map(|i| blob(format!("base layer {i} ").repeat(500).into_bytes())).collect();
    let base_config = blob(b"{\"base\":true}".to_vec());
    for b in bases.iter().chain([&base_config]) {
        seed_client.upload("shared/base", &b.1, false);
    }
    assert!(seed_client.push_image("shared/base", "v1", &bases, &manifest_for(&base_config, &bases)));

    let stop = Arc::new(AtomicBool::new(false));
    let gc_runs = Arc::new(AtomicUsize::new(0));
    let gc = gc_loop(&reg, stop.clone(), gc_runs.clone());
    let pushed: Vec<Pushed> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|c| {
                let (reg, bases) = (&reg, &bases);
                s.spawn(move || {
                    let client = Client::new(reg);
                    let repo = format!("team/c{c}");
                    let mut pushed = Vec::new();
                    for round in 0..rounds {
                        let base = &bases[(c + round) % bases.len()];
                        // Layers shared between clients but held by no manifest yet: the racy kind.
                        let shared = blob(format!("round {round} shared").repeat(100).into_bytes());
                        let own = blob(format!("client {c} round {round}").repeat(50).into_bytes());
                        let config = blob(format!("{{\"client\":{c},\"round\":{round}}}").into_bytes());
                        if !client.has_blob(&repo, &base.0) && !client.mount(&repo, &base.0, "shared/base") {
                            client.upload(&repo, &base.1, false);
                        }
                        if !client.has_blob(&repo, &shared.0) {
                            client.upload(&repo, &shared.1, round % 2 == 0);
                        }
                        client.upload(&repo, &own.1, true);
                        client.upload(&repo, &config.1, false);
                        let layers = vec![base.clone(), shared, own];
                        let manifest = manifest_for(&config, &layers);
                        let tag = format!("r{round}");
                        let mut blobs = layers;
                        blobs.push(config);
                        assert!(client.push_image(&repo, &tag, &blobs, &manifest), "{repo}:{tag} never accepted");
                        pushed.push(Pushed { repo: repo.clone(), tag, manifest, blobs });
                    }
                    pushed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("pusher")).collect()
    });
    stop.store(true, Ordering::Relaxed);
    gc.join().expect("gc loop");
    assert!(gc_runs.load(Ordering::Relaxed) >= 3, "GC must have run during the pushes");
    // One more collection after the pushes: nothing referenced may go.
    reg.gc();
    let client = Client::new(&reg);
    assert_eq!(pushed.len(), 8 * rounds);
    for image in &pushed {
        client.verify(image);
    }
}

/// kill -9 of the server in the middle of pushes and of a GC run in the middle of its sweep;
/// after a restart `fsck` is clean and every push that was acknowledged still pulls.
#[test]
fn crashes_mid_push_and_mid_gc_leave_a_clean_store() {
    let reg = Registry::ours();
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicUsize::new(0));
    let acknowledged: Vec<Pushed> = std::thread::scope(|s| {
        let pushers: Vec<_> = (0..4)
            .map(|c| {
                let (reg, stop, completed) = (&reg, stop.clone(), completed.clone());
                s.spawn(move || {
                    let client = Client::new(reg);
                    let repo = format!("crash/c{c}");
                    let mut done = Vec::new();
                    for round in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let layer = blob(format!("c{c} r{round} ").repeat(20_000).into_bytes());
                        let stray = blob(format!("stray c{c} r{round}").into_bytes());
                        let config = blob(format!("{{\"c\":{c},\"r\":{round}}}").into_bytes());
                        // Any of these may fail once the server is killed: then stop quietly.
                        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            client.upload(&repo, &stray.1, true);
                            client.upload(&repo, &layer.1, round % 2 == 0);
                            client.upload(&repo, &config.1, false);
                            let manifest = manifest_for(&config, std::slice::from_ref(&layer));
                            let tag = format!("r{round}");
                            client.push_image(&repo, &tag, &[layer.clone(), config.clone()], &manifest).then(|| {
                                Pushed { repo: repo.clone(), tag, manifest, blobs: vec![layer.clone(), config.clone()] }
                            })
                        }));
                        match ok {
                            Ok(Some(p)) => {
                                done.push(p);
                                completed.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => break,
                        }
                    }
                    done
                })
            })
            .collect();
        // Let some pushes complete first.
        let deadline = std::time::Instant::now() + Duration::from_mins(1);
        while completed.load(Ordering::Relaxed) < 8 {
            assert!(std::time::Instant::now() < deadline, "pushes are not completing");
            std::thread::sleep(Duration::from_millis(10));
        }
        // A GC process killed part-way through, several times, while pushes go on.
        for _ in 0..5 {
            let mut gc = reg
                .command(&["gc", "--grace-period", "0s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("gc");
            std::thread::sleep(Duration::from_millis(40));
            let _ = gc.kill();
            let _ = gc.wait();
        }
        reg.signal("KILL");
        stop.store(true, Ordering::Relaxed);
        pushers.into_iter().flat_map(|h| h.join().expect("pusher")).collect()
    });
    assert!(!acknowledged.is_empty(), "some pushes must have completed before the crash");
    let (dir, data_dir) = reg.crash();
    let reg = Registry::ours_in(dir, &data_dir, &[]);
    let fsck = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
        .args(["fsck", "--config"])
        .arg(reg.config_file())
        .arg("--data-dir")
        .arg(&reg.data_dir)
        .output()
        .expect("fsck");
    let report = String::from_utf8_lossy(&fsck.stdout);
    assert!(
        fsck.status.success() && report.contains("clean"),
        "fsck after the crash:\n{report}{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let client = Client::new(&reg);
    for image in &acknowledged {
        client.verify(image);
    }
}

/// Runs `mirror-registry ARGS --config .. --data-dir ..` next to the registry and returns it.
fn run_command(reg: &Registry, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
        .args(args)
        .arg("--config")
        .arg(reg.config_file())
        .arg("--data-dir")
        .arg(&reg.data_dir)
        .output()
        .expect("run mirror-registry")
}

/// Issue #12, item 13: `fsck --repair` run while `gc` runs exited 1 in 11 of 77 runs ("No such
/// file or directory"), because a blob GC removed between fsck's listing and its open was taken
/// for an I/O failure. Here blobs become garbage as fast as they are pushed, GC loops with a zero
/// grace period, and every fsck, with and without `--repair`, must succeed and find the store
/// clean: a file or row that went away meanwhile is neither an error nor a problem.
#[test]
fn fsck_next_to_a_looping_gc_never_fails_nor_reports_what_gc_removed() {
    let reg = Registry::ours();
    let rounds: usize = std::env::var("FSCK_RACE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    // Referenced blobs that GC keeps: fsck spends its time hashing them while GC removes the
    // garbage it listed.
    let seed = Client::new(&reg);
    let layers: Vec<_> = (0..200).map(|i| blob(format!("kept layer {i} ").repeat(5000).into_bytes())).collect();
    let config = blob(b"{\"kept\":true}".to_vec());
    for b in layers.iter().chain([&config]) {
        seed.upload("race/kept", &b.1, false);
    }
    assert!(seed.push_image("race/kept", "v1", &layers, &manifest_for(&config, &layers)));
    let stop = Arc::new(AtomicBool::new(false));
    let gc_runs = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        // Unreferenced blobs, pushed without pause: each is garbage for the next GC run.
        let pusher = {
            let (reg, stop) = (&reg, stop.clone());
            s.spawn(move || {
                let client = Client::new(reg);
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    for j in 0..20 {
                        client.upload("race/fsck", format!("blob {i}-{j} ").repeat(3000).as_bytes(), false);
                    }
                }
            })
        };
        let gc = gc_loop(&reg, stop.clone(), gc_runs.clone());
        let mut failures = Vec::new();
        for round in 0..rounds {
            let args: &[&str] = if round % 2 == 0 { &["fsck", "--repair"] } else { &["fsck"] };
            let out = run_command(&reg, args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || !stdout.contains("clean") {
                failures.push(format!("{args:?}: {}{}", stdout, String::from_utf8_lossy(&out.stderr)));
            }
        }
        stop.store(true, Ordering::Relaxed);
        pusher.join().expect("pusher");
        gc.join().expect("gc loop");
        assert!(gc_runs.load(Ordering::Relaxed) >= 3, "GC must have run during the fsck runs");
        assert!(failures.is_empty(), "{} of {rounds} fsck runs failed:\n{}", failures.len(), failures.join("\n"));
    });
}
