//! STUB (replaced by the helm-render branch).
#![allow(missing_docs, clippy::missing_errors_doc, dead_code)]
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct Error;
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub library: bool,
}
pub struct Chart {
    pub metadata: Metadata,
}
pub fn load(_path: &Path) -> Result<Chart, Error> {
    Err(Error)
}
pub fn pack_dir(_dir: &Path, _out: &Path) -> Result<(), Error> {
    Err(Error)
}
