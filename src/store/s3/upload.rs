//! Upload sessions on S3: a multipart upload whose progress is kept in the bucket, so that any
//! replica can continue it.
//!
//! Bytes are cut into parts of exactly [`PART_SIZE`] (S3 wants every part but the last to be at
//! least 5 MiB, and some stores want them equal). What a request leaves over, less than a part,
//! is written as a *tail* object and read back by the next append, wherever it runs. The
//! `state` object is the commit point: it names the parts sent and the current tail, and a new
//! tail never overwrites the one the state names, so a replica dying mid-request leaves the
//! session as of its last state write. Sealing (`sync_upload`) sends the tail as the last part
//! and completes the multipart upload into `uploads/<id>/data`, which placement then copies; an
//! upload that never filled a part (most layers are small) is placed straight from its tail.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::PollSender;

use super::{S3BlobStore, payload, to_io};
use crate::reference::UploadId;
use crate::store::blobs::UploadWriter;

/// Size of every multipart part but the last: large enough for S3's 5 MiB minimum and few
/// requests per layer, small enough that two in memory per upload (one filling, one sending)
/// stay cheap.
pub const PART_SIZE: usize = 8 << 20;

/// An upload's progress, stored as `uploads/<id>/state`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    /// The multipart upload, once the first part is sent.
    multipart: Option<String>,
    /// ETags of parts `0..n`, each [`PART_SIZE`] bytes.
    parts: Vec<String>,
    /// Bytes held in the tail object.
    tail: u64,
    /// Numbers the tail object, so a new tail never replaces the one this state names.
    tail_generation: u64,
    /// Whether the bytes are complete, in [`State::object`].
    pub sealed: bool,
    /// Once sealed, the key (relative to the prefix) of the object holding all the bytes: the
    /// completed multipart object, or the tail itself when the upload never filled a part.
    #[serde(default)]
    object: Option<String>,
}

impl State {
    /// Reads the state, `None` when the upload does not exist.
    pub async fn load(store: &S3BlobStore, id: &UploadId) -> io::Result<Option<State>> {
        match store.s3.get(&state_key(store, id)).await {
            Ok(got) => {
                let bytes = got.bytes().await.map_err(to_io)?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    async fn save(&self, store: &S3BlobStore, id: &UploadId) -> io::Result<()> {
        let json = serde_json::to_vec(self).map_err(io::Error::other)?;
        store.s3.put(&state_key(store, id), super::payload(json)).await.map_err(to_io).map(drop)
    }

    /// The object holding the sealed upload's bytes.
    pub fn object(&self, store: &S3BlobStore, id: &UploadId) -> Path {
        self.object.as_deref().map_or_else(|| data_key(store, id), |relative| store.key(relative))
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.parts.len() as u64 * PART_SIZE as u64 + self.tail
    }
}

fn state_key(store: &S3BlobStore, id: &UploadId) -> Path {
    store.key(&format!("uploads/{id}/state"))
}

/// A tail object's key relative to the prefix.
fn tail_name(id: &UploadId, generation: u64) -> String {
    format!("uploads/{id}/tail-{generation}")
}

fn tail_key(store: &S3BlobStore, id: &UploadId, generation: u64) -> Path {
    store.key(&tail_name(id, generation))
}

/// The multipart target, and the whole upload once sealed.
pub fn data_key(store: &S3BlobStore, id: &UploadId) -> Path {
    store.key(&format!("uploads/{id}/data"))
}

/// Starts an empty upload; an existing id is an error (ids are never reused). A check then a
/// write, not a conditional put: Garage ignores `If-None-Match`, and ids are random UUIDs, so
/// the check guards against a bug, not a race.
pub async fn create(store: &S3BlobStore, id: &UploadId) -> io::Result<()> {
    if State::load(store, id).await?.is_some() {
        return Err(io::ErrorKind::AlreadyExists.into());
    }
    State::default().save(store, id).await
}

/// Removes everything of an upload: the multipart upload if still open, then its objects.
pub async fn delete(store: &S3BlobStore, id: &UploadId) -> io::Result<()> {
    if let Some(state) = State::load(store, id).await?
        && let (Some(multipart), false) = (&state.multipart, state.sealed)
    {
        // Already completed or aborted (a crash between steps) is fine.
        let _ = store.s3.abort_multipart(&data_key(store, id), multipart).await;
    }
    delete_objects(store, id).await
}

/// Deletes the objects of an upload whose multipart upload is over, in one batch request.
pub async fn delete_objects(store: &S3BlobStore, id: &UploadId) -> io::Result<()> {
    let keys: Vec<object_store::Result<Path>> =
        store.list_keys(&format!("uploads/{id}")).await?.into_iter().map(|meta| Ok(meta.location)).collect();
    let mut deleted = store.s3.delete_stream(Box::pin(futures_util::stream::iter(keys)));
    while let Some(result) = deleted.next().await {
        match result {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(to_io(e)),
        }
    }
    Ok(())
}

/// Completes the upload into `uploads/<id>/data`: the tail becomes the last part.
pub async fn seal(store: &S3BlobStore, id: &UploadId) -> io::Result<()> {
    let mut state = State::load(store, id).await?.ok_or(io::ErrorKind::NotFound)?;
    if state.sealed {
        return Ok(());
    }
    let data = data_key(store, id);
    match &state.multipart {
        // Never a whole part: the tail holds everything, and placing copies it from there.
        None if state.tail > 0 => state.object = Some(tail_name(id, state.tail_generation)),
        None => {
            store.s3.put(&data, payload(Bytes::new())).await.map_err(to_io)?;
        }
        Some(multipart) => {
            let tail = read_tail(store, id, &state).await?;
            let mut parts: Vec<PartId> = state.parts.iter().map(|etag| PartId { content_id: etag.clone() }).collect();
            if !tail.is_empty() {
                parts.push(store.s3.put_part(&data, multipart, parts.len(), payload(tail)).await.map_err(to_io)?);
            }
            store.s3.complete_multipart(&data, multipart, parts).await.map_err(to_io)?;
        }
    }
    state.sealed = true;
    state.save(store, id).await
}

async fn read_tail(store: &S3BlobStore, id: &UploadId, state: &State) -> io::Result<Bytes> {
    if state.tail == 0 {
        return Ok(Bytes::new());
    }
    let bytes =
        store.s3.get(&tail_key(store, id, state.tail_generation)).await.map_err(to_io)?.bytes().await.map_err(to_io)?;
    if bytes.len() as u64 == state.tail {
        Ok(bytes)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("upload {id}: tail holds {} of {} bytes", bytes.len(), state.tail),
        ))
    }
}

/// What the writer hands its task.
enum Message {
    Data(Bytes),
    /// `shutdown`: write the tail and the state, then end.
    Finish,
}

/// An [`AsyncWrite`] that feeds a task cutting the bytes into parts.
struct PartWriter {
    sender: PollSender<Message>,
    task: JoinHandle<io::Result<()>>,
    finishing: bool,
}

/// Opens the upload for appending, continuing where its state says it ends.
pub async fn append(store: &S3BlobStore, id: &UploadId) -> io::Result<UploadWriter> {
    let state = State::load(store, id).await?.ok_or(io::ErrorKind::NotFound)?;
    if state.sealed {
        return Err(io::Error::other("the upload is already complete"));
    }
    let tail = read_tail(store, id, &state).await?;
    // A few chunks of slack: the body keeps arriving while a part is being sent.
    let (sender, receiver) = mpsc::channel(4);
    let appender = Appender { store: store.clone(), id: id.clone(), state, buffer: BytesMut::from(&tail[..]) };
    let task = tokio::spawn(appender.run(receiver));
    Ok(Box::pin(PartWriter { sender: PollSender::new(sender), task, finishing: false }))
}

impl AsyncWrite for PartWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if ready!(self.sender.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(io::Error::other("the S3 upload task ended early")));
        }
        match self.sender.send_item(Message::Data(Bytes::copy_from_slice(buf))) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(io::Error::other("the S3 upload task ended early"))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes become durable in whole parts and at shutdown; a flush has nothing to force.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.finishing {
            if ready!(self.sender.poll_reserve(cx)).is_ok() {
                let _ = self.sender.send_item(Message::Finish);
            }
            self.finishing = true;
        }
        match ready!(Pin::new(&mut self.task).poll(cx)) {
            Ok(result) => Poll::Ready(result),
            Err(e) => Poll::Ready(Err(io::Error::other(e))),
        }
    }
}

/// The task behind a [`PartWriter`]: fills parts, sends each (one in flight while the next
/// fills), and records them in the state.
struct Appender {
    store: S3BlobStore,
    id: UploadId,
    state: State,
    buffer: BytesMut,
}

type PartUpload = JoinHandle<object_store::Result<PartId>>;

impl Appender {
    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) -> io::Result<()> {
        let mut in_flight: Option<PartUpload> = None;
        while let Some(message) = receiver.recv().await {
            match message {
                Message::Data(mut bytes) => {
                    while !bytes.is_empty() {
                        let take = (PART_SIZE - self.buffer.len()).min(bytes.len());
                        self.buffer.extend_from_slice(&bytes.split_to(take));
                        if self.buffer.len() == PART_SIZE {
                            self.settle(in_flight.take()).await?;
                            in_flight = Some(self.send_part().await?);
                        }
                    }
                }
                Message::Finish => {
                    self.settle(in_flight.take()).await?;
                    return self.finish().await;
                }
            }
        }
        // Dropped without shutdown: what was settled stays, the unsent remainder is lost, as
        // with a client that disconnects mid-chunk.
        self.settle(in_flight.take()).await
    }

    /// Starts sending the full buffer as the next part.
    async fn send_part(&mut self) -> io::Result<PartUpload> {
        let multipart = if let Some(m) = &self.state.multipart {
            m.clone()
        } else {
            let m = self.store.s3.create_multipart(&data_key(&self.store, &self.id)).await.map_err(to_io)?;
            self.state.multipart = Some(m.clone());
            m
        };
        let part = payload(self.buffer.split().freeze());
        let (s3, data, index) = (self.store.s3.clone(), data_key(&self.store, &self.id), self.state.parts.len());
        // The index is reserved now; the ETag fills it when the part is settled.
        self.state.parts.push(String::new());
        Ok(tokio::spawn(async move { s3.put_part(&data, &multipart, index, part).await }))
    }

    /// Waits for the part in flight and records it: the tail it consumed is gone from the state.
    async fn settle(&mut self, in_flight: Option<PartUpload>) -> io::Result<()> {
        let Some(upload) = in_flight else { return Ok(()) };
        let part = upload.await.map_err(io::Error::other)?.map_err(to_io)?;
        let slot = self.state.parts.iter_mut().rev().find(|etag| etag.is_empty());
        *slot.ok_or_else(|| io::Error::other("a part was sent without a slot"))? = part.content_id;
        // Parts reserved but not yet settled are not in the saved state: a crash forgets them.
        let mut saved = self.state.clone();
        saved.parts.retain(|etag| !etag.is_empty());
        saved.tail = 0;
        saved.save(&self.store, &self.id).await
    }

    /// Writes what is left as a new tail object, then the state that names it.
    async fn finish(mut self) -> io::Result<()> {
        let old = (self.state.tail > 0).then_some(self.state.tail_generation);
        if self.buffer.is_empty() {
            self.state.tail = 0;
        } else {
            self.state.tail_generation += 1;
            self.state.tail = self.buffer.len() as u64;
            let key = tail_key(&self.store, &self.id, self.state.tail_generation);
            self.store.s3.put(&key, payload(self.buffer.split().freeze())).await.map_err(to_io)?;
        }
        self.state.save(&self.store, &self.id).await?;
        if let Some(generation) = old.filter(|g| *g != self.state.tail_generation || self.state.tail == 0) {
            self.store.delete_key(&tail_key(&self.store, &self.id, generation)).await?;
        }
        Ok(())
    }
}
