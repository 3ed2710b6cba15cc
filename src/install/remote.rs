//! Remote targets: copy this binary (and any certificate files) to the target over `ssh`, run
//! the same command there over `ssh` with the output streamed back, then remove the copies.
//! The system's `ssh` is used, so `~/.ssh/config`, agents and known hosts work as usual.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::accounts::Secret;

/// An ssh destination.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Host name or address.
    pub host: String,
    /// Port, when not ssh's default (or the one in `~/.ssh/config`).
    pub port: Option<u16>,
    /// Login user.
    pub user: String,
    /// Private key (`-k`), when there is one.
    pub key: Option<PathBuf>,
}

/// Quotes one word for a POSIX shell.
#[must_use]
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Remote {
    /// `-k` when given (it must exist), else `~/.ssh/quay_installer` when it exists.
    ///
    /// # Errors
    /// A `-k` file that does not exist.
    pub fn new(host: String, port: Option<u16>, user: String, key: Option<&Path>) -> anyhow::Result<Remote> {
        let key = match key {
            Some(k) => {
                let k = super::target::absolute(k)?;
                anyhow::ensure!(k.exists(), "ssh key {} (-k) does not exist", k.display());
                Some(k)
            }
            None => super::target::home().ok().map(|h| h.join(".ssh/quay_installer")).filter(|k| k.exists()),
        };
        Ok(Remote { host, port, user, key })
    }

    fn destination(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }

    fn options(&self, port_flag: &str) -> Vec<String> {
        let mut args = vec!["-o".into(), "StrictHostKeyChecking=accept-new".into()];
        if let Some(port) = self.port {
            args.extend([port_flag.to_string(), port.to_string()]);
        }
        if let Some(key) = &self.key {
            args.extend(["-i".to_string(), key.display().to_string()]);
        }
        args
    }

    /// Copies `local` to `remote_name` in the remote user's home directory (mode 0700), through
    /// `ssh … 'cat > NAME'`: unlike scp it needs no sftp subsystem and works with every OpenSSH.
    fn copy(&self, local: &Path, remote_name: &str) -> anyhow::Result<()> {
        let file = std::fs::File::open(local).with_context(|| format!("opening {}", local.display()))?;
        let name = shell_quote(remote_name);
        let status = Command::new("ssh")
            .args(self.options("-p"))
            .arg(self.destination())
            .arg(format!("umask 077 && cat > {name} && chmod 700 {name}"))
            .stdin(file)
            .status()
            .context("running ssh (is openssh-clients installed?)")?;
        anyhow::ensure!(status.success(), "copying {} to {} failed ({status})", local.display(), self.destination());
        Ok(())
    }

    /// Runs `mirror-registry <args>` on the target with this binary, streaming its output.
    /// `files` are local files to copy along: each `(local path, flag)` pair is passed to the
    /// remote command as `flag <remote copy>`. `secret` goes to the remote command's stdin
    /// (never into an argument list); without it, stdin is this process's (for prompts).
    ///
    /// # Errors
    /// ssh/scp failures, or the remote command's failure.
    pub fn run(&self, args: &[String], files: &[(&Path, &str)], secret: Option<&Secret>) -> anyhow::Result<()> {
        let tag = format!(".mirror-registry-installer-{}", std::process::id());
        let me = std::env::current_exe().context("locating this executable")?;
        tracing::info!("copying {} to {}", me.display(), self.destination());
        self.copy(&me, &tag)?;
        let mut copies = vec![tag.clone()];
        let mut command = format!("./{tag}");
        for a in args {
            command.push(' ');
            command.push_str(&shell_quote(a));
        }
        for (i, (local, flag)) in files.iter().enumerate() {
            let name = format!("{tag}.{i}");
            self.copy(local, &name)?;
            let _ = write!(command, " {flag} ./{name}");
            copies.push(name);
        }
        let cleanup = copies.iter().map(|c| format!("./{c}")).collect::<Vec<_>>().join(" ");
        let script = format!("{command}; s=$?; rm -f {cleanup}; exit $s");
        tracing::debug!("on {}: {script}", self.destination());
        let mut child = Command::new("ssh")
            .args(self.options("-p"))
            .arg(self.destination())
            .arg(script)
            .stdin(if secret.is_some() { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .context("running ssh (is openssh-clients installed?)")?;
        if let (Some(secret), Some(mut stdin)) = (secret, child.stdin.take()) {
            stdin.write_all(format!("{}\n", secret.expose()).as_bytes())?;
        }
        let status = child.wait()?;
        anyhow::ensure!(status.success(), "the command on {} failed ({status})", self.destination());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--quayRoot"), "--quayRoot");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
