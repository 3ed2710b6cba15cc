//! `mirror` with `operators:`: a catalog image built by the tests (`mirror/catalog.rs`) in
//! Debian's `docker-registry` on loopback, filtered, rebuilt and mirrored into our registry, to
//! disk and back; the docs' filtering table through dry runs; refused combinations; a broken
//! related image; `mirror list operators`; an `oci://` catalog.

#[path = "mirror/catalog.rs"]
mod catalog;
mod common;
#[path = "mirror/fixtures.rs"]
mod fixtures;
#[path = "mirror/workspace.rs"]
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use catalog::{CATALOG_REPO, CATALOG_TAG, Pushed};
use common::Registry;
use fixtures::Http;
use workspace::{Workspace, file_url, stderr};

/// The upstream: `docker-registry` with the test catalog pushed. `None` when the tool is
/// missing outside CI.
fn upstream(skip_related: Option<&str>) -> Option<(Registry, Pushed)> {
    if !common::require_tool("docker-registry") {
        return None;
    }
    let registry = Registry::distribution()?;
    let pushed = catalog::push_catalog(&Http::new(&registry.url()), &registry.host, skip_related);
    Some((registry, pushed))
}

fn operators_isc(host: &str, packages: &str) -> String {
    format!("mirror:\n  operators:\n  - catalog: {host}/{CATALOG_REPO}:{CATALOG_TAG}\n{packages}")
}

/// The selected bundles of a catalog read back: package → channel → bundles.
fn shape(
    catalog: &mirror_registry::mirror::operators::fbc::Catalog,
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    catalog
        .packages
        .values()
        .map(|p| {
            let channels = p
                .channels
                .values()
                .map(|c| {
                    let mut names: Vec<String> = c.entries.iter().map(|e| e.name.clone()).collect();
                    names.sort();
                    (c.name.clone(), names)
                })
                .collect();
            (p.name.clone(), channels)
        })
        .collect()
}

/// Every channel entry of the catalog names a bundle it keeps, and every default channel exists.
fn assert_consistent(catalog: &mirror_registry::mirror::operators::fbc::Catalog) {
    for p in catalog.packages.values() {
        assert!(p.channels.contains_key(&p.default_channel), "{}: default channel {} kept", p.name, p.default_channel);
        for c in p.channels.values() {
            for e in &c.entries {
                assert!(
                    p.bundles.contains_key(&e.name),
                    "{}/{}: entry {} points at a kept bundle",
                    p.name,
                    c.name,
                    e.name
                );
            }
        }
    }
}

/// `host/repo@digest` → `repo`, `digest`.
fn split(image: &str) -> (String, String) {
    let (name, digest) = image.split_once('@').expect("by digest");
    let repo = name.split_once('/').expect("host/repo").1;
    (repo.to_string(), digest.to_string())
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn mirror_to_mirror_filters_rebuilds_and_points_a_catalog_source_at_the_rebuilt_catalog() {
    let Some((source, pushed)) = upstream(None) else { return };
    let dest = Registry::ours();
    let ws = Workspace::new();
    // alpha: a channel range that leaves out the channel head (2.0.0); beta: its default head,
    // which requires package gamma (a dependency the selection adds).
    let isc = ws.write_isc(
        "isc.yaml",
        &operators_isc(
            &source.host,
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n        minVersion: 1.10.0\n        maxVersion: 2.0.0-rc.1\n    - name: beta\n",
        ),
    );
    let workspace_dir = ws.path("work");
    let target = format!("docker://{}/mirror", dest.host);
    let args = [
        "-c",
        isc.to_str().expect("utf-8"),
        "--workspace",
        &file_url(&workspace_dir),
        "--dest-tls-verify=false",
        &target,
    ];
    let out = ws.mirror("cache", &args);
    assert!(out.status.success(), "mirror failed: {}", stderr(&out));

    let http = Http::new(&dest.url());
    let selected = ["alpha.v1.10.0", "alpha.v2.0.0-rc.1", "beta.v1.1.0", "gamma.v1.2.0"];
    for image in pushed.images_of(&selected) {
        let (repo, digest) = split(&image);
        assert!(http.manifest(&format!("mirror/{repo}"), &digest).is_some(), "{image} mirrored");
    }
    for left_out in ["alpha.v1.9.0", "alpha.v2.0.0", "beta.v1.0.0", "delta.v0.1.0"] {
        let (repo, digest) = split(&pushed.bundles[left_out].1[0]);
        assert!(
            http.manifest(&format!("mirror/{repo}"), &digest).is_none(),
            "{left_out}'s operator image not mirrored"
        );
    }

    // The rebuilt catalog: the selected documents only, still a two-platform index, the
    // config's label and serve command unchanged.
    let catalog_repo = format!("mirror/{CATALOG_REPO}");
    let (rebuilt, config, index) = catalog::read_catalog_image(&http, &catalog_repo, CATALOG_TAG);
    let expected: BTreeMap<String, BTreeMap<String, Vec<String>>> = [
        ("alpha", vec![("fast", vec!["alpha.v1.10.0", "alpha.v2.0.0-rc.1"])]),
        ("beta", vec![("release-1", vec!["beta.v1.1.0"])]),
        ("gamma", vec![("stable", vec!["gamma.v1.2.0"])]),
    ]
    .into_iter()
    .map(|(p, chans)| {
        (
            p.to_string(),
            chans.into_iter().map(|(c, b)| (c.to_string(), b.into_iter().map(String::from).collect())).collect(),
        )
    })
    .collect();
    assert_eq!(shape(&rebuilt), expected);
    assert_consistent(&rebuilt);
    assert_eq!(rebuilt.packages["alpha"].default_channel, "fast", "alpha's default channel was not kept");
    assert_eq!(config["config"]["Labels"]["operators.operatorframework.io.index.configs.v1"], "/configs");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["serve", "/configs", "--cache-dir=/tmp/cache"]));
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(platforms, vec!["amd64", "arm64"]);
    assert_ne!(http.digest_of(&catalog_repo, CATALOG_TAG), pushed.catalog_digest, "the catalog was rebuilt");

    // Cluster resources: the CatalogSource and ClusterCatalog by the pushed catalog's digest,
    // the bundles and related images in idms-operator-0, the catalog in no IDMS.
    let pushed_catalog = format!("{}/{catalog_repo}@{}", dest.host, http.digest_of(&catalog_repo, CATALOG_TAG));
    let resources = workspace_dir.join("working-dir/cluster-resources");
    let cs = yaml(&resources.join("cs-test-index-v1.yaml"));
    assert_eq!(cs["kind"].as_str(), Some("CatalogSource"));
    assert_eq!(cs["metadata"]["namespace"].as_str(), Some("openshift-marketplace"));
    assert_eq!(cs["spec"]["sourceType"].as_str(), Some("grpc"));
    assert_eq!(cs["spec"]["image"].as_str(), Some(pushed_catalog.as_str()));
    let cc = yaml(&resources.join("cc-test-index-v1.yaml"));
    assert_eq!(cc["kind"].as_str(), Some("ClusterCatalog"));
    assert_eq!(cc["spec"]["source"]["image"]["ref"].as_str(), Some(pushed_catalog.as_str()));
    let idms = std::fs::read_to_string(resources.join("idms-oc-mirror.yaml")).expect("idms written");
    let sets: Vec<serde_yaml::Value> =
        idms.split("---\n").filter(|d| !d.trim().is_empty()).map(|d| serde_yaml::from_str(d).expect("yaml")).collect();
    let operator_set = sets.iter().find(|s| s["metadata"]["name"] == "idms-operator-0").expect("idms-operator-0");
    let sources: BTreeSet<&str> = operator_set["spec"]["imageDigestMirrors"]
        .as_sequence()
        .expect("mirrors")
        .iter()
        .filter_map(|m| m["source"].as_str())
        .collect();
    let host = source.host.as_str();
    assert_eq!(sources, BTreeSet::from([format!("{host}/bundles").as_str(), format!("{host}/operators").as_str()]));

    // Again: nothing new to copy, and the same catalog digest (the rebuild is deterministic).
    let first = http.digest_of(&catalog_repo, CATALOG_TAG);
    let again = ws.mirror("cache", &args);
    assert!(again.status.success(), "second run failed: {}", stderr(&again));
    assert_eq!(http.digest_of(&catalog_repo, CATALOG_TAG), first);
    let copied = regex::Regex::new(r"\b[1-9][0-9]* blobs copied").expect("regex");
    assert!(stderr(&again).contains(" 0 blobs copied"), "{}", stderr(&again));
    assert!(!copied.is_match(&stderr(&again)), "second run copied blobs: {}", stderr(&again));
}

#[test]
fn mirror_to_disk_then_disk_to_mirror_without_the_upstream_serves_the_pruned_catalog() {
    let Some((source, pushed)) = upstream(None) else { return };
    let ws = Workspace::new();
    let isc = ws.write_isc(
        "isc.yaml",
        &operators_isc(
            &source.host,
            "    packages:\n    - name: delta\n    - name: alpha\n      bundles:\n      - name: alpha.v1.9.0\n",
        ),
    );
    let isc = isc.to_str().expect("utf-8");
    let archive_dir = ws.path("archive");
    let out = ws.mirror("cache-m2d", &["-c", isc, &file_url(&archive_dir)]);
    assert!(out.status.success(), "mirror to disk failed: {}", stderr(&out));
    drop(source); // disk to mirror needs no network

    let dest = Registry::ours();
    let target = format!("docker://{}", dest.host);
    let out =
        ws.mirror("cache-d2m", &["-c", isc, "--from", &file_url(&archive_dir), "--dest-tls-verify=false", &target]);
    assert!(out.status.success(), "disk to mirror failed: {}", stderr(&out));

    let http = Http::new(&dest.url());
    // delta requires the Widget GVK, which gamma's default head provides.
    for image in pushed.images_of(&["delta.v0.1.0", "gamma.v1.2.0", "alpha.v1.9.0"]) {
        let (repo, digest) = split(&image);
        assert!(http.manifest(&repo, &digest).is_some(), "{image} mirrored from disk");
    }
    let cs = yaml(&archive_dir.join("working-dir/cluster-resources/cs-test-index-v1.yaml"));
    let image = cs["spec"]["image"].as_str().expect("catalog source image");
    let (repo, digest) = split(image);
    assert_eq!(repo, CATALOG_REPO);
    assert_eq!(http.digest_of(CATALOG_REPO, CATALOG_TAG), digest, "the CatalogSource names the served catalog");
    let (rebuilt, _, _) = catalog::read_catalog_image(&http, CATALOG_REPO, &digest);
    assert_consistent(&rebuilt);
    let kept: BTreeSet<&str> = rebuilt.packages.values().flat_map(|p| p.bundles.keys().map(String::as_str)).collect();
    assert_eq!(kept, BTreeSet::from(["alpha.v1.9.0", "delta.v0.1.0", "gamma.v1.2.0"]));
}

/// The rows of the docs' filtering table over the fixture catalog: name, the `operators:` entry's
/// fields, and the exact bundles selected.
fn filtering_table() -> Vec<(&'static str, &'static str, Vec<&'static str>)> {
    let all = [
        "alpha.v1.9.0",
        "alpha.v1.10.0",
        "alpha.v2.0.0-rc.1",
        "alpha.v2.0.0",
        "beta.v1.0.0",
        "beta.v1.1.0",
        "beta.v2.0.0",
        "gamma.v1.0.0",
        "gamma.v1.2.0",
        "delta.v0.1.0",
    ];
    vec![
        (
            "1 no packages: default channel heads (and dependencies)",
            "",
            vec!["alpha.v1.10.0", "beta.v1.1.0", "gamma.v1.2.0", "delta.v0.1.0"],
        ),
        ("2 full catalog", "    full: true\n", all.to_vec()),
        ("3 package: default channel head", "    packages:\n    - name: alpha\n", vec!["alpha.v1.10.0"]),
        (
            "4 full package: every channel",
            "    full: true\n    packages:\n    - name: alpha\n",
            vec!["alpha.v1.9.0", "alpha.v1.10.0", "alpha.v2.0.0-rc.1", "alpha.v2.0.0"],
        ),
        (
            "5 package minVersion: default channel from min",
            "    packages:\n    - name: alpha\n      minVersion: 1.9.0\n",
            vec!["alpha.v1.9.0", "alpha.v1.10.0"],
        ),
        (
            "6 package maxVersion: default channel up to max",
            "    packages:\n    - name: alpha\n      maxVersion: 1.9.0\n",
            vec!["alpha.v1.9.0"],
        ),
        (
            "7 package min and max",
            "    packages:\n    - name: alpha\n      minVersion: 1.9.0\n      maxVersion: 1.9.5\n",
            vec!["alpha.v1.9.0"],
        ),
        (
            "8 channel: its head",
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n",
            vec!["alpha.v2.0.0"],
        ),
        (
            "9 full channel",
            "    full: true\n    packages:\n    - name: alpha\n      channels:\n      - name: fast\n",
            vec!["alpha.v1.10.0", "alpha.v2.0.0-rc.1", "alpha.v2.0.0"],
        ),
        (
            "10 channel minVersion (pre-release order)",
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n        minVersion: 2.0.0-rc.1\n",
            vec!["alpha.v2.0.0-rc.1", "alpha.v2.0.0"],
        ),
        (
            "11 channel maxVersion",
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n        maxVersion: 1.10.0\n",
            vec!["alpha.v1.10.0"],
        ),
        (
            "12 channel range leaving out the head",
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n        minVersion: 1.10.0\n        maxVersion: 2.0.0-rc.1\n",
            vec!["alpha.v1.10.0", "alpha.v2.0.0-rc.1"],
        ),
        (
            "13 named bundles",
            "    packages:\n    - name: alpha\n      bundles:\n      - name: alpha.v2.0.0\n      - name: alpha.v1.9.0\n",
            vec!["alpha.v1.9.0", "alpha.v2.0.0"],
        ),
        (
            "two channels",
            "    packages:\n    - name: beta\n      channels:\n      - name: release-1\n      - name: release-2\n",
            vec!["beta.v1.1.0", "beta.v2.0.0", "gamma.v1.2.0"],
        ),
        ("skipDependencies", "    skipDependencies: true\n    packages:\n    - name: beta\n", vec!["beta.v1.1.0"]),
        ("dependency by GVK", "    packages:\n    - name: delta\n", vec!["delta.v0.1.0", "gamma.v1.2.0"]),
    ]
}

#[test]
fn every_row_of_the_filtering_table_selects_exactly_its_bundles() {
    let Some((source, pushed)) = upstream(None) else { return };
    let ws = Workspace::new();
    let rows = filtering_table();
    let dest = "docker://mirror.invalid:5000/ns";
    for (i, (name, filter, bundles)) in rows.into_iter().enumerate() {
        let isc = ws.write_isc(&format!("isc-{i}.yaml"), &operators_isc(&source.host, filter));
        let work = ws.path(&format!("work-{i}"));
        let out = ws
            .mirror("cache", &["-c", isc.to_str().expect("utf-8"), "--workspace", &file_url(&work), "--dry-run", dest]);
        assert!(out.status.success(), "case {name}: {}", stderr(&out));
        let mapping = std::fs::read_to_string(work.join("working-dir/dry-run/mapping.txt")).expect("mapping.txt");
        let mut sources: Vec<String> = mapping
            .lines()
            .filter_map(|l| l.strip_prefix("docker://")?.split_once("=docker://").map(|(s, _)| s.to_string()))
            .filter(|s| !s.contains(CATALOG_REPO))
            .collect();
        sources.sort();
        assert_eq!(sources, pushed.images_of(&bundles), "case {name}");
        let catalog_line = mapping
            .lines()
            .find(|l| l.contains(CATALOG_REPO))
            .unwrap_or_else(|| panic!("case {name}: no catalog line"));
        assert!(
            catalog_line.ends_with(&format!("=docker://mirror.invalid:5000/ns/{CATALOG_REPO}:{CATALOG_TAG}")),
            "case {name}: {catalog_line}"
        );
    }
}

#[test]
fn refused_filter_combinations_name_rule_and_line_and_contact_nothing() {
    // A listener standing in for the catalog's registry: any connection is a failure.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let host = listener.local_addr().expect("addr").to_string();
    let ws = Workspace::new();
    let cases: Vec<(&str, &str, &str, usize)> = vec![
        (
            "package range with channels",
            "    packages:\n    - name: alpha\n      minVersion: 1.0.0\n      channels:\n      - name: fast\n",
            "cannot be combined with channels",
            7,
        ),
        (
            "full with a range",
            "    full: true\n    packages:\n    - name: alpha\n      maxVersion: 2.0.0\n",
            "full: true selects every bundle",
            8,
        ),
        (
            "package and channel ranges mixed",
            "    packages:\n    - name: alpha\n      minVersion: 1.0.0\n      channels:\n      - name: fast\n        maxVersion: 2.0.0\n",
            "mixing both filtering",
            7,
        ),
        (
            "bundles with channels",
            "    packages:\n    - name: alpha\n      channels:\n      - name: fast\n      bundles:\n      - name: alpha.v1.9.0\n",
            "bundles and channels cannot be used together",
            7,
        ),
    ];
    for (name, filter, rule, line) in cases {
        let isc = ws.write_isc("isc.yaml", &operators_isc(&host, filter));
        let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), "file:///nonexistent/out"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "case {name}: {err}");
        assert!(err.contains(rule), "case {name}: {err}");
        assert!(err.contains(&format!("isc.yaml:{line}:")), "case {name}: line {line} in {err}");
    }
    let isc = ws.write_isc("isc.yaml", "mirror:\n  operators:\n  - catalog: not//a reference\n");
    let out = ws.mirror("cache", &["-c", isc.to_str().expect("utf-8"), "file:///nonexistent/out"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("isc.yaml:5:"), "{}", stderr(&out));
    assert!(listener.accept().is_err(), "a refused configuration contacted the registry");
}

#[test]
fn a_missing_related_image_fails_its_bundle_with_exit_bit_4_and_the_rest_goes_on() {
    let Some((source, pushed)) = upstream(Some("gamma.v1.2.0")) else { return };
    let dest = Registry::ours();
    let ws = Workspace::new();
    let isc =
        ws.write_isc("isc.yaml", &operators_isc(&source.host, "    packages:\n    - name: alpha\n    - name: gamma\n"));
    let work = ws.path("work");
    let target = format!("docker://{}", dest.host);
    let out = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &file_url(&work), "--dest-tls-verify=false", &target],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let broken = &pushed.bundles["gamma.v1.2.0"].1[0];
    let logs: String = std::fs::read_dir(work.join("working-dir/logs"))
        .expect("logs")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).expect("log"))
        .collect();
    assert!(logs.contains(broken.as_str()), "the error names the image: {logs}");
    assert!(logs.contains("bundle gamma.v1.2.0 of package gamma"), "the error names bundle and package: {logs}");
    let http = Http::new(&dest.url());
    for image in pushed.images_of(&["alpha.v1.10.0"]) {
        let (repo, digest) = split(&image);
        assert!(http.manifest(&repo, &digest).is_some(), "{image} mirrored despite the other bundle's failure");
    }
    assert!(http.manifest(CATALOG_REPO, CATALOG_TAG).is_some(), "the catalog is still pushed");
}

#[test]
fn list_operators_shows_packages_channels_and_versions() {
    let Some((source, _)) = upstream(None) else { return };
    let ws = Workspace::new();
    let catalog = format!("{}/{CATALOG_REPO}:{CATALOG_TAG}", source.host);
    let list = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .args(["mirror", "list", "operators", "--catalog", &catalog, "--src-tls-verify=false", "--cache-dir"])
            .arg(ws.path("cache"))
            .args(extra)
            .env("HOME", ws.path("."))
            .output()
            .expect("run list");
        assert!(out.status.success(), "list {extra:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let packages = list(&[]);
    let lines: Vec<&str> = packages.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("DEFAULT CHANNEL"), "{packages}");
    for (pkg, default) in [("alpha", "stable"), ("beta", "release-1"), ("gamma", "stable"), ("delta", "stable")] {
        let row =
            lines.iter().find(|l| l.starts_with(&format!("{pkg} "))).unwrap_or_else(|| panic!("{pkg}: {packages}"));
        assert!(row.ends_with(default), "{row}");
        assert!(row.contains(&format!("The {pkg} operator")), "{row}");
    }
    let channels = list(&["--package", "alpha"]);
    assert!(
        channels.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["alpha", "fast", "alpha.v2.0.0"]),
        "{channels}"
    );
    assert!(
        channels.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["alpha", "stable", "alpha.v1.10.0"]),
        "{channels}"
    );
    let versions = list(&["--package", "alpha", "--channel", "fast"]);
    assert_eq!(versions.lines().collect::<Vec<_>>(), vec!["VERSIONS", "1.10.0", "2.0.0-rc.1", "2.0.0"]);

    // The same as `oc-mirror list operators`, with a clear error for a package that is not there.
    let dir = tempfile::tempdir().expect("temp dir");
    let oc_mirror = dir.path().join("oc-mirror");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mirror-registry"), &oc_mirror).expect("symlink");
    let out = Command::new(&oc_mirror)
        .args([
            "list",
            "operators",
            "--catalog",
            &catalog,
            "--src-tls-verify=false",
            "--package",
            "nope",
            "--cache-dir",
        ])
        .arg(ws.path("cache"))
        .output()
        .expect("run oc-mirror list");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("package \"nope\" is not in the catalog; it has: alpha, beta, delta, gamma"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_oci_layout_catalog_goes_to_its_target_name_with_the_catalog_source_template() {
    let Some((source, pushed)) = upstream(None) else { return };
    let ws = Workspace::new();
    let layout = ws.path("layouts/my-index");
    catalog::write_layout(&layout, &pushed);
    let template = ws.path("cs-template.yaml");
    std::fs::write(
        &template,
        "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: ignored\nspec:\n  displayName: Team catalog\n  publisher: QA\n",
    )
    .expect("template");
    let isc = ws.write_isc(
        "isc.yaml",
        &format!(
            "mirror:\n  operators:\n  - catalog: oci://{}\n    targetCatalog: team/catalog\n    targetTag: v9\n    targetCatalogSourceTemplate: {}\n    packages:\n    - name: gamma\n",
            layout.display(),
            template.display()
        ),
    );
    let dest = Registry::ours();
    let work = ws.path("work");
    let target = format!("docker://{}", dest.host);
    let out = ws.mirror(
        "cache",
        &["-c", isc.to_str().expect("utf-8"), "--workspace", &file_url(&work), "--dest-tls-verify=false", &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let http = Http::new(&dest.url());
    let (rebuilt, _, _) = catalog::read_catalog_image(&http, "team/catalog", "v9");
    assert_eq!(rebuilt.packages.keys().collect::<Vec<_>>(), vec!["gamma"]);
    for image in pushed.images_of(&["gamma.v1.2.0"]) {
        let (repo, digest) = split(&image);
        assert!(http.manifest(&repo, &digest).is_some(), "{image} mirrored");
    }
    drop(source);
    let cs = yaml(&work.join("working-dir/cluster-resources/cs-catalog-v9.yaml"));
    assert_eq!(cs["metadata"]["name"].as_str(), Some("cs-catalog-v9"));
    assert_eq!(cs["spec"]["displayName"].as_str(), Some("Team catalog"));
    assert_eq!(cs["spec"]["publisher"].as_str(), Some("QA"));
    let expected = format!("{}/team/catalog@{}", dest.host, http.digest_of("team/catalog", "v9"));
    assert_eq!(cs["spec"]["image"].as_str(), Some(expected.as_str()));
}
