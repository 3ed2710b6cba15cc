//! GC and retention over a real store: what each rule deletes, and what it must keep. Each test
//! runs on SQLite and on PostgreSQL.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::duration::HumanDuration;
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::reference::{Algorithm, Digest, Reference, RepoName};
use crate::store::fixture::{Fixture, backend_tests};
use crate::store::sql::params;

fn repo(s: &str) -> RepoName {
    s.parse().expect("repo")
}

async fn blob(store: &Store, r: &str, data: &[u8]) -> Digest {
    let d = Digest::of(Algorithm::Sha256, data);
    let body = Bytes::copy_from_slice(data);
    store.put_blob(&repo(r), &d, Box::pin(futures_util::stream::iter([Ok(body)]))).await.expect("blob");
    d
}

/// Pushes an image (config + one layer `seed`) under `reference` (a tag, or "" for by digest).
async fn image(store: &Store, r: &str, reference: &str, seed: &str, subject: Option<&Digest>) -> Digest {
    let config = blob(store, r, b"{}").await;
    let layer = blob(store, r, seed.as_bytes()).await;
    let mut m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.to_string(), "size": seed.len()}]});
    if let Some(s) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s.to_string(), "size": 1});
    }
    push(store, r, reference, OCI_MANIFEST, serde_json::to_vec(&m).expect("json")).await
}

async fn index(store: &Store, r: &str, reference: &str, children: &[&Digest]) -> Digest {
    // Each child with its real size: the store checks descriptor sizes of children it holds.
    let mut manifests = Vec::new();
    for d in children {
        let size = store.get_manifest(&repo(r), &Reference::Digest((*d).clone())).await.map_or(1, |m| m.content.len());
        manifests.push(json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size}));
    }
    let body =
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})).expect("json");
    push(store, r, reference, OCI_INDEX, body).await
}

async fn push(store: &Store, r: &str, reference: &str, media_type: &str, body: Vec<u8>) -> Digest {
    let d = Digest::of(Algorithm::Sha256, &body);
    let reference = if reference.is_empty() {
        Reference::Digest(d.clone())
    } else {
        Reference::Tag(reference.parse().expect("tag"))
    };
    store.put_manifest(&repo(r), &reference, Some(media_type), Bytes::from(body), Vec::new()).await.expect("manifest");
    d
}

async fn has_manifest(store: &Store, r: &str, d: &Digest) -> bool {
    store.get_manifest(&repo(r), &Reference::Digest(d.clone())).await.is_ok()
}

async fn backdate(store: &Store, sql: &'static str, seconds: i64) {
    store.db().write(move |tx| Ok::<_, store::Error>(tx.execute(sql, params![seconds])?)).await.expect("backdate");
}

fn options(retention: Vec<RetentionPolicy>) -> Options {
    Options { grace_period: Duration::ZERO, upload_expiry: Duration::from_hours(24), retention, dry_run: false }
}

fn policy(pattern: &str) -> RetentionPolicy {
    RetentionPolicy {
        repositories: pattern.into(),
        delete_untagged_older_than: None,
        keep_newest_tags: None,
        delete_tags_older_than: None,
    }
}

async fn default_gc_keeps_digest_pushed_manifests_and_frees_unreferenced_blobs(f: Fixture) {
    let m = image(&f.store, "r", "", "by-digest", None).await;
    let stray = blob(&f.store, "r", b"never referenced").await;
    let report = run(&f.store, &options(Vec::new())).await.expect("gc");
    assert_eq!((report.run.blobs_deleted, report.run.manifests_deleted), (1, 0));
    assert!(has_manifest(&f.store, "r", &m).await, "untagged, digest-pushed manifests are never garbage by default");
    assert!(f.store.stat_blob(&repo("r"), &stray, false).await.is_err());
    let layer = Digest::of(Algorithm::Sha256, b"by-digest");
    assert!(f.store.stat_blob(&repo("r"), &layer, false).await.is_ok(), "referenced blobs stay");
}

async fn a_lists_shared_children_survive_deleting_one_list(f: Fixture) {
    let a = image(&f.store, "r", "", "amd64", None).await;
    let l1 = index(&f.store, "r", "list1", &[&a]).await;
    index(&f.store, "r", "list2", &[&a]).await;
    f.store.delete_manifest(&repo("r"), &Reference::Digest(l1)).await.expect("delete list1");
    run(&f.store, &options(Vec::new())).await.expect("gc");
    assert!(has_manifest(&f.store, "r", &a).await);
    let layer = Digest::of(Algorithm::Sha256, b"amd64");
    assert!(f.store.stat_blob(&repo("r"), &layer, false).await.is_ok());
}

async fn deleted_manifests_free_their_blobs_at_the_next_run(f: Fixture) {
    let m = image(&f.store, "r", "v1", "doomed", None).await;
    f.store.delete_manifest(&repo("r"), &Reference::Digest(m)).await.expect("delete");
    let report = run(&f.store, &options(Vec::new())).await.expect("gc");
    assert_eq!(report.run.blobs_deleted, 2, "config and layer");
}

async fn keep_newest_tags_keeps_exactly_the_newest(f: Fixture) {
    for (i, tag) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
        image(&f.store, "ci/app", tag, &format!("s{i}"), None).await;
    }
    // Tags pushed in the same second tie; give them distinct ages, t1 oldest.
    backdate(&f.store, "UPDATE tags SET updated_at = updated_at - ?1 * (5 - CAST(substr(name, 2) AS INTEGER))", 10)
        .await;
    let mut p = policy("ci/*");
    p.keep_newest_tags = Some(2);
    let report = run(&f.store, &options(vec![p])).await.expect("gc");
    assert_eq!(report.run.tags_deleted, 2);
    let tags = f.store.list_tags(&repo("ci/app"), None, None).await.expect("tags").items;
    assert_eq!(tags, ["t3", "t4"]);
    assert_eq!(report.run.manifests_deleted, 0, "untagged manifests stay without an untagged rule");
}

async fn old_tags_go_and_only_in_matching_repositories(f: Fixture) {
    image(&f.store, "ci/app", "old", "a", None).await;
    image(&f.store, "ci/app", "new", "b", None).await;
    image(&f.store, "prod/app", "old", "c", None).await;
    backdate(&f.store, "UPDATE tags SET updated_at = updated_at - ?1 WHERE name = 'old'", 100 * 86400).await;
    let mut p = policy("ci/*");
    p.delete_tags_older_than = Some(HumanDuration(Duration::from_hours(24 * 30)));
    run(&f.store, &options(vec![p])).await.expect("gc");
    assert_eq!(f.store.list_tags(&repo("ci/app"), None, None).await.expect("tags").items, ["new"]);
    assert_eq!(
        f.store.list_tags(&repo("prod/app"), None, None).await.expect("tags").items,
        ["old"],
        "other repositories untouched"
    );
}

async fn untagged_rule_spares_children_of_kept_indexes_and_referrers_of_kept_manifests(f: Fixture) {
    let child = image(&f.store, "r", "", "child", None).await;
    let tagged_index = index(&f.store, "r", "multi", &[&child]).await;
    let lonely = image(&f.store, "r", "", "lonely", None).await;
    let signature = image(&f.store, "r", "", "signature", Some(&tagged_index)).await;
    let orphan_signature = image(&f.store, "r", "", "orphan-sig", Some(&Digest::of(Algorithm::Sha256, b"gone"))).await;
    let recent = image(&f.store, "r", "", "recent", None).await;
    backdate(&f.store, "UPDATE manifests SET created_at = created_at - ?1", 30 * 86400).await;
    let recent_hex = recent.to_string();
    f.store
        .db()
        .write(move |tx| {
            Ok::<_, store::Error>(tx.execute(
                "UPDATE manifests SET created_at = ?1 WHERE digest = ?2",
                params![store::now(), &recent_hex],
            )?)
        })
        .await
        .expect("refresh");

    let mut p = policy("*");
    p.delete_untagged_older_than = Some(HumanDuration(Duration::from_hours(24 * 7)));
    let dry = run(&f.store, &Options { dry_run: true, ..options(vec![p.clone()]) }).await.expect("dry run");
    assert_eq!(dry.run.manifests_deleted, 2);
    assert!(has_manifest(&f.store, "r", &lonely).await, "a dry run deletes nothing");

    let report = run(&f.store, &options(vec![p])).await.expect("gc");
    assert_eq!(report.run.manifests_deleted, 2);
    assert!(!has_manifest(&f.store, "r", &lonely).await);
    assert!(!has_manifest(&f.store, "r", &orphan_signature).await, "a referrer whose subject is gone is garbage");
    for (name, d) in [
        ("child of a tagged index", &child),
        ("referrer of a kept manifest", &signature),
        ("recent", &recent),
        ("tagged index", &tagged_index),
    ] {
        assert!(has_manifest(&f.store, "r", d).await, "{name} must stay");
    }
}

async fn stale_uploads_expire_with_their_files(f: Fixture) {
    let id = f.store.start_upload(&repo("r")).await.expect("start");
    let fresh = f.store.start_upload(&repo("r")).await.expect("start");
    let hex = id.to_string();
    f.store
        .db()
        .write(move |tx| {
            Ok::<_, store::Error>(tx.execute("UPDATE uploads SET started_at = 0 WHERE id = ?1", params![&hex])?)
        })
        .await
        .expect("age");
    let report = run(&f.store, &options(Vec::new())).await.expect("gc");
    assert_eq!(report.run.uploads_expired, 1);
    assert!(f.store.upload_size(&repo("r"), &id).await.is_err());
    assert!(f.store.upload_size(&repo("r"), &fresh).await.is_ok());
}

async fn a_blob_placed_by_a_push_that_died_before_its_commit_is_removed(f: Fixture) {
    let backend = f.store.blob_backend();
    let id = crate::reference::UploadId::generate();
    let d = Digest::of(Algorithm::Sha256, b"half pushed");
    backend.create_upload(&id).await.expect("create");
    {
        use tokio::io::AsyncWriteExt;
        let mut w = backend.append_upload(&id).await.expect("append");
        w.write_all(b"half pushed").await.expect("write");
        w.shutdown().await.expect("flush");
    }
    // The push committed its placement, renamed the file, and died before the blob row.
    let hex = d.to_string();
    f.store
        .db()
        .write(move |tx| {
            Ok::<_, store::Error>(tx.execute("INSERT INTO blob_placements VALUES (?1, 0)", params![&hex])?)
        })
        .await
        .expect("placement");
    backend.place_upload(&id, &d).expect("place");
    assert!(backend.contains_blob(&d));
    f.store.recover_interrupted(0).await.expect("recover");
    assert!(!backend.contains_blob(&d), "the unowned file is gone");
    let report = f.store.fsck(false, std::sync::Arc::new(|_| {})).await.expect("fsck");
    assert!(report.is_clean(), "{report:?}");
}

async fn trash_left_by_a_crash_is_restored_when_the_row_survived(f: Fixture) {
    let d = blob(&f.store, "r", b"in the trash").await;
    // A crash between trashing the file and committing the delete: the row is still there.
    assert!(f.store.blob_backend().trash_blob(&d).expect("trash"));
    assert!(f.store.open_blob(&repo("r"), &d, None).await.is_err());
    assert_eq!(f.store.recover_interrupted(0).await.expect("recover"), 1);
    assert!(f.store.open_blob(&repo("r"), &d, None).await.is_ok());
}

async fn the_sweep_recheck_keeps_blobs_referenced_or_touched_since_the_candidate_query(f: Fixture) {
    let stray = blob(&f.store, "r", b"stray").await;
    let touched = blob(&f.store, "r", b"touched").await;
    image(&f.store, "r", "v1", "referenced", None).await;
    let referenced = Digest::of(Algorithm::Sha256, b"referenced");
    backdate(&f.store, "UPDATE blobs SET last_seen = last_seen - ?1", 3600).await;
    let cutoff = f.store.clock() - 60;
    // As if between the candidate query and the deleting transaction a client touched one
    // blob (a HEAD before a push); the referenced one is old but a manifest holds it.
    f.store.stat_blob(&repo("r"), &touched, true).await.expect("touch");
    let digests = [stray, touched, referenced].map(|d| d.to_string());
    let verdicts = f
        .store
        .db()
        .write_rolled_back(move |tx| {
            digests.iter().map(|d| sweep::still_garbage(tx, d, cutoff)).collect::<store::Result<Vec<bool>>>()
        })
        .await
        .expect("recheck");
    assert_eq!(verdicts, [true, false, false], "only the untouched, unreferenced blob is garbage");
}

/// Two replicas on one PostgreSQL database: while one collects, the other's run reports
/// `busy` and deletes nothing; run together, exactly one collects and nothing referenced is
/// lost. (On SQLite the collector lock is always granted, as before.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_replica_collects_at_a_time() {
    let Some(f) = Fixture::postgres() else { return };
    let other = f.replica();
    let kept = image(&f.store, "r", "v1", "kept layer", None).await;
    for i in 0..30 {
        blob(&f.store, "r", format!("garbage {i}").as_bytes()).await;
    }
    let held = f.store.db().try_lock_collector().await.expect("lock").expect("free");
    let report = run(&other, &options(Vec::new())).await.expect("gc while locked");
    assert!(report.busy, "{report}");
    assert_eq!(report.to_string(), "another collection is running; nothing done");
    assert_eq!(report.run.blobs_deleted, 0);
    assert!(other.last_gc_run().await.expect("runs").is_none(), "a busy run is not recorded");
    drop(held);

    let opts = options(Vec::new());
    let (a, b) = tokio::join!(run(&f.store, &opts), run(&other, &opts));
    let (a, b) = (a.expect("gc a"), b.expect("gc b"));
    let collected: Vec<u64> = [&a, &b].iter().filter(|r| !r.busy).map(|r| r.run.blobs_deleted).collect();
    assert!(collected.contains(&30), "one run collected all 30: {a} / {b}");
    assert_eq!(a.run.blobs_deleted + b.run.blobs_deleted, 30, "{a} / {b}");
    for store in [&f.store, &other] {
        assert!(has_manifest(store, "r", &kept).await);
        let layer = Digest::of(Algorithm::Sha256, b"kept layer");
        assert!(store.stat_blob(&repo("r"), &layer, false).await.is_ok(), "referenced blobs stay");
    }
}

backend_tests!(
    the_sweep_recheck_keeps_blobs_referenced_or_touched_since_the_candidate_query,
    default_gc_keeps_digest_pushed_manifests_and_frees_unreferenced_blobs,
    a_lists_shared_children_survive_deleting_one_list,
    deleted_manifests_free_their_blobs_at_the_next_run,
    keep_newest_tags_keeps_exactly_the_newest,
    old_tags_go_and_only_in_matching_repositories,
    untagged_rule_spares_children_of_kept_indexes_and_referrers_of_kept_manifests,
    stale_uploads_expire_with_their_files,
    a_blob_placed_by_a_push_that_died_before_its_commit_is_removed,
    trash_left_by_a_crash_is_restored_when_the_row_survived,
);
