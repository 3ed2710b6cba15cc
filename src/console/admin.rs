//! The administrators' page: accounts and robots (create, role, password, delete), namespace
//! grants, storage use, garbage collection (what it would free, history, run it), the
//! certificate's expiry and the version. Every handler requires the `admin` role, read from the
//! account as it is now: hiding the link is a courtesy, this check is the rule.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Form;
use axum::extract::{Path, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, bytes, csrf, page, when};
use super::{Console, ConsoleError, PageResult, Visitor};
use crate::accounts::admin::{GENERATED_LEN, ROBOT_TOKEN_LEN, auth_json};
use crate::accounts::grants::{Grant, Level, Pattern};
use crate::accounts::store::Account;
use crate::accounts::{Role, Secret, UserName};
use crate::auth::password;
use crate::store::gc;

/// The fields of every admin form (each action reads those it needs).
#[derive(Deserialize, Default)]
pub struct AdminForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    pattern: String,
}

/// What an action reports above the page: a message, and a secret shown this once.
#[derive(Default)]
struct Notice {
    message: String,
    secrets: Vec<(&'static str, String)>,
}

/// What an account name may be, checked by the browser before the server checks it again.
/// Browsers compile `pattern` with the `v` flag, where a `-` in a class must be escaped.
const NAME_PATTERN: &str = r"[a-z0-9]+([._\-][a-z0-9]+)*";

const ROLES: [Role; 4] = [Role::Admin, Role::Push, Role::Pull, Role::None];

fn role_select(name: &str, selected: Role) -> Markup {
    html! {
        select name=(name) {
            @for r in ROLES { option value=(r.as_str()) selected[r == selected] { (r.as_str()) } }
        }
    }
}

fn account_row(visitor: &Visitor, a: &Account) -> Markup {
    let me = visitor.name() == Some(a.name.as_str());
    html! {
        tr {
            td { (a.name) @if me { " (you)" } }
            td { @if a.robot { "robot" } @else { "user" } }
            td {
                form.inline method="post" action="/ui/admin/role" {
                    (csrf(visitor)) input type="hidden" name="name" value=(a.name);
                    (role_select("role", a.role)) button type="submit" { "Set" }
                }
            }
            td {
                @for g in &a.grants {
                    form.inline method="post" action="/ui/admin/revoke" {
                        (csrf(visitor)) input type="hidden" name="name" value=(a.name);
                        input type="hidden" name="pattern" value=(g.pattern);
                        code { (g.pattern) } " " (g.level) " "
                        button.link type="submit" title="Revoke this grant" { "×" }
                    }
                }
            }
            td.actions {
                form.inline method="post" action="/ui/admin/password" {
                    (csrf(visitor)) input type="hidden" name="name" value=(a.name);
                    button type="submit" data-confirm=(format!("Give {} a new random {}? The old one stops working at once.", a.name, if a.robot { "token" } else { "password" })) {
                        @if a.robot { "New token" } @else { "Reset password" }
                    }
                }
                @if !me {
                    form.inline method="post" action="/ui/admin/delete-user" {
                        (csrf(visitor)) input type="hidden" name="name" value=(a.name);
                        button.danger type="submit" data-confirm=(format!("Delete account {}? Its tokens and sessions stop working at once.", a.name)) { "Delete" }
                    }
                }
            }
        }
    }
}

fn account_forms(visitor: &Visitor) -> Markup {
    html! {
        div.forms {
            form.card method="post" action="/ui/admin/user" {
                h3 { "New user" } (csrf(visitor))
                label { "Name" input name="name" required pattern=(NAME_PATTERN); }
                label { "Role" (role_select("role", Role::Push)) }
                label { "Password " span.muted { "(empty: generate one)" } input name="password" type="password" autocomplete="new-password"; }
                button.primary type="submit" { "Create user" }
            }
            form.card method="post" action="/ui/admin/robot" {
                h3 { "New robot" } (csrf(visitor))
                p.muted { "A token for a cluster's pull secret or a CI job, shown once." }
                label { "Name" input name="name" required pattern=(NAME_PATTERN); }
                label { "Role" (role_select("role", Role::Pull)) }
                button.primary type="submit" { "Create robot" }
            }
            form.card method="post" action="/ui/admin/grant" {
                h3 { "Grant on a namespace" } (csrf(visitor))
                label { "Account" input name="name" required; }
                label { "Level" select name="level" { option value="pull" { "pull" } option value="push" { "push" } option value="admin" { "admin" } } }
                label { "Repositories" input name="pattern" required placeholder="team-a/*"; }
                button.primary type="submit" { "Grant" }
            }
        }
    }
}

async fn overview(console: &Console) -> Result<Markup, ConsoleError> {
    let store = &console.app.store;
    let stats = store.stats().await?;
    let runs = store.gc_runs(10).await?;
    let free = crate::store::reserve::free_space(&console.blobs_dir).ok();
    let cert = console.cert.as_ref().map(|path| match crate::tls::describe_cert(path) {
        Ok((names, expires)) => {
            let days = expires.duration_since(SystemTime::now()).map_or(0, |d| d.as_secs() / 86_400);
            format!("expires in {days} days ({})", names.join(", "))
        }
        Err(e) => format!("unreadable: {e}"),
    });
    Ok(html! {
        section {
            h2 { "Storage" }
            dl.facts {
                dt { "Repositories" } dd { (stats.repositories) }
                dt { "Manifests / tags" } dd { (stats.manifests) " / " (stats.tags) }
                dt { "Blobs" } dd { (stats.blobs) ", " (bytes(stats.bytes_stored)) }
                dt { "Unreferenced" } dd { (bytes(stats.bytes_reclaimable)) " (GC frees it once its grace period has passed)" }
                dt { "Uploads in progress" } dd { (stats.uploads) }
                dt { "Disk free" } dd { (free.map_or_else(|| "unknown".into(), bytes)) }
                dt { "Certificate" } dd { (cert.unwrap_or_else(|| "none (plain HTTP)".into())) }
                dt { "Version" } dd { "mirror-registry " (env!("CARGO_PKG_VERSION")) }
            }
            p { a.button href="/ui/admin/gc" { "Run garbage collection…" } }
            h3 { "Recent garbage collections" }
            @if runs.is_empty() { p.muted { "None yet." } } @else {
                table.gc { thead { tr { th { "Finished" } th.num { "Blobs" } th.num { "Freed" } th.num { "Manifests" } th.num { "Tags" } th.num { "Uploads" } } }
                    tbody { @for r in &runs { tr {
                        td { (when(r.finished_at)) } td.num { (r.blobs_deleted) } td.num { (bytes(r.bytes_freed)) }
                        td.num { (r.manifests_deleted) } td.num { (r.tags_deleted) } td.num { (r.uploads_expired) }
                    } } }
                }
            }
        }
    })
}

async fn admin_page(console: &Console, visitor: &Visitor, notice: &Notice) -> PageResult {
    let accounts = console.app.store.list_users().await?;
    let overview = overview(console).await?;
    let body = html! {
        h1 { "Administration" }
        @if !notice.message.is_empty() {
            div.notice role="status" {
                p { (notice.message) }
                @for (label, secret) in &notice.secrets {
                    p { strong { (label) } " (shown once; copy it now):" }
                    (layout::copy_line(secret))
                }
            }
        }
        section {
            h2 { "Accounts (" (accounts.len()) ")" }
            table.accounts { thead { tr { th { "Name" } th { "Kind" } th { "Role" } th { "Grants" } th {} } }
                tbody { @for a in &accounts { (account_row(visitor, a)) } } }
            (account_forms(visitor))
        }
        (overview)
    };
    Ok(layout::ok(page(Some(visitor), "Administration", &body)))
}

/// `GET /ui/admin`.
pub async fn show(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.require_admin()?;
    admin_page(&console, &visitor, &Notice::default()).await
}

async fn hash(secret: Secret) -> Result<String, ConsoleError> {
    tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ConsoleError::Store(e.into()))?
        .map_err(ConsoleError::BadRequest)
}

/// A password from the form, or a generated one (and whether it was generated).
fn password_or_generated(given: &str) -> Result<(Secret, bool), ConsoleError> {
    if given.is_empty() { Ok((Secret::generate(GENERATED_LEN), true)) } else { Ok((Secret::password(given)?, false)) }
}

fn robot_notice(visitor: &Visitor, name: &UserName, role: Role, token: &Secret, verb: &str) -> Notice {
    let mut message = format!("Robot {name} {verb} with role {role}.");
    if role != Role::Pull {
        message.push_str(" Warning: this robot can write, so every node given its pull secret can too.");
    }
    let secrets = vec![
        ("Token", token.expose().to_string()),
        ("auth.json (pull secret)", auth_json(&visitor.registry_host, name, token)),
    ];
    Notice { message, secrets }
}

/// `POST /ui/admin/{action}`: one account change, then the page with what it did.
pub async fn act(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(action): Path<String>,
    Form(form): Form<AdminForm>,
) -> PageResult {
    visitor.check_form(&form.csrf)?;
    visitor.require_admin()?;
    let store = &console.app.store;
    let name: UserName = form.name.trim().parse()?;
    let notice = match action.as_str() {
        "user" => {
            let role: Role = form.role.parse()?;
            let (secret, generated) = password_or_generated(&form.password)?;
            store.create_user(&name, hash(secret.clone()).await?, role, false).await?;
            let secrets = if generated { vec![("Password", secret.expose().to_string())] } else { Vec::new() };
            Notice { message: format!("Created user {name} with role {role}."), secrets }
        }
        "robot" => {
            let role: Role = form.role.parse()?;
            let token = Secret::generate(ROBOT_TOKEN_LEN);
            store.create_user(&name, hash(token.clone()).await?, role, true).await?;
            robot_notice(&visitor, &name, role, &token, "created")
        }
        "password" => {
            let account =
                store.find_user(&name).await?.ok_or_else(|| ConsoleError::NotFound(format!("no account {name}")))?;
            let secret = Secret::generate(if account.robot { ROBOT_TOKEN_LEN } else { GENERATED_LEN });
            store.update_user(&name, Some(hash(secret.clone()).await?), None).await?;
            if account.robot {
                robot_notice(&visitor, &name, account.role, &secret, "has a new token")
            } else {
                let secrets = vec![("New password", secret.expose().to_string())];
                Notice {
                    message: format!("{name} has a new password; the old one and its tokens no longer work."),
                    secrets,
                }
            }
        }
        "role" => {
            let role: Role = form.role.parse()?;
            store.update_user(&name, None, Some(role)).await?;
            Notice { message: format!("{name} now has role {role}."), secrets: Vec::new() }
        }
        "delete-user" => {
            if visitor.name() == Some(name.as_str()) {
                return Err(ConsoleError::BadRequest("you cannot delete your own account; ask another admin".into()));
            }
            store.delete_user(&name).await?;
            Notice { message: format!("Deleted account {name}."), secrets: Vec::new() }
        }
        "grant" => {
            let grant = Grant { pattern: form.pattern.trim().parse()?, level: form.level.parse::<Level>()? };
            store.grant(&name, grant.clone()).await?;
            Notice { message: format!("Granted {} on {} to {name}.", grant.level, grant.pattern), secrets: Vec::new() }
        }
        "revoke" => {
            let pattern: Pattern = form.pattern.parse()?;
            store.revoke(&name, &pattern).await?;
            Notice { message: format!("Revoked {name}'s grant on {pattern}."), secrets: Vec::new() }
        }
        other => return Err(ConsoleError::NotFound(format!("no admin action {other:?}"))),
    };
    tracing::info!(admin = visitor.name().unwrap_or_default(), %action, account = %name, "console account change");
    admin_page(&console, &visitor, &notice).await
}

fn gc_report(report: &gc::Report) -> Markup {
    let r = &report.run;
    html! {
        dl.facts.gc-report {
            dt { "Blobs" } dd { (r.blobs_deleted) } dt { "Bytes" } dd.freed { (bytes(r.bytes_freed)) }
            dt { "Manifests" } dd { (r.manifests_deleted) } dt { "Tags" } dd { (r.tags_deleted) }
            dt { "Expired uploads" } dd { (r.uploads_expired) } dt { "Time" } dd { (format!("{:.2?}", report.elapsed)) }
        }
    }
}

/// `GET /ui/admin/gc`: what a collection would delete now (a dry run), and the button.
pub async fn confirm_gc(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.require_admin()?;
    let report = gc::run(&console.app.store, &gc::Options { dry_run: true, ..console.gc.clone() }).await?;
    let grace = humantime(console.gc.grace_period);
    let body = html! {
        p.crumbs { a href="/ui/admin" { "Administration" } " / " }
        h1 { "Garbage collection" }
        p { "A collection now would free " strong.would-free { (bytes(report.run.bytes_freed)) } ":" }
        (gc_report(&report))
        p.muted { "Blobs no manifest references are kept for " (grace) " after their last use (the grace period), so pushes in progress are never harmed." }
        form method="post" action="/ui/admin/gc" {
            (csrf(&visitor))
            button.primary type="submit" { "Run garbage collection" }
        }
    };
    Ok(layout::ok(page(Some(&visitor), "Garbage collection", &body)))
}

fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "no time".into(),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// `POST /ui/admin/gc`: runs a collection (one at a time from the console) and shows its report.
pub async fn run_gc(State(console): State<Arc<Console>>, visitor: Visitor, Form(form): Form<AdminForm>) -> PageResult {
    visitor.check_form(&form.csrf)?;
    visitor.require_admin()?;
    let _running = console.gc_running.lock().await;
    let report = gc::run(&console.app.store, &console.gc).await?;
    tracing::info!(admin = visitor.name().unwrap_or_default(), %report, "garbage collection from the console");
    let body = html! {
        p.crumbs { a href="/ui/admin" { "Administration" } " / " }
        h1 { "Garbage collection done" }
        p { "Freed " strong.freed { (bytes(report.run.bytes_freed)) } "." }
        (gc_report(&report))
        p { a href="/ui/admin" { "Back to administration" } }
    };
    Ok(layout::ok(page(Some(&visitor), "Garbage collection", &body)))
}
