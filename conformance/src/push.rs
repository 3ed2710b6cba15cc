//! Push workflow: blob uploads (monolithic, chunked, streamed, mounted), manifests of every
//! kind, and the refusals the spec requires.

use reqwest::Method;
use serde_json::json;

use crate::client::Body;
use crate::content::{
    Blob, DOCKER_LIST, DOCKER_MANIFEST, Image, OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, push_blob, push_image,
    put_manifest, sha256, sha512, unique,
};
use crate::pull::INVALID_MANIFEST_NAME;
use crate::{Check, Ctx, ensure, expect_status};

/// The push checks.
pub const CHECKS: &[Check] = &[
    ("POST then PUT uploads a blob", post_then_put),
    ("single POST with digest uploads a blob", single_post),
    ("chunked upload with PATCH and Content-Range", chunked_upload),
    ("PATCH with chunked transfer encoding and no Content-Length", streamed_patch),
    ("out-of-order chunk is answered 416 and the upload resumes", out_of_order_chunk),
    ("GET on an upload reports its progress", upload_status),
    ("cancelled upload is gone", cancel_upload),
    ("empty blob", empty_blob),
    ("sha512 blob", sha512_blob),
    ("digest mismatch is DIGEST_INVALID", digest_mismatch),
    ("cross-repository mount", cross_mount),
    ("mount of an unknown blob falls back to an upload session", mount_fallback),
    ("manifest by tag", manifest_by_tag),
    ("manifest by digest without a tag", manifest_by_digest),
    ("manifest by digest with tag parameters answers OCI-Tag", manifest_with_tag_parameters),
    ("manifest by sha512 digest", manifest_by_sha512),
    ("manifest with an unknown blob is MANIFEST_BLOB_UNKNOWN", manifest_blob_unknown),
    ("manifest under an invalid tag is refused", manifest_invalid_tag),
    ("image index and an index nested in an index", nested_index),
    ("Docker schema2 manifest and manifest list", docker_types),
    ("artifact with empty config and artifactType", artifact),
    ("subject that does not exist yet is accepted with OCI-Subject", subject_not_yet_pushed),
    ("non-distributable layer media type", nondistributable_layer),
    ("custom fields and data in descriptors are kept byte-for-byte", custom_fields),
];

fn start_upload(c: &Ctx, repo: &str) -> Result<String, String> {
    let r = c.client.send(&Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], &Body::Empty)?;
    expect_status("POST upload", &r, &[202])?;
    let location = r.header("location");
    ensure(!location.is_empty(), || "POST upload without Location".into())?;
    Ok(location)
}

fn with_digest(location: &str, digest: &str) -> String {
    format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' })
}

fn head_blob_size(c: &Ctx, repo: &str, digest: &str) -> Result<u64, String> {
    let r = c.client.send(&Method::HEAD, &format!("/v2/{repo}/blobs/{digest}"), &[], &Body::Empty)?;
    expect_status("HEAD blob", &r, &[200])?;
    r.header("content-length").parse().map_err(|_| "HEAD blob without Content-Length".to_string())
}

fn get_blob(c: &Ctx, repo: &str, digest: &str) -> Result<Vec<u8>, String> {
    let r = c.client.send(&Method::GET, &format!("/v2/{repo}/blobs/{digest}"), &[], &Body::Empty)?;
    expect_status("GET blob", &r, &[200])?;
    Ok(r.body)
}

fn post_then_put(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(unique("post-put", 1000));
    let location = start_upload(c, ns)?;
    let r = c.client.send(&Method::PUT, &with_digest(&location, &blob.digest), &[], &Body::Bytes(blob.data.clone()))?;
    expect_status("PUT upload", &r, &[201])?;
    ensure(!r.header("location").is_empty(), || "PUT upload without Location".into())?;
    ensure(r.header("docker-content-digest") == blob.digest || r.header("docker-content-digest").is_empty(), || {
        "wrong Docker-Content-Digest".into()
    })?;
    ensure(head_blob_size(c, ns, &blob.digest)? == blob.data.len() as u64, || {
        "HEAD Content-Length differs from the blob size".into()
    })?;
    ensure(get_blob(c, ns, &blob.digest)? == blob.data, || "GET returned different bytes".into())
}

fn single_post(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(unique("single-post", 700));
    let r = c.client.send(
        &Method::POST,
        &format!("/v2/{ns}/blobs/uploads/?digest={}", blob.digest),
        &[],
        &Body::Bytes(blob.data.clone()),
    )?;
    // The spec lets a registry decline the single POST with 202 and a session to PUT into.
    expect_status("POST with digest", &r, &[201, 202])?;
    if r.status == 202 {
        let r = c.client.send(
            &Method::PUT,
            &with_digest(&r.header("location"), &blob.digest),
            &[],
            &Body::Bytes(blob.data.clone()),
        )?;
        expect_status("PUT after a declined single POST", &r, &[201])?;
    }
    ensure(get_blob(c, ns, &blob.digest)? == blob.data, || "GET returned different bytes".into())
}

fn chunked_upload(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(unique("chunked", 3000));
    let mut location = start_upload(c, ns)?;
    for (start, chunk) in [(0usize, &blob.data[..1000]), (1000, &blob.data[1000..2000]), (2000, &blob.data[2000..])] {
        let end = start + chunk.len() - 1;
        let r = c.client.send(
            &Method::PATCH,
            &location,
            &[("content-range", format!("{start}-{end}")), ("content-type", "application/octet-stream".into())],
            &Body::Bytes(chunk.to_vec()),
        )?;
        expect_status("PATCH chunk", &r, &[202])?;
        ensure(r.header("range") == format!("0-{end}"), || {
            format!("PATCH answered Range {:?}, expected 0-{end}", r.header("range"))
        })?;
        location = r.header("location");
        ensure(!location.is_empty(), || "PATCH without Location".into())?;
    }
    let r = c.client.send(&Method::PUT, &with_digest(&location, &blob.digest), &[], &Body::Empty)?;
    expect_status("PUT to finish", &r, &[201])?;
    ensure(get_blob(c, ns, &blob.digest)? == blob.data, || "GET returned different bytes".into())
}

fn streamed_patch(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(unique("streamed", 100_000));
    let location = start_upload(c, ns)?;
    let r = c.client.send(
        &Method::PATCH,
        &location,
        &[("content-type", "application/octet-stream".into())],
        &Body::Chunked(blob.data.clone()),
    )?;
    expect_status("streamed PATCH", &r, &[202])?;
    let location = r.header("location");
    let r = c.client.send(&Method::PUT, &with_digest(&location, &blob.digest), &[], &Body::Empty)?;
    expect_status("PUT to finish", &r, &[201])?;
    ensure(get_blob(c, ns, &blob.digest)? == blob.data, || "GET returned different bytes".into())
}

fn out_of_order_chunk(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(unique("out-of-order", 2000));
    let location = start_upload(c, ns)?;
    let r = c.client.send(
        &Method::PATCH,
        &location,
        &[("content-range", "0-999".into())],
        &Body::Bytes(blob.data[..1000].to_vec()),
    )?;
    expect_status("first PATCH", &r, &[202])?;
    let location = r.header("location");
    let r = c.client.send(
        &Method::PATCH,
        &location,
        &[("content-range", "1500-1999".into())],
        &Body::Bytes(blob.data[1500..].to_vec()),
    )?;
    expect_status("out-of-order PATCH", &r, &[416])?;
    let r = c.client.send(&Method::GET, &location, &[], &Body::Empty)?;
    expect_status("GET upload after 416", &r, &[204])?;
    ensure(r.header("range") == "0-999", || format!("Range after 416 is {:?}, expected 0-999", r.header("range")))?;
    let r = c.client.send(
        &Method::PATCH,
        &location,
        &[("content-range", "1000-1999".into())],
        &Body::Bytes(blob.data[1000..].to_vec()),
    )?;
    expect_status("resumed PATCH", &r, &[202])?;
    let r = c.client.send(&Method::PUT, &with_digest(&r.header("location"), &blob.digest), &[], &Body::Empty)?;
    expect_status("PUT to finish", &r, &[201])
}

fn upload_status(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let location = start_upload(c, ns)?;
    let r =
        c.client.send(&Method::PATCH, &location, &[("content-range", "0-9".into())], &Body::Bytes(vec![b'x'; 10]))?;
    expect_status("PATCH", &r, &[202])?;
    let location = r.header("location");
    let r = c.client.send(&Method::GET, &location, &[], &Body::Empty)?;
    expect_status("GET upload", &r, &[204])?;
    ensure(r.header("range") == "0-9", || format!("Range is {:?}, expected 0-9", r.header("range")))?;
    ensure(!r.header("location").is_empty(), || "GET upload without Location".into())
}

fn cancel_upload(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let location = start_upload(c, ns)?;
    let r = c.client.send(&Method::DELETE, &location, &[], &Body::Empty)?;
    expect_status("DELETE upload", &r, &[204])?;
    let r = c.client.send(&Method::GET, &location, &[], &Body::Empty)?;
    expect_status("GET cancelled upload", &r, &[404])?;
    ensure(r.error_code() == "BLOB_UPLOAD_UNKNOWN", || {
        format!("code {:?}, expected BLOB_UPLOAD_UNKNOWN", r.error_code())
    })
}

fn empty_blob(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let blob = Blob::new(Vec::new());
    let location = start_upload(c, ns)?;
    let r = c.client.send(&Method::PUT, &with_digest(&location, &blob.digest), &[], &Body::Bytes(Vec::new()))?;
    expect_status("PUT empty blob", &r, &[201])?;
    ensure(head_blob_size(c, ns, &blob.digest)? == 0, || "empty blob has a size".into())
}

fn sha512_blob(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let data = unique("sha512", 1234);
    let digest = sha512(&data);
    let location = start_upload(c, ns)?;
    let r = c.client.send(&Method::PUT, &with_digest(&location, &digest), &[], &Body::Bytes(data.clone()))?;
    expect_status("PUT sha512 blob", &r, &[201])?;
    ensure(r.header("docker-content-digest").is_empty() || r.header("docker-content-digest") == digest, || {
        format!("Docker-Content-Digest {:?} is not the sha512 digest", r.header("docker-content-digest"))
    })?;
    let r = c.client.send(&Method::GET, &format!("/v2/{ns}/blobs/{digest}"), &[], &Body::Empty)?;
    expect_status("GET sha512 blob", &r, &[200])?;
    ensure(r.body == data, || "GET returned different bytes".into())?;
    ensure(r.header("docker-content-digest").is_empty() || r.header("docker-content-digest") == digest, || {
        format!("GET answered Docker-Content-Digest {:?}, not the sha512 digest", r.header("docker-content-digest"))
    })
}

fn digest_mismatch(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let claimed = sha256(b"something else entirely");
    let location = start_upload(c, ns)?;
    let r =
        c.client.send(&Method::PUT, &with_digest(&location, &claimed), &[], &Body::Bytes(unique("mismatch", 100)))?;
    expect_status("PUT with wrong digest", &r, &[400])?;
    ensure(r.error_code() == "DIGEST_INVALID", || format!("code {:?}, expected DIGEST_INVALID", r.error_code()))?;
    let r = c.client.send(&Method::HEAD, &format!("/v2/{ns}/blobs/{claimed}"), &[], &Body::Empty)?;
    expect_status("HEAD of the refused digest", &r, &[404])
}

fn cross_mount(c: &Ctx) -> Result<(), String> {
    let (ns, other) = (&c.config.namespace, &c.config.crossmount_namespace);
    let blob = Blob::new(unique("mount", 900));
    push_blob(&c.client, ns, &blob)?;
    let r = c.client.send(
        &Method::POST,
        &format!("/v2/{other}/blobs/uploads/?mount={}&from={ns}", blob.digest),
        &[],
        &Body::Empty,
    )?;
    expect_status("mount", &r, &[201])?;
    ensure(!r.header("location").is_empty(), || "mount without Location".into())?;
    ensure(get_blob(c, other, &blob.digest)? == blob.data, || "mounted blob differs".into())
}

fn mount_fallback(c: &Ctx) -> Result<(), String> {
    let (ns, other) = (&c.config.namespace, &c.config.crossmount_namespace);
    let digest = sha256(&unique("never uploaded", 10));
    let r = c.client.send(
        &Method::POST,
        &format!("/v2/{other}/blobs/uploads/?mount={digest}&from={ns}"),
        &[],
        &Body::Empty,
    )?;
    expect_status("mount of unknown blob", &r, &[202])?;
    ensure(!r.header("location").is_empty(), || "fallback session without Location".into())
}

fn manifest_by_tag(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("by-tag", 2);
    for b in image.blobs() {
        push_blob(&c.client, ns, b)?;
    }
    let r = put_manifest(&c.client, ns, "push-by-tag", OCI_MANIFEST, &image.manifest)?;
    expect_status("PUT manifest", &r, &[201])?;
    ensure(!r.header("location").is_empty(), || "PUT manifest without Location".into())?;
    ensure(r.header("docker-content-digest") == image.digest(), || {
        format!("Docker-Content-Digest {:?}, expected {}", r.header("docker-content-digest"), image.digest())
    })
}

fn manifest_by_digest(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("by-digest", 1);
    push_image(&c.client, ns, &image.digest(), &image)?;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/{}", image.digest()),
        &[("accept", OCI_MANIFEST.into())],
        &Body::Empty,
    )?;
    expect_status("GET by digest", &r, &[200])?;
    ensure(r.body == image.manifest, || "manifest bytes changed".into())
}

fn manifest_with_tag_parameters(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("tag-params", 1);
    for b in image.blobs() {
        push_blob(&c.client, ns, b)?;
    }
    let r = put_manifest(
        &c.client,
        ns,
        &format!("{}?tag=tp-one&tag=tp-two", image.digest()),
        OCI_MANIFEST,
        &image.manifest,
    )?;
    expect_status("PUT with tag parameters", &r, &[201])?;
    let mut tags = r.header_all("oci-tag");
    tags.sort();
    ensure(tags == ["tp-one", "tp-two"], || format!("OCI-Tag headers {tags:?}, expected tp-one and tp-two"))?;
    for tag in ["tp-one", "tp-two"] {
        let r = c.client.send(
            &Method::GET,
            &format!("/v2/{ns}/manifests/{tag}"),
            &[("accept", OCI_MANIFEST.into())],
            &Body::Empty,
        )?;
        expect_status(&format!("GET {tag}"), &r, &[200])?;
    }
    Ok(())
}

fn manifest_by_sha512(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("sha512-manifest", 1);
    for b in image.blobs() {
        push_blob(&c.client, ns, b)?;
    }
    let digest = sha512(&image.manifest);
    let r = put_manifest(&c.client, ns, &digest, OCI_MANIFEST, &image.manifest)?;
    expect_status("PUT by sha512", &r, &[201])?;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/{digest}"),
        &[("accept", OCI_MANIFEST.into())],
        &Body::Empty,
    )?;
    expect_status("GET by sha512", &r, &[200])?;
    ensure(r.body == image.manifest, || "manifest bytes changed".into())?;
    ensure(r.header("docker-content-digest") == digest, || {
        format!("Docker-Content-Digest {:?}, expected the sha512 digest", r.header("docker-content-digest"))
    })
}

fn manifest_blob_unknown(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("missing-blobs", 1);
    let r = put_manifest(&c.client, ns, "missing-blobs", OCI_MANIFEST, &image.manifest)?;
    expect_status("PUT manifest with unknown blobs", &r, &[400, 404])?;
    ensure(r.error_code() == "MANIFEST_BLOB_UNKNOWN", || {
        format!("code {:?}, expected MANIFEST_BLOB_UNKNOWN", r.error_code())
    })
}

fn manifest_invalid_tag(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let image = Image::oci("invalid-tag", 1);
    for b in image.blobs() {
        push_blob(&c.client, ns, b)?;
    }
    let r = put_manifest(&c.client, ns, INVALID_MANIFEST_NAME, OCI_MANIFEST, &image.manifest)?;
    // The reference grammar admits only tags and digests; a route that does not match it is 404.
    expect_status(&format!("PUT {INVALID_MANIFEST_NAME}"), &r, &[400, 404])?;
    if r.status == 400 {
        ensure(matches!(r.error_code().as_str(), "TAG_INVALID" | "MANIFEST_INVALID"), || {
            format!("code {:?}, expected TAG_INVALID", r.error_code())
        })?;
    }
    let r = c.client.send(&Method::GET, &format!("/v2/{ns}/manifests/{INVALID_MANIFEST_NAME}"), &[], &Body::Empty)?;
    expect_status("GET after the refused PUT", &r, &[404])
}

fn nested_index(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let (a, b) = (Image::oci("index-amd64", 1), Image::oci("index-arm64", 1));
    push_image(&c.client, ns, &a.digest(), &a)?;
    push_image(&c.client, ns, &b.digest(), &b)?;
    let child = |img: &Image, arch: &str| json!({"mediaType": OCI_MANIFEST, "digest": img.digest(), "size": img.manifest.len(), "platform": {"architecture": arch, "os": "linux"}});
    let inner = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child(&a, "amd64"), child(&b, "arm64")]}),
    )
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, &sha256(&inner), OCI_INDEX, &inner)?;
    expect_status("PUT index", &r, &[201])?;
    let outer = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_INDEX, "digest": sha256(&inner), "size": inner.len()}]}))
        .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, "nested-index", OCI_INDEX, &outer)?;
    expect_status("PUT index of an index", &r, &[201])?;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/nested-index"),
        &[("accept", OCI_INDEX.into())],
        &Body::Empty,
    )?;
    expect_status("GET nested index", &r, &[200])?;
    ensure(r.body == outer, || "index bytes changed".into())
}

fn docker_types(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let config = Blob::new(unique("docker config", 200));
    let layer = Blob::new(unique("docker layer", 500));
    push_blob(&c.client, ns, &config)?;
    push_blob(&c.client, ns, &layer)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": config.descriptor("application/vnd.docker.container.image.v1+json"),
        "layers": [layer.descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip")],
    }))
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, "docker-v2s2", DOCKER_MANIFEST, &manifest)?;
    expect_status("PUT schema2", &r, &[201])?;
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": sha256(&manifest), "size": manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, "docker-list", DOCKER_LIST, &list)?;
    expect_status("PUT manifest list", &r, &[201])?;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/docker-list"),
        &[("accept", DOCKER_LIST.into())],
        &Body::Empty,
    )?;
    expect_status("GET manifest list", &r, &[200])?;
    ensure(r.header("content-type") == DOCKER_LIST, || format!("Content-Type {:?}", r.header("content-type")))?;
    ensure(r.body == list, || "manifest list bytes changed".into())
}

fn empty_config() -> Blob {
    Blob::new(b"{}".to_vec())
}

fn artifact(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let config = empty_config();
    let layer = Blob::new(unique("artifact payload", 300));
    push_blob(&c.client, ns, &config)?;
    push_blob(&c.client, ns, &layer)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sbom",
        "config": config.descriptor(OCI_EMPTY), "layers": [layer.descriptor("application/spdx+json")],
    }))
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, &sha256(&manifest), OCI_MANIFEST, &manifest)?;
    expect_status("PUT artifact", &r, &[201])
}

fn subject_not_yet_pushed(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let future = Image::oci("future subject", 1);
    let config = empty_config();
    push_blob(&c.client, ns, &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": config.descriptor(OCI_EMPTY), "layers": [config.descriptor(OCI_EMPTY)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": future.digest(), "size": future.manifest.len()},
    }))
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, &sha256(&manifest), OCI_MANIFEST, &manifest)?;
    expect_status("PUT manifest with absent subject", &r, &[201])?;
    ensure(r.header("oci-subject") == future.digest(), || {
        format!("OCI-Subject {:?}, expected {}", r.header("oci-subject"), future.digest())
    })
}

fn nondistributable_layer(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let config = Blob::new(unique("nd config", 100));
    let layer = Blob::new(unique("nd layer", 400));
    push_blob(&c.client, ns, &config)?;
    push_blob(&c.client, ns, &layer)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": config.descriptor(OCI_CONFIG),
        "layers": [layer.descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")],
    }))
    .map_err(|e| e.to_string())?;
    let r = put_manifest(&c.client, ns, "nondistributable", OCI_MANIFEST, &manifest)?;
    expect_status("PUT manifest with non-distributable layer", &r, &[201])
}

fn custom_fields(c: &Ctx) -> Result<(), String> {
    let ns = &c.config.namespace;
    let config = Blob::new(unique("custom config", 100));
    let layer = Blob::new(b"tiny".to_vec());
    push_blob(&c.client, ns, &config)?;
    push_blob(&c.client, ns, &layer)?;
    // Odd spacing, key order, a `data` field and unknown fields: all must come back unchanged.
    let manifest = format!(
        "{{\n  \"schemaVersion\" : 2,\"mediaType\":\"{OCI_MANIFEST}\", \"x-custom\": {{\"k\": [1,2,3]}},\n  \"config\": {{\"mediaType\":\"{OCI_CONFIG}\",\"digest\":\"{}\",\"size\":{},\"x-extra\":true}},\n  \"layers\": [{{\"size\":4,\"digest\":\"{}\",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"data\":\"dGlueQ==\",\"annotations\":{{\"a\":\"b\"}}}}],\n  \"annotations\": {{\"org.opencontainers.image.title\": \"custom\"}}\n}}\n",
        config.digest,
        config.data.len(),
        layer.digest
    )
    .into_bytes();
    let r = put_manifest(&c.client, ns, "custom-fields", OCI_MANIFEST, &manifest)?;
    expect_status("PUT manifest with custom fields", &r, &[201])?;
    let r = c.client.send(
        &Method::GET,
        &format!("/v2/{ns}/manifests/custom-fields"),
        &[("accept", OCI_MANIFEST.into())],
        &Body::Empty,
    )?;
    expect_status("GET", &r, &[200])?;
    ensure(r.body == manifest, || "manifest bytes changed".into())?;
    ensure(r.header("docker-content-digest") == sha256(&manifest), || "digest of the stored bytes differs".into())
}
