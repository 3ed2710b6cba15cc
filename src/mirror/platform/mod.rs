//! The `platform:` source: OpenShift releases, chosen from the update graph (Cincinnati) of
//! each release channel and architecture.

pub mod graph;
