-- Submissions, their grading jobs and grades. Timestamps are written by the
-- application (its clock is injectable), never by DEFAULT now().

CREATE TABLE submissions (
    id              UUID PRIMARY KEY,
    rep_id          TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    object_key      TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    byte_size       BIGINT NOT NULL CHECK (byte_size >= 0),
    status          TEXT NOT NULL
        CHECK (status IN ('queued', 'processing', 'graded', 'needs_review', 'failed')),
    failure_reason  TEXT,
    idempotency_key TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- NULL keys are distinct, so submissions without a key never collide.
    CONSTRAINT submissions_rep_idempotency UNIQUE (rep_id, idempotency_key)
);

CREATE INDEX submissions_rep_created ON submissions (rep_id, created_at DESC, id DESC);

CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    submission_id    UUID NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('grade')),
    state            TEXT NOT NULL
        CHECK (state IN ('available', 'running', 'retryable', 'completed', 'dead')),
    attempt          INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    run_at           TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    heartbeat_at     TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Claim scans only runnable jobs, oldest first; the rescuer only running ones.
CREATE INDEX jobs_runnable ON jobs (run_at, id) WHERE state IN ('available', 'retryable');
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_submission ON jobs (submission_id);

CREATE TABLE grades (
    id            UUID PRIMARY KEY,
    -- One grade per submission: a retried or duplicated attempt cannot add a second.
    submission_id UUID NOT NULL UNIQUE REFERENCES submissions (id) ON DELETE CASCADE,
    job_id        UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('pass', 'fail', 'borderline')),
    score         DOUBLE PRECISION NOT NULL,
    grade         JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
