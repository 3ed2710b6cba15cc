-- Accounts bound to tokens, and namespace grants.
--
-- `id` becomes AUTOINCREMENT so that a deleted account's id is never given to a later account:
-- tokens name (id, generation), and a new account under an old name must not inherit the old
-- account's tokens. `generation` is bumped by every password or role change, which voids the
-- tokens issued before it. Role 'none' has no registry-wide access, only its grants.

CREATE TABLE users_v5 (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'push', 'pull', 'none')),
    robot          INTEGER NOT NULL DEFAULT 0 CHECK (robot IN (0, 1)),
    generation     INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

INSERT INTO users_v5 (id, name, password_hash, role, robot, created_at, updated_at)
    SELECT id, name, password_hash, role, robot, created_at, updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_v5 RENAME TO users;

-- One grant per account and pattern; granting again replaces the level.
CREATE TABLE grants (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pattern     TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('pull', 'push', 'admin')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, pattern)
) STRICT, WITHOUT ROWID;
