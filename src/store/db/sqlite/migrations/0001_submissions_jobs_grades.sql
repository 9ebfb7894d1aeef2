-- Submissions, their grading jobs and grades. UUIDs are 16-byte blobs; timestamps
-- are integer milliseconds since the Unix epoch, which compare and index as
-- numbers. Timestamps are written by the application (its clock is injectable).

CREATE TABLE submissions (
    id              BLOB PRIMARY KEY NOT NULL,
    rep_id          TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    object_key      TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    byte_size       INTEGER NOT NULL CHECK (byte_size >= 0),
    status          TEXT NOT NULL
        CHECK (status IN ('queued', 'processing', 'graded', 'needs_review', 'failed')),
    failure_reason  TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- NULL keys are distinct, so submissions without a key never collide.
    UNIQUE (rep_id, idempotency_key)
);

CREATE INDEX submissions_rep_created ON submissions (rep_id, created_at DESC, id DESC);

CREATE TABLE jobs (
    id               BLOB PRIMARY KEY NOT NULL,
    submission_id    BLOB NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('grade')),
    state            TEXT NOT NULL
        CHECK (state IN ('available', 'running', 'retryable', 'completed', 'dead')),
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at           INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    heartbeat_at     INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE INDEX jobs_runnable ON jobs (run_at, id) WHERE state IN ('available', 'retryable');
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_submission ON jobs (submission_id);

CREATE TABLE grades (
    id            BLOB PRIMARY KEY NOT NULL,
    -- One grade per submission: a retried or duplicated attempt cannot add a second.
    submission_id BLOB NOT NULL UNIQUE REFERENCES submissions (id) ON DELETE CASCADE,
    job_id        BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('pass', 'fail', 'borderline')),
    score         REAL NOT NULL,
    grade         TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
