-- tern's schema, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql:
-- the same tables, columns and constraints; only the types differ.
-- Times are unix seconds. `seq` orders rows by insertion.

CREATE TABLE organizations (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE workspaces (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    terraform_bin TEXT NOT NULL,
    working_directory TEXT NOT NULL,
    auto_apply BOOLEAN NOT NULL,
    execution_mode TEXT NOT NULL,
    plan_timeout_s BIGINT NOT NULL,
    apply_timeout_s BIGINT NOT NULL,
    locked BOOLEAN NOT NULL,
    active_run_id TEXT,
    current_state_version_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE variable_sets (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    global BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE variable_set_workspaces (
    variable_set_id TEXT NOT NULL REFERENCES variable_sets(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    PRIMARY KEY (variable_set_id, workspace_id)
);

-- A variable belongs to a workspace or to a variable set. A sensitive value is kept only as
-- ciphertext (AES-256-GCM, the variable's id as associated data); `value` is then empty.
CREATE TABLE variables (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    variable_set_id TEXT REFERENCES variable_sets(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    value_ciphertext BYTEA,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    hcl BOOLEAN NOT NULL,
    sensitive BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((workspace_id IS NULL) <> (variable_set_id IS NULL))
);
CREATE UNIQUE INDEX variables_workspace_key ON variables (workspace_id, category, key) WHERE workspace_id IS NOT NULL;
CREATE UNIQUE INDEX variables_set_key ON variables (variable_set_id, category, key) WHERE variable_set_id IS NOT NULL;

CREATE TABLE configuration_versions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    error_message TEXT,
    speculative BOOLEAN NOT NULL,
    auto_queue_runs BOOLEAN NOT NULL,
    tarball BYTEA,
    created_at BIGINT NOT NULL
);

CREATE TABLE runs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    configuration_version_id TEXT NOT NULL REFERENCES configuration_versions(id),
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    is_destroy BOOLEAN NOT NULL,
    auto_apply BOOLEAN NOT NULL,
    plan_only BOOLEAN NOT NULL,
    has_changes BOOLEAN,
    error_message TEXT,
    plan_status TEXT NOT NULL,
    apply_status TEXT NOT NULL,
    plan_file BYTEA,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status_timestamps TEXT NOT NULL
);
CREATE INDEX runs_workspace ON runs (workspace_id, seq);

-- One job per phase of a run. An agent claims a queued job; while it runs it renews its lease.
CREATE TABLE jobs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT,
    cancel_requested BOOLEAN NOT NULL,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_status ON jobs (status, seq);

CREATE TABLE log_chunks (
    seq BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX log_chunks_run ON log_chunks (run_id, phase, seq);

CREATE TABLE state_versions (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id TEXT,
    serial BIGINT NOT NULL,
    lineage TEXT NOT NULL,
    md5 TEXT NOT NULL,
    state BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, serial)
);

-- Bearer tokens, stored as SHA-256 of the token. kind: admin, organization, agent, job.
CREATE TABLE tokens (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hash BYTEA NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    job_id TEXT,
    description TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

-- The managed key ring: private keys as ciphertext under the operator's key-encryption key.
-- state: next (published, not yet signing), current (signing), retired (published until
-- publish_until).
CREATE TABLE signing_keys (
    seq BIGSERIAL PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    private_ciphertext BYTEA NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retired_at BIGINT,
    publish_until BIGINT
);

-- Settings of the installation (the key check value of the key-encryption key, ...).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
