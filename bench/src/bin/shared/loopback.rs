//! Registries on loopback for the bench binaries (`mirror`, `operators`, `releases`): Debian's
//! `docker-registry` and `mirror-registry serve`, each a process killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use sha2::Digest as _;

/// A registry process, killed on drop.
pub struct Process {
    /// The process (for its pid).
    pub child: Child,
    /// `host:port` of its listener.
    pub host: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_listening(host: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(host).is_err() {
        ensure!(Instant::now() < deadline, "{host} never started listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

pub fn start_distribution(dir: &Path) -> anyhow::Result<Process> {
    let host = format!("127.0.0.1:{}", free_port()?);
    let config = dir.join("distribution.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp: {{addr: {host}}}\n",
            dir.join("regdata").display()
        ),
    )?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting docker-registry (apt-get install docker-registry)")?;
    let p = Process { child, host };
    wait_listening(&p.host)?;
    Ok(p)
}

pub fn start_ours(binary: &Path, dir: &Path) -> anyhow::Result<Process> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("no-auth.yaml");
    std::fs::write(&config, "auth: {enabled: false}\nlog_level: warn\n")?;
    let mut child = Command::new(binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-http", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let host = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("mirror-registry listening on ") {
                    break url.trim_start_matches("http://").to_string();
                }
            }
            _ => bail!("mirror-registry serve exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Process { child, host })
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
