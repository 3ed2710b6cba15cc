//! The non-registry upstreams of `platform:` mirroring, on loopback: a Cincinnati-style update
//! graph, the graph-data tarball and a release-signature store, all served by one small HTTP/1.1
//! server ([`UpstreamServer`]); the graphs it serves ([`Graph`]); and release signatures made by
//! real gpg and `skopeo standalone-sign` ([`Signer`]).
//!
//! ```text
//! GET /api/upgrades_info/v1/graph?channel=C&arch=A   Cincinnati JSON (also at /api/upgrades_info/graph)
//! GET /api/upgrades_info/graph-data                  the graph-data tar.gz (set_graph_data), else 404
//! GET /signatures/sha256=<hex>/signature-1           a stored signature, else 404
//! ```
//!
//! The graph endpoint behaves like Cincinnati's policy engine: `channel` is mandatory (400
//! `missing_params` without it); `arch` defaults to `amd64`; an `Accept` header, when present,
//! must be exactly `application/json`, `application/*`, `*/*` or `*` (406
//! `invalid_content_type` otherwise); an unknown channel or architecture answers 200 with an
//! empty graph. Nodes come in no particular order (sorted by payload digest here), edges are
//! index pairs into `nodes`, and each node's metadata lists its channels and manifest digest.
//! Other query parameters (`id`, `version`) are recorded and ignored.
//!
//! Every request is recorded ([`UpstreamServer::requests`]). Each response closes its
//! connection. [`UpstreamServer::fail`] makes a path prefix answer an error status (for retry
//! and outage tests), and [`UpstreamServer::stop`] (or drop) closes the port, so a later step can
//! prove it needs no network.
//!
//! API: `UpstreamServer::start()`, then `set_graph(&Graph)` per architecture, `set_graph_data`,
//! `put_signature` / `corrupt_signature` / `remove_signature`; URLs from `url()`, `graph_url()`,
//! `graph_data_url()`, `signatures_url()`, `signature_url(digest)`. `Graph::new(arch)` with
//! `release`/`node`, `channel`, `edge`, `conditional_edge`; `graph_data_tarball(&[&Graph])`.
//! `Signer::new()` / `Signer::other()` with `sign`, `verify`, `fingerprint`, `gnupghome` and
//! `public_key_file`.
#![allow(dead_code)] // the smoke test and the mirroring tests use different parts

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::catalog::gzip_layer;
use crate::common::require_tool;
use crate::release::PushedRelease;

pub const GRAPH_PATH: &str = "/api/upgrades_info/v1/graph";
/// The older, unversioned path api.openshift.com also serves.
pub const GRAPH_PATH_UNVERSIONED: &str = "/api/upgrades_info/graph";
pub const GRAPH_DATA_PATH: &str = "/api/upgrades_info/graph-data";
pub const SIGNATURES_PATH: &str = "/signatures/";
/// The node metadata key listing a release's channels.
pub const CHANNELS_KEY: &str = "io.openshift.upgrades.graph.release.channels";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The `Accept` header, if any.
    pub accept: Option<String>,
    /// Every header, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The update graph of one architecture (`amd64` or `multi`): releases, channels, edges.
#[derive(Debug, Clone)]
pub struct Graph {
    arch: String,
    /// version → (payload pull spec, manifest digest).
    nodes: BTreeMap<String, (String, String)>,
    /// channel → versions.
    channels: BTreeMap<String, Vec<String>>,
    edges: Vec<(String, String)>,
    /// (from, to, risk name).
    conditional: Vec<(String, String, String)>,
}

impl Graph {
    pub fn new(arch: &str) -> Graph {
        Graph {
            arch: arch.into(),
            nodes: BTreeMap::new(),
            channels: BTreeMap::new(),
            edges: Vec::new(),
            conditional: Vec::new(),
        }
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Adds a pushed release as a node (its version, payload and digest).
    pub fn release(&mut self, release: &PushedRelease) -> &mut Graph {
        self.node(&release.version, &release.payload)
    }

    /// Adds a node for `version` with payload `payload` (`host/repo@sha256:…`).
    pub fn node(&mut self, version: &str, payload: &str) -> &mut Graph {
        let digest = payload.split_once('@').map_or("", |(_, d)| d).to_string();
        self.nodes.insert(version.into(), (payload.into(), digest));
        self
    }

    /// Puts `versions` in `channel` (in addition to what it has).
    pub fn channel(&mut self, channel: &str, versions: &[&str]) -> &mut Graph {
        self.channels.entry(channel.into()).or_default().extend(versions.iter().map(|v| (*v).to_string()));
        self
    }

    pub fn edge(&mut self, from: &str, to: &str) -> &mut Graph {
        self.edges.push((from.into(), to.into()));
        self
    }

    /// An update that is only recommended when a risk does not apply (`conditionalEdges`).
    pub fn conditional_edge(&mut self, from: &str, to: &str, risk: &str) -> &mut Graph {
        self.conditional.push((from.into(), to.into(), risk.into()));
        self
    }

    /// Channel → versions.
    pub fn channels(&self) -> &BTreeMap<String, Vec<String>> {
        &self.channels
    }

    /// Every (from, to) edge.
    pub fn edges(&self) -> &[(String, String)] {
        &self.edges
    }

    /// The versions with an edge to `version` (a payload's `previous`).
    pub fn previous(&self, version: &str) -> Vec<String> {
        self.edges.iter().filter(|(_, to)| to == version).map(|(from, _)| from.clone()).collect()
    }

    /// The Cincinnati answer for `channel`: the channel's nodes, and the edges between them.
    pub fn json(&self, channel: &str) -> serde_json::Value {
        let Some(members) = self.channels.get(channel) else { return empty_graph() };
        let mut nodes: Vec<(&String, &(String, String))> =
            self.nodes.iter().filter(|(v, _)| members.contains(v)).collect();
        nodes.sort_by(|a, b| a.1.1.cmp(&b.1.1));
        let index: BTreeMap<&str, usize> = nodes.iter().enumerate().map(|(i, (v, _))| (v.as_str(), i)).collect();
        let json_nodes: Vec<serde_json::Value> = nodes
            .iter()
            .map(|(version, (payload, digest))| {
                let channels: Vec<&str> =
                    self.channels.iter().filter(|(_, vs)| vs.contains(version)).map(|(c, _)| c.as_str()).collect();
                let mut metadata = serde_json::json!({
                    CHANNELS_KEY: channels.join(","),
                    "io.openshift.upgrades.graph.release.manifestref": digest,
                    "url": format!("https://access.redhat.com/errata/RHBA-2024:{version}"),
                });
                if self.arch == "multi" {
                    metadata["release.openshift.io/architecture"] = "multi".into();
                }
                serde_json::json!({"version": version, "payload": payload, "metadata": metadata})
            })
            .collect();
        let pair = |from: &str, to: &str| Some((*index.get(from)?, *index.get(to)?));
        let edges: Vec<(usize, usize)> = self.edges.iter().filter_map(|(f, t)| pair(f, t)).collect();
        let conditional: Vec<serde_json::Value> = self
            .conditional
            .iter()
            .filter(|(f, t, _)| pair(f, t).is_some())
            .map(|(from, to, risk)| {
                serde_json::json!({
                    "edges": [{"from": from, "to": to}],
                    "risks": [{
                        "url": format!("https://issues.redhat.com/browse/{risk}"),
                        "name": risk,
                        "message": format!("{risk} affects clusters updating from {from}."),
                        "matchingRules": [{"type": "Always"}],
                    }],
                })
            })
            .collect();
        serde_json::json!({"nodes": json_nodes, "edges": edges, "conditionalEdges": conditional})
    }
}

fn empty_graph() -> serde_json::Value {
    serde_json::json!({"nodes": [], "edges": [], "conditionalEdges": []})
}

/// The graph-data tarball (tar.gz, as `GET /api/upgrades_info/graph-data` serves it) for
/// `graphs`: `channels/<channel>.yaml` (`name:`, `versions:`), one `blocked-edges/` file, a
/// `raw/metadata.json` and a `version` file. Deterministic bytes.
pub fn graph_data_tarball(graphs: &[&Graph]) -> Vec<u8> {
    let mut channels: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut releases: BTreeMap<String, BTreeMap<&str, &str>> = BTreeMap::new();
    for g in graphs {
        for (channel, versions) in &g.channels {
            channels.entry(channel).or_default().extend(versions.iter().map(String::as_str));
        }
        for (version, (payload, _)) in &g.nodes {
            releases.entry(version.clone()).or_default().insert(g.arch.as_str(), payload.as_str());
        }
    }
    let mut files: Vec<(String, Vec<u8>)> = channels
        .iter()
        .map(|(name, versions)| {
            let mut sorted: Vec<&str> = versions.iter().copied().collect();
            sorted.sort_by_key(|v| crate::release::version_parts(v));
            let list: String = sorted.iter().flat_map(|v| ["- ", v, "\n"]).collect();
            (format!("channels/{name}.yaml"), format!("name: {name}\nversions:\n{list}").into_bytes())
        })
        .collect();
    files.push((
        "blocked-edges/4.2.2-ExampleRisk.yaml".into(),
        b"to: 4.2.2\nfrom: 4\\.2\\.0\nurl: https://issues.redhat.com/browse/ExampleRisk\nname: ExampleRisk\nmessage: An example risk that blocks 4.2.0 to 4.2.2.\nmatchingRules:\n- type: Always\n".to_vec(),
    ));
    files.push(("raw/metadata.json".into(), serde_json::to_vec_pretty(&releases).expect("metadata json")));
    files.push(("version".into(), b"1.2.0\n".to_vec()));
    let entries: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    gzip_layer(&entries).0
}

/// A stored signature for test use that no longer verifies: one byte in the middle flipped.
pub fn corrupt(signature: &[u8]) -> Vec<u8> {
    let mut out = signature.to_vec();
    let middle = out.len() / 2;
    if let Some(b) = out.get_mut(middle) {
        *b ^= 0x5a;
    }
    out
}

#[derive(Default)]
struct State {
    /// arch → graph.
    graphs: BTreeMap<String, Graph>,
    graph_data: Vec<u8>,
    /// `sha256:<hex>` → signature bytes.
    signatures: BTreeMap<String, Vec<u8>>,
    /// (path prefix, status) answered instead of the real thing.
    faults: Vec<(String, u16)>,
    requests: Vec<Request>,
}

struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The graph server and signature store on `127.0.0.1:<port>`; stops on drop.
pub struct UpstreamServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl UpstreamServer {
    /// Starts on a port the kernel picks, with no graphs, no graph data and no signatures.
    pub fn start() -> UpstreamServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream server");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared { stop: AtomicBool::new(false), state: Mutex::new(State::default()) });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || serve_connection(stream, &conn_shared));
            }
        });
        UpstreamServer { addr, shared, accept: Some(accept) }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The graph endpoint, without query (what `UPDATE_URL_OVERRIDE` would hold).
    pub fn graph_url(&self) -> String {
        format!("{}{GRAPH_PATH}", self.url())
    }

    pub fn graph_data_url(&self) -> String {
        format!("{}{GRAPH_DATA_PATH}", self.url())
    }

    /// The signature store's base, ending in `/`: signatures are at
    /// `<base>sha256=<hex>/signature-1`.
    pub fn signatures_url(&self) -> String {
        format!("{}{SIGNATURES_PATH}", self.url())
    }

    /// Where the signature of `digest` (`sha256:<hex>`) is served.
    pub fn signature_url(&self, digest: &str) -> String {
        format!("{}{}/signature-1", self.signatures_url(), digest.replacen(':', "=", 1))
    }

    /// Serves `graph` for its architecture (replacing an earlier one).
    pub fn set_graph(&self, graph: &Graph) {
        self.shared.state().graphs.insert(graph.arch.clone(), graph.clone());
    }

    pub fn set_graph_data(&self, tarball: Vec<u8>) {
        self.shared.state().graph_data = tarball;
    }

    /// Serves `signature` for `digest` (`sha256:<hex>`), replacing an earlier one.
    pub fn put_signature(&self, digest: &str, signature: Vec<u8>) {
        self.shared.state().signatures.insert(digest.into(), signature);
    }

    /// Replaces the stored signature of `digest` by a corrupted copy ([`corrupt`]).
    pub fn corrupt_signature(&self, digest: &str) {
        let mut state = self.shared.state();
        let sig = state.signatures.get_mut(digest).unwrap_or_else(|| panic!("no signature stored for {digest}"));
        *sig = corrupt(sig);
    }

    /// Forgets the signature of `digest`: the store answers 404 for it.
    pub fn remove_signature(&self, digest: &str) {
        self.shared.state().signatures.remove(digest);
    }

    /// The stored signature of `digest`.
    pub fn signature(&self, digest: &str) -> Option<Vec<u8>> {
        self.shared.state().signatures.get(digest).cloned()
    }

    /// Every request whose path starts with `path_prefix` answers `status` until
    /// [`clear_faults`](Self::clear_faults).
    pub fn fail(&self, path_prefix: &str, status: u16) {
        self.shared.state().faults.push((path_prefix.into(), status));
    }

    pub fn clear_faults(&self) {
        self.shared.state().faults.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.state().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Closes the port (idempotent); later connections are refused.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else { return };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the loop sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        let _ = accept.join();
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else { return };
    let (status, content_type, body) = respond(&shared.state(), &request);
    shared.state().requests.push(request);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body)).and_then(|()| stream.flush());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Reads the request line and headers (a GET has no body to read).
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let accept = headers.iter().find(|(n, _)| n == "accept").map(|(_, v)| v.clone());
    Some(Request { method, path: path.to_string(), query, accept, headers })
}

/// Status, content type and body for `request`.
fn respond(state: &State, request: &Request) -> (u16, &'static str, Vec<u8>) {
    if let Some((_, status)) = state.faults.iter().find(|(prefix, _)| request.path.starts_with(prefix.as_str())) {
        return (*status, "text/plain", b"injected fault\n".to_vec());
    }
    if request.method != "GET" {
        return (405, "text/plain", b"method not allowed\n".to_vec());
    }
    let json = |status: u16, v: &serde_json::Value| (status, "application/json", v.to_string().into_bytes());
    match request.path.as_str() {
        GRAPH_PATH | GRAPH_PATH_UNVERSIONED => {
            if !cincinnati_accepts(request.accept.as_deref()) {
                return json(
                    406,
                    &serde_json::json!({"kind": "invalid_content_type", "value": "invalid Content-Type requested"}),
                );
            }
            let Some(channel) = request.param("channel") else {
                return json(
                    400,
                    &serde_json::json!({"kind": "missing_params", "value": "mandatory client parameters missing: channel"}),
                );
            };
            let arch = request.param("arch").unwrap_or("amd64");
            json(200, &state.graphs.get(arch).map_or_else(empty_graph, |g| g.json(channel)))
        }
        GRAPH_DATA_PATH if state.graph_data.is_empty() => (404, "text/plain", b"no graph data\n".to_vec()),
        GRAPH_DATA_PATH => (200, "application/gzip", state.graph_data.clone()),
        path => {
            let signature = path
                .strip_prefix(SIGNATURES_PATH)
                .and_then(|rest| rest.strip_suffix("/signature-1"))
                .map(|d| d.replacen('=', ":", 1))
                .and_then(|digest| state.signatures.get(&digest));
            match signature {
                Some(sig) => (200, "application/octet-stream", sig.clone()),
                None => (404, "text/plain", b"not found\n".to_vec()),
            }
        }
    }
}

/// Cincinnati's check: no `Accept`, or exactly one of the types it can produce.
fn cincinnati_accepts(accept: Option<&str>) -> bool {
    accept.is_none_or(|a| ["application/json", "application/*", "*/*", "*"].contains(&a.trim()))
}

/// A gpg key in its own GNUPGHOME, signing like Red Hat's release signatures (`skopeo
/// standalone-sign`: an OpenPGP-signed "atomic container signature" JSON naming the docker
/// reference and the manifest digest). The agent it starts is stopped on drop.
pub struct Signer {
    dir: tempfile::TempDir,
    fingerprint: String,
}

impl Signer {
    /// A fresh RSA 3072 key, "Mirror Test Release <release@test.invalid>". `None` when gpg or
    /// skopeo is missing outside CI.
    pub fn new() -> Option<Signer> {
        Self::with_identity("Mirror Test Release <release@test.invalid>")
    }

    /// A second, unrelated key (for signatures that must not be trusted).
    pub fn other() -> Option<Signer> {
        Self::with_identity("Untrusted Test Key <untrusted@test.invalid>")
    }

    fn with_identity(uid: &str) -> Option<Signer> {
        if !require_tool("gpg") || !require_tool("gpg-agent") || !require_tool("skopeo") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("gnupg");
        std::fs::create_dir(&home).expect("GNUPGHOME");
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod 0700");
        let mut signer = Signer { dir, fingerprint: String::new() };
        signer.gpg(&["--passphrase", "", "--quick-gen-key", uid, "rsa3072", "sign", "never"]);
        let listing =
            String::from_utf8_lossy(&signer.gpg(&["--with-colons", "--list-secret-keys"]).stdout).into_owned();
        signer.fingerprint = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("a fingerprint in the key listing")
            .to_string();
        let armored = signer.gpg(&["--armor", "--export", &signer.fingerprint]).stdout;
        assert!(armored.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"), "armored public key");
        std::fs::write(signer.public_key_file(), armored).expect("write public key");
        Some(signer)
    }

    fn gpg(&self, args: &[&str]) -> Output {
        let out =
            Command::new("gpg").arg("--batch").args(args).env("GNUPGHOME", self.gnupghome()).output().expect("run gpg");
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// The key's fingerprint (40 hex digits).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The GNUPGHOME holding the key (for `skopeo standalone-verify` and friends).
    pub fn gnupghome(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    /// The armored public key (what `OCP_SIGNATURE_VERIFICATION_PK` names).
    pub fn public_key_file(&self) -> PathBuf {
        self.dir.path().join("public-key.asc")
    }

    /// A signature of `manifest` (the exact bytes the registry serves) for `docker_reference`
    /// (`host/openshift-release-dev/ocp-release:<tag>`).
    pub fn sign(&self, manifest: &[u8], docker_reference: &str) -> Vec<u8> {
        let work = tempfile::tempdir_in(self.dir.path()).expect("temp dir");
        let manifest_file = work.path().join("manifest.json");
        let out_file = work.path().join("signature-1");
        std::fs::write(&manifest_file, manifest).expect("write manifest");
        let out = self.skopeo(&[
            "standalone-sign".as_ref(),
            manifest_file.as_os_str(),
            docker_reference.as_ref(),
            self.fingerprint.as_ref(),
            "-o".as_ref(),
            out_file.as_os_str(),
        ]);
        assert!(out.status.success(), "skopeo standalone-sign: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(&out_file).expect("read signature")
    }

    /// `skopeo standalone-verify` with this key: `Ok(stdout)` (which names the verified digest)
    /// or `Err(stderr)`.
    pub fn verify(&self, manifest: &[u8], docker_reference: &str, signature: &[u8]) -> Result<String, String> {
        let work = tempfile::tempdir_in(self.dir.path()).expect("temp dir");
        let manifest_file = work.path().join("manifest.json");
        let signature_file = work.path().join("signature-1");
        std::fs::write(&manifest_file, manifest).expect("write manifest");
        std::fs::write(&signature_file, signature).expect("write signature");
        let out = self.skopeo(&[
            "standalone-verify".as_ref(),
            manifest_file.as_os_str(),
            docker_reference.as_ref(),
            self.fingerprint.as_ref(),
            signature_file.as_os_str(),
        ]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn skopeo(&self, args: &[&std::ffi::OsStr]) -> Output {
        Command::new("skopeo").args(args).env("GNUPGHOME", self.gnupghome()).output().expect("run skopeo")
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
