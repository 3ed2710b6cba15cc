//! Owner-only data: every directory the store makes is 0700 and every file 0600, so a local user
//! cannot read an image (or the database) without going through the registry's auth.
//!
//! Three layers, so no single one is relied on: `serve` and the operator commands set the umask
//! to 077 ([`restrict_umask`]); the store creates with explicit modes ([`create_dir`],
//! [`create_file`]); and at start `serve` removes group and other access from data an older
//! version (or a copy made by hand) left wider ([`tighten`]). SQLite creates its `-wal` and
//! `-shm` files with the database file's mode, so those follow the 0600 of `registry.db`.
//!
//! The start-up walk must stay cheap on a store with millions of blobs. It visits every
//! directory, but the files of a directory only when that directory itself was too wide: once a
//! directory is 0700 nobody else can reach its files whatever their mode, so after one start
//! that tightened everything, later starts read a few hundred directory entries and no file.
//! A directory whose link count says it has no subdirectories (2 on ext4, xfs and tmpfs) is not
//! even listed unless it was wide; filesystems that do not count links (btrfs) are listed, which
//! costs a `readdir` and no `stat` per file. Nothing is ever chowned and symlinks are skipped.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::config::Storage;

/// Mode of every directory the store creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the store creates.
pub const FILE_MODE: u32 = 0o600;
/// The bits removed from existing data: everything for group and other.
const WIDE: u32 = 0o077;

/// Sets the process umask to 077, so that whatever this process creates without an explicit
/// mode (SQLite's journal, a directory made by a dependency) is owner-only too.
pub fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(WIDE));
}

/// Creates `path` and its missing parents with mode 0700.
///
/// # Errors
/// I/O failures.
pub fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)
}

/// Options that create a file with mode 0600 (add `write`, `append`, `create_new` as needed).
#[must_use]
pub fn create_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Removes group and other access from the store's data: the blob root and everything under
/// it, the database's directory, and the database with its `-wal`, `-shm` and `-journal` files
/// and anything else in that directory. Returns how many entries were changed. Entries removed
/// meanwhile (a GC running next to a start) are skipped; an entry that cannot be changed (owned
/// by someone else) is logged and skipped, never a reason not to start.
///
/// # Errors
/// When a root exists but cannot be read.
pub fn tighten(storage: &Storage) -> io::Result<u64> {
    let mut changed = 0;
    // The roots themselves may be symlinks an admin made to another disk: follow those.
    if let Ok(meta) = std::fs::metadata(&storage.blobs) {
        changed += tighten_tree(&storage.blobs, &meta)?;
    }
    if let Some(dir) = storage.database.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(meta) = std::fs::metadata(dir)
        && meta.is_dir()
    {
        // Its files are few (the database, its journals, the space reserve): always looked at.
        changed += u64::from(tighten_entry(dir, &meta));
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(meta) = entry.path().symlink_metadata()
                && meta.is_file()
            {
                changed += u64::from(tighten_entry(&entry.path(), &meta));
            }
        }
    }
    Ok(changed)
}

/// Tightens a directory, then its subdirectories, and its files when it was wide itself.
fn tighten_tree(dir: &Path, meta: &std::fs::Metadata) -> io::Result<u64> {
    let was_wide = meta.mode() & WIDE != 0;
    let mut changed = u64::from(tighten_entry(dir, meta));
    // Link count 2: no subdirectories, so a tight directory has nothing for us to visit.
    if !was_wide && meta.nlink() == 2 {
        return Ok(changed);
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(changed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            match entry.path().symlink_metadata() {
                Ok(meta) => changed += tighten_tree(&entry.path(), &meta)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else if kind.is_file() && was_wide {
            match entry.path().symlink_metadata() {
                Ok(meta) => changed += u64::from(tighten_entry(&entry.path(), &meta)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(changed)
}

/// Removes group and other bits from one entry; whether it changed anything.
fn tighten_entry(path: &Path, meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode() & 0o7777;
    if mode & WIDE == 0 {
        return false;
    }
    match std::fs::set_permissions(path, Permissions::from_mode(mode & !WIDE)) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove group and other access");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Storage;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("stat").mode() & 0o777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
    }

    /// Wide data is tightened, once; what was tight stays untouched, and so do symlinks and
    /// what they point at.
    #[test]
    fn wide_data_is_tightened_once_and_only_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Storage::under(dir.path());
        let leaf = storage.blobs.join("blobs/sha256/ab");
        std::fs::create_dir_all(&leaf).expect("mkdir");
        std::fs::create_dir_all(storage.blobs.join("uploads")).expect("mkdir");
        let db_dir = storage.database.parent().expect("parent").to_path_buf();
        std::fs::create_dir_all(&db_dir).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not ours").expect("write");
        let files = [
            leaf.join("ab12"),
            storage.blobs.join("uploads/u1"),
            storage.database.clone(),
            db_dir.join("registry.db-wal"),
        ];
        for f in &files {
            std::fs::write(f, b"x").expect("write");
            set(f, 0o644);
        }
        std::os::unix::fs::symlink(&outside, leaf.join("link")).expect("symlink");
        set(&outside, 0o644);
        let uploads = storage.blobs.join("uploads");
        for d in [
            &storage.blobs,
            &storage.blobs.join("blobs"),
            &storage.blobs.join("blobs/sha256"),
            &leaf,
            &uploads,
            &db_dir,
        ] {
            set(d, 0o755);
        }
        // A tight directory holding a wide file: unreachable by others, so left alone (not listed).
        let tight = storage.blobs.join("blobs/sha256/cd");
        std::fs::create_dir_all(&tight).expect("mkdir");
        set(&tight, 0o700);
        std::fs::write(tight.join("cd34"), b"x").expect("write");
        set(&tight.join("cd34"), 0o644);

        let changed = tighten(&storage).expect("tighten");
        assert_eq!(changed, 6 + files.len() as u64, "six directories and the files");
        for d in [&storage.blobs, &leaf, &db_dir, &uploads] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&outside), 0o644, "a symlink's target is not ours to change");
        assert_eq!(mode(&tight.join("cd34")), 0o644, "files of a tight directory are not visited");
        assert_eq!(tighten(&storage).expect("again"), 0, "a second start changes nothing");
    }

    #[test]
    fn created_entries_are_owner_only_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("a/b");
        create_dir(&nested).expect("mkdir");
        create_file().write(true).create_new(true).open(nested.join("f")).expect("create");
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&nested.join("f")), 0o600);
    }
}
