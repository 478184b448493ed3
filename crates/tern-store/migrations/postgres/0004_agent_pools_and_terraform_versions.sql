-- Agent pools (TFE's): a workspace in `agent` execution mode names a pool, and only agents
-- holding a token of that pool claim its jobs. Keep in step with ../sqlite/0004_agent_pools_and_terraform_versions.sql.
CREATE TABLE agent_pools (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);

-- An agent token bound to a pool (organization_id is then the pool's organization). An agent
-- token without a pool is either tern serve's own workers' (no organization) or an
-- organization-wide token made before pools existed.
ALTER TABLE tokens ADD COLUMN agent_pool_id TEXT REFERENCES agent_pools(id) ON DELETE CASCADE;

-- Workspaces already in `agent` mode keep it, without a pool: the server's workers no longer run
-- them, and their runs say they wait for a pool to be set.
ALTER TABLE workspaces ADD COLUMN agent_pool_id TEXT REFERENCES agent_pools(id);
-- TFE's terraform-version: an exact version or 'latest'. It replaces terraform_bin, which let a
-- tenant name any program for the runner to execute: a workspace that named one (e.g. `tofu`)
-- now runs the highest version its runner has, until someone sets terraform-version.
ALTER TABLE workspaces ADD COLUMN terraform_version TEXT NOT NULL DEFAULT 'latest';
ALTER TABLE workspaces DROP COLUMN terraform_bin;

-- The exact version a run uses, fixed when a runner claims its first phase, so that the apply
-- runs the Terraform that wrote the saved plan.
ALTER TABLE runs ADD COLUMN terraform_version TEXT;

-- Runners as they last asked for work: which token (and so which pool or scope), which
-- Terraform versions they have (comma-separated), when. Written at most every 15 s per agent;
-- read to say why a queued run waits.
CREATE TABLE agents (
    token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    organization_id TEXT,
    agent_pool_id TEXT,
    terraform_versions TEXT NOT NULL,
    last_ping_at BIGINT NOT NULL,
    PRIMARY KEY (token_id, name)
);
CREATE INDEX agents_pool ON agents (agent_pool_id, last_ping_at);
