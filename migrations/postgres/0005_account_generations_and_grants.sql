-- PostgreSQL version of migrations/0005_account_generations_and_grants.sql. Ids were never
-- reused here (identity column), so the table is altered in place rather than rebuilt.

ALTER TABLE users ADD COLUMN generation BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'push', 'pull', 'none'));

CREATE TABLE grants (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pattern     TEXT COLLATE "C" NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('pull', 'push', 'admin')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, pattern)
);
