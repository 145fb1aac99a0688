-- GET /members pages through an organization's members in the order they joined (issue 17).
CREATE INDEX CONCURRENTLY IF NOT EXISTS memberships_page_idx ON memberships (organization_id, created_at, user_id);
