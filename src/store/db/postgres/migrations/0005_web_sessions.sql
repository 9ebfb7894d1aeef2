-- Browser sessions, kept on the server: the cookie holds a random session id
-- (only its SHA-256 is stored here), never the API token itself, and signing
-- out or the session's end takes effect here, whatever the browser keeps.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    -- The SHA-256 of the token signed in with, resolved again on every
    -- request, so revoking or expiring the token ends its sessions at once.
    token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
