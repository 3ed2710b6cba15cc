//! Inputs on disk: the seed corpus (`fuzz/corpus/<target>/*`, real inputs: references, manifests
//! from the tests, an ImageSetConfiguration from the README, headers) and the crashes a run
//! saved (`fuzz/crashes/<target>-<hash>`), which every later run tries first.

use std::path::{Path, PathBuf};

/// `fuzz/` of this source tree.
#[must_use]
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Saved crashes of `target`, then its seeds: what a run starts from.
///
/// # Errors
/// When a directory or file cannot be read (a missing directory is empty).
pub fn load(root: &Path, target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let mut inputs = crashes(root, target)?;
    inputs.extend(seeds(root, target)?);
    Ok(inputs)
}

/// The seed corpus of `target`.
///
/// # Errors
/// When a directory or file cannot be read (a missing directory is empty).
pub fn seeds(root: &Path, target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    files(&root.join("corpus").join(target))?.into_iter().map(std::fs::read).collect()
}

/// The crashes saved for `target`.
///
/// # Errors
/// When a directory or file cannot be read (a missing directory is empty).
pub fn crashes(root: &Path, target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let prefix = format!("{target}-");
    files(&root.join("crashes"))?
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)))
        .map(std::fs::read)
        .collect()
}

fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    Ok(paths)
}

/// FNV-1a of the input: a stable name for a saved crash.
#[must_use]
pub fn fingerprint(data: &[u8]) -> String {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// Saves a crashing input as `crashes/<target>-<hash>`; returns its path.
///
/// # Errors
/// When the file cannot be written.
pub fn save_crash(root: &Path, target: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    let dir = root.join("crashes");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{target}-{}", fingerprint(input)));
    std::fs::write(&path, input)?;
    Ok(path)
}
