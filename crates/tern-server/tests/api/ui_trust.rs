//! The credentials page's trust: for a workspace with AWS, Google Cloud and Vault configured,
//! each cloud's Terraform, JSON and CLI blocks are `tern trust`'s output for the same inputs;
//! a pasted trust policy is checked as `tern explain` checks it (accepted, or rejected naming
//! the differing segment); the check is a CSRF-checked form with a size limit; and a
//! sensitive variable's value reaches no page.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tern_identity::ClaimPolicy;
use tern_server::api::ApiLimits;
use tern_trust::{Cloud, CloudOptions, Format, PhaseScope, TrustScope};
use tern_types::{IssuerUrl, OrganizationName, ProjectName, WorkspaceName};

use super::{Api, TestDatabase, csrf_of, page};

/// The issuer of this server's tokens: https, as AWS requires of an issuer it trusts (the
/// server itself is reached over plain HTTP on loopback; a check never fetches the issuer).
const ISSUER: &str = "https://tern.example.com";

/// `super::start`, but with an https issuer, so that AWS can accept the tokens.
async fn start(db: TestDatabase) -> Api {
    let issuer = Some(IssuerUrl::parse(ISSUER).unwrap());
    super::start_with(db, super::Setup { issuer, limits: Some(ApiLimits::default()), ..Default::default() })
        .await
}

both!(the_credentials_page_prints_each_clouds_trust_and_checks_a_pasted_policy);

/// The value of a sensitive variable: it must appear on no page.
const MARKER: &str = "marker-9d2e7f41";

/// What a browser shows of askama's escaped text.
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

/// The text of the element with `id`, up to `end`.
fn text_of<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let start = format!("id=\"{id}\">");
    let at = html.find(&start).unwrap_or_else(|| panic!("no #{id} in the page: {html}")) + start.len();
    &html[at..at + html[at..].find(end).unwrap()]
}

/// The pasted document as the page echoes it in the textarea.
fn echoed(html: &str) -> String {
    let t = html.split("<textarea id=\"check-document\"").nth(1).expect("the check form");
    unescape(&t[t.find('>').unwrap() + 1..t.find("</textarea>").unwrap()])
}

fn aws_policy(sub: &str) -> String {
    serde_json::to_string_pretty(&json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/tern.example.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"tern.example.com:aud":"aws.workload.identity"},
                     "StringLike":{"tern.example.com:sub":sub}}}]}))
    .unwrap()
}

async fn the_credentials_page_prints_each_clouds_trust_and_checks_a_pasted_policy(api: Api) {
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@example.com"}}})),
    )
    .await;
    let ws = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"web"}}})),
        )
        .await,
    );
    let readers = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"readers"}}})),
        )
        .await,
    );
    api.ok(
        Method::POST,
        "/api/v2/team-workspaces",
        Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{
        "team":{"data":{"type":"teams","id":readers}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
    )
    .await;
    let mut sessions = Vec::new();
    for (name, team) in [("rita", Some(&readers)), ("nobody", None)] {
        let user = id_of(
            &api.ok(
                Method::POST,
                "/api/v2/admin/users",
                Some(json!({"data":{"type":"users","attributes":{"username":name}}})),
            )
            .await,
        );
        if let Some(team) = team {
            api.ok(
                Method::POST,
                &format!("/api/v2/teams/{team}/relationships/users"),
                Some(json!({"data":[{"type":"users","id":name}]})),
            )
            .await;
        }
        let (_, secret) = api.store.create_session(&user, api.store.unix_now() + 3600, None).await.unwrap();
        sessions.push(secret.expose_secret().to_owned());
    }
    let (rita, nobody) = (&sessions[0], &sessions[1]);

    // AWS, Google Cloud and Vault; Vault's auth mount path and an unrelated variable are
    // sensitive, both holding the marker.
    let vars_path = format!("/api/v2/workspaces/{ws}/vars");
    for (key, value, sensitive) in [
        ("TFC_AWS_PROVIDER_AUTH", "true", false),
        ("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/tern-web", false),
        ("TFC_GCP_PROVIDER_AUTH", "true", false),
        (
            "TFC_GCP_WORKLOAD_PROVIDER_NAME",
            "projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern-prov",
            false,
        ),
        ("TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL", "deploy@my-proj.iam.gserviceaccount.com", false),
        ("TFC_VAULT_PROVIDER_AUTH", "true", false),
        ("TFC_VAULT_ADDR", "https://vault.example.com:8200", false),
        ("TFC_VAULT_RUN_ROLE", "tern-web", false),
        ("TFC_VAULT_AUTH_PATH", &format!("jwt-{MARKER}"), true),
        ("DATABASE_PASSWORD", MARKER, true),
    ] {
        api.ok(
            Method::POST,
            &vars_path,
            Some(json!({"data":{"type":"vars","attributes":{"key":key,"value":value,"category":"env","sensitive":sensitive}}})),
        )
        .await;
    }
    let mut pages = Vec::new();

    // Three clouds, each block exactly what `tern trust` prints for the same inputs.
    let creds = "/app/acme/workspaces/web/credentials";
    let (status, html, _) = page(&api, Method::GET, creds, Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let scope = TrustScope {
        issuer: IssuerUrl::parse(ISSUER).unwrap(),
        policy: ClaimPolicy::default(),
        organization: OrganizationName::parse("acme").unwrap(),
        organization_id: None,
        project: Some(ProjectName::default_project()),
        project_id: None,
        workspace: Some(WorkspaceName::parse("web").unwrap()),
        workspace_id: None,
        phase: PhaseScope::Both,
        audience: None,
    };
    let expected = [
        (
            Cloud::Aws,
            CloudOptions {
                name: Some("tern-web".into()),
                aws_account_id: Some("123456789012".into()),
                ..CloudOptions::default()
            },
            "--name tern-web --aws-account-id 123456789012",
        ),
        (
            Cloud::Gcp,
            CloudOptions {
                gcp_project_number: Some("123456".into()),
                gcp_pool_id: Some("tern-pool".into()),
                gcp_provider_id: Some("tern-prov".into()),
                gcp_project_id: Some("my-proj".into()),
                gcp_service_account: Some("deploy@my-proj.iam.gserviceaccount.com".into()),
                ..CloudOptions::default()
            },
            "--gcp-project-number 123456 --gcp-pool-id tern-pool --gcp-provider-id tern-prov \
             --gcp-project-id my-proj --service-account deploy@my-proj.iam.gserviceaccount.com",
        ),
        (
            Cloud::Vault,
            CloudOptions { name: Some("tern-web".into()), ..CloudOptions::default() },
            "--name tern-web",
        ),
    ];
    for (cloud, options, flags) in &expected {
        for (format, key) in [(Format::Terraform, "terraform"), (Format::Json, "json"), (Format::Cli, "cli")]
        {
            let want = tern_trust::render(*cloud, format, &scope, options).unwrap();
            let shown = unescape(text_of(&html, &format!("trust-{cloud}-{key}-text"), "</code>"));
            assert_eq!(shown, want, "{cloud} {key}");
            let command = format!(
                "tern trust {cloud} --format {key} --issuer-url {ISSUER} --organization acme \
                 --project 'Default Project' --workspace web {flags}"
            );
            assert!(
                unescape(&html).contains(&format!("<code class=\"command\">{command}</code>")),
                "{command}"
            );
        }
    }
    assert!(!html.contains("id=\"trust-azure\""), "Azure is not configured");
    assert!(html.contains("sensitive variable TFC_VAULT_AUTH_PATH"), "a withheld input is named: {html}");
    assert!(html.contains("data-tabs=") && html.contains("<script src=\"/app/assets/tern-"), "{html}");
    assert_eq!(html.matches("<script").count(), html.matches("<script src=").count(), "no inline script");
    pages.push(html);

    // A matching AWS trust policy is accepted, for either phase; the document is echoed.
    let csrf = csrf_of(&pages[0]);
    let check = format!("{creds}/check");
    let good = aws_policy("organization:acme:project:Default Project:workspace:web:run_phase:*");
    for phase in ["plan", "apply"] {
        let form = [("csrf", csrf.as_str()), ("cloud", "aws"), ("phase", phase), ("document", good.as_str())];
        let (status, html, _) =
            page(&api, Method::POST, &check, Some(rita), Some(&form), Some(&api.base)).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Verdict: would be accepted"), "{phase}: {html}");
        assert_eq!(echoed(&html), good.replace("\r\n", "\n"));
        assert!(
            html.contains(&format!(
                "organization:acme:project:Default Project:workspace:web:run_phase:{phase}"
            )),
            "the token's sub: {html}"
        );
        assert!(html.contains("run-placeholder") && html.contains("placeholders"), "{html}");
        pages.push(html);
    }
    // A wrong sub is rejected, naming the segment that differs.
    let wrong = aws_policy("organization:acme:project:Default Project:workspace:api:run_phase:*");
    let form = [("csrf", csrf.as_str()), ("cloud", "aws"), ("phase", "plan"), ("document", wrong.as_str())];
    let (status, html, _) = page(&api, Method::POST, &check, Some(rita), Some(&form), None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Verdict: would be rejected"), "{html}");
    let first = unescape(text_of(&html, "first-failure", "</p>"));
    assert!(
        first.contains("segment 6 differs") && first.contains("`web`") && first.contains("`api`"),
        "{first}"
    );
    assert!(text_of(&html, "check-conditions", "</ol>").contains(">fail</span>"), "{html}");
    pages.push(html);
    // The page's own Vault JSON accepts the apply phase's token.
    let vault_json = unescape(text_of(&pages[0], "trust-vault-json-text", "</code>"));
    let form =
        [("csrf", csrf.as_str()), ("cloud", "vault"), ("phase", "apply"), ("document", vault_json.as_str())];
    let (status, html, _) = page(&api, Method::POST, &check, Some(rita), Some(&form), None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Verdict: would be accepted"), "{html}");
    pages.push(html);

    // Without the session's CSRF token, with another's, or from another origin: refused.
    let other_csrf = csrf_of(&page(&api, Method::GET, "/app", Some(nobody), None, None).await.1);
    for (token, origin) in [
        ("", None),
        ("forged", None),
        (other_csrf.as_str(), None),
        (csrf.as_str(), Some("https://evil.example")),
    ] {
        let form = [("csrf", token), ("cloud", "aws"), ("phase", "plan"), ("document", good.as_str())];
        let (status, html, _) = page(&api, Method::POST, &check, Some(rita), Some(&form), origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "token {token:?}, origin {origin:?}");
        assert!(!html.contains("Verdict"), "{html}");
    }
    let form = [("cloud", "aws"), ("phase", "plan"), ("document", good.as_str())];
    assert_eq!(
        page(&api, Method::POST, &check, Some(rita), Some(&form), None).await.0,
        StatusCode::FORBIDDEN
    );
    // Someone who may not see the workspace learns nothing of it.
    let nobody_csrf = other_csrf.as_str();
    let form = [("csrf", nobody_csrf), ("cloud", "aws"), ("phase", "plan"), ("document", good.as_str())];
    let (status, html, _) = page(&api, Method::POST, &check, Some(nobody), Some(&form), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");

    // 65 KiB: refused, saying the limit.
    let big = format!("{{\"Statement\":[],\"pad\":\"{}\"}}", "x".repeat(65 * 1024));
    let form = [("csrf", csrf.as_str()), ("cloud", "aws"), ("phase", "plan"), ("document", big.as_str())];
    let (status, html, _) = page(&api, Method::POST, &check, Some(rita), Some(&form), None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{html}");
    let refused = unescape(text_of(&html, "check-refused", "</p>"));
    assert!(
        refused.contains(&format!("{} bytes", big.len())) && refused.contains("at most 64 KiB"),
        "{refused}"
    );
    assert!(!html.contains("xxxxxxxxxxxxxxxx") && !html.contains("Verdict"), "not echoed, not checked");
    pages.push(html);
    // Not JSON: said so, and the text comes back to be fixed.
    let form = [("csrf", csrf.as_str()), ("cloud", "gcp"), ("phase", "plan"), ("document", "{ <oops>")];
    let (status, html, _) = page(&api, Method::POST, &check, Some(rita), Some(&form), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(text_of(&html, "check-refused", "</p>").contains("not JSON"), "{html}");
    assert_eq!(echoed(&html), "{ <oops>");
    assert!(!html.contains("{ <oops>"), "echoed escaped");
    pages.push(html);

    // The marker reaches no page: not the credentials page, a verdict, a refusal, the variables.
    pages.push(page(&api, Method::GET, "/app/acme/workspaces/web/variables", Some(rita), None, None).await.1);
    pages.push(page(&api, Method::GET, "/app/acme/workspaces/web", Some(rita), None, None).await.1);
    for html in &pages {
        assert!(!html.contains(MARKER), "a sensitive value reached a page: {html}");
    }
    // Checking changed nothing: the workspace's variables are as they were.
    let vars = api.ok(Method::GET, &vars_path, None).await;
    assert_eq!(vars["data"].as_array().unwrap().len(), 10, "{vars}");
}
