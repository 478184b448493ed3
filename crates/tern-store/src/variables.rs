//! Workspace variables and variable sets. A sensitive value is sealed before it reaches the
//! database and is never read back except for a job ([`Store::job_variables`]).

use sqlx::Row as _;
use sqlx::any::AnyRow;
use tern_types::SecretString;

use crate::audit::Audit;
use crate::crypto::new_id;
use crate::{
    AuditInput, Category, JobVariable, SetReach, SetScope, Store, StoreError, Variable, VariableInput,
    VariableOwner, VariableSet, VariableSetChanges, not_found, sql,
};

const COLUMNS: &str = "id, workspace_id, variable_set_id, key, value, value_ciphertext, description, category, hcl, sensitive, created_at";

/// Longest variable value accepted (TFE's limit is 256 KiB too).
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

fn variable(row: &AnyRow) -> Result<Variable, sqlx::Error> {
    let ws: Option<String> = row.try_get("workspace_id")?;
    let set: Option<String> = row.try_get("variable_set_id")?;
    let sensitive = crate::flag(row, "sensitive")?;
    let category: String = row.try_get("category")?;
    Ok(Variable {
        id: row.try_get("id")?,
        owner: match (ws, set) {
            (Some(ws), _) => VariableOwner::Workspace(ws),
            (None, Some(set)) => VariableOwner::VariableSet(set),
            (None, None) => VariableOwner::Workspace(String::new()),
        },
        key: row.try_get("key")?,
        value: if sensitive { None } else { Some(row.try_get("value")?) },
        description: row.try_get("description")?,
        category: Category::parse(&category).unwrap_or(Category::Env),
        hcl: crate::flag(row, "hcl")?,
        sensitive,
        created_at: row.try_get("created_at")?,
    })
}

/// Whether `key` is a valid Terraform variable name (what a tfvars file may assign).
pub fn valid_variable_name(key: &str) -> bool {
    check_key(key, Category::Terraform).is_ok()
}

fn check_key(key: &str, category: Category) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (category == Category::Terraform && c == '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "variable key {key:?} is not a valid {} name: start with a letter or '_', then letters, digits and '_'{}",
            if category == Category::Env { "environment variable" } else { "Terraform variable" },
            if category == Category::Terraform { " or '-'" } else { "" }
        )))
    }
}

fn check_value(value: &SecretString) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "variable value is {} bytes; at most {MAX_VALUE_BYTES} are allowed",
            value.len()
        )));
    }
    if value.expose_secret().contains('\0') {
        return Err(StoreError::Invalid("variable value contains a NUL byte".into()));
    }
    Ok(())
}

/// A variable, read on `conn` (a transaction's, to see what it wrote).
async fn variable_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Variable, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM variables WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("variable", id))?;
    Ok(variable(&row)?)
}

/// A variable set with where it applies, read on `conn`.
async fn variable_set_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<VariableSet, StoreError> {
    let row = sqlx::query(
        "SELECT id, organization_id, name, description, global, created_at FROM variable_sets WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found("variable set", id))?;
    let workspaces: Vec<(String,)> = sqlx::query_as(
        "SELECT workspace_id FROM variable_set_workspaces WHERE variable_set_id = $1 ORDER BY workspace_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let projects: Vec<(String,)> = sqlx::query_as(
        "SELECT project_id FROM variable_set_projects WHERE variable_set_id = $1 ORDER BY project_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(VariableSet {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        global: crate::flag(&row, "global")?,
        workspace_ids: workspaces.into_iter().map(|w| w.0).collect(),
        project_ids: projects.into_iter().map(|p| p.0).collect(),
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Create a variable. `audit`, made from it, is recorded in the same transaction.
    pub async fn create_variable(
        &self,
        owner: &VariableOwner,
        input: &VariableInput,
        audit: impl Audit<Variable>,
    ) -> Result<Variable, StoreError> {
        let key = input.key.as_deref().ok_or_else(|| StoreError::Invalid("a variable needs a key".into()))?;
        let category = input.category.ok_or_else(|| {
            StoreError::Invalid("a variable needs a category: \"env\" or \"terraform\"".into())
        })?;
        check_key(key, category)?;
        let empty = SecretString::new(String::new());
        let value = input.value.as_ref().unwrap_or(&empty);
        check_value(value)?;
        let sensitive = input.sensitive.unwrap_or(false);
        let id = new_id("var")?;
        let (plain, sealed) = if sensitive {
            (String::new(), Some(self.cipher.seal(&id, value.expose_secret().as_bytes())?))
        } else {
            (value.expose_secret().to_owned(), None)
        };
        let (ws, set) = match owner {
            VariableOwner::Workspace(id) => (Some(id.as_str()), None),
            VariableOwner::VariableSet(id) => (None, Some(id.as_str())),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO variables (id, workspace_id, variable_set_id, key, value, value_ciphertext, description, category, hcl, sensitive, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(&id)
            .bind(ws)
            .bind(set)
            .bind(key)
            .bind(plain)
            .bind(sealed)
            .bind(input.description.clone().unwrap_or_default())
            .bind(category.as_str())
            .bind(input.hcl.unwrap_or(false))
            .bind(sensitive)
            .bind(self.now())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "a {category} variable {key:?} already exists here; update it instead"
                )),
                other => other,
            })?;
        let var = variable_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&var)).await?;
        tx.commit().await?;
        Ok(var)
    }

    /// A variable (value hidden when sensitive).
    pub async fn variable(&self, id: &str) -> Result<Variable, StoreError> {
        variable_on(&mut *self.pool.acquire().await?, id).await
    }

    /// Variables of a workspace or set, by key.
    pub async fn list_variables(&self, owner: &VariableOwner) -> Result<Vec<Variable>, StoreError> {
        let (column, id) = match owner {
            VariableOwner::Workspace(id) => ("workspace_id", id),
            VariableOwner::VariableSet(id) => ("variable_set_id", id),
        };
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM variables WHERE {column} = $1 ORDER BY key, category"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(variable).collect::<Result<_, _>>()?)
    }

    /// Change a variable. A sensitive variable stays sensitive (TFE's rule: the value was
    /// promised never to be shown again). `audit`, made from the changed variable, is recorded
    /// in the same transaction.
    pub async fn update_variable(
        &self,
        id: &str,
        input: &VariableInput,
        audit: impl Audit<Variable>,
    ) -> Result<Variable, StoreError> {
        let current = self.variable(id).await?;
        let category = input.category.unwrap_or(current.category);
        let key = input.key.clone().unwrap_or_else(|| current.key.clone());
        check_key(&key, category)?;
        if current.sensitive && input.sensitive == Some(false) {
            return Err(StoreError::Invalid(
                "a sensitive variable cannot be made non-sensitive; delete it and create it again".into(),
            ));
        }
        let sensitive = input.sensitive.unwrap_or(current.sensitive);
        let mut sql = String::from(
            "UPDATE variables SET key = $2, category = $3, description = $4, hcl = $5, sensitive = $6",
        );
        let (plain, sealed) = match &input.value {
            Some(value) => {
                check_value(value)?;
                if sensitive {
                    (String::new(), Some(self.cipher.seal(id, value.expose_secret().as_bytes())?))
                } else {
                    (value.expose_secret().to_owned(), None)
                }
            }
            None if sensitive && !current.sensitive => {
                // Becoming sensitive: seal the stored value and clear the plaintext.
                let value = current.value.clone().unwrap_or_default();
                (String::new(), Some(self.cipher.seal(id, value.as_bytes())?))
            }
            None => (String::new(), None),
        };
        if input.value.is_some() || (sensitive && !current.sensitive) {
            sql.push_str(", value = $7, value_ciphertext = $8");
        }
        sql.push_str(" WHERE id = $1");
        let mut q = sqlx::query(crate::sql(sql))
            .bind(id)
            .bind(&key)
            .bind(category.as_str())
            .bind(input.description.clone().unwrap_or(current.description))
            .bind(input.hcl.unwrap_or(current.hcl))
            .bind(sensitive);
        if input.value.is_some() || (sensitive && !current.sensitive) {
            q = q.bind(plain).bind(sealed);
        }
        let mut tx = self.pool.begin().await?;
        let done = q.execute(&mut *tx).await.map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a {category} variable {key:?} already exists here"))
            }
            other => other,
        })?;
        if done.rows_affected() == 0 {
            return Err(not_found("variable", id));
        }
        let var = variable_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&var)).await?;
        tx.commit().await?;
        Ok(var)
    }

    /// Delete a variable. `audit` is recorded in the same transaction.
    pub async fn delete_variable(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM variables WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("variable", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The variables a job of `workspace_id` gets, with values. For one key and category, TFE's
    /// precedence: the workspace's own variable, then a set applied to the workspace, then a set
    /// applied to its project, then a global set; among sets of one level, the first by name.
    pub async fn job_variables(&self, workspace_id: &str) -> Result<Vec<JobVariable>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS}, CAST(0 AS BIGINT) AS precedence, CAST('' AS TEXT) AS set_name FROM variables WHERE workspace_id = $1
             UNION ALL
             SELECT * FROM (
               SELECT v.id, v.workspace_id, v.variable_set_id, v.key, v.value, v.value_ciphertext, v.description, v.category, v.hcl, v.sensitive, v.created_at,
                      CASE WHEN EXISTS (SELECT 1 FROM variable_set_workspaces a WHERE a.variable_set_id = s.id AND a.workspace_id = $1) THEN CAST(1 AS BIGINT)
                           WHEN EXISTS (SELECT 1 FROM variable_set_projects ap WHERE ap.variable_set_id = s.id AND ap.project_id = w.project_id) THEN CAST(2 AS BIGINT)
                           WHEN s.global = TRUE THEN CAST(3 AS BIGINT)
                           ELSE CAST(9 AS BIGINT) END AS precedence,
                      s.name AS set_name
                 FROM variables v JOIN variable_sets s ON s.id = v.variable_set_id
                 JOIN workspaces w ON w.id = $1 AND w.organization_id = s.organization_id
             ) applied WHERE precedence < 9"
        )))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(i64, String, JobVariable)> = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get("id")?;
            let sensitive = crate::flag(row, "sensitive")?;
            let value = if sensitive {
                let sealed: Option<Vec<u8>> = row.try_get("value_ciphertext")?;
                let plain = self.cipher.open(&id, sealed.as_deref().unwrap_or_default())?;
                SecretString::new(
                    String::from_utf8(plain.to_vec())
                        .map_err(|_| StoreError::Crypto(crate::CryptoError::Open))?,
                )
            } else {
                SecretString::new(row.try_get("value")?)
            };
            let category: String = row.try_get("category")?;
            let precedence: i64 = row.try_get("precedence")?;
            let set_name: String = row.try_get("set_name")?;
            out.push((
                precedence,
                set_name,
                JobVariable {
                    key: row.try_get("key")?,
                    value,
                    category: Category::parse(&category).unwrap_or(Category::Env),
                    hcl: crate::flag(row, "hcl")?,
                    sensitive,
                },
            ));
        }
        // Workspace variables (precedence 0) win, then sets by scope; within a scope, by name.
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut seen = std::collections::BTreeSet::new();
        Ok(out
            .into_iter()
            .filter(|(_, _, v)| seen.insert((v.category, v.key.clone())))
            .map(|(_, _, v)| v)
            .collect())
    }

    /// Create a variable set applied to `reach`, all in one transaction with `audit`, made
    /// from the new set: a set applied to only some of what was asked is never left behind.
    pub async fn create_variable_set(
        &self,
        organization_id: &str,
        name: &str,
        description: &str,
        global: bool,
        reach: &SetReach,
        audit: impl Audit<VariableSet>,
    ) -> Result<VariableSet, StoreError> {
        check_set_name(name)?;
        self.check_reach(organization_id, reach).await?;
        let id = new_id("varset")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO variable_sets (id, organization_id, name, description, global, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(organization_id)
            .bind(name)
            .bind(description)
            .bind(global)
            .bind(self.now())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("variable set {name:?} already exists")),
                other => other,
            })?;
        change_reach(&mut tx, &id, reach, &SetReach::default()).await?;
        let set = variable_set_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&set)).await?;
        tx.commit().await?;
        Ok(set)
    }

    /// A variable set.
    pub async fn variable_set(&self, id: &str) -> Result<VariableSet, StoreError> {
        variable_set_on(&mut *self.pool.acquire().await?, id).await
    }

    /// Variable sets of an organization, by name.
    pub async fn list_variable_sets(&self, organization_id: &str) -> Result<Vec<VariableSet>, StoreError> {
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM variable_sets WHERE organization_id = $1 ORDER BY name")
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.push(self.variable_set(&id).await?);
        }
        Ok(out)
    }

    /// The sets that apply to a workspace: global ones, those applied to it, and those applied
    /// to its project; by name.
    pub async fn workspace_variable_sets(&self, workspace_id: &str) -> Result<Vec<VariableSet>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT s.id FROM variable_sets s JOIN workspaces w ON w.id = $1 AND w.organization_id = s.organization_id
              WHERE s.global = TRUE
                 OR EXISTS (SELECT 1 FROM variable_set_workspaces a WHERE a.variable_set_id = s.id AND a.workspace_id = w.id)
                 OR EXISTS (SELECT 1 FROM variable_set_projects ap WHERE ap.variable_set_id = s.id AND ap.project_id = w.project_id)
              ORDER BY s.name",
        )
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.push(self.variable_set(&id).await?);
        }
        Ok(out)
    }

    /// The sets applied to a project (not the global ones); by name.
    pub async fn project_variable_sets(&self, project_id: &str) -> Result<Vec<VariableSet>, StoreError> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT s.id FROM variable_sets s JOIN variable_set_projects ap ON ap.variable_set_id = s.id
              WHERE ap.project_id = $1 ORDER BY s.name",
        )
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            out.push(self.variable_set(&id).await?);
        }
        Ok(out)
    }

    /// Change a set: its name, description, global flag and where it applies, all in one
    /// transaction with `audit`, made from the changed set. Every id it is to apply to is
    /// checked first: a refused one changes nothing.
    pub async fn update_variable_set(
        &self,
        id: &str,
        changes: &VariableSetChanges,
        audit: impl Audit<VariableSet>,
    ) -> Result<VariableSet, StoreError> {
        let current = self.variable_set(id).await?;
        if let Some(name) = &changes.name {
            check_set_name(name)?;
        }
        self.check_reach(&current.organization_id, &changes.apply).await?;
        let mut tx = self.pool.begin().await?;
        // Only what changes is written (the first write also takes the write lock): a change of
        // where the set applies never writes back a name or a global flag read before another
        // request changed them.
        let done =
            sqlx::query("UPDATE variable_sets SET name = COALESCE($2, name), description = COALESCE($3, description), global = COALESCE($4, global) WHERE id = $1")
                .bind(id)
                .bind(changes.name.as_deref())
                .bind(changes.description.as_deref())
                .bind(changes.global)
                .execute(&mut *tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "variable set {:?} already exists",
                        changes.name.as_deref().unwrap_or_default()
                    )),
                    other => other,
                })?;
        if done.rows_affected() == 0 {
            return Err(not_found("variable set", id));
        }
        change_reach(&mut tx, id, &changes.apply, &changes.remove).await?;
        let set = variable_set_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&set)).await?;
        tx.commit().await?;
        Ok(set)
    }

    /// Apply a set to workspaces, or to projects (every workspace in them), of its organization.
    /// All or nothing, with `audit`: every id is checked before any is applied.
    pub async fn apply_variable_set(
        &self,
        set_id: &str,
        scope: SetScope,
        ids: &[String],
        audit: impl Audit<VariableSet>,
    ) -> Result<VariableSet, StoreError> {
        let changes = VariableSetChanges { apply: SetReach::of(scope, ids.to_vec()), ..Default::default() };
        self.update_variable_set(set_id, &changes, audit).await
    }

    /// Remove a set from workspaces or projects, with `audit`.
    pub async fn remove_variable_set(
        &self,
        set_id: &str,
        scope: SetScope,
        ids: &[String],
        audit: impl Audit<VariableSet>,
    ) -> Result<VariableSet, StoreError> {
        let changes = VariableSetChanges { remove: SetReach::of(scope, ids.to_vec()), ..Default::default() };
        self.update_variable_set(set_id, &changes, audit).await
    }

    /// Refuses an id of `reach` that is not a workspace or project of `organization_id`.
    async fn check_reach(&self, organization_id: &str, reach: &SetReach) -> Result<(), StoreError> {
        for (scope, ids) in reach.scopes() {
            for id in ids {
                let organization = match scope {
                    SetScope::Workspaces => self.workspace(id).await?.organization_id,
                    SetScope::Projects => self.project(id).await?.organization_id,
                };
                if organization != organization_id {
                    return Err(not_found(scope.what(), id));
                }
            }
        }
        Ok(())
    }

    /// Delete a variable set and its variables. `audit` is recorded in the same transaction.
    pub async fn delete_variable_set(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM variable_sets WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("variable set", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn check_set_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(StoreError::Invalid("a variable set needs a name of 1 to 128 characters".into()));
    }
    Ok(())
}

/// Apply set `set_id` to `apply` and remove it from `remove`, in a transaction.
async fn change_reach(
    conn: &mut sqlx::AnyConnection,
    set_id: &str,
    apply: &SetReach,
    remove: &SetReach,
) -> Result<(), StoreError> {
    for (scope, ids) in apply.scopes() {
        let (table, column) = scope.table();
        for id in ids {
            sqlx::query(sql(format!(
                "INSERT INTO {table} (variable_set_id, {column}) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            )))
            .bind(set_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
    }
    for (scope, ids) in remove.scopes() {
        let (table, column) = scope.table();
        for id in ids {
            sqlx::query(sql(format!("DELETE FROM {table} WHERE variable_set_id = $1 AND {column} = $2")))
                .bind(set_id)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
