-- API tokens (only their SHA-256 is stored) and presigned direct uploads that
-- wait for their bytes.

CREATE TABLE api_tokens (
    id         UUID PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('rep', 'reviewer', 'enablement', 'admin')),
    -- A rep token acts for exactly one rep; the other roles for none in particular.
    rep_id     TEXT,
    label      TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    CHECK ((role = 'rep') = (rep_id IS NOT NULL))
);

CREATE TABLE uploads (
    id              UUID PRIMARY KEY,
    rep_id          TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    object_key      TEXT NOT NULL UNIQUE,
    idempotency_key TEXT,
    expires_at      TIMESTAMPTZ NOT NULL,
    submission_id   UUID REFERENCES submissions (id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
