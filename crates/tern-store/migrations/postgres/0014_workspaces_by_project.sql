-- A team member's workspace list asks for "these workspaces, or any in these projects": the
-- projects half reads this index instead of every workspace of the organization (with 100 000
-- workspaces the count alone scanned them all: docs/benchmarks.md, section 8).
CREATE INDEX workspaces_by_project ON workspaces (project_id);
