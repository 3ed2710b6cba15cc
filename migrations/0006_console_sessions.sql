-- Sessions of the web console (issue #13). The cookie holds a random secret; only its SHA-256
-- is stored, so a copy of the database opens no session. A session names the account's id and
-- credential generation, like tokens do: a password or role change, or a deletion, ends it.
CREATE TABLE console_sessions (
    secret_hash  TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation   INTEGER NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
