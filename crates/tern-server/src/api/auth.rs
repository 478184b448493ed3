//! Who is calling: the bearer token, looked up by its hash, as a [`Caller`].
//!
//! Rules: an admin token may do everything; an organization token acts within its
//! organization (other organizations' resources are "not found", so a token cannot probe for
//! names); a user token acts as its user's teams allow, a team token as its team's permissions
//! allow (what exactly: `access.rs`, which asks `tern-access`); an agent token may only claim jobs — which ones, the store decides from the token
//! ([`ClaimScope`]: its agent pool, its organization, or the server's own workers); a job token
//! may only act on its own job — its run and phase — while that job runs.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use tern_access::Standing;
use tern_store::{ClaimScope, Job, JobStatus, Organization, Token, TokenKind, User};

use super::{ApiError, ApiState};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Everything.
    Admin(Token),
    /// One organization.
    Organization(Token),
    /// A user: as their teams allow (everything, for a site administrator).
    User(Token, User, Memo),
    /// A team: as the team's permissions allow.
    Team(Token, Memo),
    /// Claims jobs.
    Agent(Token),
    /// One job.
    Job(Token),
}

/// What this request has already learned of the caller's standing, by organization: a
/// request that checks several things in one organization (a workspace, then its document's
/// permissions) loads the caller's teams and grants once. It lives as long as the [`Caller`],
/// one request, so a revoked grant is seen by the very next request on every replica.
#[derive(Clone, Default)]
pub struct Memo(std::sync::Arc<std::sync::Mutex<Vec<(Organization, Standing)>>>);

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl Memo {
    /// The organization `id` and the standing in it, if this request has loaded them.
    pub(crate) fn get(&self, organization_id: &str) -> Option<(Organization, Standing)> {
        let seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.iter().find(|(o, _)| o.id == organization_id).cloned()
    }

    pub(crate) fn put(&self, org: &Organization, standing: &Standing) {
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.iter().any(|(o, _)| o.id == org.id) {
            seen.push((org.clone(), standing.clone()));
        }
    }
}

impl Caller {
    /// The token record.
    pub fn token(&self) -> &Token {
        match self {
            Self::Admin(t)
            | Self::Organization(t)
            | Self::User(t, _, _)
            | Self::Team(t, _)
            | Self::Agent(t)
            | Self::Job(t) => t,
        }
    }

    /// Who made something in organization `org` (its name), as TFE's `created-by` names it:
    /// `users:<id>`, `teams:<id>`, `organizations:<name>` (the admin token: nobody TFE names).
    pub(crate) fn creator(&self, org: &str) -> Option<String> {
        match self {
            Self::User(_, u, _) => Some(format!("users:{}", u.id)),
            Self::Team(t, _) => t.team_id.as_ref().map(|id| format!("teams:{id}")),
            Self::Organization(_) => Some(format!("organizations:{org}")),
            Self::Admin(_) | Self::Agent(_) | Self::Job(_) => None,
        }
    }

    /// Who it is in the audit trail: `(actor, kind)` — a user by username, a token by its id.
    pub(crate) fn actor(&self) -> (&str, &str) {
        match self {
            Self::User(_, u, _) => (&u.username, "user"),
            other => (&other.token().id, other.token().kind.as_str()),
        }
    }

    /// May manage the installation (organizations, tokens, keys).
    pub(crate) fn check_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Admin(_) => Ok(()),
            Self::User(_, u, _) if u.site_admin => Ok(()),
            _ => {
                Err(ApiError::forbidden("this needs the admin token (or a site administrator's user token)"))
            }
        }
    }

    /// May claim jobs (an agent token): its token and which jobs it may claim.
    pub(crate) fn check_claim(&self) -> Result<(&Token, ClaimScope), ApiError> {
        match self {
            Self::Agent(t) => ClaimScope::of(t)
                .map(|scope| (t, scope))
                .ok_or_else(|| ApiError::forbidden("claiming jobs needs an agent token")),
            _ => Err(ApiError::forbidden("claiming jobs needs an agent token")),
        }
    }

    /// May act on `job` (a job token of that very job, while it runs).
    pub(crate) fn check_job(&self, job: &Job) -> Result<(), ApiError> {
        match self {
            Self::Job(t) if t.job_id.as_deref() == Some(job.id.as_str()) => {
                if job.status == JobStatus::Running {
                    Ok(())
                } else {
                    Err(ApiError::conflict(format!("job {} is over ({})", job.id, job.status)))
                }
            }
            Self::Job(_) => Err(ApiError::not_found(format!("job {:?} not found", job.id))),
            _ => Err(ApiError::forbidden("only the job token handed out with a job may act on it")),
        }
    }
}

/// The bearer token of a request, if it has a well-formed one.
pub(crate) fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).ok()
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let unauthorized = |detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        unauthorized("this endpoint needs a token: send `Authorization: Bearer <token>` (`tern login` stores one for the CLI)")
    })?;
    let value = value.to_str().map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be `Bearer <token>`"));
    }
    Ok(token.trim())
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers, state).await
    }
}

impl Caller {
    /// Who sent a request with these headers.
    pub(crate) async fn from_headers(headers: &HeaderMap, state: &ApiState) -> Result<Self, ApiError> {
        let presented = bearer(headers)?;
        let token = state.store.authenticate(presented).await?.ok_or_else(ApiError::unauthorized_token)?;
        Self::of_token(token, state).await
    }

    /// The caller a stored token makes (a signed URL names the token it was handed to).
    pub(crate) async fn of_token(token: Token, state: &ApiState) -> Result<Self, ApiError> {
        Ok(match token.kind {
            TokenKind::Admin => Self::Admin(token),
            TokenKind::Organization => Self::Organization(token),
            TokenKind::User => {
                // A user deleted since (their tokens go with them): as if revoked.
                let user = match token.user_id.as_deref() {
                    Some(id) => match state.store.user(id).await {
                        Ok(user) => user,
                        Err(tern_store::StoreError::NotFound { .. }) => {
                            return Err(ApiError::unauthorized_token());
                        }
                        Err(e) => return Err(e.into()),
                    },
                    None => return Err(ApiError::unauthorized_token()),
                };
                Self::User(token, user, Memo::default())
            }
            TokenKind::Team => Self::Team(token, Memo::default()),
            TokenKind::Agent => Self::Agent(token),
            TokenKind::Job => Self::Job(token),
        })
    }
}
