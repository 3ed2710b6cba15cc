//! podman for tests, sandboxed: vfs storage, cgroupfs, file events and its own auth file, all
//! configured through files in a temp dir (never the machine's global config). See TESTING.md.

use std::path::Path;
use std::process::{Command, Output};

/// A private podman setup: storage, config and auth file under one temp dir.
pub struct Podman {
    /// Its config, storage, auth file and temp dir.
    pub dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = dir.path();
        std::fs::create_dir_all(t.join("tmp")).expect("tmp");
        std::fs::write(
            t.join("containers.conf"),
            format!(
                "[containers]\nnetns=\"host\"\ncgroups=\"disabled\"\n[engine]\ncgroup_manager=\"cgroupfs\"\nevents_logger=\"file\"\nevents_logfile_path=\"{0}/events.log\"\ntmp_dir=\"{0}/tmp\"\n",
                t.display()
            ),
        )
        .expect("containers.conf");
        std::fs::write(
            t.join("storage.conf"),
            format!("[storage]\ndriver=\"vfs\"\ngraphroot=\"{0}/storage\"\nrunroot=\"{0}/run\"\n", t.display()),
        )
        .expect("storage.conf");
        std::fs::write(t.join("registries.conf"), "unqualified-search-registries = []\n").expect("registries.conf");
        Podman { dir }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    /// Runs podman with `input` on its stdin (`--password-stdin`).
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let t = self.dir.path();
        super::output_with_stdin(
            Command::new("podman")
                .args(args)
                .env("CONTAINERS_CONF", t.join("containers.conf"))
                .env("CONTAINERS_STORAGE_CONF", t.join("storage.conf"))
                .env("CONTAINERS_REGISTRIES_CONF", t.join("registries.conf"))
                .env("REGISTRY_AUTH_FILE", t.join("auth.json"))
                .env("TMPDIR", t.join("tmp")),
            input,
        )
    }

    /// `podman login` trusting `ca` (as `--cert-dir` wants it), the password on stdin.
    pub fn login(&self, host: &str, ca: &Path, user: &str, password: &str) -> Output {
        let certs = self.dir.path().join("login-certs");
        std::fs::create_dir_all(&certs).expect("certs");
        std::fs::copy(ca, certs.join("ca.crt")).expect("ca");
        let certs = certs.to_str().expect("utf-8").to_string();
        self.run_with_stdin(&["login", "--cert-dir", &certs, "-u", user, "--password-stdin", host], password)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "podman {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Makes a one-layer image `localhost/hello:v1` from a tarball, with no network or engine.
    pub fn make_image(&self, content: &str) {
        let t = self.dir.path();
        let root = t.join("rootfs");
        std::fs::create_dir_all(&root).expect("rootfs");
        std::fs::write(root.join("hello.txt"), content).expect("file");
        let tar = t.join("rootfs.tar");
        let status = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status().expect("tar");
        assert!(status.success());
        self.ok(&["import", tar.to_str().expect("utf-8"), "localhost/hello:v1"]);
    }
}
