//! The `platform:` source: OpenShift release payloads and what comes with them.

pub mod signature;
