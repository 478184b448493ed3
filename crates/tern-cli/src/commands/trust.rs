//! `tern trust` (print the cloud side of trust) and `tern explain` (would the cloud accept this
//! token?): thin glue over `tern-trust`.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;
use tern_identity::verify;
use tern_trust::explain::{self, AwsTrust, AzureTrust, GcpTrust, Token, VaultTrust};
use tern_trust::{Cloud, CloudOptions, Format, TrustScope};
use tern_types::{
    Clock as _, IssuerUrl, OrganizationName, ProjectName, ResourceId, SystemClock, WorkspaceName,
    unix_seconds,
};

use crate::UsageError;
use crate::cli::{ExplainArgs, ExplainCloud, RunArgs, TrustArgs, TrustCloud, TrustFormat};
use crate::settings::{self, Env};

fn issuer(flag: Option<&str>, env: Env<'_>) -> Result<IssuerUrl, UsageError> {
    settings::issuer(flag, env)?.map(|(url, _)| url).ok_or_else(|| {
        UsageError("--issuer-url (or TERN_ISSUER_URL) is required: the issuer in the server's tokens, e.g. https://tern.example.com".into())
    })
}

fn parse<T>(
    flag: &str,
    value: Option<&str>,
    f: impl Fn(&str) -> Result<T, tern_types::NameError>,
) -> Result<Option<T>, UsageError> {
    value.map(|v| f(v).map_err(|e| UsageError(format!("{flag}: {e}")))).transpose()
}

pub fn trust(args: TrustArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let scope = TrustScope {
        issuer: issuer(args.issuer_url.as_deref(), env)?,
        policy: settings::claim_policy(&args.claims)?,
        organization: OrganizationName::parse(&args.organization)
            .map_err(|e| UsageError(format!("--organization: {e}")))?,
        organization_id: parse("--organization-id", args.organization_id.as_deref(), ResourceId::parse)?,
        project: parse("--project", args.project.as_deref(), ProjectName::parse)?,
        project_id: parse("--project-id", args.project_id.as_deref(), ResourceId::parse)?,
        workspace: parse("--workspace", args.workspace.as_deref(), WorkspaceName::parse)?,
        workspace_id: parse("--workspace-id", args.workspace_id.as_deref(), ResourceId::parse)?,
        phase: args.phase.parse().map_err(|e: tern_trust::TrustError| UsageError(e.to_string()))?,
        audience: args.audience.clone(),
    };
    let cloud = match args.cloud {
        TrustCloud::Aws => Cloud::Aws,
        TrustCloud::Gcp => Cloud::Gcp,
        TrustCloud::Azure => Cloud::Azure,
        TrustCloud::Vault => Cloud::Vault,
        TrustCloud::Kubernetes => Cloud::Kubernetes,
    };
    let format = match args.format {
        TrustFormat::Terraform => Format::Terraform,
        TrustFormat::Json => Format::Json,
        TrustFormat::Cli => Format::Cli,
    };
    let gcp_jwks = match (&args.jwks_file, cloud) {
        (None, _) => None,
        (Some(path), Cloud::Gcp) => Some(read_jwks(path)?),
        (Some(_), other) => {
            return Err(UsageError(format!(
                "--jwks-file is for gcp (Google Cloud's providers take an uploaded JWKS); {other} fetches the issuer's JWKS, so the issuer must be reachable from it"
            ))
            .into());
        }
    };
    let options = CloudOptions {
        name: args.name,
        aws_account_id: args.aws_account_id,
        gcp_project_id: args.gcp_project_id,
        gcp_project_number: args.gcp_project_number,
        gcp_pool_id: args.gcp_pool_id,
        gcp_provider_id: args.gcp_provider_id,
        gcp_service_account: args.service_account,
        gcp_jwks,
        azure_application_id: args.azure_application_id,
        vault_mount: args.vault_mount,
        eks_cluster: args.eks_cluster,
        kubernetes_cluster_role: args.kubernetes_cluster_role,
    };
    let out = tern_trust::render(cloud, format, &scope, &options).map_err(|e| UsageError(e.to_string()))?;
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A private issuer's JWKS, checked (public keys only) before it goes into the configuration.
fn read_jwks(path: &Path) -> Result<tern_trust::UploadedJwks, UsageError> {
    // A JWKS of a few keys is a few kilobytes; a bigger file is not one.
    const MAX: u64 = 1024 * 1024;
    let shown = path.display().to_string();
    let file =
        std::fs::File::open(path).map_err(|e| UsageError(format!("reading --jwks-file {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| UsageError(format!("reading --jwks-file {shown}: {e}")))?;
    if text.len() as u64 > MAX {
        return Err(UsageError(format!("--jwks-file {shown} is larger than 1 MiB: it is not a JWKS")));
    }
    tern_trust::UploadedJwks::parse(&shown, &text).map_err(|e| UsageError(e.to_string()))
}

fn read_json(what: &str, path: &Path) -> Result<Value, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("reading {what} {}: {e}", path.display())))?;
    explain::parse_json(what, &text)
        .map_err(|e| UsageError(format!("{} ({}): {}", e.what, path.display(), e.reason)))
}

fn read_token(arg: &str) -> anyhow::Result<String> {
    let text = if arg == "-" {
        let mut buf = String::new();
        std::io::stdin().take(64 * 1024).read_to_string(&mut buf).context("reading the token from stdin")?;
        buf
    } else {
        std::fs::read_to_string(arg).map_err(|e| UsageError(format!("reading the token {arg}: {e}")))?
    };
    Ok(text.trim().to_owned())
}

/// Pick a role of a `tern trust --format json` document by name, or the only one.
fn pick<'a>(
    roles: Vec<(String, &'a Value)>,
    wanted: Option<&str>,
) -> Result<(String, &'a Value), UsageError> {
    let names: Vec<String> = roles.iter().map(|(n, _)| n.clone()).collect();
    match wanted {
        Some(w) => roles
            .into_iter()
            .find(|(n, _)| n == w)
            .ok_or_else(|| UsageError(format!("--role {w}: the document has {}", names.join(", ")))),
        None if roles.len() == 1 => roles.into_iter().next().ok_or_else(|| UsageError("no role".into())),
        None => Err(UsageError(format!(
            "the document has several roles ({}): choose one with --role",
            names.join(", ")
        ))),
    }
}

pub fn explain(args: ExplainArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let trust = read_json("--trust", &args.trust)?;
    let now = unix_seconds(SystemClock.now());
    let cloud = match args.cloud {
        ExplainCloud::Aws => Cloud::Aws,
        ExplainCloud::Gcp => Cloud::Gcp,
        ExplainCloud::Azure => Cloud::Azure,
        ExplainCloud::Vault => Cloud::Vault,
    };
    // The GCP provider decides the default audience of a sample token.
    let gcp_provider = trust.get("provider").unwrap_or(&trust).clone();

    let (claims, header) = match &args.token {
        Some(t) => {
            let raw = read_token(t)?;
            let decoded = verify::decode(&raw).map_err(|e| UsageError(format!("--token: {e}")))?;
            (decoded.claims().clone(), Some(decoded.header().clone()))
        }
        None => {
            let run = RunArgs {
                organization: args.organization.clone().unwrap_or_default(),
                organization_id: None,
                project: args.project.clone(),
                project_id: None,
                workspace: args.workspace.clone().unwrap_or_default(),
                workspace_id: None,
                run_id: "run-sample".into(),
                phase: args.phase.clone(),
            };
            let ctx = settings::run_context(&run)?;
            let policy = settings::claim_policy(&args.claims)?;
            let issuer = issuer(args.issuer_url.as_deref(), env)?;
            let audience = match (&args.audience, cloud.default_audience()) {
                (Some(a), _) => a.clone(),
                (None, Some(d)) => d.to_owned(),
                (None, None) => match gcp_provider.get("name").and_then(Value::as_str) {
                    Some(name) => format!("//iam.googleapis.com/{name}"),
                    None => {
                        return Err(UsageError(
                            "--audience is required: the provider has no name to derive it from".into(),
                        )
                        .into());
                    }
                },
            };
            let claims = explain::sample_claims(issuer.as_str(), &policy, &ctx, &audience, now, 900);
            let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
            (claims, header.as_object().cloned())
        }
    };
    let token = Token { claims: &claims, header: header.as_ref() };
    let bad = |e: explain::ExplainError| UsageError(format!("--trust {}: {e}", args.trust.display()));
    let explanation = match cloud {
        Cloud::Aws => {
            let (policy, provider_url, client_ids) =
                if let Some(roles) = trust.get("Roles").and_then(Value::as_array) {
                    let named: Vec<(String, &Value)> = roles
                        .iter()
                        .map(|r| (r.get("RoleName").and_then(Value::as_str).unwrap_or("").to_owned(), r))
                        .collect();
                    let (_, role) = pick(named, args.role.as_deref())?;
                    let provider = trust.get("OpenIDConnectProvider");
                    (
                        role.get("AssumeRolePolicyDocument").cloned().unwrap_or(Value::Null),
                        provider.and_then(|p| p.get("Url")).and_then(Value::as_str).map(str::to_owned),
                        explain::strings(provider.and_then(|p| p.get("ClientIDList"))),
                    )
                } else if let Some(doc) = trust.get("Role").and_then(|r| r.get("AssumeRolePolicyDocument")) {
                    (doc.clone(), None, Vec::new())
                } else {
                    (trust.clone(), None, Vec::new())
                };
            let trust = AwsTrust {
                policy,
                provider_url: args.provider_url.clone().or(provider_url),
                client_ids: if args.client_ids.is_empty() { client_ids } else { args.client_ids.clone() },
            };
            explain::aws(&token, now, &trust).map_err(bad)?
        }
        Cloud::Gcp => {
            let member = args.member.clone().or_else(|| {
                trust.get("serviceAccountBindings")?.get(0)?.get("member")?.as_str().map(str::to_owned)
            });
            explain::gcp(&token, now, &GcpTrust { provider: gcp_provider, member }).map_err(bad)?
        }
        Cloud::Azure => {
            explain::azure(&token, now, &AzureTrust { credentials: trust.clone() }).map_err(bad)?
        }
        Cloud::Vault => {
            let config = match &args.config {
                Some(p) => Some(read_json("--config", p)?),
                None => trust.get("config").cloned(),
            };
            let (name, role) = if let Some(roles) = trust.get("roles").and_then(Value::as_object) {
                let named: Vec<(String, &Value)> = roles.iter().map(|(k, v)| (k.clone(), v)).collect();
                let (n, r) = pick(named, args.role.as_deref())?;
                (n, r.clone())
            } else {
                let name = args.role.clone().unwrap_or_else(|| {
                    args.trust.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
                });
                (name, trust.clone())
            };
            explain::vault(&token, now, &VaultTrust { role, role_name: name, config }).map_err(bad)?
        }
        Cloud::Kubernetes => return Err(UsageError("kubernetes is not explained".into()).into()),
    };
    out!("{explanation}");
    Ok(if explanation.accepted() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
