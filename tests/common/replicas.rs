//! Several `serve` replicas sharing one metadata database and one Garage bucket, behind a
//! round-robin HTTP proxy on loopback that sends every request to the next replica (issue #14).
//!
//! The replicas share a PostgreSQL database when `database` YAML is given, else the SQLite
//! file of one data dir (SQLite locks across processes on one host); blobs go to the Garage
//! cluster, each replica talking to its own node. `http.public_host` names the proxy, so
//! `Location` headers and the token realm point clients back through it.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::Registry;
use super::garage::Garage;

/// Replicas of one registry and the proxy in front of them.
#[allow(clippy::struct_field_names)] // `replicas.replicas[i]` reads as what it is
pub struct Replicas {
    /// The replicas, `None` where one was killed.
    pub replicas: Vec<Option<Registry>>,
    /// `host:port` of the proxy, the registry's public address.
    pub host: String,
    /// The shared data dir (SQLite database, TLS).
    pub data_dir: PathBuf,
    /// The `init` admin's password, when accounts are on.
    pub init_password: Option<String>,
    config: String,
    s3_extra: String,
    backends: Arc<Mutex<Vec<String>>>,
    _proxy: std::thread::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Replicas {
    /// Starts `n` replicas (replica `i` on Garage node `nodes[i]`) and the proxy. `extra` is
    /// more config YAML (e.g. `auth`, `database`); without an `auth` section, auth is off.
    pub fn start(garage: &Garage, nodes: &[usize], extra: &str) -> Replicas {
        Self::start_with_s3(garage, nodes, extra, "")
    }

    /// As [`Replicas::start`], with more keys (YAML lines indented 4) in `storage.s3`.
    pub fn start_with_s3(garage: &Garage, nodes: &[usize], extra: &str, s3_extra: &str) -> Replicas {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let port = super::free_port();
        let host = format!("127.0.0.1:{port}");
        let auth = if extra.contains("auth:") { "" } else { "auth: {enabled: false}\n" };
        let config = format!("{auth}http: {{public_host: \"{host}\"}}\ngc: {{enabled: false}}\n{extra}");
        let backends = Arc::new(Mutex::new(Vec::new()));
        let proxy = spawn_proxy(port, backends.clone());
        let mut set = Replicas {
            replicas: Vec::new(),
            host,
            data_dir,
            init_password: None,
            config,
            s3_extra: s3_extra.to_owned(),
            backends,
            _proxy: proxy,
            _dir: dir,
        };
        for &node in nodes {
            let replica = set.spawn(garage, node);
            set.init_password = set.init_password.take().or_else(|| replica.init_password.clone());
            set.replicas.push(Some(replica));
        }
        set.route();
        set
    }

    /// `http://host:port` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Kills replica `i` with SIGKILL and takes it out of the proxy's rotation.
    pub fn kill(&mut self, i: usize) {
        if let Some(r) = self.replicas[i].take() {
            drop(r.crash());
        }
        self.route();
    }

    /// Starts replica `i` again on Garage node `node` and puts it back in rotation.
    pub fn restart(&mut self, i: usize, garage: &Garage, node: usize) {
        self.replicas[i] = Some(self.spawn(garage, node));
        self.route();
    }

    /// The config file replica `i` runs with (for `gc`, `fsck`, `status` beside it).
    pub fn command(&self, i: usize, args: &[&str]) -> std::process::Command {
        self.replicas[i].as_ref().expect("a live replica").command(args)
    }

    fn spawn(&self, garage: &Garage, node: usize) -> Registry {
        let yaml = format!("{}{}{}", self.config, garage.storage_yaml(node), self.s3_extra);
        // The file name `Registry::command` passes to `gc`, `fsck` and `status`.
        Registry::serve_with_config(tempfile::tempdir().expect("temp dir"), &self.data_dir, "no-auth.yaml", &yaml, &[])
    }

    fn route(&self) {
        let live = self.replicas.iter().flatten().map(|r| r.host.clone()).collect();
        *self.backends.lock().expect("backends") = live;
    }
}

/// The proxy: HTTP/1.1, a fresh backend choice per request (not per connection), bodies
/// streamed both ways, redirects passed through. A backend that refuses the connection is
/// skipped for requests without a body; with a body the client gets a 502 and retries.
fn spawn_proxy(port: u16, backends: Arc<Mutex<Vec<String>>>) -> std::thread::JoinHandle<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let client =
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            let next = Arc::new(AtomicUsize::new(0));
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (client, backends, next) = (client.clone(), backends.clone(), next.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request| forward(client.clone(), backends.clone(), next.clone(), request));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
    })
}

async fn forward(
    client: reqwest::Client,
    backends: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicUsize>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let has_body = parts.headers.contains_key("content-length") || parts.headers.contains_key("transfer-encoding");
    let mut body = Some(reqwest::Body::wrap_stream(http_body_util::BodyDataStream::new(body)));
    let live = backends.lock().expect("backends").clone();
    for _ in 0..live.len().max(1) {
        let Some(backend) = live.get(next.fetch_add(1, Ordering::Relaxed) % live.len().max(1)) else { break };
        let mut outgoing = client.request(parts.method.clone(), format!("http://{backend}{path}"));
        for (name, value) in &parts.headers {
            if name != "host" {
                outgoing = outgoing.header(name, value);
            }
        }
        if has_body {
            outgoing = outgoing.body(body.take().unwrap_or_else(|| reqwest::Body::from(Vec::new())));
        }
        match outgoing.send().await {
            Ok(reply) => {
                let mut response = hyper::Response::builder().status(reply.status());
                for (name, value) in reply.headers() {
                    response = response.header(name, value);
                }
                return Ok(response.body(Body::from_stream(reply.bytes_stream())).expect("response"));
            }
            Err(e) if e.is_connect() && !has_body => {}
            Err(_) => break,
        }
    }
    Ok(hyper::Response::builder().status(502).body(Body::empty()).expect("502"))
}
