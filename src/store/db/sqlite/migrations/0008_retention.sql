-- Retention and erasure. A recording deleted under the retention policy (or
-- by an erasure) leaves a tombstone on its submission: when, and why, so the
-- pages say "recording deleted under the retention policy" instead of
-- failing. A transcript deleted the same way leaves the grade's numbers and
-- verdicts, and the time it went.
ALTER TABLE submissions ADD COLUMN recording_deleted_at INTEGER;
ALTER TABLE submissions ADD COLUMN recording_deleted_reason TEXT;
ALTER TABLE submissions ADD COLUMN transcript_deleted_at INTEGER;
CREATE INDEX submissions_recording_kept ON submissions (updated_at) WHERE recording_deleted_at IS NULL;
