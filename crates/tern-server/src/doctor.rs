//! The checks `tern doctor` makes of an installation, as a cloud and an operator would see it,
//! written once for both places that run them: the CLI (`tern doctor`, with `tern serve`'s
//! flags, from outside) and the site administrators' page `/app/admin/doctor` (from inside the
//! running server: its issuer, store and signing key). Each check adds [`Finding`]s to a
//! [`Report`]; what to check with (which key, which store, which HTTP client) is the caller's.
//!
//! The network checks fetch the issuer's own discovery document and JWKS and read the TLS
//! chain it presents, each bounded by the caller's timeout; nothing here follows a URL a user
//! gave (the issuer URL is the operator's configuration). Findings hold public facts only —
//! key ids, algorithms, URLs, certificate names — never key material or a token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tern_identity::verify::{self, Expectations, Jwks};
use tern_identity::{Jti, RunContext, SigningKey, TokenRequest};
use tern_store::Store;
use tern_types::{
    Audience, Clock, IssuerUrl, OrganizationName, ProjectName, ResourceId, RunId, RunPhase, WorkspaceName,
    unix_seconds,
};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// As it should be.
    Pass,
    /// Works, but something will bite (http on loopback, a certificate near its end).
    Warn,
    /// Relying parties will refuse tokens, or the server cannot work.
    Fail,
}

impl Status {
    /// The word a person reads: `ok`, `warning`, `failure`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Pass => "ok",
            Self::Warn => "warning",
            Self::Fail => "failure",
        }
    }
}

/// One check's outcome: what was checked, what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked (`discovery document`, `clock`…).
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do (warnings and failures).
    pub fix: Option<String>,
}

/// The line `tern doctor` prints.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        writeln!(f, "  {tag}  {:<20} {}", self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            writeln!(f, "        {:<20} fix: {fix}", "")?;
        }
        Ok(())
    }
}

/// The findings, in the order the checks ran.
#[derive(Debug, Default)]
pub struct Report(Vec<Finding>);

impl Report {
    /// Add a finding.
    pub fn add(
        &mut self,
        name: &'static str,
        status: Status,
        detail: impl Into<String>,
        fix: Option<String>,
    ) {
        self.0.push(Finding { name, status, detail: detail.into(), fix });
    }
    /// A check that passed.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.add(name, Status::Pass, detail, None);
    }
    /// A warning, with what to do.
    pub fn warn(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Warn, detail, Some(fix.into()));
    }
    /// A failure, with what to do.
    pub fn fail(&mut self, name: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.add(name, Status::Fail, detail, Some(fix.into()));
    }
    /// Another report's findings, after these.
    pub fn extend(&mut self, other: Report) {
        self.0.extend(other.0);
    }
    /// The findings so far.
    pub fn findings(&self) -> &[Finding] {
        &self.0
    }
    /// The findings.
    pub fn into_findings(self) -> Vec<Finding> {
        self.0
    }
    /// How many findings have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.0.iter().filter(|f| f.status == status).count()
    }
}

/// The issuer URL is well-formed (`source`: where it came from).
pub fn issuer_url(report: &mut Report, issuer: &IssuerUrl, source: &str) {
    report.pass("issuer URL", format!("{issuer} ({source}): absolute, canonical, no trailing slash"));
}

/// Whether clouds will accept the issuer's scheme.
pub fn https(report: &mut Report, issuer: &IssuerUrl) {
    if issuer.is_https() {
        report.pass("https", "the issuer is https");
    } else if issuer.is_loopback() {
        report.warn(
            "https",
            "the issuer is plain http on loopback: only relying parties on this machine (a local Vault) can use it",
            "serve over https at a public name (--tls-cert/--tls-key or a TLS proxy) and give it as --issuer-url",
        );
    } else {
        report.fail(
            "https",
            "the issuer is plain http: AWS, Azure and Google Cloud only trust https issuers",
            "serve over https (--tls-cert/--tls-key, or a TLS-terminating proxy) and give the https URL as --issuer-url",
        );
    }
}

/// The HTTP client the network checks use: every request within `timeout` (redirects followed
/// as reqwest does, up to 10, as a relying party's client would), `roots` trusted beside the
/// system's.
pub fn http_client(
    timeout: Duration,
    roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("tern-doctor/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(roots)
        .build()
}

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    /// The request failed: its causes, outermost first.
    #[error("{0}")]
    Request(String),
}

/// The most of a document the checks read.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A document as fetched, with the headers the checks read.
struct Fetched {
    body: bytes::Bytes,
    date: Option<String>,
    cache_control: Option<String>,
    etag: Option<String>,
    content_type: String,
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Fetched, FetchError> {
    let resp = client.get(url).send().await.map_err(|e| FetchError::Request(http_cause(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (date, cache_control, etag) = (header("date"), header("cache-control"), header("etag"));
    let content_type = header("content-type").unwrap_or_default();
    // A discovery document or a JWKS is a few KiB: read at most MAX_DOCUMENT_BYTES of it.
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Request(http_cause(&e)))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::Request(format!(
                "the answer is larger than {} KiB",
                MAX_DOCUMENT_BYTES >> 10
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { body: body.into(), date, cache_control, etag, content_type })
}

/// What went wrong with a request, as its causes say it (reqwest's own message only names the
/// URL): "timed out", or the chain without hyper's "client error (…)" wrappers and repeats.
fn http_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.starts_with("client error (") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() { e.to_string() } else { parts.join(": ") }
}

/// An error and its causes on one line, `outer: inner: …`.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The discovery document and the JWKS at the issuer URL, as a cloud fetches them: the issuer
/// and `jwks_uri` match, the server's clock agrees with `clock`, both are cacheable but not for
/// long, and the JWKS lists `active` (the key that signs). The JWKS, when it could be read.
pub async fn issuer_documents(
    report: &mut Report,
    client: &reqwest::Client,
    issuer: &IssuerUrl,
    active: Option<&SigningKey>,
    clock: &dyn Clock,
) -> Option<Jwks> {
    let discovery_url = issuer.discovery_url();
    let resp = match fetch(client, &discovery_url).await {
        Err(e) => {
            report.fail(
                "discovery document",
                format!("GET {discovery_url}: {e}"),
                "start tern serve, and make sure this URL reaches it from here (DNS, proxy, firewall, certificate)",
            );
            return None;
        }
        Ok(resp) => resp,
    };
    clock_check(report, resp.date.as_deref(), clock);
    cache_check(report, "discovery cache", &resp);
    let doc = match serde_json::from_slice::<Value>(&resp.body) {
        Err(e) => {
            report.fail(
                "discovery document",
                format!("{discovery_url} is not JSON: {e}"),
                "is something else answering at this URL?",
            );
            return None;
        }
        Ok(doc) => doc,
    };
    let found = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    let jwks_uri = doc.get("jwks_uri").and_then(Value::as_str).unwrap_or("").to_owned();
    if found != issuer.as_str() {
        report.fail(
            "discovery document",
            format!("the server at {discovery_url} says its issuer is {found:?}, not {:?}: its tokens will not match trust written for this URL", issuer.as_str()),
            "run tern serve and tern doctor with the same --issuer-url; relying parties compare it byte for byte",
        );
    } else if jwks_uri != issuer.jwks_uri() {
        report.fail(
            "discovery document",
            format!("jwks_uri is {jwks_uri:?}, not {}", issuer.jwks_uri()),
            "is a proxy rewriting the document?",
        );
        // Not fetched: whatever answers at the issuer URL must not point this server anywhere
        // else (an internal address, say). The JWKS is read where it must be.
        return fetch_jwks(report, client, &issuer.jwks_uri(), active).await;
    } else if !resp.content_type.starts_with("application/json") {
        report.warn(
            "discovery document",
            format!("served as {:?}", resp.content_type),
            "serve it as application/json (a proxy may rewrite it)",
        );
    } else {
        report.pass("discovery document", format!("{discovery_url}: issuer and jwks_uri match"));
    }
    fetch_jwks(report, client, &jwks_uri, active).await
}

fn cache_check(report: &mut Report, name: &'static str, resp: &Fetched) {
    let max_age = resp
        .cache_control
        .as_deref()
        .and_then(|c| c.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok()));
    match (max_age, &resp.etag) {
        (Some(age), Some(_)) if age > 86_400 => report.warn(
            name,
            format!("max-age={age}s: relying parties may keep a stale document for over a day"),
            "lower --jwks-max-age / --discovery-max-age (or the proxy's cache lifetime)",
        ),
        (Some(age), Some(_)) => report.pass(name, format!("Cache-Control max-age={age}s and an ETag")),
        (None, _) => report.warn(
            name,
            format!("no max-age in Cache-Control ({:?})", resp.cache_control.as_deref().unwrap_or("absent")),
            "a proxy in front of tern drops or rewrites Cache-Control; let it pass tern's headers",
        ),
        (Some(_), None) => {
            report.warn(name, "no ETag", "a proxy in front of tern drops the ETag; let it pass")
        }
    }
}

/// The server's `Date` against this clock.
fn clock_check(report: &mut Report, date: Option<&str>, clock: &dyn Clock) {
    let Some(date) = date else {
        report.warn(
            "clock",
            "the server sent no Date header to compare with",
            "check the clock by hand (timedatectl)",
        );
        return;
    };
    let Ok(server) = humantime::parse_rfc3339_weak(&httpdate_to_rfc3339(date).unwrap_or_default()) else {
        report.warn(
            "clock",
            format!("cannot read the server's Date {date:?}"),
            "check the clock by hand (timedatectl)",
        );
        return;
    };
    let here = clock.now();
    let skew = here.duration_since(server).unwrap_or_else(|e| e.duration()).as_secs();
    if skew > 60 {
        report.fail(
            "clock",
            format!(
                "this machine and the server differ by {skew}s: tokens will look expired or not yet valid"
            ),
            "synchronise clocks with NTP (timedatectl set-ntp true, or chrony)",
        );
    } else if skew > 5 {
        report.warn(
            "clock",
            format!("this machine and the server differ by {skew}s"),
            "synchronise clocks with NTP (timedatectl set-ntp true, or chrony)",
        );
    } else {
        report.pass(
            "clock",
            format!("{} here; the server's Date agrees within {skew}s", verify::rfc3339(unix_seconds(here))),
        );
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `1994-11-06T08:49:37Z`.
fn httpdate_to_rfc3339(date: &str) -> Option<String> {
    let parts: Vec<&str> = date.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|x| x == month)? + 1;
    Some(format!("{year}-{m:02}-{day:0>2}T{time}Z"))
}

async fn fetch_jwks(
    report: &mut Report,
    client: &reqwest::Client,
    jwks_uri: &str,
    active: Option<&SigningKey>,
) -> Option<Jwks> {
    let resp = match fetch(client, jwks_uri).await {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                "JWKS",
                format!("GET {jwks_uri}: {e}"),
                "the discovery document's jwks_uri must be reachable by every relying party",
            );
            return None;
        }
    };
    cache_check(report, "JWKS cache", &resp);
    let jwks = match Jwks::from_json(&resp.body) {
        Ok(j) => j,
        Err(e) => {
            report.fail("JWKS", format!("{jwks_uri}: {e}"), "is something else answering at this URL?");
            return None;
        }
    };
    jwks_lists(report, &jwks, active);
    Some(jwks)
}

/// Whether the served JWKS lists the key that signs.
fn jwks_lists(report: &mut Report, jwks: &Jwks, active: Option<&SigningKey>) {
    let kids = jwks.kids();
    match active {
        Some(key) if !kids.iter().any(|k| k == key.kid().as_str()) => report.fail(
            "JWKS",
            format!("the JWKS served at the issuer lists {} but not the configured signing key kid={}: the server runs with another key (or this is another server)", kids.join(", "), key.kid()),
            "restart tern serve with this configuration, or point the doctor at the server's own key (--signing-key)",
        ),
        Some(key) => report.pass("JWKS", format!("{} keys, including the signing key kid={}", kids.len(), key.kid())),
        None => report.warn("JWKS", format!("{} keys; the signing key is unknown (see above)", kids.len()), "fix the signing key check"),
    }
}

/// A token minted with `key` verifies against the served `jwks` (CPU-bound: a signature; call
/// it off the async workers where that matters).
pub fn mint_and_verify(
    report: &mut Report,
    issuer: &IssuerUrl,
    key: Option<&SigningKey>,
    jwks: Option<&Jwks>,
    clock: &dyn Clock,
) {
    let (Some(key), Some(jwks)) = (key, jwks) else {
        report.fail(
            "mint and verify",
            "not checked: the signing key or the served JWKS is unavailable (see above)",
            "fix the checks above",
        );
        return;
    };
    match mint_then_verify(issuer, key, jwks, clock) {
        Ok(kid) => report.pass(
            "mint and verify",
            format!("a token signed with kid={kid} verifies against the served JWKS"),
        ),
        Err(e) => report.fail(
            "mint and verify",
            format!("a token signed with the configured key does not verify against the served JWKS: {e}"),
            "the server publishes other keys than this configuration signs with: restart it with this configuration",
        ),
    }
}

/// The kid of a token that was minted and verified, or why not (one line).
fn mint_then_verify(
    issuer: &IssuerUrl,
    key: &SigningKey,
    jwks: &Jwks,
    clock: &dyn Clock,
) -> Result<String, String> {
    let text = |e: &dyn std::error::Error| one_line(e);
    let ctx = RunContext {
        organization: OrganizationName::parse("tern-doctor").map_err(|e| text(&e))?,
        organization_id: ResourceId::parse("org-doctor").map_err(|e| text(&e))?,
        project: ProjectName::default_project(),
        project_id: ResourceId::parse("prj-doctor").map_err(|e| text(&e))?,
        workspace: WorkspaceName::parse("doctor").map_err(|e| text(&e))?,
        workspace_id: ResourceId::parse("ws-doctor").map_err(|e| text(&e))?,
        run_id: RunId::parse("run-doctor").map_err(|e| text(&e))?,
        phase: RunPhase::Plan,
    };
    let audience = Audience::parse("tern-doctor").map_err(|e| text(&e))?;
    let policy = tern_identity::ClaimPolicy::default();
    let minted = tern_identity::mint(
        key,
        issuer,
        &TokenRequest {
            context: &ctx,
            audience: &audience,
            policy: &policy,
            issued_at: clock.now(),
            ttl: tern_types::Ttl::DEFAULT,
            jti: Jti::random().map_err(|e| text(&e))?,
        },
    )
    .map_err(|e| text(&e))?;
    let expect = Expectations {
        issuer: issuer.as_str(),
        audience: Some("tern-doctor"),
        now: clock.now(),
        leeway: Duration::from_secs(5),
    };
    // The verifier's message alone: it says which check refused the token.
    verify::verify(minted.jwt.expose_secret(), jwks, &expect).map_err(|e| e.to_string())?;
    Ok(minted.kid.to_string())
}

/// Runners polling for jobs in the last minute.
pub async fn agents(report: &mut Report, store: Option<&Store>, clock: &dyn Clock) {
    let Some(store) = store else {
        report.fail("agents", "not checked: the database is unavailable", "see the database check");
        return;
    };
    let now = i64::try_from(unix_seconds(clock.now())).unwrap_or(i64::MAX);
    match store.agents_seen_since(now - 60).await {
        Ok(agents) if agents.is_empty() => report.warn(
            "agents",
            "no agent has polled for jobs in the last minute: runs will wait in the queue",
            "run tern serve with --workers > 0, or start `tern agent` with an agent token",
        ),
        Ok(agents) => {
            let names: Vec<String> = agents.iter().map(|(d, _)| d.clone()).collect();
            report
                .pass("agents", format!("{} polled in the last minute: {}", agents.len(), names.join(", ")));
        }
        Err(e) => report.fail("agents", format!("cannot read: {e}"), "see the database check"),
    }
}

/// The TLS chain served at an https issuer: its leaf certificate (when `check_served` — the
/// CLI checks the configured file instead) and the thumbprint older AWS providers need.
pub async fn served_tls(
    report: &mut Report,
    issuer: &IssuerUrl,
    timeout: Duration,
    check_served: bool,
    clock: &dyn Clock,
) {
    if !issuer.is_https() {
        report.warn(
            "AWS thumbprint",
            "not applicable: AWS needs an https issuer",
            "serve the issuer over https",
        );
        return;
    }
    match served_chain(issuer, timeout).await {
        Ok(chain) => {
            if check_served {
                certificate_check(report, "certificate served at the issuer", &chain, issuer, clock);
            }
            aws_thumbprint(report, &chain);
        }
        Err(e) => report.fail(
            "AWS thumbprint",
            format!("cannot read the certificate chain served at {issuer}: {}", one_line(&e)),
            "make the issuer reachable over https from here",
        ),
    }
}

/// The DER certificates of a PEM bundle (anything else in it is skipped).
pub fn pem_certs(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls_pki_types::pem::PemObject as _;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).map(|c| c.to_vec()).collect()
}

/// The leaf of `chain` (`what`: where it came from) is valid now, for a while, for the
/// issuer's host.
pub fn certificate_check(
    report: &mut Report,
    what: &str,
    chain: &[Vec<u8>],
    issuer: &IssuerUrl,
    clock: &dyn Clock,
) {
    let Some(leaf) = chain.first() else {
        report.fail(
            "TLS certificate",
            format!("{what}: no certificate"),
            "give the PEM certificate chain, leaf first",
        );
        return;
    };
    let cert = match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, c)) => c,
        Err(e) => {
            report.fail(
                "TLS certificate",
                format!("{what}: cannot parse: {e}"),
                "give a PEM X.509 certificate",
            );
            return;
        }
    };
    let now = i64::try_from(unix_seconds(clock.now())).unwrap_or(i64::MAX);
    let not_after = cert.validity().not_after.timestamp();
    let not_before = cert.validity().not_before.timestamp();
    let when = |t: i64| verify::rfc3339(u64::try_from(t).unwrap_or(0));
    let host = url::Url::parse(issuer.as_str())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress([a, b, c, d]) => {
                        Some(std::net::Ipv4Addr::new(*a, *b, *c, *d).to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let covers = names.iter().any(|n| {
        n.eq_ignore_ascii_case(&host)
            || n.strip_prefix("*.")
                .is_some_and(|d| host.split_once('.').is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(d)))
    });
    let days = (not_after - now) / 86_400;
    if not_after <= now {
        report.fail(
            "TLS certificate",
            format!("{what} expired at {}", when(not_after)),
            "renew the certificate and restart tern serve (clouds refuse the issuer until then)",
        );
    } else if not_before > now {
        report.fail(
            "TLS certificate",
            format!("{what} is not valid before {}", when(not_before)),
            "check the clock, or the certificate's dates",
        );
    } else if !names.is_empty() && !covers {
        report.fail(
            "TLS certificate",
            format!("{what} names {} but not the issuer's host {host}", names.join(", ")),
            "issue a certificate for the issuer's host name",
        );
    } else if days < 21 {
        report.warn(
            "TLS certificate",
            format!("{what} expires in {days} days, at {}", when(not_after)),
            "renew it soon; automate renewal (ACME)",
        );
    } else {
        report.pass("TLS certificate", format!("{what} valid until {} ({days} days)", when(not_after)));
    }
}

/// Why the chain served at the issuer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The issuer URL does not parse as a URL.
    #[error(transparent)]
    Url(#[from] url::ParseError),
    /// The issuer URL has no host.
    #[error("no host")]
    NoHost,
    /// The TLS configuration or handshake.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// The host is not a name TLS can ask for.
    #[error(transparent)]
    Name(#[from] rustls_pki_types::InvalidDnsNameError),
    /// Connecting, or the handshake.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// No chain within the timeout.
    #[error("timed out")]
    TimedOut,
}

/// The chain the server presents at the issuer's host and port (whoever signed it), within
/// `timeout`.
pub async fn served_chain(issuer: &IssuerUrl, timeout: Duration) -> Result<Vec<Vec<u8>>, ChainError> {
    let url = url::Url::parse(issuer.as_str())?;
    let host =
        url.host_str().ok_or(ChainError::NoHost)?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(InspectOnly(provider)))
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.clone())?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
        let chain: Vec<Vec<u8>> =
            tls.get_ref().1.peer_certificates().unwrap_or_default().iter().map(|c| c.to_vec()).collect();
        Ok::<_, ChainError>(chain)
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| ChainError::TimedOut)?
}

/// The thumbprint of the chain's top certificate, as IAM computes it.
pub fn aws_thumbprint(report: &mut Report, chain: &[Vec<u8>]) {
    // IAM takes the SHA-1 of the top intermediate CA the server presents (the last certificate
    // of the chain; the leaf when it is alone).
    let Some(top) = chain.last() else {
        report.fail("AWS thumbprint", "the server presented no certificate", "check the TLS configuration");
        return;
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, top);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let subject =
        x509_parser::parse_x509_certificate(top).map(|(_, c)| c.subject().to_string()).unwrap_or_default();
    report.pass(
        "AWS thumbprint",
        format!("{hex} (SHA-1 of {subject}); IAM fetches it itself for public CAs, older AWS providers need thumbprint_list = [\"{hex}\"]"),
    );
}

/// Accepts any certificate: only used to read the chain a server presents, never to trust it.
#[derive(Debug)]
struct InspectOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for InspectOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use tern_types::FixedClock;

    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            httpdate_to_rfc3339("Sun, 06 Nov 1994 08:49:37 GMT").as_deref(),
            Some("1994-11-06T08:49:37Z")
        );
        assert_eq!(
            httpdate_to_rfc3339("Sun, 6 Nov 1994 08:49:37 GMT").as_deref(),
            Some("1994-11-06T08:49:37Z")
        );
        for bad in ["yesterday", "", "Sun, 06 Nov 1994 08:49:37 CET", "Sun, 06 Foo 1994 08:49:37 GMT"] {
            assert_eq!(httpdate_to_rfc3339(bad), None, "{bad}");
        }
    }

    fn fetched(cache_control: Option<&str>, etag: Option<&str>) -> Fetched {
        Fetched {
            body: bytes::Bytes::new(),
            date: None,
            cache_control: cache_control.map(str::to_owned),
            etag: etag.map(str::to_owned),
            content_type: "application/json".into(),
        }
    }

    #[test]
    fn cache_headers() {
        let cases = [
            (Some("public, max-age=300"), Some("\"x\""), Status::Pass, "max-age=300s and an ETag"),
            (Some("max-age=90000"), Some("\"x\""), Status::Warn, "for over a day"),
            (Some("no-cache"), Some("\"x\""), Status::Warn, "no max-age in Cache-Control (\"no-cache\")"),
            (None, None, Status::Warn, "(\"absent\")"),
            (Some("max-age=60"), None, Status::Warn, "no ETag"),
            (Some("max-age=soon"), Some("\"x\""), Status::Warn, "no max-age"),
        ];
        for (cc, etag, status, says) in cases {
            let mut r = Report::default();
            cache_check(&mut r, "JWKS cache", &fetched(cc, etag));
            let f = &r.findings()[0];
            assert_eq!((f.status, f.name), (status, "JWKS cache"), "{cc:?} {etag:?}");
            assert!(f.detail.contains(says), "{cc:?}: {}", f.detail);
        }
    }

    #[test]
    fn clock_skew_at_the_boundaries() {
        // 1994-11-06T08:49:37Z
        let server: u64 = 784_111_777;
        let date = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        let cases = [
            (0, Status::Pass),
            (5, Status::Pass),
            (-5, Status::Pass),
            (6, Status::Warn),
            (-60, Status::Warn),
            (61, Status::Fail),
            (-61, Status::Fail),
        ];
        for (offset, status) in cases {
            let clock = FixedClock::at_unix(server.saturating_add_signed(offset));
            let mut r = Report::default();
            clock_check(&mut r, date, &clock);
            assert_eq!(r.findings()[0].status, status, "{offset}: {:?}", r.findings());
        }
        let mut r = Report::default();
        clock_check(&mut r, None, &FixedClock::at_unix(0));
        clock_check(&mut r, Some("soon"), &FixedClock::at_unix(0));
        assert_eq!(r.count(Status::Warn), 2);
    }

    #[test]
    fn the_issuer_scheme() {
        let cases = [
            ("https://tern.example.com", Status::Pass),
            ("http://127.0.0.1:8080", Status::Warn),
            ("http://tern.example.com", Status::Fail),
        ];
        for (url, status) in cases {
            let mut r = Report::default();
            https(&mut r, &IssuerUrl::parse(url).unwrap());
            assert_eq!(r.findings()[0].status, status, "{url}");
        }
    }

    #[test]
    fn findings_print_as_tern_doctor_prints_them() {
        let mut r = Report::default();
        r.pass("clock", "fine");
        r.fail("JWKS", "missing", "fix it");
        let text: String = r.findings().iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            "  pass  clock                fine\n  FAIL  JWKS                 missing\n                             fix: fix it\n"
        );
        assert_eq!((r.count(Status::Pass), r.count(Status::Warn), r.count(Status::Fail)), (1, 0, 1));
        assert_eq!(
            [Status::Pass.word(), Status::Warn.word(), Status::Fail.word()],
            ["ok", "warning", "failure"]
        );
    }

    #[test]
    fn mint_and_verify_needs_both_and_names_a_foreign_jwks() {
        let read = |name: &str| SigningKey::from_pem(&tern_testkit::read_key_fixture(name)).unwrap();
        let key = read("rsa-2048.pem");
        let issuer = IssuerUrl::parse("https://tern.example.com").unwrap();
        let jwks_of = |name: &str| {
            let ring = tern_identity::KeyRing::new(read(name), Vec::new()).unwrap();
            let docs =
                tern_identity::IssuerDocuments::build(&issuer, &ring, &tern_identity::ClaimPolicy::default());
            Jwks::from_json(docs.jwks()).unwrap()
        };
        let clock = tern_types::SystemClock;
        let mut r = Report::default();
        mint_and_verify(&mut r, &issuer, Some(&key), Some(&jwks_of("rsa-2048.pem")), &clock);
        mint_and_verify(&mut r, &issuer, Some(&key), Some(&jwks_of("ec-p256.pem")), &clock);
        mint_and_verify(&mut r, &issuer, None, Some(&jwks_of("rsa-2048.pem")), &clock);
        let statuses: Vec<Status> = r.findings().iter().map(|f| f.status).collect();
        assert_eq!(statuses, [Status::Pass, Status::Fail, Status::Fail], "{:?}", r.findings());
        assert!(r.findings()[0].detail.contains(key.kid().as_str()));
        assert!(r.findings()[2].detail.starts_with("not checked"));
        let mut j = Report::default();
        jwks_lists(&mut j, &jwks_of("ec-p256.pem"), Some(&key));
        assert!(j.findings()[0].detail.contains("but not the configured signing key"), "{:?}", j.findings());
    }
}
