//! `mirror-registry mirror` against real registries on loopback: Debian's `docker-registry` as
//! the source (seeded with skopeo, see `mirror/fixtures.rs`), our registry and `docker-registry`
//! (with TLS and basic auth) as destinations.

mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/workspace.rs"]
mod workspace;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{DistributionSetup, Registry};
use fixtures::{BIG_LAYER_BYTES, Http, Source};
use workspace::{Workspace, archives, blob_members, file_url, images, stderr, tar_members};

/// Every digest an image needs (manifest, config, layers), read from `http`.
fn image_digests(http: &Http, repo: &str, reference: &str) -> Vec<String> {
    let (bytes, _) = http.manifest(repo, reference).expect("manifest");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    let mut out = vec![http.digest_of(repo, reference)];
    out.push(json["config"]["digest"].as_str().expect("config").to_string());
    for l in json["layers"].as_array().expect("layers") {
        out.push(l["digest"].as_str().expect("layer").to_string());
    }
    out.sort();
    out
}

#[test]
fn mirror_to_mirror_copies_every_manifest_and_blob_byte_for_byte_and_writes_idms_itms() {
    let Some(source) = Source::start() else { return };
    let src = source.http();
    let dest = Registry::ours();
    let s = source.host();
    let web_digest = src.digest_of("apps/web", "v1");
    let only_digest = src.digest_of("digest/only", "v1");
    let api_digest = src.digest_of("apps/api", "v1");
    let sig_tag = format!("sha256-{}.sig", &web_digest[7..]);
    let mut names = vec![
        format!("{s}/apps/web:v1"),
        format!("{s}/apps/api:v1"),
        format!("{s}/apps/web:v1-docker"),
        format!("{s}/apps/web:{sig_tag}"),
        format!("{s}/artifacts/sbom:v1"),
        format!("{s}/multi/arch:v1"),
        format!("{s}/multi/arch:v1-docker"),
        format!("docker://{s}/digest/only@{only_digest}"),
    ];
    if source.has_umoci_image() {
        names.push(format!("{s}/umoci/hello:v1"));
    }
    let ws = Workspace::new();
    let body = format!(
        "{}  - name: {s}/apps/api:v1@{api_digest}\n    targetRepo: pinned/api\n    targetTag: stable\n",
        images(&names)
    );
    let isc = ws.write_isc("isc.yaml", &body);
    let target = format!("docker://{}/mirror", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let args = ["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--dest-tls-verify=false"];
    let out = ws.mirror("cache", &args);
    assert!(out.status.success(), "mirror to mirror failed");

    let mirrored = Http::new(&dest.url());
    for (repo, tag) in [
        ("apps/web", "v1"),
        ("apps/api", "v1"),
        ("apps/web", "v1-docker"),
        ("apps/web", sig_tag.as_str()),
        ("artifacts/sbom", "v1"),
        ("multi/arch", "v1"),
        ("multi/arch", "v1-docker"),
    ] {
        src.assert_same_image(repo, tag, &mirrored, &format!("mirror/{repo}"), tag);
    }
    if source.has_umoci_image() {
        src.assert_same_image("umoci/hello", "v1", &mirrored, "mirror/umoci/hello", "v1");
    }
    src.assert_same_image(
        "digest/only",
        &only_digest,
        &mirrored,
        "mirror/digest/only",
        &format!("sha256-{}", &only_digest[7..]),
    );
    src.assert_same_image("apps/api", &api_digest, &mirrored, "mirror/pinned/api", "stable");

    // Digest references go to the IDMS, tag references to the ITMS; namespace scope where the
    // mirror path ends with the source path, repository scope for the renamed image.
    let resources = ws.path("ws/working-dir/cluster-resources");
    let digest_sets = std::fs::read_to_string(resources.join("idms-oc-mirror.yaml")).expect("idms");
    let tag_sets = std::fs::read_to_string(resources.join("itms-oc-mirror.yaml")).expect("itms");
    let d = &dest.host;
    assert!(
        digest_sets.starts_with("---\napiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\n"),
        "{digest_sets}"
    );
    assert!(digest_sets.contains("name: idms-generic-0\n"), "{digest_sets}");
    assert!(
        digest_sets.contains(&format!("  - mirrors:\n    - {d}/mirror/digest\n    source: {s}/digest\n")),
        "{digest_sets}"
    );
    assert!(
        digest_sets.contains(&format!("  - mirrors:\n    - {d}/mirror/pinned/api\n    source: {s}/apps/api\n")),
        "{digest_sets}"
    );
    assert!(!digest_sets.contains(&format!("source: {s}/multi")), "tag references stay out of the IDMS: {digest_sets}");
    assert!(
        tag_sets.contains("kind: ImageTagMirrorSet\n") && tag_sets.contains("name: itms-generic-0\n"),
        "{tag_sets}"
    );
    assert!(tag_sets.contains(&format!("  - mirrors:\n    - {d}/mirror/apps\n    source: {s}/apps\n")), "{tag_sets}");
    assert!(tag_sets.contains(&format!("  - mirrors:\n    - {d}/mirror/multi\n    source: {s}/multi\n")), "{tag_sets}");
    assert!(!tag_sets.contains(&format!("source: {s}/digest")), "digest-only images stay out of the ITMS: {tag_sets}");
    for text in [&digest_sets, &tag_sets] {
        assert!(text.contains("createdAt: ") && text.contains("createdBy: "), "{text}");
    }

    // A second run finds everything in place and copies nothing.
    let again = ws.mirror("cache", &args);
    assert!(again.status.success());
    let total = names.len() + 1;
    assert!(
        stderr(&again).contains(&format!("{total}/{total} images mirrored ({total} already there): 0 blobs copied")),
        "second run should find every image in place"
    );
}

/// The first image set of the disk tests is in `http`, under `prefix`, as in the source.
fn assert_first_set(src: &Http, http: &Http, prefix: &str, only_digest: &str) {
    src.assert_same_image("apps/web", "v1", http, &format!("{prefix}apps/web"), "v1");
    src.assert_same_image("multi/arch", "v1", http, &format!("{prefix}multi/arch"), "v1");
    let digest_tag = format!("sha256-{}", &only_digest[7..]);
    src.assert_same_image("digest/only", only_digest, http, &format!("{prefix}digest/only"), &digest_tag);
}

/// Mirror to mirror of `set` into a fresh registry gives the same repositories as `mirrored`
/// and the same cluster resources as `working_dir` holds (hosts and times aside).
fn assert_same_as_mirror_to_mirror(set: &[String], mirrored: &Http, working_dir: &Path, host: &str) {
    let direct = Registry::ours();
    let ws = Workspace::new();
    let isc = ws.write_isc("isc.yaml", &images(set));
    let target = format!("docker://{}/mirror", direct.host);
    let ws_url = file_url(&ws.path("ws"));
    let out = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &ws_url, &target, "--dest-tls-verify=false"],
    );
    assert!(out.status.success());
    assert_eq!(mirrored.catalog(), Http::new(&direct.url()).catalog());
    let strip = |text: String, host: &str| -> Vec<String> {
        text.replace(host, "DEST").lines().filter(|l| !l.contains("createdAt")).map(String::from).collect()
    };
    for file in ["idms-oc-mirror.yaml", "itms-oc-mirror.yaml"] {
        let via_disk = std::fs::read_to_string(working_dir.join("cluster-resources").join(file)).expect(file);
        let via_m2m = std::fs::read_to_string(ws.path("ws/working-dir/cluster-resources").join(file)).expect(file);
        assert_eq!(strip(via_disk, host), strip(via_m2m, &direct.host), "{file}");
    }
}

#[test]
fn mirror_to_disk_then_disk_to_mirror_matches_the_source_and_archives_only_new_blobs() {
    let Some(source) = Source::start() else { return };
    let src = source.http();
    let s = source.host();
    let only_digest = src.digest_of("digest/only", "v1");
    let first =
        vec![format!("{s}/apps/web:v1"), format!("{s}/multi/arch:v1"), format!("{s}/digest/only@{only_digest}")];
    let ws = Workspace::new();
    let isc = ws.write_isc("isc.yaml", &images(&first));
    let out_dir = ws.path("out");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "mirror to disk failed");
    let first_archives = archives(&out_dir);
    assert_eq!(first_archives.len(), 1, "{first_archives:?}");
    let members = tar_members(&first_archives[0]);
    assert!(
        members
            .iter()
            .any(|m| m.starts_with("docker/registry/v2/repositories/apps/web/_manifests/tags/v1/current/link"))
    );
    assert!(members.iter().any(|m| m.starts_with("isc_")), "the configuration travels too");

    // The cache is a distribution storage directory: docker-registry serves it as it is.
    let cache_root = ws.path("cache/.oc-mirror/.cache");
    let served = Registry::distribution_with(&DistributionSetup { root: Some(cache_root), ..Default::default() })
        .expect("docker-registry");
    assert_first_set(&src, &Http::new(&served.url()), "", &only_digest);
    drop(served);

    // The disconnected side has only the archives: a fresh cache and a fresh registry.
    let far = Workspace::new();
    let carried = far.path("carried");
    std::fs::create_dir_all(&carried).expect("mkdir");
    for a in &first_archives {
        std::fs::copy(a, carried.join(a.file_name().expect("name"))).expect("carry archive");
    }
    let far_isc = far.write_isc("isc.yaml", &images(&first));
    let dest = Registry::ours();
    let target = format!("docker://{}/mirror", dest.host);
    let from = file_url(&carried);
    let d2m_args = ["-c", far_isc.to_str().expect("utf-8"), "--from", &from, &target, "--dest-tls-verify=false"];
    let out = far.mirror("cache", &d2m_args);
    assert!(out.status.success(), "disk to mirror failed");
    let mirrored = Http::new(&dest.url());
    assert_first_set(&src, &mirrored, "mirror/", &only_digest);
    assert_same_as_mirror_to_mirror(&first, &mirrored, &carried.join("working-dir"), &dest.host);

    // Adding one image: the next archive carries only the blobs the first lacks. apps/api
    // shares its base layer with apps/web, so that is its manifest, config and own layer.
    let mut second = first.clone();
    second.push(format!("{s}/apps/api:v1"));
    let isc2 = ws.write_isc("isc2.yaml", &images(&second));
    let out = ws.mirror("cache", &["-c", isc2.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "second mirror to disk failed");
    let second_archives = archives(&out_dir);
    assert_eq!(second_archives.len(), 2, "the second run adds an archive: {second_archives:?}");
    assert_eq!(second_archives[0], first_archives[0], "the first archive is kept");
    let mut expected = image_digests(&src, "apps/api", "v1");
    let (api_manifest, _) = src.manifest("apps/api", "v1").expect("api");
    let api: serde_json::Value = serde_json::from_slice(&api_manifest).expect("json");
    let shared = api["layers"][0]["digest"].as_str().expect("base layer").to_string();
    expected.retain(|d| *d != shared);
    assert_eq!(blob_members(&second_archives[1]), expected, "only apps/api's own blobs are new");
    assert!(
        !tar_members(&second_archives[1]).iter().any(|m| m.starts_with("working-dir/")),
        "the history stays on this side"
    );

    std::fs::copy(&second_archives[1], ws.path("incremental.tar")).expect("keep the incremental archive");

    // `--since` a date before any archive: the history is ignored and every blob travels again.
    let out = ws.mirror("cache", &["-c", isc2.to_str().expect("utf-8"), &file_url(&out_dir), "--since", "2000-01-01"]);
    assert!(out.status.success(), "mirror to disk with --since failed");
    let full: Vec<String> = archives(&out_dir)[2..].iter().flat_map(|a| blob_members(a)).collect();
    assert!(full.contains(&shared), "--since 2000-01-01 archives the base layer again");
    assert!(full.contains(&src.digest_of("apps/web", "v1")), "--since 2000-01-01 archives apps/web again");
    assert!(expected.iter().all(|d| full.contains(d)));

    // The incremental archive completes the disconnected side, next to the first.
    std::fs::copy(ws.path("incremental.tar"), carried.join("mirror_000002.tar")).expect("carry");
    let far_isc2 = far.write_isc("isc2.yaml", &images(&second));
    // One image at a time, in configuration order: apps/web is found in place before apps/api
    // needs the base layer they share.
    let out = far.mirror(
        "cache",
        &[
            "-c",
            far_isc2.to_str().expect("utf-8"),
            "--from",
            &from,
            &target,
            "--dest-tls-verify=false",
            "--parallel-images",
            "1",
        ],
    );
    assert!(out.status.success(), "incremental disk to mirror failed");
    src.assert_same_image("apps/api", "v1", &mirrored, "mirror/apps/api", "v1");
    let err = stderr(&out);
    assert!(
        err.contains("4/4 images mirrored (3 already there): 2 blobs copied"),
        "only apps/api's config and layer travel"
    );
    assert!(
        err.contains(" 1 mounted"),
        "the shared base layer is mounted from mirror/apps/web, which the last run filled"
    );
}

#[test]
fn archives_split_at_archive_size_and_strict_archive_refuses_oversized_files() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let ws = Workspace::new();
    // 0.0002 GiB is about 210 KiB: the 300 KiB base layer exceeds it.
    let isc = ws.write_isc(
        "isc.yaml",
        &format!("archiveSize: 0.0002\n{}", images(&[format!("{s}/apps/web:v1"), format!("{s}/apps/api:v1")])),
    );
    let limit = (1u64 << 30) / 5000;

    let strict_dir = ws.path("strict");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), &file_url(&strict_dir), "--strict-archive"]);
    assert_eq!(out.status.code(), Some(1), "--strict-archive must fail");
    assert!(stderr(&out).contains("raise archiveSize to at least 1"), "the error says what to do");
    assert!(archives(&strict_dir).is_empty(), "nothing is written when strict fails");

    let out_dir = ws.path("out");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "permissive archiving must succeed");
    let chunks = archives(&out_dir);
    assert!(chunks.len() >= 3, "expected several chunks: {chunks:?}");
    let mut oversized = 0;
    for chunk in &chunks {
        let mut a = tar::Archive::new(std::fs::File::open(chunk).expect("open"));
        let sizes: Vec<u64> =
            a.entries().expect("entries").map(|e| e.expect("entry").header().size().expect("size")).collect();
        let total: u64 = sizes.iter().sum();
        if total > limit {
            assert_eq!(sizes.len(), 1, "an oversized file is alone in its chunk: {chunk:?}");
            oversized += 1;
        }
    }
    assert_eq!(oversized, 1, "the shared base layer is the one oversized file");
    assert!(stderr(&out).contains("larger than archiveSize"), "a warning names the oversized file");

    // The split archives read back whole.
    let dest = Registry::ours();
    let target = format!("docker://{}", dest.host);
    let from = file_url(&out_dir);
    let far = Workspace::new();
    let out =
        far.mirror("cache", &["-c", isc.to_str().expect("utf-8"), "--from", &from, &target, "--dest-tls-verify=false"]);
    assert!(out.status.success());
    let src = source.http();
    let mirrored = Http::new(&dest.url());
    src.assert_same_image("apps/web", "v1", &mirrored, "apps/web", "v1");
    src.assert_same_image("apps/api", "v1", &mirrored, "apps/api", "v1");
}

#[test]
fn dry_runs_write_mapping_and_missing_files_and_copy_nothing() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let only = source.http().digest_of("digest/only", "v1");
    let ws = Workspace::new();
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{s}/apps/web:v1"), format!("{s}/digest/only@{only}")]));

    let out_dir = ws.path("out");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), &file_url(&out_dir), "--dry-run"]);
    assert!(out.status.success());
    let hex = &only[7..];
    let expected = format!(
        "docker://{s}/apps/web:v1=docker://localhost:55000/apps/web:v1\ndocker://{s}/digest/only@{only}=docker://localhost:55000/digest/only:sha256-{hex}\n"
    );
    let dry = out_dir.join("working-dir/dry-run");
    assert_eq!(std::fs::read_to_string(dry.join("mapping.txt")).expect("mapping"), expected);
    assert_eq!(std::fs::read_to_string(dry.join("missing.txt")).expect("missing"), expected, "the cache is empty");
    assert!(archives(&out_dir).is_empty(), "a dry run writes no archive");
    assert!(!ws.path("cache/.oc-mirror/.cache/docker/registry/v2/blobs").exists(), "a dry run copies nothing");

    let dest = Registry::ours();
    let target = format!("docker://{}/ns", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let out =
        ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--dry-run"]);
    assert!(out.status.success());
    let d = &dest.host;
    assert_eq!(
        std::fs::read_to_string(ws.path("ws/working-dir/dry-run/mapping.txt")).expect("mapping"),
        format!(
            "docker://{s}/apps/web:v1=docker://{d}/ns/apps/web:v1\ndocker://{s}/digest/only@{only}=docker://{d}/ns/digest/only:sha256-{hex}\n"
        )
    );
    assert!(!ws.path("ws/working-dir/dry-run/missing.txt").exists());
    assert!(ws.path("ws/working-dir/cluster-resources/idms-oc-mirror.yaml").is_file(), "resources in dry run too");
    assert!(Http::new(&dest.url()).catalog().is_empty(), "a dry run pushes nothing");
}

#[test]
fn blocked_images_are_skipped_and_nested_paths_are_flattened() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let ws = Workspace::new();
    let isc = ws.write_isc(
        "isc.yaml",
        &format!(
            "{}  blockedImages:\n  - name: \"alp.ne\"\n",
            images(&[format!("{s}/blocked/alpine:3"), format!("{s}/deep/a/b/c/app:v1")])
        ),
    );
    let dest = Registry::ours();
    let target = format!("docker://{}/mirror", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let out = ws.mirror(
        "cache",
        &[
            "-c",
            isc.to_str().expect("utf-8"),
            "--workspace",
            &workspace,
            &target,
            "--dest-tls-verify=false",
            "--max-nested-paths",
            "2",
        ],
    );
    assert!(out.status.success());
    let mirrored = Http::new(&dest.url());
    assert_eq!(mirrored.catalog(), vec!["mirror/deep-a-b-c-app".to_string()], "blocked image absent, path flattened");
    source.http().assert_same_image("deep/a/b/c/app", "v1", &mirrored, "mirror/deep-a-b-c-app", "v1");
    let itms = std::fs::read_to_string(ws.path("ws/working-dir/cluster-resources/itms-oc-mirror.yaml")).expect("itms");
    assert!(
        itms.contains(&format!(
            "  - mirrors:\n    - {}/mirror/deep-a-b-c-app\n    source: {s}/deep/a/b/c/app\n",
            dest.host
        )),
        "repository scope under --max-nested-paths: {itms}"
    );
    assert!(!itms.contains("alpine"), "{itms}");
}

/// A TCP proxy in front of the source that can die mid-transfer, and counts the bytes it
/// passes from the source to the client.
struct Proxy {
    port: u16,
    bytes: Arc<AtomicU64>,
    dead: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &str, port: u16, die_after: Option<u64>) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let bytes = Arc::new(AtomicU64::new(0));
        let dead = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (b, d, c, up) = (bytes.clone(), dead.clone(), conns.clone(), upstream.to_string());
        let accept = std::thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Polling keeps the accept loop stoppable; the 5 ms is a poll interval.
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => break,
                };
                client.set_nonblocking(false).expect("blocking");
                let Ok(server) = TcpStream::connect(&up) else { continue };
                {
                    let mut all = c.lock().expect("conns");
                    all.push(client.try_clone().expect("clone"));
                    all.push(server.try_clone().expect("clone"));
                }
                let (mut c_in, mut s_out) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                let (b, d, c) = (b.clone(), d.clone(), c.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match s_in.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        let total = b.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                        if die_after.is_some_and(|limit| total >= limit) {
                            d.store(true, Ordering::SeqCst);
                            for s in c.lock().expect("conns").iter() {
                                let _ = s.shutdown(Shutdown::Both);
                            }
                            break;
                        }
                    }
                    let _ = c_out.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy { port, bytes, dead, conns, accept: Some(accept) }
    }

    fn kill(&mut self) {
        self.dead.store(true, Ordering::SeqCst);
        for s in self.conns.lock().expect("conns").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_run_cut_off_mid_blob_is_resumed_by_the_next_run() {
    let Some(source) = Source::start() else { return };
    let src = source.http();
    let mut proxy = Proxy::start(source.host(), 0, Some(60 * 1024 * 1024));
    let via = format!("127.0.0.1:{}", proxy.port);
    let ws = Workspace::new();
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{via}/apps/web:v1"), format!("{via}/big/layer:v1")]));
    let out_dir = ws.path("out");
    let args = ["-c", isc.to_str().expect("utf-8"), &file_url(&out_dir)];

    let out = ws.mirror("cache", &args);
    assert_eq!(out.status.code(), Some(8), "additional images failed: oc-mirror's exit bit 8");
    let logs: Vec<PathBuf> = std::fs::read_dir(out_dir.join("working-dir/logs"))
        .expect("logs")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("mirroring_errors_")))
        .collect();
    assert_eq!(logs.len(), 1, "one error file");
    let errors = std::fs::read_to_string(&logs[0]).expect("errors");
    assert!(errors.contains("big/layer:v1"), "{errors}");
    assert!(!errors.contains("apps/web"), "{errors}");
    let (big_manifest, _) = src.manifest("big/layer", "v1").expect("big");
    let big: serde_json::Value = serde_json::from_slice(&big_manifest).expect("json");
    let layer = big["layers"][0]["digest"].as_str().expect("layer").to_string();
    let layer_size = big["layers"][0]["size"].as_u64().expect("size");
    let cache = ws.path("cache/.oc-mirror/.cache");
    let partial = cache.join(format!("partial/sha256-{}", &layer[7..]));
    let kept = std::fs::metadata(&partial).expect("the interrupted download is kept").len();
    assert!(kept > 10 * 1024 * 1024, "kept only {kept} bytes");
    proxy.kill();

    let proxy = Proxy::start(source.host(), proxy.port, None);
    let out = ws.mirror("cache", &args);
    assert!(out.status.success(), "the resumed run must succeed");
    assert!(stderr(&out).contains("2/2 images mirrored (1 already there)"), "apps/web is not copied again");
    let moved = proxy.bytes.load(Ordering::SeqCst);
    assert!(
        moved < layer_size - kept + 2 * 1024 * 1024,
        "the resumed run moved {moved} bytes; the layer is {layer_size} and {kept} were already there"
    );
    assert!(!partial.exists(), "the partial file became the blob");
    let blob = cache.join(format!("docker/registry/v2/blobs/sha256/{}/{}/data", &layer[7..9], &layer[7..]));
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut f = std::fs::File::open(&blob).expect("blob");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut hasher, &buf[..n]);
    }
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher))), layer);
    assert!(layer_size > BIG_LAYER_BYTES as u64);
}

#[test]
fn configuration_errors_name_their_line_also_when_invoked_as_oc_mirror() {
    let ws = Workspace::new();
    let isc = ws.write_isc(
        "isc.yaml",
        "mirror:\n  additionalImages:\n  - name: quay.io/a/b:v1\n    tag: v2\n  operators:\n  - catalog: quay.io/c:v1\n  - catalog: quay.io/c:v1\n",
    );
    let path = isc.display().to_string();
    let out = ws.mirror("cache", &["-c", &path, &file_url(&ws.path("out"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{path}:6:5: mirror.additionalImages[0]: unknown field `tag`")), "{err}");

    let isc = ws.write_isc("dup.yaml", "mirror:\n  operators:\n  - catalog: quay.io/c:v1\n  - catalog: quay.io/c:v1\n");
    let link = ws.path("oc-mirror");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mirror-registry"), &link).expect("symlink");
    let out = Command::new(&link)
        .args(["-c", isc.to_str().expect("utf-8"), &file_url(&ws.path("out")), "--v2", "--cache-dir"])
        .arg(ws.path("cache"))
        .output()
        .expect("run oc-mirror");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("oc-mirror: "), "{err}");
    assert!(
        err.contains(&format!("{}:6:14: catalog \"quay.io/c:v1\": duplicate found in configuration", isc.display())),
        "{err}"
    );
}

/// Usage errors exit 1 with clap's message (exit codes above 1 are the mirror's result bitmask,
/// 2 being "release failed"); a missing file says its OS error once; flags oc-mirror users type
/// that do nothing here are accepted with a warning; `version` answers in text and JSON.
#[test]
fn usage_errors_exit_1_and_compatibility_flags_are_accepted() {
    let ws = Workspace::new();
    let out = ws.mirror("cache", &["--no-such-flag", "file:///tmp/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("unexpected argument '--no-such-flag'"), "{}", stderr(&out));
    let out = ws.mirror("cache", &["-c", "isc.yaml", "--parallel-images", "99", "file:///tmp/x"]);
    assert_eq!(out.status.code(), Some(1), "out of range is a usage error too");

    let missing = ws.path("missing.yaml");
    let out = ws.mirror("cache", &["-c", missing.to_str().expect("utf-8"), &file_url(&ws.path("out"))]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).matches("No such file or directory").count(), 1, "{}", stderr(&out));

    let isc = ws.write_isc("isc.yaml", "mirror:\n  additionalImages: []\n");
    let flags =
        ["--secure-policy", "--port", "55000", "--rebuild-catalogs", "--remove-signatures", "--loglevel", "info"];
    let mut args = vec!["-c", isc.to_str().expect("utf-8"), "--dry-run"];
    args.extend(flags);
    let out_dir = file_url(&ws.path("out"));
    args.push(&out_dir);
    let out = ws.mirror("cache", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    for flag in ["--secure-policy", "--port", "--rebuild-catalogs", "--remove-signatures"] {
        assert!(stderr(&out).contains(&format!("{flag} has no effect here")), "{flag}: {}", stderr(&out));
    }

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mirror-registry")).arg("mirror").args(args).output().expect("run")
    };
    let version = run(&["version", "--output", "json"]);
    assert!(version.status.success(), "{}", stderr(&version));
    let info: serde_json::Value = serde_json::from_slice(&version.stdout).expect("version json");
    assert_eq!(info["clientVersion"]["gitVersion"], format!("v{}", env!("CARGO_PKG_VERSION")));
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0), "--help is no error");
}

#[test]
fn pushes_over_tls_with_basic_auth_to_docker_registry() {
    if !common::require_tool("htpasswd") {
        return;
    }
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let ws = Workspace::new();
    let ca = mirror_registry::tls::generate_ca().expect("CA");
    let server = mirror_registry::tls::issue_server_cert(&ca, &["127.0.0.1".into(), "localhost".into()]).expect("cert");
    let certs = ws.path("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::write(certs.join("ca.crt"), &ca.cert).expect("ca");
    let (cert, key) = (ws.path("server.crt"), ws.path("server.key"));
    std::fs::write(&cert, &server.cert).expect("cert");
    std::fs::write(&key, &server.key).expect("key");
    let htpasswd = ws.path("htpasswd");
    let hp = Command::new("htpasswd").args(["-Bbn", "mirror", "s3cret"]).output().expect("run htpasswd");
    assert!(hp.status.success(), "htpasswd");
    std::fs::write(&htpasswd, &hp.stdout).expect("htpasswd file");
    let Some(dest) = Registry::distribution_with(&DistributionSetup {
        tls: Some((cert, key)),
        htpasswd: Some(htpasswd),
        ..Default::default()
    }) else {
        return;
    };
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{s}/apps/web:v1"), format!("{s}/multi/arch:v1")]));
    let target = format!("docker://{}/mirror", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let cert_dir = certs.display().to_string();
    let args = ["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--cert-dir", &cert_dir];

    let out = ws.mirror("cache", &args);
    assert_eq!(out.status.code(), Some(8), "without credentials the push is refused");
    assert!(stderr(&out).contains("authentication"), "the error says why");

    let auth = base64_encode("mirror:s3cret");
    std::fs::write(ws.path("auth.json"), format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, dest.host))
        .expect("auth");
    let out = ws.mirror("cache", &args);
    assert!(out.status.success(), "push over TLS with basic auth failed");
    let err = stderr(&out);
    let mounted: u64 = err
        .split(" mounted")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("summary line");
    assert!(mounted >= 1, "the shared base layer is mounted across repositories, not copied twice: {err}");
    let mirrored = Http::secure(&format!("https://{}", dest.host), &certs.join("ca.crt"), "mirror", "s3cret");
    let src = source.http();
    src.assert_same_image("apps/web", "v1", &mirrored, "mirror/apps/web", "v1");
    src.assert_same_image("multi/arch", "v1", &mirrored, "mirror/multi/arch", "v1");
}

#[test]
fn pushes_with_bearer_tokens_to_our_secure_registry() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let dest = Registry::ours_secure();
    let password = dest.init_password.clone().expect("init password");
    let port = dest.host.rsplit(':').next().expect("port");
    let host = format!("localhost:{port}");
    let ws = Workspace::new();
    let auth = base64_encode(&format!("init:{password}"));
    std::fs::write(ws.path("auth.json"), format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)).expect("auth");
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{s}/apps/web:v1"), format!("{s}/apps/api:v1")]));
    let target = format!("docker://{host}/mirror");
    let workspace = file_url(&ws.path("ws"));
    let ca_dir = dest.ca.as_ref().expect("CA").parent().expect("CA dir").display().to_string();
    let out = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--cert-dir", &ca_dir],
    );
    assert!(out.status.success(), "push with Bearer tokens failed");
    let mirrored = Http::secure(&format!("https://{host}"), dest.ca.as_ref().expect("CA"), "init", &password);
    let src = source.http();
    src.assert_same_image("apps/web", "v1", &mirrored, "mirror/apps/web", "v1");
    src.assert_same_image("apps/api", "v1", &mirrored, "mirror/apps/api", "v1");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
