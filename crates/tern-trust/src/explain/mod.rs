//! Would the cloud accept this token? Each cloud's rules, evaluated on the token's claims, with
//! every condition's actual and expected value, and why they differ.

mod aws;
mod azure;
mod cel;
mod gcp;
mod vault;

use std::fmt;

use serde_json::{Map, Value};

pub use aws::{AwsTrust, aws};
pub use azure::{AzureTrust, azure};
pub use cel::{CelError, CelValue, evaluate as evaluate_cel};
pub use gcp::{GcpTrust, gcp};
pub use vault::{VaultTrust, vault};

use crate::scope::Cloud;

/// A trust configuration tern cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ExplainError {
    /// Which input.
    pub what: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ExplainError {
    pub(crate) fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { what: what.into(), reason: reason.into() }
    }
}

/// One condition the cloud evaluates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked, in the cloud's words (e.g. `StringLike tern.example.com:sub`).
    pub name: String,
    /// Whether the token passes it.
    pub passed: bool,
    /// The token's value.
    pub actual: String,
    /// What the configuration expects.
    pub expected: String,
    /// Why they differ (or a note when they match).
    pub why: Option<String>,
}

impl Check {
    pub(crate) fn pass(
        name: impl Into<String>,
        actual: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self { name: name.into(), passed: true, actual: actual.into(), expected: expected.into(), why: None }
    }

    pub(crate) fn fail(
        name: impl Into<String>,
        actual: impl Into<String>,
        expected: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            passed: false,
            actual: actual.into(),
            expected: expected.into(),
            why: Some(why.into()),
        }
    }

    pub(crate) fn with(passed: bool, name: &str, actual: &str, expected: &str, why: Option<String>) -> Self {
        Self { name: name.to_owned(), passed, actual: actual.to_owned(), expected: expected.to_owned(), why }
    }
}

/// The verdict and the evaluation behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The cloud.
    pub cloud: Cloud,
    /// What was evaluated (a statement, a credential, a role).
    pub target: String,
    /// The conditions, in the order the cloud checks them.
    pub checks: Vec<Check>,
    /// What the cloud says when it refuses for the first failing reason.
    pub cloud_error: Option<String>,
    /// What could not be checked from the inputs, and other remarks.
    pub notes: Vec<String>,
}

impl Explanation {
    /// Whether the cloud would accept the token.
    pub fn accepted(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The first failing condition.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.passed)
    }

    fn passed_count(&self) -> usize {
        self.checks.iter().filter(|c| c.passed).count()
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first_failure() {
            None => writeln!(f, "{}: ACCEPTED by {}", self.cloud, self.target)?,
            Some(c) => {
                writeln!(f, "{}: REFUSED by {}", self.cloud, self.target)?;
                writeln!(f, "  first failing check: {}", c.name)?;
                if let Some(why) = &c.why {
                    writeln!(f, "  why: {why}")?;
                }
                if let Some(e) = &self.cloud_error {
                    writeln!(f, "  the cloud says: {e}")?;
                }
            }
        }
        writeln!(f)?;
        for c in &self.checks {
            writeln!(f, "  {}  {}", if c.passed { "pass" } else { "FAIL" }, c.name)?;
            writeln!(f, "        token:    {}", c.actual)?;
            writeln!(f, "        expected: {}", c.expected)?;
            if let Some(why) = &c.why {
                writeln!(f, "        {:<9} {why}", if c.passed { "note:" } else { "why:" })?;
            }
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// A token's claims (decoded, not verified) and header.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    /// The claims.
    pub claims: &'a Map<String, Value>,
    /// The header, when known (for the algorithm).
    pub header: Option<&'a Map<String, Value>>,
}

impl Token<'_> {
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub(crate) fn show(&self, name: &str) -> String {
        match self.claims.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "(absent)".to_owned(),
        }
    }

    /// `aud` as a list (a string or an array of strings).
    pub(crate) fn audiences(&self) -> Vec<String> {
        strings(self.claims.get("aud"))
    }

    pub(crate) fn time(&self, name: &str) -> Option<u64> {
        self.claims.get(name).and_then(Value::as_u64)
    }

    pub(crate) fn algorithm(&self) -> Option<&str> {
        self.header.and_then(|h| h.get("alg")).and_then(Value::as_str)
    }
}

/// A JSON string or array of strings as a list; anything else is empty.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// The `exp`/`nbf` checks with `leeway` seconds.
pub(crate) fn time_checks(token: &Token<'_>, now: u64, exp_leeway: u64, nbf_leeway: u64) -> Vec<Check> {
    use tern_identity::verify::{ago, rfc3339};
    let mut out = Vec::new();
    match token.time("exp") {
        None => out.push(Check::fail("exp", "(absent)", "a time in the future", "the token has no exp claim")),
        Some(exp) if exp.saturating_add(exp_leeway) < now => out.push(Check::fail(
            "exp",
            rfc3339(exp),
            format!("after {} (now{})", rfc3339(now), leeway_text(exp_leeway)),
            format!(
                "the token expired {} ago; mint a new one (tern refreshes file tokens during a phase; a token pasted by hand goes stale)",
                ago(exp, now)
            ),
        )),
        Some(exp) => out.push(Check::pass("exp", rfc3339(exp), format!("after {}{}", rfc3339(now), leeway_text(exp_leeway)))),
    }
    if let Some(nbf) = token.time("nbf") {
        if nbf > now.saturating_add(nbf_leeway) {
            out.push(Check::fail(
                "nbf",
                rfc3339(nbf),
                format!("before {}{}", rfc3339(now), leeway_text(nbf_leeway)),
                format!("the token is not valid for another {}: is a clock wrong?", ago(now, nbf)),
            ));
        } else {
            out.push(Check::pass(
                "nbf",
                rfc3339(nbf),
                format!("before {}{}", rfc3339(now), leeway_text(nbf_leeway)),
            ));
        }
    }
    out
}

fn leeway_text(leeway: u64) -> String {
    if leeway == 0 { String::new() } else { format!(", with {leeway}s leeway") }
}

/// Of several candidates (statements, credentials), the accepted one, else the closest.
pub(crate) fn best(candidates: Vec<Explanation>) -> Option<Explanation> {
    let mut best: Option<Explanation> = None;
    for c in candidates {
        let better = match &best {
            None => true,
            Some(b) => {
                (c.accepted() && !b.accepted()) || (!b.accepted() && c.passed_count() > b.passed_count())
            }
        };
        if better {
            best = Some(c);
        }
    }
    best
}

/// Parse a JSON input; Terraform (HCL) given instead is named as such, with where the JSON comes
/// from.
pub fn parse_json(what: &str, text: &str) -> Result<Value, ExplainError> {
    serde_json::from_str(text).map_err(|e| {
        if looks_like_hcl(text) {
            ExplainError::new(
                what,
                "this is Terraform (HCL), not the cloud's JSON: give the document as the cloud \
                 prints it (e.g. `aws iam get-role --role-name NAME --query Role.AssumeRolePolicyDocument`, \
                 `gcloud iam workload-identity-pools providers describe … --format=json`, \
                 `az ad app federated-credential list --id APP`), or `terraform show -json` of the \
                 resource's state"
                    .to_owned(),
            )
        } else {
            ExplainError::new(what, format!("not JSON: {e}"))
        }
    })
}

/// Whether text that is not JSON reads like a Terraform file: its first word is a block type,
/// or it assigns with `=`.
fn looks_like_hcl(text: &str) -> bool {
    let trimmed = text.trim_start();
    let first = trimmed.split(|c: char| c.is_whitespace() || c == '"').next().unwrap_or("");
    matches!(
        first,
        "resource" | "data" | "module" | "variable" | "locals" | "provider" | "terraform" | "output"
    ) || trimmed.lines().next().is_some_and(|l| {
        let l = l.trim();
        !l.starts_with(['{', '[']) && l.contains(" = ")
    })
}

/// The claims a token for `ctx` would carry (what `tern explain` evaluates when asked to mint a
/// sample instead of reading a token): the same claims [`tern_identity::mint`] writes.
pub fn sample_claims(
    issuer: &str,
    policy: &tern_identity::ClaimPolicy,
    ctx: &tern_identity::RunContext,
    audience: &str,
    issued_at: u64,
    ttl_seconds: u64,
) -> Map<String, Value> {
    let mut out = Map::new();
    let fixed = policy.fixed_claims(issuer, ctx);
    let mut fixed = fixed.into_iter();
    // Registered claims first, in minting order: iss, sub, aud, iat, nbf, exp, jti.
    for (k, v) in fixed.by_ref().take(2) {
        out.insert(k.to_owned(), Value::String(v));
    }
    out.insert("aud".into(), Value::String(audience.to_owned()));
    out.insert("iat".into(), Value::from(issued_at));
    out.insert("nbf".into(), Value::from(issued_at));
    out.insert("exp".into(), Value::from(issued_at.saturating_add(ttl_seconds)));
    out.insert("jti".into(), Value::String("sample".into()));
    for (k, v) in fixed {
        out.insert(k.to_owned(), Value::String(v));
    }
    out
}

#[cfg(test)]
mod hcl_tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn terraform_given_for_json_is_named() {
        let e = super::parse_json("the trust policy", "resource \"aws_iam_role\" \"r\" {\n}\n").unwrap_err();
        assert!(e.reason.contains("this is Terraform (HCL)"), "{}", e.reason);
        let e = super::parse_json("the trust policy", "assume_role_policy = jsonencode({})").unwrap_err();
        assert!(e.reason.contains("this is Terraform (HCL)"), "{}", e.reason);
        let e = super::parse_json("the trust policy", "{ broken").unwrap_err();
        assert!(e.reason.starts_with("not JSON"), "{}", e.reason);
    }
}
