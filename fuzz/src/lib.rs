//! Fuzz targets and a small fuzzing engine for mirror-registry's parsers of untrusted input:
//! references, manifests, ImageSetConfiguration files, `Range`/`Content-Range` headers and
//! `Authorization` headers. Runs on the stable toolchain.
//!
//! - [`targets`]: one function per parser, asserting the properties its result must have
//! - [`engine`]: mutation, panic capture, crash minimization
//! - [`corpus`]: seed inputs and saved crashes on disk
//!
//! The `fuzz` binary (`fuzz/run.sh`) runs targets for a set time; `tests/smoke.rs` runs each
//! briefly in `cargo test`, and `tests/properties.rs` holds proptest properties generated from
//! the grammars.

pub mod corpus;
pub mod engine;
pub mod targets;
