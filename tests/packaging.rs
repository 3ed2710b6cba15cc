//! The deliverables of `packaging/`: the offline tarball (reproducible, binary + README, the
//! binary runs from it) and the RPM (built with rpmbuild, listing /usr/bin/mirror-registry).

mod common;

use std::path::Path;
use std::process::Command;

use common::require_tool;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn offline_tarball_is_reproducible_and_runs() {
    if !require_tool("strip") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let build = |name: &str| {
        let out = dir.path().join(name);
        run(Command::new("bash")
            .arg(Path::new(ROOT).join("packaging/tarball.sh"))
            .arg(env!("CARGO_BIN_EXE_mirror-registry"))
            .arg(&out));
        std::fs::read(&out).expect("tarball")
    };
    let first = build("a.tar.gz");
    assert_eq!(first, build("b.tar.gz"), "two builds of the same binary are byte-identical");

    let listing = run(Command::new("tar").arg("tzvf").arg(dir.path().join("a.tar.gz")));
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().last()).collect();
    assert_eq!(names, ["README.md", "mirror-registry"], "{listing}");
    assert!(listing.lines().all(|l| l.contains("0/0")), "owned by root:root: {listing}");

    let x = dir.path().join("x");
    std::fs::create_dir_all(&x).expect("mkdir");
    run(Command::new("tar").arg("xzf").arg(dir.path().join("a.tar.gz")).arg("-C").arg(&x));
    let version = run(Command::new(x.join("mirror-registry")).arg("--version"));
    assert_eq!(version.trim(), format!("mirror-registry {}", env!("CARGO_PKG_VERSION")));
    let unstripped = std::fs::metadata(env!("CARGO_BIN_EXE_mirror-registry")).expect("stat").len();
    assert!(std::fs::metadata(x.join("mirror-registry")).expect("stat").len() < unstripped, "stripped");
}

#[test]
fn rpm_installs_the_binary_in_usr_bin() {
    if !require_tool("rpmbuild") || !require_tool("rpm") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sources = dir.path().join("SOURCES");
    std::fs::create_dir_all(&sources).expect("mkdir");
    run(Command::new("strip")
        .arg("-o")
        .arg(sources.join("mirror-registry"))
        .arg(env!("CARGO_BIN_EXE_mirror-registry")));
    std::fs::copy(Path::new(ROOT).join("README.md"), sources.join("README.md")).expect("readme");
    let version = env!("CARGO_PKG_VERSION");
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg(Path::new(ROOT).join("packaging/mirror-registry.spec"))
        .arg("--define")
        .arg(format!("_topdir {}", dir.path().display()))
        .arg("--define")
        .arg(format!("_sourcedir {}", sources.display()))
        .arg("--define")
        .arg(format!("pkg_version {version}"))
        .arg("--define")
        .arg("_binary_payload w2.gzdio"));
    let rpms: Vec<_> =
        walk(&dir.path().join("RPMS")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "rpm")).collect();
    assert_eq!(rpms.len(), 1, "{rpms:?}");
    let info = run(Command::new("rpm").args(["-qp", "--queryformat", "%{NAME} %{VERSION} %{LICENSE}"]).arg(&rpms[0]));
    assert_eq!(info, format!("mirror-registry {version} Apache-2.0"));
    let files = run(Command::new("rpm").args(["-qlp"]).arg(&rpms[0]));
    assert!(files.lines().any(|l| l == "/usr/bin/mirror-registry"), "{files}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
