//! Real clients against the secure default (TLS with the generated CA, token auth): podman
//! login / push / pull / logout, skopeo with credentials, roles and robot accounts.
//!
//! podman runs as root in a sandbox here: vfs storage, cgroupfs and file events, all configured
//! through files in the test's temp dir (never the machine's global config). See TESTING.md.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::podman::Podman;
use common::{Registry, require_tool};

/// A directory holding the registry's CA as `ca.crt`, as `--cert-dir` expects.
fn cert_dir(reg: &Registry, parent: &Path) -> PathBuf {
    let dir = parent.join("certs");
    std::fs::create_dir_all(&dir).expect("certs dir");
    std::fs::copy(reg.ca.as_ref().expect("CA"), dir.join("ca.crt")).expect("copy CA");
    dir
}

fn add_user(reg: &Registry, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mirror-registry"))
        .args(["user", "--data-dir"])
        .arg(&reg.data_dir)
        .args(args)
        .output()
        .expect("run mirror-registry user");
    assert!(out.status.success(), "user {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn field<'a>(output: &'a str, prefix: &str) -> &'a str {
    output.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|r| r.split_whitespace().next()).expect(prefix)
}

#[test]
fn podman_login_push_pull_logout_with_the_generated_ca() {
    if !require_tool("podman") {
        return;
    }
    let reg = Registry::ours_secure();
    let podman = Podman::new();
    let certs = cert_dir(&reg, podman.dir.path());
    let certs = certs.to_str().expect("utf-8");
    let host = format!("localhost:{}", reg.host.rsplit(':').next().expect("port"));
    let password = reg.init_password.clone().expect("password");
    podman.make_image("hello from podman");

    podman.ok(&["login", "--cert-dir", certs, "-u", "init", "-p", &password, &host]);
    let target = format!("{host}/team/hello:v1");
    podman.ok(&["push", "--cert-dir", certs, "localhost/hello:v1", &target]);
    podman.ok(&["rmi", "localhost/hello:v1"]);
    podman.ok(&["pull", "--cert-dir", certs, &target]);
    let images = podman.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("team/hello:v1"), "{images}");
    podman.ok(&["logout", &host]);
    let out = podman.run(&["pull", "--cert-dir", certs, &target]);
    assert!(!out.status.success(), "pull after logout must need credentials again");

    // The same registry with --tls-verify=false, and a wrong password.
    let bad = podman.run(&["login", "--tls-verify=false", "-u", "init", "-p", "wrong-password", &host]);
    assert!(!bad.status.success(), "bad password accepted");
    podman.ok(&["login", "--tls-verify=false", "-u", "init", "-p", &password, &host]);
    podman.ok(&["pull", "--tls-verify=false", &target]);
}

#[test]
fn roles_and_robots_are_enforced_for_podman() {
    if !require_tool("podman") {
        return;
    }
    let reg = Registry::ours_secure();
    let podman = Podman::new();
    let host = format!("localhost:{}", reg.host.rsplit(':').next().expect("port"));
    let admin_password = reg.init_password.clone().expect("password");
    podman.make_image("roles");
    let target = format!("{host}/apps/hello:v1");
    podman.ok(&["login", "--tls-verify=false", "-u", "init", "-p", &admin_password, &host]);
    podman.ok(&["push", "--tls-verify=false", "localhost/hello:v1", &target]);
    podman.ok(&["logout", &host]);

    let reader = add_user(&reg, &["add", "reader", "--role", "pull"]);
    let reader_password = field(&reader, "password: ");
    podman.ok(&["login", "--tls-verify=false", "-u", "reader", "-p", reader_password, &host]);
    podman.ok(&["pull", "--tls-verify=false", &target]);
    let denied = podman.run(&["push", "--tls-verify=false", "localhost/hello:v1", &format!("{host}/apps/other:v1")]);
    assert!(!denied.status.success(), "a pull role pushed");
    let stderr = String::from_utf8_lossy(&denied.stderr).to_lowercase();
    assert!(stderr.contains("denied"), "podman's message: {stderr}");
    podman.ok(&["logout", &host]);

    let robot = add_user(&reg, &["robot", "cluster-pull", "--host", &host]);
    let token = field(&robot, "token: ");
    assert!(robot.contains("\"auths\""), "auth.json snippet: {robot}");
    podman.ok(&["login", "--tls-verify=false", "-u", "cluster-pull", "-p", token, &host]);
    podman.ok(&["pull", "--tls-verify=false", &target]);
    let denied = podman.run(&["push", "--tls-verify=false", "localhost/hello:v1", &format!("{host}/apps/robot:v1")]);
    assert!(!denied.status.success(), "a pull robot pushed");
}

#[test]
fn skopeo_copies_with_credentials_and_the_ca() {
    if !require_tool("skopeo") || !require_tool("podman") {
        return;
    }
    let reg = Registry::ours_secure();
    let podman = Podman::new();
    podman.make_image("skopeo");
    let archive = podman.dir.path().join("image.oci.tar");
    podman.ok(&["save", "--format", "oci-archive", "-o", archive.to_str().expect("utf-8"), "localhost/hello:v1"]);
    let certs = cert_dir(&reg, podman.dir.path());
    let host = format!("localhost:{}", reg.host.rsplit(':').next().expect("port"));
    let creds = format!("init:{}", reg.init_password.clone().expect("password"));
    let run = |args: &[&str]| {
        let out =
            Command::new("skopeo").args(args).env("TMPDIR", podman.dir.path().join("tmp")).output().expect("skopeo");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let dest = format!("docker://{host}/copied/hello:v1");
    let (ok, err, _) = run(&[
        "copy",
        "--dest-creds",
        &creds,
        "--dest-cert-dir",
        certs.to_str().expect("utf-8"),
        &format!("oci-archive:{}", archive.display()),
        &dest,
    ]);
    assert!(ok, "skopeo copy: {err}");
    let (ok, err, out) = run(&["inspect", "--creds", &creds, "--cert-dir", certs.to_str().expect("utf-8"), &dest]);
    assert!(ok && out.contains("\"Digest\""), "skopeo inspect: {err}");
    let (ok, _, _) = run(&["inspect", "--cert-dir", certs.to_str().expect("utf-8"), &dest]);
    assert!(!ok, "anonymous inspect must be refused");
}
