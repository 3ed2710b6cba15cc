//! `mirror-registry mirror` tried as a new user would: one test per behaviour that surprised,
//! each named after what was wrong, against real registries on loopback (Debian's
//! `docker-registry` as the source, see `mirror/fixtures.rs`; our registry as the destination).

mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/workspace.rs"]
mod workspace;

use common::{DistributionSetup, Registry};
use fixtures::{Http, Source};
use workspace::{Workspace, archives, blob_members, file_url, images, stderr, tar_members};

/// A second mirror to disk into the same directory replaced `mirror_000001.tar` of the first run
/// without a word. Now each run adds archives after the highest number there, and disk to
/// mirror reads every run's archives.
#[test]
fn a_second_mirror_to_disk_into_the_same_directory_keeps_the_first_archives() {
    let Some(source) = Source::start() else { return };
    let src = source.http();
    let s = source.host();
    let ws = Workspace::new();
    let out_dir = ws.path("out");
    let first = vec![format!("{s}/apps/web:v1")];
    let second = vec![format!("{s}/apps/api:v1"), format!("{s}/multi/arch:v1")];
    let isc1 = ws.write_isc("isc1.yaml", &images(&first));
    let out = ws.mirror("cache", &["-c", isc1.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "first mirror to disk failed");
    let after_first = archives(&out_dir);
    assert_eq!(after_first.len(), 1, "{after_first:?}");
    let first_bytes = std::fs::read(&after_first[0]).expect("read the first archive");

    let isc2 = ws.write_isc("isc2.yaml", &images(&second));
    let out = ws.mirror("cache", &["-c", isc2.to_str().expect("utf-8"), &file_url(&out_dir)]);
    assert!(out.status.success(), "second mirror to disk failed");
    let after_second = archives(&out_dir);
    let names: Vec<String> =
        after_second.iter().map(|a| a.file_name().expect("name").to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["mirror_000001.tar", "mirror_000002.tar"], "the second run adds an archive");
    assert_eq!(std::fs::read(&after_second[0]).expect("read"), first_bytes, "the first archive is byte-identical");

    // The second archive holds only what the first lacks: apps/api shares apps/web's base layer.
    let (api, _) = src.manifest("apps/api", "v1").expect("apps/api");
    let api: serde_json::Value = serde_json::from_slice(&api).expect("json");
    let shared = api["layers"][0]["digest"].as_str().expect("base layer");
    let own = api["layers"][1]["digest"].as_str().expect("own layer");
    let added = blob_members(&after_second[1]);
    assert!(added.iter().any(|d| d == own), "apps/api's own layer is new");
    assert!(!added.iter().any(|d| d == shared), "the base layer is in the first archive already");

    // The disconnected side gets both archives and mirrors both sets from them.
    let far = Workspace::new();
    let carried = far.path("carried");
    std::fs::create_dir_all(&carried).expect("mkdir");
    for a in &after_second {
        std::fs::copy(a, carried.join(a.file_name().expect("name"))).expect("carry");
    }
    let both: Vec<String> = first.iter().chain(&second).cloned().collect();
    let far_isc = far.write_isc("isc.yaml", &images(&both));
    let dest = Registry::ours();
    let target = format!("docker://{}/mirror", dest.host);
    let out = far.mirror(
        "cache",
        &["-c", far_isc.to_str().expect("utf-8"), "--from", &file_url(&carried), &target, "--dest-tls-verify=false"],
    );
    assert!(out.status.success(), "disk to mirror from both runs' archives failed");
    let mirrored = Http::new(&dest.url());
    for (repo, tag) in [("apps/web", "v1"), ("apps/api", "v1"), ("multi/arch", "v1")] {
        src.assert_same_image(repo, tag, &mirrored, &format!("mirror/{repo}"), tag);
    }
}

/// The archive packed stale `dry-run/` files and the `cluster-resources` of an earlier disk to
/// mirror run: the whole working dir went in. Now it holds the cache content and the
/// configuration, and from the working dir only what disk to mirror reads.
#[test]
fn archives_leave_out_dry_runs_logs_and_earlier_cluster_resources() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let ws = Workspace::new();
    let out_dir = ws.path("out");
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{s}/apps/web:v1")]));
    let isc = isc.to_str().expect("utf-8");
    let out = ws.mirror("cache", &["-c", isc, &file_url(&out_dir), "--dry-run"]);
    assert!(out.status.success(), "dry run failed");
    let working_dir = out_dir.join("working-dir");
    assert!(working_dir.join("dry-run/mapping.txt").is_file(), "the dry run left its mapping");
    let stale = working_dir.join("cluster-resources/idms-oc-mirror.yaml");
    std::fs::write(&stale, "# from an earlier disk to mirror run\n").expect("stale resource");
    std::fs::write(working_dir.join("logs/mirroring_errors_20000101_000000.txt"), "old\n").expect("stale log");

    let out = ws.mirror("cache", &["-c", isc, &file_url(&out_dir)]);
    assert!(out.status.success(), "mirror to disk failed");
    let members: Vec<String> = archives(&out_dir).iter().flat_map(|a| tar_members(a)).collect();
    assert!(!members.is_empty());
    let unexpected: Vec<&String> = members
        .iter()
        .filter(|m| !m.starts_with("docker/registry/v2/repositories/") && !m.starts_with("docker/registry/v2/blobs/"))
        .filter(|m| !m.starts_with("isc_"))
        .collect();
    assert!(unexpected.is_empty(), "only cache content and the configuration: {unexpected:?}");
    assert!(working_dir.join(".history").is_dir(), "the history is kept on this side");
}

/// The `N blobs copied (B bytes), M mounted` figures of a run's summary line.
fn summary_figures(stderr: &str) -> (u64, u64, u64) {
    let line = stderr.lines().rfind(|l| l.contains(" blobs copied (")).expect("a summary line");
    let number_before = |marker: &str| -> u64 {
        let head = &line[..line.find(marker).unwrap_or_else(|| panic!("{marker:?} in {line}"))];
        head.rsplit(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).expect("a number")
    };
    (number_before(" blobs copied"), number_before(" bytes)"), number_before(" mounted"))
}

/// A second mirror-to-mirror run re-uploaded a layer that the destination already held in
/// another repository (11.5 MB copied, 0 mounted). Now where blobs were pushed is kept in the
/// cache per destination registry, and a later run mounts them from there.
#[test]
fn a_later_run_mounts_what_an_earlier_run_pushed_into_another_repository() {
    let Some(source) = Source::start() else { return };
    let src = source.http();
    let s = source.host();
    let dest = Registry::ours();
    let ws = Workspace::new();
    let target = format!("docker://{}", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let run = |name: &str, image: &str, repo: &str| {
        let isc = ws
            .write_isc(name, &format!("mirror:\n  additionalImages:\n  - name: {s}/{image}\n    targetRepo: {repo}\n"));
        let out = ws.mirror(
            "cache",
            &["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--dest-tls-verify=false"],
        );
        assert!(out.status.success(), "mirror of {image} failed");
        stderr(&out)
    };
    run("a.yaml", "apps/web:v1", "a/x");
    let second = run("b.yaml", "apps/api:v1", "b/y");

    // apps/api shares apps/web's base layer: only its config and own layer travel.
    let (api, _) = src.manifest("apps/api", "v1").expect("apps/api");
    let api: serde_json::Value = serde_json::from_slice(&api).expect("json");
    let own_bytes =
        api["config"]["size"].as_u64().expect("config size") + api["layers"][1]["size"].as_u64().expect("size");
    let (copied, bytes, mounted) = summary_figures(&second);
    assert_eq!((copied, bytes, mounted), (2, own_bytes, 1), "the base layer is mounted from a/x, none of it copied");
    let mirrored = Http::new(&dest.url());
    src.assert_same_image("apps/api", "v1", &mirrored, "b/y", "v1");
    src.assert_same_image("apps/web", "v1", &mirrored, "a/x", "v1");
}

/// With the destination gone mid-run, retries nested inside retries (request, blob and scheme
/// probe each with their own) took 96 s to give up with the default settings, and each image
/// failed with "error sending request for url". Now `--retry-times` is the attempts of each
/// request in all, a registry that can't be connected to is given up for the rest of the run,
/// and the errors say what happened and where.
#[test]
fn a_destination_that_is_gone_fails_the_run_within_one_requests_attempts() {
    let Some(source) = Source::start() else { return };
    let s = source.host();
    let closed = common::free_port();
    let gone = format!("127.0.0.1:{closed}");
    let ws = Workspace::new();
    let set = ["apps/web:v1", "apps/api:v1", "multi/arch:v1", "deep/a/b/c/app:v1"].map(|i| format!("{s}/{i}"));
    let isc = ws.write_isc("isc.yaml", &images(&set));
    let target = format!("docker://{gone}/mirror");
    let workspace = file_url(&ws.path("ws"));
    let args = [
        "-c",
        isc.to_str().expect("utf-8"),
        "--workspace",
        &workspace,
        &target,
        "--dest-tls-verify=false",
        "--log-level",
        "debug",
    ];
    let started = std::time::Instant::now();
    let out = ws.mirror_retrying("cache", "3", "100ms", &args);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(8), "the additional images failed: exit bit 8");
    // The policy: 3 attempts of the first request with 2 waits of 100 ms, then one attempt per
    // request. The bound leaves CI room; before the fix this took 3 × 15.5 s with these images.
    assert!(elapsed < std::time::Duration::from_secs(15), "gave up after {elapsed:?}");

    let err = stderr(&out);
    let retries = err.lines().filter(|l| l.contains("retrying") && l.contains(&format!("registry={gone}"))).count();
    assert_eq!(retries, 2, "one request made 3 attempts; later ones one each, none nested");
    let unreachable =
        format!("{gone}: unreachable (no connection in 3 attempts): GET http://{gone}/v2/: cannot connect: ");
    let failed: Vec<&str> = err.lines().filter(|l| l.contains("image failed")).collect();
    assert_eq!(failed.len(), set.len(), "one error line per image: {failed:#?}");
    for image in &set {
        let line = failed.iter().find(|l| l.contains(&format!("image={image} "))).expect("the image's line");
        assert!(line.contains(&unreachable) && line.contains("onnection refused"), "{line}");
    }
    let summary = err.lines().position(|l| l.contains("0/4 images mirrored")).expect("a summary line");
    assert!(
        err.lines().skip(summary).any(|l| l.contains("ERROR") && l.contains(&unreachable)),
        "after the summary, one line names the registry and what failed"
    );
}

/// A self-signed certificate for 127.0.0.1 marked `CA:TRUE`, as lab registries often have:
/// certificate and key, PEM.
fn lab_certificate() -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("names");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "lab registry");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

/// A self-signed source certificate with `CA:TRUE` was refused with `CaUsedAsEndEntity` even
/// when the user trusted it with `--cert-dir`; skopeo and curl accept it. Now a certificate the
/// user trusts as it is works, and an untrusted one fails with an error that says what to do.
#[test]
fn a_self_signed_ca_certificate_the_user_trusts_is_accepted_like_skopeo_does() {
    if !common::require_tool("skopeo") {
        return;
    }
    let ws = Workspace::new();
    let (cert, key) = lab_certificate();
    let certs = ws.path("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    std::fs::write(certs.join("ca.crt"), &cert).expect("trusted certificate");
    let (cert_file, key_file) = (ws.path("server.crt"), ws.path("server.key"));
    std::fs::write(&cert_file, &cert).expect("certificate");
    std::fs::write(&key_file, &key).expect("key");
    let Some(lab) = Source::start_with(DistributionSetup { tls: Some((cert_file, key_file)), ..Default::default() })
    else {
        return;
    };
    let Some(plain) = Source::start() else { return };
    let l = lab.host();
    let dest = Registry::ours();
    let isc = ws.write_isc("isc.yaml", &images(&[format!("{l}/apps/web:v1"), format!("{l}/multi/arch:v1")]));
    let target = format!("docker://{}/mirror", dest.host);
    let workspace = file_url(&ws.path("ws"));
    let args = ["-c", isc.to_str().expect("utf-8"), "--workspace", &workspace, &target, "--dest-tls-verify=false"];

    let untrusted = ws.mirror_verifying_source("cache", &args);
    assert_eq!(untrusted.status.code(), Some(8), "an untrusted certificate fails the images");
    let err = stderr(&untrusted);
    assert!(
        err.contains(&format!("https://{l}/v2/: TLS handshake failed: invalid peer certificate: "))
            && err.contains("--cert-dir DIR"),
        "the error names the registry, the certificate problem and the fix"
    );
    assert!(Http::new(&dest.url()).catalog().is_empty(), "nothing was pushed");

    let cert_dir = certs.display().to_string();
    let with_cert_dir: Vec<&str> = args.iter().copied().chain(["--cert-dir", cert_dir.as_str()]).collect();
    let trusted = ws.mirror_verifying_source("cache", &with_cert_dir);
    assert!(trusted.status.success(), "the certificate the user trusts must work");
    let mirrored = Http::new(&dest.url());
    plain.http().assert_same_image("apps/web", "v1", &mirrored, "mirror/apps/web", "v1");
    plain.http().assert_same_image("multi/arch", "v1", &mirrored, "mirror/multi/arch", "v1");

    // skopeo, trusting the same directory, accepts the same certificate (and refuses it without).
    let skopeo = |extra: &[&str]| {
        std::process::Command::new("skopeo")
            .args(["inspect", "--no-creds", "--format", "{{.Digest}}"])
            .args(extra)
            .arg(format!("docker://{l}/apps/web:v1"))
            .env("HOME", ws.path("."))
            .env_remove("REGISTRY_AUTH_FILE")
            .output()
            .expect("run skopeo")
    };
    let accepted = skopeo(&["--cert-dir", &cert_dir]);
    assert!(accepted.status.success(), "skopeo: {}", stderr(&accepted));
    assert_eq!(String::from_utf8_lossy(&accepted.stdout).trim(), mirrored.digest_of("mirror/apps/web", "v1"));
    let refused = skopeo(&[]);
    assert!(!refused.status.success(), "skopeo refuses it without the trusted directory too");
}
