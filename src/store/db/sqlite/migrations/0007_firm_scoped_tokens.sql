-- Partner firms as tenants: a partner_admin token is bound to one firm, and a
-- reviewer token may be (partner-side reviewers see their own firm only).
-- SQLite cannot change a CHECK in place, so the table is rebuilt with its rows.
CREATE TABLE api_tokens_new (
    id         BLOB PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL
        CHECK (role IN ('rep', 'partner_admin', 'reviewer', 'enablement', 'admin')),
    -- A rep token acts for exactly one rep; the other roles for none in particular.
    rep_id     TEXT,
    -- The one firm a partner_admin (or a firm-scoped reviewer) token sees.
    firm_id    TEXT,
    label      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    expires_at INTEGER,
    CHECK ((role = 'rep') = (rep_id IS NOT NULL)),
    CHECK (role <> 'partner_admin' OR firm_id IS NOT NULL),
    CHECK (firm_id IS NULL OR role IN ('partner_admin', 'reviewer'))
);

INSERT INTO api_tokens_new (id, token_hash, role, rep_id, label, created_at, revoked_at, expires_at)
SELECT id, token_hash, role, rep_id, label, created_at, revoked_at, expires_at FROM api_tokens;

DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
