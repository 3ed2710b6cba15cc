//! `mirror-registry install | upgrade | uninstall` end to end: the real binary lays out a real
//! install in a temp dir, its units run (the `systemctl` stub of tests/stubs starts their
//! `ExecStart=`), and podman and skopeo log in, push and pull with the printed credentials and
//! the generated CA. systemd is not PID 1 here, so systemctl, loginctl and firewall-cmd are the
//! recording stubs; the rendered units are checked with `systemd-analyze verify`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::installer::{Sshd, Stubs};
use common::podman::Podman;
use common::{free_port, output_with_stdin, require_tool};
use sha2::Digest as _;

/// One test's machine: a temp HOME (user-scope units and binary go there), stub tools, a port.
struct Machine {
    stubs: Stubs,
    dir: tempfile::TempDir,
    port: u16,
    extra_env: Vec<(String, String)>,
    /// Run the installer under this umask (through `sh -c`).
    umask: Option<&'static str>,
}

/// What `install` printed.
struct Installed {
    user: String,
    password: String,
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        Machine { stubs: Stubs::new(), dir, port: free_port(), extra_env: Vec::new(), umask: None }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("quay")
    }

    fn quay_hostname(&self) -> String {
        format!("localhost:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = match self.umask {
            Some(umask) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_mirror-registry")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_mirror-registry")),
        };
        cmd.args(args)
            .env("HOME", self.home())
            .env("PATH", self.stubs.path_env())
            .env("STUB_STATE", self.stubs.state_env())
            .env("MIRROR_REGISTRY_SCOPE", "user")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("RUST_LOG");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        output_with_stdin(&mut self.command(args), stdin)
    }

    fn install(&self, extra: &[&str]) -> Installed {
        let root = self.root();
        let quay = self.quay_hostname();
        let mut args = vec!["install", "--quayHostname", &quay, "--quayRoot", root.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let out = self.run(&args, "");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "install failed:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("Quay installed successfully, config data is stored in {}\n", root.display())),
            "{stdout}"
        );
        let prefix = format!("Quay is available at https://{quay} with credentials (");
        let creds = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("no credentials line in {stdout}"));
        let (user, password) = creds.split_once(", ").expect("user, password");
        assert!(!stderr.contains(password), "the password is in the log: {stderr}");
        Installed { user: user.into(), password: password.into() }
    }

    fn service_log(&self) -> String {
        std::fs::read_to_string(self.stubs.state.path().join("mirror-registry.service.log")).unwrap_or_default()
    }

    /// Where a user-scope install puts the binary.
    fn binary(&self) -> PathBuf {
        self.home().join(".local/bin/mirror-registry")
    }

    fn unit_dir(&self) -> PathBuf {
        self.home().join(".config/systemd/user")
    }

    fn ca(&self) -> PathBuf {
        self.root().join("quay-rootCA/rootCA.pem")
    }
}

/// A one-layer OCI image layout in `dir`, tagged `v1`; returns skopeo's name for it.
fn oci_image(dir: &Path, content: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let put = |bytes: &[u8]| {
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).expect("blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = put(content.as_bytes());
    let config =
        format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#);
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#
        ),
    )
    .expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    format!("oci:{}:v1", dir.display())
}

fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo").args(args).output().expect("skopeo");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Pushes an image with skopeo using the printed credentials and the generated CA; returns
/// the manifest digest the registry stored.
fn push(m: &Machine, who: &Installed, content: &str) -> String {
    let src = m.dir.path().join(format!("image-{content}"));
    let image = oci_image(&src, content);
    let certs = m.dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    std::fs::copy(m.ca(), certs.join("ca.crt")).expect("ca");
    let creds = format!("{}:{}", who.user, who.password);
    let dest = format!("docker://{}/apps/{content}:v1", m.quay_hostname());
    let (ok, out) =
        skopeo(&["copy", "--dest-creds", &creds, "--dest-cert-dir", certs.to_str().expect("utf-8"), &image, &dest]);
    assert!(ok, "skopeo copy: {out}");
    pull(m, who, content).expect("pull right after the push")
}

/// Pulls the image back (every blob digest verified by skopeo); returns its manifest digest.
fn pull(m: &Machine, who: &Installed, content: &str) -> Option<String> {
    let out_dir = m.dir.path().join(format!("pulled-{content}-{}", rand_suffix()));
    let creds = format!("{}:{}", who.user, who.password);
    let certs = m.dir.path().join("certs");
    let src = format!("docker://{}/apps/{content}:v1", m.quay_hostname());
    let (ok, out) = skopeo(&[
        "copy",
        "--src-creds",
        &creds,
        "--src-cert-dir",
        certs.to_str().expect("utf-8"),
        &src,
        &format!("oci:{}:v1", out_dir.display()),
    ]);
    if !ok {
        eprintln!("pull failed: {out}");
        return None;
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("index.json")).expect("index.json")).expect("json");
    index["manifests"][0]["digest"].as_str().map(str::to_string)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_nanos()
}

/// Makes the installed binary an "older build": same program, different bytes (trailing data is
/// ignored by the loader). Written to a new inode, as a running executable cannot be changed.
fn age_installed_binary(binary: &Path) -> Vec<u8> {
    let mut old = std::fs::read(binary).expect("installed binary");
    old.extend_from_slice(b"older build");
    let tmp = binary.with_extension("old");
    std::fs::write(&tmp, &old).expect("write");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::rename(&tmp, binary).expect("rename");
    old
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[test]
fn fresh_install_serves_podman_login_refuses_a_second_install_and_uninstall_n_keeps_data() {
    if !require_tool("podman") {
        return;
    }
    let m = Machine::new();
    let started = std::time::Instant::now();
    let who = m.install(&[]);
    let podman = Podman::new();
    let login = podman.login(&m.quay_hostname(), &m.ca(), &who.user, &who.password);
    eprintln!("install to a successful podman login: {:.2} s", started.elapsed().as_secs_f64());
    assert!(login.status.success(), "podman login with the printed credentials: {:?}", text(&login));
    assert_eq!(who.user, "init");
    assert!(who.password.len() == 32 && who.password.chars().all(|c| c.is_ascii_alphanumeric()));
    let wrong = podman.login(&m.quay_hostname(), &m.ca(), "init", "not-the-password");
    assert!(!wrong.status.success(), "a wrong password must be refused");

    // Layout, modes, and what the original puts where.
    let root = m.root();
    for key in ["quay-config/ssl.key", "quay-rootCA/rootCA.key", "sqlite-storage/registry.db"] {
        assert_eq!(mode(&root.join(key)), 0o600, "{key}");
    }
    for data in ["quay-storage", "sqlite-storage"] {
        assert_eq!(mode(&root.join(data)), 0o700, "{data} is the service user's alone");
    }
    let cert = std::fs::read_to_string(root.join("quay-config/ssl.cert")).expect("cert");
    assert_eq!(cert.matches("BEGIN CERTIFICATE").count(), 2, "leaf followed by the CA");
    let (names, _) = mirror_registry::tls::describe_cert(&root.join("quay-config/ssl.cert")).expect("describe");
    assert_eq!(names, vec!["localhost".to_string()]);
    let service = std::fs::read_to_string(m.unit_dir().join("mirror-registry.service")).expect("unit");
    assert!(service.contains("Type=notify") && service.contains("Alias=quay-app.service"), "{service}");
    assert!(m.binary().exists(), "binary installed in ~/.local/bin");
    let calls = m.stubs.calls();
    for expected in [
        "systemctl --user daemon-reload".to_string(),
        "loginctl enable-linger".to_string(),
        "systemctl --user enable --now mirror-registry.service mirror-registry-gc.timer".to_string(),
        format!("firewall-cmd --permanent --add-port={}/tcp", m.port),
    ] {
        assert!(calls.iter().any(|c| c.starts_with(&expected)), "{expected:?} not in {calls:?}");
    }
    // The password is in no log, unit, config or command line the installer ran.
    for (what, content) in [
        ("stub calls", calls.join("\n")),
        ("service log", m.service_log()),
        ("unit", service),
        ("config", std::fs::read_to_string(root.join("quay-config/config.yaml")).expect("config")),
    ] {
        assert!(!content.contains(&who.password), "password found in the {what}");
    }

    // A second install is refused, pointing at upgrade, and changes nothing.
    let before = std::fs::read(root.join("sqlite-storage/registry.db")).expect("db");
    let again =
        m.run(&["install", "--quayHostname", &m.quay_hostname(), "--quayRoot", root.to_str().expect("utf-8")], "");
    let (_, stderr) = text(&again);
    assert!(!again.status.success() && stderr.contains("mirror-registry upgrade"), "{stderr}");
    assert_eq!(std::fs::read(root.join("sqlite-storage/registry.db")).expect("db"), before);
    assert!(podman.login(&m.quay_hostname(), &m.ca(), &who.user, &who.password).status.success(), "still serving");

    // Uninstall answered "n": the service goes, the data stays.
    let out = m.run(&["uninstall", "--quayRoot", root.to_str().expect("utf-8")], "n\n");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!(
        "Are you sure want to delete quayRoot directory {} and all storage data? [y/n]",
        root.display()
    )));
    assert!(!m.unit_dir().join("mirror-registry.service").exists() && !m.binary().exists());
    assert!(root.join("sqlite-storage/registry.db").exists(), "data kept after 'n'");
    let calls = m.stubs.calls();
    assert!(calls.iter().any(|c| c.starts_with("systemctl --user disable --now mirror-registry.service")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("loginctl disable-linger")), "{calls:?}");
}

#[test]
fn rendered_units_pass_systemd_analyze_verify() {
    if !require_tool("systemd-analyze") {
        return;
    }
    // A system-scope install (as root would do) with system paths under a prefix.
    let mut m = Machine::new();
    let prefix = m.dir.path().join("prefix");
    m.extra_env = vec![
        ("MIRROR_REGISTRY_SCOPE".into(), "system".into()),
        ("MIRROR_REGISTRY_PREFIX".into(), prefix.display().to_string()),
    ];
    m.stubs.set_selinux();
    m.umask = Some("027");
    m.install(&[]);
    assert_eq!(mode(&m.root().join("quay-config")), 0o750, "the operator's umask applies");
    assert_eq!(mode(&m.root().join("quay-config/ssl.key")), 0o600);
    let unit_dir = prefix.join("etc/systemd/system");
    assert!(prefix.join("usr/local/bin/mirror-registry").exists());
    let service = std::fs::read_to_string(unit_dir.join("mirror-registry.service")).expect("unit");
    assert!(service.contains("ProtectSystem=strict") && service.contains("NoNewPrivileges=yes"));
    assert!(service.contains(&format!("ReadWritePaths={}", m.root().display())), "{service}");
    let units: Vec<PathBuf> = ["mirror-registry.service", "mirror-registry-gc.service", "mirror-registry-gc.timer"]
        .map(|u| unit_dir.join(u))
        .into();
    let out = Command::new("systemd-analyze").arg("verify").args(&units).output().expect("systemd-analyze");
    let (stdout, stderr) = text(&out);
    // verify also reports problems of the host's own units; only ours matter.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("mirror-registry")).collect();
    assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify:\n{stdout}\n{stderr}");
    // The sandbox keeps systemd's exposure score at 3.0 ("OK") or below; the threshold is in tenths.
    for unit in &units[..2] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=30"])
            .arg(unit)
            .output()
            .expect("systemd-analyze security");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "exposure of {} above 3.0:\n{stdout}\n{stderr}", unit.display());
    }
    let calls = m.stubs.calls();
    assert!(calls.iter().any(|c| c == "systemctl daemon-reload"), "system scope has no --user: {calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("loginctl")), "no lingering for system units: {calls:?}");
    let restorecon = format!("restorecon -R {}", m.root().display());
    assert!(calls.iter().any(|c| c.starts_with(&restorecon)), "SELinux labels restored: {calls:?}");
}

#[test]
fn custom_certificates_are_checked_against_the_hostname() {
    let m = Machine::new();
    let pki = m.dir.path().join("pki");
    let ca = mirror_registry::tls::generate_ca().expect("ca");
    let write_pair = |name: &str, hosts: &[&str]| {
        let pair =
            mirror_registry::tls::issue_server_cert(&ca, &hosts.iter().map(|h| (*h).to_string()).collect::<Vec<_>>())
                .expect("issue");
        let (c, k) = (pki.join(format!("{name}.crt")), pki.join(format!("{name}.key")));
        mirror_registry::tls::write_public(&c, pair.cert.as_bytes()).expect("cert");
        mirror_registry::tls::write_private(&k, pair.key.as_bytes()).expect("key");
        (c.display().to_string(), k.display().to_string())
    };
    let (good_c, good_k) = write_pair("good", &["localhost"]);
    let (bad_c, bad_k) = write_pair("bad", &["other.example"]);
    let root = m.root();
    let quay = m.quay_hostname();
    let base = ["install", "--quayHostname", &quay, "--quayRoot", root.to_str().expect("utf-8")];

    // Mismatch: refused before anything is written.
    let out = m.run(&[&base[..], &["--sslCert", &bad_c, "--sslKey", &bad_k]].concat(), "");
    let (_, stderr) = text(&out);
    assert!(!out.status.success() && stderr.contains("other.example") && stderr.contains("--sslCheckSkip"), "{stderr}");
    assert!(!root.exists() && !m.unit_dir().exists(), "nothing written on a validation failure");
    // Half a pair and a key of another certificate.
    let out = m.run(&[&base[..], &["--sslCert", &good_c]].concat(), "");
    assert!(!out.status.success() && text(&out).1.contains("--sslKey"), "{:?}", text(&out));
    let out = m.run(&[&base[..], &["--sslCert", &good_c, "--sslKey", &bad_k]].concat(), "");
    assert!(!out.status.success() && !root.exists(), "{:?}", text(&out));

    // Matching: installed as given, and the server presents it (verified against our CA).
    let who = m.install(&["--sslCert", &good_c, "--sslKey", &good_k]);
    assert_eq!(
        std::fs::read_to_string(root.join("quay-config/ssl.cert")).expect("cert"),
        std::fs::read_to_string(&good_c).expect("given cert")
    );
    assert!(!root.join("quay-rootCA/rootCA.key").exists(), "no CA generated for a given pair");
    let ca_file = pki.join("ca.pem");
    std::fs::write(&ca_file, &ca.cert).expect("ca");
    if require_tool("podman") {
        let login = Podman::new().login(&quay, &ca_file, &who.user, &who.password);
        assert!(login.status.success(), "{:?}", text(&login));
    }
    let out = m.run(&["uninstall", "--autoApprove", "--quayRoot", root.to_str().expect("utf-8")], "");
    assert!(out.status.success(), "{:?}", text(&out));

    // The mismatching pair with --sslCheckSkip is accepted.
    m.install(&["--sslCert", &bad_c, "--sslKey", &bad_k, "--sslCheckSkip"]);
}

#[test]
fn bad_flags_are_refused_before_anything_is_written() {
    let m = Machine::new();
    let root = m.root();
    let r = root.to_str().expect("utf-8");
    let quay = m.quay_hostname();
    for (args, expect) in [
        (vec!["install", "--quayRoot", r, "--quayHostname", &quay, "--initPassword", "short"], "at least 8"),
        (vec!["install", "--quayRoot", r, "--quayHostname", &quay, "--initPassword", "has a space"], "whitespace"),
        (vec!["install", "--quayRoot", r, "--quayHostname", "bad host:1"], "not a hostname"),
        (vec!["install", "--quayRoot", r, "--quayHostname", "localhost:99999"], "port"),
        (vec!["upgrade", "--quayRoot", r], "no mirror-registry install found"),
        (vec!["uninstall", "--quayRoot", r, "--autoApprove"], "no mirror-registry install found"),
    ] {
        let out = m.run(&args, "");
        let (_, stderr) = text(&out);
        assert!(!out.status.success() && stderr.contains(expect), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(!root.exists(), "{args:?} wrote {}", root.display());
    }
    // The port must be free.
    let busy = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("bind");
    let taken = format!("localhost:{}", busy.local_addr().expect("addr").port());
    let out = m.run(&["install", "--quayRoot", r, "--quayHostname", &taken], "");
    assert!(!out.status.success() && text(&out).1.contains("not free"), "{:?}", text(&out));
    // Ignored compatibility flags warn and do not fail.
    let ok = m.run(
        &[
            "install",
            "--quayRoot",
            r,
            "--quayHostname",
            &quay,
            "-i",
            "image-archive.tar",
            "--initPassword",
            "long-enough",
        ],
        "",
    );
    assert!(ok.status.success(), "{:?}", text(&ok));
    assert!(text(&ok).1.contains("--image-archive has no effect"));
    assert!(text(&ok).0.contains("with credentials (init, long-enough)"));
}

#[test]
fn a_failed_install_leaves_nothing_behind() {
    let m = Machine::new();
    m.stubs.fail_next_starts(1);
    let root = m.root();
    let out =
        m.run(&["install", "--quayRoot", root.to_str().expect("utf-8"), "--quayHostname", &m.quay_hostname()], "");
    let (_, stderr) = text(&out);
    assert!(!out.status.success() && stderr.contains("install failed"), "{stderr}");
    assert!(!root.exists(), "quayRoot removed");
    assert!(!m.unit_dir().join("mirror-registry.service").exists(), "units removed");
    assert!(!m.binary().exists(), "binary removed");
    let calls = m.stubs.calls();
    assert_eq!(calls.iter().filter(|c| *c == "systemctl --user daemon-reload").count(), 2, "{calls:?}");
    // And a retry then succeeds on the same paths.
    m.install(&[]);
}

#[test]
fn upgrade_keeps_images_and_credentials_and_renews_expiring_certificates() {
    if !require_tool("skopeo") {
        return;
    }
    let m = Machine::new();
    let who = m.install(&[]);
    let before = push(&m, &who, "before-upgrade");
    let root = m.root();

    // A generated certificate that expires in 10 days is renewed (same CA, same names).
    let ca = mirror_registry::tls::PemPair {
        cert: std::fs::read_to_string(root.join("quay-rootCA/rootCA.pem")).expect("ca"),
        key: std::fs::read_to_string(root.join("quay-rootCA/rootCA.key")).expect("ca key"),
    };
    let short = mirror_registry::tls::issue_server_cert_for_days(&ca, &["localhost".into()], 10).expect("issue");
    mirror_registry::tls::write_public(&root.join("quay-config/ssl.cert"), short.cert.as_bytes()).expect("cert");
    mirror_registry::tls::write_private(&root.join("quay-config/ssl.key"), short.key.as_bytes()).expect("key");

    let binary = m.binary();
    age_installed_binary(&binary);
    // No --quayRoot: the install is found through its service unit, as `sudo ./mirror-registry upgrade -v` does.
    let out = m.run(&["upgrade", "-v"], "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "upgrade:\n{stdout}\n{stderr}");
    assert!(stdout.contains("renewed the server certificate"), "{stdout}");
    assert!(
        std::fs::read(&binary).expect("binary") == std::fs::read(env!("CARGO_BIN_EXE_mirror-registry")).expect("exe"),
        "the installed binary was replaced by this one"
    );
    let (_, expires) = mirror_registry::tls::describe_cert(&root.join("quay-config/ssl.cert")).expect("describe");
    assert!(expires > std::time::SystemTime::now() + std::time::Duration::from_hours(300 * 24));
    let backups: Vec<PathBuf> =
        std::fs::read_dir(root.join("backup")).expect("backup dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(backups.len(), 1);
    assert!(backups[0].join("registry.db").exists() && backups[0].join("config.yaml").exists());
    assert!(std::fs::read(backups[0].join("mirror-registry")).expect("backed-up binary").ends_with(b"older build"));
    assert_eq!(mode(&backups[0].join("registry.db")), 0o600);
    let calls = m.stubs.calls();
    assert!(calls.iter().any(|c| c.starts_with("systemctl --user stop mirror-registry.service")), "{calls:?}");

    assert_eq!(pull(&m, &who, "before-upgrade"), Some(before), "the image pushed before the upgrade pulls after it");
    push(&m, &who, "after-upgrade");
}

#[test]
fn a_failed_upgrade_restores_the_backup_and_restarts() {
    if !require_tool("skopeo") {
        return;
    }
    let m = Machine::new();
    let who = m.install(&[]);
    let kept = push(&m, &who, "kept");
    let root = m.root();
    let config_before = std::fs::read_to_string(root.join("quay-config/config.yaml")).expect("config");
    let binary = m.binary();
    let old = age_installed_binary(&binary);
    std::fs::write(root.join("quay-config/config.yaml"), format!("{config_before}# local edit\n")).expect("edit");

    m.stubs.fail_next_starts(1);
    let out = m.run(&["upgrade", "--quayRoot", root.to_str().expect("utf-8")], "");
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "the upgrade must fail: {stdout}");
    assert!(stderr.contains("upgrade failed; restored the database, config and binary from"), "{stderr}");
    assert!(
        std::fs::read_to_string(root.join("quay-config/config.yaml")).expect("config").ends_with("# local edit\n"),
        "config restored as it was"
    );
    assert!(std::fs::read(&binary).expect("binary") == old, "the old binary is back");
    assert_eq!(pull(&m, &who, "kept"), Some(kept), "the restored registry serves the image");
}

#[test]
fn uninstall_asks_again_on_garbage_and_deletes_only_marked_directories() {
    let m = Machine::new();
    m.stubs.set_no_firewalld();
    let root = m.root();
    let outside = m.dir.path().join("blob-volume");
    m.install(&["--quayStorage", outside.to_str().expect("utf-8")]);
    assert!(outside.join(".mirror-registry-install").exists());
    let out = m.run(&["uninstall", "--quayRoot", root.to_str().expect("utf-8")], "maybe\n\ny\n");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.matches("Are you sure want to delete quayRoot directory").count(), 3, "{stdout}");
    assert!(stdout.contains("Quay uninstalled successfully"));
    assert!(!root.exists() && !outside.exists(), "both marked directories deleted");
    let calls = m.stubs.calls();
    assert!(!calls.iter().any(|c| c.contains("-port=")), "no firewall changes without firewalld: {calls:?}");

    // A storage directory without the marker is never deleted.
    m.install(&["--quayStorage", outside.to_str().expect("utf-8")]);
    std::fs::remove_file(outside.join(".mirror-registry-install")).expect("unmark");
    let out = m.run(&["uninstall", "--autoApprove", "--quayRoot", root.to_str().expect("utf-8")], "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("Are you sure"), "--autoApprove does not ask");
    assert!(!root.exists() && outside.join("blobs").exists(), "unmarked storage kept");
    assert!(stdout.contains("Not deleting"), "{stdout}");

    // No answer at all (stdin closed) changes nothing.
    m.install(&[]);
    let out = m.run(&["uninstall", "--quayRoot", root.to_str().expect("utf-8")], "");
    assert!(!out.status.success() && text(&out).1.contains("--autoApprove"), "{:?}", text(&out));
    assert!(root.exists() && m.unit_dir().join("mirror-registry.service").exists());
}

#[test]
fn remote_install_over_ssh() {
    if !require_tool("ssh") {
        return;
    }
    let m = Machine::new();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", m.stubs.dir.display());
    let home = m.home().display().to_string();
    let state = m.stubs.state_env();
    let Some(sshd) =
        Sshd::start(&[("PATH", &path), ("HOME", &home), ("STUB_STATE", &state), ("MIRROR_REGISTRY_SCOPE", "user")])
    else {
        return;
    };
    // ssh reads ~/.ssh/config from the passwd home, not $HOME: a wrapper adds the test's.
    let wrappers = m.dir.path().join("ssh-bin");
    std::fs::create_dir_all(&wrappers).expect("wrappers");
    let config = sshd.ssh_config();
    let w = wrappers.join("ssh");
    std::fs::write(&w, format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", config.display())).expect("wrapper");
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut local = Machine {
        stubs: Stubs::new(),
        dir: tempfile::tempdir().expect("temp dir"),
        port: m.port,
        extra_env: Vec::new(),
        umask: None,
    };
    local.extra_env =
        vec![("PATH".into(), format!("{}:{}", wrappers.display(), std::env::var("PATH").unwrap_or_default()))];
    let root = m.root();
    let target = format!("127.0.0.1:{}", sshd.port);
    let key = sshd.key.display().to_string();
    let out = local.run(
        &[
            "install",
            "-H",
            &target,
            "-k",
            &key,
            "--quayHostname",
            &m.quay_hostname(),
            "--quayRoot",
            root.to_str().expect("utf-8"),
            "--initPassword",
            "remote-secret-1",
        ],
        "",
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "remote install:\n{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("Quay installed successfully, config data is stored in {}", root.display())));
    assert!(stdout.contains("with credentials (init, remote-secret-1)"), "{stdout}");
    // It ran on the target side: the target's stubs saw the units start.
    assert!(m.stubs.calls().iter().any(|c| c.contains("enable --now mirror-registry.service")));
    assert!(local.stubs.calls().is_empty(), "nothing ran through the local stubs");
    // The password travelled on stdin, not in the remote command line (sshd logs it at -e).
    assert!(!m.stubs.calls().join("\n").contains("remote-secret-1"));
    if require_tool("podman") {
        let login = Podman::new().login(&m.quay_hostname(), &m.ca(), "init", "remote-secret-1");
        assert!(login.status.success(), "{:?}", text(&login));
    }
    let out = local.run(
        &["uninstall", "-H", &target, "-k", &key, "--quayRoot", root.to_str().expect("utf-8"), "--autoApprove"],
        "",
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!root.exists(), "remote uninstall deleted the data");
}

#[test]
fn a_non_root_user_gets_user_units_and_a_binary_in_home() {
    use std::os::unix::fs::chown;
    let m = Machine::new();
    let root_user = nix::unistd::geteuid().is_root();
    let nobody = 65_534;
    let home = m.home();
    std::fs::set_permissions(m.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if root_user {
        // The scope comes from the real euid here (no MIRROR_REGISTRY_SCOPE), so drop to nobody.
        chown(&home, Some(nobody), Some(nobody)).expect("chown home");
        chown(m.stubs.state.path(), Some(nobody), Some(nobody)).expect("chown state");
        std::fs::set_permissions(m.stubs.state.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    // Copies nobody can reach whatever the permissions of the checkout are.
    let bin = m.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::copy(env!("CARGO_BIN_EXE_mirror-registry"), bin.join("mirror-registry")).expect("copy binary");
    for stub in std::fs::read_dir(&m.stubs.dir).expect("stubs") {
        let stub = stub.expect("entry").path();
        std::fs::copy(&stub, bin.join(stub.file_name().expect("name"))).expect("copy stub");
    }
    let exe = bin.join("mirror-registry");
    let root = home.join("quay-install");
    let run = |args: &[&str]| {
        let mut cmd = if root_user {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("STUB_STATE", m.stubs.state_env())
            .stdin(Stdio::null())
            .output()
            .expect("run")
    };
    // Defaults only: quayRoot is ~/quay-install.
    let out = run(&["install", "--quayHostname", &m.quay_hostname()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("config data is stored in {}", root.display())), "{stdout}");
    assert!(m.unit_dir().join("mirror-registry.service").exists() && home.join(".local/bin/mirror-registry").exists());
    let calls = m.stubs.calls();
    assert!(calls.iter().any(|c| c.starts_with("systemctl --user enable --now")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("loginctl enable-linger")), "{calls:?}");
    if root_user {
        use std::os::unix::fs::MetadataExt;
        let db = std::fs::metadata(root.join("sqlite-storage/registry.db")).expect("db");
        assert_eq!(db.uid(), nobody, "files belong to the installing user");
    }
    let out = run(&["uninstall", "--autoApprove"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!root.exists() && !m.unit_dir().join("mirror-registry.service").exists());
}

#[test]
fn a_quay_based_install_is_left_alone() {
    let m = Machine::new();
    let root = m.root();
    std::fs::create_dir_all(root.join("quay-config")).expect("mkdir");
    let quay_config = "SERVER_HOSTNAME: registry.example:8443\nDATABASE_SECRET_KEY: x\n";
    std::fs::write(root.join("quay-config/config.yaml"), quay_config).expect("write");
    let r = root.to_str().expect("utf-8");
    for args in [
        vec!["install", "--quayRoot", r, "--quayHostname", &m.quay_hostname()],
        vec!["upgrade", "--quayRoot", r],
        vec!["uninstall", "--quayRoot", r, "--autoApprove"],
    ] {
        let out = m.run(&args, "");
        let (_, stderr) = text(&out);
        assert!(!out.status.success() && stderr.contains("did not make"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_to_string(root.join("quay-config/config.yaml")).expect("kept"), quay_config);
}
