//! One mirror run's files (configuration, auth file, cache, working dirs) in a temp dir, and
//! the built binary run against them.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Everything one mirror run keeps on disk: config, auth file, cache, working dirs.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let ws = Workspace { dir: tempfile::tempdir().expect("temp dir") };
        std::fs::write(ws.path("auth.json"), r#"{"auths":{}}"#).expect("auth file");
        ws
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_isc(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n{body}"))
            .expect("write isc");
        path
    }

    /// Runs `mirror-registry mirror` with the test's auth file and a cache under `cache`.
    pub fn mirror(&self, cache: &str, args: &[&str]) -> Output {
        self.mirror_env(cache, args, &[])
    }

    /// [`Workspace::mirror`] with extra environment variables.
    pub fn mirror_env(&self, cache: &str, args: &[&str], env: &[(String, String)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .arg("mirror")
            .arg("--authfile")
            .arg(self.path("auth.json"))
            .arg("--cache-dir")
            .arg(self.path(cache))
            .args(["--src-tls-verify=false", "--retry-delay", "100ms", "--retry-times", "2"])
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run mirror");
        eprintln!("--- mirror {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        out
    }
}

impl Workspace {
    /// Runs `mirror-registry mirror delete` with the test's auth file and a cache under `cache`.
    pub fn delete(&self, cache: &str, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .args(["mirror", "delete", "--authfile"])
            .arg(self.path("auth.json"))
            .arg("--cache-dir")
            .arg(self.path(cache))
            .args(["--retry-delay", "100ms", "--retry-times", "2"])
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("RUST_LOG")
            .output()
            .expect("run mirror delete");
        eprintln!(
            "--- mirror delete {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Writes a DeleteImageSetConfiguration with `body` (the `delete:` section).
    pub fn write_delete_isc(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(
            &path,
            format!("kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n{body}"),
        )
        .expect("write delete isc");
        path
    }
}

/// The run's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `file://` and the path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The run's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
