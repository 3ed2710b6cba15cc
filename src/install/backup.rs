//! The backup `upgrade` takes before it changes anything: the database through SQLite's online
//! backup API (a consistent copy even with a WAL), the config, the certificates and the binary,
//! in `<quayRoot>/backup/<timestamp>/`; and putting them back when the upgrade fails.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::layout::Layout;
use crate::tls;

/// One backup directory and where each file in it came from.
#[derive(Debug)]
pub struct Backup {
    /// `<quayRoot>/backup/<timestamp>`.
    pub dir: PathBuf,
    database: PathBuf,
    /// (original path, copy in `dir`), for everything but the database.
    files: Vec<(PathBuf, PathBuf)>,
}

fn timestamp() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc().format(&format).unwrap_or_else(|_| "backup".into())
}

/// Copies the database with SQLite's backup API (pages copied under a read transaction).
///
/// # Errors
/// Database failures.
pub fn copy_database(from: &Path, to: &Path) -> anyhow::Result<()> {
    let src = rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", from.display()))?;
    tls::write_private(to, b"")?;
    let mut dst = rusqlite::Connection::open(to).with_context(|| format!("creating {}", to.display()))?;
    rusqlite::backup::Backup::new(&src, &mut dst)?
        .run_to_completion(1024, std::time::Duration::ZERO, None)
        .with_context(|| format!("backing up {} to {}", from.display(), to.display()))?;
    Ok(())
}

impl Backup {
    /// Backs up the install's database, config, certificates and `binary` (when present).
    ///
    /// # Errors
    /// I/O or database failures; a partial backup directory is removed.
    pub fn create(layout: &Layout, binary: &Path) -> anyhow::Result<Backup> {
        let base = layout.backups();
        let stamp = timestamp();
        let mut dir = base.join(&stamp);
        for n in 1.. {
            if !dir.exists() {
                break;
            }
            dir = base.join(format!("{stamp}-{n}"));
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let backup = Backup { database: dir.join("registry.db"), files: Vec::new(), dir: dir.clone() };
        backup.fill(layout, binary).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })
    }

    fn fill(mut self, layout: &Layout, binary: &Path) -> anyhow::Result<Backup> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        copy_database(&layout.database(), &self.database)?;
        for (from, name) in [
            (layout.config_file(), "config.yaml"),
            (layout.cert(), "ssl.cert"),
            (layout.key(), "ssl.key"),
            (layout.ca_dir().join("rootCA.pem"), "rootCA.pem"),
            (layout.ca_dir().join("rootCA.key"), "rootCA.key"),
            (layout.root.join(super::layout::MARKER), "marker"),
            (binary.to_path_buf(), "mirror-registry"),
        ] {
            if from.exists() {
                let to = self.dir.join(name);
                std::fs::copy(&from, &to).with_context(|| format!("backing up {}", from.display()))?;
                self.files.push((from, to));
            }
        }
        Ok(self)
    }

    /// Puts everything back: the database (dropping its WAL and shared-memory files, which
    /// belong to the replaced copy), then the other files, each through a rename.
    ///
    /// # Errors
    /// I/O failures.
    pub fn restore(&self, layout: &Layout) -> anyhow::Result<()> {
        let db = layout.database();
        let tmp = db.with_extension("db.restore");
        std::fs::copy(&self.database, &tmp).with_context(|| format!("copying {}", self.database.display()))?;
        for suffix in ["-wal", "-shm"] {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
        std::fs::rename(&tmp, &db).with_context(|| format!("restoring {}", db.display()))?;
        for (original, copy) in &self.files {
            let tmp = original.with_extension("restore");
            std::fs::copy(copy, &tmp).with_context(|| format!("copying {}", copy.display()))?;
            std::fs::rename(&tmp, original).with_context(|| format!("restoring {}", original.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_and_restore_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::resolve(Some(dir.path()), None, None).expect("layout");
        std::fs::create_dir_all(&layout.sqlite).expect("mkdir");
        std::fs::create_dir_all(layout.config_dir()).expect("mkdir");
        let conn = rusqlite::Connection::open(layout.database()).expect("open");
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);").expect("sql");
        std::fs::write(layout.config_file(), "listen: 1\n").expect("write");
        let bin = dir.path().join("bin");
        std::fs::write(&bin, "old binary").expect("write");

        let backup = Backup::create(&layout, &bin).expect("backup");
        conn.execute_batch("INSERT INTO t VALUES (2);").expect("sql");
        drop(conn);
        std::fs::write(layout.config_file(), "listen: 2\n").expect("write");
        std::fs::write(&bin, "new binary").expect("write");
        backup.restore(&layout).expect("restore");

        let conn = rusqlite::Connection::open(layout.database()).expect("open");
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 1, "the row written after the backup is gone");
        assert_eq!(std::fs::read_to_string(layout.config_file()).expect("read"), "listen: 1\n");
        assert_eq!(std::fs::read_to_string(&bin).expect("read"), "old binary");
        assert!(backup.dir.starts_with(layout.backups()));
    }
}
