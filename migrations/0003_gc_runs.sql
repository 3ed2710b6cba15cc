-- One row per garbage-collection run (serve's background task or `mirror-registry gc`),
-- for `mirror-registry status` and the metrics.
CREATE TABLE gc_runs (
    id                 INTEGER PRIMARY KEY,
    started_at         INTEGER NOT NULL,
    finished_at        INTEGER NOT NULL,
    dry_run            INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    blobs_deleted      INTEGER NOT NULL,
    bytes_freed        INTEGER NOT NULL,
    manifests_deleted  INTEGER NOT NULL,
    tags_deleted       INTEGER NOT NULL,
    uploads_expired    INTEGER NOT NULL
) STRICT;

-- GC looks for blobs by age; this keeps each sweep batch an index range scan.
CREATE INDEX blobs_last_seen ON blobs(last_seen);
