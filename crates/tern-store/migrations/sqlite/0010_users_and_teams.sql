-- People, teams and their permissions, as HCP Terraform models them: users; teams per
-- organization with organization permissions (JSON, TFE's `organization-access` keys); a team's
-- access to workspaces and projects (JSON: the level and, for `custom`, its permissions); user
-- and team tokens. Every organization has a team named `owners` (everything in it).
-- Keep in step with ../postgres/0010_users_and_teams.sql.
CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    site_admin INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE teams (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    sso_team_id TEXT,
    visibility TEXT NOT NULL,
    organization_access TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

CREATE TABLE team_workspaces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    access TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (team_id, workspace_id)
);
CREATE INDEX team_workspaces_by_workspace ON team_workspaces (workspace_id);

CREATE TABLE team_projects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    access TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (team_id, project_id)
);
CREATE INDEX team_projects_by_project ON team_projects (project_id);

ALTER TABLE tokens ADD COLUMN user_id TEXT REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN team_id TEXT REFERENCES teams(id) ON DELETE CASCADE;

INSERT INTO teams (id, organization_id, name, sso_team_id, visibility, organization_access, created_at)
SELECT 'team-' || lower(hex(randomblob(8))), id, 'owners', NULL, 'organization', '{}', created_at
FROM organizations;
