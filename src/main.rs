//! The `mirror-registry` binary: parse the command line, run, turn errors into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Installed (or linked) as `oc-mirror`, the binary is the mirroring client, flag-compatible
    // with `oc-mirror --v2`.
    let invoked_as = std::env::args_os().next().map(std::path::PathBuf::from);
    let as_oc_mirror = invoked_as.as_deref().and_then(std::path::Path::file_name).is_some_and(|n| n == "oc-mirror");
    let result =
        if as_oc_mirror { mirror_registry::cli::mirror::run_as_oc_mirror() } else { mirror_registry::cli::run() };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {}", if as_oc_mirror { "oc-mirror" } else { "mirror-registry" }, chain(&e));
            // A mirror run that finished with failures exits with oc-mirror's bitmask.
            e.downcast_ref::<mirror_registry::mirror::Failed>().map_or(ExitCode::FAILURE, |f| ExitCode::from(f.code))
        }
    }
}

/// The error and its causes on one line. A cause whose text its parent already shows (an error
/// that prints its source, as `{path}: {source}` does) is not repeated.
fn chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
