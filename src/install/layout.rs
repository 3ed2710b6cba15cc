//! Where an install puts things: the data layout under `--quayRoot`, the binary and the unit
//! files (system or user scope), the marker files that let `uninstall` delete only what an
//! installer made, and the config file the service runs with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::target::{self, QuayHostname};
use crate::config::Config;

/// Name of the marker file in every directory an install created (and may therefore delete).
pub const MARKER: &str = ".mirror-registry-install";
/// The registry unit; `quay-app.service` is its alias.
pub const SERVICE: &str = "mirror-registry.service";
/// The garbage-collection unit and its timer.
pub const GC_SERVICE: &str = "mirror-registry-gc.service";
/// See [`GC_SERVICE`].
pub const GC_TIMER: &str = "mirror-registry-gc.timer";

/// System units for root, user units (with lingering) for anyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/etc/systemd/system`, binary in `/usr/local/bin`.
    System,
    /// `~/.config/systemd/user`, binary in `~/.local/bin`.
    User,
}

impl Scope {
    /// Root installs system units; others user units. `MIRROR_REGISTRY_SCOPE=system|user`
    /// overrides (tests, and root wanting a user-scope install for a service account).
    #[must_use]
    pub fn current() -> Scope {
        match std::env::var("MIRROR_REGISTRY_SCOPE").as_deref() {
            Ok("user") => Scope::User,
            Ok("system") => Scope::System,
            _ if nix::unistd::geteuid().is_root() => Scope::System,
            _ => Scope::User,
        }
    }

    /// Where system paths are rooted: `MIRROR_REGISTRY_PREFIX` (like DESTDIR; packaging and
    /// tests), else `/`.
    fn prefix() -> PathBuf {
        std::env::var_os("MIRROR_REGISTRY_PREFIX").map_or_else(|| PathBuf::from("/"), PathBuf::from)
    }

    /// Directory of the unit files.
    ///
    /// # Errors
    /// A user scope without `$HOME`.
    pub fn unit_dir(self) -> anyhow::Result<PathBuf> {
        Ok(match self {
            Scope::System => Self::prefix().join("etc/systemd/system"),
            Scope::User => match std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
                Some(d) => PathBuf::from(d).join("systemd/user"),
                None => target::home()?.join(".config/systemd/user"),
            },
        })
    }

    /// Stable path of the installed binary (units point at it).
    ///
    /// # Errors
    /// A user scope without `$HOME`.
    pub fn binary(self) -> anyhow::Result<PathBuf> {
        Ok(match self {
            Scope::System => Self::prefix().join("usr/local/bin/mirror-registry"),
            Scope::User => target::home()?.join(".local/bin/mirror-registry"),
        })
    }
}

/// The data paths of one install.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `--quayRoot`.
    pub root: PathBuf,
    /// `--quayStorage` (blobs and uploads).
    pub storage: PathBuf,
    /// `--sqliteStorage` (the directory of `registry.db`).
    pub sqlite: PathBuf,
}

impl Layout {
    /// Applies the defaults: `~/quay-install`, and the storage directories inside it.
    ///
    /// # Errors
    /// `~` without `$HOME`.
    pub fn resolve(root: Option<&Path>, storage: Option<&Path>, sqlite: Option<&Path>) -> anyhow::Result<Layout> {
        let root = target::absolute(root.unwrap_or(Path::new("~/quay-install")))?;
        let storage = storage.map_or_else(|| Ok(root.join("quay-storage")), target::absolute)?;
        let sqlite = sqlite.map_or_else(|| Ok(root.join("sqlite-storage")), target::absolute)?;
        Ok(Layout { root, storage, sqlite })
    }

    /// The data paths an existing install's config names (its root is two levels above the config).
    #[must_use]
    pub fn of_config(config_file: &Path, config: &Config) -> Layout {
        let root = config_file.parent().and_then(Path::parent).unwrap_or(Path::new("/")).to_path_buf();
        let sqlite = config.storage.database.parent().unwrap_or(&root).to_path_buf();
        Layout { root, storage: config.storage.blobs.clone(), sqlite }
    }

    /// `quay-config/`.
    #[must_use]
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("quay-config")
    }

    /// `quay-config/config.yaml`.
    #[must_use]
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.yaml")
    }

    /// `quay-config/ssl.cert`.
    #[must_use]
    pub fn cert(&self) -> PathBuf {
        self.config_dir().join("ssl.cert")
    }

    /// `quay-config/ssl.key`.
    #[must_use]
    pub fn key(&self) -> PathBuf {
        self.config_dir().join("ssl.key")
    }

    /// `quay-rootCA/`.
    #[must_use]
    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("quay-rootCA")
    }

    /// The database file.
    #[must_use]
    pub fn database(&self) -> PathBuf {
        self.sqlite.join("registry.db")
    }

    /// `backup/` (one timestamped directory per upgrade).
    #[must_use]
    pub fn backups(&self) -> PathBuf {
        self.root.join("backup")
    }

    /// The directories the service writes to (for `ReadWritePaths=`), without duplicates and
    /// without ones nested in another.
    #[must_use]
    pub fn writable_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for d in [&self.root, &self.storage, &self.sqlite] {
            if !dirs.iter().any(|p| d.starts_with(p)) {
                dirs.retain(|p| !p.starts_with(d));
                dirs.push(d.clone());
            }
        }
        dirs
    }

    /// The config file the service runs with. Background GC is off in `serve`: the GC timer runs
    /// `mirror-registry gc` instead, so collection shows up in the journal as its own unit.
    #[must_use]
    pub fn render_config(&self, quay: &QuayHostname, init_user: &str) -> String {
        let listen = quay.listen_addr();
        let hosts = super::certs::hosts(quay);
        let mut out = String::new();
        let _ = writeln!(out, "# Written by `mirror-registry install`; `upgrade` keeps it. Keys: see the README.");
        let _ = writeln!(out, "listen: {listen:?}");
        let _ = writeln!(out, "log_level: info");
        let _ = writeln!(out, "http:");
        let _ = writeln!(out, "  public_host: {:?}   # token realm and Location headers", quay.to_string());
        let _ = writeln!(out, "tls:");
        let _ = writeln!(out, "  cert: {:?}", self.cert().display().to_string());
        let _ = writeln!(out, "  key: {:?}", self.key().display().to_string());
        let _ = writeln!(out, "  ca_dir: {:?}", self.ca_dir().display().to_string());
        let _ = writeln!(out, "  generate: false");
        let _ = writeln!(out, "  hosts: {hosts:?}");
        let _ = writeln!(out, "auth:");
        let _ = writeln!(out, "  enabled: true");
        let _ = writeln!(out, "  init_user: {init_user:?}");
        let _ = writeln!(out, "storage:");
        let _ = writeln!(out, "  blobs: {:?}", self.storage.display().to_string());
        let _ = writeln!(out, "  database: {:?}", self.database().display().to_string());
        let _ = writeln!(out, "gc:");
        let _ = writeln!(out, "  enabled: false   # {GC_TIMER} runs `mirror-registry gc` hourly");
        out
    }
}

/// What the marker in quayRoot records about the install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marker {
    /// Whether the installer generated the certificates (only those are renewed by `upgrade`).
    pub generated_certificates: bool,
}

impl Marker {
    /// Writes the marker into `dir`.
    ///
    /// # Errors
    /// I/O.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# This directory was created by `mirror-registry install` (version {}); `mirror-registry uninstall`\n\
             # deletes only directories holding this file.\ncertificates: {}\n",
            env!("CARGO_PKG_VERSION"),
            if self.generated_certificates { "generated" } else { "provided" }
        );
        let path = dir.join(MARKER);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads the marker of `dir`, if it has one.
    #[must_use]
    pub fn read(dir: &Path) -> Option<Marker> {
        let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
        Some(Marker { generated_certificates: text.lines().any(|l| l.trim() == "certificates: generated") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_config_loads_with_the_layout_paths() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::resolve(Some(dir.path()), None, Some(&dir.path().join("db dir"))).expect("layout");
        let quay = QuayHostname::parse("registry.example:9443").expect("host");
        std::fs::create_dir_all(layout.config_dir()).expect("mkdir");
        std::fs::write(layout.config_file(), layout.render_config(&quay, "init")).expect("write");
        let config = Config::load(&layout.config_file()).expect("rendered config loads");
        assert_eq!(config.listen, "0.0.0.0:9443");
        assert_eq!(config.storage.database, dir.path().join("db dir/registry.db"));
        assert_eq!(config.tls.hosts, vec!["registry.example".to_string(), "localhost".into()]);
        assert!(!config.gc.enabled && config.auth.enabled);
        let again = Layout::of_config(&layout.config_file(), &config);
        assert_eq!((again.root, again.storage, again.sqlite), (layout.root, layout.storage, layout.sqlite));
    }

    #[test]
    fn writable_dirs_drop_nested_ones() {
        let l = Layout::resolve(Some(Path::new("/srv/q")), Some(Path::new("/data/blobs")), None).expect("layout");
        assert_eq!(l.writable_dirs(), vec![PathBuf::from("/srv/q"), PathBuf::from("/data/blobs")]);
    }

    #[test]
    fn marker_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(Marker::read(dir.path()), None);
        Marker { generated_certificates: true }.write(dir.path()).expect("write");
        assert_eq!(Marker::read(dir.path()), Some(Marker { generated_certificates: true }));
    }
}
