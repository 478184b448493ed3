//! The web UI's State tab: the list, a version's file, and a comparison of two versions —
//! decided as the API decides downloading state, and never showing a secret the state holds.

use base64::Engine as _;

use super::{Api, Method, StatusCode, TestDatabase, Value, json, page, queued_run, start};

both!(the_state_tab_lists_downloads_and_compares_without_showing_a_secret);

/// What a sensitive output and a sensitive attribute hold: on no page, ever.
const OUTPUT_SECRET: &str = "out-secret-4c1f8a2e";
const ATTR_SECRET: &str = "attr-secret-93b7d05c";

/// Upload a state (the workspace locked around it), made by `run` when given; its id.
async fn upload(api: &Api, ws: &str, state: &str, run: Option<&str>) -> String {
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/lock"), None).await;
    let mut doc = json!({"data":{"type":"state-versions","attributes":{
        "md5": tern_store::md5_hex(state.as_bytes()),
        "state": base64::engine::general_purpose::STANDARD.encode(state)}}});
    if let Some(run) = run {
        doc["data"]["relationships"] = json!({"run":{"data":{"type":"runs","id":run}}});
    }
    let v = api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/state-versions"), Some(doc)).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/unlock"), None).await;
    v["data"]["id"].as_str().unwrap().to_owned()
}

/// A state file of lineage `L`.
fn state(serial: u32, resources: &[String], outputs: &str) -> String {
    format!(
        r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"L","outputs":{{{outputs}}},"resources":[{}]}}"#,
        resources.join(",")
    )
}

fn null_resource(name: &str, key: Option<&str>, trigger: &str) -> String {
    let key = key.map(|k| format!(r#""index_key":"{k}","#)).unwrap_or_default();
    format!(
        r#"{{"mode":"managed","type":"null_resource","name":"{name}","instances":[{{{key}"attributes":{{"id":"{name}-id","triggers":{{"v":"{trigger}"}}}}}}]}}"#
    )
}

fn database(password: &str) -> String {
    format!(
        r#"{{"mode":"managed","type":"db_instance","name":"main","instances":[{{"attributes":{{"id":"db-1","password":"{password}","engine":"postgres"}},"sensitive_attributes":[[{{"type":"get_attr","value":"password"}}]]}}]}}"#
    )
}

/// An owner lists the versions (newest first, with their run), downloads one (its exact bytes,
/// as an attachment never cached) and compares it with the previous one (resources added,
/// changed with the attribute names, removed; outputs changed with their values unless
/// sensitive); neither secret reaches any page. A member who may read outputs only is refused
/// the list and the file (403), as by the API; a member of no team is not told
/// the workspace exists (404); another workspace's version under this URL is not found.
async fn the_state_tab_lists_downloads_and_compares_without_showing_a_secret(api: Api) {
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@example.com"}}})),
    )
    .await;
    let mut ids = Vec::new();
    for name in ["app", "other", "empty"] {
        let created = api
            .ok(
                Method::POST,
                "/api/v2/organizations/acme/workspaces",
                Some(json!({"data":{"type":"workspaces","attributes":{"name":name}}})),
            )
            .await;
        ids.push(id_of(&created));
    }
    let (ws, other) = (&ids[0], &ids[1]);
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await
        ["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outputs_team = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"outputs-only"}}})),
        )
        .await,
    );
    api.ok(
        Method::POST,
        "/api/v2/team-workspaces",
        Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"custom","runs":"read","state-versions":"read-outputs"},"relationships":{
        "team":{"data":{"type":"teams","id":outputs_team}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
    )
    .await;
    let (mut sessions, mut users) = (Vec::new(), Vec::new());
    for (name, team) in [("olivia", Some(&owners)), ("otto", Some(&outputs_team)), ("nobody", None)] {
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
        users.push(user);
    }
    let (olivia, otto, nobody) = (&sessions[0], &sessions[1], &sessions[2]);

    // Serial 1 (uploaded), then serial 2 by a run: `kept` changes a trigger, `gone` goes,
    // `added["k"]` comes, the database's sensitive password changes; one output changes, one is
    // added, a sensitive one holds the secret.
    let first = state(
        1,
        &[null_resource("kept", None, "one"), null_resource("gone", None, "x"), database("old-password")],
        r#""endpoint":{"value":"https://v1.example","type":"string"},"db_password":{"value":"old-output","type":"string","sensitive":true}"#,
    );
    let second = state(
        2,
        &[null_resource("kept", None, "two"), null_resource("added", Some("k"), "y"), database(ATTR_SECRET)],
        &format!(
            r#""endpoint":{{"value":"https://v2.example","type":"string"}},"db_password":{{"value":"{OUTPUT_SECRET}","type":"string","sensitive":true}},"region":{{"value":"eu-west-1","type":"string"}}"#
        ),
    );
    let run = queued_run(&api, ws).await;
    let v1 = upload(&api, ws, &first, None).await;
    let v2 = upload(&api, ws, &second, Some(&run)).await;
    let elsewhere = upload(&api, other, &state(1, &[], ""), None).await;
    let mut pages = Vec::new();

    // The list: newest first, the run that made serial 2, resource counts, links to each.
    let base = "/app/acme/workspaces/app/states";
    let (status, list, _) = page(&api, Method::GET, base, Some(olivia), None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list.contains(&format!(r#"<a href="{base}" aria-current="page">State</a>"#)), "the tab: {list}");
    let (at2, at1) =
        (list.find(&format!("{base}/{v2}/download")), list.find(&format!("{base}/{v1}/download")));
    assert!(at2.is_some() && at1.is_some() && at2 < at1, "both, newest first: {list}");
    assert!(list.contains(&format!("{base}/{v2}\"")) && list.contains(&format!("{base}/{v1}\"")), "{list}");
    assert!(list.contains(&format!("/app/acme/workspaces/app/runs/{run}")), "the run's link: {list}");
    assert!(
        list.contains("<th scope=\"row\">2</th>") && list.contains("<td>3</td>"),
        "serial, resources: {list}"
    );
    pages.push(list);
    let (_, empty, _) =
        page(&api, Method::GET, "/app/acme/workspaces/empty/states", Some(olivia), None, None).await;
    assert!(empty.contains("No state yet"), "{empty}");

    // The file: its exact bytes, as an attachment, never cached or sniffed.
    let download = |who: &str, id: &str| {
        let (api, who, url) = (&api, who.to_owned(), format!("{}{base}/{id}/download", api.base));
        async move { api.http.get(url).header("cookie", format!("tern_session={who}")).send().await.unwrap() }
    };
    let r = download(olivia, &v2).await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["content-disposition"], "attachment; filename=\"app-2.tfstate\"");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap(), second.as_bytes(), "the state exactly as uploaded");

    // The comparison with the previous version (the default).
    let (status, diff, _) = page(&api, Method::GET, &format!("{base}/{v2}"), Some(olivia), None, None).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let row = |html: &str, address: &str| -> String {
        let at = html.find(address).unwrap_or_else(|| panic!("no {address} in {html}"));
        let start = html[..at].rfind("<tr>").unwrap();
        let end = at + html[at..].find("</tr>").unwrap();
        html[start..end].to_owned()
    };
    assert!(diff.contains(&format!("{base}/{v1}\">serial 1</a>")), "compared with serial 1: {diff}");
    assert!(
        diff.contains("+1 added") && diff.contains("~2 changed") && diff.contains("−1 removed"),
        "{diff}"
    );
    assert!(row(&diff, "null_resource.added[").contains("+ added"), "{diff}");
    let kept = row(&diff, "null_resource.kept<");
    assert!(kept.contains("~ changed") && kept.contains("<code>triggers</code>"), "{kept}");
    let db = row(&diff, "db_instance.main");
    assert!(db.contains("<code>password</code>") && !db.contains("engine"), "only what changed: {db}");
    assert!(row(&diff, "null_resource.gone").contains("− removed"), "{diff}");
    let endpoint = row(&diff, "<code>endpoint</code>");
    assert!(endpoint.contains("v1.example") && endpoint.contains("v2.example"), "{endpoint}");
    assert!(row(&diff, "<code>region</code>").contains("+ added"), "{diff}");
    let password = row(&diff, "<code>db_password</code>");
    assert!(password.contains("~ changed") && password.contains("sensitive"), "{password}");
    assert!(!diff.contains("old-output") && !diff.contains("old-password"), "a sensitive old value: {diff}");
    pages.push(diff);
    // The first version against nothing; versions compared the other way round.
    let (_, first_page, _) = page(&api, Method::GET, &format!("{base}/{v1}"), Some(olivia), None, None).await;
    assert!(first_page.contains("first state version") && first_page.contains("+3 added"), "{first_page}");
    pages.push(first_page);
    let (_, back, _) =
        page(&api, Method::GET, &format!("{base}/{v1}?compare={v2}"), Some(olivia), None, None).await;
    assert!(row(&back, "null_resource.gone").contains("+ added"), "{back}");
    pages.push(back);
    let (_, overview, _) =
        page(&api, Method::GET, "/app/acme/workspaces/app", Some(olivia), None, None).await;
    pages.push(overview);

    // Outputs only: the list (the state's history), the file and the comparison are refused,
    // as the API refuses its state-versions list.
    let (status, list, _) = page(&api, Method::GET, base, Some(otto), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{list}");
    assert!(list.contains("state-versions: read") && !list.contains(OUTPUT_SECRET), "{list}");
    pages.push(list);
    let refused = download(otto, &v2).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("state-versions: read") && !refused.contains(OUTPUT_SECRET), "{refused}");
    let (status, refused, _) = page(&api, Method::GET, &format!("{base}/{v2}"), Some(otto), None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    pages.push(refused);
    // As the API decides: the same caller's token is refused the same file the same way.
    let token =
        api.ok(Method::POST, &format!("/api/v2/users/{}/authentication-tokens", users[1]), None).await;
    let token = token["data"]["attributes"]["token"].as_str().unwrap();
    let api_download = format!("/api/v2/state-versions/{v2}/download");
    assert_eq!(api.call(Method::GET, &api_download, Some(token), None).await.0, StatusCode::FORBIDDEN);
    // The API's download of the same file is never cached either.
    let r = api.http.get(format!("{}{api_download}", api.base)).bearer_auth(&api.admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");

    // No team: not found, whatever the page.
    for path in [base.to_owned(), format!("{base}/{v2}"), format!("{base}/{v2}/download")] {
        let (status, body, _) = page(&api, Method::GET, &path, Some(nobody), None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        pages.push(body);
    }
    // Another workspace's version, or none, under this workspace's URL: not found.
    for path in [
        format!("{base}/{elsewhere}/download"),
        format!("{base}/{elsewhere}"),
        format!("{base}/{v2}?compare={elsewhere}"),
        format!("{base}/sv-nonexistent/download"),
    ] {
        let (status, body, _) = page(&api, Method::GET, &path, Some(olivia), None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        pages.push(body);
    }
    // Without a session: to sign in, and back.
    let (status, _, to) = page(&api, Method::GET, &format!("{base}/{v2}/download"), None, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.unwrap().starts_with("/app/sign-in?return_to="));

    for html in &pages {
        assert!(
            !html.contains(OUTPUT_SECRET) && !html.contains(ATTR_SECRET),
            "a secret reached a page: {html}"
        );
    }
}
