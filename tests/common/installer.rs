//! Support for the installer's integration tests: stub system tools and a throwaway `sshd`.
//!
//! [`Stubs`] puts the shell stubs of `tests/stubs/` (`systemctl`, `loginctl`, `firewall-cmd`,
//! `selinuxenabled`, `restorecon`) in front of `PATH`. Every stub call is appended to
//! `$STUB_STATE/calls.log`; the `systemctl` stub runs a `.service` unit's `ExecStart=` as a plain
//! background process (pid in `$STUB_STATE/UNIT.pid`, output in `$STUB_STATE/UNIT.log`). Unit
//! files are looked up in `$HOME/.config/systemd/user/` and then in
//! `$MIRROR_REGISTRY_PREFIX/etc/systemd/system/`.
//!
//! [`Sshd`] runs `/usr/sbin/sshd` on loopback with key-only login for the current user, so the
//! installer's remote mode can be driven over real SSH. Its `SetEnv` entries reach the session,
//! but the login shell still runs the user's `~/.bashrc` (Debian's bash does so for SSH
//! sessions) and that may prepend to `PATH`; so unless the caller sets `HOME`, sessions get
//! `HOME=<temp dir>/home`, an empty home, and `PATH` arrives as given.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the stub scripts live.
pub const STUBS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stubs");

/// Where Debian installs the SSH daemon (not on a normal user's `PATH`).
pub const SSHD: &str = "/usr/sbin/sshd";

/// The stub tools plus a fresh state dir (`STUB_STATE`) recording their calls.
pub struct Stubs {
    /// The dir holding the stub executables.
    pub dir: PathBuf,
    /// The state dir: `calls.log`, `UNIT.pid`, `UNIT.log`, and the `fail-start`,
    /// `no-firewalld` and `selinux` switches.
    pub state: tempfile::TempDir,
}

impl Stubs {
    /// Stubs with an empty state dir.
    pub fn new() -> Stubs {
        Stubs { dir: PathBuf::from(STUBS_DIR), state: tempfile::tempdir().expect("stub state dir") }
    }

    /// `PATH` with the stubs dir in front of the current `PATH`.
    pub fn path_env(&self) -> String {
        format!("{}:{}", self.dir.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// The state dir, for `STUB_STATE`.
    pub fn state_env(&self) -> String {
        self.state.path().display().to_string()
    }

    /// Every stub call so far, one `tool args...` line each.
    pub fn calls(&self) -> Vec<String> {
        match std::fs::read_to_string(self.state.path().join("calls.log")) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read calls.log: {e}"),
        }
    }

    /// Makes the next `n` starts of a `.service` unit fail (exit 1).
    pub fn fail_next_starts(&self, n: u32) {
        std::fs::write(self.state.path().join("fail-start"), format!("{n}\n")).expect("write fail-start");
    }

    /// Makes `firewall-cmd --state` report firewalld as not running (exit 252).
    pub fn set_no_firewalld(&self) {
        std::fs::write(self.state.path().join("no-firewalld"), "").expect("write no-firewalld");
    }

    /// Makes `selinuxenabled` report SELinux as enabled.
    pub fn set_selinux(&self) {
        std::fs::write(self.state.path().join("selinux"), "").expect("write selinux");
    }

    /// Kills (SIGKILL) every process the `systemctl` stub started and removes its pid file.
    pub fn stop_all(&self) {
        let Ok(entries) = std::fs::read_dir(self.state.path()) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "pid") {
                continue;
            }
            if let Some(pid) = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok()) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
            }
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl Default for Stubs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// An `sshd` on `127.0.0.1` accepting the current user with [`Sshd::key`], killed on drop.
pub struct Sshd {
    /// The port it listens on (on 127.0.0.1).
    pub port: u16,
    /// The client private key that logs in.
    pub key: PathBuf,
    /// `HOME` in sessions: the caller's `HOME` from `set_env`, else an empty temp dir.
    pub home: PathBuf,
    /// The user that logs in: the current one (`id -un`).
    pub user: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts `sshd` with one `SetEnv` entry per `set_env` pair (values must not hold `"` or a
    /// newline). Returns `None` (after saying why on stderr) when sshd or ssh-keygen is not
    /// installed outside CI; under `CI=true` that is a panic.
    pub fn start(set_env: &[(&str, &str)]) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{SSHD} is required when CI=true (apt-get install openssh-server)"
            );
            eprintln!("SKIPPED: {SSHD} is not installed (apt-get install openssh-server to run this test)");
            return None;
        }
        if !super::require_tool("ssh-keygen") || !super::require_tool("ssh") {
            return None;
        }
        let dir = tempfile::tempdir().expect("sshd temp dir");
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("client_key");
        for k in [&host_key, &key] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "mirror-registry-test", "-f"])
                .arg(k)
                .stdin(Stdio::null())
                .status()
                .expect("run ssh-keygen");
            assert!(status.success(), "ssh-keygen -f {} failed: {status}", k.display());
        }
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized_keys).expect("write authorized_keys");

        let mut env: Vec<(String, String)> =
            set_env.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        let home = if let Some((_, h)) = env.iter().find(|(k, _)| k == "HOME") {
            PathBuf::from(h)
        } else {
            let h = dir.path().join("home");
            std::fs::create_dir(&h).expect("create session home");
            env.push(("HOME".into(), h.display().to_string()));
            h
        };

        let port = super::free_port();
        let d = dir.path().display();
        let mut config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {d}/sshd.pid\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nUsePAM no\n",
            host_key.display(),
            authorized_keys.display(),
        );
        // sshd keeps only the first SetEnv line, so every entry goes on one line.
        config.push_str("SetEnv");
        for (k, v) in &env {
            assert!(!k.is_empty() && !format!("{k}{v}").contains(['"', '\n']), "unusable SetEnv entry {k}={v}");
            let _ = write!(config, " \"{k}={v}\"");
        }
        config.push('\n');
        let config_path = dir.path().join("sshd_config");
        std::fs::write(&config_path, config).expect("write sshd_config");

        // The privilege-separation dir sshd insists on; systemd normally creates it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = std::fs::File::create(dir.path().join("sshd.log")).expect("create sshd.log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn sshd");
        let mut sshd = Sshd { port, key, home, user: current_user(), child, dir };
        sshd.wait_ready();
        Some(sshd)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            let exited = self.child.try_wait().expect("poll sshd");
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "sshd on port {} never became ready ({exited:?}); its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What sshd has logged so far (`-e`: to its log file), for assertion messages.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("sshd.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// `user@127.0.0.1`.
    pub fn destination(&self) -> String {
        format!("{}@127.0.0.1", self.user)
    }

    /// Writes (once more) and returns an ssh client config: no host-key checks or known_hosts,
    /// quiet logging, batch mode, and for `127.0.0.1`/`localhost` this server's port, the
    /// current user and [`Sshd::key`]. Use it with `ssh -F`; ssh reads `~/.ssh/config` from the
    /// passwd home dir, not from `$HOME`.
    pub fn ssh_config(&self) -> PathBuf {
        let path = self.dir.path().join("ssh_config");
        let text = format!(
            "Host 127.0.0.1 localhost\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n\n\
             Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n",
            self.port,
            self.user,
            self.key.display()
        );
        std::fs::write(&path, text).expect("write ssh client config");
        path
    }

    /// `ssh -F <config> -i <key> -p <port> user@127.0.0.1`, ready for the remote command args.
    pub fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(self.ssh_config())
            .arg("-i")
            .arg(&self.key)
            .args(["-p", &self.port.to_string()])
            .arg(self.destination())
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The current user's name (`id -un`).
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(out.status.success(), "id -un failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
