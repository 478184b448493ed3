//! The agent API, client side: [`AgentClient`] claims jobs with an agent token, [`JobClient`]
//! does everything else with the job token that came with the job.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tern_handoff::{MintFailure, TokenMinter};
use tern_identity::{Jti, Jwt, Kid, MintedToken};
use tern_protocol::agent;
pub use tern_protocol::agent::{JobSpec, JobVariable, Named, Outcome};
use tern_protocol::jsonapi::ErrorDocument;
use tern_types::{Audience, RunPhase, SecretString, Ttl, Version};

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
    let detail = serde_json::from_str::<ErrorDocument>(&body)
        .ok()
        .and_then(|d| d.detail().map(str::to_owned))
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

    /// A call whose answer is the protocol's `T`; `body` is sent as JSON.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        what: &str,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Unexpected(format!("{what}: {e}")))?;
        let response = self.call(method, path, body, what).await?;
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
    /// The phase.
    pub phase: RunPhase,
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
        let request = agent::ClaimRequest {
            agent: self.name.clone(),
            wait_seconds: wait.as_secs(),
            restarted,
            terraform_versions: Some(self.terraform_versions.clone()),
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| ClientError::Unexpected(format!("claiming a job: {e}")))?;
        let response = self.api.call(Method::POST, agent::CLAIM_PATH, Some(body), "claiming a job").await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let claimed: agent::ClaimResponse =
            response.json().await.map_err(|_| ClientError::Unexpected("claiming a job".into()))?;
        let agent::ClaimedJob { id, run_id, phase } = claimed.job;
        Ok(Some(Claimed {
            client: JobClient { api: Api { token: claimed.token, ..self.api.clone() }, job: id.clone() },
            id,
            run_id,
            phase,
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

/// The token lifetimes of a job, from what its specification says.
pub trait TokenLifetimes {
    /// Lifetime of the tokens a phase reads once at its start (inline tokens such as
    /// `KUBE_TOKEN`): the phase's timeout, but never longer than the server lets a token live.
    fn inline_token_ttl(&self) -> Ttl;

    /// Lifetime of the tokens in files, refreshed at two thirds of it: `configured`, but never
    /// longer than the server lets a token live (a shorter token than asked for would expire
    /// before its refresh).
    fn file_token_ttl(&self, configured: Ttl) -> Ttl;
}

/// The server's longest token lifetime, if it said.
fn max_token_ttl(spec: &JobSpec) -> Duration {
    spec.max_token_ttl_seconds.map_or(Ttl::MAX, Duration::from_secs)
}

impl TokenLifetimes for JobSpec {
    fn inline_token_ttl(&self) -> Ttl {
        let wanted = Duration::from_secs(self.timeout_seconds).min(max_token_ttl(self));
        Ttl::new(wanted.clamp(Ttl::MIN, Ttl::MAX)).unwrap_or_default()
    }

    fn file_token_ttl(&self, configured: Ttl) -> Ttl {
        if configured.as_duration() <= max_token_ttl(self) {
            return configured;
        }
        Ttl::new(max_token_ttl(self).clamp(Ttl::MIN, Ttl::MAX)).unwrap_or(configured)
    }
}

impl JobClient {
    /// The job's id.
    pub fn id(&self) -> &str {
        &self.job
    }

    fn path(&self, rest: &str) -> String {
        agent::job_path(&self.job, rest)
    }

    /// The job's specification.
    pub async fn spec(&self) -> Result<JobSpec, ClientError> {
        self.api.json(Method::GET, &self.path(""), None::<&()>, "reading the job").await
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
        let control: agent::JobControl =
            response.json().await.map_err(|_| ClientError::Unexpected("sending logs".into()))?;
        Ok(control.cancel)
    }

    /// Report the end of the phase.
    pub async fn finish(
        &self,
        outcome: Outcome,
        has_changes: bool,
        reason: Option<&str>,
    ) -> Result<String, ClientError> {
        let request = agent::FinishRequest { outcome, has_changes, reason: reason.map(str::to_owned) };
        let done: agent::FinishResponse =
            self.api.json(Method::POST, &self.path("/finish"), Some(&request), "finishing the job").await?;
        Ok(done.run_status)
    }
}

/// Mints through the server: the agent never holds a signing key.
#[derive(Debug, Clone)]
pub struct ServerMinter(pub JobClient);

/// The waits before asking again for a token the server could not give for a passing reason:
/// the job changed while the token was minted (409: a rename racing the mint), or the audit
/// trail could not record it (503: a database failover). Anything else fails at once.
const MINT_RETRIES: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(1000)];

impl TokenMinter for ServerMinter {
    async fn mint(&self, audience: &Audience, ttl: Ttl) -> Result<MintedToken, MintFailure> {
        let request =
            agent::MintRequest { audience: audience.as_str().to_owned(), ttl_seconds: ttl.as_secs() };
        let mut waits = MINT_RETRIES.iter();
        let m: agent::MintResponse = loop {
            let e = match self
                .0
                .api
                .json(Method::POST, &self.0.path("/token"), Some(&request), "minting a token")
                .await
            {
                Ok(m) => break m,
                Err(e) => e,
            };
            let passing = matches!(e, ClientError::Refused { status: 409 | 503, .. });
            match waits.next() {
                Some(wait) if passing => tokio::time::sleep(*wait).await,
                _ => return Err(MintFailure(e.to_string())),
            }
        };
        Ok(MintedToken {
            jwt: Jwt::received(m.token),
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

    /// A loopback server that answers each request with the next of `answers` (status, body),
    /// one connection per request; returns its URL.
    async fn answering(answers: Vec<(u16, String)>) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for (status, body) in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The request's head, then its body (Content-Length), before answering.
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        url
    }

    fn minter(url: &str) -> ServerMinter {
        let api = Api::new(url, SecretString::new("job-token".into())).unwrap();
        ServerMinter(JobClient { api, job: "job-1".into() })
    }

    const REFUSED: &str = r#"{"errors":[{"status":"409","title":"conflict","detail":"ask again"}]}"#;

    #[tokio::test]
    async fn a_mint_refused_for_a_passing_reason_is_asked_again_and_nothing_else_is() {
        let minted = serde_json::json!({"token": "header.claims.signature", "kid": "k1", "jti": "j1",
            "subject": "organization:acme", "issued_at": 1, "expires_at": 2})
        .to_string();
        let audience = Audience::parse("sts.amazonaws.com").unwrap();
        // 409 then 503, then the token: asked three times.
        let url = answering(vec![(409, REFUSED.into()), (503, REFUSED.into()), (200, minted)]).await;
        let token = minter(&url).mint(&audience, Ttl::default()).await.unwrap();
        assert_eq!(token.jti.as_str(), "j1");
        // Three passing refusals: the last one is the answer.
        let url = answering(vec![(409, REFUSED.into()); 3]).await;
        let e = minter(&url).mint(&audience, Ttl::default()).await.unwrap_err();
        assert!(e.to_string().contains("409") && e.to_string().contains("ask again"), "{e}");
        // A refusal that will not pass (the job is over) is not asked again: one answer only.
        let url = answering(vec![(401, REFUSED.into())]).await;
        let e = minter(&url).mint(&audience, Ttl::default()).await.unwrap_err();
        assert!(e.to_string().contains("401"), "{e}");
    }

    fn spec(timeout_seconds: u64, max_token_ttl_seconds: Option<u64>) -> JobSpec {
        let mut v = serde_json::json!({
            "id": "job-1", "run_id": "run-1", "phase": "plan",
            "organization": { "name": "acme", "id": "org-1" },
            "project": { "name": "Default Project", "id": "prj-1" },
            "workspace": { "name": "app", "id": "ws-1" },
            "terraform_version": "1.11.4", "working_directory": "",
            "timeout_seconds": timeout_seconds, "is_destroy": false, "plan_only": false, "variables": [],
        });
        if let Some(max) = max_token_ttl_seconds {
            v["max_token_ttl_seconds"] = serde_json::json!(max);
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
