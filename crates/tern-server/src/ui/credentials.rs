//! A workspace's credentials page: its dynamic credentials as the next run will see them, the
//! trust each configured cloud needs (what `tern trust` prints), the tokens minted lately, and
//! a form that checks a pasted trust document against the token a phase would carry (what
//! `tern explain` says). The check changes nothing; it is a form POST so that a document of up
//! to 64 KiB fits, and it carries the CSRF token like every other form.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tern_access::WorkspaceAction as WA;
use tern_store::{AuditFilter, Page, Workspace};
use tern_types::unix_seconds;

use super::{Nav, Viewer, failure, when};
use crate::api::{ApiError, ApiState};
use crate::app;
#[cfg(test)]
use crate::app::trust::PLACEHOLDER_RUN_ID;
use crate::app::trust::{CHECKABLE, CheckInput, Checked, CloudTrust, MAX_DOCUMENT_BYTES, Signing};
use crate::web;

/// A token minted for the workspace: (when, run, phase, audience, jti, expires).
type Minted = (String, String, String, String, String, String);

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage<'a> {
    nav: &'a Nav,
    org: &'a str,
    ws: &'a str,
    c: app::credentials::Credentials,
    /// `None`: the variables do not resolve (the problems say why).
    trust: Option<Vec<CloudTrust>>,
    minted: Vec<Minted>,
    may_read_trail: bool,
    /// The clouds the form offers: (value, name, selected).
    clouds: Vec<(&'static str, &'static str, bool)>,
    /// What the check form shows: the last choice and document, or the defaults.
    form: CheckInput,
    /// The last check's verdict, or why it could not be made.
    checked: Option<Result<Checked, String>>,
    max_kib: usize,
}

/// Trust checks evaluated at once: one, so a costly pasted document holds one thread, never all.
static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// `GET …/credentials`.
pub(crate) async fn credentials(
    State(s): State<ApiState>,
    v: Viewer,
    Path((org, ws)): Path<(String, String)>,
) -> Response {
    show(&s, v, &org, &ws, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cloud: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    document: String,
}

/// `POST …/credentials/check`: the page again, with the verdict on the pasted document.
pub(crate) async fn check(
    State(s): State<ApiState>,
    v: Viewer,
    headers: HeaderMap,
    Path((org, ws)): Path<(String, String)>,
    Form(f): Form<CheckForm>,
) -> Response {
    if let Err(r) = v.check_form(&s, &headers, &f.csrf) {
        return *r;
    }
    let input = CheckInput { cloud: f.cloud, phase: f.phase, document: f.document };
    show(&s, v, &org, &ws, Some(input)).await
}

async fn show(s: &ApiState, mut v: Viewer, org: &str, ws: &str, input: Option<CheckInput>) -> Response {
    match page(s, &mut v, org, ws, input).await {
        Ok(r) => r,
        Err(e) => failure(&v.nav, &e),
    }
}

async fn page(
    s: &ApiState,
    v: &mut Viewer,
    org: &str,
    ws: &str,
    input: Option<CheckInput>,
) -> Result<Response, ApiError> {
    let (ws, standing) = app::workspaces::by_name(s, &v.caller, org, ws, WA::ReadVariables).await?;
    v.nav.org = Some(ws.organization.clone());
    // The minted tokens come from the audit trail: shown to those who may read it, as the API.
    let may_read_trail = standing.organization(tern_access::OrgAction::ReadAuditTrail).is_ok();
    let context = app::credentials::context(s, &v.caller, &ws.id).await?;
    let c = app::credentials::view(s, &context);
    let trust = app::trust::configurations(&s.signer.issuer, &s.signer.policy, &context)?;
    let (status, checked, form) = match input {
        None => {
            // The first configured cloud the form can check, else AWS.
            let cloud = trust
                .iter()
                .flatten()
                .filter_map(|t| t.key.split('-').next())
                .find(|k| CHECKABLE.iter().any(|(c, _)| c == k))
                .unwrap_or("aws")
                .to_owned();
            (StatusCode::OK, None, CheckInput { cloud, phase: "plan".to_owned(), document: String::new() })
        }
        Some(mut input) => {
            let ring = s.signer.ring.load();
            let signing = Signing {
                issuer: &s.signer.issuer,
                policy: &s.signer.policy,
                algorithm: ring.signing_key().algorithm().as_str(),
                now: unix_seconds(s.clock.now()),
                ttl_seconds: s.signer.max_ttl.as_secs(),
            };
            // A pasted condition is evaluated on this thread (it borrows the request's data); at
            // most one at a time, and the runtime moves its other tasks to other threads meanwhile.
            let permit = CHECKS.acquire().await;
            let result = tokio::task::block_in_place(|| app::trust::check(&signing, &context, &input));
            drop(permit);
            if input.document.len() > MAX_DOCUMENT_BYTES {
                // Not echoed: the message says how large it was.
                input.document.clear();
            }
            match result {
                Ok(r) => (StatusCode::OK, Some(Ok(r)), input),
                Err(e) => (e.status, Some(Err(e.detail)), input),
            }
        }
    };
    let minted = minted(s, &context.ws, &context.masker, may_read_trail).await?;
    let html = CredentialsPage {
        nav: &v.nav,
        org: &ws.organization,
        ws: &ws.name,
        c,
        trust,
        minted,
        may_read_trail,
        clouds: CHECKABLE.iter().map(|&(k, n)| (k, n, form.cloud == k)).collect(),
        form,
        checked,
        max_kib: MAX_DOCUMENT_BYTES / 1024,
    }
    .render();
    Ok(web::page(status, html))
}

/// The newest 20 tokens minted for the workspace, newest first, when the caller may read the
/// audit trail (else none); an audience that is a sensitive variable's value is masked, as
/// everything else on the page is.
async fn minted(
    s: &ApiState,
    ws: &Workspace,
    masker: &app::credentials::Masker,
    may_read_trail: bool,
) -> Result<Vec<Minted>, ApiError> {
    let filter = AuditFilter {
        workspace_id: Some(ws.id.clone()),
        action: Some("token.minted".to_owned()),
        ..AuditFilter::default()
    };
    if !may_read_trail {
        return Ok(Vec::new());
    }
    // The newest 20: the trail reads oldest first, so the last page of 20, and the page before
    // it when the last one is short.
    let count = s.store.audit_events(Some(&ws.organization_id), &filter, Page { number: 1, size: 1 }).await?;
    let last = u32::try_from(count.total.div_ceil(20)).unwrap_or(u32::MAX).max(1);
    let mut events = s
        .store
        .audit_events(Some(&ws.organization_id), &filter, Page { number: last, size: 20 })
        .await?
        .items;
    if count.total % 20 != 0 && last > 1 {
        let before = s
            .store
            .audit_events(Some(&ws.organization_id), &filter, Page { number: last - 1, size: 20 })
            .await?;
        events.splice(0..0, before.items);
    }
    events.reverse();
    events.truncate(20);
    let text = |d: &serde_json::Value, k: &str| {
        d.get(k).and_then(serde_json::Value::as_str).unwrap_or("").to_owned()
    };
    Ok(events
        .iter()
        .map(|e| {
            let d = &e.event.details;
            let expires = d
                .get("expires-at")
                .and_then(serde_json::Value::as_i64)
                .map(|t| when(t).1)
                .unwrap_or_default();
            (
                when(e.at).1,
                e.event.run_id.clone().unwrap_or_default(),
                text(d, "phase"),
                masker.line(text(d, "audience")),
                text(d, "jti"),
                expires,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::app::credentials::{Context, Credentials};
    use tern_identity::ClaimPolicy;
    use tern_types::IssuerUrl;

    /// Askama's escapes undone, as a browser shows the text.
    fn unescape(html: &str) -> String {
        [
            ("&#34;", "\""),
            ("&quot;", "\""),
            ("&#39;", "'"),
            ("&#x27;", "'"),
            ("&#60;", "<"),
            ("&lt;", "<"),
            ("&#62;", ">"),
            ("&gt;", ">"),
            ("&#38;", "&"),
            ("&amp;", "&"),
        ]
        .iter()
        .fold(html.to_owned(), |t, (from, to)| t.replace(from, to))
    }

    /// The text of the element with `id` (up to its closing tag `end`).
    fn text_of<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
        let start = format!("id=\"{id}\">");
        let at = html.find(&start).unwrap_or_else(|| panic!("no #{id} in the page")) + start.len();
        &html[at..at + html[at..].find(end).unwrap()]
    }

    fn rendered(
        vars: &[(&str, &str, bool)],
        checked: Option<Result<Checked, String>>,
    ) -> (String, Vec<CloudTrust>) {
        let issuer = IssuerUrl::parse("https://tern.example.com").unwrap();
        let context = Context::for_tests(vars);
        let trust = app::trust::configurations(&issuer, &ClaimPolicy::default(), &context).unwrap();
        let again = app::trust::configurations(&issuer, &ClaimPolicy::default(), &context).unwrap().unwrap();
        let nav = Nav {
            username: "olivia".into(),
            csrf: "t0ken".into(),
            org: Some("acme".into()),
            site_admin: false,
        };
        let html = CredentialsPage {
            nav: &nav,
            org: "acme",
            ws: "web",
            c: Credentials {
                issuer: issuer.as_str().into(),
                phases: None,
                problems: vec![],
                warnings: vec![],
            },
            trust,
            minted: Vec::new(),
            may_read_trail: true,
            clouds: CHECKABLE.iter().map(|&(k, n)| (k, n, k == "gcp")).collect(),
            form: CheckInput {
                cloud: "gcp".into(),
                phase: "apply".into(),
                document: "{\"a\":\"<b>&'\"}".into(),
            },
            checked,
            max_kib: 64,
        }
        .render()
        .unwrap();
        (html, again)
    }

    const VARS: [(&str, &str, bool); 9] = [
        ("TFC_AWS_PROVIDER_AUTH", "true", false),
        ("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/tern-web", false),
        ("TFC_GCP_PROVIDER_AUTH", "true", false),
        (
            "TFC_GCP_WORKLOAD_PROVIDER_NAME",
            "projects/1234/locations/global/workloadIdentityPools/pool-1/providers/prov-1",
            false,
        ),
        ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "sa@p-1.iam.gserviceaccount.com", false),
        ("TFC_VAULT_PROVIDER_AUTH", "true", false),
        ("TFC_VAULT_ADDR", "https://vault.example.com", false),
        ("TFC_VAULT_RUN_ROLE", "web", false),
        ("TFC_VAULT_NAMESPACE", "ns-marker-51ab", true),
    ];

    #[test]
    fn each_block_on_the_page_is_tern_trusts_output_verbatim() {
        let (html, trust) = rendered(&VARS, None);
        assert_eq!(trust.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["aws", "gcp", "vault"]);
        for t in &trust {
            for b in t.blocks.as_ref().unwrap() {
                let shown = text_of(&html, &format!("trust-{}-{}-text", t.key, b.key), "</code>");
                assert_eq!(unescape(shown), b.text, "{} {}", t.key, b.key);
                assert!(html.contains(&format!("id=\"trust-{}-{}-h\">{}</h4>", t.key, b.key, b.title)));
            }
        }
        // The echoed document, escaped; the choices kept.
        let textarea = html.split("<textarea id=\"check-document\"").nth(1).unwrap();
        let echoed = &textarea[textarea.find('>').unwrap() + 1..textarea.find("</textarea>").unwrap()];
        assert_eq!(unescape(echoed), "{\"a\":\"<b>&'\"}");
        assert!(!html.contains("<b>&'"), "the echo is escaped");
        assert!(
            html.contains("<option value=\"gcp\" selected>")
                && html.contains("<option value=\"apply\" selected>")
        );
        assert!(!html.contains("ns-marker-51ab"));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_its_headings_nest() {
        let (html, _) = rendered(&VARS, None);
        assert_eq!(html.matches("<script").count(), html.matches("<script src=").count());
        assert!(!html.contains(" style=") && !html.contains("<style"), "CSP forbids inline styles");
        // Every label names a field that exists.
        for part in html.split("<label for=\"").skip(1) {
            let id = part.split('"').next().unwrap();
            assert!(html.contains(&format!("id=\"{id}\"")), "label for #{id}");
        }
        // No heading skips a level.
        let mut level = 1;
        for part in html.split("<h").skip(1) {
            if let Some(n) = part.chars().next().and_then(|c| c.to_digit(10)) {
                assert!(n <= level + 1, "h{n} after h{level}");
                level = n;
            }
        }
    }

    #[test]
    fn a_verdict_lists_every_condition_with_ok_or_fail_in_words() {
        let issuer = IssuerUrl::parse("https://tern.example.com").unwrap();
        let policy = ClaimPolicy::default();
        let context = Context::for_tests(&VARS);
        let signing = Signing {
            issuer: &issuer,
            policy: &policy,
            algorithm: "RS256",
            now: 1_800_000_000,
            ttl_seconds: 900,
        };
        let doc = serde_json::json!({"Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity",
            "Principal":{"Federated":"arn:aws:iam::1:oidc-provider/tern.example.com"},
            "Condition":{"StringEquals":{"tern.example.com:aud":"aws.workload.identity",
                "tern.example.com:sub":"organization:acme:project:Default Project:workspace:api:run_phase:plan"}}}]});
        let input = CheckInput { cloud: "aws".into(), phase: "plan".into(), document: doc.to_string() };
        let r = app::trust::check(&signing, &context, &input).unwrap();
        let checks = r.explanation.checks.len();
        let (html, _) = rendered(&VARS, Some(Ok(r)));
        assert!(html.contains("Verdict: would be rejected"), "{html}");
        let list = text_of(&html, "check-conditions", "</ol>");
        assert_eq!(list.matches("<li").count(), checks);
        assert!(list.contains(">ok</span>") && list.contains(">fail</span>"), "{list}");
        assert!(unescape(text_of(&html, "first-failure", "</p>")).contains("segment 6 differs"), "{html}");
        assert!(html.contains(PLACEHOLDER_RUN_ID));
        let (html, _) = rendered(&VARS, Some(Err("too <big>".into())));
        assert!(
            html.contains("Not checked") && unescape(text_of(&html, "check-refused", "</p>")) == "too <big>"
        );
    }
}
