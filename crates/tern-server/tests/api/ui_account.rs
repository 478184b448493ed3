//! The signed-in person's own account page, over the application layer the API's
//! `account/sessions` calls too: their live browser sessions, newest first, this browser's
//! marked, never a secret; one ended by its form (that browser is signed out at its next
//! request; ending this browser's own signs it out here and now); every other one at once.
//! Another person's session is "not found" and nothing changes; a form without this session's
//! CSRF token, or from another origin, is refused.

use super::*;

both!(a_person_sees_and_ends_their_own_sessions_in_the_browser);

/// The public session ids a page names, in its order (they appear only in forms' actions).
fn ids_on(html: &str) -> Vec<String> {
    html.split("/app/account/sessions/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/end\"").map(|(id, _)| id.to_owned()))
        .filter(|id| id.starts_with("ses-") && !id.contains(['"', '<', ' ']))
        .collect()
}

/// Every row of the store (what a refusal must not touch).
async fn snapshot(api: &Api) -> Vec<(String, Vec<String>)> {
    api.store.dump().await.unwrap()
}

async fn a_person_sees_and_ends_their_own_sessions_in_the_browser(api: Api) {
    let (_, _, mine) = person_with_sessions(&api, "alice", 4).await;
    let (_, _, theirs) = person_with_sessions(&api, "bob", 1).await;
    let all: Vec<(String, String)> = mine.iter().chain(&theirs).cloned().collect();
    let sessions = "/app/account/sessions";
    // Alice's browser holds her second session.
    let here = &mine[1];

    // Signed out: sent to sign in, and back.
    let (status, _, to) = page(&api, Method::GET, sessions, None, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        to.as_deref().is_some_and(|t| t.starts_with("/app/sign-in?return_to=%2Fapp%2Faccount")),
        "{to:?}"
    );

    // Every page's header links here, by the person's name.
    let (_, home, _) = page(&api, Method::GET, "/app", Some(&here.1), None, None).await;
    assert!(
        home.contains(
            "<a href=\"/app/account/sessions\" id=\"account-link\"><span id=\"username\">alice</span>"
        ),
        "{home}"
    );

    // Alice's sessions only, newest first, this browser's marked once; no secret, no hash.
    let (status, html, _) = page(&api, Method::GET, sessions, Some(&here.1), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let newest_first: Vec<String> = mine.iter().rev().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids_on(&html), newest_first, "{html}");
    assert!(!html.contains(&theirs[0].0), "bob's session on alice's page");
    assert_eq!(html.matches("id=\"this-browser\"").count(), 1, "{html}");
    let rows = super::ui_org::tbody(&html);
    let marked = rows.split("<tr").find(|r| r.contains("this browser")).unwrap();
    assert!(
        marked.contains(&format!("/app/account/sessions/{}/end", here.0)),
        "the wrong row is marked: {rows}"
    );
    assert_eq!(
        rows.matches("<time datetime=").count(),
        3 * mine.len(),
        "signed in, last seen, expires: {rows}"
    );
    assert!(
        html.contains("<th scope=\"col\">Signed in</th>")
            && html.contains("aria-label=\"End session signed in ")
    );
    assert!(html.contains("(this browser: signs you out)"), "{html}");
    assert!(html.contains("id=\"end-others\"") && html.contains("Ends the 3 other sessions"), "{html}");
    // The id is in form actions only, never in the page's text or another attribute.
    assert_eq!(html.matches(&here.0).count(), 1, "{html}");
    holds_no_session_secret(&html, &all);
    let csrf = csrf_of(&html);

    // Refused: no CSRF token, another session's, a made-up one, another origin. Nothing changes.
    let (_, bobs_page, _) = page(&api, Method::GET, sessions, Some(&theirs[0].1), None, None).await;
    let bobs_csrf = csrf_of(&bobs_page);
    assert_ne!(bobs_csrf, csrf);
    let end = |id: &str| format!("/app/account/sessions/{id}/end");
    let before = snapshot(&api).await;
    for path in [end(&mine[0].0), end(&here.0), "/app/account/sessions/end-others".to_owned()] {
        for (form, origin) in [
            (vec![], None),
            (vec![("csrf", bobs_csrf.as_str())], None),
            (vec![("csrf", "forged")], None),
            (vec![("csrf", csrf.as_str())], Some("https://evil.example")),
        ] {
            let (status, body, _) = page(&api, Method::POST, &path, Some(&here.1), Some(&form), origin).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {form:?} {origin:?}: {body}");
            assert!(body.contains("Refused"), "{body}");
        }
    }
    // Another person's session, or none by that id: the failure page, and nothing changes.
    for id in [theirs[0].0.as_str(), "ses-nothing"] {
        let (status, body, _) =
            page(&api, Method::POST, &end(id), Some(&here.1), Some(&[("csrf", csrf.as_str())]), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
        assert!(body.contains("<h1>Not found</h1>") && body.contains("you have no session"), "{body}");
    }
    assert_eq!(snapshot(&api).await, before, "a refused form changed the store");
    assert!(signed_in(&api, &theirs[0].1).await, "bob is still signed in");
    for (_, secret) in &mine {
        assert!(signed_in(&api, secret).await, "a refused form ended a session");
    }

    // Another of alice's: back to the page; that browser is signed out, this one is not.
    let (status, body, to) =
        page(&api, Method::POST, &end(&mine[0].0), Some(&here.1), Some(&[("csrf", csrf.as_str())]), None)
            .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(to.as_deref(), Some(sessions));
    assert!(!signed_in(&api, &mine[0].1).await, "the ended session still opens pages");
    assert!(signed_in(&api, &here.1).await);
    let (_, html, _) = page(&api, Method::GET, sessions, Some(&here.1), None, None).await;
    assert_eq!(ids_on(&html), [mine[3].0.clone(), mine[2].0.clone(), here.0.clone()], "{html}");

    // Everywhere else: alice's other sessions end, this one and bob's stay.
    let (status, body, to) = page(
        &api,
        Method::POST,
        "/app/account/sessions/end-others",
        Some(&here.1),
        Some(&[("csrf", csrf.as_str())]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(to.as_deref(), Some(sessions));
    for (_, secret) in [&mine[2], &mine[3]] {
        assert!(!signed_in(&api, secret).await, "another browser is still signed in");
    }
    assert!(signed_in(&api, &here.1).await && signed_in(&api, &theirs[0].1).await);
    let (_, html, _) = page(&api, Method::GET, sessions, Some(&here.1), None, None).await;
    assert_eq!(ids_on(&html), std::slice::from_ref(&here.0), "{html}");
    assert!(!html.contains("id=\"end-others\""), "nothing else to end: {html}");
    // With nothing else to end, it ends nothing and records nothing.
    let before = snapshot(&api).await;
    let (status, _, _) = page(
        &api,
        Method::POST,
        "/app/account/sessions/end-others",
        Some(&here.1),
        Some(&[("csrf", csrf.as_str())]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(snapshot(&api).await, before, "ending no session changed the store");

    // This browser's own: signed out, its cookie cleared, sent to sign in.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http
        .post(format!("{}{}", api.base, end(&here.0)))
        .header("cookie", format!("tern_session={}", here.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", url::form_urlencoded::byte_serialize(csrf.as_bytes()).collect::<String>()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/app/sign-in");
    let cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("tern_session=;") && c.contains("Max-Age=0"));
    assert!(cleared, "{:?}", r.headers());
    assert!(!signed_in(&api, &here.1).await, "this browser is still signed in");
    assert!(signed_in(&api, &theirs[0].1).await, "bob was signed out too");

    // Each ending is in the audit trail by the session's public id, never a secret (the API
    // lists it oldest first): the one session, the two others at once, then this browser's.
    let trail = api.ok(Method::GET, "/api/v2/admin/audit-trail?filter[action]=user.signed-out", None).await;
    let events: Vec<&Value> = trail["data"].as_array().unwrap().iter().map(|e| &e["attributes"]).collect();
    assert_eq!(events.len(), 3, "{trail}");
    assert!(events.iter().all(|e| e["actor"] == "alice"), "{trail}");
    assert_eq!(events[0]["details"]["session"], mine[0].0.as_str(), "{trail}");
    assert_eq!(events[1]["details"]["sessions"], 2, "{trail}");
    assert_eq!(events[1]["details"]["kept"], here.0.as_str(), "{trail}");
    assert_eq!(events[2]["details"]["session"], here.0.as_str(), "{trail}");
    holds_no_session_secret(&trail.to_string(), &all);

    // An organization named like the page still has its own pages.
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"account"}}})),
    )
    .await;
    let root = api.store.create_user("root", "", true).await.unwrap();
    let (_, secret) = api.store.create_session(&root.id, api.store.unix_now() + 3600, None).await.unwrap();
    let (status, body, _) =
        page(&api, Method::GET, "/app/account/workspaces", Some(secret.expose_secret()), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
