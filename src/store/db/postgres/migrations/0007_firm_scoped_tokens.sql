-- Partner firms as tenants: a partner_admin token is bound to one firm, and a
-- reviewer token may be (partner-side reviewers see their own firm only).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD COLUMN firm_id TEXT;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('rep', 'partner_admin', 'reviewer', 'enablement', 'admin'));
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_partner_admin_firm
    CHECK (role <> 'partner_admin' OR firm_id IS NOT NULL);
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_firm_roles
    CHECK (firm_id IS NULL OR role IN ('partner_admin', 'reviewer'));
