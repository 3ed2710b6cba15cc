//! `mirror-registry uninstall` on this machine: ask first, then stop and remove the units and
//! the binary, and (when approved) delete quayRoot and the storage directories — only those
//! holding the installer's marker file, never anything else.

use std::io::{BufRead, Write};
use std::path::Path;

use super::layout::{GC_SERVICE, GC_TIMER, Layout, MARKER, SERVICE, Scope};
use super::system::Host;

/// The original installer's question, word for word (scripts may answer it through a pipe).
#[must_use]
pub fn prompt(root: &Path) -> String {
    format!("Are you sure want to delete quayRoot directory {} and all storage data? [y/n] ", root.display())
}

/// Asks until the answer is yes or no.
///
/// # Errors
/// Stdin closed before an answer.
pub fn ask(question: &str, input: &mut impl BufRead, output: &mut impl Write) -> anyhow::Result<bool> {
    loop {
        write!(output, "{question}")?;
        output.flush()?;
        let mut line = String::new();
        anyhow::ensure!(
            input.read_line(&mut line)? > 0,
            "no answer on stdin: nothing was changed (pass --autoApprove to uninstall without asking)"
        );
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => writeln!(output, "Please answer y or n.")?,
        }
    }
}

/// Removes the install described by `layout` (units found in `scope`).
///
/// # Errors
/// When a unit cannot be stopped or a file cannot be removed.
pub fn run(layout: &Layout, scope: Scope, port: Option<u16>, delete_data: bool) -> anyhow::Result<()> {
    let host = Host { scope };
    let unit_dir = scope.unit_dir()?;
    let installed: Vec<&str> =
        [SERVICE, GC_TIMER, GC_SERVICE].into_iter().filter(|u| unit_dir.join(u).exists()).collect();
    if !installed.is_empty() {
        tracing::info!("stopping and disabling {}", installed.join(", "));
        let mut args = vec!["disable", "--now"];
        args.extend(&installed);
        host.systemctl(&args)?;
        for unit in &installed {
            std::fs::remove_file(unit_dir.join(unit))?;
        }
        host.systemctl(&["daemon-reload"])?;
        if scope == Scope::User
            && let Err(e) = host.linger(&super::target::local_user(), false)
        {
            tracing::warn!("{e:#}");
        }
    }
    if let Some(port) = port
        && host.firewalld_running()
        && let Err(e) = host.firewall_port(port, false)
    {
        tracing::warn!("could not close port {port}/tcp in firewalld: {e:#}");
    }
    let binary = scope.binary()?;
    if binary.exists() {
        tracing::info!("removing {}", binary.display());
        std::fs::remove_file(&binary)?;
    }
    if !delete_data {
        println!("Kept {} and its storage data.", layout.root.display());
        return Ok(());
    }
    for dir in [&layout.storage, &layout.sqlite, &layout.root] {
        if !dir.exists() {
            continue;
        }
        if dir.join(MARKER).exists() {
            tracing::info!("deleting {}", dir.display());
            std::fs::remove_dir_all(dir).map_err(|e| anyhow::anyhow!("deleting {}: {e}", dir.display()))?;
        } else {
            println!("Not deleting {}: it has no {MARKER} marker, so this installer did not create it.", dir.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_until_yes_or_no() {
        let mut out = Vec::new();
        assert!(ask("Q? ", &mut "maybe\n\nY\n".as_bytes(), &mut out).expect("answer"));
        assert_eq!(String::from_utf8(out).expect("utf8").matches("Q? ").count(), 3);
        assert!(!ask("Q? ", &mut "no\n".as_bytes(), &mut Vec::new()).expect("answer"));
        assert!(ask("Q? ", &mut "x\n".as_bytes(), &mut Vec::new()).is_err(), "EOF is not an answer");
    }
}
