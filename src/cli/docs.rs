//! Documentation generated from the clap definitions: shell completion scripts
//! (`mirror-registry completion bash|zsh|fish`, clap_complete) and man pages (the hidden
//! `mirror-registry manpage DIR`, clap_mangen: `mirror-registry.1` and one page per subcommand,
//! such as `mirror-registry-install.1`). The packaging scripts run the binary they ship to make
//! both, so the scripts and pages always describe that binary's flags.
//!
//! Owns nothing but rendering [`super::Cli`]; it calls no other module.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

/// The name the scripts complete and the pages are named after.
const BIN: &str = "mirror-registry";

/// Flags of `completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Flags of the hidden `manpage`.
#[derive(Debug, clap::Args)]
pub struct ManpageArgs {
    /// Directory to write the pages into (created when missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// A shell `completion` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// GNU bash (with the bash-completion package for system-wide install).
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Prints the completion script for `shell` on standard output.
///
/// # Errors
/// Standard output could not be written (a closed pipe, a full disk).
pub fn print_completion(shell: Shell) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(&completion_script(shell)).context("writing the completion script")
}

/// The completion script for `shell`.
#[must_use]
pub fn completion_script(shell: Shell) -> Vec<u8> {
    let mut cmd = completion_command();
    let mut script = Vec::new();
    match shell {
        Shell::Bash => clap_complete::generate(clap_complete::shells::Bash, &mut cmd, BIN, &mut script),
        Shell::Zsh => clap_complete::generate(clap_complete::shells::Zsh, &mut cmd, BIN, &mut script),
        Shell::Fish => clap_complete::generate(clap_complete::shells::Fish, &mut cmd, BIN, &mut script),
    }
    if shell == Shell::Bash { fix_bash_states(&String::from_utf8_lossy(&script), BIN).into_bytes() } else { script }
}

/// The command line to complete: [`super::Cli`] without its hidden subcommands, which
/// clap_complete would offer like any other (clap-rs/clap#1335). clap has no way to take a
/// subcommand out, so the root is assembled again from the visible ones.
fn completion_command() -> clap::Command {
    let cli = super::Cli::command();
    clap::Command::new(BIN)
        .version(env!("CARGO_PKG_VERSION"))
        .about(cli.get_about().cloned().unwrap_or_default())
        .args(cli.get_arguments().cloned())
        .subcommands(cli.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// clap_complete's bash script (up to at least 4.6.12) spells the state of a subcommand of a
/// hyphenated binary two ways (clap-rs/clap#6421): the loop over the words reaches
/// `mirror__registry__subcmd__install`, but the arm that offers the subcommand's flags is labelled
/// `mirror__subcmd__registry__subcmd__install`, so no flag of any subcommand ever completed. The
/// arm labels are respelt the way the loop spells them; once upstream agrees with itself there is
/// nothing to respell and the script passes through unchanged.
fn fix_bash_states(script: &str, bin: &str) -> String {
    let wrong = format!("{}__subcmd__", bin.replace('-', "__subcmd__"));
    let right = format!("{}__subcmd__", bin.replace('-', "__"));
    let mut fixed = String::with_capacity(script.len());
    for line in script.lines() {
        let label = line.trim_start();
        match label.strip_prefix(&wrong) {
            Some(rest) if rest.ends_with(')') && !rest.contains(['"', ' ', ',']) => {
                fixed.push_str(&line[..line.len() - label.len()]);
                fixed.push_str(&right);
                fixed.push_str(rest);
            }
            _ => fixed.push_str(line),
        }
        fixed.push('\n');
    }
    fixed
}

/// Writes `mirror-registry.1` and a page per visible subcommand (`mirror-registry-install.1`,
/// `mirror-registry-user-add.1`, ...) into `dir`, creating it when missing.
///
/// # Errors
/// `dir` could not be created or a page not written.
pub fn write_manpages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cli = super::Cli::command().disable_help_subcommand(true);
    cli.build();
    write_manpage(cli, dir)
}

/// The page of `cmd` and of its visible subcommands. Unlike `clap_mangen::generate_to`, every
/// page names the release in its footer, not only the top one (a subcommand has no version of
/// its own, and its footer would say just `install`).
fn write_manpage(cmd: clap::Command, dir: &Path) -> anyhow::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_manpage(sub.clone(), dir)?;
    }
    let page = clap_mangen::Man::new(cmd).source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(page.get_filename());
    let mut roff = Vec::new();
    page.render(&mut roff).context("rendering a man page")?;
    std::fs::write(&path, roff).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap-rs/clap#6421: every state the word loop of the bash script can reach (`cmd="..."`)
    /// has an arm of its own in the case that offers the flags, so `mirror-registry install
    /// --quayH<TAB>` completes.
    #[test]
    fn bash_script_has_an_arm_for_every_state_its_loop_reaches() {
        let script = String::from_utf8(completion_script(Shell::Bash)).expect("utf-8");
        let states: Vec<&str> = script
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\"")?.strip_suffix('"'))
            .filter(|s| !s.is_empty())
            .collect();
        assert!(states.contains(&"mirror__registry__subcmd__install"), "{states:?}");
        assert!(states.contains(&"mirror__registry__subcmd__user__subcmd__add"), "{states:?}");
        for state in states {
            assert!(script.lines().any(|l| l.trim() == format!("{state})")), "no arm for {state}");
        }
    }

    #[test]
    fn bash_state_labels_are_respelt_and_nothing_else() {
        let cases = [
            ("subcommand arm", "        a__subcmd__b__subcmd__install)", "        a__b__subcmd__install)"),
            ("nested arm", "  a__subcmd__b__subcmd__user__subcmd__add)", "  a__b__subcmd__user__subcmd__add)"),
            ("top-level arm is right already", "        a__b)", "        a__b)"),
            ("loop arm is right already", "            a__b,install)", "            a__b,install)"),
            (
                "a quoted value is not a label",
                "    cmd=\"a__subcmd__b__subcmd__x)\"",
                "    cmd=\"a__subcmd__b__subcmd__x)\"",
            ),
        ];
        for (name, given, wanted) in cases {
            assert_eq!(fix_bash_states(given, "a-b"), format!("{wanted}\n"), "{name}");
        }
    }

    #[test]
    fn scripts_offer_no_hidden_subcommand() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = String::from_utf8(completion_script(shell)).expect("utf-8");
            assert!(script.contains("install") && script.contains("completion"), "{shell:?}");
            assert!(!script.contains("manpage"), "{shell:?} offers the hidden manpage subcommand");
        }
    }

    #[test]
    fn completion_help_says_how_to_install_the_script() {
        let mut cmd = super::super::Cli::command();
        let help = cmd.find_subcommand_mut("completion").expect("completion subcommand").render_long_help();
        assert!(help.to_string().contains("source <(mirror-registry completion bash)"), "{help}");
    }
}
