//! The agent API at `/api/agent`: agents claim jobs with their agent token; everything about a
//! job then goes through the job token handed out with it, which works only for that job, only
//! while it runs, and dies when it finishes. The signing key never leaves the server: an agent
//! asks for tokens here, and they name the job's own run and phase.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tern_identity::{Jti, RunContext, TokenRequest};
use tern_protocol::agent::{self as protocol, Outcome};
use tern_store::{Claimant, Job, JobOutcome, JobScope, Run, TokenKind, Workspace};
use tern_types::{
    Audience, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, SecretString, Ttl, Version,
    WorkspaceName,
};

use super::table::{Table, Verb};
use super::{ApiError, ApiLimits, ApiState, Caller};
use crate::audit::Recorded;

type ApiResult = Result<Response, ApiError>;

pub(crate) fn endpoints(t: Table, limits: ApiLimits) -> Table {
    t.add(Verb::Post, protocol::CLAIM_PATH, "Claim a job (agent token; long-polls up to wait_seconds)", claim)
        .add(Verb::Get, "/api/agent/jobs/{id}", "A job's specification with its variables (job token)", spec)
        .add(Verb::Get, "/api/agent/jobs/{id}/configuration", "A job's configuration tarball", configuration)
        .add_with_limit(
            Verb::Get,
            "/api/agent/jobs/{id}/state",
            "The workspace's current state (204: none)",
            tern_store::MAX_STATE_BYTES,
            state,
        )
        .add_with_limit(
            Verb::Put,
            "/api/agent/jobs/{id}/state",
            "Store the state an apply produced",
            tern_store::MAX_STATE_BYTES,
            upload_state,
        )
        .add_with_limit(
            Verb::Get,
            "/api/agent/jobs/{id}/plan",
            "The saved plan, for the apply phase",
            limits.max_upload_bytes,
            plan_file,
        )
        .add_with_limit(
            Verb::Put,
            "/api/agent/jobs/{id}/plan",
            "Save the plan of the plan phase",
            limits.max_upload_bytes,
            save_plan_file,
        )
        .add_with_limit(
            Verb::Put,
            "/api/agent/jobs/{id}/plan-json",
            "Save the plan phase's JSON plan (terraform show -json)",
            tern_types::MAX_PLAN_JSON_BYTES,
            save_plan_json,
        )
        .add_with_limit(
            Verb::Put,
            "/api/agent/jobs/{id}/plan-json-redacted",
            "Save the plan phase's redacted, structured plan",
            tern_types::MAX_PLAN_JSON_BYTES,
            save_plan_json_redacted,
        )
        .add(
            Verb::Post,
            "/api/agent/jobs/{id}/token",
            "Mint a workload identity token for the job's run and phase",
            mint,
        )
        .add_with_limit(
            Verb::Post,
            "/api/agent/jobs/{id}/logs",
            "Append to the phase's log; renews the lease, answers whether to cancel",
            limits.max_log_chunk_bytes,
            logs,
        )
        .add(
            Verb::Post,
            "/api/agent/jobs/{id}/heartbeat",
            "Renew the lease; answers whether to cancel",
            heartbeat,
        )
        .add(Verb::Post, "/api/agent/jobs/{id}/finish", "Report how the phase ended", finish)
}

fn json_ok(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => (StatusCode::OK, [(CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", format!("rendering: {e}"))
                .into_response()
        }
    }
}

/// Decode an agent API body, naming the field that is wrong ("ttl_seconds: invalid type…").
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("the request body is not what this endpoint takes: {inner}"))
        } else {
            ApiError::bad_request(format!(
                "the request body is not what this endpoint takes: {path}: {inner}"
            ))
        }
    })
}

/// Most versions an agent may advertise.
const MAX_VERSIONS: usize = 100;

fn claimed_versions(request: &protocol::ClaimRequest) -> Result<Vec<Version>, ApiError> {
    let Some(versions) = &request.terraform_versions else {
        return Err(ApiError::bad_request(
            "terraform_versions is missing: this agent is older than the server; upgrade tern on it (agents now say which Terraform versions they have)",
        ));
    };
    if versions.len() > MAX_VERSIONS {
        return Err(ApiError::bad_request(format!("terraform_versions: at most {MAX_VERSIONS} versions")));
    }
    let mut parsed = versions
        .iter()
        .map(|v| {
            Version::parse(v).map_err(|_| {
                ApiError::bad_request(format!(
                    "terraform_versions: {v:?} is not an exact version such as 1.11.4"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    Ok(parsed)
}

async fn claim(State(s): State<ApiState>, caller: Caller, body: Bytes) -> ApiResult {
    let (token, scope) = caller.check_claim()?;
    let request: protocol::ClaimRequest = parse(&body)?;
    if request.agent.is_empty() || request.agent.len() > 200 || request.agent.chars().any(char::is_control) {
        return Err(ApiError::bad_request("agent must be a name of 1 to 200 printable characters"));
    }
    let versions = claimed_versions(&request)?;
    let claimant = Claimant { agent: &request.agent, token, scope, terraform_versions: &versions };
    if request.restarted {
        let reason = format!("the agent {:?} restarted while this phase ran on it", request.agent);
        for run in
            s.store.abandon_agent_jobs(&request.agent, token.organization_id.as_deref(), &reason).await?
        {
            tracing::warn!(run = %run.id, "{reason}: run errored");
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(request.wait_seconds.min(30));
    let lease = i64::try_from(s.job_lease.as_secs()).unwrap_or(60);
    loop {
        let notified = s.jobs_queued.notified();
        if let Some(job) = s.store.claim_job(&claimant, lease).await? {
            let run = s.store.run(&job.run_id).await?;
            let ws = s.store.workspace(&run.workspace_id).await?;
            let timeout = phase_timeout(&ws, job.phase);
            let expires = s.store.unix_now() + timeout + 3600;
            let (_, secret) = s
                .store
                .create_token(
                    TokenKind::Job,
                    Some(&job.organization_id),
                    Some(&job.id),
                    &format!("{} of {}", job.phase, run.id),
                    Some(expires),
                )
                .await?;
            tracing::info!(job = %job.id, run = %run.id, phase = %job.phase, agent = %request.agent, "job claimed");
            return Ok(json_ok(&protocol::ClaimResponse {
                job: protocol::ClaimedJob { id: job.id, run_id: run.id, phase: job.phase },
                token: secret,
            }));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        // Woken by a run queued on this replica, or poll for the others.
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_secs(1)), notified).await;
    }
}

fn phase_timeout(ws: &Workspace, phase: RunPhase) -> i64 {
    if phase == RunPhase::Plan { ws.plan_timeout_s } else { ws.apply_timeout_s }
}

/// The job named in the path, if the caller holds its token and it runs.
async fn load(s: &ApiState, caller: &Caller, id: &str) -> Result<(Job, Run, Workspace), ApiError> {
    if !matches!(caller, Caller::Job(_)) {
        return Err(ApiError::forbidden("only the job token handed out with a job may act on it"));
    }
    let job = s.store.job(id).await.map_err(|_| ApiError::not_found(format!("job {id:?} not found")))?;
    caller.check_job(&job)?;
    let run = s.store.run(&job.run_id).await?;
    let ws = s.store.workspace(&run.workspace_id).await?;
    Ok((job, run, ws))
}

async fn spec(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (job, run, ws) = load(&s, &caller, &id).await?;
    let vars = s.store.job_variables(&ws.id).await?;
    // The run's own variables (`-var`) take precedence over the workspace's terraform ones.
    let run_vars = s.store.run_variables(&run.id).await?;
    let overridden = |key: &str, category: tern_store::Category| {
        category == tern_store::Category::Terraform && run_vars.iter().any(|r| r.key == key)
    };
    let variables: Vec<protocol::JobVariable> = vars
        .into_iter()
        .filter(|v| !overridden(&v.key, v.category))
        .map(|v| protocol::JobVariable {
            key: v.key,
            value: v.value,
            category: v.category.as_str().to_owned(),
            hcl: v.hcl,
            sensitive: v.sensitive,
        })
        .chain(run_vars.iter().map(|r| protocol::JobVariable {
            key: r.key.clone(),
            value: r.value.clone(),
            category: "terraform".into(),
            hcl: true,
            sensitive: false,
        }))
        .collect();
    let timeout_seconds = u64::try_from(phase_timeout(&ws, job.phase)).unwrap_or(0);
    Ok(json_ok(&protocol::JobSpec {
        id: job.id,
        run_id: run.id,
        phase: job.phase,
        organization: protocol::Named { name: ws.organization, id: ws.organization_id },
        project: protocol::Named { name: ws.project, id: ws.project_id },
        workspace: protocol::Named { name: ws.name, id: ws.id },
        // The exact version, pinned when the run's first phase was claimed by a runner that
        // has it (the claim offers a runner only jobs whose version it advertised).
        terraform_version: run.terraform_version.unwrap_or_else(|| ws.terraform_version.to_string()),
        working_directory: ws.working_directory,
        timeout_seconds,
        // Every token minted for the job is capped at this: runners size their tokens to it.
        max_token_ttl_seconds: Some(s.signer.max_ttl.as_secs()),
        is_destroy: run.is_destroy,
        plan_only: run.plan_only,
        variables,
        target_addrs: run.options.target_addrs,
        replace_addrs: run.options.replace_addrs,
        refresh: run.options.refresh,
        refresh_only: run.options.refresh_only,
    }))
}

async fn configuration(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, run, _) = load(&s, &caller, &id).await?;
    let tarball = s.store.configuration_tarball(&run.configuration_version_id).await?;
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/gzip")], tarball).into_response())
}

async fn state(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, _, ws) = load(&s, &caller, &id).await?;
    match ws.current_state_version_id {
        None => Ok(StatusCode::NO_CONTENT.into_response()),
        Some(sv) => {
            Ok((StatusCode::OK, [(CONTENT_TYPE, "application/json")], s.store.state_bytes(&sv).await?)
                .into_response())
        }
    }
}

async fn upload_state(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let (job, run, ws) = load(&s, &caller, &id).await?;
    if job.phase != RunPhase::Apply {
        return Err(ApiError::forbidden("only the apply phase stores state"));
    }
    let v = s.store.create_state_version(&ws.id, Some(&run.id), &body).await?;
    Ok(json_ok(&protocol::StateStored { id: v.id, serial: v.serial }))
}

async fn plan_file(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (_, run, _) = load(&s, &caller, &id).await?;
    Ok((StatusCode::OK, [(CONTENT_TYPE, "application/octet-stream")], s.store.plan_file(&run.id).await?)
        .into_response())
}

/// The run of a job that is in its plan phase: only that phase saves what a plan produced.
async fn plan_phase_run(s: &ApiState, caller: &Caller, id: &str, what: &str) -> Result<String, ApiError> {
    let (job, run, _) = load(s, caller, id).await?;
    if job.phase != RunPhase::Plan {
        return Err(ApiError::forbidden(format!("only the plan phase saves {what}")));
    }
    Ok(run.id)
}

/// Read a (tenant-influenced, up to 64 MiB) JSON document off the async runtime.
async fn off_runtime<T: Send + 'static>(
    body: &Bytes,
    read: impl FnOnce(&[u8]) -> Option<T> + Send + 'static,
    refusal: &'static str,
) -> Result<T, ApiError> {
    let body = body.clone();
    tokio::task::spawn_blocking(move || read(&body))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                format!("reading the body: {e}"),
            )
        })?
        .ok_or_else(|| ApiError::bad_request(refusal))
}

async fn save_plan_file(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let run = plan_phase_run(&s, &caller, &id, "a plan").await?;
    s.store.set_plan_file(&run, &body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The plan phase's `terraform show -json` of its saved plan: kept sealed (TFE's plan
/// `json-output`), and counted (the plan's and apply's `resource-additions`…). A document that
/// is not a JSON plan is refused: the counts would be wrong.
async fn save_plan_json(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let run = plan_phase_run(&s, &caller, &id, "a JSON plan").await?;
    let counts = off_runtime(
        &body,
        tern_store::ResourceCounts::of_plan_json,
        "the body is not a JSON plan (terraform show -json of a plan file)",
    )
    .await?;
    s.store.set_plan_json(&run, &body, &counts).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The redacted, structured plan the runner composed (TFE's `json-output-redacted`).
async fn save_plan_json_redacted(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let run = plan_phase_run(&s, &caller, &id, "a JSON plan").await?;
    off_runtime(
        &body,
        |b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .ok()
                .filter(|v| v.get("plan_format_version").is_some())
                .map(|_| ())
        },
        "the body is not a structured plan (no plan_format_version)",
    )
    .await?;
    s.store.set_plan_json_redacted(&run, &body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The scopes of job tokens that minted recently, by the token's hash: the mint endpoint's
/// first look, so that a phase's tokens after the first cost no database query before the
/// signature. Nothing here is trusted: a token minted from a remembered scope is returned only
/// if its audit record commits, and that statement checks again, against the database, that the
/// job token still authenticates the running job and that the names are still the job's
/// ([`tern_store::MintCondition`]). A stale entry costs one signature and a second look.
pub struct JobScopes {
    cache: quick_cache::sync::Cache<Vec<u8>, Arc<JobScope>>,
}

/// Job tokens remembered per replica: far more than the jobs that run at once.
const JOB_SCOPES: usize = 4096;

impl Default for JobScopes {
    fn default() -> Self {
        Self { cache: quick_cache::sync::Cache::new(JOB_SCOPES) }
    }
}

impl std::fmt::Debug for JobScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobScopes").field("len", &self.cache.len()).finish()
    }
}

impl JobScopes {
    fn get(&self, hash: &[u8], job_id: &str) -> Option<Arc<JobScope>> {
        self.cache.get(hash).filter(|scope| scope.job.id == job_id)
    }
}

/// How many times a mint reads its scope from the database before it gives up on a scope that
/// keeps changing under it (each read costs a signature).
const MINT_ATTEMPTS: u32 = 2;

/// Where the scope a token is minted for came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Memory,
    Database,
}

async fn mint(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let hash = super::auth::bearer_of(&headers).map(tern_store::token_hash);
    let mut remembered = hash.as_deref().and_then(|h| s.job_scopes.get(h, &id));
    let mut from_database = 0;
    loop {
        let (scope, source) = match remembered.take() {
            Some(scope) => (scope, Source::Memory),
            None => {
                from_database += 1;
                (job_scope_of(&s, &headers, &id).await?, Source::Database)
            }
        };
        // Only a job token reaches here (the general path refuses anything else).
        let Some(hash) = hash.clone() else {
            return Err(ApiError::forbidden("only the job token handed out with a job may act on it"));
        };
        let (response, event) = sign(&s, &scope, &body)?;
        let condition = tern_store::MintCondition::for_hash(hash.clone(), &scope);
        match s.audit.record_if(event, condition).await.map_err(|e| s.audit_unavailable(&e))? {
            Recorded::Yes => {
                if source == Source::Database {
                    s.job_scopes.cache.insert(hash, scope.clone());
                }
                let job = &scope.job;
                tracing::info!(job = %job.id, run = %job.run_id, phase = %job.phase, aud = %response.audience.as_str(), kid = %response.body.kid, jti = %response.body.jti, "minted a workload identity token");
                return Ok(json_ok(&response.body));
            }
            Recorded::ConditionFailed => {
                // The token is dropped unseen. Something changed since the scope was read: the
                // job ended, its token was revoked, a name changed.
                s.job_scopes.cache.remove(&hash);
                if source == Source::Database && from_database >= MINT_ATTEMPTS {
                    // Between the query and the commit, each time: the general path says which,
                    // or, if everything is fine again, the agent asks again.
                    let caller = Caller::from_headers(&headers, &s).await?;
                    load(&s, &caller, &id).await?;
                    return Err(ApiError::conflict(
                        "the job changed while its token was being minted (a rename, or the job ending); ask again",
                    ));
                }
                // A remembered scope gone stale, or a change between the query and the commit
                // (a rename racing the mint): once more with the database's answer.
            }
        }
    }
}

/// The job token's scope from the database: the hot path of every phase's start — the job token,
/// the job and the names a token carries in one query. Anything else (no token, another kind,
/// another job, a job that is over) takes the general path, which says exactly why.
async fn job_scope_of(s: &ApiState, headers: &HeaderMap, id: &str) -> Result<Arc<JobScope>, ApiError> {
    let fast = match super::auth::bearer_of(headers) {
        Some(presented) => s.store.job_token_scope(presented, id).await?,
        None => None,
    };
    let scope = match fast {
        Some(scope) => scope,
        None => {
            // The general checks say why the fast path refused (and, after a race, allow).
            let caller = Caller::from_headers(headers, s).await?;
            load(s, &caller, id).await?;
            s.store.job_scope(id).await?
        }
    };
    Ok(Arc::new(scope))
}

/// A signed token's answer, not yet returned.
struct Signed {
    body: protocol::MintResponse,
    audience: Audience,
}

/// Sign the token `body` asks for, for `scope`; returns the answer and its audit event.
fn sign(s: &ApiState, scope: &JobScope, body: &[u8]) -> Result<(Signed, tern_store::AuditInput), ApiError> {
    let job = &scope.job;
    let request: protocol::MintRequest = parse(body)?;
    let audience =
        Audience::parse(&request.audience).map_err(|e| ApiError::bad_request(format!("audience: {e}")))?;
    // Never longer than the server's token lifetime, whatever the phase's timeout (a tenant
    // chooses that): file tokens are refreshed anyway, and inline ones (read once at start) are
    // as long-lived as the operator allows tokens to be.
    let cap = s.signer.max_ttl.as_secs();
    let ttl = Ttl::new(Duration::from_secs(request.ttl_seconds.min(cap)).clamp(Ttl::MIN, Ttl::MAX))
        .map_err(|e| ApiError::bad_request(format!("ttl_seconds: {e}")))?;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot mint",
            format!("the job's {what} cannot go into a token: {e}"),
        )
    };
    let context = RunContext {
        organization: OrganizationName::parse(&scope.organization).map_err(|e| bad("organization", &e))?,
        organization_id: ResourceId::parse(&job.organization_id).map_err(|e| bad("organization id", &e))?,
        project: ProjectName::parse(&scope.project).map_err(|e| bad("project", &e))?,
        project_id: ResourceId::parse(&scope.project_id).map_err(|e| bad("project id", &e))?,
        workspace: WorkspaceName::parse(&scope.workspace).map_err(|e| bad("workspace", &e))?,
        workspace_id: ResourceId::parse(&scope.workspace_id).map_err(|e| bad("workspace id", &e))?,
        run_id: RunId::parse(&job.run_id).map_err(|e| bad("run id", &e))?,
        phase: job.phase,
    };
    let ring = s.signer.ring.load();
    let jti = Jti::random().map_err(|e| bad("token id", &e))?;
    let request = TokenRequest {
        context: &context,
        audience: &audience,
        policy: &s.signer.policy,
        issued_at: s.clock.now(),
        ttl,
        jti,
    };
    let token =
        tern_identity::mint(ring.signing_key(), &s.signer.issuer, &request).map_err(|e| bad("token", &e))?;
    // Durable before the token leaves: "which run got into my account with which token" must
    // have an answer even if the server dies right after answering.
    let details = serde_json::json!({
        "jti": token.jti.as_str(), "subject": token.subject, "audience": audience.as_str(),
        "kid": token.kid.to_string(), "phase": job.phase.as_str(),
        "issued-at": token.issued_at, "expires-at": token.expires_at,
    });
    let at = super::Scope {
        organization: Some(&job.organization_id),
        workspace: Some(&scope.workspace_id),
        run: Some(&job.run_id),
    };
    let event = ApiState::input(&job.id, "job", "token.minted", at, details);
    let body = protocol::MintResponse {
        token: SecretString::new(token.jwt.expose_secret().to_owned()),
        kid: token.kid.to_string(),
        jti: token.jti.as_str().to_owned(),
        subject: token.subject,
        issued_at: token.issued_at,
        expires_at: token.expires_at,
    };
    Ok((Signed { body, audience }, event))
}

async fn logs(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let (job, run, _) = load(&s, &caller, &id).await?;
    s.store.append_log(&run.id, job.phase, &body).await?;
    let cancel = s.store.heartbeat(&job.id, i64::try_from(s.job_lease.as_secs()).unwrap_or(60)).await?;
    Ok(json_ok(&protocol::JobControl { cancel }))
}

async fn heartbeat(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (job, _, _) = load(&s, &caller, &id).await?;
    let cancel = s.store.heartbeat(&job.id, i64::try_from(s.job_lease.as_secs()).unwrap_or(60)).await?;
    Ok(json_ok(&protocol::JobControl { cancel }))
}

async fn finish(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let (job, _, _) = load(&s, &caller, &id).await?;
    let request: protocol::FinishRequest = parse(&body)?;
    let outcome = match request.outcome {
        Outcome::Succeeded => JobOutcome::Succeeded { has_changes: request.has_changes },
        Outcome::Failed => JobOutcome::Failed(request.reason.unwrap_or_else(|| "the phase failed".into())),
        Outcome::Canceled => JobOutcome::Canceled,
    };
    let run = s.store.finish_job(&job.id, &outcome).await?;
    if run.status == tern_store::RunStatus::Confirmed {
        s.jobs_queued.notify_waiters();
    }
    tracing::info!(job = %job.id, run = %run.id, status = %run.status, "job finished");
    Ok(json_ok(&protocol::FinishResponse { run_status: run.status.as_str().to_owned() }))
}
