-- PostgreSQL version of migrations/0004_blob_placements.sql.
CREATE TABLE blob_placements (
    digest      TEXT COLLATE "C" PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
