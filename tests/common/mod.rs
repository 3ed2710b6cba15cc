//! Shared test support: start real registries on loopback and find outside tools.
//!
//! `Registry::ours` runs the built `mirror-registry serve` on `127.0.0.1:0` (plain HTTP, auth
//! off) and reads the bound address back from its stdout; `Registry::ours_secure` runs it as a
//! new user would (TLS with a generated CA, auth on, an `init` admin with a generated password); `Registry::distribution` runs Debian's `docker-registry`
//! (CNCF distribution 2.8) as a peer. Each registry lives in its own temp dir and is killed on drop.
//! `garage::Garage` is a 3-node Garage cluster and `replicas::Replicas` several `serve` replicas on
//! it behind a round-robin proxy (scale-out tests). `browser::Browser` drives a headless Chromium for tests of the web console.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

/// Runs `command` with `stdin` as its input and its output captured.
pub fn output_with_stdin(command: &mut Command, stdin: &str) -> Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A registry process on loopback, with its data in a temp dir.
pub struct Registry {
    /// `host:port` of the listener.
    pub host: String,
    /// Root of the registry's data (our `--data-dir`, or distribution's root directory).
    pub data_dir: PathBuf,
    /// Whether it serves HTTPS.
    pub tls: bool,
    /// The CA that signed its certificate (secure mode).
    pub ca: Option<PathBuf>,
    /// The generated `init` admin password (secure mode).
    pub init_password: Option<String>,
    /// What `serve` printed on stdout before its listening line (empty for a peer registry).
    pub startup: Vec<String>,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `mirror-registry serve` with plain HTTP and auth off on a fresh data dir.
    pub fn ours() -> Registry {
        Self::ours_with(&[])
    }

    /// Starts `mirror-registry serve` the way a new user does: TLS with a generated CA, auth on,
    /// and an `init` admin whose generated password is read from stdout.
    pub fn ours_secure() -> Registry {
        Self::ours_secure_configured("")
    }

    /// As [`Registry::ours_secure`], with `config` (YAML) as its config file.
    pub fn ours_secure_configured(config: &str) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let file = dir.path().join("config.yaml");
        std::fs::write(&file, config).expect("write config");
        let mut args: Vec<String> = vec!["serve".into(), "--config".into(), file.display().to_string()];
        args.extend(["--listen", "127.0.0.1:0", "--data-dir"].map(String::from));
        args.push(data_dir.display().to_string());
        let mut r = Self::spawn(dir, &data_dir, &args);
        r.ca = Some(data_dir.join("quay-rootCA/rootCA.pem"));
        r
    }

    /// Starts `mirror-registry serve` with extra arguments (for example `--config FILE`).
    pub fn ours_with(extra_args: &[&str]) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        Self::ours_in(dir, &data_dir, extra_args)
    }

    /// Starts `mirror-registry serve` (plain HTTP, auth off) on an existing data dir (restart
    /// after a crash). Auth is turned off through a config file in `dir`, so `extra_args` must not
    /// hold another `--config`.
    pub fn ours_in(dir: tempfile::TempDir, data_dir: &Path, extra_args: &[&str]) -> Registry {
        Self::ours_configured(dir, data_dir, "", extra_args)
    }

    /// As [`Registry::ours_in`], with `config` (YAML, other sections than `auth`) added to the
    /// config file.
    pub fn ours_configured(dir: tempfile::TempDir, data_dir: &Path, config: &str, extra_args: &[&str]) -> Registry {
        let config = format!("auth: {{enabled: false}}\n{config}");
        Self::serve_with_config(dir, data_dir, "no-auth.yaml", &config, extra_args)
    }

    /// Starts `mirror-registry serve` over plain HTTP with accounts on (the `init` admin's
    /// password in `init_password`) and `config` (YAML) as its config file.
    pub fn ours_with_accounts(config: &str) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        Self::serve_with_config(dir, &data_dir, "config.yaml", config, &[])
    }

    /// `serve` over plain HTTP on `127.0.0.1:0`, with `config` written to `dir/file_name`.
    pub fn serve_with_config(
        dir: tempfile::TempDir,
        data_dir: &Path,
        file_name: &str,
        config: &str,
        extra_args: &[&str],
    ) -> Registry {
        let file = dir.path().join(file_name);
        std::fs::write(&file, config).expect("write config");
        let mut args: Vec<String> = vec!["serve".into(), "--config".into(), file.display().to_string()];
        args.extend(["--listen", "127.0.0.1:0", "--insecure-http", "--data-dir"].map(String::from));
        args.push(data_dir.display().to_string());
        args.extend(extra_args.iter().map(|a| (*a).to_string()));
        Self::spawn(dir, data_dir, &args)
    }

    fn spawn(dir: tempfile::TempDir, data_dir: &Path, args: &[String]) -> Registry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .args(args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mirror-registry serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut init_password = None;
        let mut startup = Vec::new();
        let (host, tls) = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix(LISTENING_PREFIX) {
                        break (
                            url.trim_start_matches("http://").trim_start_matches("https://").to_string(),
                            url.starts_with("https://"),
                        );
                    }
                    if let Some(rest) = line.split_once(" with password ").map(|(_, r)| r) {
                        init_password = rest.split_whitespace().next().map(str::to_string);
                    }
                    startup.push(line);
                }
                _ => panic!("mirror-registry serve exited before listening: {:?}", child.wait()),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Registry { host, data_dir: data_dir.to_path_buf(), tls, ca: None, init_password, startup, child, dir }
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
        let registry =
            Registry { host, data_dir, tls: false, ca: None, init_password: None, startup: Vec::new(), child, dir };
        registry.wait_ready();
        Some(registry)
    }

    /// `http://host:port` or `https://host:port`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.host)
    }

    /// Kills the process with SIGKILL (a crash), returning its temp dir so it can be restarted.
    pub fn crash(mut self) -> (tempfile::TempDir, PathBuf) {
        self.child.kill().expect("kill registry");
        self.child.wait().expect("reap registry");
        let data_dir = self.data_dir.clone();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        (dir, data_dir)
    }

    /// The config file `ours`/`ours_in` wrote (auth off), for commands run next to the server.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("no-auth.yaml")
    }

    /// `mirror-registry ARGS --config … --data-dir …` against this registry's data, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mirror-registry"));
        command.args(args).arg("--config").arg(self.config_file()).arg("--data-dir").arg(&self.data_dir);
        command
    }

    /// Runs `gc --grace-period 0s` next to the server; panics unless it succeeds; returns its stdout.
    pub fn gc(&self) -> String {
        let out = self.command(&["gc", "--grace-period", "0s"]).output().expect("run gc");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "gc: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the registry process.
    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{name} failed");
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
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind an ephemeral port").port()
}

/// How to run a `docker-registry` peer beyond the defaults of [`Registry::distribution`].
#[derive(Debug, Default, Clone)]
pub struct DistributionSetup {
    /// Serve this existing storage root (distribution's `rootdirectory`) instead of a fresh one.
    pub root: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Require basic auth against this htpasswd file (bcrypt entries).
    pub htpasswd: Option<PathBuf>,
    /// Listen on this port instead of a free one.
    pub port: Option<u16>,
}

impl Registry {
    /// Starts Debian's `docker-registry` as `setup` says, or `None` when it is not installed
    /// outside CI.
    pub fn distribution_with(setup: &DistributionSetup) -> Option<Registry> {
        use std::fmt::Write as _;
        if !require_tool("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = setup.root.clone().unwrap_or_else(|| dir.path().join("regdata"));
        let port = setup.port.unwrap_or_else(free_port);
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {host}\n",
            data_dir.display()
        );
        if let Some((cert, key)) = &setup.tls {
            let _ = writeln!(config, "  tls: {{certificate: {}, key: {}}}", cert.display(), key.display());
        }
        if let Some(htpasswd) = &setup.htpasswd {
            let _ = writeln!(config, "auth:\n  htpasswd: {{realm: basic-realm, path: {}}}", htpasswd.display());
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write distribution config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker-registry");
        let tls = setup.tls.is_some();
        let registry = Registry { host, data_dir, tls, ca: None, init_password: None, startup: Vec::new(), child, dir };
        registry.wait_ready();
        Some(registry)
    }
}
pub mod browser;
pub mod garage;
pub mod installer;
pub mod podman;
pub mod postgres;
pub mod replicas;
