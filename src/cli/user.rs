//! Clap definitions of `mirror-registry user`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Account administration on the database of a config (the server may be running).
#[derive(Debug, Args)]
pub struct UserArgs {
    /// Config file of the registry whose accounts to change.
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory of the registry (as given to `serve --data-dir`).
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: UserCommand,
}

/// The `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a random password is generated and printed once.
    ///
    /// With --robot, create a robot account for pull secrets: a token is generated and printed once,
    /// with a ready auth.json snippet. Robots get the pull role unless --role says otherwise.
    Add {
        /// Account name: 2-255 characters of [a-z0-9] separated by single '.', '_' or '-'.
        name: String,
        /// Registry-wide role: admin (everything), push (read-write), pull (read-only), or none
        /// (only what `user grant` gives).
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
        /// Read the password from the first line of standard input (keeps it out of `ps`).
        #[arg(long)]
        password_stdin: bool,
        /// A robot account with a generated token.
        #[arg(long)]
        robot: bool,
        /// Registry host:port to write into the auth.json snippet (default: from the config).
        #[arg(long, value_name = "HOST:PORT")]
        host: Option<String>,
    },
    /// Change a password (random and printed once without --password-stdin); --role also changes the role.
    ///
    /// Every token issued to the account before (access and refresh tokens) stops working at once.
    Passwd {
        /// Account name.
        name: String,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// New role.
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Change an account's registry-wide role, keeping its password (admin, push, pull or none).
    ///
    /// Takes effect on the account's next request; its earlier tokens stop working.
    Role {
        /// Account name.
        name: String,
        /// The new role.
        role: String,
    },
    /// Grant an account pull, push or admin on a repository or a namespace, e.g.
    /// `user grant alice push 'team-a/*'`. Granting again on the same pattern replaces the level.
    ///
    /// Patterns: a repository name (team-a/app), a namespace and everything below it (team-a/*),
    /// or every repository (*). What an account may do is its role plus its grants; give it the
    /// role `none` to confine it to its grants. push and admin also delete.
    Grant {
        /// Account name.
        name: String,
        /// pull, push or admin.
        level: String,
        /// Repository or namespace pattern (quote it: the shell expands '*').
        pattern: String,
    },
    /// Remove an account's grant on a pattern (written as it was granted). Takes effect at once.
    Revoke {
        /// Account name.
        name: String,
        /// The pattern of the grant.
        pattern: String,
    },
    /// Delete an account (the last admin cannot be deleted). Its tokens stop working at once.
    Del {
        /// Account name.
        name: String,
    },
    /// List accounts with their roles and grants.
    List,
    /// Create a robot account, or with --regenerate replace an existing robot's token.
    Robot {
        /// Robot name.
        name: String,
        /// pull (default) or push.
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
        /// Replace the token of an existing robot.
        #[arg(long)]
        regenerate: bool,
        /// Registry host:port to write into the auth.json snippet (default: from the config).
        #[arg(long, value_name = "HOST:PORT")]
        host: Option<String>,
    },
}
