//! Pull workflow: manifests and blobs by tag and digest, HEAD, ranges, unknown content.

use reqwest::Method;

use crate::client::Body;
use crate::content::{Image, OCI_MANIFEST, push_image, sha256};
use crate::{Check, Ctx, ensure, expect_status};

/// The pull checks.
pub const CHECKS: &[Check] = &[
    ("GET manifest by tag", get_by_tag),
    ("GET manifest by digest", get_by_digest),
    ("HEAD manifest by tag and by digest", head_manifest),
    ("HEAD manifest without Accept finds OCI content", head_without_accept),
    ("GET blob", get_blob),
    ("HEAD blob has Content-Length", head_blob),
    ("GET blob with Range", get_blob_range),
    ("unknown manifest is 404", unknown_manifest),
    ("GET and HEAD of an invalid manifest name are 404", invalid_manifest_name),
    ("unknown blob is 404 BLOB_UNKNOWN", unknown_blob),
];

fn pushed(c: &Ctx, tag: &str) -> Result<Image, String> {
    let image = Image::oci(&format!("pull {tag}"), 1);
    push_image(&c.client, &c.config.namespace, tag, &image)?;
    Ok(image)
}

fn get_by_tag(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-by-tag")?;
    let ns = &c.config.namespace;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/pull-by-tag"),
        &[("accept", OCI_MANIFEST.into())],
        &Body::Empty,
    )?;
    expect_status("GET manifest", &r, &[200])?;
    ensure(r.body == image.manifest, || "manifest bytes differ".into())?;
    ensure(r.header("docker-content-digest") == image.digest(), || "wrong Docker-Content-Digest".into())?;
    ensure(r.header("content-type") == OCI_MANIFEST, || format!("Content-Type {:?}", r.header("content-type")))
}

fn get_by_digest(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-by-digest")?;
    let ns = &c.config.namespace;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/{}", image.digest()),
        &[("accept", OCI_MANIFEST.into())],
        &Body::Empty,
    )?;
    expect_status("GET manifest by digest", &r, &[200])?;
    ensure(sha256(&r.body) == image.digest(), || "body does not hash to the digest".into())
}

fn head_manifest(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-head")?;
    let ns = &c.config.namespace;
    for reference in ["pull-head".to_string(), image.digest()] {
        let r = c.client.send(
            &Method::HEAD,
            &format!("/v2/{ns}/manifests/{reference}"),
            &[("accept", OCI_MANIFEST.into())],
            &Body::Empty,
        )?;
        expect_status(&format!("HEAD {reference}"), &r, &[200])?;
        ensure(r.header("docker-content-digest") == image.digest(), || {
            "HEAD without the right Docker-Content-Digest".into()
        })?;
        ensure(r.header("content-length") == image.manifest.len().to_string(), || {
            format!("HEAD Content-Length {:?}", r.header("content-length"))
        })?;
        ensure(r.body.is_empty(), || "HEAD answered a body".into())?;
    }
    Ok(())
}

fn head_without_accept(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-no-accept")?;
    let ns = &c.config.namespace;
    let r = c.client.send(&Method::HEAD, &format!("/v2/{ns}/manifests/pull-no-accept"), &[], &Body::Empty)?;
    expect_status("HEAD without Accept", &r, &[200])?;
    ensure(r.header("docker-content-digest") == image.digest(), || "wrong Docker-Content-Digest".into())
}

fn get_blob(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-blob")?;
    let ns = &c.config.namespace;
    for b in image.blobs() {
        let r = c.client.send(&Method::GET, &format!("/v2/{ns}/blobs/{}", b.digest), &[], &Body::Empty)?;
        expect_status("GET blob", &r, &[200])?;
        ensure(r.body == b.data, || format!("blob {} differs", b.digest))?;
    }
    Ok(())
}

fn head_blob(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-head-blob")?;
    let ns = &c.config.namespace;
    let layer = &image.layers[0];
    let r = c.client.send(&Method::HEAD, &format!("/v2/{ns}/blobs/{}", layer.digest), &[], &Body::Empty)?;
    expect_status("HEAD blob", &r, &[200])?;
    ensure(r.header("content-length") == layer.data.len().to_string(), || {
        format!("Content-Length {:?}", r.header("content-length"))
    })
}

fn get_blob_range(c: &Ctx) -> Result<(), String> {
    let image = pushed(c, "pull-range")?;
    let ns = &c.config.namespace;
    let layer = &image.layers[0];
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/blobs/{}", layer.digest),
        &[("range", "bytes=10-19".into())],
        &Body::Empty,
    )?;
    expect_status("GET blob range", &r, &[206])?;
    ensure(r.body == layer.data[10..20], || "range bytes differ".into())
}

fn unknown_manifest(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/{}", sha256(b"no such manifest")),
        &[],
        &Body::Empty,
    )?;
    expect_status("GET unknown manifest", &r, &[404])?;
    ensure(matches!(r.error_code().as_str(), "MANIFEST_UNKNOWN" | "NAME_UNKNOWN"), || {
        format!("code {:?}", r.error_code())
    })
}

/// The reference the official suite reads as a manifest that does not exist: it is neither a
/// tag nor a digest, and still 404 (not 400), for GET and HEAD alike.
pub const INVALID_MANIFEST_NAME: &str = ".INVALID_MANIFEST_NAME";

fn invalid_manifest_name(c: &Ctx) -> Result<(), String> {
    pushed(c, "pull-invalid-name")?;
    let ns = &c.config.namespace;
    for method in [Method::GET, Method::HEAD] {
        let r = c.client.send(&method, &format!("/v2/{ns}/manifests/{INVALID_MANIFEST_NAME}"), &[], &Body::Empty)?;
        expect_status(&format!("{method} {INVALID_MANIFEST_NAME}"), &r, &[404])?;
    }
    Ok(())
}

fn unknown_blob(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let r = c.client.send(&Method::GET, &format!("/v2/{ns}/blobs/{}", sha256(b"no such blob")), &[], &Body::Empty)?;
    expect_status("GET unknown blob", &r, &[404])?;
    ensure(r.error_code() == "BLOB_UNKNOWN", || format!("code {:?}, expected BLOB_UNKNOWN", r.error_code()))
}
