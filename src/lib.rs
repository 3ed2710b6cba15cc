//! mirror-registry: a small, self-hosted container registry appliance for disconnected
//! `OpenShift` and Kubernetes installs.
//!
//! Calls go one way: `cli` → `serve`/`registry` → `store` → `reference`/`manifest`.
//! See ARCHITECTURE.md in the shared docs and the README for the shape and the invariants.

pub mod accounts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod duration;
pub mod install;
pub mod ip_range;
pub mod manifest;
pub mod metrics;
pub mod mirror;
pub mod operate;
pub mod reference;
pub mod registry;
pub mod serve;
pub mod store;
pub mod tls;
