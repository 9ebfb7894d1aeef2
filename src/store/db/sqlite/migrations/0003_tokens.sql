-- API tokens (only their SHA-256 is stored) and presigned direct uploads that
-- wait for their bytes. Timestamps are integer milliseconds since the epoch.

CREATE TABLE api_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('rep', 'reviewer', 'enablement', 'admin')),
    -- A rep token acts for exactly one rep; the other roles for none in particular.
    rep_id     TEXT,
    label      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((role = 'rep') = (rep_id IS NOT NULL))
);

CREATE TABLE uploads (
    id              BLOB PRIMARY KEY NOT NULL,
    rep_id          TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    object_key      TEXT NOT NULL UNIQUE,
    idempotency_key TEXT,
    expires_at      INTEGER NOT NULL,
    submission_id   BLOB REFERENCES submissions (id) ON DELETE SET NULL,
    created_at      INTEGER NOT NULL
);
