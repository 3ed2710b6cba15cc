//! Shared test support: start real registries on loopback and find outside tools.
//!
//! `Registry::ours` runs the built `mirror-registry serve` on `127.0.0.1:0` and reads the bound
//! address back from its stdout; `Registry::distribution` runs Debian's `docker-registry`
//! (CNCF distribution 2.8) as a peer. Each registry lives in its own temp dir and is killed on drop.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Prefix of the line `serve` prints on stdout once its listener is bound.
pub const LISTENING_PREFIX: &str = "mirror-registry listening on ";

/// Whether an outside tool is on `PATH`. Under `CI=true` a missing tool is a failure, never a
/// silent pass; elsewhere the test may skip, and says why on stderr.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is required when CI=true (install it with apt; see .ci/run)"
        );
        eprintln!("SKIPPED: {name} is not installed (apt-get install it to run this test)");
    }
    found
}

/// A registry process on loopback, with its data in a temp dir.
pub struct Registry {
    /// `host:port` of the listener.
    pub host: String,
    /// Root of the registry's data (our `--data-dir`, or distribution's root directory).
    pub data_dir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `mirror-registry serve` with plain HTTP on a fresh data dir.
    pub fn ours() -> Registry {
        Self::ours_with(&[])
    }

    /// Starts `mirror-registry serve` with extra arguments (for example `--config FILE`).
    pub fn ours_with(extra_args: &[&str]) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        Self::ours_in(dir, &data_dir, extra_args)
    }

    /// Starts `mirror-registry serve` on an existing data dir (restart after a crash).
    pub fn ours_in(dir: tempfile::TempDir, data_dir: &Path, extra_args: &[&str]) -> Registry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--insecure-http", "--data-dir"])
            .arg(data_dir)
            .args(extra_args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mirror-registry serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let host = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                        break url.trim_start_matches("http://").trim_start_matches("https://").to_string();
                    }
                }
                _ => panic!("mirror-registry serve exited before listening: {:?}", child.wait()),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Registry { host, data_dir: data_dir.to_path_buf(), child, _dir: dir }
    }

    /// Starts Debian's `docker-registry` (distribution 2.8) with deletes enabled, or `None` when
    /// it is not installed outside CI.
    pub fn distribution() -> Option<Registry> {
        if !require_tool("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("regdata");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp: {{addr: {host}}}\n",
                data_dir.display()
            ),
        )
        .expect("write distribution config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker-registry");
        let registry = Registry { host, data_dir, child, _dir: dir };
        registry.wait_ready();
        Some(registry)
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// Kills the process with SIGKILL (a crash), returning its temp dir so it can be restarted.
    pub fn crash(mut self) -> (tempfile::TempDir, PathBuf) {
        self.child.kill().expect("kill registry");
        self.child.wait().expect("reap registry");
        let data_dir = self.data_dir.clone();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("temp dir"));
        (dir, data_dir)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(&self.host).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "registry at {} never became ready", self.host);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago, for peers that cannot report a port chosen by the kernel.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}
