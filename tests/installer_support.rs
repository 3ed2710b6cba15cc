//! Checks of the installer's test support: the `systemctl` stub and a throwaway `sshd` whose
//! sessions see the stubs first on `PATH`.
mod common;

use common::installer::{Sshd, Stubs};
use std::process::{Command, Output};

fn stub(stubs: &Stubs, home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(stubs.dir.join("systemctl"))
        .args(args)
        .env("HOME", home)
        .env("STUB_STATE", stubs.state.path())
        .env_remove("MIRROR_REGISTRY_PREFIX")
        .output()
        .expect("run systemctl stub")
}

#[test]
fn systemctl_stub_runs_and_stops_a_user_service() {
    let stubs = Stubs::new();
    let home = tempfile::tempdir().expect("temp home");
    let units = home.path().join(".config/systemd/user");
    std::fs::create_dir_all(&units).expect("create unit dir");
    std::fs::write(units.join("x.service"), "[Service]\nExecStart=/bin/sleep 300\n").expect("write unit");
    let is_active = || {
        let out = stub(&stubs, home.path(), &["--user", "is-active", "x.service"]);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).trim().to_string())
    };

    let out = stub(&stubs, home.path(), &["--user", "enable", "--now", "x.service"]);
    assert!(out.status.success(), "enable --now: {out:?}");
    assert_eq!(is_active(), (Some(0), "active".into()));

    let out = stub(&stubs, home.path(), &["--user", "stop", "x.service"]);
    assert!(out.status.success(), "stop: {out:?}");
    assert_eq!(is_active(), (Some(3), "inactive".into()));

    stubs.fail_next_starts(1);
    let out = stub(&stubs, home.path(), &["--user", "start", "x.service"]);
    assert!(!out.status.success(), "start should fail once: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stub: failing start of x.service"), "{out:?}");
    assert_eq!(is_active().0, Some(3));
    let out = stub(&stubs, home.path(), &["--user", "start", "x.service"]);
    assert!(out.status.success(), "second start: {out:?}");
    assert_eq!(is_active(), (Some(0), "active".into()));

    assert_eq!(
        stubs.calls(),
        [
            "systemctl --user enable --now x.service",
            "systemctl --user is-active x.service",
            "systemctl --user stop x.service",
            "systemctl --user is-active x.service",
            "systemctl --user start x.service",
            "systemctl --user is-active x.service",
            "systemctl --user start x.service",
            "systemctl --user is-active x.service",
        ]
    );
    stubs.stop_all();
    assert_eq!(is_active().0, Some(3));
}

#[test]
fn sshd_session_sees_stubs_first_on_path() {
    let stubs = Stubs::new();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", stubs.dir.display());
    let state = stubs.state_env();
    let Some(sshd) = Sshd::start(&[("PATH", &path), ("STUB_STATE", &state)]) else { return };
    let out = Command::new("ssh")
        .arg("-F")
        .arg(sshd.ssh_config())
        .arg("-i")
        .arg(&sshd.key)
        .args(["-p", &sshd.port.to_string(), &sshd.destination()])
        .arg("systemctl --user daemon-reload; echo $PATH; echo $HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh");
    assert!(out.status.success(), "ssh failed: {out:?}\nsshd log:\n{}", sshd.log());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let (remote_path, remote_home) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    assert!(remote_path.starts_with(&format!("{}:", stubs.dir.display())), "remote PATH: {remote_path}");
    assert_eq!(remote_home, sshd.home.display().to_string());
    assert_eq!(stubs.calls(), ["systemctl --user daemon-reload"]);

    // The `ssh()` builder reaches the same session.
    let out = sshd.ssh().arg("loginctl enable-linger").output().expect("run ssh");
    assert!(out.status.success(), "ssh failed: {out:?}");
    assert_eq!(stubs.calls().last().map(String::as_str), Some("loginctl enable-linger"));
}
