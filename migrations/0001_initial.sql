-- Metadata of the registry. Blob bytes live on the filesystem (store/blobs.rs); a blob row
-- exists only once its file is complete, verified and renamed into place (invariant 1).

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

-- Every blob stored once, whatever the number of repositories holding it.
-- last_seen (unix seconds) is refreshed on every touch; GC only removes a blob that is
-- unreferenced and older than its grace period (invariant 3).
CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Which repositories may serve a blob (uploaded there, mounted there, or referenced there).
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX repository_blobs_digest ON repository_blobs(digest);

-- Manifests are small (4 MiB limit) and stored byte-for-byte in the database, so a manifest,
-- its references and its tags commit in one transaction (invariant 2).
CREATE TABLE manifests (
    id             INTEGER PRIMARY KEY,
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    subject        TEXT,
    content        BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (repository_id, digest)
) STRICT;
CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;

-- Blobs (config and layers) a manifest references: what GC marks from.
CREATE TABLE manifest_blobs (
    manifest_id  INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    digest       TEXT NOT NULL,
    PRIMARY KEY (manifest_id, digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX manifest_blobs_digest ON manifest_blobs(digest);

-- Child manifests of an index, by digest (a sparse index may name children that are absent).
CREATE TABLE manifest_children (
    manifest_id   INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    child_digest  TEXT NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX manifest_children_child ON manifest_children(child_digest);

CREATE TABLE tags (
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    manifest_id    INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name)
) STRICT, WITHOUT ROWID;
CREATE INDEX tags_manifest ON tags(manifest_id);

-- Upload sessions in progress; the bytes are in uploads/<id> under the blob store.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    started_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
