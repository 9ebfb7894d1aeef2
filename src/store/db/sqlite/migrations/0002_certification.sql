-- Certification: partner firms and reps, one certification per (rep, track),
-- final decisions (one per submission), the review queue, the audit log, the
-- webhook outbox with its delivery log, and named leases (one sweep runner).
-- Same conventions as 0001: UUIDs are 16-byte blobs, timestamps integer
-- milliseconds written by the application, JSON as text.

CREATE TABLE firms (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    segment    TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE reps (
    id         TEXT PRIMARY KEY NOT NULL,
    firm_id    TEXT NOT NULL REFERENCES firms (id),
    role       TEXT NOT NULL,
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX reps_firm ON reps (firm_id);

-- Bumped by every change to a rep's certifications: a plan made from an older
-- version is refused, so two writers never interleave on one rep.
CREATE TABLE rep_ledgers (
    rep_id  TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);

CREATE TABLE certifications (
    id              BLOB PRIMARY KEY NOT NULL,
    rep_id          TEXT NOT NULL,
    track           TEXT NOT NULL,
    rubric_id       TEXT NOT NULL,
    rubric_version  INTEGER,
    status          TEXT NOT NULL CHECK (status IN ('valid', 'expired')),
    first_issued_at INTEGER NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    renewals        INTEGER NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    -- Smallest reminder offset (days) already handled for the current expiry.
    reminded_days   INTEGER,
    submission_id   BLOB NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (rep_id, track)
);

CREATE INDEX certifications_valid_expiry ON certifications (expires_at) WHERE status = 'valid';

-- The final decision on a submission: the primary key is the idempotency of
-- the whole lifecycle (one decision, one effect).
CREATE TABLE cert_decisions (
    submission_id    BLOB PRIMARY KEY NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    rep_id           TEXT NOT NULL,
    track            TEXT,
    rubric_id        TEXT NOT NULL,
    rubric_version   INTEGER,
    outcome          TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')),
    source           TEXT NOT NULL CHECK (source IN ('machine', 'review')),
    review_id        BLOB,
    machine_decision TEXT NOT NULL CHECK (machine_decision IN ('pass', 'fail', 'borderline')),
    machine_score    REAL NOT NULL,
    effect           TEXT NOT NULL
        CHECK (effect IN ('issued', 'reissued', 'renewed', 'none', 'no_base', 'untracked')),
    certification_id BLOB,
    submitted_at     INTEGER NOT NULL,
    graded_at        INTEGER NOT NULL,
    decided_at       INTEGER NOT NULL,
    criteria         TEXT NOT NULL
);

CREATE INDEX cert_decisions_rep ON cert_decisions (rep_id, decided_at);

CREATE TABLE reviews (
    id               BLOB PRIMARY KEY NOT NULL,
    submission_id    BLOB NOT NULL UNIQUE REFERENCES submissions (id) ON DELETE CASCADE,
    grade_id         BLOB NOT NULL,
    rep_id           TEXT NOT NULL,
    rubric_id        TEXT NOT NULL,
    machine_score    REAL NOT NULL,
    machine_lean     TEXT NOT NULL CHECK (machine_lean IN ('pass', 'fail')),
    reasons          TEXT NOT NULL,
    queued_at        INTEGER NOT NULL,
    claimed_by       TEXT,
    claimed_at       INTEGER,
    claim_expires_at INTEGER,
    decided_by       TEXT,
    decided_at       INTEGER,
    decision         TEXT CHECK (decision IN ('pass', 'fail')),
    reason           TEXT,
    criteria         TEXT NOT NULL
);

CREATE INDEX reviews_open ON reviews (queued_at, id) WHERE decided_at IS NULL;

-- Append-only: every decision, override, issue, renewal, reminder, expiry and
-- rights change, with when it took effect (`at`) and when it was written.
CREATE TABLE audit_log (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    at               INTEGER NOT NULL,
    recorded_at      INTEGER NOT NULL,
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    rep_id           TEXT,
    track            TEXT,
    right_name       TEXT,
    certification_id BLOB,
    submission_id    BLOB,
    review_id        BLOB,
    detail           TEXT NOT NULL
);

CREATE INDEX audit_log_rep ON audit_log (rep_id, seq);

-- Keys of changes already applied (a decision, a reminder, a review queued).
CREATE TABLE applied_keys (
    key        TEXT PRIMARY KEY NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    dead_at         INTEGER,
    last_error      TEXT
);

CREATE INDEX outbox_order ON outbox (created_at, id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        BLOB NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    endpoint        TEXT NOT NULL,
    at              INTEGER NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    next_attempt_at INTEGER
);

CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, id);

-- Named leases: the sweep runs in one process at a time across the fleet.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
