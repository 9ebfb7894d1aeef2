-- An optional expiry for API tokens (integer milliseconds since the epoch).
-- Tokens made before it have none and keep working.
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
