//! The OpenShift update graph (Cincinnati) and which releases a `platform.channels` entry
//! selects from it. Pure functions over bytes and values: fetching is the caller's job.
//!
//! A graph response, as the update service returns it for one channel and architecture
//! (`conditionalEdges` and unknown fields are ignored, as oc-mirror v2 does; metadata values
//! that are not strings are skipped):
//!
//! ```text
//! {"nodes": [{"version": "4.14.1",
//!             "payload": "quay.io/openshift-release-dev/ocp-release@sha256:…",
//!             "metadata": {"io.openshift.upgrades.graph.release.channels": "…"}}, …],
//!  "edges": [[0, 1], [1, 2]],            // [from, to]: indexes into nodes, an upgrade from → to
//!  "conditionalEdges": […]}
//! ```
//!
//! Selection for one channel (oc-mirror v2's `release/cincinnati.go`); "head" is the highest
//! version among the channel's nodes, "lowest" the lowest:
//!
//! | given                  | min    | max   |
//! | ---------------------- | ------ | ----- |
//! | nothing, `full: false` | head   | head  |
//! | nothing, `full: true`  | lowest | head  |
//! | only `minVersion`      | given  | head  |
//! | only `maxVersion`      | lowest | given |
//! | both                   | given  | given |
//!
//! Without `shortestPath`, every node in `[min, max]` is selected and edges do not matter. With
//! it, only the nodes of one shortest upgrade path from min to max, both ends included. Among
//! several shortest paths the one taken is the one that, step by step, goes to the highest
//! next version that still lies on a shortest path.
//!
//! Several channels of one architecture are also joined: the releases on a shortest path over
//! the union of their graphs, from the lowest to the highest selected version, are added, so
//! a cluster can go from the oldest mirrored release to the newest through the mirror alone
//! (this is how an EUS-to-EUS upgrade crosses channels).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Deserialize;

use crate::mirror::version::Version;

/// The update service for OpenShift (OCP) releases.
pub const UPDATE_URL: &str = "https://api.openshift.com/api/upgrades_info/v1/graph";

/// The update service for OKD releases.
pub const OKD_UPDATE_URL: &str = "https://origin-release.ci.openshift.org/graph";

/// The architecture names an ImageSetConfiguration accepts in `platform.architectures`.
pub const ARCHITECTURES: [&str; 5] = ["amd64", "arm64", "ppc64le", "s390x", "multi"];

/// Why a graph could not be read or a channel's releases could not be selected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The response is not JSON, or not shaped like an update graph.
    #[error("the update graph is not a Cincinnati graph: {0}")]
    Json(#[source] serde_json::Error),
    /// A node's version is not a semantic version.
    #[error("update graph node {index}: version {version:?} is not a semantic version")]
    NodeVersion {
        /// The node's index.
        index: usize,
        /// The version as written.
        version: String,
    },
    /// An edge names a node that does not exist.
    #[error("update graph edge {index} [{from}, {to}] is out of range: the graph has {nodes} nodes")]
    EdgeOutOfRange {
        /// The edge's index.
        index: usize,
        /// The edge's source node index.
        from: usize,
        /// The edge's target node index.
        to: usize,
        /// How many nodes the graph has.
        nodes: usize,
    },
    /// The channel's graph has no nodes.
    #[error("channel {channel} has no releases for {arch}: does the channel exist?")]
    EmptyChannel {
        /// The channel name.
        channel: String,
        /// The architecture.
        arch: String,
    },
    /// A `minVersion` or `maxVersion` that is not a release of the channel.
    #[error("{field} {version} is not in channel {channel} for {arch} (releases: {releases})")]
    NotInChannel {
        /// `minVersion` or `maxVersion`.
        field: &'static str,
        /// The version given.
        version: String,
        /// The channel name.
        channel: String,
        /// The architecture.
        arch: String,
        /// Some of the channel's versions, lowest and highest.
        releases: String,
    },
    /// `minVersion` is above `maxVersion`.
    #[error("channel {channel} for {arch}: minVersion {min} is above maxVersion {max}")]
    MinAboveMax {
        /// The channel name.
        channel: String,
        /// The architecture.
        arch: String,
        /// The lower bound given.
        min: String,
        /// The upper bound given.
        max: String,
    },
    /// `shortestPath` was asked for and the channel has no upgrade path from min to max.
    #[error("channel {channel} for {arch} has no upgrade path from {min} to {max}")]
    NoPath {
        /// The channel name.
        channel: String,
        /// The architecture.
        arch: String,
        /// Where the path starts.
        min: String,
        /// Where the path should end.
        max: String,
    },
    /// The update service URL cannot be used.
    #[error("update service URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// An update graph: releases and the upgrades between them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    /// The releases.
    pub nodes: Vec<Node>,
    /// Upgrades, `(from, to)` as indexes into `nodes`.
    pub edges: Vec<(usize, usize)>,
}

/// One release in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The release version.
    pub version: Version,
    /// The release image, a by-digest pull spec.
    pub payload: String,
    /// The node's metadata (only the string values).
    pub metadata: BTreeMap<String, String>,
}

/// A selected release, ordered by version (then payload).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// The release version.
    pub version: Version,
    /// The release image, a by-digest pull spec.
    pub payload: String,
}

/// What one `platform.channels` entry asks for, for one architecture.
#[derive(Debug, Clone, Copy)]
pub struct ChannelSelection<'a> {
    /// The channel name, e.g. `stable-4.16`.
    pub name: &'a str,
    /// The architecture (an ImageSetConfiguration name such as `amd64`), for messages and for
    /// joining channels of the same architecture.
    pub arch: &'a str,
    /// `minVersion`.
    pub min: Option<&'a Version>,
    /// `maxVersion`.
    pub max: Option<&'a Version>,
    /// `shortestPath`.
    pub shortest_path: bool,
    /// `full`.
    pub full: bool,
}

/// The releases selected from several channels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selected {
    /// The releases, deduplicated by payload, sorted by version.
    pub releases: Vec<Release>,
    /// Things the caller should log: channels that could not be joined by an upgrade path.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawGraph {
    #[serde(default)]
    nodes: Vec<RawNode>,
    #[serde(default)]
    edges: Vec<(usize, usize)>,
}

#[derive(Deserialize)]
struct RawNode {
    version: String,
    payload: String,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

/// Reads a graph response.
///
/// # Errors
/// [`Error::Json`] when it is not a graph, [`Error::NodeVersion`] for a version that is not
/// semver, [`Error::EdgeOutOfRange`] for an edge to a node that does not exist.
pub fn parse(bytes: &[u8]) -> Result<Graph, Error> {
    let raw: RawGraph = serde_json::from_slice(bytes).map_err(Error::Json)?;
    let nodes = raw
        .nodes
        .into_iter()
        .enumerate()
        .map(|(index, node)| {
            let version = node.version.parse().map_err(|_| Error::NodeVersion { index, version: node.version })?;
            let metadata = node
                .metadata
                .into_iter()
                .filter_map(|(key, value)| match value {
                    serde_json::Value::String(s) => Some((key, s)),
                    _ => None,
                })
                .collect();
            Ok(Node { version, payload: node.payload, metadata })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    for (index, &(from, to)) in raw.edges.iter().enumerate() {
        if from >= nodes.len() || to >= nodes.len() {
            return Err(Error::EdgeOutOfRange { index, from, to, nodes: nodes.len() });
        }
    }
    Ok(Graph { nodes, edges: raw.edges })
}

impl Graph {
    /// The node with the highest version, if any.
    #[must_use]
    pub fn head(&self) -> Option<&Node> {
        self.nodes.iter().max_by(|a, b| a.version.cmp(&b.version))
    }

    /// The node with the lowest version, if any.
    #[must_use]
    pub fn lowest(&self) -> Option<&Node> {
        self.nodes.iter().min_by(|a, b| a.version.cmp(&b.version))
    }

    /// The releases on a shortest upgrade path from `from` to `to`, both included (one release
    /// when they are equal); `None` when either is not a node or there is no path. Ties go to
    /// the path whose next step is the highest version (see the module docs).
    #[must_use]
    pub fn upgrade_path(&self, from: &Version, to: &Version) -> Option<Vec<Release>> {
        let start = self.nodes.iter().position(|n| &n.version == from)?;
        let end = self.nodes.iter().position(|n| &n.version == to)?;
        let path = self.shortest_path(start, end)?;
        Some(path.into_iter().filter_map(|i| self.nodes.get(i)).map(Node::release).collect())
    }

    /// Node indexes of a shortest path: distances to `end` over the reversed edges, then a walk
    /// forward from `start` that always takes the highest version one step closer.
    fn shortest_path(&self, start: usize, end: usize) -> Option<Vec<usize>> {
        let count = self.nodes.len();
        let mut forward = vec![Vec::new(); count];
        let mut backward = vec![Vec::new(); count];
        // Edges are checked by `parse`, but a graph built by hand may have any.
        for &(from, to) in self.edges.iter().filter(|&&(from, to)| from < count && to < count) {
            forward[from].push(to);
            backward[to].push(from);
        }
        let mut distance: Vec<Option<usize>> = vec![None; count];
        *distance.get_mut(end)? = Some(0);
        let mut queue = VecDeque::from([end]);
        while let Some(node) = queue.pop_front() {
            let next = distance[node].map(|d| d + 1);
            for &previous in &backward[node] {
                if distance[previous].is_none() {
                    distance[previous] = next;
                    queue.push_back(previous);
                }
            }
        }
        let mut path = vec![start];
        let (mut current, mut left) = (start, (*distance.get(start)?)?);
        while left > 0 {
            current = forward[current]
                .iter()
                .copied()
                .filter(|&n| distance[n] == Some(left - 1))
                .max_by(|&a, &b| self.nodes[a].version.cmp(&self.nodes[b].version))?;
            path.push(current);
            left -= 1;
        }
        Some(path)
    }

    /// The union of several graphs: nodes merged by version (the first payload seen wins),
    /// every edge of every graph.
    fn union<'g>(graphs: impl IntoIterator<Item = &'g Graph>) -> Graph {
        let mut merged = Graph::default();
        let mut index: BTreeMap<Version, usize> = BTreeMap::new();
        let mut edges = BTreeSet::new();
        for graph in graphs {
            let local: Vec<usize> = graph
                .nodes
                .iter()
                .map(|node| {
                    *index.entry(node.version.clone()).or_insert_with(|| {
                        merged.nodes.push(node.clone());
                        merged.nodes.len() - 1
                    })
                })
                .collect();
            edges.extend(graph.edges.iter().filter_map(|&(from, to)| Some((*local.get(from)?, *local.get(to)?))));
        }
        merged.edges = edges.into_iter().collect();
        merged
    }
}

impl Node {
    fn release(&self) -> Release {
        Release { version: self.version.clone(), payload: self.payload.clone() }
    }
}

/// The releases one channel entry selects from its channel's graph, sorted by version.
///
/// # Errors
/// [`Error::EmptyChannel`], [`Error::NotInChannel`] for a `minVersion` or `maxVersion` that is
/// not a release of the channel, [`Error::MinAboveMax`], and [`Error::NoPath`] when
/// `shortestPath` finds no upgrade path.
pub fn select_channel(selection: &ChannelSelection<'_>, graph: &Graph) -> Result<Vec<Release>, Error> {
    let channel = || selection.name.to_owned();
    let arch = || selection.arch.to_owned();
    let (Some(head), Some(lowest)) = (graph.head(), graph.lowest()) else {
        return Err(Error::EmptyChannel { channel: channel(), arch: arch() });
    };
    let check = |field: &'static str, version: &Version| {
        if graph.nodes.iter().any(|n| &n.version == version) {
            Ok(())
        } else {
            let releases = some_versions(graph);
            Err(Error::NotInChannel { field, version: version.to_string(), channel: channel(), arch: arch(), releases })
        }
    };
    if let Some(min) = selection.min {
        check("minVersion", min)?;
    }
    if let Some(max) = selection.max {
        check("maxVersion", max)?;
    }
    let (min, max) = match (selection.min, selection.max) {
        (None, None) if selection.full => (&lowest.version, &head.version),
        (None, None) => (&head.version, &head.version),
        (Some(min), None) => (min, &head.version),
        (None, Some(max)) => (&lowest.version, max),
        (Some(min), Some(max)) => (min, max),
    };
    if min > max {
        return Err(Error::MinAboveMax {
            channel: channel(),
            arch: arch(),
            min: min.to_string(),
            max: max.to_string(),
        });
    }
    let mut releases = if selection.shortest_path {
        graph.upgrade_path(min, max).ok_or_else(|| Error::NoPath {
            channel: channel(),
            arch: arch(),
            min: min.to_string(),
            max: max.to_string(),
        })?
    } else {
        graph.nodes.iter().filter(|n| (min..=max).contains(&&n.version)).map(Node::release).collect()
    };
    releases.sort();
    releases.dedup();
    Ok(releases)
}

/// The releases several channel entries select: the union of each entry's selection, plus,
/// for each architecture given more than one channel, the releases on a shortest path over the
/// union of those channels' graphs from the lowest to the highest selected version. Pass the
/// channels of one product (OCP or OKD) per call: their graphs are joined by version.
///
/// # Errors
/// The first entry that fails in [`select_channel`]. No path across channels is only a warning.
pub fn select_channels(channels: &[(ChannelSelection<'_>, &Graph)]) -> Result<Selected, Error> {
    let mut by_payload: BTreeMap<String, Release> = BTreeMap::new();
    let mut by_arch: BTreeMap<&str, Vec<(&str, &Graph, Vec<Release>)>> = BTreeMap::new();
    for (selection, graph) in channels {
        let releases = select_channel(selection, graph)?;
        by_arch.entry(selection.arch).or_default().push((selection.name, *graph, releases));
    }
    let mut warnings = Vec::new();
    for (arch, group) in &by_arch {
        for release in group.iter().flat_map(|(_, _, releases)| releases) {
            by_payload.entry(release.payload.clone()).or_insert_with(|| release.clone());
        }
        if group.len() < 2 {
            continue;
        }
        let selected = group.iter().flat_map(|(_, _, releases)| releases);
        let (Some(low), Some(high)) = (selected.clone().min(), selected.max()) else { continue };
        let union = Graph::union(group.iter().map(|&(_, graph, _)| graph));
        if let Some(path) = union.upgrade_path(&low.version, &high.version) {
            for release in path {
                by_payload.entry(release.payload.clone()).or_insert(release);
            }
        } else {
            let names: Vec<&str> = group.iter().map(|&(name, _, _)| name).collect();
            warnings.push(format!(
                "no upgrade path from {} to {} over channels {} for {arch}: a cluster cannot upgrade from \
                 the oldest to the newest mirrored release through the mirror alone",
                low.version,
                high.version,
                names.join(", ")
            ));
        }
    }
    let mut releases: Vec<Release> = by_payload.into_values().collect();
    releases.sort();
    Ok(Selected { releases, warnings })
}

/// A few of a graph's versions for a message: all of them when there are six or fewer,
/// otherwise the three lowest and the three highest.
fn some_versions(graph: &Graph) -> String {
    let versions: BTreeSet<&Version> = graph.nodes.iter().map(|n| &n.version).collect();
    let mut shown: Vec<String> = versions.iter().map(ToString::to_string).collect();
    if shown.len() > 6 {
        shown.splice(3..shown.len() - 3, ["…".to_owned()]);
    }
    shown.join(", ")
}

/// The arch part of OpenShift release tags (`4.16.1-x86_64`) for an ImageSetConfiguration
/// architecture name; `None` for a name that is not one of [`ARCHITECTURES`].
#[must_use]
pub fn arch_tag(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "multi" => "multi",
        _ => return None,
    })
}

/// The graph query for one channel and architecture: `base` with `channel` and `arch` query
/// parameters. Any other query parameters of `base` are kept; a `channel` or `arch` already
/// there is replaced.
///
/// # Errors
/// [`Error::Url`] when `base` is not an http or https URL.
pub fn query_url(base: &str, channel: &str, arch: &str) -> Result<String, Error> {
    let refuse = |reason: String| Error::Url { url: base.to_owned(), reason };
    let mut url = reqwest::Url::parse(base).map_err(|e| refuse(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(format!("scheme {} is not http or https", url.scheme())));
    }
    let ours = |key: &str| key == "channel" || key == "arch";
    if url.query_pairs().any(|(key, _)| ours(&key)) {
        let kept: Vec<(String, String)> =
            url.query_pairs().filter(|(key, _)| !ours(key)).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        url.set_query(None);
        url.query_pairs_mut().extend_pairs(kept);
    }
    url.query_pairs_mut().append_pair("channel", channel).append_pair("arch", arch);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap_or_else(|e| panic!("test version {text}: {e}"))
    }

    /// A by-digest pull spec unique to the architecture and version.
    fn payload(arch: &str, version: &Version) -> String {
        let seed = ARCHITECTURES.iter().position(|a| *a == arch).expect("a known test architecture") as u64;
        let number = seed * 1_000_000 + version.major() * 10_000 + version.minor() * 100 + version.patch();
        format!("quay.io/openshift-release-dev/ocp-release@sha256:{number:064x}")
    }

    fn graph(arch: &str, versions: &[&str], edges: &[(&str, &str)]) -> Graph {
        let nodes: Vec<Node> = versions
            .iter()
            .map(|text| Node { version: v(text), payload: payload(arch, &v(text)), metadata: BTreeMap::new() })
            .collect();
        let at = |text: &str| nodes.iter().position(|n| n.version == v(text)).expect("edges name test nodes");
        let edges = edges.iter().map(|&(from, to)| (at(from), at(to))).collect();
        Graph { nodes, edges }
    }

    /// The test channels. Nodes are listed out of order so that nothing depends on it.
    /// stable-4.2 has a skip edge 4.2.0 → 4.2.3 and the cross-minor edge 4.1.5 → 4.2.1;
    /// fast-4.3 has no edge from anything older.
    fn channel_graph(channel: &str, arch: &str) -> Graph {
        match channel {
            "stable-4.1" => graph(
                arch,
                &["4.1.3", "4.1.0", "4.1.5", "4.1.1", "4.1.2", "4.1.4"],
                &[("4.1.0", "4.1.1"), ("4.1.1", "4.1.2"), ("4.1.2", "4.1.3"), ("4.1.3", "4.1.4"), ("4.1.4", "4.1.5")],
            ),
            "stable-4.2" => graph(
                arch,
                &["4.2.4", "4.1.4", "4.2.0", "4.2.1", "4.1.5", "4.2.3", "4.2.2"],
                &[
                    ("4.1.4", "4.1.5"),
                    ("4.1.5", "4.2.1"),
                    ("4.2.0", "4.2.1"),
                    ("4.2.1", "4.2.2"),
                    ("4.2.2", "4.2.3"),
                    ("4.2.3", "4.2.4"),
                    ("4.2.0", "4.2.3"),
                ],
            ),
            "fast-4.3" => graph(arch, &["4.3.1", "4.3.0"], &[("4.3.0", "4.3.1")]),
            _ => Graph::default(),
        }
    }

    fn lenient(text: Option<&str>) -> Option<Version> {
        text.map(|t| Version::parse_lenient(t).expect("test bound"))
    }

    fn versions(releases: &[Release]) -> Vec<String> {
        releases.iter().map(|r| r.version.to_string()).collect()
    }

    /// One channel entry, for amd64: case name, channel, min, max, shortestPath, full, and the
    /// versions selected or the error message.
    type ChannelCase<'a> =
        (&'a str, &'a str, Option<&'a str>, Option<&'a str>, bool, bool, Result<&'a [&'a str], &'a str>);

    fn run_channel_cases(cases: &[ChannelCase]) {
        for (name, channel, min, max, shortest_path, full, expected) in cases {
            let (min, max) = (lenient(*min), lenient(*max));
            let selection = ChannelSelection {
                name: channel,
                arch: "amd64",
                min: min.as_ref(),
                max: max.as_ref(),
                shortest_path: *shortest_path,
                full: *full,
            };
            let graph = channel_graph(channel, "amd64");
            let got = select_channel(&selection, &graph).map(|r| versions(&r)).map_err(|e| e.to_string());
            let expected = expected.map(|e| e.iter().map(ToString::to_string).collect()).map_err(ToOwned::to_owned);
            assert_eq!(got, expected, "case {name}");
        }
    }

    /// The documentation's table: min and max from what is given; the range, edges ignored.
    #[test]
    fn select_by_bounds() {
        run_channel_cases(&[
            ("nothing: the head only", "stable-4.2", None, None, false, false, Ok(&["4.2.4"])),
            (
                "full: every release",
                "stable-4.2",
                None,
                None,
                false,
                true,
                Ok(&["4.1.4", "4.1.5", "4.2.0", "4.2.1", "4.2.2", "4.2.3", "4.2.4"]),
            ),
            (
                "only min: up to the head",
                "stable-4.2",
                Some("4.2.2"),
                None,
                false,
                false,
                Ok(&["4.2.2", "4.2.3", "4.2.4"]),
            ),
            ("only max: from the lowest", "stable-4.2", None, Some("4.1.5"), false, false, Ok(&["4.1.4", "4.1.5"])),
            ("min typed leniently", "stable-4.2", Some("v4.2"), Some("4.2.1"), false, false, Ok(&["4.2.0", "4.2.1"])),
            (
                "both: the range, edges ignored (4.2.0 is not reachable from 4.1.5)",
                "stable-4.2",
                Some("4.1.5"),
                Some("4.2.2"),
                false,
                false,
                Ok(&["4.1.5", "4.2.0", "4.2.1", "4.2.2"]),
            ),
            ("min equals max", "stable-4.2", Some("4.2.1"), Some("4.2.1"), false, false, Ok(&["4.2.1"])),
        ]);
    }

    /// Only the nodes of one shortest upgrade path, both ends included.
    #[test]
    fn select_shortest_path() {
        run_channel_cases(&[
            ("shortestPath, nothing given: the head", "stable-4.2", None, None, true, false, Ok(&["4.2.4"])),
            (
                "shortestPath takes the skip edge",
                "stable-4.2",
                Some("4.2.0"),
                Some("4.2.4"),
                true,
                false,
                Ok(&["4.2.0", "4.2.3", "4.2.4"]),
            ),
            (
                "shortestPath across minors",
                "stable-4.2",
                Some("4.1.4"),
                Some("4.2.2"),
                true,
                false,
                Ok(&["4.1.4", "4.1.5", "4.2.1", "4.2.2"]),
            ),
            (
                "shortestPath, full: lowest to head",
                "stable-4.2",
                None,
                None,
                true,
                true,
                Ok(&["4.1.4", "4.1.5", "4.2.1", "4.2.2", "4.2.3", "4.2.4"]),
            ),
        ]);
    }

    /// Each error names the channel and the architecture.
    #[test]
    fn select_errors() {
        run_channel_cases(&[
            (
                "unknown min: a few releases listed",
                "stable-4.2",
                Some("4.2.7"),
                None,
                false,
                false,
                Err("minVersion 4.2.7 is not in channel stable-4.2 for amd64 \
                     (releases: 4.1.4, 4.1.5, 4.2.0, …, 4.2.2, 4.2.3, 4.2.4)"),
            ),
            (
                "unknown max: every release listed",
                "stable-4.1",
                None,
                Some("4.1.9"),
                false,
                false,
                Err("maxVersion 4.1.9 is not in channel stable-4.1 for amd64 \
                     (releases: 4.1.0, 4.1.1, 4.1.2, 4.1.3, 4.1.4, 4.1.5)"),
            ),
            (
                "min above max",
                "stable-4.2",
                Some("4.2.3"),
                Some("4.2.1"),
                false,
                false,
                Err("channel stable-4.2 for amd64: minVersion 4.2.3 is above maxVersion 4.2.1"),
            ),
            (
                "empty channel",
                "stable-4.99",
                None,
                None,
                false,
                false,
                Err("channel stable-4.99 has no releases for amd64: does the channel exist?"),
            ),
            (
                "no path with shortestPath",
                "stable-4.2",
                Some("4.1.4"),
                Some("4.2.0"),
                true,
                false,
                Err("channel stable-4.2 for amd64 has no upgrade path from 4.1.4 to 4.2.0"),
            ),
        ]);
    }

    #[test]
    fn selected_releases_carry_the_node_payload() {
        let graph = channel_graph("stable-4.1", "arm64");
        let selection = ChannelSelection {
            name: "stable-4.1",
            arch: "arm64",
            min: None,
            max: None,
            shortest_path: false,
            full: false,
        };
        let got = select_channel(&selection, &graph).expect("the head");
        assert_eq!(got, vec![Release { version: v("4.1.5"), payload: payload("arm64", &v("4.1.5")) }]);
    }

    #[test]
    fn shortest_path_ties_take_the_higher_version() {
        let cases: &[(&str, &[(&str, &str)], &[&str])] = &[
            (
                "higher listed first",
                &[("1.0.0", "1.0.2"), ("1.0.0", "1.0.1"), ("1.0.2", "1.0.3"), ("1.0.1", "1.0.3")],
                &["1.0.0", "1.0.2", "1.0.3"],
            ),
            (
                "higher listed last",
                &[("1.0.0", "1.0.1"), ("1.0.1", "1.0.3"), ("1.0.0", "1.0.2"), ("1.0.2", "1.0.3")],
                &["1.0.0", "1.0.2", "1.0.3"],
            ),
        ];
        for (name, edges, expected) in cases {
            let graph = graph("amd64", &["1.0.0", "1.0.1", "1.0.2", "1.0.3"], edges);
            let path = graph.upgrade_path(&v("1.0.0"), &v("1.0.3")).expect("a path");
            assert_eq!(versions(&path), *expected, "case {name}");
        }
    }

    #[test]
    fn select_several_channels() {
        type Entry<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);
        let cases: &[(&str, &[Entry], &[(&str, &str)], &[&str])] = &[
            (
                "heads of two channels joined by a path over the union",
                &[("stable-4.1", "amd64", None, None), ("stable-4.2", "amd64", None, None)],
                &[("4.1.5", "amd64"), ("4.2.1", "amd64"), ("4.2.2", "amd64"), ("4.2.3", "amd64"), ("4.2.4", "amd64")],
                &[],
            ),
            (
                "overlapping selections deduplicated",
                &[("stable-4.1", "amd64", Some("4.1.3"), None), ("stable-4.2", "amd64", None, Some("4.1.5"))],
                &[("4.1.3", "amd64"), ("4.1.4", "amd64"), ("4.1.5", "amd64")],
                &[],
            ),
            (
                "one channel per architecture: nothing added",
                &[("stable-4.2", "amd64", Some("4.2.0"), Some("4.2.0")), ("stable-4.1", "arm64", None, None)],
                &[("4.1.5", "arm64"), ("4.2.0", "amd64")],
                &[],
            ),
            (
                "different architectures are not joined",
                &[("stable-4.1", "amd64", None, None), ("stable-4.2", "arm64", None, None)],
                &[("4.1.5", "amd64"), ("4.2.4", "arm64")],
                &[],
            ),
            (
                "no path between the channels: a warning",
                &[("stable-4.1", "amd64", None, None), ("fast-4.3", "amd64", None, None)],
                &[("4.1.5", "amd64"), ("4.3.1", "amd64")],
                &["no upgrade path from 4.1.5 to 4.3.1 over channels stable-4.1, fast-4.3 for amd64: a cluster \
                   cannot upgrade from the oldest to the newest mirrored release through the mirror alone"],
            ),
        ];
        for (name, entries, expected, warnings) in cases {
            let owned: Vec<(Option<Version>, Option<Version>, Graph)> = entries
                .iter()
                .map(|&(channel, arch, min, max)| (lenient(min), lenient(max), channel_graph(channel, arch)))
                .collect();
            let channels: Vec<(ChannelSelection, &Graph)> = entries
                .iter()
                .zip(&owned)
                .map(|(&(channel, arch, _, _), (min, max, graph))| {
                    let selection = ChannelSelection {
                        name: channel,
                        arch,
                        min: min.as_ref(),
                        max: max.as_ref(),
                        shortest_path: false,
                        full: false,
                    };
                    (selection, graph)
                })
                .collect();
            let got = select_channels(&channels).unwrap_or_else(|e| panic!("case {name}: {e}"));
            let expected: Vec<Release> = expected
                .iter()
                .map(|&(version, arch)| Release { version: v(version), payload: payload(arch, &v(version)) })
                .collect();
            assert_eq!(got.releases, expected, "case {name}");
            assert_eq!(got.warnings, *warnings, "case {name}");
        }
    }

    #[test]
    fn several_channels_fail_on_the_first_bad_one() {
        let (good, empty) = (channel_graph("stable-4.1", "amd64"), Graph::default());
        let selection =
            |name| ChannelSelection { name, arch: "amd64", min: None, max: None, shortest_path: false, full: false };
        let got = select_channels(&[(selection("stable-4.1"), &good), (selection("stable-4.99"), &empty)]);
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err("channel stable-4.99 has no releases for amd64: does the channel exist?".to_owned())
        );
    }

    #[test]
    fn parse_reads_a_graph() {
        let json = br#"{
            "version": 1,
            "nodes": [
                {"version": "4.14.2", "payload": "quay.io/openshift-release-dev/ocp-release@sha256:02",
                 "metadata": {"io.openshift.upgrades.graph.release.channels": "fast-4.14,stable-4.14",
                              "url": "https://access.redhat.com/errata/RHSA-2023:6837",
                              "io.openshift.upgrades.graph.previous.remove_regex": null,
                              "weight": 3}},
                {"version": "4.14.1", "payload": "quay.io/openshift-release-dev/ocp-release@sha256:01"},
                {"version": "4.14.3-rc.1", "payload": "quay.io/openshift-release-dev/ocp-release@sha256:03",
                 "metadata": {}, "extra": true}
            ],
            "edges": [[1, 0], [0, 2]],
            "conditionalEdges": [{"edges": [{"from": "4.14.1", "to": "4.14.3-rc.1"}], "risks": []}]
        }"#;
        let graph = parse(json).expect("a valid graph");
        let got: Vec<(String, &str)> =
            graph.nodes.iter().map(|n| (n.version.to_string(), n.payload.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("4.14.2".to_owned(), "quay.io/openshift-release-dev/ocp-release@sha256:02"),
                ("4.14.1".to_owned(), "quay.io/openshift-release-dev/ocp-release@sha256:01"),
                ("4.14.3-rc.1".to_owned(), "quay.io/openshift-release-dev/ocp-release@sha256:03"),
            ]
        );
        let metadata: Vec<(&str, &str)> =
            graph.nodes[0].metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            metadata,
            vec![
                ("io.openshift.upgrades.graph.release.channels", "fast-4.14,stable-4.14"),
                ("url", "https://access.redhat.com/errata/RHSA-2023:6837"),
            ],
            "string metadata kept, other values skipped"
        );
        assert_eq!(graph.edges, vec![(1, 0), (0, 2)], "conditional edges ignored");
        assert_eq!(graph.head().map(|n| n.version.to_string()), Some("4.14.3-rc.1".to_owned()));
        assert_eq!(parse(b"{}").map(|g| g.nodes.len()).ok(), Some(0), "no nodes: an empty graph");
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, &str, &str)] = &[
            ("not JSON", "<html>Bad Gateway</html>", "the update graph is not a Cincinnati graph: expected value"),
            ("nodes not a list", r#"{"nodes": {}}"#, "the update graph is not a Cincinnati graph: invalid type"),
            ("node without payload", r#"{"nodes": [{"version": "4.1.0"}]}"#, "missing field `payload`"),
            (
                "version not semver",
                r#"{"nodes": [{"version": "4.1.0", "payload": "p"}, {"version": "4.1", "payload": "p"}]}"#,
                "update graph node 1: version \"4.1\" is not a semantic version",
            ),
            (
                "edge out of range",
                r#"{"nodes": [{"version": "4.1.0", "payload": "p"}], "edges": [[0, 0], [0, 1]]}"#,
                "update graph edge 1 [0, 1] is out of range: the graph has 1 nodes",
            ),
            ("negative edge index", r#"{"nodes": [], "edges": [[-1, 0]]}"#, "invalid value: integer `-1`"),
        ];
        for (name, input, expected) in cases {
            let got = parse(input.as_bytes()).map(|_| ()).map_err(|e| e.to_string());
            assert!(got.as_ref().is_err_and(|e| e.contains(expected)), "case {name}: got {got:?}, want {expected:?}");
        }
    }

    #[test]
    fn query_urls() {
        let cases: &[(&str, &str, &str, Result<&str, &str>)] = &[
            (
                "OCP",
                UPDATE_URL,
                "stable-4.16",
                Ok("https://api.openshift.com/api/upgrades_info/v1/graph?channel=stable-4.16&arch=amd64"),
            ),
            (
                "OKD",
                OKD_UPDATE_URL,
                "stable-4",
                Ok("https://origin-release.ci.openshift.org/graph?channel=stable-4&arch=amd64"),
            ),
            (
                "existing query kept",
                "https://osus.example.com/graph?id=a%2Fb",
                "eus-4.16",
                Ok("https://osus.example.com/graph?id=a%2Fb&channel=eus-4.16&arch=amd64"),
            ),
            (
                "existing channel and arch replaced",
                "http://osus.example.com:8080/graph?channel=old&x=1&arch=s390x",
                "eus-4.16",
                Ok("http://osus.example.com:8080/graph?x=1&channel=eus-4.16&arch=amd64"),
            ),
            (
                "channel encoded",
                UPDATE_URL,
                "a&b c",
                Ok("https://api.openshift.com/api/upgrades_info/v1/graph?channel=a%26b+c&arch=amd64"),
            ),
            ("refused: relative", "api.openshift.com/graph", "stable-4.16", Err("relative URL without a base")),
            ("refused: not http", "file:///tmp/graph.json", "stable-4.16", Err("scheme file is not http or https")),
        ];
        for (name, base, channel, expected) in cases {
            let got = query_url(base, channel, "amd64").map_err(|e| e.to_string());
            match expected {
                Ok(url) => assert_eq!(got.as_deref(), Ok(*url), "case {name}"),
                Err(reason) => {
                    assert!(got.as_ref().is_err_and(|e| e.contains(reason)), "case {name}: got {got:?}");
                }
            }
        }
    }

    #[test]
    fn arch_tags() {
        let cases: &[(&str, Option<&str>)] = &[
            ("amd64", Some("x86_64")),
            ("arm64", Some("aarch64")),
            ("ppc64le", Some("ppc64le")),
            ("s390x", Some("s390x")),
            ("multi", Some("multi")),
            ("x86_64", None),
            ("AMD64", None),
            ("aarch64", None),
            ("", None),
        ];
        for (arch, expected) in cases {
            assert_eq!(arch_tag(arch), *expected, "case {arch:?}");
        }
        assert!(ARCHITECTURES.iter().all(|a| arch_tag(a).is_some()), "every accepted architecture has a tag");
    }
}
