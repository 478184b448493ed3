//! Google Cloud STS token exchange with a workload identity pool provider: issuer, allowed
//! audiences, attribute mapping (`google.subject` at most 127 bytes), attribute condition, and
//! optionally the principal a service account binding names.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cel::{self, CelValue};
use super::{Check, ExplainError, Explanation, Token, strings, time_checks};
use crate::diff;
use crate::scope::Cloud;

/// A Google workload identity pool provider (as `gcloud iam workload-identity-pools providers
/// describe --format json` prints it, or the `provider` of `tern trust gcp --format json`).
#[derive(Debug, Clone)]
pub struct GcpTrust {
    /// The provider description.
    pub provider: Value,
    /// A principal or principal set of a service account binding, to check too.
    pub member: Option<String>,
}

/// Would Google's STS exchange this token (and the binding let it impersonate)?
pub fn gcp(token: &Token<'_>, now: u64, trust: &GcpTrust) -> Result<Explanation, ExplainError> {
    let p = &trust.provider;
    let name = p.get("name").and_then(Value::as_str).unwrap_or("");
    let oidc = p.get("oidc").ok_or_else(|| {
        ExplainError::new("provider", "no oidc block (is this an OIDC workload identity pool provider?)")
    })?;
    let mut checks = Vec::new();
    let mut notes = Vec::new();
    let mut cloud_error = None;
    let set_error = |e: &str, c: &mut Option<String>| {
        if c.is_none() {
            *c = Some(e.to_owned());
        }
    };

    if p.get("disabled").and_then(Value::as_bool) == Some(true)
        || p.get("state").and_then(Value::as_str).is_some_and(|s| s != "ACTIVE")
    {
        checks.push(Check::fail(
            "provider state",
            "-",
            "ACTIVE and not disabled",
            "the provider is disabled or deleted",
        ));
    }

    let iss = token.show("iss");
    let issuer_uri = oidc.get("issuerUri").and_then(Value::as_str).unwrap_or("");
    let why = diff::issuer(&iss, issuer_uri);
    if why.is_some() {
        set_error(
            "invalid_grant: The issuer in ID Token does not match the expected issuer",
            &mut cloud_error,
        );
    }
    checks.push(Check::with(why.is_none(), "oidc.issuerUri", &iss, issuer_uri, why));

    let auds = token.audiences();
    let allowed = strings(oidc.get("allowedAudiences"));
    let (expected, defaulted) = if allowed.is_empty() {
        if name.is_empty() {
            return Err(ExplainError::new(
                "provider",
                "no allowedAudiences and no name: give the provider's full description (its name decides the default audience)",
            ));
        }
        (vec![format!("//iam.googleapis.com/{name}"), format!("https://iam.googleapis.com/{name}")], true)
    } else {
        (allowed, false)
    };
    let ok = auds.iter().any(|a| expected.contains(a));
    let why = (!ok).then(|| {
        let mut s = format!("the token's aud ({}) is not {}", auds.join(", "), if defaulted {
            "the provider's own resource name, which Google expects when allowedAudiences is empty"
        } else {
            "in allowedAudiences"
        });
        if let Some(a) = auds.first()
            && let Some(rest) = a.strip_prefix("//iam.googleapis.com/")
            && !name.is_empty()
            && rest != name
        {
            let a: Vec<&str> = rest.split('/').collect();
            let b: Vec<&str> = name.split('/').collect();
            if let Some(i) = (0..a.len().max(b.len())).find(|i| a.get(*i) != b.get(*i)) {
                let part = |v: &[&str]| v.get(i.saturating_sub(1)..=i).map(|p| p.join("/")).unwrap_or_default();
                s.push_str(&format!(
                    "; it names another provider: `{}` where this one is `{}`",
                    part(&a),
                    part(&b)
                ));
            }
        }
        s.push_str("; tern's default GCP audience is //iam.googleapis.com/<TFC_GCP_WORKLOAD_PROVIDER_NAME>, and TFC_GCP_WORKLOAD_IDENTITY_AUDIENCE overrides it");
        s
    });
    if why.is_some() {
        set_error(
            "invalid_grant: The audience in ID Token does not match the expected audience",
            &mut cloud_error,
        );
    }
    checks.push(Check::with(ok, "oidc.allowedAudiences", &auds.join(", "), &expected.join(" | "), why));

    let times = time_checks(token, now, 0, 0);
    if times.iter().any(|c| !c.passed) {
        set_error("invalid_grant: ID Token expired or not yet valid", &mut cloud_error);
    }
    checks.extend(times);

    // Attribute mapping.
    let assertion = CelValue::from_json(&Value::Object(token.claims.clone()));
    let mut env = BTreeMap::from([("assertion".to_owned(), assertion)]);
    let mapping = p.get("attributeMapping").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut attributes = BTreeMap::new();
    let mut google = BTreeMap::new();
    if !mapping.contains_key("google.subject") {
        checks.push(Check::fail(
            "attributeMapping[google.subject]",
            "(unmapped)",
            "a mapping such as assertion.sub",
            "Google requires a mapping for google.subject",
        ));
    }
    for (target, expr) in &mapping {
        let Some(src) = expr.as_str() else {
            return Err(ExplainError::new("provider", format!("attributeMapping[{target}] is not a string")));
        };
        let parsed = cel::parse(src)
            .map_err(|e| ExplainError::new("provider", format!("attributeMapping[{target}] {src:?}: {e}")))?;
        match cel::eval(&parsed, &env) {
            Ok(CelValue::Str(v)) => {
                if target == "google.subject" {
                    let len = v.len();
                    if len > 127 {
                        set_error(
                            "invalid_argument: The size of mapped attribute google.subject exceeds the 127 bytes limit",
                            &mut cloud_error,
                        );
                        checks.push(Check::fail(
                            "attributeMapping[google.subject] size",
                            format!("{len} bytes: {v}"),
                            "at most 127 bytes",
                            "Google refuses a google.subject over 127 bytes; map a shorter claim (e.g. assertion.terraform_workspace_id) or shorten names",
                        ));
                    } else {
                        checks.push(Check::pass("attributeMapping[google.subject]", &v, src));
                    }
                    google.insert("subject".to_owned(), CelValue::Str(v));
                } else if let Some(attr) = target.strip_prefix("attribute.") {
                    attributes.insert(attr.to_owned(), CelValue::Str(v));
                } else if target == "google.groups" {
                    google.insert("groups".to_owned(), CelValue::Str(v));
                }
            }
            Ok(other) => {
                if let Some(attr) = target.strip_prefix("attribute.") {
                    attributes.insert(attr.to_owned(), other);
                }
            }
            Err(e) if target == "google.subject" => {
                checks.push(Check::fail("attributeMapping[google.subject]", "(error)", src, e.to_string()));
            }
            Err(e) => {
                notes.push(format!("attributeMapping[{target}] {src:?} yields nothing for this token ({e})"))
            }
        }
    }
    env.insert("attribute".to_owned(), CelValue::Map(attributes.clone()));
    env.insert("google".to_owned(), CelValue::Map(google.clone()));

    // Attribute condition, one conjunct at a time.
    if let Some(cond) = p.get("attributeCondition").and_then(Value::as_str).filter(|c| !c.trim().is_empty()) {
        let parsed = cel::parse(cond)
            .map_err(|e| ExplainError::new("provider", format!("attributeCondition: {e}")))?;
        let whole = cel::eval(&parsed, &env);
        if whole != Ok(CelValue::Bool(true)) {
            set_error(
                "unauthorized_client: The given credential is rejected by the attribute condition.",
                &mut cloud_error,
            );
        }
        for term in cel::conjuncts(&parsed) {
            checks.push(condition_check(term, &env));
        }
        if let Err(e) = whole
            && checks.iter().all(|c| c.passed)
        {
            checks.push(Check::fail("attributeCondition", "(error)", cond, e.to_string()));
        }
    } else {
        notes.push(
            "the provider has no attribute condition: every token of this issuer is exchanged (Google requires one for some issuers; add one, e.g. from tern trust gcp)"
                .into(),
        );
    }

    if let Some(member) = &trust.member {
        checks.push(member_check(member, name, &google, &attributes));
        if checks.last().is_some_and(|c| !c.passed) {
            set_error(
                "PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
                &mut cloud_error,
            );
        }
    } else {
        notes.push("the service account binding is not checked: give --member with the principal(Set) it grants roles/iam.workloadIdentityUser".into());
    }
    notes.push("the signature is not checked here: use `tern token verify`".into());
    Ok(Explanation {
        cloud: Cloud::Gcp,
        target: if name.is_empty() {
            "the workload identity provider".into()
        } else {
            format!("provider {name}")
        },
        checks,
        cloud_error,
        notes,
    })
}

/// One conjunct of the condition: for `x == "lit"` say how x differs.
fn condition_check(term: &cel::Expr, env: &BTreeMap<String, CelValue>) -> Check {
    let text = cel::show(term);
    let name = format!("attributeCondition: {text}");
    match cel::eval(term, env) {
        Ok(CelValue::Bool(true)) => {
            let actual = match term {
                cel::Expr::Bin(_, l, _) => cel::eval(l, env).map(|v| v.show()).unwrap_or_default(),
                _ => "true".into(),
            };
            Check::pass(name, actual, text)
        }
        Ok(other) => {
            let (actual, expected, why) = match term {
                cel::Expr::Bin("==", l, r) => {
                    let a = cel::eval(l, env);
                    let b = cel::eval(r, env);
                    match (a, b) {
                        (Ok(CelValue::Str(a)), Ok(CelValue::Str(b))) => {
                            let claim = match l.as_ref() {
                                cel::Expr::Field(_, n) => n.clone(),
                                _ => String::new(),
                            };
                            let why = diff::claim(&claim, &a, &b);
                            (format!("{a:?}"), format!("{b:?}"), why.unwrap_or_else(|| "not equal".into()))
                        }
                        (a, b) => (show(a), show(b), "not equal".into()),
                    }
                }
                _ => (other.show(), "true".into(), "this term is false for the token".into()),
            };
            Check::fail(name, actual, expected, why)
        }
        Err(e) => Check::fail(name, "(error)", "true", format!("{e}: Google treats an error as a refusal")),
    }
}

fn show(v: Result<CelValue, cel::CelError>) -> String {
    match v {
        Ok(v) => v.show(),
        Err(e) => format!("(error: {e})"),
    }
}

fn member_check(
    member: &str,
    provider: &str,
    google: &BTreeMap<String, CelValue>,
    attributes: &BTreeMap<String, CelValue>,
) -> Check {
    let pool = provider.split("/providers/").next().unwrap_or("");
    let name = "service account binding member";
    let rest = member
        .strip_prefix("principal://iam.googleapis.com/")
        .map(|r| (false, r))
        .or_else(|| member.strip_prefix("principalSet://iam.googleapis.com/").map(|r| (true, r)));
    let Some((set, rest)) = rest else {
        return Check::fail(
            name,
            "-",
            member,
            "not a workload identity principal (principal:// or principalSet://iam.googleapis.com/…)",
        );
    };
    let Some(tail) = rest.strip_prefix(pool).and_then(|t| t.strip_prefix('/')) else {
        return Check::fail(
            name,
            pool,
            member,
            format!("the binding names another pool; this provider's pool is {pool}"),
        );
    };
    let subject = match google.get("subject") {
        Some(CelValue::Str(s)) => s.clone(),
        _ => String::new(),
    };
    match (set, tail) {
        (true, "*") => Check::pass(name, "any identity of the pool", member),
        (false, t) if t.starts_with("subject/") => {
            let want = &t["subject/".len()..];
            let why = diff::subject(&subject, want, false, false);
            Check::with(why.is_none(), name, &subject, want, why)
        }
        (true, t) if t.starts_with("attribute.") => {
            let (attr, value) = t["attribute.".len()..].split_once('/').unwrap_or((t, ""));
            let actual = match attributes.get(attr) {
                Some(CelValue::Str(s)) => s.clone(),
                Some(other) => other.show(),
                None => "(unmapped)".into(),
            };
            let why = if actual == "(unmapped)" {
                Some(format!("attribute.{attr} is not mapped: add it to the attribute mapping"))
            } else {
                diff::claim(attr, &actual, value)
            };
            Check::with(why.is_none(), &format!("{name} (attribute.{attr})"), &actual, value, why)
        }
        _ => Check::fail(name, "-", member, "tern cannot evaluate this principal form (group/…)"),
    }
}
