//! Scale-out (issue #14): `serve` replicas sharing one PostgreSQL database and a real 3-node
//! Garage cluster (replication factor 3), behind a round-robin proxy that sends every request
//! to the next replica. The OCI conformance runner passes through the proxy, an upload moves
//! between replicas mid-way, a replica killed with SIGKILL during pushes loses nothing, pulls
//! go on with a Garage node down, and two garbage collections at once collect each blob once.

mod common;

use common::garage::Garage;
use common::replicas::Replicas;
use oci_conformance::client::{Body, Client};
use oci_conformance::content::{Blob, Image, push_blob, push_image, sha256, unique};
use oci_conformance::{Config, run};
use reqwest::Method;

/// The `database:` section of a fresh PostgreSQL database, `None` (skip) without PostgreSQL.
fn postgres() -> Option<String> {
    let cluster = common::postgres::cluster()?;
    Some(format!("database: {{url: \"{}\"}}\n", cluster.create_database()))
}

fn client(url: &str) -> Client {
    Client::new(url, None, false, None).expect("client")
}

/// Pulls an image by digest and checks every byte against its digest.
fn pull_verified(c: &Client, repo: &str, image: &Image) -> Result<(), String> {
    let r = c.send(&Method::GET, &format!("/v2/{repo}/manifests/{}", image.digest()), &[], &Body::Empty)?;
    if r.status != 200 || sha256(&r.body) != image.digest() {
        return Err(format!("manifest of {repo}: {} ({} bytes)", r.status, r.body.len()));
    }
    for blob in image.blobs() {
        let r = c.send(&Method::GET, &format!("/v2/{repo}/blobs/{}", blob.digest), &[], &Body::Empty)?;
        if r.status != 200 || sha256(&r.body) != blob.digest {
            return Err(format!("blob {} of {repo}: {}", blob.digest, r.status));
        }
    }
    Ok(())
}

/// An image whose one layer is `layer_bytes` long: big enough to span multipart parts.
fn image_with_layer(label: &str, layer_bytes: usize) -> Image {
    let mut image = Image::oci(label, 0);
    image.layers = vec![Blob::new(unique(label, layer_bytes))];
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": image.config.descriptor("application/vnd.oci.image.config.v1+json"),
        "layers": [image.layers[0].descriptor("application/vnd.oci.image.layer.v1.tar")],
    });
    image.manifest = serde_json::to_vec(&manifest).expect("manifest");
    image
}

#[test]
fn conformance_passes_through_two_replicas_behind_a_round_robin_proxy() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    // Accounts on: a token issued by one replica must be honoured by the other.
    let replicas = Replicas::start(&garage, &[0, 1], &format!("auth: {{enabled: true}}\n{database}"));
    let password = replicas.init_password.clone().expect("the first replica prints the init password");
    let config = Config::new(&replicas.url(), "conformance/replicas").with_credentials("init", &password);
    let report = run(&config).expect("run");
    for line in report.lines() {
        println!("{line}");
    }
    assert!(report.failed().is_empty(), "failed through the proxy: {:#?}", report.failed());
    assert!(report.passed() >= 40, "too few checks ran: {}", report.passed());
}

#[test]
fn a_chunked_upload_started_on_one_replica_finishes_on_the_other() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    let replicas = Replicas::start(&garage, &[0, 2], &database);
    let [a, b] = [0, 1].map(|i| client(&replicas.replicas[i].as_ref().expect("replica").url()));
    let data = unique("cross-replica", 12 * 1024 * 1024 + 5);
    let digest = sha256(&data);
    let (first, second) = data.split_at(9 * 1024 * 1024);

    let started = a.send(&Method::POST, "/v2/team/app/blobs/uploads/", &[], &Body::Empty).expect("POST");
    assert_eq!(started.status, 202);
    // `Location` names the proxy (the public host); these requests pick their replica.
    let relative = |location: &str| format!("/v2/{}", location.split_once("/v2/").expect("a /v2/ location").1);
    let patch = |c: &Client, location: &str, offset: usize, chunk: &[u8]| {
        let location = relative(location);
        let range = format!("{offset}-{}", offset + chunk.len() - 1);
        let r = c
            .send(&Method::PATCH, &location, &[("content-range", range)], &Body::Bytes(chunk.to_vec()))
            .expect("PATCH");
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        r.header("location")
    };
    let location = patch(&a, &started.header("location"), 0, first);
    // The other replica knows the session and its progress.
    let progress = b.send(&Method::GET, &relative(&location), &[], &Body::Empty).expect("GET upload");
    assert_eq!((progress.status.as_u16(), progress.header("range")), (204, format!("0-{}", first.len() - 1)));
    let location = relative(&patch(&b, &location, first.len(), second));
    let sep = if location.contains('?') { '&' } else { '?' };
    let done = a.send(&Method::PUT, &format!("{location}{sep}digest={digest}"), &[], &Body::Empty).expect("PUT");
    assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
    let pulled = b.send(&Method::GET, &format!("/v2/team/app/blobs/{digest}"), &[], &Body::Empty).expect("GET");
    assert!(pulled.status == 200 && pulled.body == data, "the blob read back differs");

    // A wrong digest is caught even though the finishing replica never saw the first bytes.
    let started = b.send(&Method::POST, "/v2/team/app/blobs/uploads/", &[], &Body::Empty).expect("POST");
    let location = relative(&patch(&b, &started.header("location"), 0, b"some bytes"));
    let wrong = sha256(b"other bytes");
    let sep = if location.contains('?') { '&' } else { '?' };
    let refused = a.send(&Method::PUT, &format!("{location}{sep}digest={wrong}"), &[], &Body::Empty).expect("PUT");
    assert_eq!((refused.status.as_u16(), refused.error_code().as_str()), (400, "DIGEST_INVALID"));
    let absent = b.send(&Method::HEAD, &format!("/v2/team/app/blobs/{wrong}"), &[], &Body::Empty).expect("HEAD");
    assert_eq!(absent.status, 404);
}

#[test]
fn a_replica_killed_during_pushes_loses_nothing() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    let mut replicas = Replicas::start(&garage, &[0, 1], &database);
    let url = replicas.url();
    let pushing = std::thread::spawn(move || {
        let c = client(&url);
        let mut pushed = Vec::new();
        for i in 0..24 {
            let image = image_with_layer(&format!("image {i}"), 3 * 1024 * 1024 + i);
            // A push cut by the crash is retried, as clients (skopeo, podman) do.
            let ok = (0..3).any(|_| push_image(&c, "crash/app", &format!("v{i}"), &image).is_ok());
            pushed.push((image, ok));
        }
        pushed
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    replicas.kill(1);
    let pushed = pushing.join().expect("pusher");
    replicas.restart(1, &garage, 2);
    let succeeded: Vec<&Image> = pushed.iter().filter(|(_, ok)| *ok).map(|(image, _)| image).collect();
    assert_eq!(succeeded.len(), pushed.len(), "a push failed even with retries");
    for replica in replicas.replicas.iter().flatten() {
        let c = client(&replica.url());
        for image in &succeeded {
            pull_verified(&c, "crash/app", image)
                .unwrap_or_else(|e| panic!("after the crash, via {}: {e}", replica.host));
        }
    }
    let fsck = replicas.command(0, &["fsck"]).output().expect("fsck");
    let report = String::from_utf8_lossy(&fsck.stdout);
    assert!(
        fsck.status.success(),
        "fsck found damage after the crash:\n{report}{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
}

#[test]
fn pulls_go_on_with_one_garage_node_down() {
    let (Some(mut garage), Some(database)) = (Garage::start(), postgres()) else { return };
    let replicas = Replicas::start(&garage, &[0, 2], &database);
    let c = client(&replicas.url());
    let images: Vec<Image> = (0..6).map(|i| image_with_layer(&format!("ha {i}"), 1024 * 1024 + i)).collect();
    for (i, image) in images.iter().enumerate() {
        push_image(&c, "ha/app", &format!("v{i}"), image).expect("push");
    }
    // Node 1 holds a replica of every object but serves no registry: the other two answer.
    garage.stop_node(1);
    for image in &images {
        pull_verified(&c, "ha/app", image).expect("pull with a node down");
    }
    let late = image_with_layer("pushed while a node is down", 9 * 1024 * 1024);
    push_image(&c, "ha/app", "late", &late).expect("push with a node down (write quorum 2 of 3)");
    garage.start_node(1);
    pull_verified(&c, "ha/app", &late).expect("pull after the node is back");
}

#[test]
fn two_collections_at_once_free_each_blob_once_and_keep_the_rest() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    let replicas = Replicas::start(&garage, &[0, 1], &database);
    let c = client(&replicas.url());
    let kept = image_with_layer("kept", 2 * 1024 * 1024);
    let dropped: Vec<Image> = (0..8).map(|i| image_with_layer(&format!("dropped {i}"), 256 * 1024 + i)).collect();
    push_image(&c, "gc/app", "kept", &kept).expect("push");
    for (i, image) in dropped.iter().enumerate() {
        push_image(&c, "gc/app", &format!("d{i}"), image).expect("push");
        let r = c.send(&Method::DELETE, &format!("/v2/gc/app/manifests/{}", image.digest()), &[], &Body::Empty);
        assert_eq!(r.expect("DELETE").status, 202);
    }
    // An orphan blob nobody references, pushed alone.
    push_blob(&c, "gc/app", &Blob::new(unique("orphan", 4096))).expect("push blob");
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let mut gc = replicas.command(i, &["gc", "--grace-period", "0s"]);
            gc.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("gc")
        })
        .map(|child| child.wait_with_output().expect("gc"))
        .collect();
    let mut deleted = 0;
    for run in &runs {
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "gc: {out}{}", String::from_utf8_lossy(&run.stderr));
        deleted += blobs_deleted(&out);
    }
    // Each dropped image has a config and a layer of its own, plus the orphan.
    assert_eq!(deleted, dropped.len() * 2 + 1, "blobs deleted by the two runs together");
    pull_verified(&c, "gc/app", &kept).expect("the kept image survives");
    for image in &dropped {
        let r = c.send(&Method::HEAD, &format!("/v2/gc/app/blobs/{}", image.layers[0].digest), &[], &Body::Empty);
        assert_eq!(r.expect("HEAD").status, 404);
    }
    let fsck = replicas.command(1, &["fsck"]).output().expect("fsck");
    assert!(fsck.status.success(), "fsck after GC: {}", String::from_utf8_lossy(&fsck.stdout));
}

/// The count in gc's report line (`deleted N blobs (...)`), 0 when it ran nothing.
fn blobs_deleted(report: &str) -> usize {
    report.split_whitespace().skip_while(|w| *w != "deleted").nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Runs `mirror-registry migrate-storage` from a single-host install to `to`.
fn migrate(source: &common::Registry, source_config: &std::path::Path, to: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
        .arg("migrate-storage")
        .arg("--config")
        .arg(source_config)
        .arg("--data-dir")
        .arg(&source.data_dir)
        .arg("--to")
        .arg(to)
        .output()
        .expect("run migrate-storage")
}

#[test]
fn migrate_storage_moves_a_single_host_install_to_replicas_on_postgresql_and_garage() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    // A populated single-host registry: SQLite, blobs on disk, accounts on.
    let single = common::Registry::ours_with_accounts("");
    let password = single.init_password.clone().expect("init password");
    let c = Client::new(&single.url(), Some(("init".into(), password.clone())), false, None).expect("client");
    let images: Vec<Image> = (0..5).map(|i| image_with_layer(&format!("migrated {i}"), 700 * 1024 + i)).collect();
    for (i, image) in images.iter().enumerate() {
        push_image(&c, &format!("ns{}/app", i % 2), &format!("v{i}"), image).expect("push");
    }
    let source_config = single.data_dir.parent().expect("dir").join("config.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    let to = dir.path().join("replica.yaml");
    std::fs::write(&to, format!("insecure_http: true\n{database}{}", garage.storage_yaml(0))).expect("write");

    let out = migrate(&single, &source_config, &to);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "migrate-storage: {report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("blobs: 10 copied, 0 already there"), "{report}");
    assert!(report.contains("users               1 rows"), "{report}");
    // Running it again copies nothing and changes nothing.
    let again = migrate(&single, &source_config, &to);
    let report = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success() && report.contains("blobs: 0 copied, 10 already there"), "{report}");

    // Two replicas on the migrated store: the same accounts, the same images, byte for byte.
    let replicas = Replicas::start(&garage, &[1, 2], &format!("auth: {{enabled: true}}\n{database}"));
    assert_eq!(replicas.init_password, None, "the migrated init account is kept, no new one made");
    let via = Client::new(&replicas.url(), Some(("init".into(), password)), false, None).expect("client");
    for (i, image) in images.iter().enumerate() {
        pull_verified(&via, &format!("ns{}/app", i % 2), image).expect("pull the migrated image");
        let tags = via.send(&Method::GET, &format!("/v2/ns{}/app/tags/list", i % 2), &[], &Body::Empty).expect("tags");
        assert!(String::from_utf8_lossy(&tags.body).contains(&format!("\"v{i}\"")), "tag v{i} migrated");
    }

    // A corrupt blob in the source stops a migration before anything of it is placed.
    let layer = &images[0].layers[0].digest[7..];
    let file = single.data_dir.join("quay-storage/blobs/sha256").join(&layer[..2]).join(layer);
    std::fs::write(&file, b"bit rot").expect("corrupt a layer");
    let fresh = dir.path().join("fresh.yaml");
    let other = postgres().expect("postgres");
    std::fs::write(&fresh, format!("insecure_http: true\n{other}{}    prefix: fresh\n", garage.storage_yaml(0)))
        .expect("write");
    let refused = migrate(&single, &source_config, &fresh);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("fsck --repair"), "{stderr}");
}

#[test]
fn blob_pulls_redirect_to_a_presigned_url_when_configured() {
    let (Some(garage), Some(database)) = (Garage::start(), postgres()) else { return };
    let replicas = Replicas::start(&garage, &[0], &database);
    let redirecting = Replicas::start_with_s3(&garage, &[1], &database, "    redirect: true\n    redirect_ttl: 1m\n");
    let image = image_with_layer("redirected", 3 * 1024 * 1024);
    push_image(&client(&replicas.url()), "redirect/app", "v1", &image).expect("push");
    let c = client(&redirecting.url());
    let layer = &image.layers[0];
    let r = c.send(&Method::GET, &format!("/v2/redirect/app/blobs/{}", layer.digest), &[], &Body::Empty).expect("GET");
    assert_eq!(r.status, 307, "a GET is redirected");
    let location = r.header("location");
    assert!(location.starts_with(&garage.endpoint(1)) && location.contains("X-Amz-Signature"), "{location}");
    let fetched = reqwest::blocking::get(&location).expect("GET the presigned URL");
    assert_eq!(fetched.status(), 200);
    assert!(sha256(&fetched.bytes().expect("body")) == layer.digest, "the presigned URL serves the blob");
    // HEAD is answered by the registry, and a repository without the blob gets no URL.
    let head = c.send(&Method::HEAD, &format!("/v2/redirect/app/blobs/{}", layer.digest), &[], &Body::Empty);
    assert_eq!(head.expect("HEAD").status, 200);
    let other = c.send(&Method::GET, &format!("/v2/other/app/blobs/{}", layer.digest), &[], &Body::Empty);
    assert_eq!(other.expect("GET").status, 404);
}
