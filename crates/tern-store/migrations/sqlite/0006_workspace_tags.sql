-- TFE's workspace tags (tag-names): the cloud block selects workspaces by them, and
-- `terraform workspace new` adds them. Keep in step with ../postgres/0006_workspace_tags.sql.
CREATE TABLE workspace_tags (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
CREATE INDEX workspace_tags_name ON workspace_tags (name);
