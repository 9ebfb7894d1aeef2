-- Grades re-scored by a rubric replay (`pitchgrade rubric replay --apply`),
-- kept beside the grade the submission got: the original is never replaced,
-- and every version says which rubric bytes and judge made it. The summary
-- holds verdicts and points, not the transcript's words: quotes stay only in
-- the original grade, where the retention policy removes them.
CREATE TABLE grade_versions (
    id             BLOB PRIMARY KEY NOT NULL,
    submission_id  BLOB NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    rubric_id      TEXT NOT NULL,
    rubric_version INTEGER NOT NULL,
    rubric_sha256  TEXT NOT NULL,
    judge          TEXT NOT NULL,
    decision       TEXT NOT NULL CHECK (decision IN ('pass', 'fail', 'borderline')),
    score          REAL NOT NULL,
    summary        TEXT NOT NULL,
    actor          TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE INDEX grade_versions_submission ON grade_versions (submission_id, created_at);
