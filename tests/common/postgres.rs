//! A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, `postgres` on a free
//! loopback port with `fsync=off`, one database per test. Shared by the integration tests
//! (`common::postgres`) and the library's unit tests (`store::sql::testing`), so it uses
//! nothing but std, `nix` and `tempfile`.
//!
//! One cluster per test binary ([`cluster`]), started on first use. PostgreSQL refuses to run as
//! root: then the data directory is given to the `postgres` user (the Debian package creates it)
//! and the server runs through `runuser`. A static is never dropped, so a reaper process holds
//! the read end of a pipe whose write end only this process has: when the test binary exits,
//! however it exits, the reaper sees end-of-file, stops the server and removes its directory.
//!
//! Missing PostgreSQL binaries fail the test under `CI=true`, and skip it (saying why) elsewhere.
#![allow(dead_code)] // each includer (tests, the library's tests, the bench) uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running cluster.
pub struct Cluster {
    /// Where the `initdb`, `postgres` and `createdb` binaries are.
    bin: PathBuf,
    /// Loopback port it listens on.
    pub port: u16,
    /// Data directory (and socket directory) under a temp dir.
    data: PathBuf,
    /// `runuser -u postgres --` when running as root.
    as_postgres: bool,
    server: Child,
    /// Kept open for the reaper; closed when the process exits.
    _reaper: Option<ChildStdin>,
    _dir: tempfile::TempDir,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn find_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The shared cluster of this test binary, or `None` when PostgreSQL is not installed (the
/// caller skips; under `CI=true` this panics instead).
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| {
            let Some(bin) = find_binaries() else {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL is required when CI=true (apt-get install postgresql; see .ci/run)"
                );
                eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql to run this test)");
                return None;
            };
            Some(Cluster::start(&bin))
        })
        .as_ref()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind an ephemeral port").port()
}

/// Reads the server's log until it accepts connections, then keeps draining it on a thread so
/// the server never blocks on a full pipe.
fn wait_until_ready(server: &mut Child) {
    let stderr = server.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.contains("ready to accept connections");
                log.push(line);
                if ready {
                    break;
                }
            }
            _ => panic!("postgres exited before it was ready:\n{}", log.join("\n")),
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
}

/// The pid of the server itself (not of `runuser`), from its pid file.
fn server_pid(data: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// A process that stops the server and removes `root` once this process is gone: it waits for
/// end-of-file on a pipe whose write end is returned.
#[allow(clippy::zombie_processes)] // it must outlive this process; init adopts and reaps it
fn spawn_reaper(data: &Path, root: &Path) -> Option<ChildStdin> {
    let pid = server_pid(data).expect("postmaster.pid once ready");
    let script = format!(
        "read _; kill -TERM {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; rm -rf '{}'",
        root.display()
    );
    let mut reaper = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the reaper");
    reaper.stdin.take()
}

/// `program` from `bin`, run as the `postgres` user when `as_postgres`.
fn command(bin: &Path, as_postgres: bool, program: &str) -> Command {
    let path = bin.join(program);
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

impl Cluster {
    /// Creates and starts a cluster; panics when that fails (the binaries are there).
    #[must_use]
    pub fn start(bin: &Path) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let as_postgres = nix::unistd::geteuid().is_root();
        if as_postgres {
            let user = nix::unistd::User::from_name("postgres")
                .expect("read the user database")
                .expect("a postgres system user (the Debian postgresql package creates it)");
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown the cluster dir");
        }
        let init = command(bin, as_postgres, "initdb")
            .args(["--no-sync", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        let port = free_port();
        let mut server = command(bin, as_postgres, "postgres")
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn postgres");
        wait_until_ready(&mut server);
        let reaper = spawn_reaper(&data, dir.path());
        Cluster { bin: bin.to_path_buf(), port, data, as_postgres, server, _reaper: reaper, _dir: dir }
    }

    /// Turns TLS on with this certificate (leaf then chain, PEM) and key: `ssl = on` and a
    /// configuration reload. Plain connections keep working, so other tests are unaffected.
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        for (name, text, mode) in [("server.crt", cert_pem, 0o644), ("server.key", key_pem, 0o600)] {
            let path = self.data.join(name);
            std::fs::write(&path, text).expect("write a TLS file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            if self.as_postgres {
                let user = nix::unistd::User::from_name("postgres").expect("users").expect("postgres user");
                nix::unistd::chown(&path, Some(user.uid), Some(user.gid)).expect("chown a TLS file");
            }
        }
        for sql in ["ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()"] {
            let out = Command::new(self.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-c", sql])
                .output()
                .expect("run psql");
            assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        }
        // The reload is asynchronous: wait until a new session sees it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let out = Command::new(self.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres"])
                .args(["-tAc", "SHOW ssl"])
                .output()
                .expect("run psql");
            if String::from_utf8_lossy(&out.stdout).trim() == "on" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("PostgreSQL did not turn TLS on");
    }

    /// Creates an empty database; returns its URL (user `postgres`, no password: trust auth).
    #[must_use]
    pub fn create_database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        let out = command(&self.bin, self.as_postgres, "createdb")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .output()
            .expect("run createdb");
        assert!(out.status.success(), "createdb: {}", String::from_utf8_lossy(&out.stderr));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(pid) = server_pid(&self.data) {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = self.server.wait();
    }
}
