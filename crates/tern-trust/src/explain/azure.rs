//! Microsoft Entra ID federated identity credentials: issuer, subject and audience compared
//! exactly (case-sensitive), any credential of the application may match.

use serde_json::Value;

use super::{Check, ExplainError, Explanation, Token, best, strings, time_checks};
use crate::diff;
use crate::scope::Cloud;

/// The federated identity credentials of an application (one object, or an array as
/// `az ad app federated-credential list` prints).
#[derive(Debug, Clone)]
pub struct AzureTrust {
    /// The credentials.
    pub credentials: Value,
}

/// Would Entra ID accept this token as a client assertion?
pub fn azure(token: &Token<'_>, now: u64, trust: &AzureTrust) -> Result<Explanation, ExplainError> {
    let creds: Vec<&Value> = match &trust.credentials {
        Value::Array(a) => a.iter().collect(),
        o @ Value::Object(_) => vec![o],
        _ => return Err(ExplainError::new("federated credential", "expected an object or an array of them")),
    };
    if creds.is_empty() {
        return Err(ExplainError::new(
            "federated credential",
            "the list is empty: the application trusts no token",
        ));
    }
    let iss = token.show("iss");
    let sub = token.show("sub");
    let auds = token.audiences();
    let mut candidates = Vec::new();
    for (i, c) in creds.iter().enumerate() {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        if !c.get("claimsMatchingExpression").is_none_or(Value::is_null) {
            return Err(ExplainError::new(
                "federated credential",
                "claimsMatchingExpression (flexible federated credentials) is not evaluated by tern; use an exact subject",
            ));
        }
        let label = match field("name") {
            "" => format!("federated credential {}", i + 1),
            n => format!("federated credential {n:?}"),
        };
        let mut checks = Vec::new();
        let why = diff::issuer(&iss, field("issuer"));
        checks.push(Check::with(why.is_none(), "issuer", &iss, field("issuer"), why));
        let why = diff::subject(&sub, field("subject"), false, false).map(|w| {
            if field("subject").contains('*') {
                format!("{w}; Entra ID has no wildcards: the subject must be exact, one credential per workspace and phase")
            } else {
                w
            }
        });
        checks.push(Check::with(why.is_none(), "subject", &sub, field("subject"), why));
        let expected = strings(c.get("audiences"));
        let ok = auds.iter().any(|a| expected.contains(a));
        let why = (!ok).then(|| {
            format!(
                "the token's aud ({}) is not in audiences ({}); tern's default for Azure is api://AzureADTokenExchange, and TFC_AZURE_WORKLOAD_IDENTITY_AUDIENCE overrides it",
                auds.join(", "),
                expected.join(", ")
            )
        });
        checks.push(Check::with(ok, "audiences", &auds.join(", "), &expected.join(" | "), why));
        checks.extend(time_checks(token, now, 300, 300));
        let first = checks.iter().find(|c| !c.passed).map(|c| c.name.clone());
        let cloud_error = match first.as_deref() {
            Some("issuer") => Some(
                "AADSTS700211: No matching federated identity record found for presented assertion issuer"
                    .into(),
            ),
            Some("audiences") => Some(
                "AADSTS700212: No matching federated identity record found for presented assertion audience"
                    .into(),
            ),
            Some("exp" | "nbf") => {
                Some("AADSTS700024: Client assertion is not within its valid time range.".into())
            }
            Some(_) => Some(
                "AADSTS70021: No matching federated identity record found for presented assertion.".into(),
            ),
            None => None,
        };
        candidates.push(Explanation {
            cloud: Cloud::Azure,
            target: label,
            checks,
            cloud_error,
            notes: vec!["the signature is not checked here: use `tern token verify`".into()],
        });
    }
    best(candidates).ok_or_else(|| ExplainError::new("federated credential", "no credential"))
}
