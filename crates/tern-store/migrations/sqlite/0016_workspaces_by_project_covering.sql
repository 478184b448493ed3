-- A team member's workspace list pages "these workspaces, or any in these projects" by name.
-- This index answers the projects half on its own (organization, name and id are in it), so
-- finding a page and the total reads no workspace rows: with 100 000 workspaces a member's
-- list cost 2 × the owner's on SQLite while each of those rows was read (docs/benchmarks.md,
-- section 8). It replaces the project-only index of migration 14.
-- Keep in step with ../postgres/0016_workspaces_by_project_covering.sql.
CREATE INDEX workspaces_by_project_names ON workspaces (project_id, organization_id, name, id);
DROP INDEX workspaces_by_project;
