//! The store's contract, run on SQLite and on PostgreSQL: manifests with their references and
//! tags in one transaction, byte-order pagination, mounts, upload session rows shared between
//! replicas, console sessions. GC and retention are in `gc::store_tests`, accounts in
//! `accounts::store`; the SQL layer itself in `sql::tests`.

use bytes::Bytes;
use serde_json::json;

use super::fixture::{Fixture, backend_tests};
use super::{Error, Store};
use crate::accounts::Role;
use crate::accounts::sessions::SessionRow;
use crate::manifest::OCI_MANIFEST;
use crate::reference::{Algorithm, Digest, Reference, RepoName, Tag};

fn repo(s: &str) -> RepoName {
    s.parse().expect("repo")
}

fn body(data: &[u8]) -> super::ByteStream {
    Box::pin(futures_util::stream::iter([Ok(Bytes::copy_from_slice(data))]))
}

async fn blob(store: &Store, r: &str, data: &[u8]) -> Digest {
    let d = Digest::of(Algorithm::Sha256, data);
    store.put_blob(&repo(r), &d, body(data)).await.expect("blob");
    d
}

fn manifest(config: &Digest, layer: &Digest, layer_size: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": layer_size}]}))
    .expect("json")
}

fn tag(s: &str) -> Tag {
    s.parse().expect("tag")
}

async fn a_manifest_commits_with_its_references_and_tags_or_not_at_all(f: Fixture) {
    let s = &f.store;
    let config = blob(s, "app", b"{}").await;
    let absent = Digest::of(Algorithm::Sha256, b"never pushed");
    // Refused: nothing of it stays, not even the repository the push would have created.
    let bad = Bytes::from(manifest(&config, &absent, 12));
    let err = s
        .put_manifest(&repo("fresh"), &Reference::Tag(tag("v1")), Some(OCI_MANIFEST), bad, vec![tag("v2")])
        .await
        .expect_err("blob unknown");
    assert!(matches!(err, Error::ManifestBlobUnknown(_)), "{err}");
    assert!(matches!(s.list_tags(&repo("fresh"), None, None).await, Err(Error::NameUnknown(_))));
    assert_eq!(s.stats().await.expect("stats").manifests, 0);

    let layer = blob(s, "app", b"layer bytes").await;
    let content = manifest(&config, &layer, 11);
    let put = s
        .put_manifest(
            &repo("app"),
            &Reference::Tag(tag("v1")),
            Some(OCI_MANIFEST),
            content.clone().into(),
            vec![tag("v2")],
        )
        .await
        .expect("push");
    assert_eq!(s.list_tags(&repo("app"), None, None).await.expect("tags").items, ["v1", "v2"]);
    let got = s.get_manifest(&repo("app"), &Reference::Tag(tag("v2"))).await.expect("by tag");
    assert_eq!((got.digest, got.content.as_ref()), (put.digest.clone(), content.as_slice()), "bytes as pushed");
    let stats = s.stats().await.expect("stats");
    assert_eq!((stats.manifests, stats.tags, stats.blobs, stats.bytes_reclaimable), (1, 2, 2, 0));

    // Deleting by digest takes its tags and reference rows along (ON DELETE CASCADE).
    s.delete_manifest(&repo("app"), &Reference::Digest(put.digest)).await.expect("delete");
    assert!(s.list_tags(&repo("app"), None, None).await.expect("tags").items.is_empty());
    let stats = s.stats().await.expect("stats");
    assert_eq!((stats.manifests, stats.tags, stats.bytes_reclaimable), (0, 0, 13), "both blobs now unreferenced");
}

async fn tags_and_repositories_page_in_byte_order(f: Fixture) {
    let s = &f.store;
    let config = blob(s, "r", b"{}").await;
    let layer = blob(s, "r", b"l").await;
    let content = Bytes::from(manifest(&config, &layer, 1));
    let names = ["b", "a_1", "B", "a", "a-1", "Z9", "a.1"];
    let tags: Vec<Tag> = names.iter().map(|n| tag(n)).collect();
    s.put_manifest(&repo("r"), &Reference::Tag(tag("x")), Some(OCI_MANIFEST), content, tags).await.expect("push");
    // Byte order, whatever the database's collation: upper case first, then '-', '.', '_'.
    let all = s.list_tags(&repo("r"), None, None).await.expect("all").items;
    assert_eq!(all, ["B", "Z9", "a", "a-1", "a.1", "a_1", "b", "x"]);
    let first = s.list_tags(&repo("r"), None, Some(3)).await.expect("page 1");
    assert_eq!((first.items.as_slice(), first.more), (&["B", "Z9", "a"].map(String::from)[..], true));
    let rest = s.list_tags(&repo("r"), Some("a".into()), Some(5)).await.expect("page 2");
    assert_eq!((rest.items.as_slice(), rest.more), (&["a-1", "a.1", "a_1", "b", "x"].map(String::from)[..], false));
    let none = s.list_tags(&repo("r"), None, Some(0)).await.expect("n=0");
    assert!(none.items.is_empty() && !none.more);

    for r in ["ab", "a/b", "a-b"] {
        blob(s, r, b"x").await;
    }
    let repos = s.list_repositories(None, Some(2), None).await.expect("repos");
    assert_eq!((repos.items.as_slice(), repos.more), (&["a-b", "a/b"].map(String::from)[..], true));
    let rest = s.list_repositories(Some("a/b".into()), None, None).await.expect("rest");
    assert_eq!(rest.items, ["ab", "r"]);
    let visible = s.list_repositories(None, Some(1), Some(Box::new(|n: &str| n.starts_with('a')))).await;
    let visible = visible.expect("filtered");
    assert_eq!((visible.items.as_slice(), visible.more), (&["a-b"].map(String::from)[..], true));
}

async fn a_blob_mounts_only_from_a_repository_that_holds_it(f: Fixture) {
    let s = &f.store;
    let d = blob(s, "src", b"shared layer").await;
    blob(s, "other", b"something else").await;
    assert!(!s.mount_blob(&repo("dst"), &d, &repo("other")).await.expect("mount"), "other lacks it");
    assert!(s.stat_blob(&repo("dst"), &d, false).await.is_err());
    assert!(s.mount_blob(&repo("dst"), &d, &repo("src")).await.expect("mount"));
    assert_eq!(s.stat_blob(&repo("dst"), &d, true).await.expect("linked"), 12);
    s.delete_blob(&repo("dst"), &d).await.expect("unlink");
    assert!(matches!(s.stat_blob(&repo("dst"), &d, false).await, Err(Error::BlobUnknown(_))));
    assert_eq!(s.stat_blob(&repo("src"), &d, false).await.expect("still in src"), 12);
    assert!(matches!(s.delete_blob(&repo("dst"), &d).await, Err(Error::BlobUnknown(_))));
}

async fn upload_sessions_are_rows_another_replica_can_finish(f: Fixture) {
    let (a, b) = (&f.store, &f.replica());
    let id = a.start_upload(&repo("r")).await.expect("start");
    assert_eq!(a.stats().await.expect("stats").uploads, 1);
    // The second replica has never seen the session: it rebuilds it from the row and the file.
    let size = b.append_upload(&repo("r"), &id, None, body(b"chunk one ")).await.expect("append on b");
    assert_eq!(size, 10);
    assert!(matches!(b.upload_size(&repo("elsewhere"), &id).await, Err(Error::UploadUnknown(_))));
    let d = Digest::of(Algorithm::Sha256, b"chunk one chunk two");
    b.commit_upload(&repo("r"), &id, &d, None, body(b"chunk two")).await.expect("commit on b");
    assert_eq!(a.stat_blob(&repo("r"), &d, false).await.expect("visible on a"), 19);
    assert_eq!(a.stats().await.expect("stats").uploads, 0, "the row went with the commit");

    let cancelled = a.start_upload(&repo("r")).await.expect("start");
    b.cancel_upload(&repo("r"), &cancelled).await.expect("cancel on b");
    assert!(matches!(b.upload_size(&repo("r"), &cancelled).await, Err(Error::UploadUnknown(_))));
    assert_eq!(a.stats().await.expect("stats").uploads, 0, "the row is gone for every replica");
}

async fn console_sessions_are_found_until_they_expire_or_end(f: Fixture) {
    let s = &f.store;
    let name = "alice".parse().expect("name");
    let user_id = s.create_user(&name, "hash".into(), Role::Push, false).await.expect("user");
    let row = |expires_at| SessionRow { user_id, generation: 1, csrf_token: "csrf".into(), expires_at };
    let now = super::now();
    s.insert_session("live".into(), row(now + 600)).await.expect("insert");
    s.insert_session("stale".into(), row(now - 1)).await.expect("insert");
    assert_eq!(s.find_session("live".into()).await.expect("find"), Some(row(now + 600)));
    assert_eq!(s.find_session("stale".into()).await.expect("find"), None, "expired");
    s.delete_session("live".into()).await.expect("logout");
    assert_eq!(s.find_session("live".into()).await.expect("find"), None);
    s.insert_session("again".into(), row(now + 600)).await.expect("insert");
    s.delete_user(&name).await.expect("delete user");
    assert_eq!(s.find_session("again".into()).await.expect("find"), None, "sessions die with the account");
}

async fn settings_are_created_once(f: Fixture) {
    let (a, b) = (&f.store, &f.replica());
    let first = a.setting_or_init("signing_key", vec![1, 2, 3]).await.expect("init");
    let second = b.setting_or_init("signing_key", vec![9]).await.expect("read");
    assert_eq!((first, second), (vec![1, 2, 3], vec![1, 2, 3]));
    a.ping().await.expect("ping");
}

backend_tests!(
    a_manifest_commits_with_its_references_and_tags_or_not_at_all,
    tags_and_repositories_page_in_byte_order,
    a_blob_mounts_only_from_a_repository_that_holds_it,
    upload_sessions_are_rows_another_replica_can_finish,
    console_sessions_are_found_until_they_expire_or_end,
    settings_are_created_once,
);
