-- The audit trail: an append-only record of who did what, and of every workload identity token
-- minted (its jti, subject, audience, expiry; never the token). Nothing updates or deletes a
-- row. No foreign keys: the record outlives what it names. Keep in step with
-- ../postgres/0009_audit_trail.sql.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    organization_id TEXT,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    action TEXT NOT NULL,
    workspace_id TEXT,
    run_id TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_by_organization ON audit_events (organization_id, seq);
