-- A submission's audit trail, readable by people. Tokens carry the name of
-- the person they act as ("Rita"), so the trail says "Rita (reviewer)"
-- instead of a token id; empty for tokens made before names existed.
ALTER TABLE api_tokens ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
-- The trail is read by submission.
CREATE INDEX audit_log_submission ON audit_log (submission_id, seq);
