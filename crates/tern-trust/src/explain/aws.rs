//! AWS STS `AssumeRoleWithWebIdentity`: the IAM OIDC provider (URL, client IDs) and the role's
//! trust policy (`Allow` statements for the provider, `aud`/`sub` conditions, `Deny`s).

use serde_json::Value;

use super::{Check, ExplainError, Explanation, Token, best, strings, time_checks};
use crate::diff;
use crate::scope::Cloud;

/// An AWS trust relationship.
#[derive(Debug, Clone)]
pub struct AwsTrust {
    /// The role trust policy document.
    pub policy: Value,
    /// The IAM OIDC provider's URL (with or without `https://`), when known.
    pub provider_url: Option<String>,
    /// The provider's client ID list (audiences), when known.
    pub client_ids: Vec<String>,
}

const REFUSED: &str = "An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity";

/// Would STS let this token assume the role?
pub fn aws(token: &Token<'_>, now: u64, trust: &AwsTrust) -> Result<Explanation, ExplainError> {
    let statements: Vec<&Value> = match trust.policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => {
            return Err(ExplainError::new(
                "trust policy",
                "no Statement (is this a role trust policy document?)",
            ));
        }
    };
    let iss = token.show("iss");
    let token_host = iss.strip_prefix("https://").unwrap_or(&iss).to_owned();

    // The provider: what the token must come from.
    let mut provider_checks = Vec::new();
    if !iss.starts_with("https://") {
        provider_checks.push(Check::fail(
            "issuer scheme",
            &iss,
            "https://…",
            "AWS only federates https issuers: serve tern over https and give that URL as --issuer-url",
        ));
    }
    let provider_host = match &trust.provider_url {
        Some(url) => {
            let host = url.strip_prefix("https://").unwrap_or(url).to_owned();
            let why = diff::issuer(&iss, &format!("https://{host}"));
            provider_checks.push(Check::with(
                why.is_none(),
                "OIDC provider URL",
                &iss,
                &format!("https://{host}"),
                why,
            ));
            Some(host)
        }
        None => None,
    };
    if !trust.client_ids.is_empty() {
        let auds = token.audiences();
        let ok = auds.iter().any(|a| trust.client_ids.contains(a));
        provider_checks.push(Check::with(
            ok,
            "OIDC provider client ID list",
            &auds.join(", "),
            &trust.client_ids.join(", "),
            (!ok).then(|| audience_hint(&auds, &trust.client_ids, "the provider's client ID list")),
        ));
    }
    provider_checks.extend(time_checks(token, now, 0, 0));

    // Deny statements that apply win over any Allow.
    let mut notes = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        if effect(st) == "Deny" && applies(st, &token_host) {
            let checks = conditions(token, st, &token_host)?;
            if checks.iter().all(|c| c.passed) {
                let mut e = Explanation {
                    cloud: Cloud::Aws,
                    target: format!("the role trust policy (statement {})", i + 1),
                    checks: provider_checks.clone(),
                    cloud_error: Some(REFUSED.into()),
                    notes: Vec::new(),
                };
                e.checks.push(Check::fail(
                    format!("statement {} (Deny)", i + 1),
                    "matches",
                    "no Deny statement matching",
                    "an explicit Deny matches this token, and a Deny always wins",
                ));
                return Ok(e);
            }
        }
    }

    let mut candidates = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        if effect(st) != "Allow" || !allows_action(st) {
            continue;
        }
        let mut checks = provider_checks.clone();
        let principals = strings(st.get("Principal").and_then(|p| p.get("Federated")));
        let wanted = provider_host.clone().unwrap_or_else(|| token_host.clone());
        let matching = principals.iter().find(|p| arn_host(p) == Some(wanted.as_str()));
        match matching {
            Some(p) => checks.push(Check::pass("Principal.Federated", &token_host, p.as_str())),
            None => {
                let shown = principals.join(", ");
                let why = match principals.iter().find_map(|p| arn_host(p)) {
                    Some(host) => diff::issuer(&format!("https://{wanted}"), &format!("https://{host}"))
                        .unwrap_or_default()
                        .replace("the token's iss", "the provider for this token")
                        .replace("the trust expects", "the statement names"),
                    None => "the statement names no IAM OIDC provider (arn:aws:iam::<account>:oidc-provider/<host>)".into(),
                };
                checks.push(Check::fail(
                    "Principal.Federated",
                    format!("arn:aws:iam::<account>:oidc-provider/{wanted}"),
                    if shown.is_empty() { "(none)".into() } else { shown },
                    why,
                ));
            }
        }
        let cond = conditions(token, st, &token_host)?;
        if cond.is_empty() {
            notes.push(format!(
                "statement {} has no conditions: every token of this issuer (every organization and workspace on it) may assume the role; add aud and sub conditions (tern trust aws)",
                i + 1
            ));
        }
        checks.extend(cond);
        candidates.push(Explanation {
            cloud: Cloud::Aws,
            target: format!("the role trust policy (statement {})", i + 1),
            checks,
            cloud_error: Some(REFUSED.into()),
            notes: Vec::new(),
        });
    }
    let mut e = best(candidates).ok_or_else(|| {
        ExplainError::new(
            "trust policy",
            "no Allow statement for sts:AssumeRoleWithWebIdentity: this role cannot be assumed with a web identity token",
        )
    })?;
    if e.first_failure()
        .is_some_and(|c| c.name.ends_with(":aud") || c.name.starts_with("OIDC provider client"))
    {
        e.cloud_error = Some("An error occurred (InvalidIdentityToken) when calling the AssumeRoleWithWebIdentity operation: Incorrect token audience".into());
    } else if e.first_failure().is_some_and(|c| c.name == "exp") {
        e.cloud_error = Some("An error occurred (ExpiredTokenException) when calling the AssumeRoleWithWebIdentity operation: Token expired".into());
    }
    e.notes.extend(notes);
    e.notes.push("the signature is not checked here: use `tern token verify`".into());
    Ok(e)
}

fn effect(st: &Value) -> &str {
    st.get("Effect").and_then(Value::as_str).unwrap_or("")
}

fn allows_action(st: &Value) -> bool {
    strings(st.get("Action"))
        .iter()
        .any(|a| crate::glob::matches(&a.to_ascii_lowercase(), "sts:assumerolewithwebidentity", true))
}

fn applies(st: &Value, token_host: &str) -> bool {
    allows_action(st)
        && strings(st.get("Principal").and_then(|p| p.get("Federated")))
            .iter()
            .any(|p| arn_host(p) == Some(token_host))
}

/// `tern.example.com` of `arn:aws:iam::123456789012:oidc-provider/tern.example.com`.
fn arn_host(arn: &str) -> Option<&str> {
    arn.split_once(":oidc-provider/").map(|(_, h)| h)
}

pub(crate) fn audience_hint(actual: &[String], expected: &[String], place: &str) -> String {
    let mut s =
        format!("the token's aud ({}) is not in {place} ({})", actual.join(", "), expected.join(", "));
    if let Some(d) = Cloud::Aws.default_audience()
        && actual.iter().any(|a| a == d)
    {
        s.push_str(&format!(
            "; {d} is tern's default for AWS: add it there, or set {} on the workspace to what the trust expects",
            Cloud::Aws.audience_variable()
        ));
    } else {
        s.push_str("; the workspace's *_WORKLOAD_IDENTITY_AUDIENCE variable sets the aud its tokens carry");
    }
    s
}

/// Each condition of a statement, evaluated.
fn conditions(token: &Token<'_>, st: &Value, token_host: &str) -> Result<Vec<Check>, ExplainError> {
    let mut out = Vec::new();
    let Some(cond) = st.get("Condition") else { return Ok(out) };
    let Some(ops) = cond.as_object() else {
        return Err(ExplainError::new("trust policy", "Condition is not an object"));
    };
    for (op, keys) in ops {
        let Some(keys) = keys.as_object() else {
            return Err(ExplainError::new("trust policy", format!("Condition {op} is not an object")));
        };
        let base = op.trim_start_matches("ForAnyValue:").trim_start_matches("ForAllValues:");
        let (base, if_exists) = match base.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (base, false),
        };
        for (key, values) in keys {
            let expected = strings(Some(values));
            let name = format!("{op} {key}");
            let (host, claim) = key.rsplit_once(':').unwrap_or(("", key.as_str()));
            let actual: Option<String> = if host.eq_ignore_ascii_case(token_host) {
                match claim.to_ascii_lowercase().as_str() {
                    "aud" => token.audiences().first().cloned(),
                    "sub" => token.str("sub").map(str::to_owned),
                    "amr" => token.str("amr").map(str::to_owned),
                    _ => None,
                }
            } else {
                None
            };
            let Some(actual) = actual else {
                if if_exists {
                    out.push(Check::pass(name, "(absent)", "…IfExists: absent is fine"));
                    continue;
                }
                let why = if host.eq_ignore_ascii_case(token_host) {
                    format!(
                        "AWS gives a web identity role only the aud, sub and amr claims as condition keys, not {claim}: condition on sub instead"
                    )
                } else if host.trim_end_matches('/').eq_ignore_ascii_case(token_host) {
                    format!(
                        "the key names the provider `{host}` with a trailing slash; the provider is `{token_host}`, so this key never exists: write {token_host}:{claim}"
                    )
                } else {
                    format!(
                        "the key names the provider `{host}`, but this token comes from `{token_host}`, so the key does not exist and the condition fails"
                    )
                };
                out.push(Check::fail(name, "(no such key for this token)", expected.join(" | "), why));
                continue;
            };
            let (passed, why) = match base {
                "StringEquals" | "StringLike" => {
                    let like = base == "StringLike";
                    let reasons: Vec<String> =
                        expected.iter().filter_map(|e| diff::subject(&actual, e, like, like)).collect();
                    if reasons.len() < expected.len() {
                        (true, None)
                    } else if claim.eq_ignore_ascii_case("aud") {
                        (
                            false,
                            Some(audience_hint(std::slice::from_ref(&actual), &expected, "the condition")),
                        )
                    } else {
                        (false, reasons.into_iter().next())
                    }
                }
                "StringEqualsIgnoreCase" => {
                    let ok = expected.iter().any(|e| e.eq_ignore_ascii_case(&actual));
                    (ok, (!ok).then(|| format!("`{actual}` is none of the values, even ignoring case")))
                }
                "StringNotEquals" | "StringNotLike" => {
                    let like = base == "StringNotLike";
                    let hit = expected.iter().find(|e| diff::subject(&actual, e, like, like).is_none());
                    (
                        hit.is_none(),
                        hit.map(|h| format!("`{actual}` matches `{h}`, which this condition excludes")),
                    )
                }
                other => {
                    return Err(ExplainError::new(
                        "trust policy",
                        format!(
                            "condition operator {other} is not one tern evaluates (StringEquals, StringLike, StringNotEquals, StringNotLike, StringEqualsIgnoreCase, with IfExists/ForAnyValue)"
                        ),
                    ));
                }
            };
            out.push(Check::with(passed, &name, &actual, &expected.join(" | "), why));
        }
    }
    Ok(out)
}
