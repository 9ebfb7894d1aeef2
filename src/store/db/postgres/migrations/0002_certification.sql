-- Certification: partner firms and reps, one certification per (rep, track),
-- final decisions (one per submission), the review queue, the audit log, the
-- webhook outbox with its delivery log, and named leases (one sweep runner).
-- Same conventions as 0001: timestamps written by the application, JSON as jsonb.

CREATE TABLE firms (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    segment    TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE reps (
    id         TEXT PRIMARY KEY,
    firm_id    TEXT NOT NULL REFERENCES firms (id),
    role       TEXT NOT NULL,
    active     BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX reps_firm ON reps (firm_id);

-- Bumped by every change to a rep's certifications: a plan made from an older
-- version is refused, so two writers never interleave on one rep.
CREATE TABLE rep_ledgers (
    rep_id  TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);

CREATE TABLE certifications (
    id              UUID PRIMARY KEY,
    rep_id          TEXT NOT NULL,
    track           TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    rubric_version  INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('valid', 'expired')),
    first_issued_at TIMESTAMPTZ NOT NULL,
    issued_at       TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    renewals        INTEGER NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    -- Smallest reminder offset (days) already handled for the current expiry.
    reminded_days   INTEGER,
    submission_id   UUID NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (rep_id, track)
);

CREATE INDEX certifications_valid_expiry ON certifications (expires_at) WHERE status = 'valid';

-- The final decision on a submission: the primary key is the idempotency of
-- the whole lifecycle (one decision, one effect).
CREATE TABLE cert_decisions (
    submission_id    UUID PRIMARY KEY REFERENCES submissions (id) ON DELETE CASCADE,
    rep_id           TEXT NOT NULL,
    track            TEXT,
    rubric_id        TEXT NOT NULL,
    rubric_version   INTEGER,
    outcome          TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')),
    source           TEXT NOT NULL CHECK (source IN ('machine', 'review')),
    review_id        UUID,
    machine_decision TEXT NOT NULL CHECK (machine_decision IN ('pass', 'fail', 'borderline')),
    machine_score    DOUBLE PRECISION NOT NULL,
    effect           TEXT NOT NULL
        CHECK (effect IN ('issued', 'reissued', 'renewed', 'none', 'no_base', 'untracked')),
    certification_id UUID,
    submitted_at     TIMESTAMPTZ NOT NULL,
    graded_at        TIMESTAMPTZ NOT NULL,
    decided_at       TIMESTAMPTZ NOT NULL,
    criteria         JSONB NOT NULL
);

CREATE INDEX cert_decisions_rep ON cert_decisions (rep_id, decided_at);

CREATE TABLE reviews (
    id               UUID PRIMARY KEY,
    submission_id    UUID NOT NULL UNIQUE REFERENCES submissions (id) ON DELETE CASCADE,
    grade_id         UUID NOT NULL,
    rep_id           TEXT NOT NULL,
    rubric_id        TEXT NOT NULL,
    machine_score    DOUBLE PRECISION NOT NULL,
    machine_lean     TEXT NOT NULL CHECK (machine_lean IN ('pass', 'fail')),
    reasons          JSONB NOT NULL,
    queued_at        TIMESTAMPTZ NOT NULL,
    claimed_by       TEXT,
    claimed_at       TIMESTAMPTZ,
    claim_expires_at TIMESTAMPTZ,
    decided_by       TEXT,
    decided_at       TIMESTAMPTZ,
    decision         TEXT CHECK (decision IN ('pass', 'fail')),
    reason           TEXT,
    criteria         JSONB NOT NULL
);

CREATE INDEX reviews_open ON reviews (queued_at, id) WHERE decided_at IS NULL;

-- Append-only: every decision, override, issue, renewal, reminder, expiry and
-- rights change, with when it took effect (`at`) and when it was written.
CREATE TABLE audit_log (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               TIMESTAMPTZ NOT NULL,
    recorded_at      TIMESTAMPTZ NOT NULL,
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    rep_id           TEXT,
    track            TEXT,
    right_name       TEXT,
    certification_id UUID,
    submission_id    UUID,
    review_id        UUID,
    detail           JSONB NOT NULL
);

CREATE INDEX audit_log_rep ON audit_log (rep_id, seq);

-- Keys of changes already applied (a decision, a reminder, a review queued).
CREATE TABLE applied_keys (
    key        TEXT PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    kind            TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    payload         JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    dead_at         TIMESTAMPTZ,
    last_error      TEXT
);

CREATE INDEX outbox_order ON outbox (created_at, id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        UUID NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    endpoint        TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    next_attempt_at TIMESTAMPTZ
);

CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, id);

-- Named leases: the sweep runs in one process at a time across the fleet.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
