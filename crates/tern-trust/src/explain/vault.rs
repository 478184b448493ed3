//! Vault / OpenBao JWT auth login: the auth method's issuer and algorithms, and the role's
//! audiences, subject, bound claims (string or glob), user claim and time leeways, with Vault's
//! own error messages.

use serde_json::Value;

use super::{Check, ExplainError, Explanation, Token, strings, time_checks};
use crate::diff;
use crate::scope::Cloud;

/// A JWT auth role (`vault read -format=json auth/jwt/role/<name>`, or its `data`) and,
/// optionally, the auth method's config (`auth/jwt/config`).
#[derive(Debug, Clone)]
pub struct VaultTrust {
    /// The role.
    pub role: Value,
    /// The role's name, for messages.
    pub role_name: String,
    /// The auth method's config.
    pub config: Option<Value>,
}

fn data(v: &Value) -> &Value {
    v.get("data").filter(|d| d.is_object()).unwrap_or(v)
}

/// Leeway fields: 0 → the default, negative → none.
fn leeway(v: Option<&Value>, default: u64) -> u64 {
    match v.and_then(Value::as_i64) {
        None | Some(0) => default,
        Some(n) if n < 0 => 0,
        Some(n) => u64::try_from(n).unwrap_or(default),
    }
}

/// Would `vault write auth/<path>/login role=<role> jwt=<token>` succeed?
pub fn vault(token: &Token<'_>, now: u64, trust: &VaultTrust) -> Result<Explanation, ExplainError> {
    let role = data(&trust.role);
    if !role.is_object() {
        return Err(ExplainError::new("role", "expected a JSON object"));
    }
    let mut checks = Vec::new();
    let mut notes = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new(); // (check name, Vault's message)
    let mut push = |c: Check, vault_message: &str, checks: &mut Vec<Check>| {
        if !c.passed {
            errors.push((c.name.clone(), vault_message.to_owned()));
        }
        checks.push(c);
    };

    let role_type = role.get("role_type").and_then(Value::as_str).unwrap_or("oidc");
    if role_type != "jwt" {
        push(
            Check::fail(
                "role_type",
                "jwt login",
                role_type,
                "a role of type oidc serves browser logins; a token logs in to a role of type jwt",
            ),
            "role with oidc role_type is not allowed",
            &mut checks,
        );
    }

    // The auth method: algorithms and issuer.
    let iss = token.show("iss");
    match trust.config.as_ref().map(data) {
        Some(cfg) => {
            let algs = strings(cfg.get("jwt_supported_algs"));
            let algs = if algs.is_empty() { vec!["RS256".to_owned()] } else { algs };
            if let Some(alg) = token.algorithm() {
                let ok = algs.iter().any(|a| a == alg);
                push(
                    Check::with(ok, "jwt_supported_algs", alg, &algs.join(", "), (!ok).then(|| format!("the auth method accepts {} (RS256 when jwt_supported_algs is unset); add {alg}, or sign with RS256", algs.join(", ")))),
                    "error validating signature: unsupported signing algorithm",
                    &mut checks,
                );
            }
            let discovery = cfg.get("oidc_discovery_url").and_then(Value::as_str).filter(|s| !s.is_empty());
            let bound = cfg.get("bound_issuer").and_then(Value::as_str).filter(|s| !s.is_empty());
            if let Some(url) = discovery {
                let why = diff::issuer(&iss, url);
                push(
                    Check::with(why.is_none(), "oidc_discovery_url (issuer)", &iss, url, why),
                    "error validating token: invalid issuer (iss) claim",
                    &mut checks,
                );
            }
            if let Some(b) = bound {
                let why = diff::issuer(&iss, b);
                push(
                    Check::with(why.is_none(), "bound_issuer", &iss, b, why),
                    "error validating claims: invalid issuer (iss) claim",
                    &mut checks,
                );
            }
            if discovery.is_none() && bound.is_none() {
                notes.push("the auth method sets neither oidc_discovery_url nor bound_issuer: any issuer whose key it holds is accepted".into());
            }
        }
        None => notes.push("issuer and algorithm not checked: give --config with the auth method's config (vault read -format=json auth/jwt/config)".into()),
    }

    // Times: exp with expiration_leeway (default 150 s) plus clock_skew_leeway (default 60 s).
    let skew = leeway(role.get("clock_skew_leeway"), 60);
    let exp_leeway = leeway(role.get("expiration_leeway"), 150).saturating_add(skew);
    let nbf_leeway = leeway(role.get("not_before_leeway"), 150).saturating_add(skew);
    for c in time_checks(token, now, exp_leeway, nbf_leeway) {
        let msg = if c.name == "exp" {
            "error validating claims: token is expired"
        } else {
            "error validating claims: token not valid yet (nbf)"
        };
        push(c, msg, &mut checks);
    }

    // Audience: strict for jwt logins.
    let auds = token.audiences();
    let bound_auds = strings(role.get("bound_audiences"));
    if bound_auds.is_empty() {
        if !auds.is_empty() {
            push(
                Check::fail(
                    "bound_audiences",
                    auds.join(", "),
                    "(none)",
                    "the role binds no audience but the token has one; Vault refuses that: set bound_audiences to the token's aud",
                ),
                "audience claim found in JWT but no audiences bound to the role",
                &mut checks,
            );
        }
    } else {
        let ok = auds.iter().any(|a| bound_auds.contains(a));
        let why = (!ok).then(|| {
            format!(
                "the token's aud ({}) is none of bound_audiences; tern's default for Vault is vault.workload.identity, and TFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE overrides it",
                auds.join(", ")
            )
        });
        push(
            Check::with(ok, "bound_audiences", &auds.join(", "), &bound_auds.join(" | "), why),
            "error validating claims: invalid audience (aud) claim",
            &mut checks,
        );
    }

    // bound_subject: exact.
    if let Some(bs) = role.get("bound_subject").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let sub = token.show("sub");
        let why = diff::subject(&sub, bs, false, false);
        push(
            Check::with(why.is_none(), "bound_subject", &sub, bs, why),
            "sub claim does not match bound subject",
            &mut checks,
        );
    }

    // bound_claims: every claim must match one of its values.
    let glob = role.get("bound_claims_type").and_then(Value::as_str) == Some("glob");
    if let Some(bound) = role.get("bound_claims").and_then(Value::as_object) {
        for (claim, expected) in bound {
            let name = format!("bound_claims[{claim}]{}", if glob { " (glob)" } else { "" });
            let actual = claim_value(token, claim);
            let expected_list = strings(Some(expected));
            let Some(actual) = actual else {
                push(
                    Check::fail(
                        &name,
                        "(absent)",
                        expected_list.join(" | "),
                        format!("the token has no {claim} claim; the claim profile in use does not emit it"),
                    ),
                    &format!("claim {claim:?} is missing"),
                    &mut checks,
                );
                continue;
            };
            let actual_list = strings(Some(&actual));
            let reasons: Vec<String> = expected_list
                .iter()
                .flat_map(|e| actual_list.iter().map(move |a| (a, e)))
                .filter_map(
                    |(a, e)| if glob { diff::subject(a, e, true, false) } else { diff::claim(claim, a, e) },
                )
                .collect();
            let ok =
                reasons.len() < expected_list.len() * actual_list.len().max(1) && !actual_list.is_empty();
            let mut why = if ok { None } else { reasons.into_iter().next() };
            if !ok && !glob && expected_list.iter().any(|e| e.contains('*')) {
                why = Some(format!(
                    "{}; the role's bound_claims_type is \"string\", so `*` is a literal character: set bound_claims_type=glob",
                    why.unwrap_or_default()
                ));
            }
            push(
                Check::with(ok, &name, &actual_list.join(", "), &expected_list.join(" | "), why),
                &format!("claim {claim:?} does not match any associated bound claim values"),
                &mut checks,
            );
        }
    }

    // user_claim: must be present (a string or number).
    let user_claim = role.get("user_claim").and_then(Value::as_str).unwrap_or("sub");
    match claim_value(token, user_claim) {
        Some(Value::String(s)) => checks.push(Check::pass(format!("user_claim {user_claim}"), s, "present")),
        Some(Value::Number(n)) => {
            checks.push(Check::pass(format!("user_claim {user_claim}"), n.to_string(), "present"))
        }
        Some(other) => push(
            Check::fail(
                format!("user_claim {user_claim}"),
                other.to_string(),
                "a string",
                "the user claim must be a string",
            ),
            &format!("error converting claim '{user_claim}' to string"),
            &mut checks,
        ),
        None => push(
            Check::fail(
                format!("user_claim {user_claim}"),
                "(absent)",
                "present",
                format!(
                    "the token has no {user_claim} claim; tern's profiles emit terraform_full_workspace (tfc, otf) or terrakube_workspace_id"
                ),
            ),
            &format!("claim {user_claim:?} not found in token"),
            &mut checks,
        ),
    }
    if let Some(groups) = role.get("groups_claim").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let present = claim_value(token, groups).is_some();
        push(
            Check::with(
                present,
                &format!("groups_claim {groups}"),
                if present { "present" } else { "(absent)" },
                "present",
                (!present).then(|| format!("the token has no {groups} claim: clear groups_claim")),
            ),
            &format!("{groups:?} claim not found in token"),
            &mut checks,
        );
    }
    if !strings(role.get("bound_cidrs")).is_empty() || !strings(role.get("token_bound_cidrs")).is_empty() {
        notes.push("bound_cidrs: not checked; the login must also come from an allowed address".into());
    }
    notes.push("the signature is not checked here: use `tern token verify`".into());

    let first = checks.iter().find(|c| !c.passed).map(|c| c.name.clone());
    let cloud_error = first.and_then(|f| {
        errors
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(_, m)| format!("Error writing data to auth/jwt/login: Code: 400. Errors: * {m}"))
    });
    Ok(Explanation {
        cloud: Cloud::Vault,
        target: format!("role {:?}", trust.role_name),
        checks,
        cloud_error,
        notes,
    })
}

/// A claim by name, or by JSON pointer (`/a/b`).
fn claim_value(token: &Token<'_>, claim: &str) -> Option<Value> {
    if claim.starts_with('/') {
        Value::Object(token.claims.clone()).pointer(claim).cloned()
    } else {
        token.claims.get(claim).cloned()
    }
}
