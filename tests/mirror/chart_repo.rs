//! A Helm chart repository on loopback: a static HTTP/1.1 file server ([`ChartRepo`]) that
//! serves `index.yaml` and chart archives the test puts there, and the chart archives
//! themselves ([`chart_tgz`], packed the way `helm package` packs: a gzip tar whose top folder
//! is the chart name).
//!
//! Every GET is recorded ([`ChartRepo::requests`]); [`ChartRepo::stop`] (or drop) closes the
//! port so that a later step can prove it needs no network.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::Digest as _;

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    requests: Mutex<Vec<String>>,
}

/// The server. Paths are absolute (`/charts/index.yaml`).
pub struct ChartRepo {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ChartRepo {
    pub fn start() -> ChartRepo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the chart repository");
        let addr = listener.local_addr().expect("bound address");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || serve(&stream, &conn_shared));
            }
        });
        ChartRepo { addr, shared, accept: Some(accept) }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves `bytes` at `path`.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.shared.files.lock().expect("files").insert(path.to_string(), bytes);
    }

    /// The paths asked for, in order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().expect("requests").clone()
    }

    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(stream: &TcpStream, shared: &Shared) {
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map_or(true, |n| n == 0) || header.trim().is_empty() {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
    shared.requests.lock().expect("requests").push(path.clone());
    let body = shared.files.lock().expect("files").get(&path).cloned();
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// A chart archive: `files` (paths relative to the chart folder, e.g. `Chart.yaml`,
/// `templates/deployment.yaml`) under the folder `name/`.
pub fn chart_tgz(name: &str, files: &[(&str, String)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("{name}/{path}"), content.as_bytes()).expect("tar entry");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

/// Writes `files` as a chart directory under `dir`.
pub fn chart_dir(dir: &std::path::Path, files: &[(&str, String)]) {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write chart file");
    }
}

/// SHA-256 hex of `bytes` (the `digest` of an index entry).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One `index.yaml` entry: name, version, type, url (relative to the repository), digest.
pub struct Entry<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub library: bool,
    pub url: String,
    pub digest: String,
}

/// An `index.yaml` listing `entries`.
pub fn index_yaml(entries: &[Entry<'_>]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&Entry<'_>>> = BTreeMap::new();
    for e in entries {
        by_name.entry(e.name).or_default().push(e);
    }
    let mut out = String::from("apiVersion: v1\nentries:\n");
    for (name, versions) in by_name {
        let _ = writeln!(out, "  {name}:");
        for e in versions {
            let kind = if e.library { "library" } else { "application" };
            let _ = write!(
                out,
                "  - name: {name}\n    version: {}\n    type: {kind}\n    apiVersion: v2\n    created: \"2024-05-01T00:00:00Z\"\n    digest: {}\n    urls:\n    - {}\n",
                e.version, e.digest, e.url
            );
        }
    }
    out.push_str("generated: \"2024-05-01T00:00:00Z\"\n");
    out
}
