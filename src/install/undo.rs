//! The undo journal of one installer run: each step that changes the machine records how to
//! take it back, and a failed run replays the journal backwards, so nothing half-installed stays.

use std::path::PathBuf;

use super::system::Host;

/// One change to take back.
#[derive(Debug)]
enum Step {
    /// A directory this run created (with everything in it).
    Dir(PathBuf),
    /// A directory that was empty (or absent) before this run: its contents go.
    Contents(PathBuf),
    /// A file this run created.
    File(PathBuf),
    /// A file this run replaced; the old content was moved aside to `saved`.
    Replaced { path: PathBuf, saved: PathBuf },
    /// Units this run enabled and started.
    Enabled(Vec<&'static str>),
    /// Unit files changed: reload systemd after removing them.
    DaemonReload,
    /// A firewall port this run opened.
    Port(u16),
}

/// Changes made so far, newest last.
#[derive(Debug)]
pub struct Undo {
    host: Host,
    steps: Vec<Step>,
}

impl Undo {
    /// An empty journal.
    #[must_use]
    pub fn new(host: Host) -> Undo {
        Undo { host, steps: Vec::new() }
    }

    /// Creates `dir` and its missing parents, recording the topmost one created.
    ///
    /// # Errors
    /// I/O.
    pub fn create_dir(&mut self, dir: &std::path::Path) -> anyhow::Result<()> {
        let mut first_missing = None;
        for a in dir.ancestors() {
            if a.exists() {
                break;
            }
            first_missing = Some(a.to_path_buf());
        }
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        if let Some(top) = first_missing {
            self.steps.push(Step::Dir(top));
        }
        Ok(())
    }

    /// Records that everything inside `dir` is this run's (it was validated empty).
    pub fn empty_on_undo(&mut self, dir: &std::path::Path) {
        self.steps.push(Step::Contents(dir.to_path_buf()));
    }

    /// Records a file about to be written at `path`: a new one is removed on undo, an existing
    /// one is moved aside now and put back on undo.
    ///
    /// # Errors
    /// When the existing file cannot be moved aside.
    pub fn will_write(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        if path.exists() {
            let mut saved = path.as_os_str().to_owned();
            saved.push(".before-install");
            let saved = PathBuf::from(saved);
            std::fs::rename(path, &saved).map_err(|e| anyhow::anyhow!("cannot move {} aside: {e}", path.display()))?;
            self.steps.push(Step::Replaced { path: path.to_path_buf(), saved });
        } else {
            self.steps.push(Step::File(path.to_path_buf()));
        }
        Ok(())
    }

    /// Records units enabled and started.
    pub fn enabled(&mut self, units: Vec<&'static str>) {
        self.steps.push(Step::Enabled(units));
    }

    /// Records that unit files were installed.
    pub fn daemon_reload(&mut self) {
        self.steps.push(Step::DaemonReload);
    }

    /// Records a firewall port opened.
    pub fn port(&mut self, port: u16) {
        self.steps.push(Step::Port(port));
    }

    /// The run succeeded: drop files moved aside and forget the journal.
    pub fn commit(self) {
        for step in self.steps {
            if let Step::Replaced { saved, .. } = step {
                let _ = std::fs::remove_file(saved);
            }
        }
    }

    /// The run failed: take every change back, newest first. Failures here are reported as
    /// warnings; the original error is what the operator needs to see.
    pub fn roll_back(self) {
        for step in self.steps.into_iter().rev() {
            let result = match &step {
                Step::Dir(d) => std::fs::remove_dir_all(d).map_err(anyhow::Error::from),
                Step::Contents(d) => empty_dir(d),
                Step::File(f) => std::fs::remove_file(f).or_else(ignore_missing).map_err(anyhow::Error::from),
                Step::Replaced { path, saved } => std::fs::rename(saved, path).map_err(anyhow::Error::from),
                Step::Enabled(units) => {
                    let mut args = vec!["disable", "--now"];
                    args.extend(units.iter().copied());
                    self.host.systemctl(&args)
                }
                Step::DaemonReload => self.host.systemctl(&["daemon-reload"]),
                Step::Port(p) => self.host.firewall_port(*p, false),
            };
            match result {
                Ok(()) => tracing::info!("rolled back: {step:?}"),
                Err(e) => tracing::warn!("could not roll back {step:?}: {e:#}"),
            }
        }
    }
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

fn empty_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let entry = entry?;
        if entry.file_name() == "lost+found" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() { std::fs::remove_dir_all(&path)? } else { std::fs::remove_file(&path)? }
    }
    Ok(())
}
