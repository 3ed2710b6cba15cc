//! The deliverables of `packaging/` and what they carry: the offline tarball (reproducible whatever
//! the umask; binary, README, shell completions, man pages; the binary runs from it), the RPM
//! (built with rpmbuild: /usr/bin/mirror-registry, completions where each shell looks, gzipped man
//! pages), the completion scripts (they complete in bash and fish and load in zsh) and the man
//! pages (they render, naming every option).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::require_tool;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_mirror-registry");

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Builds the tarball of the test binary into `out` under `umask`, and returns its bytes.
fn build_tarball(out: &Path, umask: &str) -> Vec<u8> {
    run(Command::new("bash")
        .args(["-c", r#"umask "$1" && exec bash "$2" "$3" "$4""#, "bash", umask])
        .arg(Path::new(ROOT).join("packaging/tarball.sh"))
        .arg(BIN)
        .arg(out));
    std::fs::read(out).expect("tarball")
}

/// The man pages `mirror-registry manpage` writes, by file name, sorted.
fn man_pages() -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    run(Command::new(BIN).arg("manpage").arg(dir.path()));
    file_names(dir.path())
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn offline_tarball_is_reproducible_and_runs() {
    if !require_tool("strip") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let first = build_tarball(&dir.path().join("a.tar.gz"), "022");
    let second = build_tarball(&dir.path().join("b.tar.gz"), "077");
    assert_eq!(first, second, "two builds of the same binary are byte-identical, whatever the umask");

    let listing = run(Command::new("tar").arg("tzvf").arg(dir.path().join("a.tar.gz")));
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().last()).collect();
    let mut wanted = vec!["README.md", "completions/"];
    wanted.extend([
        "completions/_mirror-registry",
        "completions/mirror-registry.bash",
        "completions/mirror-registry.fish",
    ]);
    wanted.extend(["man/", "man/man1/"]);
    let pages: Vec<String> = man_pages().iter().map(|p| format!("man/man1/{p}")).collect();
    wanted.extend(pages.iter().map(String::as_str));
    wanted.push("mirror-registry");
    assert_eq!(names, wanted, "{listing}");
    for line in listing.lines() {
        let name = line.split_whitespace().last().expect("name");
        let mode = match name {
            "mirror-registry" => "-rwxr-xr-x",
            _ if name.ends_with('/') => "drwxr-xr-x",
            _ => "-rw-r--r--",
        };
        assert!(line.starts_with(mode) && line.contains("0/0"), "{mode}, owned by root:root: {line}");
    }

    let x = dir.path().join("x");
    std::fs::create_dir_all(&x).expect("mkdir");
    run(Command::new("tar").arg("xzf").arg(dir.path().join("a.tar.gz")).arg("-C").arg(&x));
    let version = run(Command::new(x.join("mirror-registry")).arg("--version"));
    assert_eq!(version.trim(), format!("mirror-registry {}", env!("CARGO_PKG_VERSION")));
    let unstripped = std::fs::metadata(BIN).expect("stat").len();
    assert!(std::fs::metadata(x.join("mirror-registry")).expect("stat").len() < unstripped, "stripped");
    for (shell, file) in
        [("bash", "mirror-registry.bash"), ("zsh", "_mirror-registry"), ("fish", "mirror-registry.fish")]
    {
        let script = std::fs::read_to_string(x.join("completions").join(file)).expect("completion script");
        assert_eq!(script, run(Command::new(BIN).args(["completion", shell])), "{file} is `completion {shell}`");
    }
    let install = std::fs::read_to_string(x.join("man/man1/mirror-registry-install.1")).expect("man page");
    assert!(install.contains(".TH mirror-registry-install 1") && install.contains(r"\-\-quayHostname"), "{install}");
}

#[test]
fn rpm_installs_the_binary_completions_and_man_pages() {
    if !require_tool("rpmbuild") || !require_tool("rpm") || !require_tool("rpm2archive") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sources = dir.path().join("SOURCES");
    std::fs::create_dir_all(&sources).expect("mkdir");
    run(Command::new("strip").arg("-o").arg(sources.join("mirror-registry")).arg(BIN));
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
    let mut wanted = vec![
        "/usr/bin/mirror-registry".to_string(),
        "/usr/share/bash-completion/completions/mirror-registry".to_string(),
        "/usr/share/zsh/site-functions/_mirror-registry".to_string(),
        "/usr/share/fish/vendor_completions.d/mirror-registry.fish".to_string(),
    ];
    wanted.extend(man_pages().iter().map(|p| format!("/usr/share/man/man1/{p}.gz")));
    for file in &wanted {
        assert!(files.lines().any(|l| l == file), "{file} missing from:\n{files}");
    }

    // What the package installs works: the bash script completes, the gzipped pages are roff.
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("mkdir");
    run(Command::new("bash")
        .args(["-c", r#"rpm2archive - < "$1" | tar xzf - -C "$2""#, "bash"])
        .arg(&rpms[0])
        .arg(&root));
    let bash = root.join("usr/share/bash-completion/completions/mirror-registry");
    assert_eq!(complete_in_bash(&bash, "mirror-registry install --quayH"), ["--quayHostname"]);
    let page = root.join("usr/share/man/man1/mirror-registry-install.1.gz");
    let roff = run(Command::new("gzip").arg("-dc").arg(&page));
    assert!(roff.contains(".TH mirror-registry-install 1") && roff.contains(r"\-\-quayHostname"), "{roff}");
}

/// What bash offers for the last word of `line` (words split on single spaces, so a trailing
/// space is an empty word) with `script` sourced, the way the shell calls the function that
/// `complete -p mirror-registry` names when TAB is pressed.
fn complete_in_bash(script: &Path, line: &str) -> Vec<String> {
    const CALL: &str = r#"source "$1" && shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
spec=$(complete -p mirror-registry) && fn=${spec##*-F } && fn=${fn%% *}
"$fn" mirror-registry "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = run(Command::new("bash").args(["-c", CALL, "bash"]).arg(script).args(line.split(' ')));
    out.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// What fish offers for `line` with `script` sourced (`complete -C`), run in an empty directory
/// so that no file name is offered.
fn complete_in_fish(script: &Path, line: &str) -> Vec<String> {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = run(Command::new("fish")
        .args(["--no-config", "-c", "source $argv[1]; and complete -C $argv[2]"])
        .arg(script)
        .arg(line)
        .current_dir(cwd.path()));
    out.lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
}

/// clap-rs/clap#6421: clap_complete's bash script completed no flag of any subcommand of a
/// binary with a hyphen in its name (`mirror-registry install --quayH` offered nothing).
/// clap_complete's fish script completes neither positional values nor a third level of
/// subcommands, so those cases are bash only.
#[test]
fn completion_scripts_complete_subcommands_and_their_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = |shell: &str| {
        let path = dir.path().join(shell);
        std::fs::write(&path, run(Command::new(BIN).args(["completion", shell]))).expect("write script");
        path
    };
    let (bash, fish) = (script("bash"), script("fish"));
    let fish_here = require_tool("fish");
    let cases: [(&str, &str, &[&str], bool); 8] = [
        ("a subcommand", "mirror-registry ins", &["install"], true),
        ("a subcommand's flag (#6421)", "mirror-registry install --quayH", &["--quayHostname"], true),
        ("a hyphenated flag", "mirror-registry uninstall --auto", &["--autoApprove"], true),
        ("a flag two levels down", "mirror-registry user add --password-s", &["--password-stdin"], true),
        ("a flag three levels down", "mirror-registry mirror list operators --cat", &["--catalog"], false),
        ("a hyphenated flag of mirror", "mirror-registry mirror --dest-tls", &["--dest-tls-verify"], true),
        ("the shells", "mirror-registry completion ", &["-h", "--help", "bash", "zsh", "fish"], false),
        ("no hidden subcommand", "mirror-registry manp", &[], true),
    ];
    for (name, line, wanted, in_fish) in cases {
        assert_eq!(complete_in_bash(&bash, line), wanted, "bash: {name}: {line}");
        if in_fish && fish_here {
            assert_eq!(complete_in_fish(&fish, line), wanted, "fish: {name}: {line}");
        }
    }
}

#[test]
fn zsh_and_fish_scripts_parse_and_zsh_registers_its_function() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (shell, file) in [("zsh", "_mirror-registry"), ("fish", "mirror-registry.fish")] {
        if !require_tool(shell) {
            continue;
        }
        let path = dir.path().join(file);
        std::fs::write(&path, run(Command::new(BIN).args(["completion", shell]))).expect("write script");
        run(Command::new(shell).arg("-n").arg(&path));
    }
    if require_tool("zsh") {
        // Sourced after compinit (as `source <(mirror-registry completion zsh)` is), the script
        // hands `mirror-registry` to its completion function.
        let load = r#"autoload -U compinit && compinit -u -D && source "$1" && print -r -- $_comps[mirror-registry]"#;
        let registered =
            run(Command::new("zsh").args(["-f", "-c", load, "zsh"]).arg(dir.path().join("_mirror-registry")));
        assert_eq!(registered.trim(), "_mirror-registry");
    }
}

#[test]
fn man_pages_name_every_subcommand_and_render() {
    let dir = tempfile::tempdir().expect("temp dir");
    let man1 = dir.path().join("share/man1");
    run(Command::new(BIN).arg("manpage").arg(&man1));
    let pages = file_names(&man1);
    for page in
        ["mirror-registry.1", "mirror-registry-install.1", "mirror-registry-user-add.1", "mirror-registry-completion.1"]
    {
        assert!(pages.iter().any(|p| p == page), "{page} in {pages:?}");
    }
    for hidden in ["mirror-registry-manpage.1", "mirror-registry-help.1"] {
        assert!(!pages.iter().any(|p| p == hidden), "{hidden} in {pages:?}");
    }
    let footer = format!("\"mirror-registry {}\"", env!("CARGO_PKG_VERSION"));
    for page in &pages {
        let roff = std::fs::read_to_string(man1.join(page)).expect("read page");
        let title = format!(".TH {} 1 ", page.trim_end_matches(".1"));
        assert!(roff.lines().any(|l| l.starts_with(&title) && l.contains(&footer)), "{page}: {roff}");
    }
    let install = std::fs::read_to_string(man1.join("mirror-registry-install.1")).expect("read page");
    for option in [r"\-\-quayHostname", r"\-\-quayRoot", r"\-\-initPasswordStdin", r"\-\-sslCheckSkip"] {
        assert!(install.contains(option), "{option}: {install}");
    }
    if !require_tool("man") {
        return;
    }
    for page in &pages {
        let out = Command::new("man")
            .args(["--warnings", "-E", "ascii", "-l"])
            .arg(man1.join(page))
            .env("MANWIDTH", "100")
            .output()
            .expect("man");
        let (text, warnings) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && warnings.is_empty(), "{page}: {warnings}");
        let stem = page.trim_end_matches(".1");
        assert!(text.contains("NAME") && text.contains(&format!("{stem}(1)")), "{page}: {text}");
        if page == "mirror-registry-install.1" {
            assert!(text.lines().any(|l| l.trim() == "--quayHostname <HOST[:PORT]>"), "{text}");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}
