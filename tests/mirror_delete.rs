//! `mirror delete` (oc-mirror v2's delete workflow) against real registries on loopback:
//! images mirrored from Debian's `docker-registry` (seeded, see `mirror/fixtures.rs`) into our
//! registry, listed by `--generate`, deleted with `--delete-yaml-file`, their blobs freed by
//! `mirror-registry gc`; operators from the test catalog (`mirror/catalog.rs`); releases from
//! the test release world (`mirror/scenario.rs`); another registry as the destination; a
//! refused configuration.

#[path = "mirror/catalog.rs"]
mod catalog;
mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/release.rs"]
mod release;
#[path = "mirror/scenario.rs"]
mod scenario;
#[path = "mirror/upstream_services.rs"]
mod upstream_services;
#[path = "mirror/workspace.rs"]
mod workspace;

use std::collections::BTreeSet;
use std::path::Path;

use catalog::{CATALOG_REPO, CATALOG_TAG};
use common::Registry;
use fixtures::{Http, Source};
use mirror_registry::mirror::delete::list::{DeleteImageList, ImageType};
use workspace::{Workspace, file_url, stderr, stdout};

fn additional(names: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("  additionalImages:\n");
    for n in names {
        let _ = writeln!(s, "  - name: {n}");
    }
    s
}

/// A sample of our registry's `/metrics`.
fn metric(registry: &Registry, name: &str) -> u64 {
    let text =
        reqwest::blocking::get(format!("{}/metrics", registry.url())).expect("GET /metrics").text().expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// (imageName, imageReference, type) of every item of a delete list.
fn items(path: &Path) -> BTreeSet<(String, String, Option<ImageType>)> {
    let list = DeleteImageList::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((list.kind.as_str(), list.api_version.as_str()), ("DeleteImageList", "mirror.openshift.io/v2alpha1"));
    list.items.into_iter().map(|i| (i.image_name, i.image_reference, i.image_type)).collect()
}

/// The number before `label` in `text` (`2 manifests deleted`).
fn count(text: &str, label: &str) -> u64 {
    let at = text.find(label).unwrap_or_else(|| panic!("no {label:?} in\n{text}"));
    text[..at].split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{text}"))
}

/// Mirrors `names` to disk and from disk into `dest` under `mirror/`, with one cache `cache`
/// and one directory `out` (as one bastion does both); returns the `file://` of `out`.
fn mirror_through_disk(ws: &Workspace, dest: &Registry, names: &[String]) -> String {
    let isc = ws.write_isc("isc.yaml", &format!("mirror:\n{}", additional(names)));
    let out_dir = file_url(&ws.path("out"));
    let isc = isc.to_str().expect("utf-8");
    assert!(ws.mirror("cache", &["-c", isc, &out_dir]).status.success(), "mirror to disk");
    let target = format!("docker://{}/mirror", dest.host);
    let d2m = ws.mirror("cache", &["-c", isc, "--from", &out_dir, &target, "--dest-tls-verify=false"]);
    assert!(d2m.status.success(), "disk to mirror");
    out_dir
}

#[test]
fn generate_lists_the_mirrored_images_then_delete_removes_them_and_gc_frees_their_blobs() {
    let Some(source) = Source::start() else { return };
    let (s, src) = (source.host().to_string(), source.http());
    let dest = Registry::ours();
    let d = dest.host.clone();
    let (web, only) = (src.digest_of("apps/web", "v1"), src.digest_of("digest/only", "v1"));
    let sig_tag = format!("sha256-{}.sig", &web[7..]);
    let ws = Workspace::new();
    let names = [
        format!("{s}/apps/web:v1"),
        format!("{s}/apps/web:{sig_tag}"),
        format!("{s}/apps/api:v1"),
        format!("{s}/digest/only@{only}"),
    ];
    let out_dir = mirror_through_disk(&ws, &dest, &names);

    // Phase 1: apps/web and digest/only (not apps/api, not the signature) are listed; nothing
    // is deleted.
    let body =
        format!("delete:\n{}", additional(&[format!("{s}/apps/web:v1"), format!("docker://{s}/digest/only@{only}")]));
    let del = ws.write_delete_isc("delete-isc.yaml", &body);
    let target = format!("docker://{d}/mirror");
    let gen_args =
        ["-c", del.to_str().expect("utf-8"), "--generate", "--workspace", &out_dir, "--delete-id", "t1", &target];
    let generated = ws.delete("cache", &gen_args);
    assert!(generated.status.success(), "generate failed");
    let list = ws.path("out/working-dir/delete/delete-images-t1.yaml");
    let only_tag = format!("sha256-{}", &only[7..]);
    let expected = BTreeSet::from([
        (format!("{s}/apps/web:v1"), format!("docker://{d}/mirror/apps/web:v1"), Some(ImageType::Generic)),
        (
            format!("{s}/digest/only@{only}"),
            format!("docker://{d}/mirror/digest/only:{only_tag}"),
            Some(ImageType::Generic),
        ),
    ]);
    assert_eq!(items(&list), expected);
    let copy = std::fs::read_to_string(ws.path("out/working-dir/delete/delete-imageset-config-t1.yaml")).expect("copy");
    assert_eq!(copy, std::fs::read_to_string(&del).expect("config"), "the configuration is kept as given");
    assert!(stdout(&generated).contains("nothing was deleted"), "{}", stdout(&generated));
    let mirrored = Http::new(&dest.url());
    assert!(mirrored.manifest("mirror/apps/web", "v1").is_some(), "--generate deletes nothing");

    delete_then_collect(&ws, &dest, &src, &list, &target, &sig_tag);
}

/// Phase 2 with signatures and the cache, a second delete, then `mirror-registry gc`.
/// apps/api, which shares its base layer with apps/web, must still pull whole from `dest`.
fn delete_then_collect(ws: &Workspace, dest: &Registry, src: &Http, list: &Path, target: &str, sig_tag: &str) {
    let mirrored = Http::new(&dest.url());
    let stored = metric(dest, "mirror_registry_storage_bytes");
    let file = list.to_str().expect("utf-8");
    let args =
        ["--delete-yaml-file", file, target, "--dest-tls-verify=false", "--force-cache-delete", "--delete-signatures"];
    let deleted = ws.delete("cache", &args);
    assert!(deleted.status.success(), "delete failed");
    let said = stdout(&deleted);
    assert_eq!(count(&said, "manifests deleted"), 2, "{said}");
    assert_eq!(count(&said, "signatures deleted"), 1, "{said}");
    assert_eq!(count(&said, "images removed from the cache"), 2, "{said}");
    assert!(mirrored.manifest("mirror/apps/web", "v1").is_none(), "apps/web:v1 deleted");
    assert!(mirrored.manifest("mirror/apps/web", sig_tag).is_none(), "its signature deleted");
    assert!(mirrored.catalog().contains(&"mirror/digest/only".to_string()), "repositories stay");
    assert!(mirrored.manifest("mirror/apps/api", "v1").is_some(), "apps/api was not listed");
    let tags = ws.path("cache/.oc-mirror/.cache/docker/registry/v2/repositories");
    assert!(!tags.join("apps/web/_manifests/tags/v1").exists(), "untagged in the cache");
    assert!(tags.join("apps/api/_manifests/tags/v1").exists(), "apps/api stays in the cache");

    // Our registry: the figure of its next GC, and the command that frees it.
    let reclaimable = count(&said, "bytes (");
    assert!(reclaimable > 0, "{said}");
    assert_eq!(metric(dest, "mirror_registry_reclaimable_bytes"), reclaimable);
    assert!(said.contains("Run `mirror-registry gc` on the registry host"), "{said}");

    // Again: everything is already gone, which is no failure.
    let again = ws.delete("cache", &args[..4]);
    assert!(again.status.success(), "a second delete must succeed");
    assert_eq!(count(&stdout(&again), "already deleted"), 2, "{}", stdout(&again));
    assert!(stderr(&again).contains("already deleted"), "each image is reported");

    dest.gc();
    assert_eq!(metric(dest, "mirror_registry_reclaimable_bytes"), 0);
    assert_eq!(stored - metric(dest, "mirror_registry_storage_bytes"), reclaimable, "gc freed the figure printed");
    src.assert_same_image("apps/api", "v1", &mirrored, "mirror/apps/api", "v1");
}

#[test]
fn generate_lists_the_bundles_and_related_images_the_delete_configuration_selects() {
    if !common::require_tool("docker-registry") {
        return;
    }
    let Some(upstream) = Registry::distribution() else { return };
    let pushed = catalog::push_catalog(&Http::new(&upstream.url()), &upstream.host, None);
    let dest = Registry::ours();
    let ws = Workspace::new();
    let catalog = format!("{}/{CATALOG_REPO}:{CATALOG_TAG}", upstream.host);
    let packages = "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n        minVersion: 1.10.0\n        maxVersion: 2.0.0-rc.1\n    - name: beta\n";
    let isc = ws.write_isc("isc.yaml", &format!("mirror:\n  operators:\n  - catalog: {catalog}\n{packages}"));
    let work = file_url(&ws.path("work"));
    let target = format!("docker://{}/mirror", dest.host);
    let m2m = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &work, &target, "--dest-tls-verify=false"],
    );
    assert!(m2m.status.success(), "mirror to mirror");

    // Only beta: its head and the dependency the mirror run added for it, gamma; not alpha, and
    // not the catalog, which alpha still needs.
    let del = ws.write_delete_isc(
        "delete-isc.yaml",
        &format!("delete:\n  operators:\n  - catalog: {catalog}\n    packages:\n    - name: beta\n"),
    );
    let out = ws.delete("cache", &["-c", del.to_str().expect("utf-8"), "--generate", "--workspace", &work, &target]);
    assert!(out.status.success(), "generate failed");
    let mut expected = BTreeSet::new();
    for bundle in ["beta.v1.1.0", "gamma.v1.2.0"] {
        let (image, related) = &pushed.bundles[bundle];
        let kinds = std::iter::once((image, ImageType::OperatorBundle))
            .chain(related.iter().map(|r| (r, ImageType::OperatorRelatedImage)));
        for (image, kind) in kinds {
            let (name, digest) = image.split_once('@').expect("by digest");
            let repo = name.split_once('/').expect("host/repo").1;
            let reference = format!("docker://{}/mirror/{repo}:sha256-{}", dest.host, &digest[7..]);
            expected.insert((format!("docker://{image}"), reference, Some(kind)));
        }
    }
    assert_eq!(items(&ws.path("work/working-dir/delete/delete-images.yaml")), expected);
}

#[test]
fn generate_lists_release_payloads_components_and_the_graph_image_then_deletes_one_release() {
    if !common::require_tool("docker-registry") || !common::require_tool("skopeo") || !common::require_tool("gpg") {
        return;
    }
    let Some(upstream) = Registry::distribution() else { return };
    let server = upstream_services::UpstreamServer::start();
    let Some(world) = scenario::standard(&Http::new(&upstream.url()), &upstream.host, &server) else { return };
    let key = world.signer.public_key_file();
    let env: Vec<(String, String)> = vec![
        ("UPDATE_URL_OVERRIDE".into(), server.graph_url()),
        ("OCP_SIGNATURE_URL".into(), server.signatures_url()),
        ("OCP_SIGNATURE_VERIFICATION_PK".into(), key.display().to_string()),
        ("GRAPH_BASE_IMAGE_OVERRIDE".into(), world.base_image.clone()),
    ];
    let dest = Registry::ours();
    let ws = Workspace::new();
    let channel = "    channels:\n    - name: stable-4.2\n      minVersion: 4.2.3\n      maxVersion: 4.2.4\n";
    let isc = ws.write_isc("isc.yaml", &format!("mirror:\n  platform:\n    graph: true\n{channel}"));
    let work = file_url(&ws.path("work"));
    let target = format!("docker://{}/mirror", dest.host);
    let args = ["-c", isc.to_str().expect("utf-8"), "--workspace", &work, "--dest-tls-verify=false", &target];
    assert!(ws.mirror_env("cache", &args, &env).status.success(), "mirror to mirror");

    // Offline: the graph kept in the working dir, the payloads and graph image in the cache.
    let only = channel.replace("4.2.3", "4.2.4");
    let del = ws.write_delete_isc("d.yaml", &format!("delete:\n  platform:\n    graph: true\n{only}"));
    let out = ws.delete("cache", &["-c", del.to_str().expect("utf-8"), "--generate", "--workspace", &work, &target]);
    assert!(out.status.success(), "generate failed");
    let r = world.release("4.2.4");
    let d = &dest.host;
    let (payload_repo, payload_digest) = r.payload.split_once('@').expect("by digest");
    let mut expected = BTreeSet::from([
        (
            format!("docker://{payload_repo}:{}@{payload_digest}", r.tag),
            format!("docker://{d}/mirror/openshift/release-images:{}", r.tag),
            Some(ImageType::OcpRelease),
        ),
        (
            format!("docker://localhost:55000/openshift/graph-image:latest@{}", graph_digest(&ws)),
            format!("docker://{d}/mirror/openshift/graph-image:latest"),
            Some(ImageType::CincinnatiGraph),
        ),
    ]);
    for (name, image) in &r.components {
        let reference = format!("docker://{d}/mirror/openshift/release:{}-{name}", r.tag);
        expected.insert((format!("docker://{image}"), reference, Some(ImageType::OcpReleaseContent)));
    }
    let list = ws.path("work/working-dir/delete/delete-images.yaml");
    assert_eq!(items(&list), expected);

    let file = list.to_str().expect("utf-8");
    let refused = ws.delete("cache", &["--delete-yaml-file", file, &target]);
    assert_eq!(refused.status.code(), Some(1), "plain HTTP with TLS verification on");
    assert!(stderr(&refused).contains("nothing deleted"), "one failure, before any image");
    let deleted = ws.delete("cache", &["--delete-yaml-file", file, &target, "--dest-tls-verify=false"]);
    assert!(deleted.status.success(), "delete failed");
    let mirrored = Http::new(&dest.url());
    assert!(mirrored.manifest("mirror/openshift/release-images", &r.tag).is_none(), "4.2.4 deleted");
    let kept = &world.release("4.2.3").tag;
    assert!(mirrored.manifest("mirror/openshift/release-images", kept).is_some(), "4.2.3 was not listed");
}

/// The digest of the graph image the mirror run built in the cache.
fn graph_digest(ws: &Workspace) -> String {
    let link = ws.path("cache/.oc-mirror/.cache/docker/registry/v2/repositories/openshift/graph-image/_manifests/tags/latest/current/link");
    std::fs::read_to_string(link).expect("graph image in the cache")
}

#[test]
fn deleting_from_another_registry_tells_to_run_its_garbage_collection() {
    let Some(source) = Source::start() else { return };
    let Some(dest) = Registry::distribution() else { return };
    let s = source.host();
    let ws = Workspace::new();
    let names = [format!("{s}/apps/web:v1"), format!("{s}/apps/api:v1")];
    let isc = ws.write_isc("isc.yaml", &format!("mirror:\n{}", additional(&names)));
    let work = file_url(&ws.path("work"));
    let target = format!("docker://{}/ns", dest.host);
    let m2m = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &work, &target, "--dest-tls-verify=false"],
    );
    assert!(m2m.status.success(), "mirror to mirror");
    let del = ws.write_delete_isc("d.yaml", &format!("delete:\n{}", additional(&names[..1])));
    let generated =
        ws.delete("cache", &["-c", del.to_str().expect("utf-8"), "--generate", "--workspace", &work, &target]);
    assert!(generated.status.success(), "generate");
    let list = ws.path("work/working-dir/delete/delete-images.yaml");
    let list = list.to_str().expect("utf-8");

    // A destination the list was not made for is refused before anything is deleted.
    let elsewhere = ws.delete("cache", &["--delete-yaml-file", list, &format!("docker://{}/other", dest.host)]);
    assert_eq!(elsewhere.status.code(), Some(1));
    assert!(stderr(&elsewhere).contains("is not under the destination"), "{}", stderr(&elsewhere));

    let out = ws.delete("cache", &["--delete-yaml-file", list, &target, "--dest-tls-verify=false"]);
    assert!(out.status.success(), "delete failed");
    let http = Http::new(&dest.url());
    assert!(http.manifest("ns/apps/web", "v1").is_none(), "deleted");
    assert!(http.manifest("ns/apps/api", "v1").is_some(), "not listed");
    assert!(stdout(&out).contains("run your registry's garbage collection"), "{}", stdout(&out));
}

#[test]
fn generate_refuses_a_catalog_that_is_no_reference_with_file_and_line() {
    let ws = Workspace::new();
    let del = ws.write_delete_isc(
        "delete-isc.yaml",
        "delete:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v{product-version}\n    packages:\n    - name: aws-load-balancer-operator\n",
    );
    let work = ws.path("work");
    let out = ws.delete(
        "cache",
        &["-c", del.to_str().expect("utf-8"), "--generate", "--workspace", &file_url(&work), "docker://localhost:1/ns"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:5:14: catalog", del.display())), "{err}");
    assert!(err.contains("{product-version} is a placeholder"), "{err}");
    assert!(!work.join("working-dir/delete").exists(), "nothing written");
}
