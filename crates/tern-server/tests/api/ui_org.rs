//! The organization settings pages over the application layer: an owner reads the audit trail
//! (newest first, filtered), lists, creates and revokes API tokens — a new token's secret is on
//! the answer to the form and nowhere after — while a member without the permission and an
//! outsider get exactly what the API gives them, and forged posts change nothing.

use super::*;

both!(
    the_audit_trail_page_filters_as_the_api_allows,
    the_tokens_page_shows_a_secret_once_and_revokes,
    the_teams_pages_show_members_and_only_visible_access,
    the_agents_page_shows_pools_their_agents_and_visible_workspaces
);

/// A user made by the admin, in `team` (if any), with a browser session and a user token.
pub(super) struct Person {
    pub(super) session: String,
    pub(super) token: String,
}

pub(super) async fn person(api: &Api, name: &str, team: Option<&str>) -> Person {
    let user = api
        .ok(
            Method::POST,
            "/api/v2/admin/users",
            Some(json!({"data":{"type":"users","attributes":{"username":name}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    if let Some(team) = team {
        api.ok(
            Method::POST,
            &format!("/api/v2/teams/{team}/relationships/users"),
            Some(json!({"data":[{"type":"users","id":name}]})),
        )
        .await;
    }
    let (_, session) = api.store.create_session(&user, api.store.unix_now() + 3600, None).await.unwrap();
    let (_, token) =
        api.store.create_user_token(&user, "test", None, super::by_test("token.created")).await.unwrap();
    Person { session: session.expose_secret().to_owned(), token: token.expose_secret().to_owned() }
}

/// An organization `acme` with workspace `web`, a team `devs` with no organization permission,
/// and olivia (owners), mia (devs) and otto (no team). Returns (devs' id, olivia, mia, otto).
pub(super) async fn acme(api: &Api) -> (String, Person, Person, Person) {
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@example.com"}}})),
    )
    .await;
    api.ok(
        Method::POST,
        "/api/v2/organizations/acme/workspaces",
        Some(json!({"data":{"type":"workspaces","attributes":{"name":"web"}}})),
    )
    .await;
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let devs = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"devs"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let olivia = person(api, "olivia", Some(&owners)).await;
    let mia = person(api, "mia", Some(&devs)).await;
    let otto = person(api, "otto", None).await;
    (devs, olivia, mia, otto)
}

/// The rows of a page's table (`<tbody>…</tbody>`), for what is listed rather than offered.
pub(super) fn tbody(html: &str) -> &str {
    match (html.find("<tbody>"), html.find("</tbody>")) {
        (Some(a), Some(b)) => &html[a..b],
        _ => "",
    }
}

pub(super) async fn get(api: &Api, path: &str, who: &Person) -> (StatusCode, String) {
    let (status, html, _) = page(api, Method::GET, path, Some(&who.session), None, None).await;
    (status, html)
}

async fn the_audit_trail_page_filters_as_the_api_allows(api: Api) {
    let (_, olivia, mia, otto) = acme(&api).await;
    let ws = api.ok(Method::GET, "/api/v2/organizations/acme/workspaces/web", None).await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/lock"), None).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/unlock"), None).await;
    // Something olivia did, with tenant text in its details.
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(&olivia.token),
            Some(json!({"data":{"type":"teams","attributes":{"name":"ops"}}})),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/workspaces/{ws}"),
            Some(&olivia.token),
            Some(json!({"data":{"type":"workspaces","attributes":{"description":"x"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let trail = "/app/acme/settings/audit-trail";
    // Who may: as the API decides (a member without the permission: 403; an outsider: 404).
    for (who, name) in [(&mia, "mia"), (&otto, "otto")] {
        let (api_status, _) =
            api.call(Method::GET, "/api/v2/organizations/acme/audit-trail", Some(&who.token), None).await;
        let (status, html) = get(&api, trail, who).await;
        assert_eq!(status, api_status, "{name}: {html}");
        assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{name}: {status}");
        assert!(!html.contains("team.created"), "{name} saw the trail");
    }
    let (status, html, location) = page(&api, Method::GET, trail, None, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert!(location.unwrap().starts_with("/app/sign-in"));

    // The owner sees every event, newest first, with links to the workspace.
    let (status, html) = get(&api, trail, &olivia).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let rows = tbody(&html);
    let at = |what: &str| rows.find(what).unwrap_or_else(|| panic!("{what} missing: {rows}"));
    assert!(at(">workspace.unlocked<") < at(">workspace.locked<"), "newest first");
    assert!(at(">team.created<") < at(">workspace.unlocked<"), "newest first");
    assert!(rows.contains("href=\"/app/acme/workspaces/web\""), "{rows}");
    assert!(rows.contains("olivia <span class=\"muted\">(user)</span>"), "{rows}");
    assert!(rows.contains("<dt>name</dt><dd>ops</dd>"), "details as text: {rows}");
    assert!(html.contains("scope=\"col\"") && html.contains("<label>Actor"), "accessible");
    assert!(html.contains("id=\"org-settings-link\""), "the header links the settings");

    // Filters: action prefix, actor, workspace, dates; each keeps the others.
    let (_, html) = get(&api, &format!("{trail}?action=workspace.&actor=olivia"), &olivia).await;
    let rows = tbody(&html);
    assert!(rows.contains(">workspace.updated<"), "{rows}");
    for absent in [">team.created<", ">workspace.locked<"] {
        assert!(!rows.contains(absent), "{absent} passed the filter: {rows}");
    }
    assert!(html.contains("id=\"count\">1 event,"), "{html}");
    let (_, html) = get(&api, &format!("{trail}?workspace=web"), &olivia).await;
    let rows = tbody(&html);
    assert!(rows.contains(">workspace.locked<") && !rows.contains(">team.created<"), "{rows}");
    let (_, html) = get(&api, &format!("{trail}?workspace=nowhere"), &olivia).await;
    assert!(html.contains("id=\"count\">0 events") && html.contains("No event matches"), "{html}");
    let (_, html) = get(&api, &format!("{trail}?from=2000-01-01&to=2000-01-02"), &olivia).await;
    assert!(html.contains("id=\"count\">0 events"), "{html}");
    let (_, html) = get(&api, &format!("{trail}?from=2000-01-01&to=2999-01-01&action=team."), &olivia).await;
    assert!(tbody(&html).contains(">team.created<"), "{html}");
    let (status, html) = get(&api, &format!("{trail}?from=yesterday"), &olivia).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("from must be a date"), "{html}");

    // 25 a page, with the pager keeping the filters.
    for i in 0..30 {
        api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":format!("t{i}")}}})),
        )
        .await;
    }
    let (_, html) = get(&api, &format!("{trail}?action=team.created"), &olivia).await;
    assert_eq!(tbody(&html).matches("<tr>").count(), 25);
    assert!(
        html.contains("?action=team.created&amp;page=2\"")
            || html.contains("?action=team.created&#38;page=2\""),
        "{html}"
    );
    let (_, html) = get(&api, &format!("{trail}?action=team.created&page=2"), &olivia).await;
    // 32 teams created (devs, ops, t0…t29): 7 on the second page, the oldest (devs) last.
    assert_eq!(tbody(&html).matches("<tr>").count(), 7, "{html}");
    assert!(tbody(&html).contains("<dd>devs</dd>"));
}

async fn the_tokens_page_shows_a_secret_once_and_revokes(api: Api) {
    let (devs, olivia, mia, otto) = acme(&api).await;
    let tokens = "/app/acme/settings/tokens";
    // Who may see the list: as the API decides.
    for (who, name) in [(&mia, "mia"), (&otto, "otto")] {
        let (api_status, _) = api
            .call(Method::GET, "/api/v2/organizations/acme/authentication-tokens", Some(&who.token), None)
            .await;
        let (status, html) = get(&api, tokens, who).await;
        assert_eq!(status, api_status, "{name}: {html}");
        assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "{name}: {status}");
    }
    let (status, html) = get(&api, tokens, &olivia).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("No organization, team or agent token"), "{html}");
    assert!(html.contains("value=\"organization\"") && html.contains(&format!("value=\"{devs}\"")), "{html}");
    let csrf = csrf_of(&html);
    let (_, mia_page) = get(&api, "/app/acme/workspaces", &mia).await;
    let csrf_mia = csrf_of(&mia_page);

    let post =
        |path: String, who: &Person, fields: Vec<(&'static str, String)>, origin: Option<&'static str>| {
            let api = &api;
            let cookie = who.session.clone();
            async move {
                let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                page(api, Method::POST, &path, Some(&cookie), Some(&fields), origin).await
            }
        };
    let create = |csrf: &str, target: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("for", target.to_owned()),
            ("description", "<script>alert(1)</script> ci".to_owned()),
            ("expires_days", "30".to_owned()),
        ]
    };
    // A member without the permission: the API's answer, nothing made.
    let before = api.store.list_api_tokens(None).await.unwrap().len();
    let (api_status, _) = api
        .call(Method::POST, "/api/v2/organizations/acme/authentication-token", Some(&mia.token), None)
        .await;
    let (status, _, _) = post(tokens.into(), &mia, create(&csrf_mia, "organization"), None).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    // Forged, absent or cross-origin CSRF: 403.
    for (fields, origin) in [
        (create(&csrf_mia, "organization"), None),
        (create("", "organization"), None),
        (create(&csrf, "organization"), Some("https://evil.example")),
    ] {
        let (status, _, _) = post(tokens.into(), &olivia, fields, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(api.store.list_api_tokens(None).await.unwrap().len(), before, "nothing was made");

    // The owner creates an organization token: its secret is on this answer, once.
    let response = {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in create(&csrf, "organization") {
            body.append_pair(k, &v);
        }
        http.post(format!("{}{tokens}", api.base))
            .header("cookie", format!("tern_session={}", olivia.session))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let secret =
        html.split("id=\"secret\"").nth(1).unwrap().split('>').nth(1).unwrap().split('<').next().unwrap();
    assert!(secret.starts_with("tern-org"), "{html}");
    assert_eq!(html.matches(secret).count(), 1, "the secret is shown exactly once");
    assert!(html.contains("shown only this once"), "{html}");
    // The one script turns this answer into a plain visit of the list (a reload posts nothing):
    // only for a viewer who may see that list.
    assert!(html.contains("data-shown-once") && html.contains("<script src=\"/app/assets/tern"), "{html}");
    assert!(!html.contains("<script>alert"), "tenant text is escaped");
    let secret = secret.to_owned();
    let (status, _) =
        api.call(Method::GET, "/api/v2/organizations/acme/workspaces", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK, "the new token works");
    // And a team token for devs.
    let (status, html, _) = post(tokens.into(), &olivia, create(&csrf, &devs), None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let team_secret = html
        .split("id=\"secret\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(team_secret.starts_with("tern-team"), "{html}");
    let (status, html, _) = post(tokens.into(), &olivia, create(&csrf, "team-nope"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");

    // Afterwards: listed with who made it, the secret on no page, in no trail, not stored.
    let (_, html) = get(&api, tokens, &olivia).await;
    let listed = api
        .call(Method::GET, "/api/v2/organizations/acme/authentication-tokens", Some(&olivia.token), None)
        .await
        .1;
    let ids: Vec<String> =
        listed["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert!(html.contains(&format!("id=\"token-{id}\"")), "{id} not listed: {html}");
    }
    assert!(tbody(&html).contains("(team devs)") && tbody(&html).contains("<td>olivia</td>"), "{html}");
    let (_, trail) = get(&api, "/app/acme/settings/audit-trail", &olivia).await;
    let api_trail =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?page[size]=100", None).await.to_string();
    let dump = format!("{:?}", api.store.dump().await.unwrap());
    for s in [&secret, &team_secret] {
        for (what, text) in [
            ("the tokens page", &html),
            ("the trail page", &trail),
            ("the API trail", &api_trail),
            ("the store", &dump),
        ] {
            assert!(!text.contains(s.as_str()), "a secret reached {what}");
        }
    }
    assert!(tbody(&trail).contains(">token.created<"), "{trail}");

    // Revoke: forged or absent CSRF, or a member without the permission: refused, token works.
    assert!(!trail.contains("<script>alert"), "tenant text in the trail is escaped");
    let org_token = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["kind"] == "organization")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = format!("/app/acme/settings/tokens/{org_token}/revoke");
    for (who, csrf) in [(&olivia, csrf_mia.clone()), (&olivia, String::new()), (&mia, csrf_mia.clone())] {
        let (status, _, _) = post(revoke.clone(), who, vec![("csrf", csrf)], None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) =
        api.call(Method::GET, "/api/v2/organizations/acme/workspaces", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK, "refused revocations change nothing");
    let (status, _, location) = post(revoke.clone(), &olivia, vec![("csrf", csrf.clone())], None).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(tokens)));
    let (status, _) =
        api.call(Method::GET, "/api/v2/organizations/acme/workspaces", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once");
    let (_, html) = get(&api, tokens, &olivia).await;
    assert!(!html.contains(&format!("id=\"token-{org_token}\"")), "{html}");
    let (status, _, _) = post(revoke, &olivia, vec![("csrf", csrf.clone())], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone");
    let (status, _) =
        api.call(Method::GET, "/api/v2/organizations/acme/teams", Some(&team_secret), None).await;
    assert_eq!(status, StatusCode::OK, "the other token still works");
}

async fn the_teams_pages_show_members_and_only_visible_access(api: Api) {
    let (devs, olivia, mia, otto) = acme(&api).await;
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    let web = id_of(&api.ok(Method::GET, "/api/v2/organizations/acme/workspaces/web", None).await);
    let hidden = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"payroll"}}})),
        )
        .await,
    );
    let ops = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"ops","organization-access":{"manage-workspaces":true}}}})),
        )
        .await,
    );
    for (team, ws, access) in [(&devs, &web, "read"), (&ops, &hidden, "admin"), (&ops, &web, "write")] {
        api.ok(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":access},"relationships":{
            "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
        )
        .await;
    }

    // The settings link lands on the teams, which every member sees; an outsider gets the API's 404.
    let (status, _, location) =
        page(&api, Method::GET, "/app/acme/settings", Some(&olivia.session), None, None).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/app/acme/settings/teams")));
    for (who, name) in [(&olivia, "olivia"), (&mia, "mia"), (&otto, "otto")] {
        let (api_status, _) =
            api.call(Method::GET, "/api/v2/organizations/acme/teams", Some(&who.token), None).await;
        let (status, html) = get(&api, "/app/acme/settings/teams", who).await;
        assert_eq!(status, api_status, "{name}: {html}");
        let (api_status, _) =
            api.call(Method::GET, &format!("/api/v2/teams/{ops}"), Some(&who.token), None).await;
        let (status, html) = get(&api, "/app/acme/settings/teams/ops", who).await;
        assert_eq!(status, api_status, "{name}: {html}");
    }
    let (_, html) = get(&api, "/app/acme/settings/teams", &otto).await;
    assert!(!html.contains("devs"), "an outsider saw the teams");

    let (_, html) = get(&api, "/app/acme/settings/teams", &mia).await;
    let rows = tbody(&html);
    assert!(rows.contains("href=\"/app/acme/settings/teams/devs\">devs</a></td>\n<td>1</td>"), "{rows}");
    assert!(rows.contains("<span class=\"tag\">manage-workspaces</span>"), "{rows}");
    assert!(rows.contains("<span class=\"tag\">manage-teams</span>"), "the owners' permissions: {rows}");
    assert!(html.contains("scope=\"col\""));

    // A team's page: its members and its access — to what the viewer may see only.
    let (status, html) = get(&api, "/app/acme/settings/teams/ops", &olivia).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("payroll</a></td><td>admin</td>") && html.contains("web</a></td><td>write</td>"),
        "{html}"
    );
    let (_, html) = get(&api, "/app/acme/settings/teams/ops", &mia).await;
    assert!(html.contains("web</a></td><td>write</td>"), "{html}");
    assert!(!html.contains("payroll"), "mia saw a workspace she may not see: {html}");
    let (status, _) = get(&api, "/app/acme/settings/teams/nobody", &olivia).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Members: the owner is offered the forms; mia is not, and her post gets the API's 403.
    let (_, html) = get(&api, "/app/acme/settings/teams/devs", &olivia).await;
    assert!(
        html.contains("<ul id=\"members\"><li>mia\n<form") && html.contains("id=\"add-member\""),
        "{html}"
    );
    let csrf = csrf_of(&html);
    let (_, html) = get(&api, "/app/acme/settings/teams/devs", &mia).await;
    assert!(
        html.contains("<ul id=\"members\"><li>mia</li></ul>") && !html.contains("id=\"add-member\""),
        "{html}"
    );
    let csrf_mia = csrf_of(&html);
    let members = "/app/acme/settings/teams/devs/members";
    let change = |who: &Person, csrf: &str, action: &str, user: &str| {
        let fields =
            [("csrf", csrf.to_owned()), ("action", action.to_owned()), ("username", user.to_owned())];
        let (api, cookie) = (&api, who.session.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page(api, Method::POST, members, Some(&cookie), Some(&fields), None).await
        }
    };
    let (api_status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/teams/{devs}/relationships/users"),
            Some(&mia.token),
            Some(json!({"data":[{"type":"users","id":"otto"}]})),
        )
        .await;
    let (status, _, _) = change(&mia, &csrf_mia, "add", "otto").await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    for csrf in [csrf_mia.as_str(), ""] {
        let (status, _, _) = change(&olivia, csrf, "add", "otto").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a forged or absent CSRF token");
    }
    let (status, _) = get(&api, "/app/acme/settings/teams", &otto).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "otto is still an outsider");
    let (status, html, _) = change(&olivia, &csrf, "add", "nobody-here").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let (status, _, location) = change(&olivia, &csrf, "add", "otto").await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/app/acme/settings/teams/devs")));
    let (status, _) = get(&api, "/app/acme/settings/teams", &otto).await;
    assert_eq!(status, StatusCode::OK, "otto is a member now");
    let (status, _, _) = change(&olivia, &csrf, "remove", "otto").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = get(&api, "/app/acme/settings/teams", &otto).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "otto is out again");
    let trail =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?filter[actor]=olivia", None).await;
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attributes"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["team.members-added", "team.members-removed"]);
}

async fn the_agents_page_shows_pools_their_agents_and_visible_workspaces(api: Api) {
    let (devs, olivia, mia, otto) = acme(&api).await;
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    let agents = "/app/acme/settings/agents";
    let (_, html) = get(&api, agents, &olivia).await;
    assert!(html.contains("No agent pool"), "{html}");
    let pool = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/agent-pools",
            Some(json!({"data":{"type":"agent-pools","attributes":{"name":"edge-pool"}}})),
        )
        .await,
    );
    let web = id_of(&api.ok(Method::GET, "/api/v2/organizations/acme/workspaces/web", None).await);
    for (name, visible) in [("web", true), ("payroll", false)] {
        let id = if name == "web" {
            web.clone()
        } else {
            id_of(
                &api.ok(
                    Method::POST,
                    "/api/v2/organizations/acme/workspaces",
                    Some(json!({"data":{"type":"workspaces","attributes":{"name":name}}})),
                )
                .await,
            )
        };
        api.ok(
            Method::PATCH,
            &format!("/api/v2/workspaces/{id}"),
            Some(json!({"data":{"type":"workspaces","attributes":{"execution-mode":"agent"},
                "relationships":{"agent-pool":{"data":{"type":"agent-pools","id":pool}}}}})),
        )
        .await;
        if visible {
            api.ok(
                Method::POST,
                "/api/v2/team-workspaces",
                Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{
                "team":{"data":{"type":"teams","id":devs}},"workspace":{"data":{"type":"workspaces","id":id}}}}})),
            )
            .await;
        }
    }
    let token: Document<r::AuthenticationToken> = typed(
        &api.ok(Method::POST, &format!("/api/v2/agent-pools/{pool}/authentication-tokens"), None).await,
    );
    let token = token.data.attributes.token.unwrap().expose_secret().to_owned();
    let request = protocol::ClaimRequest {
        agent: "edge-<1>".into(),
        wait_seconds: 0,
        restarted: false,
        terraform_versions: Some(vec!["1.11.4".into()]),
    };
    let (status, _) = api.call(Method::POST, protocol::CLAIM_PATH, Some(&token), body(&request)).await;
    assert!(status.is_success(), "{status}");

    // Who may: as `GET …/agent-pools` (every member; an outsider: 404).
    for (who, name) in [(&olivia, "olivia"), (&mia, "mia"), (&otto, "otto")] {
        let (api_status, _) =
            api.call(Method::GET, "/api/v2/organizations/acme/agent-pools", Some(&who.token), None).await;
        let (status, html) = get(&api, agents, who).await;
        assert_eq!(status, api_status, "{name}: {html}");
    }
    // The owner: the pool, its workspaces, its agent (escaped), online.
    let (_, html) = get(&api, agents, &olivia).await;
    assert!(html.contains("edge-pool") && html.contains("1 agent present"), "{html}");
    assert!(
        html.contains("href=\"/app/acme/workspaces/payroll\"")
            && html.contains("href=\"/app/acme/workspaces/web\"")
    );
    assert!(html.contains("<td>edge-&#60;1&#62;</td>") || html.contains("<td>edge-&lt;1&gt;</td>"), "{html}");
    assert!(html.contains(">online<") && html.contains("<td>1.11.4</td>"), "{html}");
    assert!(html.contains(">nothing<"), "the agent runs nothing yet: {html}");
    // It takes a plan of web: the page says so, with a link to the run.
    let run = queued_run(&api, &web).await;
    let (status, claimed) = api.call(Method::POST, protocol::CLAIM_PATH, Some(&token), body(&request)).await;
    assert!(status.is_success() && claimed.to_string().contains(&run), "{status} {claimed}");
    let (_, html) = get(&api, agents, &olivia).await;
    assert!(
        html.contains(&format!("<a href=\"/app/acme/workspaces/web/runs/{run}\">plan of web</a>")),
        "{html}"
    );
    // A member: the pool and the workspaces she may see; no agent names.
    let (_, html) = get(&api, agents, &mia).await;
    assert!(html.contains("edge-pool") && html.contains("href=\"/app/acme/workspaces/web\""), "{html}");
    assert!(!html.contains("payroll") && !html.contains("edge-&"), "{html}");
    assert!(html.contains("needs the organization permission manage-agent-pools"), "{html}");
}
