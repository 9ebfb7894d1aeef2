-- Every (rubric id, version) a grade was made with, and the exact text it had.
-- A rubric file whose bytes changed under a version already used is refused,
-- so "v1" always means one text, and that text stays readable after the file
-- moves on.
CREATE TABLE rubric_versions (
    rubric_id     TEXT NOT NULL,
    version       BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    body          TEXT NOT NULL,
    first_used_at INTEGER NOT NULL,
    PRIMARY KEY (rubric_id, version)
);
