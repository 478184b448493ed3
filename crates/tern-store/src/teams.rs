//! People and teams: users, teams per organization with their organization permissions,
//! memberships, teams' access to workspaces and projects, user and team tokens, and the grants
//! a caller holds in an organization ([`Store::grants`]), which `tern-access` decides on.
//!
//! Rules held here whatever the caller does: usernames unique in the installation, team names
//! unique in an organization; every organization has its `owners` team (created with it, never
//! renamed, deleted or given other permissions); a team's access to a workspace or project is
//! one record per pair; a user token belongs to a user and dies with it, a team token to a team.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Row as _;
use sqlx::any::AnyRow;
use tern_access::{OrgPermissions, ProjectGrant, TeamGrants, WorkspaceGrant};
use tern_types::SecretString;

use crate::audit::Audit;
use crate::crypto::{new_id, new_token_secret, token_hash};
use crate::{
    AuditInput, Backend, Organization, Page, Paged, Store, StoreError, Token, count, flag, not_found, sql,
};

/// The team every organization has, which may do everything in it.
pub const OWNERS: &str = "owners";

/// A person (or a service account) who signs in and holds user tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `user-…`.
    pub id: String,
    /// Unique in the installation; the id TFE's membership calls use.
    pub username: String,
    /// Contact address (may be empty).
    pub email: String,
    /// May administer the installation, as the admin token does.
    pub site_admin: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A team of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// `team-…`.
    pub id: String,
    /// Organization id.
    pub organization_id: String,
    /// Organization name.
    pub organization: String,
    /// Unique in the organization.
    pub name: String,
    /// The identity provider's group that maps to this team, if named explicitly.
    pub sso_team_id: Option<String>,
    /// `organization` or `secret` (shown; every team is visible to the organization's members).
    pub visibility: String,
    /// Its organization permissions (all of them for `owners`).
    pub access: OrgPermissions,
    /// How many users are members.
    pub users_count: u64,
    /// Unix seconds.
    pub created_at: i64,
}

impl Team {
    /// The organization's owners team.
    pub fn is_owners(&self) -> bool {
        self.name == OWNERS
    }
}

/// What a team update changes (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    /// New name.
    pub name: Option<String>,
    /// New group mapping (`Some(None)` removes it).
    pub sso_team_id: Option<Option<String>>,
    /// New visibility.
    pub visibility: Option<String>,
    /// New organization permissions.
    pub access: Option<OrgPermissions>,
}

/// A team's access to a workspace (TFE's `team-workspaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamWorkspace {
    /// `tws-…`.
    pub id: String,
    /// Team id.
    pub team_id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Organization id.
    pub organization_id: String,
    /// The access.
    pub grant: WorkspaceGrant,
}

/// A team's access to a project (TFE's `team-projects`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamProject {
    /// `tprj-…`.
    pub id: String,
    /// Team id.
    pub team_id: String,
    /// Project id.
    pub project_id: String,
    /// Organization id.
    pub organization_id: String,
    /// The access.
    pub grant: ProjectGrant,
}

/// Whose grants: a user's (through every team they are a member of), or one team's (its token).
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    /// A user id.
    User(&'a str),
    /// A team id.
    Team(&'a str),
}

/// Whose grants in which organization: a [`GrantsCache`] key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GrantsKey {
    organization_id: String,
    /// `true` for a team, `false` for a user: the two kinds of id never meet.
    team: bool,
    holder_id: String,
}

impl GrantsKey {
    fn new(organization_id: &str, holder: Holder<'_>) -> Self {
        let (team, id) = match holder {
            Holder::User(u) => (false, u),
            Holder::Team(t) => (true, t),
        };
        Self { organization_id: organization_id.to_owned(), team, holder_id: id.to_owned() }
    }
}

/// Parsed grants with the organization's grants version and the time they were read at.
type CachedGrants = (i64, Instant, Option<Arc<TeamGrants>>);

/// How long parsed grants are used at most, whatever the version says: a backstop for changes
/// made around the triggers (an operator's `TRUNCATE`, a restore with triggers disabled), which
/// then hold within a minute instead of until the next change.
const GRANTS_MAX_AGE: Duration = Duration::from_secs(60);

/// Weighs an entry by the grants it holds, so that a few members of very many teams cannot
/// make the cache large.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GrantsWeight;

impl quick_cache::Weighter<GrantsKey, CachedGrants> for GrantsWeight {
    fn weight(&self, _: &GrantsKey, (_, _, grants): &CachedGrants) -> u64 {
        let n = grants.as_ref().map_or(0, |g| g.teams.len() + g.workspaces.len() + g.projects.len());
        1 + n as u64
    }
}

/// Callers' grants per organization, bounded (about 100 000 grants in all, some tens of MB at
/// most; an evicted entry is read again). Correctness never rests on eviction: an entry is used
/// only while its version is the organization's.
pub(crate) struct GrantsCache(quick_cache::sync::Cache<GrantsKey, CachedGrants, GrantsWeight>);

impl Default for GrantsCache {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::with_weighter(10_000, 100_000, GrantsWeight))
    }
}

impl GrantsCache {
    fn get(&self, key: &GrantsKey) -> Option<CachedGrants> {
        self.0.get(key)
    }

    fn insert(&self, key: GrantsKey, value: CachedGrants) {
        self.0.insert(key, value);
    }
}

/// A team name: 1 to 90 of letters, digits, `-`, `_` and `.` (TFE's characters); a username
/// may also hold one `@` (an identity provider may name people by e-mail address). ASCII only:
/// no look-alike names.
fn check_handle(what: &str, name: &str) -> Result<(), StoreError> {
    let at_ok = what == "username" && name.matches('@').count() <= 1 && !name.starts_with('@');
    let ok = !name.is_empty()
        && name.len() <= 90
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || (c == '@' && at_ok));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} {name:?} must be 1 to 90 letters, digits, '-', '_' or '.'{}",
            if what == "username" { " (and at most one '@')" } else { "" }
        )))
    }
}

fn check_visibility(v: &str) -> Result<(), StoreError> {
    if matches!(v, "organization" | "secret") {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("visibility must be \"organization\" or \"secret\", not {v:?}")))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

const USER_COLUMNS: &str = "id, username, email, site_admin, created_at FROM users";

fn user(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        site_admin: flag(row, "site_admin")?,
        created_at: row.try_get("created_at")?,
    })
}

const TEAM_COLUMNS: &str = "t.id, t.organization_id, o.name AS organization, t.name, t.sso_team_id, t.visibility, t.organization_access, t.created_at, \
    (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS users_count \
    FROM teams t JOIN organizations o ON o.id = t.organization_id";

fn team(row: &AnyRow) -> Result<Team, sqlx::Error> {
    let name: String = row.try_get("name")?;
    let access_text: String = row.try_get("organization_access")?;
    let access = if name == OWNERS { OrgPermissions::all() } else { from_json(&access_text)? };
    Ok(Team {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        organization: row.try_get("organization")?,
        name,
        sso_team_id: row.try_get("sso_team_id")?,
        visibility: row.try_get("visibility")?,
        access,
        users_count: count(row.try_get("users_count")?),
        created_at: row.try_get("created_at")?,
    })
}

fn team_workspace(row: &AnyRow) -> Result<TeamWorkspace, sqlx::Error> {
    let access: String = row.try_get("access")?;
    Ok(TeamWorkspace {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        workspace_id: row.try_get("workspace_id")?,
        organization_id: row.try_get("organization_id")?,
        grant: from_json(&access)?,
    })
}

fn team_project(row: &AnyRow) -> Result<TeamProject, sqlx::Error> {
    let access: String = row.try_get("access")?;
    Ok(TeamProject {
        id: row.try_get("id")?,
        team_id: row.try_get("team_id")?,
        project_id: row.try_get("project_id")?,
        organization_id: row.try_get("organization_id")?,
        grant: from_json(&access)?,
    })
}

const TWS_COLUMNS: &str = "a.id, a.team_id, a.workspace_id, t.organization_id, a.access FROM team_workspaces a JOIN teams t ON t.id = a.team_id";
const TPRJ_COLUMNS: &str = "a.id, a.team_id, a.project_id, t.organization_id, a.access FROM team_projects a JOIN teams t ON t.id = a.team_id";

fn renamed_conflict<'a>(what: &'static str, name: &'a str) -> impl Fn(sqlx::Error) -> StoreError + 'a {
    move |e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!("{what} {name:?} already exists")),
        other => other,
    }
}

impl Store {
    // ------------------------------------------------------------------------------ users

    /// Create a user, unrecorded (a test's or a benchmark's; a person is created by
    /// [`Store::create_user_with_identity`], with its record).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        site_admin: bool,
    ) -> Result<User, StoreError> {
        self.insert_user(username, email, site_admin, None, None::<fn(&User) -> AuditInput>).await
    }

    /// Create a user who signs in through the identity provider as `identity` (`<issuer>#<sub>`):
    /// the only way an existing user is ever reached by a provider sign-in (names are never
    /// matched: a provider's username is not proof of being that person). `audit`, made from
    /// the new user, is recorded in the same transaction.
    pub async fn create_user_with_identity(
        &self,
        username: &str,
        email: &str,
        site_admin: bool,
        identity: Option<&str>,
        audit: impl Audit<User>,
    ) -> Result<User, StoreError> {
        self.insert_user(username, email, site_admin, identity, Some(audit)).await
    }

    async fn insert_user(
        &self,
        username: &str,
        email: &str,
        site_admin: bool,
        identity: Option<&str>,
        audit: Option<impl Audit<User>>,
    ) -> Result<User, StoreError> {
        check_handle("username", username)?;
        if identity.is_some_and(|i| !i.contains('#') || i.len() > 2048) {
            return Err(StoreError::Invalid(
                "an identity is the provider's issuer and the user's subject: <issuer>#<sub>".into(),
            ));
        }
        let id = new_id("user")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, email, site_admin, created_at, identity) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(username)
        .bind(email)
        .bind(site_admin)
        .bind(self.now())
        .bind(identity)
        .execute(&mut *tx)
        .await
        .map_err(renamed_conflict("user", username))?;
        let created = user_on(&mut tx, &id).await?;
        if let Some(audit) = audit {
            self.audit_in(&mut tx, &audit(&created)).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// A user by id.
    pub async fn user(&self, id: &str) -> Result<User, StoreError> {
        user_on(&mut *self.pool.acquire().await?, id).await
    }

    /// A user by username.
    pub async fn user_by_name(&self, username: &str) -> Result<User, StoreError> {
        let row = sqlx::query(sql(format!("SELECT {USER_COLUMNS} WHERE username = $1")))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| not_found("user", username))?;
        Ok(user(&row)?)
    }

    /// Users by username: all, or those whose username or email contains `search` (case
    /// insensitive), or only administrators (or only others).
    pub async fn list_users(
        &self,
        search: Option<&str>,
        admin: Option<bool>,
        page: Page,
    ) -> Result<Paged<User>, StoreError> {
        let pattern = search.map(|s| {
            let escaped = s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let condition = "($1 IS NULL OR LOWER(username) LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\') \
            AND ($2 IS NULL OR site_admin = $2)";
        let total: (i64,) = sqlx::query_as(sql(format!("SELECT COUNT(*) FROM users WHERE {condition}")))
            .bind(pattern.as_deref())
            .bind(admin)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sql(format!(
            "SELECT {USER_COLUMNS} WHERE {condition} ORDER BY username LIMIT $3 OFFSET $4"
        )))
        .bind(pattern.as_deref())
        .bind(admin)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(user).collect::<Result<_, _>>()?;
        Ok(Paged { items, total: count(total.0), page })
    }

    /// Make a user a site administrator, or not.
    pub async fn set_site_admin(
        &self,
        id: &str,
        site_admin: bool,
        audit: impl Audit<User>,
    ) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET site_admin = $2 WHERE id = $1")
            .bind(id)
            .bind(site_admin)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("user", id));
        }
        let changed = user_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&changed)).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Delete a user, their memberships and their tokens, recording `audit` in the same
    /// transaction.
    pub async fn delete_user(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("user", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Create a token for a user, recording `audit` in the same transaction; the secret is
    /// returned here and never again.
    pub async fn create_user_token(
        &self,
        user_id: &str,
        description: &str,
        expires_at: Option<i64>,
        audit: impl Audit<Token>,
    ) -> Result<(Token, SecretString), StoreError> {
        self.user(user_id).await?;
        let secret = new_token_secret("tern-user")?;
        let id = new_id("at")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO tokens (id, hash, kind, user_id, description, expires_at, created_at, created_by) VALUES ($1, $2, 'user', $3, $4, $5, $6, 'users:' || $3)")
            .bind(&id)
            .bind(token_hash(&secret))
            .bind(user_id)
            .bind(description)
            .bind(expires_at)
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        let created = crate::tokens::token_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&created)).await?;
        tx.commit().await?;
        Ok((created, SecretString::new(secret.to_string())))
    }

    /// A user's tokens, oldest first.
    pub async fn list_user_tokens(&self, user_id: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("kind = 'user' AND user_id = $1", user_id).await
    }

    // ------------------------------------------------------------------------------ teams

    /// Create a team in an organization, recording `audit`, made from it, in the same
    /// transaction.
    pub async fn create_team(
        &self,
        organization_id: &str,
        name: &str,
        access: OrgPermissions,
        visibility: &str,
        sso_team_id: Option<&str>,
        audit: impl Audit<Team>,
    ) -> Result<Team, StoreError> {
        check_handle("team name", name)?;
        check_visibility(visibility)?;
        if name == OWNERS {
            return Err(StoreError::Conflict("every organization has its owners team already".into()));
        }
        let id = new_id("team")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO teams (id, organization_id, name, sso_team_id, visibility, organization_access, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(organization_id)
            .bind(name)
            .bind(sso_team_id)
            .bind(visibility)
            .bind(to_json(&access)?)
            .bind(self.now())
            .execute(&mut *tx)
            .await
            .map_err(renamed_conflict("team", name))?;
        let created = team_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&created)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The owners team of an organization (made with it).
    pub(crate) async fn insert_owners_team(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        organization_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO teams (id, organization_id, name, sso_team_id, visibility, organization_access, created_at) VALUES ($1, $2, $3, NULL, 'organization', '{}', $4)")
            .bind(new_id("team")?)
            .bind(organization_id)
            .bind(OWNERS)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// A team by id.
    pub async fn team(&self, id: &str) -> Result<Team, StoreError> {
        team_on(&mut *self.pool.acquire().await?, id).await
    }

    /// A team by name in an organization.
    pub async fn team_by_name(&self, organization_id: &str, name: &str) -> Result<Team, StoreError> {
        let row =
            sqlx::query(sql(format!("SELECT {TEAM_COLUMNS} WHERE t.organization_id = $1 AND t.name = $2")))
                .bind(organization_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| not_found("team", name))?;
        Ok(team(&row)?)
    }

    /// An organization's teams by name: all, or those whose name contains `q` (case
    /// insensitive), or those named in `names`.
    pub async fn list_teams(
        &self,
        organization_id: &str,
        q: Option<&str>,
        names: &[String],
        page: Page,
    ) -> Result<Paged<Team>, StoreError> {
        let rows =
            sqlx::query(sql(format!("SELECT {TEAM_COLUMNS} WHERE t.organization_id = $1 ORDER BY t.name")))
                .bind(organization_id)
                .fetch_all(&self.pool)
                .await?;
        let needle = q.map(str::to_lowercase);
        let mut all: Vec<Team> = Vec::with_capacity(rows.len());
        for row in &rows {
            let t = team(row)?;
            if needle.as_deref().is_some_and(|n| !t.name.to_lowercase().contains(n)) {
                continue;
            }
            if !names.is_empty() && !names.contains(&t.name) {
                continue;
            }
            all.push(t);
        }
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(0))
            .take(usize::try_from(page.limit()).unwrap_or(20))
            .collect();
        Ok(Paged { items, total, page })
    }

    /// Change a team, recording `audit`, made from the changed team, in the same transaction.
    /// The owners team keeps its name and its permissions.
    pub async fn update_team(
        &self,
        id: &str,
        changes: TeamChanges,
        audit: impl Audit<Team>,
    ) -> Result<Team, StoreError> {
        let current = self.team(id).await?;
        if current.is_owners()
            && (changes.name.as_ref().is_some_and(|n| n != OWNERS) || changes.access.is_some())
        {
            return Err(StoreError::Invalid(
                "the owners team cannot be renamed, and may always do everything in its organization".into(),
            ));
        }
        let name = changes.name.unwrap_or(current.name.clone());
        check_handle("team name", &name)?;
        if name == OWNERS && !current.is_owners() {
            return Err(StoreError::Conflict("every organization has its owners team already".into()));
        }
        let visibility = changes.visibility.unwrap_or(current.visibility.clone());
        check_visibility(&visibility)?;
        let sso = changes.sso_team_id.unwrap_or(current.sso_team_id.clone());
        let access = if current.is_owners() {
            "{}".to_owned()
        } else {
            to_json(&changes.access.unwrap_or(current.access))?
        };
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE teams SET name = $2, sso_team_id = $3, visibility = $4, organization_access = $5 WHERE id = $1")
            .bind(id)
            .bind(&name)
            .bind(sso)
            .bind(&visibility)
            .bind(access)
            .execute(&mut *tx)
            .await
            .map_err(renamed_conflict("team", &name))?;
        if done.rows_affected() == 0 {
            return Err(not_found("team", id));
        }
        let updated = team_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&updated)).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Delete a team, its memberships, access and tokens, recording `audit` in the same
    /// transaction. The owners team stays.
    pub async fn delete_team(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let t = self.team(id).await?;
        if t.is_owners() {
            return Err(StoreError::Invalid("the owners team cannot be deleted".into()));
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM teams WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("team", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A team's members, by username.
    pub async fn team_members(&self, team_id: &str) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {USER_COLUMNS} WHERE id IN (SELECT user_id FROM team_members WHERE team_id = $1) ORDER BY username"
        )))
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user).collect::<Result<_, _>>()?)
    }

    /// Add users (by username) to a team: all or none, with `audit`. Unknown users and users
    /// who are members already are refused, as TFE refuses them.
    pub async fn add_team_members(
        &self,
        team_id: &str,
        usernames: &[String],
        audit: &AuditInput,
    ) -> Result<(), StoreError> {
        self.change_members(team_id, usernames, true, audit).await
    }

    /// Remove users (by username) from a team: all or none, with `audit`.
    pub async fn remove_team_members(
        &self,
        team_id: &str,
        usernames: &[String],
        audit: &AuditInput,
    ) -> Result<(), StoreError> {
        self.change_members(team_id, usernames, false, audit).await
    }

    async fn change_members(
        &self,
        team_id: &str,
        usernames: &[String],
        add: bool,
        audit: &AuditInput,
    ) -> Result<(), StoreError> {
        self.team(team_id).await?;
        if usernames.is_empty() {
            return Err(StoreError::Invalid("name at least one user".into()));
        }
        let mut tx = self.pool.begin().await?;
        for name in usernames {
            // The write comes first, naming the user by username: a transaction that read first
            // could not take SQLite's write lock once another connection had written meanwhile
            // ("database is locked" at once, whatever the busy timeout).
            let done = if add {
                sqlx::query(
                    "INSERT INTO team_members (team_id, user_id) SELECT $1, id FROM users WHERE username = $2 ON CONFLICT DO NOTHING",
                )
            } else {
                sqlx::query(
                    "DELETE FROM team_members WHERE team_id = $1 AND user_id IN (SELECT id FROM users WHERE username = $2)",
                )
            }
            .bind(team_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let found: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE username = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::Invalid(format!("user {name:?} does not exist")));
                }
                return Err(StoreError::Invalid(if add {
                    format!("user {name:?} is a member of this team already")
                } else {
                    format!("user {name:?} is not a member of this team")
                }));
            }
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The teams a user is a member of, in every organization.
    pub async fn teams_of_user(&self, user_id: &str) -> Result<Vec<Team>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {TEAM_COLUMNS} WHERE t.id IN (SELECT team_id FROM team_members WHERE user_id = $1) ORDER BY o.name, t.name"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(team).collect::<Result<_, _>>()?)
    }

    /// Create a team's token; with `replace`, the team's other tokens are revoked (TFE's one
    /// legacy team token). `audit` is recorded in the same transaction, with the ids of the
    /// tokens it replaced added to its details (`replaced`). The secret is returned here and
    /// never again.
    pub async fn create_team_token(
        &self,
        team_id: &str,
        description: &str,
        expires_at: Option<i64>,
        replace: bool,
        created_by: Option<&str>,
        audit: impl Audit<Token>,
    ) -> Result<(Token, SecretString), StoreError> {
        let t = self.team(team_id).await?;
        let secret = new_token_secret("tern-team")?;
        let id = new_id("at")?;
        let mut tx = self.pool.begin().await?;
        let mut replaced: Vec<(String, String)> = Vec::new();
        if replace {
            replaced = sqlx::query_as(
                "DELETE FROM tokens WHERE kind = 'team' AND team_id = $1 RETURNING id, description",
            )
            .bind(team_id)
            .fetch_all(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO tokens (id, hash, kind, organization_id, team_id, description, expires_at, created_at, created_by) VALUES ($1, $2, 'team', $3, $4, $5, $6, $7, $8)")
            .bind(&id)
            .bind(token_hash(&secret))
            .bind(&t.organization_id)
            .bind(team_id)
            .bind(description)
            .bind(expires_at)
            .bind(self.now())
            .bind(created_by)
            .execute(&mut *tx)
            .await?;
        let created = crate::tokens::token_on(&mut tx, &id).await?;
        let mut event = audit(&created);
        if replace && let Some(details) = event.details.as_object_mut() {
            let ids: Vec<&str> = replaced.iter().map(|(id, _)| id.as_str()).collect();
            details.insert("replaced".into(), serde_json::json!(ids));
        }
        self.audit_in(&mut tx, &event).await?;
        // Each token it replaced is revoked by the same actor, and recorded so.
        for (id, description) in &replaced {
            let revoked = AuditInput {
                action: "token.revoked".into(),
                details: serde_json::json!({
                    "id": id, "kind": "team", "description": description, "replaced-by": created.id,
                }),
                ..event.clone()
            };
            self.audit_in(&mut tx, &revoked).await?;
        }
        tx.commit().await?;
        Ok((created, SecretString::new(secret.to_string())))
    }

    /// A team's tokens, oldest first.
    pub async fn list_team_tokens(&self, team_id: &str) -> Result<Vec<Token>, StoreError> {
        self.tokens_where("kind = 'team' AND team_id = $1", team_id).await
    }

    // ------------------------------------------------------------------------------ access

    /// Give a team access to a workspace (one record per pair).
    pub async fn create_team_workspace(
        &self,
        team_id: &str,
        workspace_id: &str,
        grant: WorkspaceGrant,
        audit: impl Audit<TeamWorkspace>,
    ) -> Result<TeamWorkspace, StoreError> {
        let t = self.team(team_id).await?;
        let ws = self.workspace(workspace_id).await?;
        if ws.organization_id != t.organization_id {
            return Err(StoreError::Invalid(format!(
                "team {:?} and workspace {:?} are in different organizations",
                t.name, ws.name
            )));
        }
        let id = new_id("tws")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO team_workspaces (id, team_id, workspace_id, access, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(team_id)
            .bind(workspace_id)
            .bind(to_json(&grant)?)
            .bind(self.now())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "team {:?} has access to workspace {:?} already: change that access instead",
                    t.name, ws.name
                )),
                other => other,
            })?;
        let created = team_workspace_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&created)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// A team's access to a workspace, by id.
    pub async fn team_workspace(&self, id: &str) -> Result<TeamWorkspace, StoreError> {
        team_workspace_on(&mut *self.pool.acquire().await?, id).await
    }

    /// The teams' access to a workspace (or one team's access to workspaces).
    pub async fn list_team_workspaces(
        &self,
        workspace_id: Option<&str>,
        team_id: Option<&str>,
    ) -> Result<Vec<TeamWorkspace>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {TWS_COLUMNS} WHERE ($1 IS NULL OR a.workspace_id = $1) AND ($2 IS NULL OR a.team_id = $2) ORDER BY a.seq"
        )))
        .bind(workspace_id)
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(team_workspace).collect::<Result<_, _>>()?)
    }

    /// Change a team's access to a workspace, recording `audit`, made from the changed
    /// access, in the same transaction.
    pub async fn update_team_workspace(
        &self,
        id: &str,
        grant: WorkspaceGrant,
        audit: impl Audit<TeamWorkspace>,
    ) -> Result<TeamWorkspace, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE team_workspaces SET access = $2 WHERE id = $1")
            .bind(id)
            .bind(to_json(&grant)?)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("team access", id));
        }
        let updated = team_workspace_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&updated)).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Remove a team's access to a workspace, recording `audit` in the same transaction.
    pub async fn delete_team_workspace(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query("DELETE FROM team_workspaces WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("team access", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Give a team access to a project (one record per pair).
    pub async fn create_team_project(
        &self,
        team_id: &str,
        project_id: &str,
        grant: ProjectGrant,
        audit: impl Audit<TeamProject>,
    ) -> Result<TeamProject, StoreError> {
        let t = self.team(team_id).await?;
        let p = self.project(project_id).await?;
        if p.organization_id != t.organization_id {
            return Err(StoreError::Invalid(format!(
                "team {:?} and project {:?} are in different organizations",
                t.name, p.name
            )));
        }
        let id = new_id("tprj")?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO team_projects (id, team_id, project_id, access, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(team_id)
            .bind(project_id)
            .bind(to_json(&grant)?)
            .bind(self.now())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "team {:?} has access to project {:?} already: change that access instead",
                    t.name, p.name
                )),
                other => other,
            })?;
        let created = team_project_on(&mut tx, &id).await?;
        self.audit_in(&mut tx, &audit(&created)).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// A team's access to a project, by id.
    pub async fn team_project(&self, id: &str) -> Result<TeamProject, StoreError> {
        team_project_on(&mut *self.pool.acquire().await?, id).await
    }

    /// The teams' access to a project (or one team's access to projects).
    pub async fn list_team_projects(
        &self,
        project_id: Option<&str>,
        team_id: Option<&str>,
    ) -> Result<Vec<TeamProject>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {TPRJ_COLUMNS} WHERE ($1 IS NULL OR a.project_id = $1) AND ($2 IS NULL OR a.team_id = $2) ORDER BY a.seq"
        )))
        .bind(project_id)
        .bind(team_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(team_project).collect::<Result<_, _>>()?)
    }

    /// Change a team's access to a project, recording `audit`, made from the changed access,
    /// in the same transaction.
    pub async fn update_team_project(
        &self,
        id: &str,
        grant: ProjectGrant,
        audit: impl Audit<TeamProject>,
    ) -> Result<TeamProject, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE team_projects SET access = $2 WHERE id = $1")
            .bind(id)
            .bind(to_json(&grant)?)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("team project access", id));
        }
        let updated = team_project_on(&mut tx, id).await?;
        self.audit_in(&mut tx, &audit(&updated)).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Remove a team's access to a project, recording `audit` in the same transaction.
    pub async fn delete_team_project(&self, id: &str, audit: &AuditInput) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM team_projects WHERE id = $1").bind(id).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(not_found("team project access", id));
        }
        self.audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a user (through their teams) or a team holds in `org`; `None` where they are in none
    /// of its teams.
    ///
    /// Read from the database once per holder and `org.grants_version`, then from memory: the
    /// version is bumped by the database in the same transaction as any change to the
    /// organization's teams, memberships or team access (migration 17), and `org` is the row
    /// this request loaded, so a change made through any replica is seen on the next request.
    /// A bump draws a random version (a database restored to an earlier point cannot repeat
    /// one), and nothing is used for more than a minute, whatever the version says.
    pub async fn grants(
        &self,
        org: &Organization,
        holder: Holder<'_>,
    ) -> Result<Option<TeamGrants>, StoreError> {
        let key = GrantsKey::new(&org.id, holder);
        if let Some((version, read_at, grants)) = self.grants.get(&key)
            && version == org.grants_version
            && read_at.elapsed() < GRANTS_MAX_AGE
        {
            return Ok(grants.as_deref().cloned());
        }
        // A change committed between loading `org` and this read makes the entry newer than
        // its version says: the next request's version differs and reads again. The reverse
        // (a version newer than the grants read) cannot happen, as `org` was read first.
        let grants = self.grants_uncached(&org.id, holder).await?;
        self.grants.insert(key, (org.grants_version, Instant::now(), grants.clone().map(Arc::new)));
        Ok(grants)
    }

    async fn grants_uncached(
        &self,
        organization_id: &str,
        holder: Holder<'_>,
    ) -> Result<Option<TeamGrants>, StoreError> {
        let (user_id, team_id) = match holder {
            Holder::User(u) => (Some(u), None),
            Holder::Team(t) => (None, Some(t)),
        };
        // One round trip, whatever the number of teams: the teams themselves (`t`), then each
        // one's workspace (`w`) and project (`p`) grants. Authorization runs on every request;
        // a query per team made a member of many teams pay for each (docs/benchmarks.md, §8).
        // The teams are found from the holder (the team by id, a user's through their
        // memberships), not by walking the organization's: with 1 001 teams that walk was
        // 0.3 ms of every request, owners' included.
        // MATERIALIZED keeps SQLite from finding the teams three times; PostgreSQL (before 12 it
        // has no such word) plans the CTE well without it.
        let materialized = if self.backend == Backend::Sqlite { "MATERIALIZED " } else { "" };
        let rows: Vec<(String, String, String)> = sqlx::query_as(sql(format!(
            "WITH mine AS {materialized}(SELECT id, name, organization_access FROM teams WHERE id = $2 AND organization_id = $1 \
             UNION ALL SELECT t.id, t.name, t.organization_access FROM team_members m JOIN teams t ON t.id = m.team_id \
             WHERE m.user_id = $3 AND t.organization_id = $1) \
             SELECT 't', name, organization_access FROM mine \
             UNION ALL SELECT 'w', g.workspace_id, g.access FROM team_workspaces g JOIN mine ON g.team_id = mine.id \
             UNION ALL SELECT 'p', g.project_id, g.access FROM team_projects g JOIN mine ON g.team_id = mine.id",
        )))
        .bind(organization_id)
        .bind(team_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut g = TeamGrants::default();
        for (kind, name, access) in &rows {
            match kind.as_str() {
                "t" if name == OWNERS => {
                    g.owners = true;
                    g.org = OrgPermissions::all();
                    g.teams.push(name.clone());
                }
                "t" => {
                    g.org = g.org.union(from_json(access)?);
                    g.teams.push(name.clone());
                }
                "w" => g.workspaces.push((name.clone(), from_json(access)?)),
                _ => g.projects.push((name.clone(), from_json(access)?)),
            }
        }
        if g.teams.is_empty() {
            return Ok(None);
        }
        // Owners hold everything: their grants say nothing more.
        if g.owners {
            g.org = OrgPermissions::all();
            g.workspaces.clear();
            g.projects.clear();
        }
        g.teams.sort();
        Ok(Some(g))
    }

    async fn tokens_where(&self, condition: &str, value: &str) -> Result<Vec<Token>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {} FROM tokens WHERE {condition} ORDER BY seq",
            crate::tokens::COLUMNS
        )))
        .bind(value)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(crate::tokens::token).collect::<Result<_, _>>()?)
    }
}

/// A team, read on `conn` (a transaction's, to see what it wrote).
async fn team_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Team, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {TEAM_COLUMNS} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("team", id))?;
    Ok(team(&row)?)
}

/// A team's access to a workspace, read on `conn`.
async fn team_workspace_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<TeamWorkspace, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {TWS_COLUMNS} WHERE a.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("team access", id))?;
    Ok(team_workspace(&row)?)
}

/// A team's access to a project, read on `conn`.
async fn team_project_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<TeamProject, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {TPRJ_COLUMNS} WHERE a.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("team project access", id))?;
    Ok(team_project(&row)?)
}

/// A user, read on `conn` (a transaction's, to see what it wrote).
async fn user_on(conn: &mut sqlx::AnyConnection, id: &str) -> Result<User, StoreError> {
    let row = sqlx::query(sql(format!("SELECT {USER_COLUMNS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("user", id))?;
    Ok(user(&row)?)
}
