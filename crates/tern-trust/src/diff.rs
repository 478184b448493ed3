//! Where two values differ, said for people: the first differing segment of a subject, and the
//! known causes (a trailing slash, the project segment, the phase, `Default Project`, case).

use crate::glob;

/// Why `actual` does not match `expected` (a value, or a pattern when `wildcards`), or `None`
/// when it does. `question` lets `?` match one character (AWS `StringLike`).
pub(crate) fn subject(actual: &str, expected: &str, wildcards: bool, question: bool) -> Option<String> {
    let matches = if wildcards { glob::matches(expected, actual, question) } else { actual == expected };
    if matches {
        return None;
    }
    let a: Vec<&str> = actual.split(':').collect();
    let e: Vec<&str> = expected.split(':').collect();
    let seg_ok = |x: &str, y: &str| if wildcards { glob::matches(y, x, question) } else { x == y };
    // The whole value did not match; point at the first segment that does not match on its
    // own (a `*` that spans segments makes this a guide, not a proof).
    for i in 0..a.len().max(e.len()) {
        match (a.get(i), e.get(i)) {
            (Some(x), Some(y)) if seg_ok(x, y) => continue,
            (Some(x), Some(y)) => return Some(segment_hint(i, &a, x, y, wildcards)),
            (Some(_), None) => {
                return Some(format!(
                    "the token's subject goes on after the expected one ends: extra `{}`{}",
                    a[i..].join(":"),
                    if a[i..].first() == Some(&"run_phase") {
                        " (a trust written for Terrakube's subject, which names no phase; add `:run_phase:<phase>` or `:run_phase:*`)"
                    } else {
                        ""
                    }
                ));
            }
            (None, Some(_)) => {
                return Some(format!(
                    "the token's subject ends where the expected one goes on with `{}`",
                    e[i..].join(":")
                ));
            }
            (None, None) => break,
        }
    }
    Some(format!("`{actual}` does not match `{expected}`"))
}

fn segment_hint(i: usize, a: &[&str], x: &str, y: &str, wildcards: bool) -> String {
    let key_position = i.is_multiple_of(2);
    let mut msg = format!("segment {} differs: the token has `{x}`, the trust expects `{y}`", i + 1);
    let hint = if key_position && x == "project" && y == "workspace" {
        Some(
            "the trust has no project segment, but these tokens name the project (HCP Terraform's layout organization:<org>:project:<project>:workspace:<ws>:run_phase:<phase>); insert `project:<name>:` (or `project:*:`)"
                .to_owned(),
        )
    } else if key_position && x == "workspace" && y == "project" {
        Some(
            "the trust expects a project segment, but these tokens have none (OTF's and Terrakube's layouts); drop `project:<name>:` from the trust, or serve the tfc claim profile"
                .to_owned(),
        )
    } else if key_position {
        None
    } else {
        value_hint(a.get(i - 1).copied().unwrap_or(""), x, y, wildcards)
    };
    if let Some(h) = hint {
        msg.push_str(": ");
        msg.push_str(&h);
    }
    msg
}

/// The usual causes of a differing value of subject key `key` (`run_phase`, `project`, …).
fn value_hint(key: &str, x: &str, y: &str, wildcards: bool) -> Option<String> {
    if !wildcards && y.contains('*') {
        Some("`*` is a literal character in an exact comparison: use a wildcard operator (AWS StringLike, Vault bound_claims_type=glob), or an exact value".to_owned())
    } else if key == "run_phase" {
        Some(format!(
            "wrong phase: this is a {x} token and the trust admits {y} only; plan and apply get separate tokens, so trust `run_phase:*`, or give the {x} phase its own role (TFC_<P>_{}_…)",
            x.to_ascii_uppercase()
        ))
    } else if key == "project" && x == "Default Project" {
        Some("HCP Terraform's default project is named `Default Project`, with a capital D, a capital P and a space, verbatim in sub".to_owned())
    } else if x.eq_ignore_ascii_case(y) {
        Some("the values differ only in case, and the comparison is case-sensitive".to_owned())
    } else if x.trim() != x || y.trim() != y {
        Some("one of them has leading or trailing spaces".to_owned())
    } else {
        None
    }
}

/// Why a claim's value differs from the expected one, with the usual causes for the claims that
/// carry subject parts (`terraform_run_phase`, `terraform_project_name`, …).
pub(crate) fn claim(name: &str, actual: &str, expected: &str) -> Option<String> {
    if actual == expected {
        return None;
    }
    if name == "sub" || actual.contains(':') {
        return subject(actual, expected, false, false);
    }
    let key = if name.ends_with("run_phase") {
        "run_phase"
    } else if name.ends_with("project_name") {
        "project"
    } else {
        ""
    };
    let mut msg = format!("{name} is `{actual}`, the trust expects `{expected}`");
    if let Some(h) = value_hint(key, actual, expected, false) {
        msg.push_str(": ");
        msg.push_str(&h);
    }
    Some(msg)
}

/// Why an issuer does not equal the expected one, with the usual causes.
pub(crate) fn issuer(actual: &str, expected: &str) -> Option<String> {
    if actual == expected {
        return None;
    }
    let hint = if expected.trim_end_matches('/') == actual {
        "the trust has a trailing slash the token's iss does not; issuers are compared byte for byte: remove the slash"
    } else if actual.trim_end_matches('/') == expected {
        "the token's iss has a trailing slash; fix --issuer-url"
    } else if expected.strip_prefix("https://") == actual.strip_prefix("http://") {
        "the token's issuer is plain http, the trust expects https"
    } else if expected.eq_ignore_ascii_case(actual) {
        "they differ in case"
    } else if !expected.contains("://") && actual.ends_with(expected) {
        "the trust names the issuer without its scheme"
    } else {
        "the trust is for another issuer (host, port or path differ); it must be exactly tern's --issuer-url"
    };
    Some(format!("the token's iss is `{actual}`, the trust expects `{expected}`: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        let tfc = "organization:acme:project:Default Project:workspace:prod:run_phase:plan";
        let cases: &[(&str, &str, bool, &str)] = &[
            (tfc, tfc, false, ""),
            (tfc, "organization:acme:project:*:workspace:prod:run_phase:*", true, ""),
            (
                tfc,
                "organization:acme:workspace:prod:run_phase:plan",
                false,
                "segment 3 differs: the token has `project`, the trust expects `workspace`: the trust has no project segment",
            ),
            (
                tfc,
                "organization:acme:project:Default Project:workspace:prod:run_phase:apply",
                false,
                "wrong phase: this is a plan token",
            ),
            (
                tfc,
                "organization:acme:project:Default-Project:workspace:prod:run_phase:plan",
                false,
                "`Default Project`, with a capital D",
            ),
            (
                tfc,
                "organization:ACME:project:Default Project:workspace:prod:run_phase:plan",
                false,
                "differ only in case",
            ),
            (
                "organization:acme:workspace:prod:run_phase:plan",
                "organization:acme:workspace:prod",
                false,
                "extra `run_phase:plan` (a trust written for Terrakube",
            ),
            (
                "organization:acme:workspace:prod:run_phase:plan",
                "organization:acme:project:*:workspace:prod:run_phase:plan",
                true,
                "these tokens have none",
            ),
        ];
        for (a, e, w, want) in cases {
            let got = subject(a, e, *w, false).unwrap_or_default();
            assert!(got.contains(want), "{e}: {got}");
            assert_eq!(got.is_empty(), want.is_empty(), "{e}: {got}");
        }
        assert!(issuer("https://t.example", "https://t.example/").unwrap().contains("trailing slash"));
        assert!(issuer("https://t.example", "https://t.example").is_none());
    }
}
