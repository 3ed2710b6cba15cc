//! The standard release world of the `platform:` tests, built by one call to [`standard`]:
//! thirteen signed releases in a registry, their graphs and graph data on an [`UpstreamServer`].
//!
//! ```text
//! arch   channel     versions                 edges
//! amd64  stable-4.1  4.1.0 … 4.1.5            4.1.0→4.1.1→…→4.1.5
//! amd64  stable-4.2  4.1.5, 4.2.0 … 4.2.4     4.1.5→4.2.0→4.2.1→…→4.2.4, and the skip edge 4.2.0→4.2.3
//! multi  stable-4.2  4.2.3, 4.2.4             4.2.3→4.2.4
//! ```
//!
//! Every release has [`COMPONENTS`] components (`release.rs`) and a `release-metadata`
//! `previous` list that matches its incoming edges. Each payload (the manifest list for multi)
//! is signed by the scenario's [`Signer`] with the docker reference
//! `<host>/openshift-release-dev/ocp-release:<tag>` and the signature stored on the server. The
//! graph-data tarball is served and kept in [`Scenario::graph_data`]; `ubi9/ubi:latest` is pushed
//! as the graph image's base.
#![allow(dead_code)] // the smoke test and the mirroring tests use different parts

use std::collections::BTreeMap;

use crate::fixtures::Http;
use crate::release::{PushedRelease, ReleaseSpec, push_base_image, push_releases};
use crate::upstream_services::{Graph, Signer, UpstreamServer, graph_data_tarball};

pub const STABLE_41: &[&str] = &["4.1.0", "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.1.5"];
pub const STABLE_42: &[&str] = &["4.1.5", "4.2.0", "4.2.1", "4.2.2", "4.2.3", "4.2.4"];
pub const MULTI_STABLE_42: &[&str] = &["4.2.3", "4.2.4"];
/// The one edge of stable-4.2 that skips releases.
pub const SKIP_EDGE: (&str, &str) = ("4.2.0", "4.2.3");
/// Components per release.
pub const COMPONENTS: usize = 6;

/// What [`standard`] built.
pub struct Scenario {
    /// x86_64 releases by version (`4.1.0` … `4.2.4`).
    pub releases: BTreeMap<String, PushedRelease>,
    /// multi releases by version (`4.2.3`, `4.2.4`).
    pub multi: BTreeMap<String, PushedRelease>,
    /// The graphs the server serves (arch `amd64` and `multi`).
    pub amd64_graph: Graph,
    pub multi_graph: Graph,
    /// The key every payload is signed with.
    pub signer: Signer,
    /// The bytes `GET /api/upgrades_info/graph-data` serves.
    pub graph_data: Vec<u8>,
    /// `host/ubi9/ubi:latest`.
    pub base_image: String,
}

impl Scenario {
    /// The x86_64 release `version`.
    pub fn release(&self, version: &str) -> &PushedRelease {
        self.releases.get(version).unwrap_or_else(|| panic!("no x86_64 release {version}"))
    }

    /// The multi release `version`.
    pub fn multi_release(&self, version: &str) -> &PushedRelease {
        self.multi.get(version).unwrap_or_else(|| panic!("no multi release {version}"))
    }

    /// Every release, x86_64 then multi.
    pub fn all(&self) -> impl Iterator<Item = &PushedRelease> {
        self.releases.values().chain(self.multi.values())
    }
}

/// The standard graphs' channels and edges, without nodes (those come with the pushed releases).
pub fn standard_graphs() -> (Graph, Graph) {
    let mut amd64 = Graph::new("amd64");
    amd64.channel("stable-4.1", STABLE_41).channel("stable-4.2", STABLE_42);
    for pair in STABLE_41.windows(2).chain(STABLE_42.windows(2)) {
        amd64.edge(pair[0], pair[1]);
    }
    amd64.edge(SKIP_EDGE.0, SKIP_EDGE.1);
    let mut multi = Graph::new("multi");
    multi.channel("stable-4.2", MULTI_STABLE_42);
    for pair in MULTI_STABLE_42.windows(2) {
        multi.edge(pair[0], pair[1]);
    }
    (amd64, multi)
}

/// Signs `release`'s payload manifest for its tag and stores the signature on `server`.
pub fn publish_signature(server: &UpstreamServer, signer: &Signer, release: &PushedRelease) {
    server.put_signature(&release.digest, signer.sign(&release.manifest, &release.tagged));
}

/// One spec per version of any of the graph's channels, with `previous` from its edges.
fn specs_of(graph: &Graph) -> Vec<ReleaseSpec> {
    let mut versions: Vec<String> = graph.channels().values().flatten().cloned().collect();
    versions.sort_by_key(|v| crate::release::version_parts(v));
    versions.dedup();
    versions
        .iter()
        .map(|v| {
            let base = if graph.arch() == "multi" { ReleaseSpec::multi(v) } else { ReleaseSpec::x86_64(v) };
            ReleaseSpec { components: COMPONENTS, previous: graph.previous(v), ..base }
        })
        .collect()
}

/// Adds `releases` to `graph` as nodes and returns them by version.
fn nodes(graph: &mut Graph, releases: Vec<PushedRelease>) -> BTreeMap<String, PushedRelease> {
    for release in &releases {
        graph.release(release);
    }
    releases.into_iter().map(|r| (r.version.clone(), r)).collect()
}

/// Builds the standard world into the registry behind `http` (reachable as `host`) and onto
/// `server`. `None` when gpg or skopeo is missing outside CI.
pub fn standard(http: &Http, host: &str, server: &UpstreamServer) -> Option<Scenario> {
    let signer = Signer::new()?;
    let (mut amd64_graph, mut multi_graph) = standard_graphs();
    let amd64_specs = specs_of(&amd64_graph);
    let specs: Vec<ReleaseSpec> = amd64_specs.iter().cloned().chain(specs_of(&multi_graph)).collect();
    let mut pushed = push_releases(http, host, &specs);
    std::thread::scope(|scope| {
        for release in &pushed {
            scope.spawn(|| publish_signature(server, &signer, release));
        }
    });
    let multi = nodes(&mut multi_graph, pushed.split_off(amd64_specs.len()));
    let releases = nodes(&mut amd64_graph, pushed);
    server.set_graph(&amd64_graph);
    server.set_graph(&multi_graph);
    let graph_data = graph_data_tarball(&[&amd64_graph, &multi_graph]);
    server.set_graph_data(graph_data.clone());
    let base_image = push_base_image(http, host);
    Some(Scenario { releases, multi, amd64_graph, multi_graph, signer, graph_data, base_image })
}
