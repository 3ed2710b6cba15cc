//! Content management: deleting tags, manifests and blobs.

use reqwest::Method;

use crate::client::Body;
use crate::content::{Image, OCI_MANIFEST, push_image, sha256};
use crate::pull::INVALID_MANIFEST_NAME;
use crate::{Check, Ctx, ensure, expect_status};

/// The content management checks.
pub const CHECKS: &[Check] = &[
    ("DELETE tag", delete_tag),
    ("DELETE manifest by digest", delete_manifest),
    ("DELETE blob", delete_blob),
    ("DELETE unknown manifest is 404", delete_unknown_manifest),
    ("DELETE of an invalid manifest name is 404", delete_invalid_manifest_name),
];

fn get(c: &Ctx, path: &str) -> Result<u16, String> {
    Ok(c.client.send(&Method::GET, path, &[("accept", OCI_MANIFEST.into())], &Body::Empty)?.status.as_u16())
}

fn delete_tag(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("delete tag", 1);
    push_image(&c.client, ns, "to-untag", &image)?;
    let r = c.client.send(&Method::DELETE, &format!("/v2/{ns}/manifests/to-untag"), &[], &Body::Empty)?;
    // A registry that does not delete tags must say so with 400 or 405 (and keep the tag).
    expect_status("DELETE tag", &r, &[202, 400, 405])?;
    if r.status != 202 {
        return ensure(get(c, &format!("/v2/{ns}/manifests/to-untag"))? == 200, || {
            "a refused tag deletion removed the tag".into()
        });
    }
    ensure(get(c, &format!("/v2/{ns}/manifests/to-untag"))? == 404, || "tag still resolves".into())?;
    ensure(get(c, &format!("/v2/{ns}/manifests/{}", image.digest()))? == 200, || {
        "deleting a tag deleted the manifest".into()
    })
}

fn delete_manifest(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("delete manifest", 1);
    push_image(&c.client, ns, "to-delete", &image)?;
    let r = c.client.send(&Method::DELETE, &format!("/v2/{ns}/manifests/{}", image.digest()), &[], &Body::Empty)?;
    expect_status("DELETE manifest", &r, &[202])?;
    ensure(get(c, &format!("/v2/{ns}/manifests/{}", image.digest()))? == 404, || "manifest still served".into())?;
    ensure(get(c, &format!("/v2/{ns}/manifests/to-delete"))? == 404, || "its tag still resolves".into())
}

fn delete_blob(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("delete blob", 1);
    push_image(&c.client, ns, &image.digest(), &image)?;
    let digest = &image.layers[0].digest;
    let r = c.client.send(&Method::DELETE, &format!("/v2/{ns}/blobs/{digest}"), &[], &Body::Empty)?;
    expect_status("DELETE blob", &r, &[202])?;
    let r = c.client.send(&Method::GET, &format!("/v2/{ns}/blobs/{digest}"), &[], &Body::Empty)?;
    expect_status("GET deleted blob", &r, &[404])
}

fn delete_unknown_manifest(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("anchor", 1);
    push_image(&c.client, ns, "anchor", &image)?;
    let r = c.client.send(
        &Method::DELETE,
        &format!("/v2/{ns}/manifests/{}", sha256(b"never pushed")),
        &[],
        &Body::Empty,
    )?;
    expect_status("DELETE unknown manifest", &r, &[404])?;
    ensure(matches!(r.error_code().as_str(), "MANIFEST_UNKNOWN" | "NAME_UNKNOWN"), || {
        format!("code {:?}", r.error_code())
    })
}

fn delete_invalid_manifest_name(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("anchor", 1);
    push_image(&c.client, ns, "anchor", &image)?;
    let r =
        c.client.send(&Method::DELETE, &format!("/v2/{ns}/manifests/{INVALID_MANIFEST_NAME}"), &[], &Body::Empty)?;
    expect_status(&format!("DELETE {INVALID_MANIFEST_NAME}"), &r, &[404])?;
    ensure(get(c, &format!("/v2/{ns}/manifests/anchor"))? == 200, || "the anchor tag went".into())
}
