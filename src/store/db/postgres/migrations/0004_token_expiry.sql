-- An optional expiry for API tokens. Tokens made before it have none and keep
-- working.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
