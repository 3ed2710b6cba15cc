-- Blobs being moved into place. A row is committed before the upload file is renamed into
-- blobs/, and deleted in the transaction that commits the blob row. A row left behind by a
-- crash names a file that may sit in blobs/ without a blob row; recovery at start-up (and at
-- each GC run) deletes such a file, so a crash never leaves an unowned file behind.
CREATE TABLE blob_placements (
    digest      TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
