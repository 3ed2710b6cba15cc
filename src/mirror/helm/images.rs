//! STUB
#![allow(missing_docs, clippy::missing_errors_doc)]
use super::chart::{Chart, Error};
pub struct ChartImages {
    pub name: String,
    pub version: String,
    pub images: Vec<String>,
    pub warnings: Vec<String>,
}
pub fn chart_images(
    _chart: &Chart,
    _values: Option<&serde_yaml::Value>,
    _image_paths: &[String],
) -> Result<ChartImages, Error> {
    Err(Error)
}
