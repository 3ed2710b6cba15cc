//! Starting and stopping the two registries under test, each on a loopback port with its data in
//! its own directory.
//!
//! Both are configured alike where they can be: plain HTTP, no auth, only errors logged (request
//! logging would otherwise be part of what is measured). Distribution gets the in-memory blob
//! descriptor cache that Debian's shipped config turns on, so it is compared as it is deployed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::Url;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client;

/// How long a registry may take to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The stdout line prefix by which `mirror-registry serve` says it is listening.
const OURS_LISTENING: &str = "mirror-registry listening on ";

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// mirror-registry, this workspace's server.
    Ours,
    /// CNCF distribution (Debian's `docker-registry`).
    Distribution,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Ours => "ours",
            Kind::Distribution => "distribution",
        })
    }
}

/// A running registry process.
pub struct Peer {
    child: Child,
    /// Its process id, for reading its memory use.
    pub pid: u32,
    /// `http://127.0.0.1:PORT/`.
    pub base: Url,
    log: PathBuf,
}

impl Peer {
    /// Starts `mirror-registry serve` from `binary` with a config and data under `dir`, and
    /// waits for the line that gives its port and for `/v2/` to answer.
    ///
    /// # Errors
    /// When it cannot start, exits, or is not ready within the timeout.
    pub async fn start_ours(binary: &Path, dir: &Path) -> anyhow::Result<Peer> {
        Peer::start_ours_with(binary, dir, &dir.join("data"), "").await
    }

    /// Like [`Peer::start_ours`], with its data in `data_dir` (replicas may share one) and
    /// `extra_yaml` appended to the config (e.g. `database:` and `storage:` sections).
    ///
    /// # Errors
    /// When it cannot start, exits, or is not ready within the timeout.
    pub async fn start_ours_with(binary: &Path, dir: &Path, data_dir: &Path, extra_yaml: &str) -> anyhow::Result<Peer> {
        let config = dir.join("config.yml");
        // No accounts, as distribution runs without `auth:`; errors only, like its `log:` below.
        let yaml = format!("log_level: error\ninsecure_http: true\nauth: {{enabled: false}}\n{extra_yaml}");
        std::fs::write(&config, yaml).with_context(|| format!("writing {}", config.display()))?;
        let log = dir.join("server.log");
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .args(["--listen", "127.0.0.1:0", "--insecure-http", "--data-dir"])
            .arg(data_dir)
            // RUST_LOG would override `log_level`.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix(OURS_LISTENING) {
                    return Ok(Some(url.trim().to_owned()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let url = match base {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) => bail!("{} exited before listening; see {}", binary.display(), log.display()),
            Ok(Err(e)) => return Err(e).context("reading the server's stdout"),
            Err(_) => bail!("{} did not say it listens within {STARTUP_TIMEOUT:?}", binary.display()),
        };
        // Keep reading stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base = Url::parse(&format!("{}/", url.trim_end_matches('/'))).context("the announced URL")?;
        let mut peer = Peer { child, pid, base, log };
        peer.wait_ready().await?;
        Ok(peer)
    }

    /// Starts `docker-registry serve` from `binary` with a config and data under `dir`, on a free
    /// loopback port, and waits for `/v2/` to answer.
    ///
    /// # Errors
    /// When it cannot start, exits, or is not ready within the timeout.
    pub async fn start_distribution(binary: &Path, dir: &Path) -> anyhow::Result<Peer> {
        let port = free_port()?;
        let config = dir.join("config.yml");
        let yaml = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog: {{disabled: true}}\n\
             storage:\n  filesystem: {{rootdirectory: {data}}}\n  delete: {{enabled: true}}\n  \
             cache: {{blobdescriptor: inmemory}}\n\
             http: {{addr: '127.0.0.1:{port}'}}\n",
            data = dir.join("data").display(),
        );
        std::fs::write(&config, yaml).with_context(|| format!("writing {}", config.display()))?;
        let log = dir.join("server.log");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file(&log)?)
            .stderr(log_file(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).context("the peer URL")?;
        let mut peer = Peer { child, pid, base, log };
        peer.wait_ready().await?;
        Ok(peer)
    }

    /// Polls `GET /v2/` until it answers 200, failing early if the process has exited.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = client::http_client()?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the registry exited with {status}; see {}", self.log.display());
            }
            match client::check_api(&http, &self.base).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("not ready within {STARTUP_TIMEOUT:?}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Asks the process to stop (SIGTERM), then kills it if it has not exited within 10 s.
    ///
    /// # Errors
    /// When the process cannot be waited for.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // `kill(1)` rather than a signal API, since the crate forbids unsafe code.
        let sent = std::process::Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        if sent.is_ok_and(|s| s.success())
            && tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_ok()
        {
            return Ok(());
        }
        self.child.kill().await.context("killing the registry")
    }
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// A loopback port that was free a moment ago (distribution cannot report the port it bound).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}
