//! The OCI conformance runner (`conformance/`) against our server — plain, and as a new user
//! runs it (TLS with the generated CA, token auth with the `init` credentials) — and against
//! Debian's `docker-registry` (distribution 2.8), whose failures must be exactly the documented
//! ones: that shows the runner tests the spec, not our server.

mod common;

use common::Registry;
use oci_conformance::{Config, KnownFailures, Report, run};

fn print(report: &Report) {
    for line in report.lines() {
        println!("{line}");
    }
    println!("{} passed, {} failed", report.passed(), report.failed().len());
}

#[test]
fn all_four_workflows_pass_against_our_server() {
    let reg = Registry::ours();
    let report = run(&Config::new(&reg.url(), "conformance/plain")).expect("run");
    print(&report);
    assert!(report.failed().is_empty(), "failed: {:#?}", report.failed());
    assert!(report.passed() >= 40, "too few checks ran: {}", report.passed());
}

#[test]
fn all_four_workflows_pass_with_tls_and_token_auth() {
    let reg = Registry::ours_secure();
    let password = reg.init_password.clone().expect("init password");
    let url = format!("https://localhost:{}", reg.host.rsplit(':').next().expect("port"));
    let config = Config::new(&url, "conformance/secure")
        .with_credentials("init", &password)
        .with_ca_file(reg.ca.as_ref().expect("CA"));
    let report = run(&config).expect("run");
    print(&report);
    assert!(report.failed().is_empty(), "failed: {:#?}", report.failed());
}

#[test]
fn distribution_fails_exactly_its_documented_checks() {
    let Some(peer) = Registry::distribution() else { return };
    let report = run(&Config::new(&peer.url(), "conformance/peer")).expect("run");
    print(&report);
    let known = KnownFailures::parse(include_str!("../conformance/known-failures/distribution-2.8.txt"));
    let (unexpected, fixed) = known.compare(&report);
    assert!(unexpected.is_empty(), "distribution failed checks not in the list: {unexpected:#?}");
    assert!(fixed.is_empty(), "distribution passed checks the list says it fails: {fixed:#?}");
}
