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

    /// Runs `mirror-registry mirror` with the test's auth file and a cache under `cache`, source
    /// certificates unchecked, and 2 attempts per request 100 ms apart.
    pub fn mirror(&self, cache: &str, args: &[&str]) -> Output {
        self.mirror_env(cache, args, &[])
    }

    /// [`Workspace::mirror`] with extra environment variables.
    pub fn mirror_env(&self, cache: &str, args: &[&str], env: &[(String, String)]) -> Output {
        self.run(cache, &["--src-tls-verify=false", "--retry-times", "2", "--retry-delay", "100ms"], args, env)
    }

    /// [`Workspace::mirror`] with `--retry-times` and `--retry-delay` other than the tests' 2
    /// and 100ms.
    pub fn mirror_retrying(&self, cache: &str, times: &str, delay: &str, args: &[&str]) -> Output {
        self.run(cache, &["--src-tls-verify=false", "--retry-times", times, "--retry-delay", delay], args, &[])
    }

    /// [`Workspace::mirror`] checking the source's certificate (the other runs do not).
    pub fn mirror_verifying_source(&self, cache: &str, args: &[&str]) -> Output {
        self.run(cache, &["--retry-times", "2", "--retry-delay", "100ms"], args, &[])
    }

    /// Runs the binary with the test's auth file and cache, then `defaults`, then `args`.
    fn run(&self, cache: &str, defaults: &[&str], args: &[&str], env: &[(String, String)]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
            .arg("mirror")
            .arg("--authfile")
            .arg(self.path("auth.json"))
            .arg("--cache-dir")
            .arg(self.path(cache))
            .args(defaults)
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

/// The `mirror:` section of an image set of `names` as `additionalImages`.
pub fn images(names: &[String]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("mirror:\n  additionalImages:\n");
    for n in names {
        let _ = writeln!(s, "  - name: {n}");
    }
    s
}

/// The member names of a tar file, in order.
pub fn tar_members(path: &Path) -> Vec<String> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).expect("open archive"));
    archive
        .entries()
        .expect("entries")
        .map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned())
        .collect()
}

/// The `mirror_*.tar` files in `dir`, in order.
pub fn archives(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("mirror_") && n.to_ascii_lowercase().ends_with(".tar"))
        })
        .collect();
    out.sort();
    out
}

/// The digests of the blobs a tar file holds, sorted.
pub fn blob_members(path: &Path) -> Vec<String> {
    let mut out: Vec<String> = tar_members(path)
        .into_iter()
        .filter_map(|m| {
            let rest = m.strip_prefix("docker/registry/v2/blobs/sha256/")?;
            let hex = rest.split('/').nth(1)?;
            Some(format!("sha256:{hex}"))
        })
        .collect();
    out.sort();
    out
}
