-- The audit trail's filters (workspace, run, actor) and the run page's "who confirmed" read
-- an index, not the whole trail. Keep in step with ../postgres/0012_audit_trail_indexes.sql.
CREATE INDEX audit_events_by_workspace ON audit_events (workspace_id, seq);
CREATE INDEX audit_events_by_run ON audit_events (run_id, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
