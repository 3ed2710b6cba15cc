//! The S3 blob store against a real 3-node Garage cluster: the blob contract every backend
//! meets, parts and tails across replicas, and a Store-level chunked upload that starts on one
//! replica and ends on another. Multi-thread runtimes: the synchronous placement calls wait for
//! the object store with `block_in_place`.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::upload::PART_SIZE;
use super::*;
use crate::config::{BlobBackend, Config, Storage};
use crate::reference::{Algorithm, RepoName};
use crate::store::blobs::{BlobStore, contract};
use crate::store::{ByteStream, Store};

#[path = "../../../tests/common/garage.rs"]
mod garage;
use garage::Garage;

fn s3_config(garage: &Garage, node: usize, prefix: &str) -> S3Config {
    let yaml = garage.storage_yaml(node);
    let config = Config::from_yaml(&format!("{yaml}    prefix: {prefix}\n")).expect("storage yaml");
    config.storage.s3.expect("s3 section")
}

fn open(garage: &Garage, node: usize, prefix: &str) -> S3BlobStore {
    S3BlobStore::open(&s3_config(garage, node, prefix)).expect("open")
}

/// Deterministic bytes that differ at every offset that matters (part and tail boundaries).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((i * 7 + i / 4099) % 251).unwrap_or(0)).collect()
}

async fn append(store: &dyn BlobStore, id: &UploadId, data: &[u8], chunk: usize) {
    let mut w = store.append_upload(id).await.expect("append");
    for piece in data.chunks(chunk) {
        w.write_all(piece).await.expect("write");
    }
    w.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_store_meets_the_blob_contract_on_garage() {
    let Some(garage) = Garage::start() else { return };
    let store = open(&garage, 0, "contract");
    store.probe().await.expect("the bucket answers");
    contract::upload_then_commit(&store).await;
    contract::cancel_upload(&store).await;
    contract::trash_restore_purge(&store).await;
    // A second registry under another prefix of the same bucket sees none of it.
    let other = open(&garage, 1, "other");
    assert!(other.blob_files().expect("list").is_empty());
    assert!(other.list_uploads().await.expect("uploads").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_continues_on_another_replica_across_part_boundaries() {
    let Some(garage) = Garage::start() else { return };
    let (a, b) = (open(&garage, 0, "parts"), open(&garage, 1, "parts"));
    // Three requests alternating replicas and nodes: 5 MiB (all tail), 6 MiB (fills part 0
    // from the tail and leaves a new tail), 9 MiB + 3 bytes (part 1, then a tail), in odd-sized
    // chunks so that no write lines up with a part.
    let data = pattern(20 * 1024 * 1024 + 3);
    let cuts = [0, 5 << 20, 11 << 20, data.len()];
    let id = UploadId::generate();
    a.create_upload(&id).await.expect("create");
    for (i, w) in cuts.windows(2).enumerate() {
        let replica: &dyn BlobStore = if i % 2 == 0 { &a } else { &b };
        append(replica, &id, &data[w[0]..w[1]], 65_537).await;
        assert_eq!(b.upload_size(&id).await.expect("size"), Some(w[1] as u64), "after request {i}");
    }
    assert!(a.read_upload(&id).await.is_err(), "an unsealed upload is not readable");
    b.sync_upload(&id).await.expect("seal");
    a.sync_upload(&id).await.expect("sealing twice is fine");
    assert!(a.append_upload(&id).await.is_err(), "nothing is appended after the seal");
    let mut read = Vec::new();
    a.read_upload(&id).await.expect("read").read_to_end(&mut read).await.expect("read");
    assert!(read == data, "the sealed upload differs from what was sent ({} of {} bytes)", read.len(), data.len());
    let digest = Digest::of(Algorithm::Sha256, &data);
    let placed = tokio::task::spawn_blocking({
        let (b, id, digest) = (b.clone(), id.clone(), digest.clone());
        move || b.place_upload(&id, &digest)
    });
    placed.await.expect("join").expect("place");
    assert_eq!(a.stat(&digest).await.expect("stat"), Some(data.len() as u64));
    let mut ranged = Vec::new();
    let mut stream = a.open(&digest, PART_SIZE as u64 - 2, 5).await.expect("open");
    while let Some(chunk) = stream.next().await {
        ranged.extend_from_slice(&chunk.expect("chunk"));
    }
    assert_eq!(ranged, data[PART_SIZE - 2..PART_SIZE + 3], "a range across the part boundary");
    assert!(a.list_uploads().await.expect("uploads").is_empty(), "placing removes the upload's objects");
}

fn body(data: &[u8], chunk: usize) -> ByteStream {
    let chunks: Vec<_> = data.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(chunks))
}

/// Two `Store`s on one database and one bucket stand for two replicas: a chunked upload started
/// on one is finished on the other, which has no running hash and verifies by reading back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_started_on_one_replica_is_committed_on_the_other() {
    let Some(garage) = Garage::start() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = |node: usize| {
        let mut storage = Storage::under(dir.path());
        storage.backend = BlobBackend::S3;
        storage.s3 = Some(s3_config(&garage, node, "store"));
        Store::open(&Config { storage, ..Config::default() }).expect("store")
    };
    let (one, two) = (replica(0), replica(2));
    let repo: RepoName = "team/app".parse().expect("repo");
    let data = pattern(9 * 1024 * 1024 + 17);
    let digest = Digest::of(Algorithm::Sha256, &data);
    let id = one.start_upload(&repo).await.expect("start");
    let half = data.len() / 2;
    one.append_upload(&repo, &id, None, body(&data[..half], 100_000)).await.expect("first half");
    assert_eq!(two.upload_size(&repo, &id).await.expect("size on the other replica"), half as u64);
    let wrong = Digest::of(Algorithm::Sha256, b"not it");
    let other_id = one.start_upload(&repo).await.expect("start");
    one.append_upload(&repo, &other_id, None, body(&data[..10], 3)).await.expect("append");
    let refused = two.commit_upload(&repo, &other_id, &wrong, None, body(&[], 1)).await;
    assert!(matches!(refused, Err(crate::store::Error::DigestMismatch { .. })), "{refused:?}");
    two.commit_upload(&repo, &id, &digest, None, body(&data[half..], 250_000)).await.expect("commit");
    let blob = one.open_blob(&repo, &digest, None).await.map_err(|e| e.to_string()).expect("open");
    let mut served = Vec::with_capacity(data.len());
    let mut stream = blob.body;
    while let Some(chunk) = stream.next().await {
        served.extend_from_slice(&chunk.expect("chunk"));
    }
    assert!(served == data, "the blob served differs from the one pushed");
}
