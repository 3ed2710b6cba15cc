//! The repositories page (search, namespaces as a tree) and a repository's page (its tags and
//! its untagged images, with sizes, platforms, times and `podman pull` lines).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, bytes, copy_line, manifest_url, page, repo_url, short, when};
use super::manifest::platforms;
use super::{Console, ConsoleError, PageResult, Visitor};
use crate::accounts::Action;
use crate::reference::RepoName;
use crate::store::browse::{ManifestSummary, RepositorySummary};

/// `?q=` of the repositories page.
#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// A namespace level of the tree: the repository at this path (if any) and the levels below.
#[derive(Default)]
struct Node<'a> {
    repository: Option<&'a RepositorySummary>,
    children: BTreeMap<&'a str, Node<'a>>,
}

impl<'a> Node<'a> {
    fn insert(&mut self, repo: &'a RepositorySummary) {
        let mut node = self;
        for part in repo.name.split('/') {
            node = node.children.entry(part).or_default();
        }
        node.repository = Some(repo);
    }

    fn count(&self) -> usize {
        usize::from(self.repository.is_some()) + self.children.values().map(Node::count).sum::<usize>()
    }
}

fn tree(node: &Node<'_>) -> Markup {
    html! {
        ul.tree {
            @for (part, child) in &node.children {
                li {
                    @if let Some(repo) = child.repository {
                        a.repo href=(repo_url(&repo.name)) { (part) }
                        span.muted { " · " (repo.tags) " tags · " (repo.manifests) " manifests · updated " (when(repo.updated_at)) }
                    } @else {
                        span.namespace { (part) "/" }
                    }
                    @if !child.children.is_empty() {
                        details open[child.children.len() < 50] {
                            summary { (child.count() - usize::from(child.repository.is_some())) " repositories below" }
                            (tree(child))
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/`: the repositories the visitor may pull, filtered by `q`.
pub async fn list(State(console): State<Arc<Console>>, visitor: Visitor, Query(search): Query<Search>) -> PageResult {
    let q = search.q.trim().to_lowercase();
    let all = console.app.store.repository_summaries().await?;
    let visible: Vec<&RepositorySummary> = all
        .iter()
        .filter(|r| r.name.parse::<RepoName>().is_ok_and(|n| visitor.may(&n, Action::Pull)))
        .filter(|r| q.is_empty() || r.name.contains(&q))
        .collect();
    let mut root = Node::default();
    for r in &visible {
        root.insert(r);
    }
    let body = html! {
        h1 { "Repositories" }
        form.search method="get" action="/ui/" role="search" {
            input type="search" name="q" value=(search.q) placeholder="Filter by name, e.g. openshift/release";
            button type="submit" { "Search" }
        }
        @if visible.is_empty() {
            p.empty {
                @if q.is_empty() { "Nothing is mirrored here yet. Push an image, or run " code { "mirror-registry mirror" } "." }
                @else { "No repository matches " code { (search.q) } "." }
            }
        } @else {
            p.muted { (visible.len()) " repositories" }
            (tree(&root))
        }
    };
    Ok(layout::ok(page(Some(&visitor), "Repositories", &body)))
}

/// `?name=` of a repository's page.
#[derive(Deserialize)]
pub struct RepoQuery {
    name: String,
    #[serde(default)]
    deleted: Option<String>,
}

fn manifest_rows(visitor: &Visitor, repo: &RepoName, rows: &[ManifestSummary], may_delete: bool) -> Markup {
    let host = &visitor.registry_host;
    html! {
        table.manifests {
            thead { tr {
                th { "Tag" } th { "Digest" } th.num { "Size" } th { "Platforms" } th { "Created" } th { "Pushed" } th { "Pull" }
                @if may_delete { th {} }
            } }
            tbody {
                @for m in rows {
                    @let by_digest = format!("podman pull {host}/{repo}@{}", m.digest);
                    tr {
                        td.tag { (m.tag.as_deref().unwrap_or("—")) }
                        td { a.digest href=(manifest_url(repo.as_str(), &m.digest)) title=(m.digest) { (short(&m.digest)) } }
                        td.num { (bytes(m.size)) }
                        td { (platforms(m).join(", ")) }
                        td { (when(m.created_at)) }
                        td { (when(m.pushed_at)) }
                        td.pull {
                            @if let Some(tag) = &m.tag {
                                button.copy type="button" data-copy=(format!("podman pull {host}/{repo}:{tag}")) title="Copy podman pull by tag" { "tag" }
                            }
                            button.copy type="button" data-copy=(by_digest) title="Copy podman pull by digest" { "digest" }
                        }
                        @if may_delete {
                            td { a.danger href=(layout::url("/ui/delete", &[("repo", repo.as_str()), ("reference", m.tag.clone().unwrap_or_else(|| m.digest.to_string()).as_str())])) { "Delete…" } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/repo?name=`: tags and untagged images of one repository.
pub async fn show(State(console): State<Arc<Console>>, visitor: Visitor, Query(query): Query<RepoQuery>) -> PageResult {
    let repo: RepoName = query.name.parse().map_err(|e| ConsoleError::BadRequest(format!("{e}")))?;
    let unknown = || ConsoleError::NotFound(format!("no repository {repo} that you may see"));
    if !visitor.may(&repo, Action::Pull) {
        return Err(unknown());
    }
    let (tagged, untagged) = match console.app.store.manifest_summaries(&repo).await {
        Ok(found) => found,
        Err(crate::store::Error::NameUnknown(_)) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let may_delete = visitor.may(&repo, Action::Delete);
    let host = &visitor.registry_host;
    let body = html! {
        p.crumbs { a href="/ui/" { "Repositories" } " / " }
        h1 { (repo) }
        @if let Some(what) = &query.deleted { p.notice role="status" { "Deleted " code { (what) } "." } }
        @if let Some(first) = tagged.first().and_then(|m| m.tag.as_deref()) {
            (copy_line(&format!("podman pull {host}/{repo}:{first}")))
        }
        h2 { "Tags " span.muted { "(" (tagged.len()) ")" } }
        @if tagged.is_empty() { p.empty { "No tags." } } @else { (manifest_rows(&visitor, &repo, &tagged, may_delete)) }
        @if !untagged.is_empty() {
            h2 { "Images without a tag " span.muted { "(" (untagged.len()) ")" } }
            p.muted { "Pushed by digest, as mirroring tools do; clusters pull them by digest, so GC keeps them." }
            (manifest_rows(&visitor, &repo, &untagged, may_delete))
        }
    };
    Ok(layout::ok(page(Some(&visitor), repo.as_str(), &body)))
}
