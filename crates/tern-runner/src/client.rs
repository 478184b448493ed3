//! The agent API, client side: [`AgentClient`] claims jobs with an agent token, [`JobClient`]
//! does everything else with the job token that came with the job.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tern_handoff::{MintFailure, TokenMinter};
use tern_identity::{Jti, Jwt, Kid, MintedToken};
use tern_types::{Audience, SecretString, Ttl, Version};

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not reachable, or the connection broke.
    #[error("cannot reach tern at {url}: {cause}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why (the innermost cause).
        cause: String,
    },
    /// The server refused; `detail` is its explanation.
    #[error("tern refused {what} ({status}): {detail}")]
    Refused {
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// The server's detail.
        detail: String,
    },
    /// The answer was not what the API promises.
    #[error("unexpected answer to {0}")]
    Unexpected(String),
}

fn cause(e: &reqwest::Error) -> String {
    tern_handoff::http_cause(e)
}

async fn refused(what: &str, response: reqwest::Response) -> ClientError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errors"][0]["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect());
    ClientError::Refused { what: what.to_owned(), status, detail }
}

/// An HTTP client for tern with a bearer token.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    server: String,
    token: SecretString,
}

impl Api {
    fn new(server: &str, token: SecretString) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("tern-runner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable { url: server.to_owned(), cause: cause(&e) })?;
        Ok(Self { http, server: server.trim_end_matches('/').to_owned(), token })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        what: &str,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{path}", self.server);
        let mut request = self.http.request(method, &url).bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: self.server.clone(), cause: cause(&e) })?;
        if response.status().is_success() { Ok(response) } else { Err(refused(what, response).await) }
    }

    async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let response = self.call(method, path, body.map(|b| b.to_string().into_bytes()), what).await?;
        response.json().await.map_err(|_| ClientError::Unexpected(what.to_owned()))
    }
}

/// Claims jobs for an agent.
#[derive(Clone)]
pub struct AgentClient {
    api: Api,
    name: String,
    /// The Terraform versions advertised with every claim.
    terraform_versions: Vec<String>,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient").field("server", &self.api.server).field("name", &self.name).finish()
    }
}

/// A job as claimed.
#[derive(Debug)]
pub struct Claimed {
    /// Job id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// `plan` or `apply`.
    pub phase: String,
    /// Everything else goes through this.
    pub client: JobClient,
}

impl AgentClient {
    /// A client for `server` with an agent token; `name` identifies this agent in runs.
    pub fn new(server: &str, token: SecretString, name: &str) -> Result<Self, ClientError> {
        Ok(Self { api: Api::new(server, token)?, name: name.to_owned(), terraform_versions: Vec::new() })
    }

    /// Advertise these Terraform versions when claiming: the server then offers only jobs that
    /// need one of them (none: no job at all).
    pub fn with_terraform_versions(mut self, versions: &[Version]) -> Self {
        self.terraform_versions = versions.iter().map(Version::to_string).collect();
        self
    }

    /// Claim the next job, waiting up to `wait` for one. `restarted` tells the server that
    /// jobs it thinks this agent runs are dead.
    pub async fn claim(&self, wait: Duration, restarted: bool) -> Result<Option<Claimed>, ClientError> {
        let body = json!({
            "agent": self.name,
            "wait_seconds": wait.as_secs(),
            "restarted": restarted,
            "terraform_versions": self.terraform_versions,
        });
        let response = self
            .api
            .call(
                Method::POST,
                "/api/agent/jobs/claim",
                Some(body.to_string().into_bytes()),
                "claiming a job",
            )
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let v: serde_json::Value =
            response.json().await.map_err(|_| ClientError::Unexpected("claiming a job".into()))?;
        let field = |p: &str| {
            v.pointer(p)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ClientError::Unexpected("claiming a job".into()))
        };
        let token = SecretString::new(field("/token")?);
        let id = field("/job/id")?;
        Ok(Some(Claimed {
            client: JobClient { api: Api { token, ..self.api.clone() }, job: id.clone() },
            id,
            run_id: field("/job/run_id")?,
            phase: field("/job/phase")?,
        }))
    }
}

/// One job's calls, with its job token.
#[derive(Clone)]
pub struct JobClient {
    api: Api,
    job: String,
}

impl std::fmt::Debug for JobClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobClient").field("job", &self.job).finish_non_exhaustive()
    }
}

/// A variable of the job's workspace.
#[derive(Deserialize)]
pub struct JobVariable {
    /// Name.
    pub key: String,
    /// Value (sensitive ones too).
    pub value: String,
    /// `env` or `terraform`.
    pub category: String,
    /// HCL value.
    pub hcl: bool,
    /// Sensitive.
    pub sensitive: bool,
}

impl std::fmt::Debug for JobVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobVariable")
            .field("key", &self.key)
            .field("category", &self.category)
            .finish_non_exhaustive()
    }
}

/// Name and id.
#[derive(Debug, Deserialize)]
pub struct Named {
    /// Name.
    pub name: String,
    /// Id.
    pub id: String,
}

/// What a job is.
#[derive(Debug, Deserialize)]
pub struct JobSpec {
    /// Job id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// `plan` or `apply`.
    pub phase: String,
    /// Organization.
    pub organization: Named,
    /// Project.
    pub project: Named,
    /// Workspace.
    pub workspace: Named,
    /// The exact Terraform version to run it with (this runner advertised it).
    pub terraform_version: String,
    /// Directory in the configuration.
    pub working_directory: String,
    /// Phase timeout.
    pub timeout_seconds: u64,
    /// The longest a token minted for this job may live, in seconds (the server's token
    /// lifetime): the server caps every mint at it. Absent from older servers.
    #[serde(default)]
    pub max_token_ttl_seconds: Option<u64>,
    /// Destroy run.
    pub is_destroy: bool,
    /// Variables.
    pub variables: Vec<JobVariable>,
    /// `-target` addresses of the plan.
    #[serde(default)]
    pub target_addrs: Vec<String>,
    /// `-replace` addresses of the plan.
    #[serde(default)]
    pub replace_addrs: Vec<String>,
    /// `false`: plan with `-refresh=false`.
    #[serde(default = "yes")]
    pub refresh: bool,
    /// Plan with `-refresh-only`.
    #[serde(default)]
    pub refresh_only: bool,
}

fn yes() -> bool {
    true
}

impl JobSpec {
    /// The server's longest token lifetime, if it said.
    fn max_token_ttl(&self) -> Duration {
        self.max_token_ttl_seconds.map_or(Ttl::MAX, Duration::from_secs)
    }

    /// Lifetime of the tokens a phase reads once at its start (inline tokens such as
    /// `KUBE_TOKEN`): the phase's timeout, but never longer than the server lets a token live.
    pub fn inline_token_ttl(&self) -> Ttl {
        let wanted = Duration::from_secs(self.timeout_seconds).min(self.max_token_ttl());
        Ttl::new(wanted.clamp(Ttl::MIN, Ttl::MAX)).unwrap_or_default()
    }

    /// Lifetime of the tokens in files, refreshed at two thirds of it: `configured`, but never
    /// longer than the server lets a token live (a shorter token than asked for would expire
    /// before its refresh).
    pub fn file_token_ttl(&self, configured: Ttl) -> Ttl {
        if configured.as_duration() <= self.max_token_ttl() {
            return configured;
        }
        Ttl::new(self.max_token_ttl().clamp(Ttl::MIN, Ttl::MAX)).unwrap_or(configured)
    }
}

impl JobClient {
    /// The job's id.
    pub fn id(&self) -> &str {
        &self.job
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/agent/jobs/{}{rest}", self.job)
    }

    /// The job's specification.
    pub async fn spec(&self) -> Result<JobSpec, ClientError> {
        let v = self.api.json(Method::GET, &self.path(""), None, "reading the job").await?;
        serde_json::from_value(v).map_err(|_| ClientError::Unexpected("reading the job".into()))
    }

    async fn bytes(&self, rest: &str, what: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let response = self.api.call(Method::GET, &self.path(rest), None, what).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable { url: self.api.server.clone(), cause: cause(&e) })?;
        Ok(Some(bytes.to_vec()))
    }

    /// The configuration tarball.
    pub async fn configuration(&self) -> Result<Vec<u8>, ClientError> {
        self.bytes("/configuration", "downloading the configuration")
            .await?
            .ok_or_else(|| ClientError::Unexpected("downloading the configuration".into()))
    }

    /// The workspace's current state, if any.
    pub async fn state(&self) -> Result<Option<Vec<u8>>, ClientError> {
        self.bytes("/state", "downloading the state").await
    }

    /// The saved plan (apply phase).
    pub async fn plan_file(&self) -> Result<Vec<u8>, ClientError> {
        self.bytes("/plan", "downloading the saved plan")
            .await?
            .ok_or_else(|| ClientError::Unexpected("downloading the saved plan".into()))
    }

    /// Save the plan (plan phase).
    pub async fn save_plan_file(&self, plan: Vec<u8>) -> Result<(), ClientError> {
        self.api.call(Method::PUT, &self.path("/plan"), Some(plan), "saving the plan").await.map(|_| ())
    }

    /// Save the plan as JSON, `terraform show -json` of it (plan phase).
    pub async fn save_plan_json(&self, json: Vec<u8>) -> Result<(), ClientError> {
        self.api
            .call(Method::PUT, &self.path("/plan-json"), Some(json), "saving the JSON plan")
            .await
            .map(|_| ())
    }

    /// Save the redacted, structured plan Terraform's `cloud` block renders (plan phase).
    pub async fn save_plan_json_redacted(&self, json: Vec<u8>) -> Result<(), ClientError> {
        self.api
            .call(Method::PUT, &self.path("/plan-json-redacted"), Some(json), "saving the redacted JSON plan")
            .await
            .map(|_| ())
    }

    /// Store new state (apply phase).
    pub async fn upload_state(&self, state: Vec<u8>) -> Result<(), ClientError> {
        self.api.call(Method::PUT, &self.path("/state"), Some(state), "storing the state").await.map(|_| ())
    }

    /// Append to the log; answers whether the run was canceled.
    pub async fn logs(&self, chunk: Vec<u8>) -> Result<bool, ClientError> {
        let response = self.api.call(Method::POST, &self.path("/logs"), Some(chunk), "sending logs").await?;
        let v: serde_json::Value =
            response.json().await.map_err(|_| ClientError::Unexpected("sending logs".into()))?;
        Ok(v["cancel"].as_bool().unwrap_or(false))
    }

    /// Report the end of the phase.
    pub async fn finish(
        &self,
        outcome: &str,
        has_changes: bool,
        reason: Option<&str>,
    ) -> Result<String, ClientError> {
        let v = self
            .api
            .json(
                Method::POST,
                &self.path("/finish"),
                Some(json!({ "outcome": outcome, "has_changes": has_changes, "reason": reason })),
                "finishing the job",
            )
            .await?;
        Ok(v["run_status"].as_str().unwrap_or_default().to_owned())
    }
}

/// Mints through the server: the agent never holds a signing key.
#[derive(Debug, Clone)]
pub struct ServerMinter(pub JobClient);

#[derive(Deserialize)]
struct Minted {
    token: String,
    kid: String,
    jti: String,
    subject: String,
    issued_at: u64,
    expires_at: u64,
}

impl TokenMinter for ServerMinter {
    async fn mint(&self, audience: &Audience, ttl: Ttl) -> Result<MintedToken, MintFailure> {
        let body = json!({ "audience": audience.as_str(), "ttl_seconds": ttl.as_secs() });
        let v = self
            .0
            .api
            .json(Method::POST, &self.0.path("/token"), Some(body), "minting a token")
            .await
            .map_err(|e| MintFailure(e.to_string()))?;
        let m: Minted = serde_json::from_value(v)
            .map_err(|_| MintFailure("the server's answer to a mint request is not a token".into()))?;
        Ok(MintedToken {
            jwt: Jwt::received(SecretString::new(m.token)),
            kid: Kid::parse(&m.kid).map_err(|e| MintFailure(e.to_string()))?,
            jti: Jti::fixed(&m.jti),
            subject: m.subject,
            issued_at: m.issued_at,
            expires_at: m.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(timeout_seconds: u64, max_token_ttl_seconds: Option<u64>) -> JobSpec {
        let mut v = json!({
            "id": "job-1", "run_id": "run-1", "phase": "plan",
            "organization": { "name": "acme", "id": "org-1" },
            "project": { "name": "Default Project", "id": "prj-1" },
            "workspace": { "name": "app", "id": "ws-1" },
            "terraform_version": "1.11.4", "working_directory": "",
            "timeout_seconds": timeout_seconds, "is_destroy": false, "plan_only": false, "variables": [],
        });
        if let Some(max) = max_token_ttl_seconds {
            v["max_token_ttl_seconds"] = json!(max);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_jobs_tokens_never_outlive_the_servers_token_lifetime() {
        let fifteen = Ttl::new(Duration::from_secs(900)).unwrap();
        let hour = Ttl::new(Duration::from_secs(3600)).unwrap();
        // A tenant's 24 h phase timeout: inline tokens live as long as the server allows.
        let day = spec(24 * 3600, Some(900));
        assert_eq!(day.inline_token_ttl().as_secs(), 900);
        assert_eq!(day.file_token_ttl(fifteen).as_secs(), 900);
        assert_eq!(day.file_token_ttl(hour).as_secs(), 900, "refreshed before the server's token expires");
        // A short phase: its tokens need not outlive it.
        let short = spec(300, Some(3600));
        assert_eq!(short.inline_token_ttl().as_secs(), 300);
        assert_eq!(short.file_token_ttl(fifteen).as_secs(), 900);
        assert_eq!(spec(1, Some(3600)).inline_token_ttl().as_secs(), 10, "at least Ttl::MIN");
    }

    #[test]
    fn an_older_server_that_does_not_say_leaves_the_phase_timeout() {
        let old = spec(2 * 3600, None);
        assert_eq!(old.max_token_ttl_seconds, None);
        assert_eq!(old.inline_token_ttl().as_secs(), 2 * 3600);
        let hour = Ttl::new(Duration::from_secs(3600)).unwrap();
        assert_eq!(old.file_token_ttl(hour).as_secs(), 3600);
        assert_eq!(spec(48 * 3600, None).inline_token_ttl().as_secs(), 24 * 3600, "at most Ttl::MAX");
    }
}
