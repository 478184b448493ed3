//! `tern token mint|inspect|verify`.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::Value;
use tern_identity::verify::{self, Expectations, Jwks, MAX_TOKEN_LEN, ago, rfc3339};
use tern_identity::{Jti, TokenRequest};
use tern_types::{Audience, Clock as _, IssuerUrl, SystemClock, unix_seconds};

use crate::UsageError;
use crate::cli::{InspectArgs, MintArgs, VerifyArgs};
use crate::keyfile;
use crate::settings::{self, Env};

pub fn mint(args: MintArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let usage = |flag: &str, e: &dyn std::fmt::Display| UsageError(format!("{flag}: {e}"));
    let sources = settings::key_sources(&args.minting.keys, env)?;
    match sources.signing.len() {
        0 => return Err(UsageError("give the key to sign with: --signing-key PATH".into()).into()),
        1 => {}
        n => {
            return Err(UsageError(format!(
                "token mint signs with one key; --signing-key was given {n} times"
            ))
            .into());
        }
    }
    let issuer = IssuerUrl::parse(&args.minting.issuer_url).map_err(|e| usage("--issuer-url", &e))?;
    let context = settings::run_context(&args.minting.run)?;
    let audience = Audience::parse(&args.audience).map_err(|e| usage("--audience", &e))?;
    let ttl = settings::ttl(args.ttl.as_deref(), env)
        .map_err(|e| UsageError(e.0.replace("--token-ttl", "--ttl")))?;
    let policy = settings::claim_policy(&args.minting.claims)?;
    let issued_at = match &args.issued_at {
        Some(t) => humantime::parse_rfc3339_weak(t).map_err(|e| {
            UsageError(format!(
                "--issued-at {t:?} is not an RFC 3339 time ({e}); write e.g. 2026-11-21T10:00:00Z"
            ))
        })?,
        None => SystemClock.now(),
    };

    let key = keyfile::load_signing_key(&sources)?;
    let request = TokenRequest {
        context: &context,
        audience: &audience,
        policy: &policy,
        issued_at,
        ttl,
        jti: Jti::random()?,
    };
    let token = tern_identity::mint(&key, &issuer, &request)?;

    let newline: &[u8] = if std::io::stdout().is_terminal() { b"\n" } else { b"" };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(token.jwt.expose_secret().as_bytes())
        .and_then(|()| stdout.write_all(newline))
        .and_then(|()| stdout.flush())
    {
        crate::stdout_failed(&e);
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "minted: kid {} · sub {} · expires {} (in {})",
            token.kid,
            token.subject,
            rfc3339(token.expires_at),
            ago(unix_seconds(SystemClock.now()), token.expires_at)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read_token(arg: Option<&str>) -> anyhow::Result<String> {
    let token = match arg {
        Some(t) if t != "-" => t.to_owned(),
        _ => {
            if std::io::stdin().is_terminal() {
                bail!("no token given: pass it as an argument or pipe it on stdin");
            }
            let mut buf = String::new();
            std::io::stdin()
                .take(MAX_TOKEN_LEN as u64 + 1)
                .read_to_string(&mut buf)
                .context("reading the token from stdin")?;
            buf
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("no token given: the input is empty");
    }
    Ok(token)
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(args.token.as_deref())?;
    let decoded = verify::decode(&token)?;
    if args.json {
        let doc = serde_json::json!({ "header": decoded.header(), "claims": decoded.claims() });
        outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_seconds(SystemClock.now());
    let mut out = String::new();
    section(&mut out, "header", decoded.header(), now);
    section(&mut out, "claims", decoded.claims(), now);
    let time = |name: &str| decoded.claims().get(name).and_then(Value::as_u64);
    match (time("exp"), time("nbf")) {
        (_, Some(nbf)) if nbf > now => out.push_str(&format!(
            "status     not valid yet: valid from {} (in {})\n",
            rfc3339(nbf),
            ago(now, nbf)
        )),
        (Some(exp), _) if exp <= now => {
            out.push_str(&format!("status     expired {} ago, at {}\n", ago(exp, now), rfc3339(exp)))
        }
        (Some(exp), _) => out.push_str(&format!("status     valid for another {}\n", ago(now, exp))),
        (None, _) => out.push_str("status     no exp claim: relying parties will refuse it\n"),
    }
    out.push_str("signature  not verified; check it with: tern token verify --issuer-url URL\n");
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn section(out: &mut String, title: &str, map: &serde_json::Map<String, Value>, now: u64) {
    out.push_str(title);
    out.push('\n');
    let width = map.keys().map(String::len).max().unwrap_or(0);
    for (name, value) in map {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let when = match (name.as_str(), value.as_u64()) {
            ("iat" | "nbf" | "exp", Some(t)) if t <= now => format!("  {} ({} ago)", rfc3339(t), ago(t, now)),
            ("iat" | "nbf" | "exp", Some(t)) => format!("  {} (in {})", rfc3339(t), ago(now, t)),
            _ => String::new(),
        };
        out.push_str(&format!("  {name:<width$}  {shown}{when}\n"));
    }
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let issuer = args.issuer_url.as_str();
    if let Err(e) = IssuerUrl::parse(issuer) {
        // Verify what the user asked for, but point out why a cloud might disagree.
        tracing::warn!("{e}");
    }
    let leeway = settings::duration("--leeway", &args.leeway)?;
    let timeout = settings::duration("--timeout", &args.timeout)?;
    let token = read_token(args.token.as_deref())?;
    verify::decode(&token)?;

    let mut client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &args.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow!("CA certificate {}: cannot read it: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow!("CA certificate {}: not a PEM certificate: {e}", path.display()))?;
        if certs.is_empty() {
            bail!("CA certificate {}: holds no CERTIFICATE block", path.display());
        }
        client = client.tls_certs_merge(certs);
    }
    let client = client.build().context("building the HTTP client")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (jwks_uri, jwks) = runtime.block_on(fetch_keys(&client, issuer))?;

    let expect = Expectations { issuer, audience: args.audience.as_deref(), now: SystemClock.now(), leeway };
    let verified = match verify::verify(&token, &jwks, &expect) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: token refused: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let now = unix_seconds(SystemClock.now());
    let exp = verified.claims().get("exp").and_then(Value::as_u64).unwrap_or(now);
    outln!("token is valid");
    outln!("  signature  {} key {} from {jwks_uri}", verified.algorithm(), verified.kid());
    outln!("  issuer     {issuer} (matches the discovery document)");
    match args.audience.as_deref() {
        Some(a) => outln!("  audience   {a} (matches)"),
        None => outln!("  audience   not checked (give --audience to check it)"),
    }
    outln!("  subject    {}", verified.claim_str("sub").unwrap_or("(none)"));
    outln!("  expires    {} (in {})", rfc3339(exp), ago(now, exp));
    Ok(ExitCode::SUCCESS)
}

/// Discovery → `jwks_uri` → JWKS, checking the discovery document's `issuer` on the way.
async fn fetch_keys(client: &reqwest::Client, issuer: &str) -> anyhow::Result<(String, Jwks)> {
    // Like go-oidc (Vault/OpenBao) and jose: trim a trailing slash to find the document, then
    // require its `issuer` to equal the configured one byte for byte.
    let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let discovery: Value = get_json(client, &discovery_url, "discovery document").await?;
    match discovery.get("issuer").and_then(Value::as_str) {
        Some(found) if found == issuer => {}
        Some(found) => bail!(
            "discovery document {discovery_url} names issuer {found:?}, not {issuer:?}; clouds refuse such an issuer (check the trailing slash, scheme and port)"
        ),
        None => bail!("discovery document {discovery_url} has no \"issuer\""),
    }
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("discovery document {discovery_url} has no \"jwks_uri\""))?
        .to_owned();
    let body = get_bytes(client, &jwks_uri, "JWKS").await?;
    let jwks = Jwks::from_json(&body).map_err(|e| anyhow!("JWKS {jwks_uri}: {e}"))?;
    Ok((jwks_uri, jwks))
}

async fn get_bytes(client: &reqwest::Client, url: &str, what: &str) -> anyhow::Result<bytes::Bytes> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow!("cannot fetch the {what} {url}: {}", tern_handoff::http_cause(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("the {what} {url} answered HTTP {status}");
    }
    resp.bytes().await.map_err(|e| anyhow!("reading the {what} {url}: {}", tern_handoff::http_cause(&e)))
}

async fn get_json(client: &reqwest::Client, url: &str, what: &str) -> anyhow::Result<Value> {
    let body = get_bytes(client, url, what).await?;
    serde_json::from_slice(&body).map_err(|e| anyhow!("the {what} {url} is not JSON: {e}"))
}
