//! `oci-conformance`: run the distribution-spec checks against `OCI_ROOT_URL`.
//!
//! Prints one line per check and a closing `N passed, N failed`. Exit code 1 when a check
//! failed — or, with `--known-failures FILE`, when the failing set differs from the file's list
//! (one check name per line, `#` comments, `?` before a name that may fail or pass), so a peer
//! with documented gaps can run in CI.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = match args.as_slice() {
        [] => None,
        [flag, file] if flag == "--known-failures" => match std::fs::read_to_string(file) {
            Ok(text) => Some(oci_conformance::KnownFailures::parse(&text)),
            Err(e) => {
                eprintln!("oci-conformance: {file}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: oci-conformance [--known-failures FILE]   (configured by OCI_* environment variables)");
            return ExitCode::from(2);
        }
    };
    let config = match oci_conformance::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oci-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match oci_conformance::run(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oci-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    for line in report.lines() {
        println!("{line}");
    }
    let failed = report.failed();
    println!("{} passed, {} failed", report.passed(), failed.len());
    match known {
        None if failed.is_empty() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
        Some(known) => {
            let (unexpected, fixed) = known.compare(&report);
            for f in &unexpected {
                println!("unexpected failure: {f}");
            }
            for f in &fixed {
                println!("expected to fail but passed: {f}");
            }
            if unexpected.is_empty() && fixed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}
