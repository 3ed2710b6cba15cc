//! Room kept for the database on a full disk, so that deletes and garbage collection still
//! commit when something filled the filesystem (issue #12).
//!
//! A preallocated file, `<database>.reserve` (8 MiB), sits beside the database. Before each write
//! transaction the free space of the database's filesystem is read (one `statvfs`): below the
//! reserve's size the file is deleted, which gives that transaction and the ones after it room
//! to commit. Deletes and GC then free space, and once three times the reserve is free again the
//! file is made anew. Every process that opens the store (`serve`, `gc`, `fsck`) follows the same
//! rule on the same file, so a `gc` run next to a stuck server can use it too.
//!
//! Upload data never gets this far: uploads are refused while the blob filesystem has less than
//! `limits.min_free_bytes` free, so on one filesystem the reserve is only reached when something
//! else filled the disk. On copy-on-write filesystems (btrfs, ZFS) deleting a file may not free
//! its blocks at once; there the reserve helps less.

use std::io;
use std::path::{Path, PathBuf};

use super::permissions::create_file;

/// Size of the reserve: room for many delete and GC transactions (a sweep batch writes well
/// under 1 MiB of WAL).
pub const RESERVE_BYTES: u64 = 8 << 20;

/// What to do with the reserve given the free space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Keep,
    Release,
    Create,
}

/// The rule, with hysteresis: released below one reserve of free space, made again from three.
fn decide(free: u64, exists: bool, size: u64) -> Action {
    match (exists, free) {
        (true, f) if f < size => Action::Release,
        (false, f) if f >= 3 * size => Action::Create,
        _ => Action::Keep,
    }
}

/// The reserve file of one database.
#[derive(Debug)]
pub struct Reserve {
    path: PathBuf,
    size: u64,
}

impl Reserve {
    /// The reserve beside `database`.
    #[must_use]
    pub fn beside(database: &Path) -> Reserve {
        let mut name = database.as_os_str().to_owned();
        name.push(".reserve");
        Reserve { path: PathBuf::from(name), size: RESERVE_BYTES }
    }

    /// Where the file is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Releases or makes the reserve as the free space asks. Never fails: a reserve that cannot
    /// be read about or made is logged and the transaction goes ahead as it would without one.
    pub fn settle(&self) {
        let Some(dir) = self.path.parent() else { return };
        let free = match free_space(dir) {
            Ok(free) => free,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the free space of the database's filesystem");
                return;
            }
        };
        let exists = self.path.exists();
        match decide(free, exists, self.size) {
            Action::Keep => {}
            Action::Release => match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::warn!(
                    free,
                    "the database's disk is almost full: released its reserve so that deletes and gc can commit"
                ),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(error = %e, "cannot release the database's space reserve"),
            },
            Action::Create => match self.create() {
                Ok(()) => {
                    tracing::info!(bytes = self.size, path = %self.path.display(), "space reserve for the database in place");
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&self.path);
                    tracing::warn!(error = %e, "cannot make the database's space reserve");
                }
            },
        }
    }

    fn create(&self) -> io::Result<()> {
        let file = create_file().write(true).create(true).truncate(false).open(&self.path)?;
        // Real blocks, not a sparse file: freeing a sparse file would free nothing.
        let len = i64::try_from(self.size).unwrap_or(i64::MAX);
        nix::fcntl::posix_fallocate(&file, 0, len).map_err(io::Error::from)?;
        file.sync_all()
    }
}

/// Bytes an unprivileged process may still write on the filesystem holding `path`.
///
/// # Errors
/// When `statvfs` fails.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let v = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(v.blocks_available().saturating_mul(v.fragment_size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_when_nearly_full_and_made_again_only_with_room_to_spare() {
        let mib = 1 << 20;
        let cases = [
            ("plenty of room, in place", 100 * mib, true, Action::Keep),
            ("below one reserve: release", 4 * mib, true, Action::Release),
            ("disk full: release", 0, true, Action::Release),
            ("released, still short: wait", 20 * mib, false, Action::Keep),
            ("released, room again: make", 24 * mib, false, Action::Create),
            ("already released and full", 0, false, Action::Keep),
        ];
        for (name, free, exists, expected) in cases {
            assert_eq!(decide(free, exists, 8 * mib), expected, "case {name}");
        }
    }

    /// The file holds real blocks of its full size, owner-only; `settle` leaves it in place with
    /// room to spare, and makes it again after it was removed.
    #[test]
    fn made_with_real_blocks_and_made_again() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("temp dir");
        let reserve = Reserve::beside(&dir.path().join("registry.db"));
        assert_eq!(reserve.path(), dir.path().join("registry.db.reserve"));
        if free_space(dir.path()).expect("statvfs") < 3 * RESERVE_BYTES {
            eprintln!("SKIPPED: less than 24 MiB free in the temp dir");
            return;
        }
        for round in ["first", "after removal"] {
            reserve.settle();
            let meta = std::fs::metadata(reserve.path()).unwrap_or_else(|e| panic!("{round}: {e}"));
            assert_eq!(meta.len(), RESERVE_BYTES, "{round}");
            assert!(meta.blocks() * 512 >= RESERVE_BYTES, "{round}: allocated, not sparse");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{round}");
            std::fs::remove_file(reserve.path()).expect("remove");
        }
    }
}
