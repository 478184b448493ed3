-- A plan's JSON (`terraform show -json` of the saved plan: TFE's plan json-output), sealed like
-- the saved plan since it holds the same values, and the resource counts read from it (JSON:
-- additions, changes, destructions, imports). Keep in step with ../postgres/0008_plan_json_and_counts.sql.
ALTER TABLE runs ADD COLUMN plan_json BLOB;
-- The redacted, structured plan the cloud block renders (TFE's json-output-redacted).
ALTER TABLE runs ADD COLUMN plan_json_redacted BLOB;
ALTER TABLE runs ADD COLUMN resource_counts TEXT;
-- When a configuration was uploaded (TFE's uploaded-at), and the Terraform version that wrote a
-- state (TFE's terraform-version of a state version).
ALTER TABLE configuration_versions ADD COLUMN uploaded_at BIGINT;
ALTER TABLE state_versions ADD COLUMN terraform_version TEXT;
-- A state version announced without its state (go-tfe's upload flow): its state arrives at a
-- signed upload URL, and must match what was announced.
CREATE TABLE pending_state_versions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id TEXT,
    serial BIGINT NOT NULL,
    lineage TEXT NOT NULL,
    md5 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
