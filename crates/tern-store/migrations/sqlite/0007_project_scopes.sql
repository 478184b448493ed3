-- Projects get TFE's description, and variable sets a project scope: a set applied to a
-- project reaches every workspace in it. Keep in step with ../postgres/0007_project_scopes.sql.
ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT '';
CREATE TABLE variable_set_projects (
    variable_set_id TEXT NOT NULL REFERENCES variable_sets(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (variable_set_id, project_id)
);
