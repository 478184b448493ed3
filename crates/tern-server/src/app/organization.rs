//! An organization's settings: its audit trail, its API tokens (listed, created, revoked) and
//! its teams. Who may is asked of `api::access` exactly as the TFE API's handlers ask it: the
//! API's `GET …/authentication-tokens`, `GET`/`DELETE /authentication-tokens/{id}` act through
//! these functions; the web UI's organization settings pages through all of them.

use std::collections::HashMap;

use tern_access::{OrgAction as OA, Standing};
use tern_store::{AgentPool, AuditEvent, AuditFilter, Organization, Page, Paged, Team, Token, TokenKind};
use tern_types::SecretString;

use crate::api::{ApiError, ApiState, Caller, Scope, access};

/// The organization `name`, if the caller may do `action` there, and how the caller stands.
pub(crate) async fn organization(
    s: &ApiState,
    caller: &Caller,
    name: &str,
    action: OA,
) -> Result<(Organization, Standing), ApiError> {
    access::org_for(s, caller, name, action).await
}

// ---------------------------------------------------------------- the audit trail

/// Which events of the trail to show (the web UI's filters).
#[derive(Debug, Clone, Default)]
pub(crate) struct TrailQuery {
    /// Actions starting with this (`token.` for every token event).
    pub(crate) action_prefix: Option<String>,
    /// Exactly this actor (a username, a token id, a job id, `system`).
    pub(crate) actor: Option<String>,
    /// The workspace of this name in the organization.
    pub(crate) workspace: Option<String>,
    /// At or after (unix seconds).
    pub(crate) since: Option<i64>,
    /// Before (unix seconds).
    pub(crate) until: Option<i64>,
}

/// The organization's audit trail, newest first, as `GET …/audit-trail` allows it (its owners,
/// its organization token, an administrator). A workspace name that names no workspace
/// matches no event.
pub(crate) async fn audit_trail(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    q: &TrailQuery,
    page: Page,
) -> Result<(Organization, Paged<AuditEvent>), ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::ReadAuditTrail).await?;
    let workspace_id = match &q.workspace {
        None => None,
        Some(name) => match s.store.workspace_by_name(&org.id, name).await {
            Ok(ws) => Some(ws.id),
            Err(tern_store::StoreError::NotFound { .. }) => {
                return Ok((org, Paged { items: Vec::new(), total: 0, page }));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let filter = AuditFilter {
        since: q.since,
        until: q.until,
        actor: q.actor.clone(),
        workspace_id,
        action: None,
        run_id: None,
        action_prefix: q.action_prefix.clone(),
        newest_first: true,
    };
    let paged = s.store.audit_events(Some(&org.id), &filter, page).await?;
    Ok((org, paged))
}

/// The names of the organization's workspaces among `ids` (a deleted one is absent).
pub(crate) async fn workspace_names(
    s: &ApiState,
    org: &Organization,
    ids: &[String],
) -> Result<HashMap<String, String>, ApiError> {
    let mut names = HashMap::new();
    for id in ids {
        let id = id.as_str();
        if names.contains_key(id) {
            continue;
        }
        match s.store.workspace(id).await {
            Ok(ws) if ws.organization_id == org.id => {
                names.insert(id.to_owned(), ws.name);
            }
            Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(names)
}

// ---------------------------------------------------------------- API tokens

/// The organization's API tokens (organization, team and agent tokens; never their secrets), as
/// `GET …/authentication-tokens` lists them: to its owners, its organization token and an
/// administrator. Oldest first.
pub(crate) async fn tokens(
    s: &ApiState,
    caller: &Caller,
    org: &str,
) -> Result<(Organization, Standing, Vec<Token>), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::ReadTokens).await?;
    let tokens = s.store.list_api_tokens(Some(&org.id)).await?;
    Ok((org, standing, tokens))
}

/// What revoking a token of an organization needs: whoever manages that kind.
fn revoke_action(kind: TokenKind) -> OA {
    match kind {
        TokenKind::Agent => OA::ManageAgentPools,
        TokenKind::Team => OA::ManageTeams,
        TokenKind::Admin | TokenKind::Organization | TokenKind::Job | TokenKind::User => {
            OA::ManageOrganizationTokens
        }
    }
}

/// Why a token cannot be revoked by anyone through the API, if it cannot.
fn unrevocable(t: &Token) -> Option<&'static str> {
    match t.kind {
        TokenKind::Admin => Some(
            "an admin token is revoked by rotation: restart tern serve with a new TERN_ADMIN_TOKEN (every other admin token then stops working)",
        ),
        // The server's own workers' token: made afresh at each start of `tern serve`.
        TokenKind::Agent if t.organization_id.is_none() => Some(
            "this is the token of a tern serve's own workers: it is replaced at each start of that server; to stop its workers, restart it with --workers 0",
        ),
        TokenKind::Agent | TokenKind::Organization | TokenKind::Job | TokenKind::User | TokenKind::Team => {
            None
        }
    }
}

/// Whether `standing` (in the token's organization) may revoke `t`: what a page offers.
/// [`revoke_token`] decides again.
/// `of_owners`: `t` is a token of the owners team, which only owners may revoke (managing
/// teams must not be a way to cut the owners off).
pub(crate) fn may_revoke(standing: &Standing, t: &Token, of_owners: bool) -> bool {
    unrevocable(t).is_none()
        && t.kind != TokenKind::User
        && t.kind != TokenKind::Job
        && standing.organization(revoke_action(t.kind)).is_ok()
        && (!of_owners || standing.organization(OA::ManageOwners).is_ok())
}

/// Token `id`, if the caller may see it (`revoke`: and revoke it). Tokens of an organization:
/// seen by its owners, revoked by whoever manages that kind (organization tokens: owners;
/// agent tokens: manage-agent-pools; team tokens: manage-teams). A user's tokens: that user.
/// The others (admin tokens, the server's own workers') are an administrator's. Anything else,
/// and job tokens: "not found".
pub(crate) async fn token_for(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    revoke: bool,
) -> Result<Token, ApiError> {
    let missing = || format!("authentication token {id:?} not found");
    let t = match s.store.token(id).await {
        Ok(t) if t.kind != TokenKind::Job => t,
        Ok(_) | Err(tern_store::StoreError::NotFound { .. }) => return Err(ApiError::not_found(missing())),
        Err(e) => return Err(e.into()),
    };
    if t.kind == TokenKind::User {
        let own = matches!(caller, Caller::User(_, u, _) if t.user_id.as_deref() == Some(u.id.as_str()));
        if !own {
            caller.check_admin().map_err(|_| ApiError::not_found(missing()))?;
        }
        return Ok(t);
    }
    match &t.organization_id {
        Some(org_id) => {
            let action = if revoke { revoke_action(t.kind) } else { OA::ReadTokens };
            let (_, standing) = access::in_org(s, caller, org_id, action, missing).await?;
            // The owners team's tokens, as the owners team itself: owners' business only.
            if revoke && let Some(team) = &t.team_id {
                let team = s.store.team(team).await?;
                if team.is_owners() {
                    standing.organization(OA::ManageOwners).map_err(|d| access::refuse(d, missing))?;
                }
            }
        }
        None => caller.check_admin().map_err(|_| ApiError::not_found(missing()))?,
    }
    Ok(t)
}

/// Revoke token `id` (`DELETE /authentication-tokens/{id}`): the record every replica checks
/// on every request is deleted, so it stops working everywhere at once.
pub(crate) async fn revoke_token(s: &ApiState, caller: &Caller, id: &str) -> Result<Token, ApiError> {
    let t = token_for(s, caller, id, true).await?;
    if let Some(why) = unrevocable(&t) {
        return Err(ApiError::conflict(why));
    }
    let scope = Scope { organization: t.organization_id.as_deref(), ..Default::default() };
    let event = ApiState::event(caller, "token.revoked", scope, crate::api::token_audit_details(&t));
    s.store.revoke_token(&t.id, &event).await?;
    tracing::info!(token = %t.id, kind = %t.kind, "revoked an API token");
    Ok(t)
}

/// Revoke every organization token of organization `org` (`DELETE …/authentication-token`:
/// TFE has one; tern may have made several), each as [`revoke_token`] decides and records it.
pub(crate) async fn revoke_org_tokens(s: &ApiState, caller: &Caller, org: &str) -> Result<(), ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::ManageOrganizationTokens).await?;
    let tokens = s.store.list_tokens(TokenKind::Organization, Some(&org.id)).await?;
    if tokens.is_empty() {
        return Err(ApiError::not_found(format!("organization {:?} has no organization token", org.name)));
    }
    for token in tokens {
        revoke_token(s, caller, &token.id).await?;
    }
    Ok(())
}

/// Revoke every token of team `team_id` (`DELETE /teams/{id}/authentication-token`, TFE's
/// legacy single team token), each as [`revoke_token`] decides and records it: the owners
/// team's only by owners.
pub(crate) async fn revoke_team_tokens(s: &ApiState, caller: &Caller, team_id: &str) -> Result<(), ApiError> {
    let (t, _) = super::teams::load_team(s, caller, team_id, OA::ManageTeams).await?;
    let tokens = s.store.list_team_tokens(&t.id).await?;
    if tokens.is_empty() {
        return Err(ApiError::not_found(format!("team {:?} has no token", t.name)));
    }
    for token in tokens {
        revoke_token(s, caller, &token.id).await?;
    }
    Ok(())
}

/// What a new token is to say of itself: a description (else a default) and an expiry (Unix
/// seconds; else never). Read only once the caller may create the token, so that a refusal
/// never depends on what was sent.
pub(crate) type TokenInput<'a> =
    Box<dyn FnOnce() -> Result<(Option<String>, Option<i64>), ApiError> + Send + 'a>;

/// Create an organization token (`POST …/authentication-token`: owners and administrators).
/// The secret is returned here, to be shown once.
pub(crate) async fn create_org_token(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    input: TokenInput<'_>,
) -> Result<(Token, SecretString), ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::ManageOrganizationTokens).await?;
    let (description, expires_at) = input()?;
    let description = description.unwrap_or_else(|| format!("organization {}", org.name));
    org_scoped_token(s, caller, &org, TokenKind::Organization, &description, expires_at).await
}

/// Create an agent token of organization `org`, for agents outside any pool (`POST
/// …/agent-tokens`: manage-agent-pools). The secret is returned here, to be shown once.
pub(crate) async fn create_agent_token(
    s: &ApiState,
    caller: &Caller,
    org: &str,
    input: TokenInput<'_>,
) -> Result<(Token, SecretString), ApiError> {
    let (org, _) = access::org_for(s, caller, org, OA::ManageAgentPools).await?;
    let (description, expires_at) = input()?;
    let description = description.unwrap_or_else(|| format!("agents of {}", org.name));
    org_scoped_token(s, caller, &org, TokenKind::Agent, &description, expires_at).await
}

async fn org_scoped_token(
    s: &ApiState,
    caller: &Caller,
    org: &Organization,
    kind: TokenKind,
    description: &str,
    expires_at: Option<i64>,
) -> Result<(Token, SecretString), ApiError> {
    let creator = caller.creator(&org.name);
    let scope = Scope { organization: Some(&org.id), ..Default::default() };
    let event =
        |t: &Token| ApiState::event(caller, "token.created", scope, crate::api::token_audit_details(t));
    Ok(s.store
        .create_organization_scoped_token(kind, &org.id, description, expires_at, creator.as_deref(), event)
        .await?)
}

/// Agent pool `id`, if the caller may do `action` in its organization (else "not found").
pub(crate) async fn pool(s: &ApiState, caller: &Caller, id: &str, action: OA) -> Result<AgentPool, ApiError> {
    let p = s.store.agent_pool(id).await?;
    access::in_org(s, caller, &p.organization_id, action, || format!("agent pool {id:?} not found")).await?;
    Ok(p)
}

/// Create an agent token of agent pool `pool_id` (`POST /agent-pools/{id}/authentication-tokens`:
/// manage-agent-pools). The secret is returned here, to be shown once.
pub(crate) async fn create_pool_token(
    s: &ApiState,
    caller: &Caller,
    pool_id: &str,
    input: TokenInput<'_>,
) -> Result<(Token, SecretString), ApiError> {
    let p = pool(s, caller, pool_id, OA::ManageAgentPools).await?;
    let (description, expires_at) = input()?;
    let description = description.unwrap_or_else(|| format!("agents of pool {}", p.name));
    let creator = caller.creator(&p.organization);
    let scope = Scope { organization: Some(&p.organization_id), ..Default::default() };
    let event =
        |t: &Token| ApiState::event(caller, "token.created", scope, crate::api::token_audit_details(t));
    Ok(s.store.create_pool_token(&p.id, &description, expires_at, creator.as_deref(), event).await?)
}

/// Create another token for team `team_id` (`POST /teams/{id}/authentication-tokens`:
/// manage-teams; the owners team's: owners) — of organization `org` where the address names one
/// (the web UI's). `replace`: the team's other tokens are revoked (TFE's legacy single team
/// token, `POST /teams/{id}/authentication-token`). The secret is returned here, to be shown once.
pub(crate) async fn create_team_token(
    s: &ApiState,
    caller: &Caller,
    org: Option<&str>,
    team_id: &str,
    replace: bool,
    input: TokenInput<'_>,
) -> Result<(Token, SecretString), ApiError> {
    let (t, _) = super::teams::load_team(s, caller, team_id, OA::ManageTeams).await?;
    if org.is_some_and(|org| t.organization != org) {
        return Err(ApiError::not_found(format!("team {team_id:?} not found")));
    }
    let (description, expires_at) = input()?;
    let description = description.unwrap_or_else(|| format!("token of team {}", t.name));
    let creator = caller.creator(&t.organization);
    let scope = Scope { organization: Some(&t.organization_id), ..Default::default() };
    let event =
        |t: &Token| ApiState::event(caller, "token.created", scope, crate::api::token_audit_details(t));
    Ok(s.store.create_team_token(&t.id, &description, expires_at, replace, creator.as_deref(), event).await?)
}

// ---------------------------------------------------------------- teams

/// Teams listed on a page (an organization rarely has more).
const MAX_TEAMS: u32 = 100;

/// The organization's teams (every member sees them, as `GET …/teams`), by name.
pub(crate) async fn teams(s: &ApiState, org: &Organization) -> Result<Vec<Team>, ApiError> {
    Ok(s.store.list_teams(&org.id, None, &[], Page { number: 1, size: MAX_TEAMS }).await?.items)
}

/// The organization's teams as `GET …/teams` shows them to every member, with how the caller
/// stands there.
pub(crate) async fn team_list(
    s: &ApiState,
    caller: &Caller,
    org: &str,
) -> Result<(Organization, Standing, Vec<Team>), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::See).await?;
    let teams = teams(s, &org).await?;
    Ok((org, standing, teams))
}

/// A team's access to one workspace or project, as its page shows it.
#[derive(Debug)]
pub(crate) struct AccessView {
    /// The `team-workspaces` (`team-projects`) id.
    pub(crate) id: String,
    /// The workspace's (project's) name.
    pub(crate) name: String,
    pub(crate) access: &'static str,
    /// The caller may change or remove it (manages access to that workspace or project).
    pub(crate) can_manage: bool,
}

/// One team as its page shows it.
#[derive(Debug)]
pub(crate) struct TeamView {
    pub(crate) team: Team,
    pub(crate) members: Vec<tern_store::User>,
    /// Its access to the workspaces the caller may see.
    pub(crate) workspaces: Vec<AccessView>,
    /// Its access to the projects the caller may see.
    pub(crate) projects: Vec<AccessView>,
    /// The caller may add and remove members.
    pub(crate) can_change_members: bool,
    /// The caller may rename and delete it.
    pub(crate) can_rename: bool,
    /// The caller may change its organization permissions.
    pub(crate) can_change_permissions: bool,
    /// Workspaces and projects (id, name) on which the caller may grant it access.
    pub(crate) grantable_workspaces: Vec<(String, String)>,
    pub(crate) grantable_projects: Vec<(String, String)>,
}

/// Team `name` of organization `org`, its members and its access, as the API shows them to the
/// caller (`GET /teams/{id}?include=users`, `GET /team-workspaces?filter[team][id]=…` and
/// `GET /team-projects?filter[team][id]=…`: access only to what the caller may see), and what
/// the caller may change.
pub(crate) async fn team(s: &ApiState, caller: &Caller, org: &str, name: &str) -> Result<TeamView, ApiError> {
    use tern_access::{ProjectAction as PA, WorkspaceAction as WA};
    let (org, standing) = access::org_for(s, caller, org, OA::See).await?;
    let team = match s.store.team_by_name(&org.id, name).await {
        Ok(t) => t,
        Err(tern_store::StoreError::NotFound { .. }) => {
            return Err(ApiError::not_found(format!("team {name:?} not found")));
        }
        Err(e) => return Err(e.into()),
    };
    let members = s.store.team_members(&team.id).await?;
    let mut workspaces = Vec::new();
    for a in s.store.list_team_workspaces(None, Some(&team.id)).await? {
        let ws = s.store.workspace(&a.workspace_id).await?;
        if access::decide_ws(&standing, &ws, WA::Read, &ws.id).is_ok() {
            let can_manage = access::decide_ws(&standing, &ws, WA::ManageAccess, &ws.id).is_ok();
            workspaces.push(AccessView {
                id: a.id,
                name: ws.name,
                access: a.grant.access.as_str(),
                can_manage,
            });
        }
    }
    let mut projects = Vec::new();
    for a in s.store.list_team_projects(None, Some(&team.id)).await? {
        if standing.project(&a.project_id, "", PA::See).is_ok() {
            let p = s.store.project(&a.project_id).await?;
            let can_manage = standing.project(&p.id, &p.name, PA::ManageAccess).is_ok();
            projects.push(AccessView { id: a.id, name: p.name, access: a.grant.access.as_str(), can_manage });
        }
    }
    let (mut grantable_workspaces, mut grantable_projects) =
        super::teams::grantable(s, &standing, &org.id).await?;
    // A workspace (project) it already has access to is changed in its row, not granted again.
    grantable_workspaces.retain(|(_, name)| !workspaces.iter().any(|w| &w.name == name));
    grantable_projects.retain(|(_, name)| !projects.iter().any(|p| &p.name == name));
    Ok(TeamView {
        can_change_members: may_change_members(&standing, &team),
        can_rename: super::teams::may_rename_or_delete(&standing, &team),
        can_change_permissions: super::teams::may_change_permissions(&standing, &team),
        team,
        members,
        workspaces,
        projects,
        grantable_workspaces,
        grantable_projects,
    })
}

/// Add users to team `id` or remove them (`POST`/`DELETE /teams/{id}/relationships/users`:
/// manage-membership; the owners team: owners). `usernames` is read once the caller is known to
/// be allowed, so that a refusal never depends on what was sent.
pub(crate) async fn change_members(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    usernames: impl FnOnce() -> Result<Vec<String>, ApiError>,
    add: bool,
) -> Result<Team, ApiError> {
    let (t, _) = super::teams::load_team(s, caller, id, OA::ManageMembership).await?;
    let usernames = usernames()?;
    let action = if add { "team.members-added" } else { "team.members-removed" };
    let details = serde_json::json!({"team": t.id, "name": t.name, "users": usernames});
    let scope = Scope { organization: Some(&t.organization_id), ..Default::default() };
    let event = ApiState::event(caller, action, scope, details);
    if add {
        s.store.add_team_members(&t.id, &usernames, &event).await
    } else {
        s.store.remove_team_members(&t.id, &usernames, &event).await
    }
    .map_err(|e| match e {
        // TFE answers an unknown user, or one already (not) a member, with 400.
        tern_store::StoreError::Invalid(m) => ApiError::bad_request(m),
        other => other.into(),
    })?;
    Ok(t)
}

/// Whether `standing` may change team `t`'s members (what a page offers; [`change_members`]
/// decides again).
pub(crate) fn may_change_members(standing: &Standing, t: &Team) -> bool {
    standing.organization(OA::ManageMembership).is_ok()
        && (!t.is_owners() || standing.organization(OA::ManageOwners).is_ok())
}

/// The organization permissions a team holds, by TFE's names.
pub(crate) fn permission_names(t: &Team) -> Vec<String> {
    match serde_json::to_value(t.access) {
        Ok(serde_json::Value::Object(m)) => {
            m.into_iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k).collect()
        }
        _ => Vec::new(),
    }
}

/// Whether `standing` may manage team `t` (its tokens): manage-teams, and for the owners team
/// owners' rights too, as `api::teams::load_team` decides.
pub(crate) fn may_manage_team(standing: &Standing, t: &Team) -> bool {
    standing.organization(OA::ManageTeams).is_ok()
        && (!t.is_owners() || standing.organization(OA::ManageOwners).is_ok())
}

/// Agent pools listed on a page.
const MAX_POOLS: u32 = 100;

/// The organization's agent pools (every member sees them, as `GET …/agent-pools`).
pub(crate) async fn pools(s: &ApiState, org: &Organization) -> Result<Vec<AgentPool>, ApiError> {
    Ok(s.store.list_agent_pools(&org.id, Page { number: 1, size: MAX_POOLS }).await?.items)
}

/// An agent of a pool, as it last asked for work.
#[derive(Debug)]
pub(crate) struct PoolAgent {
    pub(crate) name: String,
    pub(crate) terraform_versions: String,
    pub(crate) last_seen: i64,
    /// It asked for work within the window in which a pool counts its agents.
    pub(crate) online: bool,
    /// The phases it runs now.
    pub(crate) jobs: Vec<AgentJob>,
}

/// A phase an agent runs now: `plan` or `apply`, and its workspace's name and run id when the
/// caller may read that workspace.
#[derive(Debug)]
pub(crate) struct AgentJob {
    pub(crate) phase: String,
    pub(crate) run: Option<(String, String)>,
}

/// An agent pool as the agents page shows it.
#[derive(Debug)]
pub(crate) struct PoolView {
    pub(crate) pool: AgentPool,
    /// The names of the workspaces that use it that the caller may see (as `GET
    /// /agent-pools/{id}` shows them).
    pub(crate) workspaces: Vec<String>,
    /// Its agents: to those who manage agent pools (the API shows others only a count).
    pub(crate) agents: Option<Vec<PoolAgent>>,
}

/// The organization's agent pools with their workspaces and agents, to every member (as `GET
/// …/agent-pools`); the agents' names only to those who manage agent pools.
pub(crate) async fn pool_list(
    s: &ApiState,
    caller: &Caller,
    org: &str,
) -> Result<(Organization, Vec<PoolView>), ApiError> {
    let (org, standing) = access::org_for(s, caller, org, OA::See).await?;
    let manages = standing.organization(OA::ManageAgentPools).is_ok();
    let since = s.store.unix_now() - tern_store::AGENT_SEEN_WINDOW_S;
    let mut out = Vec::new();
    for pool in pools(s, &org).await? {
        let mut workspaces = Vec::new();
        for id in &pool.workspace_ids {
            let ws = s.store.workspace(id).await?;
            if access::decide_ws(&standing, &ws, tern_access::WorkspaceAction::Read, id).is_ok() {
                workspaces.push(ws.name);
            }
        }
        let agents = if manages {
            let mut listed = Vec::new();
            for a in s.store.pool_agents(&pool.id).await? {
                // What an agent runs now, named only where the caller may read the workspace.
                let mut jobs = Vec::new();
                for job in a.jobs {
                    let ws = s.store.workspace(&job.workspace_id).await?;
                    let visible = access::decide_ws(
                        &standing,
                        &ws,
                        tern_access::WorkspaceAction::Read,
                        &job.workspace_id,
                    )
                    .is_ok();
                    jobs.push(AgentJob {
                        phase: job.phase,
                        run: visible.then(|| (ws.name.clone(), job.run_id)),
                    });
                }
                listed.push(PoolAgent {
                    name: a.name,
                    terraform_versions: a.terraform_versions,
                    last_seen: a.last_seen,
                    online: a.last_seen >= since,
                    jobs,
                });
            }
            Some(listed)
        } else {
            None
        };
        out.push(PoolView { pool, workspaces, agents });
    }
    Ok((org, out))
}

/// Who `created_by` (`users:…`, `teams:…`, `organizations:…`) is, to read.
pub(crate) async fn creator_name(s: &ApiState, created_by: Option<&str>, teams: &[Team]) -> String {
    match created_by.and_then(|c| c.split_once(':')) {
        None => String::new(),
        Some(("users", id)) => match s.store.user(id).await {
            Ok(u) => u.username,
            Err(_) => format!("user {id}"),
        },
        Some(("teams", id)) => match teams.iter().find(|t| t.id == id) {
            Some(t) => format!("team {}", t.name),
            None => format!("team {id}"),
        },
        Some(("organizations", name)) => format!("organization token of {name}"),
        Some((kind, id)) => format!("{kind} {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_revoking_needs_follows_the_kind() {
        assert_eq!(revoke_action(TokenKind::Agent), OA::ManageAgentPools);
        assert_eq!(revoke_action(TokenKind::Team), OA::ManageTeams);
        assert_eq!(revoke_action(TokenKind::Organization), OA::ManageOrganizationTokens);
    }
}
