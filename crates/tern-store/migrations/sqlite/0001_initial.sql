-- tern's schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and constraints; only the types differ.
-- Times are unix seconds. Booleans are declared INTEGER so that sqlx decodes them as such. `seq` orders rows by insertion.

CREATE TABLE organizations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE projects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE workspaces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    terraform_bin TEXT NOT NULL,
    working_directory TEXT NOT NULL,
    auto_apply INTEGER NOT NULL,
    execution_mode TEXT NOT NULL,
    plan_timeout_s INTEGER NOT NULL,
    apply_timeout_s INTEGER NOT NULL,
    locked INTEGER NOT NULL,
    active_run_id TEXT,
    current_state_version_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE variable_sets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    global INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
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
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT REFERENCES workspaces(id) ON DELETE CASCADE,
    variable_set_id TEXT REFERENCES variable_sets(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    value_ciphertext BLOB,
    description TEXT NOT NULL,
    category TEXT NOT NULL,
    hcl INTEGER NOT NULL,
    sensitive INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK ((workspace_id IS NULL) <> (variable_set_id IS NULL))
);
CREATE UNIQUE INDEX variables_workspace_key ON variables (workspace_id, category, key) WHERE workspace_id IS NOT NULL;
CREATE UNIQUE INDEX variables_set_key ON variables (variable_set_id, category, key) WHERE variable_set_id IS NOT NULL;

CREATE TABLE configuration_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    error_message TEXT,
    speculative INTEGER NOT NULL,
    auto_queue_runs INTEGER NOT NULL,
    tarball BLOB,
    created_at INTEGER NOT NULL
);

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    configuration_version_id TEXT NOT NULL REFERENCES configuration_versions(id),
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    is_destroy INTEGER NOT NULL,
    auto_apply INTEGER NOT NULL,
    plan_only INTEGER NOT NULL,
    has_changes INTEGER,
    error_message TEXT,
    plan_status TEXT NOT NULL,
    apply_status TEXT NOT NULL,
    plan_file BLOB,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status_timestamps TEXT NOT NULL
);
CREATE INDEX runs_workspace ON runs (workspace_id, seq);

-- One job per phase of a run. An agent claims a queued job; while it runs it renews its lease.
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT,
    cancel_requested INTEGER NOT NULL,
    lease_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX jobs_status ON jobs (status, seq);

CREATE TABLE log_chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX log_chunks_run ON log_chunks (run_id, phase, seq);

CREATE TABLE state_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id TEXT,
    serial INTEGER NOT NULL,
    lineage TEXT NOT NULL,
    md5 TEXT NOT NULL,
    state BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, serial)
);

-- Bearer tokens, stored as SHA-256 of the token. kind: admin, organization, agent, job.
CREATE TABLE tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    hash BLOB NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    job_id TEXT,
    description TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);

-- The managed key ring: private keys as ciphertext under the operator's key-encryption key.
-- state: next (published, not yet signing), current (signing), retired (published until
-- publish_until).
CREATE TABLE signing_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    private_ciphertext BLOB NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    activates_at INTEGER NOT NULL,
    retired_at INTEGER,
    publish_until INTEGER
);

-- Settings of the installation (the key check value of the key-encryption key, ...).
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
