//! Helm charts: loading, rendering like `helm template`, and the container images they deploy.

pub mod chart;
pub mod images;
pub mod render;
