//! The `mirror-registry` binary: parse the command line, run, turn errors into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match mirror_registry::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mirror-registry: {e:#}");
            ExitCode::FAILURE
        }
    }
}
