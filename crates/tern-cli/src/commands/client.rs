//! The everyday client commands: organizations, projects, workspaces, variables, runs, state,
//! agent tokens and pools, and `tern login`; users and teams in [`teams`]. They speak the same
//! API as any TFE client.

mod teams;

pub use teams::{team, user};

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tern_protocol::jsonapi::{Attributes, Document, ErrorDocument, ListDocument, Resource};
use tern_protocol::resources as r;
use tern_types::SecretString;

use crate::UsageError;
use crate::cli::{
    AgentPoolCommand, AgentTokenCommand, AuditArgs, ClientArgs, LoginArgs, OrgCommand, ProjectCommand,
    RunCommand, StateCommand, VarCommand, VarOwner, VarsetCommand, VarsetTargets, WorkspaceCommand,
};
use crate::settings::Env;

/// Where `tern login` keeps the server and token.
fn config_path(env: Env<'_>) -> Option<PathBuf> {
    env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("tern").join("credentials.json"))
}

/// Where the client's token came from, to say so when the server refuses it.
enum TokenSource {
    Flag,
    Env,
    /// The file `tern login` wrote.
    Saved(PathBuf),
    /// The token being checked by `tern login`.
    Login,
}

impl TokenSource {
    /// What to do about a token the server does not accept (401).
    fn advice(&self, server: &str) -> String {
        let fresh = "the admin token (<data dir>/admin-token of tern serve), a user's token (`tern user token USERNAME`) or an organization token (`tern org token ORG`)";
        match self {
            Self::Flag => {
                format!("the token given with --token was refused: give --token a valid token, {fresh}")
            }
            Self::Env => format!(
                "the token in the TERN_TOKEN environment variable was refused: set TERN_TOKEN to a valid token, {fresh}, or unset it to use the saved login (`tern login`)"
            ),
            Self::Saved(path) => format!(
                "the token saved by `tern login` in {} was refused: log in again with a valid token, `tern login --server {server} < TOKEN-FILE`, or set TERN_TOKEN",
                path.display()
            ),
            Self::Login => format!("the token given to `tern login` was refused: give {fresh}"),
        }
    }
}

/// Whether `--token` is on the command line (rather than only in TERN_TOKEN).
fn token_flag_given() -> bool {
    std::env::args_os().any(|a| a == "--token" || a.to_string_lossy().starts_with("--token="))
}

/// `server` if it is an http(s) URL; otherwise what to write instead.
fn check_server_url(server: &str) -> Result<(), UsageError> {
    if !server.contains("://") {
        return Err(UsageError(format!(
            "server URL {server:?} has no scheme: write http://{server} (or https://{server} if tern serve has --tls-cert)"
        )));
    }
    match url::Url::parse(server) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err(UsageError(format!(
            "server URL {server:?}: tern speaks http:// or https://, not {}://",
            u.scheme()
        ))),
        Ok(_) => {
            Err(UsageError(format!("server URL {server:?} has no host: write e.g. http://127.0.0.1:8080")))
        }
        Err(e) => Err(UsageError(format!(
            "server URL {server:?} is not a URL ({e}): write e.g. http://127.0.0.1:8080"
        ))),
    }
}

/// Why a request to `server` got no answer, in words that say what to do: reqwest's and rustls'
/// own causes ("Connection refused", "received corrupt message of type InvalidContentType",
/// "invalid peer certificate: UnknownIssuer") name the symptom, not the fix.
fn unreachable(server: &str, e: &reqwest::Error) -> String {
    let cause = tern_handoff::http_cause(e);
    let address = url::Url::parse(server)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| server.to_owned());
    let mut refused = false;
    let mut rustls_error: Option<String> = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            if let Some(inner) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                rustls_error = Some(format!("{inner:?}"));
            }
        }
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            rustls_error = Some(format!("{r:?}"));
        }
        source = s.source();
    }
    let tls = rustls_error.unwrap_or_default();
    let hint = if refused || cause.contains("Connection refused") {
        format!(
            "nothing listens at {address}: start the server there (`tern serve`), or point --server (TERN_SERVER) at where it runs"
        )
    } else if tls.contains("InvalidContentType") || cause.contains("InvalidContentType") {
        format!(
            "{address} speaks plain HTTP, not TLS: use {} (or start tern serve with --tls-cert and --tls-key)",
            server.replacen("https://", "http://", 1)
        )
    } else if tls.contains("InvalidCertificate") || cause.contains("invalid peer certificate") {
        if tls.contains("NotValidForName") || cause.contains("NotValidForName") {
            format!(
                "the certificate of {address} is not valid for that name: use the host name the certificate names in --server"
            )
        } else {
            format!(
                "the certificate of {address} is not trusted: if your own CA signed it, set SSL_CERT_FILE to that CA's certificate (PEM)"
            )
        }
    } else {
        return format!("cannot reach tern at {server}: {cause}");
    };
    format!("cannot reach tern at {server} ({cause}): {hint}")
}

/// An answer other than 2xx from the API.
#[derive(Debug)]
struct ApiError {
    method: Method,
    path: String,
    status: reqwest::StatusCode,
    detail: String,
    /// What to do, when tern knows.
    hint: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} {}: {}",
            self.method,
            self.path,
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            self.detail
        )?;
        match &self.hint {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

/// Of `candidates`, the one closest to `name` (a typo away), if any is close enough.
fn closest<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (name.chars().count() / 3).max(2) || c.to_lowercase().starts_with(&lower))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "did you mean X? The <what>s are: …" for a `name` that is not among `names`, with the command
/// that `list` shows them and `create` makes one.
fn did_you_mean(name: &str, what: &str, names: &[String], list: &str, create: &str) -> String {
    if names.is_empty() {
        return format!("there is no {what} yet: create one with `{create}`");
    }
    const SHOWN: usize = 10;
    let mut shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    if names.len() > SHOWN {
        shown.push(format!("… ({} in all: `{list}`)", names.len()));
    }
    let all = format!("the {what}s are {}", shown.join(", "));
    match closest(name, names) {
        Some(c) => format!("did you mean {c:?}? ({all})"),
        None => all,
    }
}

/// A resource whose attributes have a name.
trait HasName {
    fn name(&self) -> &str;
}

macro_rules! has_name {
    ($($t:ty),*) => {$(impl HasName for $t { fn name(&self) -> &str { &self.name } })*};
}
has_name!(
    r::OrganizationAttributes,
    r::ProjectAttributes,
    r::WorkspaceAttributes,
    r::AgentPoolAttributes,
    r::TeamAttributes
);

/// The names in a list.
fn names<A: Attributes + HasName>(list: &ListDocument<Resource<A>>) -> Vec<String> {
    list.data.iter().map(|d| d.attributes.name().to_owned()).collect()
}

/// A list's resource called `name`.
fn named<'a, A: Attributes + HasName>(
    list: &'a ListDocument<Resource<A>>,
    name: &str,
) -> Option<&'a Resource<A>> {
    list.data.iter().find(|d| d.attributes.name() == name)
}

struct Client {
    http: reqwest::Client,
    server: String,
    token: SecretString,
    token_source: TokenSource,
}

impl Client {
    fn new(args: &ClientArgs, env: Env<'_>) -> anyhow::Result<Self> {
        let path = config_path(env);
        let saved: Option<Value> =
            path.as_ref().and_then(|p| std::fs::read(p).ok()).and_then(|b| serde_json::from_slice(&b).ok());
        let saved_server = saved.as_ref().and_then(|v| v["server"].as_str()).map(str::to_owned);
        let server = args.server.clone().or_else(|| saved_server.clone()).ok_or_else(|| {
            UsageError(
                "no server: give --server URL, set TERN_SERVER, or run `tern login --server URL`".into(),
            )
        })?;
        let server = server.trim_end_matches('/').to_owned();
        check_server_url(&server)?;
        let (token, token_source) = match &args.token {
            Some(t) if env("TERN_TOKEN").as_deref() == Some(t.as_str()) && !token_flag_given() => {
                (t.clone(), TokenSource::Env)
            }
            Some(t) => (t.clone(), TokenSource::Flag),
            None if saved_server.as_deref().map(|s| s.trim_end_matches('/')) == Some(server.as_str()) => {
                let token =
                    saved.as_ref().and_then(|v| v["token"].as_str()).map(str::to_owned).ok_or_else(|| {
                        UsageError("the saved login has no token; run `tern login` again".into())
                    })?;
                (token, TokenSource::Saved(path.unwrap_or_default()))
            }
            None => {
                return Err(UsageError(format!(
                    "no token for {server}: set TERN_TOKEN, or run `tern login --server {server}`"
                ))
                .into());
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, server, token: SecretString::new(token), token_source })
    }

    /// A request; an error answer comes back as an [`ApiError`], which says what to do about a
    /// refused token (401) or an organization that does not exist (404: the ones that do, one
    /// more request).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        json_body: bool,
    ) -> anyhow::Result<reqwest::Response> {
        let mut error = match self.send_once(method, path, body, json_body).await? {
            Ok(response) => return Ok(response),
            Err(e) => e,
        };
        if error.status == reqwest::StatusCode::UNAUTHORIZED {
            error.hint = Some(self.token_source.advice(&self.server));
        } else if error.status == reqwest::StatusCode::NOT_FOUND
            && let Some(org) = missing_org(&error.detail)
        {
            error.hint = self.org_hint(&org).await;
        }
        Err(error.into())
    }

    /// One request, without advice on errors (the outer error: no answer at all).
    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        json_body: bool,
    ) -> anyhow::Result<Result<reqwest::Response, ApiError>> {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.server) };
        let mut request = self.http.request(method.clone(), &url).bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            if json_body {
                request = request.header("content-type", "application/vnd.api+json");
            }
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| anyhow!(unreachable(&self.server, &e)))?;
        if response.status().is_success() {
            return Ok(Ok(response));
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorDocument>(&text)
            .ok()
            .and_then(|d| d.detail().map(str::to_owned))
            .unwrap_or(text);
        Ok(Err(ApiError { method, path: path.to_owned(), status, detail, hint: None }))
    }

    /// The organizations that exist, and the closest to `org` (None if they cannot be listed).
    async fn org_hint(&self, org: &str) -> Option<String> {
        let list = self.send_once(Method::GET, "/api/v2/organizations?page%5Bsize%5D=100", None, false).await;
        let list: ListDocument<r::Organization> = list.ok()?.ok()?.json().await.ok()?;
        // A user who is in no team sees no organization: creating one is not what they need.
        if list.data.is_empty()
            && let Some(me) = self.me().await
            && !me.attributes.is_admin
        {
            let name = &me.attributes.username;
            return Some(format!(
                "user {name} is in no team of any organization: an owner of {org} can add them with `tern team add-member --org {org} TEAM {name}`"
            ));
        }
        Some(did_you_mean(org, "organization", &names(&list), "tern org list", "tern org create NAME"))
    }

    /// `GET path`, read as the shared type `T` (a document of the API).
    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let text = self.send(Method::GET, path, None, false).await?.text().await?;
        read_answer(&Method::GET, path, &text)
    }

    /// A request with a JSON:API body whose answer is the shared type `T`.
    async fn write<T: DeserializeOwned>(&self, method: Method, path: &str, body: Value) -> anyhow::Result<T> {
        let response = self.send(method.clone(), path, Some(body.to_string().into_bytes()), true).await?;
        read_answer(&method, path, &response.text().await?)
    }

    /// A request with a JSON:API body whose answer (if any) says nothing more.
    async fn act(&self, method: Method, path: &str, body: Value) -> anyhow::Result<()> {
        self.send(method, path, Some(body.to_string().into_bytes()), true).await.map(drop)
    }

    /// The id of the variable of that key and category in the list at `list`.
    async fn find_var(&self, list: &str, key: &str, category: &str) -> anyhow::Result<Option<String>> {
        let vars: Document<Vec<r::Variable>> = self.get(list).await?;
        Ok(vars
            .data
            .into_iter()
            .find(|v| v.attributes.key == key && v.attributes.category == category)
            .map(|v| v.id))
    }

    /// Workspace `name` of `org`; if there is none (404), the error names the workspaces that
    /// exist and the closest (one more request).
    async fn workspace(&self, org: &str, name: &str) -> anyhow::Result<r::Workspace> {
        let path = format!("/api/v2/organizations/{}/workspaces/{}", enc(org), enc(name));
        match self.send(Method::GET, &path, None, false).await {
            Ok(response) => {
                read_answer::<Document<r::Workspace>>(&Method::GET, &path, &response.text().await?)
                    .map(|d| d.data)
            }
            Err(e) => match e.downcast::<ApiError>() {
                Ok(mut api)
                    if api.status == reqwest::StatusCode::NOT_FOUND && missing_org(&api.detail).is_none() =>
                {
                    let list = format!("/api/v2/organizations/{}/workspaces?page%5Bsize%5D=100", enc(org));
                    if let Ok(Ok(list)) = self.send_once(Method::GET, &list, None, false).await
                        && let Ok(list) = list.json::<ListDocument<r::Workspace>>().await
                    {
                        api.hint = Some(did_you_mean(
                            name,
                            "workspace",
                            &names(&list),
                            &format!("tern workspace list --org {org}"),
                            &format!("tern workspace create NAME --org {org}"),
                        ));
                    }
                    Err(api.into())
                }
                Ok(api) => Err(api.into()),
                Err(e) => Err(e),
            },
        }
    }

    /// The id of agent pool `pool` (a name, or an `apool-…` id as it is).
    async fn pool_id(&self, org: &str, pool: &str) -> anyhow::Result<String> {
        if pool.starts_with("apool-") {
            return Ok(pool.to_owned());
        }
        let list: ListDocument<r::AgentPool> =
            self.get(&format!("/api/v2/organizations/{}/agent-pools?page%5Bsize%5D=100", enc(org))).await?;
        named(&list, pool).map(|p| p.id.clone()).ok_or_else(|| {
            let hint = did_you_mean(
                pool,
                "agent pool",
                &names(&list),
                &format!("tern agent-pool list --org {org}"),
                &format!("tern agent-pool create NAME --org {org}"),
            );
            anyhow!("organization {org} has no agent pool {pool:?}: {hint}")
        })
    }
}

/// What a path segment may hold as it is: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encode a path segment.
fn enc(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// An answer read as the shared type `T`; an answer that is not one is a tern of another
/// version (or not tern at all), and the error says which request got it.
fn read_answer<T: DeserializeOwned>(method: &Method, path: &str, text: &str) -> anyhow::Result<T> {
    serde_json::from_str(text).with_context(|| {
        format!("the answer to {method} {path} is not the document tern's API sends (is the server another version of tern?)")
    })
}

/// The organization of a 404 "organization \"NAME\" not found".
fn missing_org(detail: &str) -> Option<String> {
    let quoted = detail.strip_prefix("organization ")?.strip_suffix(" not found")?;
    serde_json::from_str::<String>(quoted).ok()
}

/// A value that may be absent, as a table shows it.
fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(f: F) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(f)
}

pub fn login(args: LoginArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let mut token = String::new();
    if args.token_file.as_os_str() == "-" {
        if std::io::stdin().is_terminal() {
            eprint!("Token for {}: ", args.server);
            let _ = std::io::stderr().flush();
        }
        std::io::stdin().read_line(&mut token).context("reading the token from standard input")?;
    } else {
        std::fs::File::open(&args.token_file)
            .and_then(|mut f| f.read_to_string(&mut token))
            .with_context(|| format!("reading {}", args.token_file.display()))?;
    }
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(UsageError("no token given".into()).into());
    }
    let mut client =
        Client::new(&ClientArgs { server: Some(args.server.clone()), token: Some(token.clone()) }, env)?;
    client.token_source = TokenSource::Login;
    block_on(async move {
        client.get::<Value>("/api/v2/ping").await.context("checking the token")?;
        Ok(ExitCode::SUCCESS)
    })?;
    let path = config_path(env).ok_or_else(|| anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let body = json!({ "server": args.server.trim_end_matches('/'), "token": token }).to_string();
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(body.as_bytes())?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("Logged in to {}; the token is in {} (mode 0600).", args.server, path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn org(command: OrgCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        OrgCommand::Create { name, email, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body = json!({ "data": { "type": "organizations", "attributes": { "name": name, "email": email } } });
                let org: Document<r::Organization> =
                    c.write(Method::POST, "/api/v2/organizations", body).await?;
                outln!("created organization {} (with project \"Default Project\")", org.data.id);
                Ok(ExitCode::SUCCESS)
            })
        }
        OrgCommand::Token { name, description, expires_in, client } => {
            let expires = expires_at(expires_in.as_deref())?;
            let c = Client::new(&client, env)?;
            let path = format!("/api/v2/organizations/{}/authentication-token", enc(&name));
            let hint = format!(
                "token for organization {name} (shown once; put it in Terraform's credentials block or TERN_TOKEN):"
            );
            block_on(async move { create_token(&c, &path, &description, expires.as_deref(), &hint).await })
        }
        OrgCommand::List { client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let list: ListDocument<r::Organization> =
                    c.get("/api/v2/organizations?page%5Bsize%5D=100").await?;
                for o in list.data {
                    outln!("{}", o.id);
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

pub fn project(command: ProjectCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        ProjectCommand::Create { name, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body = json!({ "data": { "type": "projects", "attributes": { "name": name } } });
                let p: Document<r::Project> = c
                    .write(Method::POST, &format!("/api/v2/organizations/{}/projects", enc(&org)), body)
                    .await?;
                outln!("created project {:?} ({})", p.data.attributes.name, p.data.id);
                Ok(ExitCode::SUCCESS)
            })
        }
        ProjectCommand::List { org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let list: ListDocument<r::Project> = c
                    .get(&format!("/api/v2/organizations/{}/projects?page%5Bsize%5D=100", enc(&org)))
                    .await?;
                for p in list.data {
                    outln!("{}\t{}", p.id, p.attributes.name);
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

fn seconds(flag: &str, value: Option<&str>) -> Result<Option<u64>, UsageError> {
    value.map(|v| crate::settings::duration(flag, v).map(|d| d.as_secs())).transpose()
}

pub fn workspace(command: WorkspaceCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let command_kind = match &command {
        WorkspaceCommand::Lock { .. } => "lock",
        WorkspaceCommand::Unlock { .. } => "unlock",
        _ => "",
    };
    match command {
        WorkspaceCommand::Create {
            name,
            org,
            project,
            auto_apply,
            terraform_version,
            terraform_bin,
            working_directory,
            execution_mode,
            agent_pool,
            plan_timeout,
            apply_timeout,
            tags,
            client,
        } => {
            if terraform_bin.is_some() {
                return Err(UsageError(
                    "--terraform-bin was removed: a workspace chooses a Terraform version (--terraform-version 1.11.4, or latest), among the binaries the runners' operators registered (tern serve/agent --terraform)".into(),
                )
                .into());
            }
            let execution_mode = match (execution_mode, &agent_pool) {
                (None, Some(_)) => Some("agent".to_owned()),
                (mode, _) => mode,
            };
            let plan_timeout = seconds("--plan-timeout", plan_timeout.as_deref())?;
            let apply_timeout = seconds("--apply-timeout", apply_timeout.as_deref())?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let mut relationships = json!({});
                if let Some(p) = project {
                    let list: ListDocument<r::Project> = c
                        .get(&format!("/api/v2/organizations/{}/projects?page%5Bsize%5D=100", enc(&org)))
                        .await?;
                    let found = named(&list, &p).ok_or_else(|| {
                        let hint = did_you_mean(
                            &p,
                            "project",
                            &names(&list),
                            &format!("tern project list --org {org}"),
                            &format!("tern project create NAME --org {org}"),
                        );
                        anyhow!("organization {org} has no project {p:?}: {hint}")
                    })?;
                    relationships = json!({ "project": { "data": { "type": "projects", "id": found.id } } });
                }
                let mut attributes = json!({ "name": name, "auto-apply": auto_apply });
                if let Some(pool) = agent_pool {
                    attributes["agent-pool-id"] = json!(c.pool_id(&org, &pool).await?);
                }
                for (k, v) in [
                    ("terraform-version", terraform_version.map(Value::from)),
                    ("working-directory", working_directory.map(Value::from)),
                    ("execution-mode", execution_mode.map(Value::from)),
                    ("plan-timeout", plan_timeout.map(Value::from)),
                    ("apply-timeout", apply_timeout.map(Value::from)),
                ] {
                    if let Some(v) = v {
                        attributes[k] = v;
                    }
                }
                if !tags.is_empty() {
                    let tags: Vec<Value> =
                        tags.iter().map(|t| json!({ "type": "tags", "attributes": { "name": t } })).collect();
                    relationships["tags"] = json!({ "data": tags });
                }
                let body = json!({ "data": { "type": "workspaces", "attributes": attributes, "relationships": relationships } });
                let ws: Document<r::Workspace> = c
                    .write(Method::POST, &format!("/api/v2/organizations/{}/workspaces", enc(&org)), body)
                    .await?;
                outln!("created workspace {} ({})", ws.data.attributes.name, ws.data.id);
                Ok(ExitCode::SUCCESS)
            })
        }
        WorkspaceCommand::List { org, search, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let mut page = 1;
                let mut listed = 0;
                loop {
                    let mut path = format!(
                        "/api/v2/organizations/{}/workspaces?page%5Bsize%5D=100&page%5Bnumber%5D={page}",
                        enc(&org)
                    );
                    if let Some(s) = &search {
                        path.push_str(&format!("&search%5Bname%5D={}", enc(s)));
                    }
                    let list: ListDocument<r::Workspace> = c.get(&path).await?;
                    for w in &list.data {
                        outln!("{}\t{}", w.attributes.name, w.id);
                    }
                    listed += list.data.len();
                    match list.meta.and_then(|m| m.pagination.next_page) {
                        Some(n) => page = n,
                        None => break,
                    }
                }
                if listed == 0 {
                    // Standard output stays empty for scripts; a person learns why.
                    match &search {
                        Some(s) => eprintln!(
                            "no workspace of {org} whose name contains {s:?} is visible to this token"
                        ),
                        None => eprintln!(
                            "no workspace of {org} is visible to this token (`tern workspace create` makes one; a team member sees what the team's access gives)"
                        ),
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        WorkspaceCommand::Update {
            name,
            org,
            rename,
            description,
            auto_apply,
            terraform_version,
            working_directory,
            execution_mode,
            agent_pool,
            plan_timeout,
            apply_timeout,
            client,
        } => {
            let execution_mode = match (execution_mode, &agent_pool) {
                (None, Some(_)) => Some("agent".to_owned()),
                (mode, _) => mode,
            };
            let plan_timeout = seconds("--plan-timeout", plan_timeout.as_deref())?;
            let apply_timeout = seconds("--apply-timeout", apply_timeout.as_deref())?;
            let mut attributes = json!({});
            for (k, v) in [
                ("name", rename.map(Value::from)),
                ("description", description.map(Value::from)),
                ("auto-apply", auto_apply.map(Value::from)),
                ("terraform-version", terraform_version.map(Value::from)),
                ("working-directory", working_directory.map(Value::from)),
                ("execution-mode", execution_mode.map(Value::from)),
                ("plan-timeout", plan_timeout.map(Value::from)),
                ("apply-timeout", apply_timeout.map(Value::from)),
            ] {
                if let Some(v) = v {
                    attributes[k] = v;
                }
            }
            if attributes.as_object().is_some_and(|a| a.is_empty()) && agent_pool.is_none() {
                return Err(UsageError(
                    "nothing to change: give at least one option (tern workspace update --help lists them)"
                        .into(),
                )
                .into());
            }
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &name).await?;
                if let Some(pool) = agent_pool {
                    attributes["agent-pool-id"] = json!(c.pool_id(&org, &pool).await?);
                }
                let body = json!({ "data": { "type": "workspaces", "attributes": attributes } });
                let updated: Document<r::Workspace> =
                    c.write(Method::PATCH, &format!("/api/v2/workspaces/{}", ws.id), body).await?;
                outln!("updated workspace {}", updated.data.attributes.name);
                Ok(ExitCode::SUCCESS)
            })
        }
        WorkspaceCommand::Delete { name, org, safe, yes, client } => {
            if !yes {
                return Err(UsageError(format!(
                    "deleting workspace {name} removes its runs, state versions and variables for good: add --yes (and --safe to refuse while its state manages resources)"
                ))
                .into());
            }
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &name).await?;
                let id = ws.id;
                if safe {
                    c.act(Method::POST, &format!("/api/v2/workspaces/{id}/actions/safe-delete"), json!({}))
                        .await?;
                } else {
                    c.send(Method::DELETE, &format!("/api/v2/workspaces/{id}"), None, false).await?;
                }
                outln!("deleted workspace {name}");
                Ok(ExitCode::SUCCESS)
            })
        }
        WorkspaceCommand::Lock { name, org, client } | WorkspaceCommand::Unlock { name, org, client } => {
            let action = if matches!(command_kind, "lock") { "lock" } else { "unlock" };
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &name).await?;
                c.act(Method::POST, &format!("/api/v2/workspaces/{}/actions/{action}", ws.id), json!({}))
                    .await?;
                outln!("{action}ed workspace {name}");
                Ok(ExitCode::SUCCESS)
            })
        }
        WorkspaceCommand::Show { name, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &name).await?;
                let project = match ws.relationships.project.id() {
                    Some(id) => {
                        c.get::<Document<r::Project>>(&format!("/api/v2/projects/{}", enc(id)))
                            .await?
                            .data
                            .attributes
                            .name
                    }
                    None => "-".to_owned(),
                };
                let a = &ws.attributes;
                outln!("name:              {}", a.name);
                outln!("id:                {}", ws.id);
                outln!("organization:      {org}");
                outln!("project:           {project}");
                for (label, value) in [
                    ("execution mode", a.execution_mode.clone()),
                    ("agent pool", or_dash(a.agent_pool_id.as_deref()).to_owned()),
                    ("auto-apply", a.auto_apply.to_string()),
                    ("terraform", a.terraform_version.clone()),
                    ("working directory", a.working_directory.clone()),
                    ("plan timeout (s)", a.plan_timeout.to_string()),
                    ("apply timeout (s)", a.apply_timeout.to_string()),
                    ("locked", a.locked.to_string()),
                ] {
                    outln!("{:<19}{value}", format!("{label}:"));
                }
                outln!(
                    "tags:              {}",
                    if a.tag_names.is_empty() { "-".to_owned() } else { a.tag_names.join(", ") }
                );
                // The run that holds the workspace (tern's `active-run`), and the newest (TFE's
                // `current-run`, whatever its status).
                let rels = &ws.relationships;
                outln!("active run:        {}", or_dash(rels.active_run.id()));
                outln!("latest run:        {}", or_dash(rels.current_run.id()));
                outln!("current state:     {}", or_dash(rels.current_state_version.id()));
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// Where a variable command acts: the list path of the variables and how to name the owner.
struct VarPlace {
    /// `GET`/`POST` here lists and creates; `{list}/{id}` is one variable.
    list: String,
    /// "workspace prod" or "variable set aws".
    owner: String,
}

impl Client {
    async fn var_place(&self, org: &str, owner: &VarOwner) -> anyhow::Result<VarPlace> {
        match (&owner.workspace, &owner.varset) {
            (Some(ws), _) => Ok(VarPlace {
                list: format!("/api/v2/workspaces/{}/vars", enc(&self.workspace(org, ws).await?.id)),
                owner: format!("workspace {ws}"),
            }),
            (None, Some(set)) => Ok(VarPlace {
                list: format!("/api/v2/varsets/{}/relationships/vars", enc(&self.varset(org, set).await?.id)),
                owner: format!("variable set {set}"),
            }),
            (None, None) => Err(UsageError("give --workspace NAME or --varset NAME".into()).into()),
        }
    }

    /// Variable set `name` of `org`; if there is none, the error names the closest.
    async fn varset(&self, org: &str, name: &str) -> anyhow::Result<r::VariableSet> {
        let list: ListDocument<r::VariableSet> =
            self.get(&format!("/api/v2/organizations/{}/varsets?page%5Bsize%5D=100", enc(org))).await?;
        let names: Vec<String> = list.data.iter().map(|s| s.attributes.name.clone()).collect();
        list.data.into_iter().find(|s| s.attributes.name == name).ok_or_else(|| {
            let hint = did_you_mean(
                name,
                "variable set",
                &names,
                &format!("tern varset list --org {org}"),
                &format!("tern varset create NAME --org {org}"),
            );
            anyhow!("organization {org} has no variable set {name:?}: {hint}")
        })
    }
}

pub fn var(command: VarCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        VarCommand::Set {
            assignment,
            org,
            owner,
            env: _,
            terraform,
            sensitive,
            hcl,
            description,
            client,
        } => {
            let (key, value) = match assignment.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (assignment.clone(), value_from_stdin(&assignment)?),
            };
            let category = if terraform { "terraform" } else { "env" };
            let c = Client::new(&client, env)?;
            block_on(async move {
                let place = c.var_place(&org, &owner).await?;
                let existing = c.find_var(&place.list, &key, category).await?;
                let mut attributes = json!({ "key": key, "value": value, "category": category, "hcl": hcl, "description": description });
                if sensitive {
                    attributes["sensitive"] = json!(true);
                }
                let body = json!({ "data": { "type": "vars", "attributes": attributes } });
                match existing {
                    Some(id) => {
                        c.act(Method::PATCH, &format!("{}/{}", place.list, enc(&id)), body).await?;
                        outln!("updated {category} variable {key} of {}", place.owner);
                    }
                    None => {
                        c.act(Method::POST, &place.list, body).await?;
                        outln!(
                            "created {category} variable {key}{} of {}",
                            if sensitive { " (sensitive)" } else { "" },
                            place.owner
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        VarCommand::List { org, owner, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let place = c.var_place(&org, &owner).await?;
                let vars: Document<Vec<r::Variable>> = c.get(&place.list).await?;
                print_vars(&vars.data);
                Ok(ExitCode::SUCCESS)
            })
        }
        VarCommand::Delete { key, org, owner, terraform, client } => {
            let category = if terraform { "terraform" } else { "env" };
            let c = Client::new(&client, env)?;
            block_on(async move {
                let place = c.var_place(&org, &owner).await?;
                let id = c
                    .find_var(&place.list, &key, category)
                    .await?
                    .ok_or_else(|| anyhow!("{} has no {category} variable {key}", place.owner))?;
                c.send(Method::DELETE, &format!("{}/{}", place.list, enc(&id)), None, false).await?;
                outln!("deleted {category} variable {key} of {}", place.owner);
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// One variable per line: kind, name, value (`<sensitive>` for write-only ones).
fn print_vars(vars: &[r::Variable]) {
    for v in vars {
        let a = &v.attributes;
        let value = if a.sensitive { "<sensitive>" } else { or_dash(a.value.as_deref()) };
        outln!("{:<9}\t{}\t{}", a.category, a.key, value);
    }
}

pub fn varset(command: VarsetCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        VarsetCommand::Create { name, org, description, global, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body = json!({ "data": { "type": "varsets", "attributes": {
                    "name": name, "description": description, "global": global,
                } } });
                let set: Document<r::VariableSet> = c
                    .write(Method::POST, &format!("/api/v2/organizations/{}/varsets", enc(&org)), body)
                    .await?;
                outln!("created variable set {} ({})", set.data.attributes.name, set.data.id);
                eprintln!(
                    "next: its variables with `tern var set KEY=VALUE --varset {name} --org {org}`{}",
                    if global {
                        " (it applies to every workspace)"
                    } else {
                        ", then `tern varset apply` to workspaces or projects"
                    }
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        VarsetCommand::List { org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let list: ListDocument<r::VariableSet> =
                    c.get(&format!("/api/v2/organizations/{}/varsets?page%5Bsize%5D=100", enc(&org))).await?;
                for s in list.data {
                    let a = &s.attributes;
                    let scope = if a.global {
                        "global".to_owned()
                    } else {
                        format!("{} workspaces, {} projects", a.workspace_count, a.project_count)
                    };
                    outln!("{}\t{}\t{} variables\t{scope}", s.id, a.name, a.var_count);
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        VarsetCommand::Show { name, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let set = c.varset(&org, &name).await?;
                let a = &set.attributes;
                outln!("name:         {}", a.name);
                outln!("id:           {}", set.id);
                outln!("description:  {}", if a.description.is_empty() { "-" } else { &a.description });
                if a.global {
                    outln!("applies to:   every workspace of {org}");
                } else {
                    let workspaces = c.names_of_workspaces(set.relationships.workspaces.ids()).await?;
                    let projects = c.names_of_projects(set.relationships.projects.ids()).await?;
                    outln!(
                        "workspaces:   {}",
                        if workspaces.is_empty() { "-".into() } else { workspaces.join(", ") }
                    );
                    outln!(
                        "projects:     {}",
                        if projects.is_empty() { "-".into() } else { projects.join(", ") }
                    );
                }
                let vars: Document<Vec<r::Variable>> =
                    c.get(&format!("/api/v2/varsets/{}/relationships/vars", enc(&set.id))).await?;
                outln!("variables:");
                print_vars(&vars.data);
                Ok(ExitCode::SUCCESS)
            })
        }
        VarsetCommand::Apply { name, org, targets, client } => {
            varset_targets(true, &name, &org, targets, &client, env)
        }
        VarsetCommand::Remove { name, org, targets, client } => {
            varset_targets(false, &name, &org, targets, &client, env)
        }
        VarsetCommand::Delete { name, org, yes, client } => {
            if !yes {
                return Err(UsageError(format!(
                    "deleting variable set {name} removes its variables from every workspace it applies to: add --yes"
                ))
                .into());
            }
            let c = Client::new(&client, env)?;
            block_on(async move {
                let set = c.varset(&org, &name).await?;
                c.send(Method::DELETE, &format!("/api/v2/varsets/{}", enc(&set.id)), None, false).await?;
                outln!("deleted variable set {name}");
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// Apply variable set `name` to (or, `apply` false, remove it from) workspaces and projects.
fn varset_targets(
    apply: bool,
    name: &str,
    org: &str,
    targets: VarsetTargets,
    client: &ClientArgs,
    env: Env<'_>,
) -> anyhow::Result<ExitCode> {
    let c = Client::new(client, env)?;
    block_on(async move {
        let set = c.varset(org, name).await?;
        let method = if apply { Method::POST } else { Method::DELETE };
        let mut workspaces = Vec::new();
        for ws in &targets.workspace {
            workspaces.push(json!({ "type": "workspaces", "id": c.workspace(org, ws).await?.id }));
        }
        let mut projects = Vec::new();
        if !targets.project.is_empty() {
            let list: ListDocument<r::Project> =
                c.get(&format!("/api/v2/organizations/{}/projects?page%5Bsize%5D=100", enc(org))).await?;
            for p in &targets.project {
                let found = named(&list, p).ok_or_else(|| {
                    let hint = did_you_mean(
                        p,
                        "project",
                        &names(&list),
                        &format!("tern project list --org {org}"),
                        &format!("tern project create NAME --org {org}"),
                    );
                    anyhow!("organization {org} has no project {p:?}: {hint}")
                })?;
                projects.push(json!({ "type": "projects", "id": found.id }));
            }
        }
        let base = format!("/api/v2/varsets/{}/relationships", enc(&set.id));
        for (kind, list) in [("workspaces", workspaces), ("projects", projects)] {
            if !list.is_empty() {
                c.act(method.clone(), &format!("{base}/{kind}"), json!({ "data": list })).await?;
            }
        }
        let mut what: Vec<String> = targets.workspace.iter().map(|w| format!("workspace {w}")).collect();
        what.extend(targets.project.iter().map(|p| format!("project {p}")));
        if apply {
            outln!("variable set {name} now applies to {}", what.join(", "));
        } else {
            outln!("variable set {name} no longer applies to {}", what.join(", "));
        }
        if set.attributes.global {
            eprintln!("note: {name} is global, so it still applies to every workspace of {org}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

impl Client {
    /// The names of workspaces by id.
    async fn names_of_workspaces(&self, ids: impl Iterator<Item = &str>) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for id in ids {
            let ws: Document<r::Workspace> = self.get(&format!("/api/v2/workspaces/{}", enc(id))).await?;
            out.push(ws.data.attributes.name);
        }
        Ok(out)
    }

    /// The names of projects by id.
    async fn names_of_projects(&self, ids: impl Iterator<Item = &str>) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for id in ids {
            let p: Document<r::Project> = self.get(&format!("/api/v2/projects/{}", enc(id))).await?;
            out.push(p.data.attributes.name);
        }
        Ok(out)
    }
}

/// The value of variable `key` from standard input (one line asked for at a terminal, else all
/// of it, without its final newline). Nothing at all is refused: an empty value is set on purpose
/// with `KEY=`, never by a forgotten `< file`.
fn value_from_stdin(key: &str) -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut value = String::new();
    if terminal {
        eprint!("Value of {key}: ");
        let _ = std::io::stderr().flush();
        stdin.read_line(&mut value).context("reading the value from the terminal")?;
        value = value.strip_suffix('\n').unwrap_or(&value).to_owned();
    } else {
        stdin.read_to_string(&mut value).context("reading the value from standard input")?;
        value = value.strip_suffix('\n').unwrap_or(&value).to_owned();
    }
    if value.is_empty() {
        let source = if terminal { "no value was typed" } else { "standard input is empty" };
        return Err(UsageError(format!(
            "{source}, so {key} was not set: give the value as `{key}=VALUE` or on standard input (`tern var set {key} … < file`); to set an empty value on purpose, write `{key}=`"
        ))
        .into());
    }
    Ok(value)
}

/// A log without TFE's STX/ETX framing bytes.
fn unframe(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().copied().filter(|b| *b != 0x02 && *b != 0x03).collect()
}

const FINAL: &[&str] = &["planned_and_finished", "applied", "discarded", "canceled", "errored"];

/// Print a run's logs as they grow until it is over (or waits for confirmation); the exit code
/// says how it ended.
async fn follow(c: &Client, run_id: &str, from_apply: bool) -> anyhow::Result<ExitCode> {
    let progress = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    } else {
        None
    };
    let mut offsets = [0usize, 0usize];
    type Related = fn(&r::Run) -> &tern_protocol::jsonapi::ToOne;
    let phases: [(&str, Related); 2] =
        [("plans", |r| &r.relationships.plan), ("applies", |r| &r.relationships.apply)];
    let start = usize::from(from_apply);
    let mut told = String::new();
    loop {
        let run = c.get::<Document<r::Run>>(&format!("/api/v2/runs/{}", enc(run_id))).await?.data;
        let status = run.attributes.status.clone();
        if let Some(bar) = &progress {
            bar.set_message(format!("run {run_id}: {status}"));
        }
        // Why it waits, once per change (no agent of its pool, no worker with its version, …).
        let waiting = run.attributes.waiting_reason.clone().unwrap_or_default();
        if waiting != told {
            if !waiting.is_empty() {
                match &progress {
                    Some(bar) => bar.suspend(|| eprintln!("run {run_id}: {waiting}")),
                    None => eprintln!("run {run_id}: {waiting}"),
                }
            }
            told = waiting;
        }
        for (i, (kind, rel)) in phases.iter().enumerate().skip(start) {
            let id = or_dash(rel(&run).id());
            let response = c
                .send(Method::GET, &format!("/api/v2/{kind}/{id}/logs?offset={}", offsets[i]), None, false)
                .await?;
            let bytes = response.bytes().await?;
            offsets[i] += bytes.len();
            let shown = unframe(&bytes);
            if !shown.is_empty() {
                let out = String::from_utf8_lossy(&shown);
                match &progress {
                    Some(bar) => bar.suspend(|| out!("{out}")),
                    None => out!("{out}"),
                }
                if let Err(e) = std::io::stdout().flush() {
                    crate::stdout_failed(&e);
                }
            }
        }
        if FINAL.contains(&status.as_str()) || status == "planned" {
            if let Some(bar) = progress {
                bar.finish_and_clear();
            }
            let reason = run.attributes.error_message.as_deref();
            match status.as_str() {
                "planned" => {
                    eprintln!(
                        "run {run_id} is planned: confirm with `tern run apply {run_id} --follow`, or `tern run discard {run_id}`"
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                "applied" | "planned_and_finished" => {
                    eprintln!("run {run_id}: {status}");
                    return Ok(ExitCode::SUCCESS);
                }
                _ => {
                    eprintln!(
                        "run {run_id}: {status}{}",
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    );
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

pub fn run(command: RunCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        RunCommand::Start {
            org,
            workspace,
            dir,
            auto_apply,
            plan_only,
            destroy,
            message,
            no_follow,
            client,
        } => {
            if !dir.is_dir() {
                return Err(UsageError(format!("--dir {}: not a directory", dir.display())).into());
            }
            let tarball = tern_archive::pack(&dir).with_context(|| format!("packing {}", dir.display()))?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &workspace).await?;
                let ws_id = ws.id.clone();
                // A directory without Terraform files plans to destroy everything: say so here.
                let working = ws.attributes.working_directory.as_str();
                let holds = if working.is_empty() { dir.clone() } else { dir.join(working) };
                let has_tf = std::fs::read_dir(&holds).is_ok_and(|entries| {
                    entries.flatten().any(|e| tern_archive::is_terraform_file(&e.path()))
                });
                if !has_tf {
                    return Err(UsageError(format!(
                        "--dir {}: {} holds no Terraform files (*.tf or *.tf.json); a run of it would destroy everything in {workspace}'s state. Give --dir the directory of your configuration (to destroy, add --destroy to a run of that configuration)",
                        dir.display(),
                        holds.display()
                    ))
                    .into());
                }
                let body = json!({ "data": { "type": "configuration-versions", "attributes": { "auto-queue-runs": false } } });
                let cv: Document<r::ConfigurationVersion> = c
                    .write(Method::POST, &format!("/api/v2/workspaces/{ws_id}/configuration-versions"), body)
                    .await?;
                let upload = cv.data.attributes.upload_url.clone().ok_or_else(|| {
                    anyhow!("the server gave configuration version {} no upload URL", cv.data.id)
                })?;
                c.send(Method::PUT, &upload, Some(tarball.clone()), false)
                    .await
                    .context("uploading the configuration")?;
                eprintln!("uploaded {} ({} bytes compressed)", dir.display(), tarball.len());
                let mut attributes = json!({ "is-destroy": destroy, "plan-only": plan_only });
                if auto_apply {
                    attributes["auto-apply"] = json!(true);
                }
                if let Some(m) = message {
                    attributes["message"] = json!(m);
                }
                let body = json!({ "data": { "type": "runs", "attributes": attributes, "relationships": {
                    "workspace": { "data": { "type": "workspaces", "id": ws_id } },
                    "configuration-version": { "data": { "type": "configuration-versions", "id": cv.data.id } },
                } } });
                let run: Document<r::Run> = c.write(Method::POST, "/api/v2/runs", body).await?;
                let run_id = run.data.id;
                outln!("{run_id}");
                if no_follow {
                    return Ok(ExitCode::SUCCESS);
                }
                follow(&c, &run_id, false).await
            })
        }
        RunCommand::Show { run, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let r = c.get::<Document<r::Run>>(&format!("/api/v2/runs/{}", enc(&run))).await?.data;
                let a = &r.attributes;
                outln!("run:          {}", r.id);
                outln!("status:       {}", a.status);
                outln!("message:      {}", a.message);
                outln!("has changes:  {}", a.has_changes);
                outln!("auto-apply:   {}", a.auto_apply);
                outln!("created:      {}", a.created_at);
                if let Some(v) = &a.terraform_version {
                    outln!("terraform:    {v}");
                }
                if let Some(w) = &a.waiting_reason {
                    outln!("waiting:      {w}");
                }
                if let Some(e) = &a.error_message {
                    outln!("error:        {e}");
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        RunCommand::List { org, workspace, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &workspace).await?;
                let runs: ListDocument<r::Run> =
                    c.get(&format!("/api/v2/workspaces/{}/runs?page%5Bsize%5D=50", ws.id)).await?;
                for r in runs.data {
                    let a = r.attributes;
                    outln!("{}\t{:<20}\t{}\t{}", r.id, a.status, a.created_at, a.message);
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        RunCommand::Apply { run, follow: f, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                c.act(Method::POST, &format!("/api/v2/runs/{}/actions/apply", enc(&run)), json!({})).await?;
                eprintln!("run {run} confirmed: the apply is queued");
                if f { follow(&c, &run, true).await } else { Ok(ExitCode::SUCCESS) }
            })
        }
        RunCommand::Discard { run, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                c.act(Method::POST, &format!("/api/v2/runs/{}/actions/discard", enc(&run)), json!({}))
                    .await?;
                eprintln!("run {run} discarded");
                Ok(ExitCode::SUCCESS)
            })
        }
        RunCommand::Cancel { run, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                c.act(Method::POST, &format!("/api/v2/runs/{}/actions/cancel", enc(&run)), json!({})).await?;
                eprintln!(
                    "run {run}: cancel requested (a running phase is interrupted, then killed after its grace period)"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        RunCommand::Logs { run, follow: f, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                if f {
                    return follow(&c, &run, false).await;
                }
                let r = c.get::<Document<r::Run>>(&format!("/api/v2/runs/{}", enc(&run))).await?.data;
                for (kind, rel) in [("plans", &r.relationships.plan), ("applies", &r.relationships.apply)] {
                    let id = or_dash(rel.id());
                    let bytes = c
                        .send(Method::GET, &format!("/api/v2/{kind}/{id}/logs"), None, false)
                        .await?
                        .bytes()
                        .await?;
                    let shown = unframe(&bytes);
                    out!("{}", String::from_utf8_lossy(&shown));
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

pub fn state(command: StateCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        StateCommand::Pull { org, workspace, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &workspace).await?;
                let sv: Document<r::StateVersion> =
                    c.get(&format!("/api/v2/workspaces/{}/current-state-version", ws.id)).await?;
                let url = sv.data.attributes.hosted_state_download_url.ok_or_else(|| {
                    anyhow!(
                        "state version {} has no download URL yet (its state was never uploaded)",
                        sv.data.id
                    )
                })?;
                let bytes = c.send(Method::GET, &url, None, false).await?.bytes().await?;
                if let Err(e) = std::io::stdout().write_all(&bytes) {
                    crate::stdout_failed(&e);
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        StateCommand::List { org, workspace, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let ws = c.workspace(&org, &workspace).await?;
                let list: ListDocument<r::StateVersion> =
                    c.get(&format!("/api/v2/workspaces/{}/state-versions?page%5Bsize%5D=100", ws.id)).await?;
                for v in list.data {
                    outln!(
                        "{}\tserial {}\t{}\trun {}",
                        v.id,
                        v.attributes.serial,
                        v.attributes.created_at,
                        or_dash(v.relationships.run.id())
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// `--expires-in`: the RFC 3339 time the token expires at (TFE's `expired-at`).
fn expires_at(expires_in: Option<&str>) -> Result<Option<String>, UsageError> {
    let Some(d) = expires_in else { return Ok(None) };
    let d = crate::settings::duration("--expires-in", d)?;
    if d.is_zero() {
        return Err(UsageError("--expires-in must be longer than 0s".into()));
    }
    Ok(Some(
        humantime::format_rfc3339_seconds(tern_types::Clock::now(&tern_types::SystemClock) + d).to_string(),
    ))
}

/// Create a token at `path`; the hint goes to stderr, the token (shown once) to stdout.
async fn create_token(
    c: &Client,
    path: &str,
    description: &str,
    expires: Option<&str>,
    hint: &str,
) -> anyhow::Result<ExitCode> {
    let mut attributes = json!({});
    if !description.is_empty() {
        attributes["description"] = json!(description);
    }
    if let Some(at) = expires {
        attributes["expired-at"] = json!(at);
    }
    let body = json!({ "data": { "type": "authentication-tokens", "attributes": attributes } });
    let t: Document<r::AuthenticationToken> = c.write(Method::POST, path, body).await?;
    let token = t
        .data
        .attributes
        .token
        .ok_or_else(|| anyhow!("the server created token {} but did not show it", t.data.id))?;
    match &t.data.attributes.expired_at {
        Some(Some(at)) => eprintln!("{hint} (expires {at}; id {})", t.data.id),
        _ => eprintln!("{hint} (id {}; `tern token revoke` ends it)", t.data.id),
    }
    // The one place a created token is shown: to the user who asked for it, once.
    outln!("{}", token.expose_secret());
    Ok(ExitCode::SUCCESS)
}

pub fn agent_token(command: AgentTokenCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        AgentTokenCommand::Create { org, description, expires_in, client } => {
            let expires = expires_at(expires_in.as_deref())?;
            let c = Client::new(&client, env)?;
            let path = format!("/api/v2/organizations/{}/agent-tokens", enc(&org));
            let hint =
                format!("agent token for {org} (shown once; give it to `tern agent` as TERN_AGENT_TOKEN):");
            block_on(async move { create_token(&c, &path, &description, expires.as_deref(), &hint).await })
        }
    }
}

pub fn agent_pool(command: AgentPoolCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        AgentPoolCommand::Create { name, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body = json!({ "data": { "type": "agent-pools", "attributes": { "name": name } } });
                let p: Document<r::AgentPool> = c
                    .write(Method::POST, &format!("/api/v2/organizations/{}/agent-pools", enc(&org)), body)
                    .await?;
                let name = &p.data.attributes.name;
                outln!("created agent pool {name:?} ({})", p.data.id);
                eprintln!(
                    "next: a token for its agents with `tern agent-pool token {name} --org {org}`, and workspaces with --agent-pool"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        AgentPoolCommand::List { org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let list: ListDocument<r::AgentPool> = c
                    .get(&format!("/api/v2/organizations/{}/agent-pools?page%5Bsize%5D=100", enc(&org)))
                    .await?;
                for p in list.data {
                    outln!(
                        "{}\t{}\t{} agents\t{} workspaces",
                        p.id,
                        p.attributes.name,
                        p.attributes.agent_count,
                        p.relationships.workspaces.data.len()
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        AgentPoolCommand::Token { pool, org, description, expires_in, client } => {
            let expires = expires_at(expires_in.as_deref())?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let id = c.pool_id(&org, &pool).await?;
                let path = format!("/api/v2/agent-pools/{}/authentication-tokens", enc(&id));
                let hint = format!(
                    "token for the agents of pool {pool} (shown once; give it to `tern agent` as TERN_AGENT_TOKEN):"
                );
                create_token(&c, &path, &description, expires.as_deref(), &hint).await
            })
        }
        AgentPoolCommand::Delete { pool, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let id = c.pool_id(&org, &pool).await?;
                c.send(Method::DELETE, &format!("/api/v2/agent-pools/{}", enc(&id)), None, false).await?;
                outln!("deleted agent pool {pool} and its tokens");
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

pub fn keys(command: crate::cli::KeysCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    use crate::cli::KeysCommand;
    let print = |list: &Document<Vec<r::SigningKey>>| {
        outln!("{:<44} {:<6} {:<8} {:<21} PUBLISHED UNTIL", "KID", "ALG", "STATE", "SIGNS FROM");
        for k in &list.data {
            let a = &k.attributes;
            outln!(
                "{:<44} {:<6} {:<8} {:<21} {}",
                k.id,
                a.algorithm,
                a.state,
                a.activates_at,
                or_dash(a.publish_until.as_deref())
            );
        }
    };
    match command {
        KeysCommand::List { client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                print(&c.get("/api/v2/admin/signing-keys").await?);
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::Rotate { activate_in, client } => {
            let seconds = seconds("--activate-in", activate_in.as_deref())?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let mut attributes = json!({});
                if let Some(s) = seconds {
                    attributes["activate-in"] = json!(s);
                }
                let body = json!({ "data": { "type": "signing-keys", "attributes": attributes } });
                let key: Document<r::SigningKey> =
                    c.write(Method::POST, "/api/v2/admin/signing-keys/actions/rotate", body).await?;
                eprintln!(
                    "published key {} ({}); it signs from {}, and the current key then stays published until its tokens expire",
                    key.data.id, key.data.attributes.algorithm, key.data.attributes.activates_at
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::Retire { kid, unpublish, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body =
                    json!({ "data": { "type": "signing-keys", "attributes": { "unpublish": unpublish } } });
                let list: Document<Vec<r::SigningKey>> = c
                    .write(
                        Method::POST,
                        &format!("/api/v2/admin/signing-keys/{}/actions/retire", enc(&kid)),
                        body,
                    )
                    .await?;
                eprintln!("retired {kid}{}", if unpublish { " and removed it from the JWKS" } else { "" });
                print(&list);
                Ok(ExitCode::SUCCESS)
            })
        }
        KeysCommand::ExportJwks { out, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let path = "/api/v2/admin/jwks";
                let body = c.send(Method::GET, path, None, false).await?.bytes().await?;
                // Only what is a JWKS is written: a proxy's page would be uploaded to a cloud.
                let jwks = tern_trust::UploadedJwks::parse("(the server's answer)", &String::from_utf8_lossy(&body))
                    .with_context(|| format!("the answer to GET {path} is not the issuer's JWKS (is the server another version of tern?)"))?;
                match out {
                    Some(file) => {
                        std::fs::write(&file, &body)
                            .with_context(|| format!("writing {}", file.display()))?;
                        eprintln!(
                            "wrote the JWKS (keys {}) to {}; upload it again before the next key signs (`tern keys list` shows when)",
                            jwks.kids().join(", "),
                            file.display()
                        );
                    }
                    None => {
                        out!("{}", String::from_utf8_lossy(&body));
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// `tern token list`: the server's API tokens, never their secrets.
pub fn token_list(org: Option<String>, client: &ClientArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let c = Client::new(client, env)?;
    block_on(async move {
        let path = match &org {
            Some(org) => format!("/api/v2/organizations/{}/authentication-tokens", enc(org)),
            None => "/api/v2/admin/authentication-tokens".to_owned(),
        };
        let list: ListDocument<r::AuthenticationToken> = c.get(&path).await?;
        let now =
            humantime::format_rfc3339_seconds(tern_types::Clock::now(&tern_types::SystemClock)).to_string();
        outln!(
            "{:<24} {:<13} {:<21} {:<21} {:<21} DESCRIPTION",
            "ID",
            "KIND",
            "CREATED",
            "LAST USED",
            "EXPIRES"
        );
        for t in list.data {
            let a = &t.attributes;
            let expires = match a.expired_at.clone().flatten() {
                // RFC 3339 times of one format compare as text.
                Some(at) if at <= now => format!("{at} (expired)"),
                Some(at) => at,
                None => "never".to_owned(),
            };
            let kind = match (a.kind.as_deref(), t.relationships.agent_pool.as_ref().and_then(|p| p.id())) {
                (Some("agent"), Some(_)) => "agent (pool)".to_owned(),
                (kind, _) => or_dash(kind).to_owned(),
            };
            outln!(
                "{:<24} {:<13} {:<21} {:<21} {:<21} {}",
                t.id,
                kind,
                a.created_at,
                or_dash(a.last_used_at.clone().flatten().as_deref()),
                expires,
                a.description
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `tern token revoke ID`.
pub fn token_revoke(id: &str, client: &ClientArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let c = Client::new(client, env)?;
    block_on(async move {
        c.send(Method::DELETE, &format!("/api/v2/authentication-tokens/{}", enc(id)), None, false).await?;
        outln!("revoked token {id}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `--since`/`--until`: a duration back from now, or an RFC 3339 time; as RFC 3339.
fn when(flag: &str, value: Option<&str>) -> Result<Option<String>, UsageError> {
    let Some(v) = value else { return Ok(None) };
    if humantime::parse_rfc3339_weak(v).is_ok() {
        return Ok(Some(v.to_owned()));
    }
    let back = crate::settings::duration(flag, v).map_err(|_| {
        UsageError(format!(
            "{flag} {v:?}: give a duration back from now (24h, 7d) or an RFC 3339 time (2026-12-01T00:00:00Z)"
        ))
    })?;
    let now = tern_types::Clock::now(&tern_types::SystemClock);
    let at = now.checked_sub(back).unwrap_or(std::time::UNIX_EPOCH);
    Ok(Some(humantime::format_rfc3339_seconds(at).to_string()))
}

/// `tern audit`: every page of the trail, as a table or JSON lines.
pub fn audit(args: AuditArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let since = when("--since", args.since.as_deref())?;
    let until = when("--until", args.until.as_deref())?;
    let c = Client::new(&args.client, env)?;
    block_on(async move {
        let base = match &args.org {
            Some(org) => format!("/api/v2/organizations/{}/audit-trail", enc(org)),
            None => "/api/v2/admin/audit-trail".to_owned(),
        };
        let mut query = String::new();
        for (name, value) in [
            ("since", &since),
            ("until", &until),
            ("actor", &args.actor),
            ("workspace", &args.workspace),
            ("action", &args.action),
        ] {
            if let Some(v) = value {
                query.push_str(&format!("&filter%5B{name}%5D={}", enc(v)));
            }
        }
        if !args.json {
            outln!("{:<21} {:<16} {:<26} {:<24} DETAILS", "TIME", "ACTION", "ACTOR", "WORKSPACE / RUN");
        }
        let mut page = 1;
        loop {
            let path = format!("{base}?page%5Bsize%5D=100&page%5Bnumber%5D={page}{query}");
            let list: ListDocument<r::AuditEvent> = c.get(&path).await?;
            for e in &list.data {
                let a = &e.attributes;
                if args.json {
                    let line = json!({
                        "id": e.id, "timestamp": a.timestamp, "action": a.action, "actor": a.actor,
                        "actor-kind": a.actor_kind, "organization": e.relationships.organization.id(),
                        "workspace": e.relationships.workspace.id(), "run": e.relationships.run.id(),
                        "details": a.details,
                    });
                    outln!("{line}");
                } else {
                    let place = match (e.relationships.workspace.id(), e.relationships.run.id()) {
                        (Some(ws), Some(run)) => format!("{ws} {run}"),
                        (Some(ws), None) => ws.to_owned(),
                        _ => "-".to_owned(),
                    };
                    outln!(
                        "{:<21} {:<16} {:<26} {:<24} {}",
                        a.timestamp,
                        a.action,
                        format!("{} ({})", a.actor, a.actor_kind),
                        place,
                        a.details
                    );
                }
            }
            match list.meta.and_then(|m| m.pagination.next_page) {
                Some(n) => page = n,
                None => break,
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
