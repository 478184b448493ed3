//! The admin page of `tern doctor`'s checks, run from inside the server: a site administrator
//! sees every finding (status as a word, what was checked, detail, fix) of a healthy server —
//! its own discovery document and JWKS fetched at its issuer URL, a token minted with its key
//! and verified against them; a signed-in user who is not one gets the keys page's refusal; a
//! browser without a session is sent to sign in; no secret reaches the page; and an issuer URL
//! that never answers costs the page seconds, not a hang.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tern_server::api::ApiLimits;
use tern_types::IssuerUrl;

use super::{Api, TestDatabase, page, start};

const DOCTOR: &str = "/app/admin/doctor";

both!(the_doctor_page_shows_site_administrators_the_servers_findings);

async fn session(api: &Api, name: &str, site_admin: bool) -> String {
    let user = api.store.create_user(name, &format!("{name}@example.com"), site_admin).await.unwrap();
    let (_, secret) = api.store.create_session(&user.id, api.store.unix_now() + 3600, None).await.unwrap();
    secret.expose_secret().to_owned()
}

/// `(status word, check)` of every finding row, in order.
fn findings(html: &str) -> Vec<(String, String)> {
    html.split("<tr class=\"finding-")
        .skip(1)
        .map(|row| {
            let word = row.split('"').next().unwrap().to_owned();
            let name =
                row.split("<th scope=\"row\">").nth(1).unwrap().split("</th>").next().unwrap().to_owned();
            (word, name)
        })
        .collect()
}

/// What the page says of one check.
fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html.find(&format!("<th scope=\"row\">{name}</th>")).unwrap_or_else(|| panic!("{name}: {html}"));
    let start = html[..at].rfind("<tr").unwrap();
    html[start..].split("</tr>").next().unwrap()
}

async fn the_doctor_page_shows_site_administrators_the_servers_findings(api: Api) {
    let ada = session(&api, "ada", true).await;
    let nora = session(&api, "nora", false).await;

    // No session: sent to sign in, and back here after.
    let (status, _, location) = page(&api, Method::GET, DOCTOR, None, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/app/sign-in?return_to=%2Fapp%2Fadmin%2Fdoctor"));

    // Not a site administrator: the keys page's refusal, and nothing of the findings.
    let (status, html, _) = page(&api, Method::GET, DOCTOR, Some(&nora), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("admin token (or a site administrator"), "{html}");
    assert!(!html.contains("id=\"findings\"") && !html.contains("id=\"admin-link\""), "{html}");
    assert!(!html.contains("discovery document"), "{html}");

    // A site administrator: every check, in `tern doctor`'s order, as this server sees itself.
    let started = Instant::now();
    let (status, html, _) = page(&api, Method::GET, DOCTOR, Some(&ada), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(started.elapsed() < Duration::from_secs(10), "the page took {:?}", started.elapsed());
    let expected = [
        ("ok", "issuer URL"),
        // http on loopback: only local relying parties can use it.
        ("warning", "https"),
        ("ok", "database"),
        ("ok", "signing key"),
        ("ok", "clock"),
        ("ok", "discovery cache"),
        ("ok", "discovery document"),
        ("ok", "JWKS cache"),
        ("ok", "JWKS"),
        ("ok", "mint and verify"),
        // Nothing polls this test server for jobs.
        ("warning", "agents"),
        ("warning", "AWS thumbprint"),
    ];
    let seen = findings(&html);
    let seen: Vec<(&str, &str)> = seen.iter().map(|(w, n)| (w.as_str(), n.as_str())).collect();
    assert_eq!(seen, expected, "{html}");
    assert!(
        html.contains("<strong>9</strong> ok, <strong>3</strong> warnings, <strong>0</strong> failures"),
        "{html}"
    );
    // Status as a word beside its colour, detail and fix.
    assert!(row(&html, "https").contains("<span class=\"badge running\">warning</span>"), "{html}");
    assert!(row(&html, "JWKS").contains("<span class=\"badge ok\">ok</span>"), "{html}");
    let kid =
        api.ok(Method::GET, "/api/v2/admin/jwks", None).await["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert!(
        row(&html, "signing key").contains(&format!("kid={kid} RS256, key file (--signing-key)")),
        "{html}"
    );
    assert!(
        row(&html, "mint and verify").contains(&format!("a token signed with kid={kid} verifies")),
        "{html}"
    );
    assert!(
        row(&html, "discovery document")
            .contains(&format!("{}/.well-known/openid-configuration: issuer and jwks_uri match", api.base)),
        "{html}"
    );
    assert!(row(&html, "agents").contains("tern agent"), "the fix: {html}");
    assert!(row(&html, "database").contains("reachable"), "{html}");
    // Linked from the keys page, and the page links back.
    assert!(html.contains("href=\"/app/admin/keys\" id=\"admin-keys-link\""), "{html}");
    assert!(html.contains("id=\"admin-doctor-link\" aria-current=\"page\""), "{html}");
    let (_, keys, _) = page(&api, Method::GET, "/app/admin/keys", Some(&ada), None, None).await;
    assert!(keys.contains("href=\"/app/admin/doctor\" id=\"admin-doctor-link\""), "{keys}");

    // No secret: not the session, not the admin token, not the signing key.
    let pem = String::from_utf8(tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap();
    let key_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for secret in [ada.as_str(), api.admin.as_str(), "PRIVATE KEY", "\"d\":"].into_iter().chain(key_lines) {
        assert!(!html.contains(secret), "{secret:?} on the page");
    }

    // The refusal holds on a second look too (nothing cached for the next caller).
    let (status, _, _) = page(&api, Method::GET, DOCTOR, Some(&nora), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The same findings as JSON for monitoring (`GET /api/v2/admin/doctor`), admin only.
    let json = api.ok(Method::GET, "/api/v2/admin/doctor", None).await;
    let listed: Vec<(&str, &str)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["status"].as_str().unwrap(), f["name"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, expected, "{json}");
    assert_eq!(json["ok"], true, "warnings only: {json}");
    assert!(json["findings"][1]["fix"].is_string(), "{json}");
    let body = json.to_string();
    assert!(!body.contains(api.admin.as_str()) && !body.contains("PRIVATE KEY"), "{body}");
}

/// An issuer URL where something accepts connections and never answers: the discovery
/// document, the JWKS check and the TLS chain fail as timed out, and the page answers within
/// a few of the doctor's 3 s timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_never_answers_costs_the_page_seconds_not_a_hang() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer =
        IssuerUrl::parse(&format!("https://127.0.0.1:{}", silent.local_addr().unwrap().port())).unwrap();
    let setup =
        super::Setup { issuer: Some(issuer), limits: Some(ApiLimits::default()), ..Default::default() };
    let api = super::start_with(TestDatabase::sqlite(), setup).await;
    let ada = session(&api, "ada", true).await;

    let started = Instant::now();
    let (status, html, _) = page(&api, Method::GET, DOCTOR, Some(&ada), None, None).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(took < Duration::from_secs(12), "the page took {took:?}");
    let seen = findings(&html);
    for (word, name) in [
        ("ok", "https"),
        ("failure", "discovery document"),
        ("failure", "mint and verify"),
        ("failure", "AWS thumbprint"),
    ] {
        assert!(seen.iter().any(|(w, n)| w == word && n == name), "{word} {name}: {seen:?}");
    }
    assert!(row(&html, "discovery document").contains("timed out"), "{html}");
    assert!(row(&html, "AWS thumbprint").contains("timed out"), "{html}");
    drop(silent);
}
