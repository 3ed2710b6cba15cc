//! Command-line definitions (clap derive) and dispatch to the modules that do the work.
//! No logic lives here beyond choosing what to call, and rendering these definitions as
//! completion scripts and man pages (`docs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub mod delete;
pub mod docs;
pub mod install;
pub mod mirror;
pub mod ops;
pub mod user;

/// A small, self-hosted container registry for disconnected `OpenShift` and Kubernetes installs.
#[derive(Debug, Parser)]
#[command(name = "mirror-registry", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install the appliance: certificates, config, database, init user, systemd units; start it.
    ///
    /// Flags are those of the Red Hat mirror registry installer. As root it installs system
    /// units and /usr/local/bin/mirror-registry; otherwise user units (with lingering) and
    /// ~/.local/bin/mirror-registry. Examples:
    ///
    ///   ./mirror-registry install --quayHostname registry.example.com --quayRoot /srv/quay
    ///   ./mirror-registry install --quayHostname registry.example.com:8443 --sslCert c.pem --sslKey k.pem
    ///   ./mirror-registry install -H bastion.example.com -u admin -k ~/.ssh/id_ed25519   (over ssh)
    ///
    /// It prints `Quay is available at https://HOST:PORT with credentials (init, PASSWORD)`.
    #[command(verbatim_doc_comment)]
    Install(install::InstallArgs),
    /// Upgrade an install to this binary, keeping its data, names and credentials.
    ///
    /// Stops the service, backs up the database and config to <quayRoot>/backup/<time>/, installs
    /// this binary, migrates, renews generated certificates expiring within 30 days, starts and
    /// waits until healthy; on failure restores the backup and restarts the previous version.
    ///
    ///   sudo ./mirror-registry upgrade -v
    ///   ./mirror-registry upgrade --quayRoot /srv/quay
    #[command(verbatim_doc_comment)]
    Upgrade(install::UpgradeArgs),
    /// Remove the service, its units and binary; after a prompt (or --autoApprove) the data too.
    ///
    /// Only directories holding the installer's marker file are deleted.
    ///
    ///   ./mirror-registry uninstall -v --quayRoot /srv/quay --autoApprove
    #[command(verbatim_doc_comment)]
    Uninstall(install::UninstallArgs),
    /// Run the registry (Docker Registry HTTP API v2 / OCI distribution-spec v1.1).
    ///
    /// With no options it serves HTTPS on 127.0.0.1:5000 with its data in ./mirror-registry-data.
    /// On first start it creates a CA, a server certificate and an `init` admin with a random
    /// password, and prints the credentials once. Then, for example:
    ///
    ///   mkdir certs && cp mirror-registry-data/quay-rootCA/rootCA.pem certs/ca.crt
    ///   podman login --cert-dir certs -u init -p PASSWORD localhost:5000
    ///   skopeo copy --dest-cert-dir certs --dest-creds init:PASSWORD oci:DIR:TAG docker://localhost:5000/demo:TAG
    ///
    /// SIGHUP reloads the certificate; SIGTERM stops gracefully. Health: GET /health/instance;
    /// metrics: GET /metrics.
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Manage accounts: add, passwd, del, list, robot.
    ///
    /// Works on the database of a config (--config) or data directory (--data-dir), also while
    /// the server runs. Passwords and robot tokens are printed once and stored only as argon2id
    /// hashes. Examples:
    ///
    ///   mirror-registry user --data-dir /srv/registry add alice --role push
    ///   echo "$PASSWORD" | mirror-registry user -c config.yaml passwd init --password-stdin
    ///   mirror-registry user -c config.yaml robot cluster-pull
    #[command(verbatim_doc_comment)]
    User(user::UserArgs),
    /// Garbage-collect: apply retention policies, expire stale uploads, delete unreferenced blobs.
    ///
    /// Safe while the server runs and pushes go on. Reports blobs and manifests deleted, bytes
    /// freed and time taken; --dry-run only reports.
    Gc(ops::GcArgs),
    /// Show repositories, manifests, tags, blobs, bytes stored and reclaimable, disk free,
    /// certificate expiry and the last garbage collection.
    Status(ops::StatusArgs),
    /// Re-hash every blob, find rows without files and files without rows, check the database.
    ///
    /// Exits non-zero when it finds problems; --repair quarantines corrupt blobs and removes orphans.
    Fsck(ops::FsckArgs),
    /// Copy a registry into another store, e.g. a single host into PostgreSQL + S3 replicas.
    ///
    /// Reads the source (--config / --data-dir, as for `serve`) and writes the destination the
    /// --to config names (its `database.url` and `storage.backend: s3`). Every blob is streamed
    /// and its digest verified before it is placed; then the metadata (repositories, manifests,
    /// tags, accounts, grants, settings, GC history) is copied with its ids and the row counts
    /// compared. Stop `serve` on both sides first. An interrupted run is finished by running it
    /// again. Example:
    ///
    ///   systemctl stop mirror-registry
    ///   mirror-registry migrate-storage --data-dir /srv/quay-install --to /etc/mirror-registry/replica.yaml
    #[command(verbatim_doc_comment)]
    MigrateStorage(ops::MigrateArgs),
    /// Mirror an image set (oc-mirror v2 compatible): registry to registry, to disk, from disk.
    ///
    ///   mirror-registry mirror -c isc.yaml file://DIR                                 mirror to disk
    ///   mirror-registry mirror -c isc.yaml --from file://DIR docker://REG[/ns]        disk to mirror
    ///   mirror-registry mirror -c isc.yaml --workspace file://DIR docker://REG[/ns]   mirror to mirror
    ///
    ///   mirror-registry mirror list operators --catalog REF [--package P [--channel C]]
    ///
    ///   mirror-registry mirror delete -c delete-isc.yaml --generate --workspace file://DIR docker://REG[/ns]
    ///   mirror-registry mirror delete --delete-yaml-file DIR/working-dir/delete/delete-images.yaml docker://REG[/ns]
    ///
    /// The same binary invoked as `oc-mirror` takes these flags directly (and ignores --v2).
    #[command(verbatim_doc_comment)]
    Mirror(mirror::MirrorCommand),
    /// Print the shell completion script for bash, zsh or fish on standard output.
    ///
    /// The RPM installs all three system-wide. To try one in the shell you are in:
    ///
    ///   source <(mirror-registry completion bash)
    ///   source <(mirror-registry completion zsh)      (once compinit has run)
    ///   mirror-registry completion fish | source
    ///
    /// To load it in every new shell of your own:
    ///
    ///   mirror-registry completion bash > ~/.local/share/bash-completion/completions/mirror-registry
    ///   mirror-registry completion zsh > ~/.zfunc/_mirror-registry
    ///   mirror-registry completion fish > ~/.config/fish/completions/mirror-registry.fish
    ///
    /// (for zsh, with `fpath+=(~/.zfunc)` before `compinit` in ~/.zshrc).
    #[command(verbatim_doc_comment)]
    Completion(docs::CompletionArgs),
    /// Write the man pages (mirror-registry.1 and one per subcommand) into DIR; used by packaging.
    #[command(hide = true)]
    Manpage(docs::ManpageArgs),
}

/// Options of `serve`. Command-line values override the config file.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (YAML); see the README for every key. Without it the embedded defaults apply.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:5000 (port 0 picks a free port and prints it).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Data directory: blobs go to DIR/quay-storage, the database to DIR/sqlite-storage/registry.db.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Serve plain HTTP (loopback tests, or behind a TLS-terminating proxy).
    #[arg(long)]
    pub insecure_http: bool,
}

/// Parses the command line and runs the command.
///
/// # Errors
/// Whatever the command reports; `main` prints it and exits non-zero.
pub fn run() -> anyhow::Result<()> {
    let cli: Cli = parse_args();
    match cli.command {
        Command::Install(args) => crate::install::install(&args),
        Command::Upgrade(args) => crate::install::upgrade(&args),
        Command::Uninstall(args) => crate::install::uninstall(&args),
        Command::Serve(args) => crate::serve::run(&crate::serve::Overrides {
            config: args.config,
            listen: args.listen,
            data_dir: args.data_dir,
            insecure_http: args.insecure_http,
        }),
        Command::User(args) => crate::accounts::admin::run(&args),
        Command::Gc(args) => crate::operate::gc(&args),
        Command::Status(args) => crate::operate::status(&args),
        Command::Fsck(args) => crate::operate::fsck(&args),
        Command::MigrateStorage(args) => crate::operate::migrate_storage(&args),
        Command::Mirror(command) => mirror::run(&command),
        Command::Completion(args) => docs::print_completion(args.shell),
        Command::Manpage(args) => docs::write_manpages(&args.dir),
    }
}

/// Parses the process's arguments. A usage error prints clap's message and exits 1 (exit codes
/// above 1 are the mirror's result bitmask, where 2 means "release failed"); `--help` and
/// `--version` print and exit 0.
#[must_use]
pub fn parse_args<T: Parser>() -> T {
    parse_args_from(std::env::args_os())
}

/// oc-mirror v2 users also start a delete with the `--delete` flag (`oc-mirror --delete -c
/// delete-isc.yaml --generate ...`): the same as the `delete` subcommand, which it is turned
/// into here, before clap sees it, so that both spellings take the same path.
fn delete_flag_as_subcommand(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let Some(flag) = args.iter().position(|a| a == "--delete") else { return args };
    let invoked_as_oc_mirror =
        args.first().and_then(|p| std::path::Path::new(p).file_name()).is_some_and(|n| n == "oc-mirror");
    let mirror = if invoked_as_oc_mirror { Some(0) } else { args[..flag].iter().position(|a| a == "mirror") };
    let Some(mirror) = mirror else { return args };
    args.remove(flag);
    if args.get(mirror + 1).is_none_or(|a| a != "delete") {
        args.insert(mirror + 1, "delete".into());
    }
    args
}

/// [`parse_args`] over given arguments (the first is the program name).
#[must_use]
pub fn parse_args_from<T: Parser, I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> T {
    T::try_parse_from(delete_flag_as_subcommand(args.into_iter().collect())).unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(i32::from(e.use_stderr()));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delete_flag_is_the_delete_subcommand() {
        let args = |line: &str| line.split(' ').map(std::ffi::OsString::from).collect::<Vec<_>>();
        let cases = [
            (
                "mirror-registry mirror --delete -c d.yaml --generate",
                "mirror-registry mirror delete -c d.yaml --generate",
            ),
            (
                "/usr/bin/oc-mirror --delete --delete-yaml-file f docker://r",
                "/usr/bin/oc-mirror delete --delete-yaml-file f docker://r",
            ),
            ("oc-mirror delete --delete --generate", "oc-mirror delete --generate"),
            ("mirror-registry mirror -c i.yaml file://d", "mirror-registry mirror -c i.yaml file://d"),
            ("mirror-registry user --delete", "mirror-registry user --delete"),
        ];
        for (given, wanted) in cases {
            assert_eq!(delete_flag_as_subcommand(args(given)), args(wanted), "{given}");
        }
    }
}
