//! `mirror-registry user`: account administration on the database a config points at. Works
//! while the server runs (same SQLite file in WAL mode, or the same PostgreSQL database): the
//! server reads the account on every request, so a change of role, grants or password, or a deletion, applies to the very next request, and
//! tokens issued before a password or role change stop working.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use base64::Engine as _;

use super::grants::{Grant, Level, Pattern};
use super::{Role, Secret, UserName};
use crate::auth::password;
use crate::cli::user::{UserArgs, UserCommand};
use crate::config::Config;
use crate::store::Store;

/// Length of generated passwords.
pub const GENERATED_LEN: usize = 32;
/// Length of robot tokens.
pub const ROBOT_TOKEN_LEN: usize = 48;

/// Runs a `user` subcommand, printing results on stdout.
///
/// # Errors
/// Invalid names, roles or passwords, unknown or existing accounts, storage failures.
pub fn run(args: &UserArgs) -> anyhow::Result<()> {
    let config = Config::resolve(args.config.as_deref(), args.data_dir.as_deref())?;
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_async(&config, &args.command))
}

async fn run_async(config: &Config, command: &UserCommand) -> anyhow::Result<()> {
    let store = Store::open(config)
        .with_context(|| format!("opening the database {}", config.database.location(&config.storage)))?;
    let mut out = std::io::stdout().lock();
    match command {
        UserCommand::Add { name, role, password_stdin, robot, host } => {
            let name: UserName = name.parse()?;
            if *robot {
                let role = parse_role(role.as_deref(), Role::Pull)?;
                let token = Secret::generate(ROBOT_TOKEN_LEN);
                store.create_user(&name, hash(&token)?, role, true).await?;
                print_robot(&mut out, config, host.as_deref(), &name, role, &token)?;
            } else {
                let role = parse_role(role.as_deref(), Role::Push)?;
                let (secret, generated) = password_from(*password_stdin)?;
                store.create_user(&name, hash(&secret)?, role, false).await?;
                writeln!(out, "created user {name} with role {role}")?;
                if generated {
                    writeln!(out, "password: {} (shown once)", secret.expose())?;
                }
            }
        }
        UserCommand::Passwd { name, password_stdin, role } => {
            let name: UserName = name.parse()?;
            let role = role.as_deref().map(str::parse::<Role>).transpose()?;
            let (secret, generated) = password_from(*password_stdin)?;
            store.update_user(&name, Some(hash(&secret)?), role).await?;
            writeln!(out, "password of {name} changed")?;
            if generated {
                writeln!(out, "password: {} (shown once)", secret.expose())?;
            }
        }
        UserCommand::Role { name, role } => {
            let name: UserName = name.parse()?;
            let role: Role = role.parse()?;
            store.update_user(&name, None, Some(role)).await?;
            writeln!(out, "role of {name} is now {role}")?;
        }
        UserCommand::Grant { name, level, pattern } => {
            let name: UserName = name.parse()?;
            let grant = Grant { pattern: pattern.parse()?, level: level.parse::<Level>()? };
            store.grant(&name, grant.clone()).await?;
            writeln!(out, "granted {} on {} to {name}", grant.level, grant.pattern)?;
        }
        UserCommand::Revoke { name, pattern } => {
            let name: UserName = name.parse()?;
            let pattern: Pattern = pattern.parse()?;
            store.revoke(&name, &pattern).await?;
            writeln!(out, "revoked {name}'s grant on {pattern}")?;
        }
        UserCommand::Del { name } => {
            let name: UserName = name.parse()?;
            store.delete_user(&name).await?;
            writeln!(out, "deleted user {name}")?;
        }
        UserCommand::List => {
            writeln!(out, "{:<32} {:<6} {:<6} GRANTS", "NAME", "ROLE", "KIND")?;
            for u in store.list_users().await? {
                let grants: Vec<String> = u.grants.iter().map(|g| format!("{}:{}", g.pattern, g.level)).collect();
                writeln!(
                    out,
                    "{:<32} {:<6} {:<6} {}",
                    u.name.as_str(),
                    u.role.as_str(),
                    if u.robot { "robot" } else { "user" },
                    if grants.is_empty() { "-".to_string() } else { grants.join(" ") }
                )?;
            }
        }
        UserCommand::Robot { name, role, regenerate, host } => {
            let name: UserName = name.parse()?;
            let token = Secret::generate(ROBOT_TOKEN_LEN);
            let role = if *regenerate {
                let existing = store.find_user(&name).await?.with_context(|| format!("robot {name} does not exist"))?;
                if !existing.robot {
                    bail!("{name} is a user, not a robot; use `user passwd`");
                }
                let role = parse_role(role.as_deref(), existing.role)?;
                store.update_user(&name, Some(hash(&token)?), Some(role)).await?;
                role
            } else {
                let role = parse_role(role.as_deref(), Role::Pull)?;
                store.create_user(&name, hash(&token)?, role, true).await?;
                role
            };
            print_robot(&mut out, config, host.as_deref(), &name, role, &token)?;
        }
    }
    Ok(())
}

fn parse_role(role: Option<&str>, default: Role) -> anyhow::Result<Role> {
    Ok(role.map(str::parse).transpose()?.unwrap_or(default))
}

fn hash(secret: &Secret) -> anyhow::Result<String> {
    password::hash(secret).map_err(anyhow::Error::msg)
}

/// The password from stdin, or a generated one (and whether it was generated).
fn password_from(stdin: bool) -> anyhow::Result<(Secret, bool)> {
    if !stdin {
        return Ok((Secret::generate(GENERATED_LEN), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    Ok((Secret::password(line.trim_end_matches(['\r', '\n']))?, false))
}

/// Prints a robot's token once, with an auth.json snippet for a pull secret.
fn print_robot(
    out: &mut impl Write,
    config: &Config,
    host: Option<&str>,
    name: &UserName,
    role: Role,
    token: &Secret,
) -> anyhow::Result<()> {
    let host = match host {
        Some(h) => h.to_string(),
        None => default_host(config),
    };
    writeln!(out, "robot {name} (role {role})")?;
    writeln!(out, "token: {} (shown once)", token.expose())?;
    writeln!(out, "auth.json / pull secret:")?;
    writeln!(out, "{}", auth_json(&host, name, token))?;
    if role != Role::Pull {
        writeln!(out, "warning: this robot can write; a pull secret on a cluster gives every node that access")?;
    }
    Ok(())
}

/// The `auth.json` (pull secret) that logs `name` in to `host` with `token`.
#[must_use]
pub fn auth_json(host: &str, name: &UserName, token: &Secret) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{}", token.expose()));
    serde_json::json!({ "auths": { host: { "auth": auth } } }).to_string()
}

/// `host:port` clients use: the listen address, with this machine's name for a wildcard address.
fn default_host(config: &Config) -> String {
    match config.listen_addr() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map_or_else(|_| "localhost".into(), |h| h.trim().to_string());
            format!("{name}:{}", addr.port())
        }
        Ok(addr) => addr.to_string(),
        Err(_) => config.listen.clone(),
    }
}
