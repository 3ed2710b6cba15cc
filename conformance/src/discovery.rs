//! Content discovery: tag listing with pagination, and the referrers API.

use reqwest::Method;
use serde_json::json;

use crate::client::Body;
use crate::content::{Blob, Image, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, push_blob, push_image, put_manifest, sha256};
use crate::{Check, Ctx, ensure, expect_status};

/// The content discovery checks.
pub const CHECKS: &[Check] = &[
    ("tags list", tags_list),
    ("tags list with n paginates with Link", tags_paginated),
    ("tags list with n and last", tags_after_last),
    ("tags list with n=0 is empty", tags_n_zero),
    ("referrers list", referrers),
    ("referrers filtered by artifactType", referrers_filtered),
    ("referrers of an unknown digest is an empty index", referrers_unknown),
];

/// Pushes one image under four tags in a fresh repository; returns the repository and tags.
fn tagged_repo(c: &Ctx, label: &str) -> Result<(String, Vec<String>), String> {
    let repo = format!("{}/{label}-{}", c.config.namespace, &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let image = Image::oci(label, 1);
    let tags: Vec<String> = ["d", "a", "c", "b"].iter().map(|t| format!("tag-{t}")).collect();
    for tag in &tags {
        push_image(&c.client, &repo, tag, &image)?;
    }
    let mut sorted = tags;
    sorted.sort();
    Ok((repo, sorted))
}

fn list(c: &Ctx, repo: &str, query: &str) -> Result<(Vec<String>, String), String> {
    let r = c.client.send(&Method::GET, &format!("/v2/{repo}/tags/list{query}"), &[], &Body::Empty)?;
    expect_status("tags list", &r, &[200])?;
    let v = r.json()?;
    ensure(v["name"] == repo, || format!("name {:?}", v["name"]))?;
    let tags = v["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok((tags, r.header("link")))
}

fn tags_list(c: &Ctx) -> Result<(), String> {
    let (repo, tags) = tagged_repo(c, "tags")?;
    let (got, _) = list(c, &repo, "")?;
    ensure(got == tags, || format!("tags {got:?}, expected {tags:?} in lexical order"))
}

fn tags_paginated(c: &Ctx) -> Result<(), String> {
    let (repo, tags) = tagged_repo(c, "tags-n")?;
    let (got, link) = list(c, &repo, "?n=2")?;
    ensure(got == tags[..2], || format!("first page {got:?}, expected {:?}", &tags[..2]))?;
    ensure(link.contains("rel=\"next\"") && link.contains("last="), || format!("Link header {link:?}"))
}

fn tags_after_last(c: &Ctx) -> Result<(), String> {
    let (repo, tags) = tagged_repo(c, "tags-last")?;
    let (got, _) = list(c, &repo, &format!("?n=2&last={}", tags[1]))?;
    ensure(got == tags[2..4], || format!("page after {} is {got:?}, expected {:?}", tags[1], &tags[2..4]))
}

fn tags_n_zero(c: &Ctx) -> Result<(), String> {
    let (repo, _) = tagged_repo(c, "tags-zero")?;
    let (got, link) = list(c, &repo, "?n=0")?;
    ensure(got.is_empty(), || format!("n=0 listed {got:?}"))?;
    ensure(link.is_empty(), || format!("n=0 answered Link {link:?}"))
}

/// Referrer digests with their artifact types.
type Referrers = Vec<(String, &'static str)>;

/// Pushes a subject and two referrers of different artifact types.
fn with_referrers(c: &Ctx) -> Result<(Image, Referrers), String> {
    let ns = &c.config.namespace;
    let subject = Image::oci("referrers subject", 1);
    push_image(&c.client, ns, &subject.digest(), &subject)?;
    let config = Blob::new(b"{}".to_vec());
    push_blob(&c.client, ns, &config)?;
    let mut referrers = Vec::new();
    for artifact_type in ["application/vnd.example.sbom", "application/vnd.example.signature"] {
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": config.descriptor(OCI_EMPTY), "layers": [config.descriptor(OCI_EMPTY)],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest(), "size": subject.manifest.len()},
            "annotations": {"org.example.kind": artifact_type},
        }))
        .map_err(|e| e.to_string())?;
        let r = put_manifest(&c.client, ns, &sha256(&body), OCI_MANIFEST, &body)?;
        expect_status("PUT referrer", &r, &[201])?;
        referrers.push((sha256(&body), artifact_type));
    }
    Ok((subject, referrers))
}

fn referrers(c: &Ctx) -> Result<(), String> {
    let (subject, referrers) = with_referrers(c)?;
    let ns = &c.config.namespace;
    let r = c.client.send(&Method::GET, &format!("/v2/{ns}/referrers/{}", subject.digest()), &[], &Body::Empty)?;
    expect_status("GET referrers", &r, &[200])?;
    ensure(r.header("content-type").starts_with(OCI_INDEX), || format!("Content-Type {:?}", r.header("content-type")))?;
    let v = r.json()?;
    let listed = v["manifests"].as_array().cloned().unwrap_or_default();
    for (digest, artifact_type) in &referrers {
        let entry =
            listed.iter().find(|m| m["digest"] == *digest).ok_or_else(|| format!("referrer {digest} not listed"))?;
        ensure(entry["artifactType"] == *artifact_type, || format!("artifactType {:?}", entry["artifactType"]))?;
        ensure(entry["annotations"]["org.example.kind"] == *artifact_type, || "annotations missing".into())?;
    }
    Ok(())
}

fn referrers_filtered(c: &Ctx) -> Result<(), String> {
    let (subject, referrers) = with_referrers(c)?;
    let ns = &c.config.namespace;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/referrers/{}?artifactType=application/vnd.example.sbom", subject.digest()),
        &[],
        &Body::Empty,
    )?;
    expect_status("GET referrers filtered", &r, &[200])?;
    let v = r.json()?;
    let listed: Vec<_> = v["manifests"].as_array().cloned().unwrap_or_default();
    ensure(listed.len() == 1 && listed[0]["digest"] == referrers[0].0, || format!("filtered list {listed:?}"))?;
    ensure(r.header("oci-filters-applied") == "artifactType", || {
        format!("OCI-Filters-Applied {:?}", r.header("oci-filters-applied"))
    })
}

fn referrers_unknown(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/referrers/{}", sha256(b"nobody refers to this")),
        &[],
        &Body::Empty,
    )?;
    expect_status("GET referrers of unknown digest", &r, &[200])?;
    let v = r.json()?;
    ensure(v["manifests"].as_array().is_some_and(Vec::is_empty), || format!("expected an empty index, got {v}"))
}
