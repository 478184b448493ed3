//! The admin page of the signing keys, over the application layer the API's admin endpoints
//! use: a site administrator sees the keys and rotates through the page (the API then lists a
//! next key, and the page warns that an uploaded JWKS must be replaced before it signs); a
//! signed-in user who is not one gets 403 and changes nothing; a forged form is refused; the
//! JWKS download is exactly `/.well-known/jwks`, public keys only; a browser without a session
//! is sent to sign in.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tern_identity::KeySpec;
use tern_server::api::ApiLimits;
use tern_server::keys::RotationPolicy;

use super::{Api, TestDatabase, csrf_of, page};

/// `super::start`, but with the managed key ring (`tern serve --managed-keys`).
async fn start(db: TestDatabase) -> Api {
    let rotation = RotationPolicy {
        spec: KeySpec::EcP256,
        every: None,
        lead: Duration::from_secs(3600),
        window: RotationPolicy::default_window(),
    };
    let setup = super::Setup {
        managed_keys: Some(rotation),
        limits: Some(ApiLimits::default()),
        ..Default::default()
    };
    super::start_with(db, setup).await
}

both!(the_admin_page_rotates_keys_for_site_administrators_only, a_scheduled_rotation_commits_with_its_record);

/// `(kid, state)` of every key, as the API lists them.
async fn listed(api: &Api) -> Vec<(String, String)> {
    let v = api.ok(Method::GET, "/api/v2/admin/signing-keys", None).await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (k["id"].as_str().unwrap().to_owned(), k["attributes"]["state"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn session(api: &Api, name: &str, site_admin: bool) -> String {
    let user = api.store.create_user(name, &format!("{name}@example.com"), site_admin).await.unwrap();
    let (_, secret) = api.store.create_session(&user.id, api.store.unix_now() + 3600, None).await.unwrap();
    secret.expose_secret().to_owned()
}

async fn the_admin_page_rotates_keys_for_site_administrators_only(api: Api) {
    let ada = session(&api, "ada", true).await;
    let nora = session(&api, "nora", false).await;
    let keys = "/app/admin/keys";
    let before = listed(&api).await;
    assert_eq!(before.len(), 1);
    let (current, _) = before[0].clone();

    // No session: sent to sign in, and back here after.
    let (status, _, location) = page(&api, Method::GET, keys, None, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/app/sign-in?return_to=%2Fapp%2Fadmin%2Fkeys"));

    // Someone who is not a site administrator sees nothing of it, nor an Admin link.
    for path in [keys, "/app/admin/keys/jwks.json"] {
        let (status, html, _) = page(&api, Method::GET, path, Some(&nora), None, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
        assert!(!html.contains(&current) && !html.contains("id=\"admin-link\""), "{html}");
        assert!(html.contains("admin token (or a site administrator"), "{html}");
    }
    let (_, html, _) = page(&api, Method::GET, keys, Some(&nora), None, None).await;
    let nora_csrf = csrf_of(&html);
    for (path, form) in [
        ("/app/admin/keys/rotate", vec![("csrf", nora_csrf.as_str()), ("activate_in", "")]),
        ("/app/admin/keys/retire", vec![("csrf", nora_csrf.as_str()), ("kid", current.as_str())]),
    ] {
        let (status, html, _) = page(&api, Method::POST, path, Some(&nora), Some(&form), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {html}");
    }
    assert_eq!(listed(&api).await, before, "nothing changed");

    // A site administrator sees the keys, the Admin link, and the forms.
    let (status, html, _) = page(&api, Method::GET, keys, Some(&ada), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"admin-link\""), "{html}");
    assert!(html.contains(&format!("id=\"key-{current}\"")) && html.contains(">current<"), "{html}");
    assert!(html.contains("max-age (300 s)") && html.contains("at least 310 s"), "{html}");
    assert!(!html.contains("id=\"next-warning\""), "no next key yet: {html}");
    let csrf = csrf_of(&html);

    // A forged form, or one from another origin, is refused and changes nothing.
    let forged = [("csrf", "forged"), ("activate_in", "")];
    let (status, _, _) =
        page(&api, Method::POST, "/app/admin/keys/rotate", Some(&ada), Some(&forged), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let good = [("csrf", csrf.as_str()), ("activate_in", "")];
    let (status, _, _) = page(
        &api,
        Method::POST,
        "/app/admin/keys/rotate",
        Some(&ada),
        Some(&good),
        Some("https://evil.example.com"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Sooner than relying parties' caches allow: refused with the API's words.
    let early = [("csrf", csrf.as_str()), ("activate_in", "10")];
    let (status, html, _) =
        page(&api, Method::POST, "/app/admin/keys/rotate", Some(&ada), Some(&early), None).await;
    assert!(status.is_client_error() && html.contains("activate-in 10s is too short"), "{status}: {html}");
    assert_eq!(listed(&api).await, before, "nothing changed");
    // So late it would wrap into the past (a key signing at once): refused, not overflowed.
    let late = [("csrf", csrf.as_str()), ("activate_in", "9223372036854775807")];
    let (status, html, _) =
        page(&api, Method::POST, "/app/admin/keys/rotate", Some(&ada), Some(&late), None).await;
    assert!(status.is_client_error() && html.contains("is too long"), "{status}: {html}");
    assert_eq!(listed(&api).await, before, "nothing changed");

    // Rotate: the API lists the next key, and the page warns about uploaded JWKS.
    let (status, _, location) =
        page(&api, Method::POST, "/app/admin/keys/rotate", Some(&ada), Some(&good), None).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(keys)));
    let after = listed(&api).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let next = after.iter().find(|(_, state)| state == "next").expect("a next key").0.clone();
    assert!(after.contains(&(current.clone(), "current".to_owned())), "{after:?}");
    let (_, html, _) = page(&api, Method::GET, keys, Some(&ada), None, None).await;
    assert!(html.contains(&format!("id=\"key-{next}\"")) && html.contains(">next<"), "{html}");
    assert!(html.contains("an uploaded JWKS (private issuers) must be replaced before <time"), "{html}");
    // The act is in the audit trail, by the person (it is written in the background).
    let mut audit = Value::Null;
    for _ in 0..50 {
        audit = api.ok(Method::GET, "/api/v2/admin/audit-trail", None).await;
        if audit.to_string().contains("key.rotated") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(audit.to_string().contains("key.rotated") && audit.to_string().contains("ada"), "{audit}");

    // The download is the issuer's JWKS, byte for byte, as the API's; public keys only.
    let served = api.http.get(format!("{}/.well-known/jwks", api.base)).send().await.unwrap();
    let served = served.text().await.unwrap();
    let http = reqwest::Client::new();
    let download = http
        .get(format!("{}/app/admin/keys/jwks.json", api.base))
        .header("cookie", format!("tern_session={ada}"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-disposition"], "attachment; filename=\"jwks.json\"");
    assert_eq!(download.headers()["content-type"], "application/json");
    let downloaded = download.text().await.unwrap();
    assert_eq!(downloaded, served);
    let (status, from_api) = api.call(Method::GET, "/api/v2/admin/jwks", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(from_api, serde_json::from_str::<Value>(&served).unwrap());
    let jwks: Value = serde_json::from_str(&downloaded).unwrap();
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&current.as_str()) && kids.contains(&next.as_str()), "{kids:?}");
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{key}");
        }
    }
    assert!(!downloaded.contains("PRIVATE KEY"));
    tern_trust::UploadedJwks::parse("jwks.json", &downloaded).unwrap();

    // Retire the current key at once (a compromised key): the next one signs, and the
    // download no longer has the old one.
    let retire = [("csrf", csrf.as_str()), ("kid", current.as_str()), ("unpublish", "on")];
    let (status, html, location) =
        page(&api, Method::POST, "/app/admin/keys/retire", Some(&ada), Some(&retire), None).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(keys)), "{html}");
    let after = listed(&api).await;
    assert!(after.contains(&(next.clone(), "current".to_owned())), "{after:?}");
    assert!(!after.iter().any(|(_, state)| state == "next"), "{after:?}");
    let (_, html, _) = page(&api, Method::GET, "/app/admin/keys/jwks.json", Some(&ada), None, None).await;
    assert!(html.contains(&next) && !html.contains(&current), "{html}");
    let (_, html, _) = page(&api, Method::GET, keys, Some(&ada), None, None).await;
    assert!(!html.contains("id=\"next-warning\""), "{html}");

    // An organization named admin keeps its pages: only /app/admin/keys… is taken.
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(serde_json::json!({"data":{"type":"organizations","attributes":{"name":"admin"}}})),
    )
    .await;
    let (status, html, _) = page(&api, Method::GET, "/app/admin/workspaces", Some(&ada), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
}

/// A replica whose schedule says a key is due publishes the next key with the system's record
/// of it, once: the other replicas (and the same one, again) find it published and record
/// nothing.
async fn a_scheduled_rotation_commits_with_its_record(api: Api) {
    let day = Duration::from_secs(86_400);
    let rotation = RotationPolicy {
        spec: KeySpec::EcP256,
        every: Some(day),
        lead: Duration::from_secs(3600),
        window: RotationPolicy::default_window(),
    };
    let start = api.store.unix_now();
    let replica = tern_server::keys::ManagedKeys::start(
        api.store.clone(),
        tern_types::IssuerUrl::parse(&api.base).unwrap(),
        tern_identity::ClaimPolicy::default(),
        tern_server::CachePolicy::default(),
        rotation,
        tern_types::Ttl::default(),
        start,
    )
    .await
    .unwrap();
    let before = listed(&api).await;
    assert!(!replica.refresh(start + 60).await.unwrap(), "not due yet");
    assert_eq!(listed(&api).await, before);
    let due = start + 86_400;
    replica.refresh(due).await.unwrap();
    replica.refresh(due).await.unwrap();
    let after = listed(&api).await;
    assert_eq!(after.len(), 2, "{after:?}");
    let next = after.iter().find(|(_, state)| state == "next").expect("a next key");
    let filter = tern_store::AuditFilter { action: Some("key.rotated".into()), ..Default::default() };
    let trail =
        api.store.audit_events(None, &filter, tern_store::Page { number: 1, size: 10 }).await.unwrap();
    let events: Vec<_> = trail.items.iter().map(|e| &e.event).collect();
    assert_eq!(events.len(), 1, "one record for one key: {events:?}");
    assert_eq!((events[0].actor.as_str(), events[0].actor_kind.as_str()), ("system", "system"));
    assert_eq!(events[0].details["kid"], next.0.as_str());
    assert_eq!(events[0].details["by"], "the rotation schedule");
    assert_eq!(events[0].details["activates-at"], due + 3600);
}
