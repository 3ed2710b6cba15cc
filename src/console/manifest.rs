//! One manifest (pretty JSON, layers, config summary, index children, referrers, pull lines),
//! and deleting a tag or a manifest after a confirmation that names what goes and what GC
//! will free.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use futures_util::TryStreamExt;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::layout::{self, bytes, copy_line, csrf, manifest_url, page, repo_url, short, when};
use super::{Console, ConsoleError, PageResult, Visitor};
use crate::accounts::Action;
use crate::manifest::{self, Descriptor, Manifest, platform_name};
use crate::reference::{Digest, Reference, RepoName};
use crate::store::browse::{ManifestDetail, ManifestSummary};
use crate::store::{self, Store};

/// Configs larger than this are not summarised (they are a few KiB in practice).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The stored manifest read by the registry's own parser (it passed that parser on push).
fn parsed(summary: &ManifestSummary) -> Option<Manifest> {
    manifest::parse(Some(&summary.media_type), &summary.content).ok()
}

/// `os/architecture[/variant]` of each child of an index (none for an image manifest).
pub fn platforms(summary: &ManifestSummary) -> Vec<String> {
    parsed(summary).map_or_else(Vec::new, |m| m.children.into_iter().filter_map(|c| c.platform).collect())
}

fn parse_repo(name: &str) -> Result<RepoName, ConsoleError> {
    name.parse().map_err(|e| ConsoleError::BadRequest(format!("{e}")))
}

/// Reads a small blob (an image config) whole; `None` when absent or too large.
async fn small_blob(store: &Store, repo: &RepoName, digest: &Digest) -> Option<Vec<u8>> {
    let blob = store.open_blob(repo, digest, None).await.ok()?;
    if blob.size > MAX_CONFIG_BYTES {
        return None;
    }
    blob.body
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .ok()
}

fn config_summary(config: &Value) -> Markup {
    let inner = config.get("config").unwrap_or(&Value::Null);
    let text = |v: Option<&Value>| match v {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let facts = [
        ("Platform", platform_name(config).unwrap_or_default()),
        ("Created", text(config.get("created"))),
        ("Entrypoint", text(inner.get("Entrypoint"))),
        ("Command", text(inner.get("Cmd"))),
        ("Working directory", text(inner.get("WorkingDir"))),
        ("User", text(inner.get("User"))),
        (
            "History entries",
            config.get("history").and_then(Value::as_array).map_or(String::new(), |h| h.len().to_string()),
        ),
    ];
    let labels = inner.get("Labels").and_then(Value::as_object);
    html! {
        dl.facts { @for (k, v) in &facts { @if !v.is_empty() { dt { (k) } dd { (v) } } } }
        @if let Some(labels) = labels.filter(|l| !l.is_empty()) {
            details { summary { "Labels (" (labels.len()) ")" }
                table { @for (k, v) in labels { tr { td { code { (k) } } td { (v.as_str().unwrap_or_default()) } } } }
            }
        }
    }
}

/// `?repo=&digest=` of the manifest page.
#[derive(Deserialize)]
pub struct ManifestQuery {
    repo: String,
    digest: String,
}

fn children_table(repo: &RepoName, children: &[Descriptor]) -> Markup {
    html! {
        h2 { "Platforms (" (children.len()) ")" }
        table { thead { tr { th { "Platform" } th { "Manifest" } th { "Media type" } th.num { "Size" } } }
            tbody { @for d in children { tr {
                td { (d.platform.as_deref().unwrap_or("—")) }
                td { a href=(manifest_url(repo.as_str(), &d.digest)) { (short(&d.digest)) } }
                td { code { (d.media_type) } } td.num { (bytes(d.size)) }
            } } }
        }
    }
}

fn layers_table(layers: &[Descriptor]) -> Markup {
    html! {
        h2 { "Layers (" (layers.len()) ", " (bytes(layers.iter().map(|l| l.size).sum())) ")" }
        table.layers { thead { tr { th { "#" } th { "Digest" } th { "Media type" } th.num { "Size" } } }
            tbody { @for (i, d) in layers.iter().enumerate() { tr {
                td { (i + 1) } td { code title=(d.digest) { (short(&d.digest)) } } td { code { (d.media_type) } } td.num { (bytes(d.size)) }
            } } }
        }
    }
}

fn referrers_table(repo: &RepoName, referrers: &[crate::store::listing::Referrer]) -> Markup {
    html! {
        h2 { "Referrers (" (referrers.len()) ")" }
        @if referrers.is_empty() { p.muted { "No signature, SBOM or other artifact refers to this manifest." } } @else {
            table.referrers { thead { tr { th { "Artifact type" } th { "Manifest" } th.num { "Size" } } }
                tbody { @for r in referrers { tr {
                    td { code { (r.artifact_type.as_deref().unwrap_or(&r.media_type)) } }
                    td { a href=(manifest_url(repo.as_str(), &r.digest)) { (short(&r.digest)) } }
                    td.num { (bytes(r.size)) }
                } } }
            }
        }
    }
}

fn facts(repo: &RepoName, detail: &ManifestDetail, artifact_type: Option<&str>, subject: Option<&Digest>) -> Markup {
    let m = &detail.summary;
    html! {
        dl.facts {
            dt { "Digest" } dd { code { (m.digest) } }
            dt { "Media type" } dd { code { (m.media_type) } }
            @if let Some(t) = artifact_type { dt { "Artifact type" } dd { code { (t) } } }
            dt { "Tags" } dd { @if detail.tags.is_empty() { "none" } @else { (detail.tags.join(", ")) } }
            dt { "Size" } dd { (bytes(m.size)) " in blobs; manifest " (bytes(m.content.len() as u64)) }
            dt { "Pushed" } dd { (when(m.created_at)) }
            @if let Some(s) = subject { dt { "Refers to" } dd { a href=(manifest_url(repo.as_str(), s)) { (short(s)) } } }
        }
    }
}

/// `GET /ui/manifest`: one manifest.
pub async fn show(State(console): State<Arc<Console>>, visitor: Visitor, Query(q): Query<ManifestQuery>) -> PageResult {
    let repo = parse_repo(&q.repo)?;
    let digest: Digest = q.digest.parse().map_err(|e| ConsoleError::BadRequest(format!("{e}")))?;
    let unknown = || ConsoleError::NotFound(format!("no manifest {digest} in a repository {repo} that you may see"));
    if !visitor.may(&repo, Action::Pull) {
        return Err(unknown());
    }
    let store = &console.app.store;
    let detail = match store.manifest_detail(&repo, &digest).await {
        Ok(d) => d,
        Err(store::Error::NameUnknown(_) | store::Error::ManifestUnknown(_)) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let doc: Value = serde_json::from_slice(&detail.summary.content).unwrap_or(Value::Null);
    let pretty = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|_| String::from_utf8_lossy(&detail.summary.content).into_owned());
    // The config summary, layers, children and subject come from the registry's parser; only the
    // explicit `artifactType` is read from the document (the parser falls back to the config type).
    let parsed = parsed(&detail.summary);
    let (blobs, children, subject) = parsed.map_or_else(Default::default, |m| (m.blobs, m.children, m.subject));
    let (config, layers) = blobs.split_first().map_or((None, &[][..]), |(c, l)| (Some(c), l));
    let config = match config {
        Some(c) => small_blob(store, &repo, &c.digest).await.and_then(|b| serde_json::from_slice::<Value>(&b).ok()),
        None => None,
    };
    let referrers = store.list_referrers(&repo, &digest, None).await?;
    let host = &visitor.registry_host;
    let body = html! {
        p.crumbs { a href="/ui/" { "Repositories" } " / " a href=(repo_url(repo.as_str())) { (repo) } " / " }
        h1 { (repo) "@" (short(&digest)) }
        (copy_line(&format!("podman pull {host}/{repo}@{digest}")))
        @for tag in &detail.tags { (copy_line(&format!("podman pull {host}/{repo}:{tag}"))) }
        (facts(&repo, &detail, doc.get("artifactType").and_then(Value::as_str), subject.as_ref()))
        @if visitor.may(&repo, Action::Delete) {
            p { a.button.danger href=(layout::url("/ui/delete", &[("repo", repo.as_str()), ("reference", &digest.to_string())])) { "Delete this manifest…" } }
        }
        @if let Some(config) = &config { h2 { "Config" } (config_summary(config)) }
        @if !children.is_empty() { (children_table(&repo, &children)) }
        @if !layers.is_empty() { (layers_table(layers)) }
        (referrers_table(&repo, &referrers))
        h2 { "Manifest" }
        pre.json { (pretty) }
    };
    Ok(layout::ok(page(Some(&visitor), &format!("{repo}@{}", short(&digest)), &body)))
}

/// `?repo=&reference=` of the delete confirmation.
#[derive(Deserialize)]
pub struct DeleteQuery {
    repo: String,
    reference: String,
}

/// The delete form's fields.
#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    repo: String,
    reference: String,
    /// For a tag: also delete the manifest it leaves without a tag.
    #[serde(default)]
    also_manifest: Option<String>,
}

/// What a delete addresses, checked: the repository, the reference, and the manifest behind it.
async fn target(
    console: &Console,
    visitor: &Visitor,
    repo: &str,
    reference: &str,
) -> Result<(RepoName, Reference, ManifestDetail), ConsoleError> {
    let repo = parse_repo(repo)?;
    let reference: Reference = reference.parse().map_err(|e| ConsoleError::BadRequest(format!("{e}")))?;
    if !visitor.may(&repo, Action::Delete) {
        return Err(ConsoleError::Forbidden(format!("you may not delete in {repo}")));
    }
    let store = &console.app.store;
    let found = async {
        let digest = match &reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(_) => store.get_manifest(&repo, &reference).await?.digest,
        };
        store.manifest_detail(&repo, &digest).await
    };
    match found.await {
        Ok(detail) => Ok((repo, reference, detail)),
        Err(store::Error::NameUnknown(_) | store::Error::ManifestUnknown(_)) => {
            Err(ConsoleError::NotFound(format!("{repo} has no {reference}")))
        }
        Err(e) => Err(e.into()),
    }
}

fn frees(detail: &ManifestDetail) -> Markup {
    html! {
        "GC will then free " strong { (bytes(detail.exclusive_bytes)) }
        " (" (detail.exclusive_blobs) " blobs no other manifest uses), once its grace period has passed."
    }
}

/// `GET /ui/delete`: says what a delete removes and what GC will free, and asks.
pub async fn confirm_delete(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(q): Query<DeleteQuery>,
) -> PageResult {
    let (repo, reference, detail) = target(&console, &visitor, &q.repo, &q.reference).await?;
    let digest = &detail.summary.digest;
    let children = platforms(&detail.summary).len();
    let body = html! {
        p.crumbs { a href="/ui/" { "Repositories" } " / " a href=(repo_url(repo.as_str())) { (repo) } " / " }
        @match &reference {
            Reference::Tag(tag) => {
                h1 { "Delete tag " code { (repo) ":" (tag) } "?" }
                @let others: Vec<&String> = detail.tags.iter().filter(|t| *t != tag.as_str()).collect();
                p { "It points at manifest " a href=(manifest_url(repo.as_str(), digest)) { (short(digest)) } "." }
                @if others.is_empty() {
                    p { "The manifest stays, without a tag: clusters that pull it by digest keep working, and GC keeps its blobs." }
                } @else {
                    p { "The manifest stays: tags " (others.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) " still point at it. GC frees nothing." }
                }
            }
            Reference::Digest(_) => {
                h1 { "Delete manifest " code { (repo) "@" (short(digest)) } "?" }
                p { "Pulls by this digest will fail." @if !detail.tags.is_empty() { " Its tags go with it: " strong { (detail.tags.join(", ")) } "." } }
                p { (frees(&detail)) }
                @if children > 0 { p.muted { "Its " (children) " platform manifests stay; delete them too to free their layers." } }
            }
        }
        form.confirm method="post" action="/ui/delete" {
            (csrf(&visitor))
            input type="hidden" name="repo" value=(repo);
            input type="hidden" name="reference" value=(reference);
            @if matches!(reference, Reference::Tag(_)) && detail.tags.len() == 1 {
                label.check { input type="checkbox" name="also_manifest" value="yes"; " Also delete the manifest. " (frees(&detail)) }
            }
            button.danger type="submit" { "Delete" }
            " " a href=(repo_url(repo.as_str())) { "Cancel" }
        }
    };
    Ok(layout::ok(page(Some(&visitor), "Delete", &body)))
}

/// `POST /ui/delete`: deletes the tag (and, when asked and it was the last tag, its manifest)
/// or the manifest with its tags, then shows the repository.
pub async fn delete(State(console): State<Arc<Console>>, visitor: Visitor, Form(form): Form<DeleteForm>) -> PageResult {
    visitor.check_form(&form.csrf)?;
    let (repo, reference, detail) = target(&console, &visitor, &form.repo, &form.reference).await?;
    let store = &console.app.store;
    let deleted = match &reference {
        Reference::Tag(tag) if form.also_manifest.is_some() => {
            if detail.tags.len() > 1 {
                return Err(ConsoleError::BadRequest(format!(
                    "other tags still point at {}; delete the tag alone",
                    detail.summary.digest
                )));
            }
            store.delete_manifest(&repo, &Reference::Digest(detail.summary.digest.clone())).await?;
            format!("{repo}:{tag} and its manifest {}", detail.summary.digest)
        }
        Reference::Tag(tag) => {
            store.delete_manifest(&repo, &reference).await?;
            format!("{repo}:{tag}")
        }
        Reference::Digest(d) => {
            store.delete_manifest(&repo, &reference).await?;
            format!("{repo}@{d}")
        }
    };
    tracing::info!(user = visitor.name().unwrap_or_default(), %deleted, "deleted from the console");
    Ok(Redirect::to(&layout::url("/ui/repo", &[("name", repo.as_str()), ("deleted", &deleted)])).into_response())
}
