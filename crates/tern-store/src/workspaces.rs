//! Organizations, projects and workspaces.

use sqlx::Row as _;
use sqlx::any::AnyRow;
use tern_types::{OrganizationName, ProjectName, TerraformVersion, WorkspaceName};

use crate::crypto::new_id;
use crate::{
    AuditInput, DEFAULT_PROJECT, ExecutionMode, Organization, Page, Paged, Project, Store, StoreError,
    Workspace, WorkspaceFilter, WorkspaceSettings, count, not_found, sql,
};

/// Default phase timeout: two hours, as TFE.
pub const DEFAULT_TIMEOUT_S: i64 = 2 * 60 * 60;
/// Longest phase timeout accepted: one day (tokens cannot outlive it).
pub const MAX_TIMEOUT_S: i64 = 24 * 60 * 60;

fn organization(row: &AnyRow) -> Result<Organization, sqlx::Error> {
    Ok(Organization {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
        grants_version: row.try_get("grants_version")?,
    })
}

fn project(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        organization: row.try_get("organization")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

const PROJECT_COLUMNS: &str = "p.id, p.organization_id, o.name AS organization, p.name, p.description, p.created_at FROM projects p JOIN organizations o ON o.id = p.organization_id";

const WORKSPACE_COLUMNS: &str = "w.id, w.organization_id, o.name AS organization, w.project_id, p.name AS project, w.name, w.description, w.terraform_version, w.working_directory, w.auto_apply, w.execution_mode, w.agent_pool_id, w.plan_timeout_s, w.apply_timeout_s, w.locked, w.active_run_id, w.current_state_version_id, w.created_at, w.updated_at, (SELECT r.id FROM runs r WHERE r.workspace_id = w.id ORDER BY r.seq DESC LIMIT 1) AS latest_run_id FROM workspaces w JOIN organizations o ON o.id = w.organization_id JOIN projects p ON p.id = w.project_id";

fn workspace(row: &AnyRow) -> Result<Workspace, sqlx::Error> {
    let mode: String = row.try_get("execution_mode")?;
    let version: String = row.try_get("terraform_version")?;
    Ok(Workspace {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        organization: row.try_get("organization")?,
        project_id: row.try_get("project_id")?,
        project: row.try_get("project")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        // Validated when stored; a row that does not parse is treated as the default.
        terraform_version: TerraformVersion::parse(&version).unwrap_or_default(),
        working_directory: row.try_get("working_directory")?,
        auto_apply: crate::flag(row, "auto_apply")?,
        execution_mode: ExecutionMode::parse(&mode).unwrap_or(ExecutionMode::Remote),
        agent_pool_id: row.try_get("agent_pool_id")?,
        plan_timeout_s: row.try_get("plan_timeout_s")?,
        apply_timeout_s: row.try_get("apply_timeout_s")?,
        locked: crate::flag(row, "locked")?,
        active_run_id: row.try_get("active_run_id")?,
        latest_run_id: row.try_get("latest_run_id")?,
        current_state_version_id: row.try_get("current_state_version_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        tag_names: Vec::new(),
    })
}

/// The longest tag name TFE takes.
const MAX_TAG: usize = 255;

/// A tag name as TFE takes it: lowercase letters, digits, '-', '_', ':' (and '.', which
/// Terraform's own examples use), 1 to 255 characters.
pub fn check_tag(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TAG
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_:.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "tag {name:?}: use 1 to {MAX_TAG} lowercase letters, digits, '-', '_', ':' or '.'"
        )))
    }
}

/// TFE's limit on a project's description.
const MAX_DESCRIPTION: usize = 2048;

fn check_description(description: &str) -> Result<(), StoreError> {
    if description.len() > MAX_DESCRIPTION {
        return Err(StoreError::Invalid(format!("a description holds at most {MAX_DESCRIPTION} bytes")));
    }
    Ok(())
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}

fn check_timeout(name: &str, value: i64) -> Result<i64, StoreError> {
    if (60..=MAX_TIMEOUT_S).contains(&value) {
        Ok(value)
    } else {
        Err(StoreError::Invalid(format!(
            "{name} must be between 60 seconds and one day ({MAX_TIMEOUT_S} seconds); got {value}"
        )))
    }
}

/// A working directory must stay inside the configuration: relative, no `..`.
fn check_working_directory(dir: &str) -> Result<String, StoreError> {
    let trimmed = dir.trim_matches('/');
    if dir.starts_with('/') || trimmed.split('/').any(|part| part == "..") || dir.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "working-directory {dir:?} must be a relative path inside the configuration, without '..'"
        )));
    }
    Ok(trimmed.to_owned())
}

impl Store {
    /// The execution mode and agent pool a workspace of `organization_id` ends up with after
    /// `changes`: `agent` needs a pool of the same organization, any other mode has none (so
    /// leaving `agent` clears the pool), and a pool is named only with `agent`.
    async fn execution_of(
        &self,
        organization_id: &str,
        current: (ExecutionMode, Option<String>),
        changes: &WorkspaceSettings,
    ) -> Result<(ExecutionMode, Option<String>), StoreError> {
        if changes.execution_mode.is_none() && changes.agent_pool_id.is_none() {
            // Unchanged (an agent workspace of an earlier tern may have no pool yet: its runs
            // wait, and say so, until it gets one).
            return Ok(current);
        }
        let mode = changes.execution_mode.unwrap_or(current.0);
        if mode != ExecutionMode::Agent {
            if let Some(pool) = &changes.agent_pool_id {
                return Err(StoreError::Invalid(format!(
                    "agent-pool-id {pool:?} goes with execution-mode \"agent\" only; this workspace's execution mode is \"{mode}\""
                )));
            }
            return Ok((mode, None));
        }
        let Some(pool) = changes.agent_pool_id.clone().or(current.1) else {
            return Err(StoreError::Invalid(
                "execution-mode \"agent\" needs agent-pool-id: the pool whose agents run this workspace (create one with POST /api/v2/organizations/<org>/agent-pools, or `tern agent-pool create`)".into(),
            ));
        };
        match self.agent_pool(&pool).await {
            Ok(p) if p.organization_id == organization_id => Ok((mode, Some(p.id))),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(StoreError::Invalid(format!(
                "agent-pool-id {pool:?}: this organization has no such agent pool"
            ))),
            Err(e) => Err(e),
        }
    }

    /// Create an organization and its `Default Project`.
    pub async fn create_organization(&self, name: &str, email: &str) -> Result<Organization, StoreError> {
        OrganizationName::parse(name).map_err(invalid)?;
        let now = self.now();
        let mut org = Organization {
            id: new_id("org")?,
            name: name.to_owned(),
            email: email.to_owned(),
            created_at: now,
            grants_version: 0,
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO organizations (id, name, email, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.email)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("organization {name:?} already exists"))
                }
                other => other,
            })?;
        sqlx::query("INSERT INTO projects (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(new_id("prj")?)
            .bind(&org.id)
            .bind(DEFAULT_PROJECT)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        Self::insert_owners_team(&mut tx, &org.id, now).await?;
        (org.grants_version,) = sqlx::query_as("SELECT grants_version FROM organizations WHERE id = $1")
            .bind(&org.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(org)
    }

    /// An organization by name.
    pub async fn organization(&self, name: &str) -> Result<Organization, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, created_at, grants_version FROM organizations WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("organization", name))?;
        Ok(organization(&row)?)
    }

    /// An organization by id.
    pub async fn organization_by_id(&self, id: &str) -> Result<Organization, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, created_at, grants_version FROM organizations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("organization", id))?;
        Ok(organization(&row)?)
    }

    /// Organizations, by name; only those with the ids in `only` when given.
    pub async fn list_organizations(
        &self,
        only: Option<&[String]>,
        page: Page,
    ) -> Result<Paged<Organization>, StoreError> {
        // Every id is bound: `$1`… for the ids, then limit and offset.
        let filter = match only {
            None => String::new(),
            Some([]) => "WHERE 1 = 0".to_owned(),
            Some(ids) => format!(
                "WHERE id IN ({})",
                (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            ),
        };
        let ids = only.unwrap_or(&[]);
        let mut total =
            sqlx::query_as::<_, (i64,)>(sql(format!("SELECT COUNT(*) FROM organizations {filter}")));
        for id in ids {
            total = total.bind(id);
        }
        let total = total.fetch_one(&self.pool).await?;
        let n = ids.len();
        let mut rows = sqlx::query(sql(format!(
            "SELECT id, name, email, created_at, grants_version FROM organizations {filter} ORDER BY name LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for id in ids {
            rows = rows.bind(id);
        }
        let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?;
        let items = rows.iter().map(organization).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// Create a project.
    pub async fn create_project(
        &self,
        organization_id: &str,
        name: &str,
        description: &str,
    ) -> Result<Project, StoreError> {
        ProjectName::parse(name).map_err(invalid)?;
        check_description(description)?;
        let id = new_id("prj")?;
        sqlx::query("INSERT INTO projects (id, organization_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(organization_id)
            .bind(name)
            .bind(description)
            .bind(self.now())
            .execute(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("project {name:?} already exists")),
                other => other,
            })?;
        self.project(&id).await
    }

    /// A project by id.
    pub async fn project(&self, id: &str) -> Result<Project, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {PROJECT_COLUMNS} WHERE p.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("project", id))?;
        Ok(project(&row)?)
    }

    /// A project by name.
    pub async fn project_by_name(&self, organization_id: &str, name: &str) -> Result<Project, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {PROJECT_COLUMNS} WHERE p.organization_id = $1 AND p.name = $2"
        )))
        .bind(organization_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("project", name))?;
        Ok(project(&row)?)
    }

    /// Projects of an organization, by name.
    pub async fn list_projects(
        &self,
        organization_id: &str,
        names: &[String],
        query: Option<&str>,
        page: Page,
    ) -> Result<Paged<Project>, StoreError> {
        // $1 organization, then one per name (any of them), then the name part, then limit
        // and offset.
        let mut binds: Vec<String> = vec![organization_id.to_owned()];
        let mut condition = "p.organization_id = $1".to_owned();
        if !names.is_empty() {
            let any: Vec<String> = names
                .iter()
                .map(|n| {
                    binds.push(n.clone());
                    format!("p.name = ${}", binds.len())
                })
                .collect();
            condition.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            binds.push(format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
            // Case-insensitive on both backends (SQLite's LIKE is; PostgreSQL's is not).
            condition.push_str(&format!(" AND LOWER(p.name) LIKE LOWER(${}) ESCAPE '\\'", binds.len()));
        }
        let mut total =
            sqlx::query_as::<_, (i64,)>(sql(format!("SELECT COUNT(*) FROM projects p WHERE {condition}")));
        for b in &binds {
            total = total.bind(b);
        }
        let total = total.fetch_one(&self.pool).await?;
        let n = binds.len();
        let listed = format!(
            "SELECT {PROJECT_COLUMNS} WHERE {condition} ORDER BY p.name LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut rows = sqlx::query(sql(listed));
        for b in &binds {
            rows = rows.bind(b);
        }
        let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?;
        let items = rows.iter().map(project).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// Rename a project or change its description. The `Default Project` keeps its name: it is
    /// where new workspaces go when they name none.
    pub async fn update_project(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Project, StoreError> {
        let current = self.project(id).await?;
        if let Some(name) = name {
            ProjectName::parse(name).map_err(invalid)?;
            if current.name == DEFAULT_PROJECT && name != DEFAULT_PROJECT {
                return Err(StoreError::Invalid(format!(
                    "the {DEFAULT_PROJECT:?} cannot be renamed: workspaces created without a project go there"
                )));
            }
        }
        if let Some(description) = description {
            check_description(description)?;
        }
        sqlx::query("UPDATE projects SET name = $2, description = $3 WHERE id = $1")
            .bind(id)
            .bind(name.unwrap_or(&current.name))
            .bind(description.unwrap_or(&current.description))
            .execute(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("project {:?} already exists", name.unwrap_or_default()))
                }
                other => other,
            })?;
        self.project(id).await
    }

    /// Delete an empty project, as TFE: its workspaces must be moved or deleted first, and the
    /// `Default Project` stays.
    pub async fn delete_project(&self, id: &str) -> Result<(), StoreError> {
        let project = self.project(id).await?;
        if project.name == DEFAULT_PROJECT {
            return Err(StoreError::Conflict(format!(
                "the {DEFAULT_PROJECT:?} cannot be deleted: workspaces created without a project go there"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let (workspaces,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workspaces WHERE project_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if workspaces > 0 {
            return Err(StoreError::Conflict(format!(
                "project {:?} still holds {workspaces} workspace(s); move or delete them first",
                project.name
            )));
        }
        sqlx::query("DELETE FROM projects WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rename an organization or change its email. Renaming changes the `sub` of every token
    /// minted afterwards: trust policies that name the old organization stop matching.
    pub async fn update_organization(
        &self,
        id: &str,
        name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Organization, StoreError> {
        let current = self.organization_by_id(id).await?;
        if let Some(name) = name {
            OrganizationName::parse(name).map_err(invalid)?;
        }
        sqlx::query("UPDATE organizations SET name = $2, email = $3 WHERE id = $1")
            .bind(id)
            .bind(name.unwrap_or(&current.name))
            .bind(email.unwrap_or(&current.email))
            .execute(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "organization {:?} already exists",
                    name.unwrap_or_default()
                )),
                other => other,
            })?;
        self.organization_by_id(id).await
    }

    /// Delete an organization and everything in it (projects, workspaces, state, variables,
    /// tokens, agent pools). Refused while one of its runs holds a workspace: its job would go
    /// on with nobody to report to.
    pub async fn delete_organization(&self, id: &str) -> Result<(), StoreError> {
        let org = self.organization_by_id(id).await?;
        let mut tx = self.pool.begin().await?;
        let (active,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM workspaces WHERE organization_id = $1 AND active_run_id IS NOT NULL",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if active > 0 {
            return Err(StoreError::Conflict(format!(
                "organization {:?} has {active} active run(s); cancel or finish them first",
                org.name
            )));
        }
        sqlx::query("DELETE FROM organizations WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Create a workspace.
    pub async fn create_workspace(
        &self,
        organization_id: &str,
        settings: &WorkspaceSettings,
    ) -> Result<Workspace, StoreError> {
        let name =
            settings.name.as_deref().ok_or_else(|| StoreError::Invalid("a workspace needs a name".into()))?;
        WorkspaceName::parse(name).map_err(invalid)?;
        let project_id = match &settings.project_id {
            Some(id) => {
                let p = self.project(id).await?;
                if p.organization_id != organization_id {
                    return Err(not_found("project", id));
                }
                p.id
            }
            None => self.project_by_name(organization_id, DEFAULT_PROJECT).await?.id,
        };
        let (mode, pool) =
            self.execution_of(organization_id, (ExecutionMode::Remote, None), settings).await?;
        let id = new_id("ws")?;
        let now = self.now();
        sqlx::query("INSERT INTO workspaces (id, organization_id, project_id, name, description, terraform_version, working_directory, auto_apply, execution_mode, agent_pool_id, plan_timeout_s, apply_timeout_s, locked, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, FALSE, $13, $13)")
            .bind(&id)
            .bind(organization_id)
            .bind(&project_id)
            .bind(name)
            .bind(settings.description.clone().unwrap_or_default())
            .bind(settings.terraform_version.clone().unwrap_or_default().to_string())
            .bind(check_working_directory(settings.working_directory.as_deref().unwrap_or(""))?)
            .bind(settings.auto_apply.unwrap_or(false))
            .bind(mode.as_str())
            .bind(pool)
            .bind(check_timeout("plan-timeout", settings.plan_timeout_s.unwrap_or(DEFAULT_TIMEOUT_S))?)
            .bind(check_timeout("apply-timeout", settings.apply_timeout_s.unwrap_or(DEFAULT_TIMEOUT_S))?)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("workspace {name:?} already exists in this organization")),
                other => other,
            })?;
        self.workspace(&id).await
    }

    /// A workspace by id.
    pub async fn workspace(&self, id: &str) -> Result<Workspace, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {WORKSPACE_COLUMNS} WHERE w.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("workspace", id))?;
        let mut ws = workspace(&row)?;
        ws.tag_names = self.tags_of(&ws.id).await?;
        Ok(ws)
    }

    /// Every tag name used in an organization.
    pub async fn organization_tags(&self, organization_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT t.name FROM workspace_tags t JOIN workspaces w ON w.id = t.workspace_id
              WHERE w.organization_id = $1 ORDER BY t.name",
        )
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn tags_of(&self, workspace_id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM workspace_tags WHERE workspace_id = $1 ORDER BY name")
                .bind(workspace_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Add tags to a workspace (those it has already stay once).
    pub async fn add_workspace_tags(
        &self,
        workspace_id: &str,
        names: &[String],
    ) -> Result<Workspace, StoreError> {
        for name in names {
            check_tag(name)?;
        }
        let ws = self.workspace(workspace_id).await?;
        let mut tx = self.pool.begin().await?;
        for name in names {
            sqlx::query(
                "INSERT INTO workspace_tags (workspace_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&ws.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.workspace(&ws.id).await
    }

    /// Remove tags from a workspace (ones it does not have are ignored).
    pub async fn remove_workspace_tags(
        &self,
        workspace_id: &str,
        names: &[String],
    ) -> Result<Workspace, StoreError> {
        let ws = self.workspace(workspace_id).await?;
        for name in names {
            sqlx::query("DELETE FROM workspace_tags WHERE workspace_id = $1 AND name = $2")
                .bind(&ws.id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        }
        self.workspace(&ws.id).await
    }

    /// A workspace by organization and name.
    pub async fn workspace_by_name(
        &self,
        organization_id: &str,
        name: &str,
    ) -> Result<Workspace, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {WORKSPACE_COLUMNS} WHERE w.organization_id = $1 AND w.name = $2"
        )))
        .bind(organization_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found("workspace", name))?;
        let mut ws = workspace(&row)?;
        ws.tag_names = self.tags_of(&ws.id).await?;
        Ok(ws)
    }

    /// Workspaces of an organization by name: a part of the name, tags they all have, a project.
    pub async fn list_workspaces(
        &self,
        organization_id: &str,
        filter: &WorkspaceFilter,
        page: Page,
    ) -> Result<Paged<Workspace>, StoreError> {
        // Every value is bound, never spliced: `$n` names the n-th of `binds`.
        let mut binds: Vec<String> = vec![organization_id.to_owned()];
        let mut param = |v: String| {
            binds.push(v);
            format!("${}", binds.len())
        };
        let like_escape = |v: &str| v.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        // A member's list names what they may see (ids and projects); with the organization's
        // index usable SQLite walked all its workspaces to count a member's few (100 000 rows
        // for 3 027: docs/benchmarks.md, section 8). `|| ''` keeps the organization check but
        // makes the id and project indexes the only way in. The owner's list keeps the index.
        let mut condition = if filter.visible.is_some() {
            "(w.organization_id || '') = $1".to_owned()
        } else {
            "w.organization_id = $1".to_owned()
        };
        if let Some(name) = filter.name.as_deref().filter(|n| !n.is_empty()) {
            let p = param(format!("%{}%", like_escape(name)));
            condition.push_str(&format!(" AND LOWER(w.name) LIKE LOWER({p}) ESCAPE '\\'"));
        }
        if let Some(wildcard) = filter.wildcard_name.as_deref().filter(|n| !n.is_empty()) {
            // `*` matches any run of characters; everything else is literal.
            let pattern = wildcard.split('*').map(like_escape).collect::<Vec<_>>().join("%");
            let p = param(pattern);
            condition.push_str(&format!(" AND LOWER(w.name) LIKE LOWER({p}) ESCAPE '\\'"));
        }
        if let Some(project) = &filter.project_id {
            let p = param(project.clone());
            condition.push_str(&format!(" AND w.project_id = {p}"));
        }
        for (tags, not) in [(&filter.tags, ""), (&filter.exclude_tags, "NOT ")] {
            for tag in tags {
                let p = param(tag.clone());
                condition.push_str(&format!(
                    " AND {not}EXISTS (SELECT 1 FROM workspace_tags t WHERE t.workspace_id = w.id AND t.name = {p})"
                ));
            }
        }
        if let Some((workspaces, projects)) = &filter.visible {
            let ws: Vec<String> = workspaces.iter().map(|w| param(w.clone())).collect();
            let prj: Vec<String> = projects.iter().map(|p| param(p.clone())).collect();
            // Only the terms that can match, so that each side of the OR is an index lookup.
            let mut any = Vec::new();
            if !ws.is_empty() {
                any.push(format!("w.id IN ({})", ws.join(", ")));
            }
            if !prj.is_empty() {
                any.push(format!("w.project_id IN ({})", prj.join(", ")));
            }
            if any.is_empty() {
                any.push("1 = 0".to_owned());
            }
            condition.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if !filter.current_run_statuses.is_empty() {
            let ps: Vec<String> =
                filter.current_run_statuses.iter().map(|s| param(s.as_str().to_owned())).collect();
            condition.push_str(&format!(
                " AND (SELECT r.status FROM runs r WHERE r.workspace_id = w.id ORDER BY r.seq DESC LIMIT 1) IN ({})",
                ps.join(", ")
            ));
        }
        let n = binds.len();
        let (rows, total) = if filter.visible.is_some() {
            // A member's list: one narrow pass finds the page's ids and the total together
            // (the visible rows are sorted once, as (name, id) pairs, through the id index and
            // the covering project index of migration 16), then the page's 20 rows are read in
            // full. Sorting the full rows, with their joins and the latest run of each, cost a
            // member 2 × an owner's list on SQLite: docs/benchmarks.md, section 8.
            let narrow = format!(
                "SELECT w.id, COUNT(*) OVER () FROM workspaces w WHERE {condition} ORDER BY w.name LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            );
            let mut ids = sqlx::query_as::<_, (String, i64)>(sql(narrow));
            for b in &binds {
                ids = ids.bind(b);
            }
            let ids = ids.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?;
            let total = match ids.first() {
                Some((_, total)) => *total,
                None if page.offset() == 0 => 0,
                // Past the last page: no row carries the total.
                None => self.count_workspaces(&condition, &binds).await?,
            };
            if ids.is_empty() {
                (Vec::new(), total)
            } else {
                let params: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let listed = format!(
                    "SELECT {WORKSPACE_COLUMNS} WHERE w.id IN ({}) ORDER BY w.name",
                    params.join(", ")
                );
                let mut rows = sqlx::query(sql(listed));
                for (id, _) in &ids {
                    rows = rows.bind(id);
                }
                (rows.fetch_all(&self.pool).await?, total)
            }
        } else {
            let total = self.count_workspaces(&condition, &binds).await?;
            let listed = format!(
                "SELECT {WORKSPACE_COLUMNS} WHERE {condition} ORDER BY w.name LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            );
            let mut rows = sqlx::query(sql(listed));
            for b in &binds {
                rows = rows.bind(b);
            }
            (rows.bind(page.limit()).bind(page.offset()).fetch_all(&self.pool).await?, total)
        };
        let mut items: Vec<Workspace> = rows.iter().map(workspace).collect::<Result<_, _>>()?;
        // The page's tags in one query, not one per workspace.
        if !items.is_empty() {
            let ids: Vec<String> = (1..=items.len()).map(|i| format!("${i}")).collect();
            let query = format!(
                "SELECT workspace_id, name FROM workspace_tags WHERE workspace_id IN ({}) ORDER BY name",
                ids.join(", ")
            );
            let mut tags = sqlx::query_as::<_, (String, String)>(sql(query));
            for ws in &items {
                tags = tags.bind(&ws.id);
            }
            for (id, name) in tags.fetch_all(&self.pool).await? {
                if let Some(ws) = items.iter_mut().find(|w| w.id == id) {
                    ws.tag_names.push(name);
                }
            }
        }
        Ok(Paged { items, total: count(total), page })
    }

    /// How many workspaces match a list's condition (`binds` are its `$n` values).
    async fn count_workspaces(&self, condition: &str, binds: &[String]) -> Result<i64, StoreError> {
        let counted = format!("SELECT COUNT(*) FROM workspaces w WHERE {condition}");
        let mut total = sqlx::query_as::<_, (i64,)>(sql(counted));
        for b in binds {
            total = total.bind(b);
        }
        Ok(total.fetch_one(&self.pool).await?.0)
    }

    /// Change a workspace's settings, recording `audit` in the same transaction.
    pub async fn update_workspace(
        &self,
        id: &str,
        changes: &WorkspaceSettings,
        audit: &AuditInput,
    ) -> Result<Workspace, StoreError> {
        let mut ws = self.workspace(id).await?;
        if let Some(name) = &changes.name {
            WorkspaceName::parse(name).map_err(invalid)?;
            ws.name.clone_from(name);
        }
        if let Some(project_id) = &changes.project_id {
            let p = self.project(project_id).await?;
            if p.organization_id != ws.organization_id {
                return Err(not_found("project", project_id));
            }
            ws.project_id = p.id;
        }
        if let Some(d) = &changes.description {
            ws.description.clone_from(d);
        }
        if let Some(v) = &changes.terraform_version {
            ws.terraform_version = v.clone();
        }
        if let Some(d) = &changes.working_directory {
            ws.working_directory = check_working_directory(d)?;
        }
        if let Some(a) = changes.auto_apply {
            ws.auto_apply = a;
        }
        (ws.execution_mode, ws.agent_pool_id) = self
            .execution_of(&ws.organization_id, (ws.execution_mode, ws.agent_pool_id.take()), changes)
            .await?;
        if let Some(t) = changes.plan_timeout_s {
            ws.plan_timeout_s = check_timeout("plan-timeout", t)?;
        }
        if let Some(t) = changes.apply_timeout_s {
            ws.apply_timeout_s = check_timeout("apply-timeout", t)?;
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE workspaces SET name = $2, project_id = $3, description = $4, terraform_version = $5, working_directory = $6, auto_apply = $7, execution_mode = $8, agent_pool_id = $12, plan_timeout_s = $9, apply_timeout_s = $10, updated_at = $11 WHERE id = $1")
            .bind(id)
            .bind(&ws.name)
            .bind(&ws.project_id)
            .bind(&ws.description)
            .bind(ws.terraform_version.to_string())
            .bind(&ws.working_directory)
            .bind(ws.auto_apply)
            .bind(ws.execution_mode.as_str())
            .bind(ws.plan_timeout_s)
            .bind(ws.apply_timeout_s)
            .bind(self.now())
            .bind(&ws.agent_pool_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("workspace {:?} already exists in this organization", ws.name)),
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(not_found("workspace", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.workspace(id).await
    }

    /// Delete a workspace with its variables, runs and state, recording `audit` in the same
    /// transaction. Refused while a run is active.
    pub async fn delete_workspace(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let ws = self.workspace(id).await?;
        if let Some(run) = ws.active_run_id {
            return Err(StoreError::Conflict(format!(
                "workspace {:?} has an active run ({run}); cancel or finish it first",
                ws.name
            )));
        }
        let mut tx = self.pool.begin().await?;
        // Only while no run became active meanwhile (the check above is a read).
        let done = sqlx::query("DELETE FROM workspaces WHERE id = $1 AND active_run_id IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "workspace {:?} changed (a run started, or it was deleted); read it again",
                ws.name
            )));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lock (`true`) or unlock a workspace, recording `audit` in the same transaction. Locking a
    /// locked workspace is a conflict, as in TFE.
    pub async fn set_workspace_lock(
        &self,
        id: &str,
        locked: bool,
        audit: &AuditInput,
    ) -> Result<Workspace, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("UPDATE workspaces SET locked = $2, updated_at = $3 WHERE id = $1 AND locked = $4")
                .bind(id)
                .bind(locked)
                .bind(self.now())
                .bind(!locked)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            let ws = self.workspace(id).await?;
            return Err(StoreError::Conflict(format!(
                "workspace {:?} is already {}",
                ws.name,
                if locked { "locked" } else { "unlocked" }
            )));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.workspace(id).await
    }
}
