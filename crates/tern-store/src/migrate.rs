//! Migrations: the SQL files of `migrations/<backend>`, embedded, applied in order once each.
//! A checksum per applied file refuses a database whose history differs from this build, and a
//! database migrated by a newer tern is refused rather than misread. On PostgreSQL an advisory
//! lock serialises replicas that start at the same time.

use sqlx::{AnyPool, Executor as _};

use crate::{Backend, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "one next, one current signing key",
        sqlite: include_str!("../migrations/sqlite/0002_one_next_one_current_key.sql"),
        postgres: include_str!("../migrations/postgres/0002_one_next_one_current_key.sql"),
    },
    Migration {
        version: 3,
        name: "sealed state and plan files",
        sqlite: include_str!("../migrations/sqlite/0003_sealed_state_and_plans.sql"),
        postgres: include_str!("../migrations/postgres/0003_sealed_state_and_plans.sql"),
    },
    Migration {
        version: 4,
        name: "agent pools and terraform versions",
        sqlite: include_str!("../migrations/sqlite/0004_agent_pools_and_terraform_versions.sql"),
        postgres: include_str!("../migrations/postgres/0004_agent_pools_and_terraform_versions.sql"),
    },
    Migration {
        version: 5,
        name: "run variables and options",
        sqlite: include_str!("../migrations/sqlite/0005_run_variables_and_options.sql"),
        postgres: include_str!("../migrations/postgres/0005_run_variables_and_options.sql"),
    },
    Migration {
        version: 6,
        name: "workspace tags",
        sqlite: include_str!("../migrations/sqlite/0006_workspace_tags.sql"),
        postgres: include_str!("../migrations/postgres/0006_workspace_tags.sql"),
    },
    Migration {
        version: 7,
        name: "project descriptions and project-scoped variable sets",
        sqlite: include_str!("../migrations/sqlite/0007_project_scopes.sql"),
        postgres: include_str!("../migrations/postgres/0007_project_scopes.sql"),
    },
    Migration {
        version: 8,
        name: "plan JSON, resource counts, upload and state Terraform versions",
        sqlite: include_str!("../migrations/sqlite/0008_plan_json_and_counts.sql"),
        postgres: include_str!("../migrations/postgres/0008_plan_json_and_counts.sql"),
    },
    Migration {
        version: 9,
        name: "the audit trail",
        sqlite: include_str!("../migrations/sqlite/0009_audit_trail.sql"),
        postgres: include_str!("../migrations/postgres/0009_audit_trail.sql"),
    },
    Migration {
        version: 10,
        name: "users, teams and their access",
        sqlite: include_str!("../migrations/sqlite/0010_users_and_teams.sql"),
        postgres: include_str!("../migrations/postgres/0010_users_and_teams.sql"),
    },
    Migration {
        version: 11,
        name: "sessions and sign-in",
        sqlite: include_str!("../migrations/sqlite/0011_sessions_and_sign_in.sql"),
        postgres: include_str!("../migrations/postgres/0011_sessions_and_sign_in.sql"),
    },
    Migration {
        version: 12,
        name: "audit trail indexes",
        sqlite: include_str!("../migrations/sqlite/0012_audit_trail_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0012_audit_trail_indexes.sql"),
    },
    Migration {
        version: 13,
        name: "log chunk offsets",
        sqlite: include_str!("../migrations/sqlite/0013_log_offsets.sql"),
        postgres: include_str!("../migrations/postgres/0013_log_offsets.sql"),
    },
    Migration {
        version: 14,
        name: "workspaces by project",
        sqlite: include_str!("../migrations/sqlite/0014_workspaces_by_project.sql"),
        postgres: include_str!("../migrations/postgres/0014_workspaces_by_project.sql"),
    },
    Migration {
        version: 15,
        name: "jobs by run",
        sqlite: include_str!("../migrations/sqlite/0015_jobs_by_run.sql"),
        postgres: include_str!("../migrations/postgres/0015_jobs_by_run.sql"),
    },
    Migration {
        version: 16,
        name: "workspaces by project, covering",
        sqlite: include_str!("../migrations/sqlite/0016_workspaces_by_project_covering.sql"),
        postgres: include_str!("../migrations/postgres/0016_workspaces_by_project_covering.sql"),
    },
    Migration {
        version: 17,
        name: "a grants version per organization",
        sqlite: include_str!("../migrations/sqlite/0017_grants_version.sql"),
        postgres: include_str!("../migrations/postgres/0017_grants_version.sql"),
    },
];

/// Arbitrary, fixed: the advisory lock id tern's replicas agree on.
const LOCK_ID: i64 = 0x7465_726e_6d69;

fn checksum(sql: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sql.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_ID).execute(&mut *conn).await?;
    }
    let result = apply(&mut conn, backend, i64::MAX).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_ID).execute(&mut *conn).await?;
    }
    result
}

/// Apply the migrations this database lacks, up to version `until`.
async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend, until: i64) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tern_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT version, name, checksum FROM tern_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    for (version, name, sum) in &applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(StoreError::Migration(format!(
                "the database has migration {version} ({name}), newer than this tern knows (up to {newest}): upgrade tern"
            )));
        };
        let sql = if backend == Backend::Sqlite { m.sqlite } else { m.postgres };
        if checksum(sql) != *sum {
            return Err(StoreError::Migration(format!(
                "migration {version} ({name}) applied to this database differs from this build's"
            )));
        }
    }
    for m in
        MIGRATIONS.iter().filter(|m| m.version <= until && !applied.iter().any(|(v, _, _)| *v == m.version))
    {
        let sql = if backend == Backend::Sqlite { m.sqlite } else { m.postgres };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        tx.execute(sql)
            .await
            .map_err(|e| StoreError::Migration(format!("{} ({}): {e}", m.version, m.name)))?;
        sqlx::query(
            "INSERT INTO tern_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, 0)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(checksum(sql))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied database migration");
    }
    Ok(())
}

/// How a database's migrations compare with this build's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions applied to the database.
    pub applied: Vec<i64>,
    /// The newest version this build knows.
    pub newest_known: i64,
    /// Versions this build would apply.
    pub pending: Vec<i64>,
    /// Applied versions this build does not know, or whose checksum differs.
    pub conflicts: Vec<String>,
}

impl MigrationStatus {
    /// Whether the database is exactly at this build's schema.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.conflicts.is_empty()
    }
}

pub(crate) async fn status(pool: &AnyPool, backend: Backend) -> Result<MigrationStatus, StoreError> {
    let exists: Option<(i64,)> = match backend {
        Backend::Sqlite => sqlx::query_as("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tern_migrations'")
            .fetch_optional(pool)
            .await?,
        Backend::Postgres => sqlx::query_as("SELECT 1::BIGINT FROM information_schema.tables WHERE table_name = 'tern_migrations' AND table_schema = current_schema()")
            .fetch_optional(pool)
            .await?,
    };
    let applied: Vec<(i64, String, String)> = if exists.is_some() {
        sqlx::query_as("SELECT version, name, checksum FROM tern_migrations ORDER BY version")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    let mut conflicts = Vec::new();
    for (version, name, sum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => conflicts.push(format!("migration {version} ({name}) is newer than this tern")),
            Some(m) => {
                let sql = if backend == Backend::Sqlite { m.sqlite } else { m.postgres };
                if checksum(sql) != *sum {
                    conflicts.push(format!("migration {version} ({name}) differs from this build's"));
                }
            }
        }
    }
    Ok(MigrationStatus {
        applied: applied.iter().map(|a| a.0).collect(),
        newest_known: MIGRATIONS.last().map_or(0, |m| m.version),
        pending: MIGRATIONS
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|a| a.0 == *v))
            .collect(),
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sqlx::any::{AnyPoolOptions, install_default_drivers};
    use tern_testkit::db::TestDatabase;

    use super::*;

    /// A database of an earlier tern, with a workspace that named a program, upgrades: the
    /// program is forgotten (the column is gone) and the workspace runs `latest`.
    async fn upgrading_replaces_terraform_bin_with_latest(db: TestDatabase, backend: Backend) {
        install_default_drivers();
        let pool = AnyPoolOptions::new().max_connections(1).connect(&db.url).await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        apply(&mut conn, backend, 3).await.unwrap();
        for statement in [
            "INSERT INTO organizations (id, name, email, created_at) VALUES ('org-1', 'acme', '', 0)",
            "INSERT INTO projects (id, organization_id, name, created_at) VALUES ('prj-1', 'org-1', 'Default Project', 0)",
            "INSERT INTO workspaces (id, organization_id, project_id, name, description, terraform_bin, working_directory, auto_apply, execution_mode, plan_timeout_s, apply_timeout_s, locked, created_at, updated_at) VALUES ('ws-1', 'org-1', 'prj-1', 'app', '', '/bin/sh', '', FALSE, 'agent', 60, 60, FALSE, 0, 0)",
        ] {
            sqlx::query(statement).execute(&mut *conn).await.unwrap();
        }
        apply(&mut conn, backend, i64::MAX).await.unwrap();
        let (version, pool_id, mode): (String, Option<String>, String) = sqlx::query_as(
            "SELECT terraform_version, agent_pool_id, execution_mode FROM workspaces WHERE id = 'ws-1'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!((version.as_str(), pool_id, mode.as_str()), ("latest", None, "agent"));
        assert!(sqlx::query("SELECT terraform_bin FROM workspaces").fetch_all(&mut *conn).await.is_err());
    }

    #[tokio::test]
    async fn upgrading_replaces_terraform_bin_with_latest_sqlite() {
        upgrading_replaces_terraform_bin_with_latest(TestDatabase::sqlite(), Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn upgrading_replaces_terraform_bin_with_latest_postgres() {
        upgrading_replaces_terraform_bin_with_latest(TestDatabase::postgres(), Backend::Postgres).await;
    }
}
