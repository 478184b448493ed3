//! The workspace settings page over the application layer: an admin changes settings, locks
//! and unlocks, and deletes after typing the name; a reader sees the settings but no form, and
//! their posts are refused with nothing changed; bad values are refused with the field named.

use super::*;

both!(the_settings_page_changes_locks_and_deletes_as_the_api_allows);

async fn the_settings_page_changes_locks_and_deletes_as_the_api_allows(api: Api) {
    use base64::Engine as _;
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
    let pool = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/agent-pools",
            Some(json!({"data":{"type":"agent-pools","attributes":{"name":"edge-pool"}}})),
        )
        .await,
    );
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut teams = Vec::new();
    for (name, access) in [("settings-readers", "read"), ("settings-writers", "write")] {
        let team = id_of(
            &api.ok(
                Method::POST,
                "/api/v2/organizations/acme/teams",
                Some(json!({"data":{"type":"teams","attributes":{"name":name}}})),
            )
            .await,
        );
        api.ok(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":access},"relationships":{
            "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
        )
        .await;
        teams.push(team);
    }
    let mut sessions = Vec::new();
    for (name, team) in [("olivia", &owners), ("rita", &teams[0]), ("walt", &teams[1])] {
        let user = id_of(
            &api.ok(
                Method::POST,
                "/api/v2/admin/users",
                Some(json!({"data":{"type":"users","attributes":{"username":name}}})),
            )
            .await,
        );
        api.ok(
            Method::POST,
            &format!("/api/v2/teams/{team}/relationships/users"),
            Some(json!({"data":[{"type":"users","id":name}]})),
        )
        .await;
        let (_, secret) = api.store.create_session(&user, api.store.unix_now() + 3600, None).await.unwrap();
        sessions.push(secret.expose_secret().to_owned());
    }
    let (olivia, rita, walt) = (&sessions[0], &sessions[1], &sessions[2]);
    let settings = "/app/acme/workspaces/web/settings";
    let before = attributes(&api, &ws).await;

    // A reader sees the settings, read-only: no save button, no lock, no delete.
    let (status, html, _) = page(&api, Method::GET, settings, Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"read-only\"") && html.contains("<fieldset disabled>"), "{html}");
    for absent in ["id=\"save\"", "id=\"lock\"", "id=\"delete-workspace\"", "edge-pool"] {
        assert!(!html.contains(absent), "a reader is offered {absent}");
    }
    let csrf_rita = csrf_of(&html);
    let form = |csrf: &str, mode: &str, pool: &str, plan: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("execution_mode", mode.to_owned()),
            ("agent_pool", pool.to_owned()),
            ("terraform_version", "1.11.4".to_owned()),
            ("auto_apply", "on".to_owned()),
            ("working_directory", "infra/prod".to_owned()),
            ("plan_timeout", plan.to_owned()),
            ("apply_timeout", "900".to_owned()),
            ("description", "<script>alert(1)</script> the web tier".to_owned()),
        ]
    };
    let post = |path: &'static str, cookie: &String, fields: Vec<(&'static str, String)>| {
        let api = &api;
        let cookie = cookie.clone();
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page(api, Method::POST, path, Some(&cookie), Some(&fields), None).await
        }
    };
    // The reader's own post (valid CSRF) is refused by the application layer, as the API would.
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings", rita, form(&csrf_rita, "remote", "", "600")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    // Refused before the form is read: a bad form tells the reader nothing either.
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings", rita, form(&csrf_rita, "nonsense", "", "not a number"))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    for (action, path) in [("lock", "/app/acme/workspaces/web/settings/lock")] {
        let (status, _, _) =
            post(path, rita, vec![("csrf", csrf_rita.clone()), ("action", action.to_owned())]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a reader may not {action}");
    }
    let (status, _, _) = post(
        "/app/acme/workspaces/web/settings/delete",
        rita,
        vec![("csrf", csrf_rita.clone()), ("confirm", "web".to_owned()), ("force", "on".to_owned())],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a reader may not delete");
    // A writer may lock (workspace-locking) but not change settings or delete.
    let (_, html, _) = page(&api, Method::GET, settings, Some(walt), None, None).await;
    assert!(
        html.contains("id=\"lock\"")
            && !html.contains("id=\"save\"")
            && !html.contains("id=\"delete-workspace\"")
    );
    let csrf_walt = csrf_of(&html);
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings", walt, form(&csrf_walt, "remote", "", "600")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert_eq!(attributes(&api, &ws).await, before, "refused posts change nothing");

    // The owner sees the whole form with the organization's agent pools.
    let (status, html, _) = page(&api, Method::GET, settings, Some(olivia), None, None).await;
    assert_eq!(status, StatusCode::OK);
    for present in
        ["id=\"save\"", "id=\"lock\"", "id=\"delete-workspace\"", "edge-pool", "value=\"remote\" checked"]
    {
        assert!(html.contains(present), "the owner is not offered {present}: {html}");
    }
    let csrf = csrf_of(&html);
    // Bad values: refused with the field named, nothing changed.
    for (fields, says) in [
        (form(&csrf, "agent", "", "600"), "agent pool"),
        (form(&csrf, "remote", "", "0"), "plan timeout"),
        (form(&csrf, "cloud", "", "600"), "execution mode"),
    ] {
        let (status, html, _) = post("/app/acme/workspaces/web/settings", olivia, fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains(says), "{html}");
    }
    // Another organization's pool is not this workspace's to use.
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings", olivia, form(&csrf, "agent", "apool-not-here", "600"))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("apool-not-here"), "{html}");
    // CSRF: another session's token, none, or a foreign origin: 403.
    let (status, _, _) =
        post("/app/acme/workspaces/web/settings", olivia, form(&csrf_rita, "remote", "", "600")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let fields = form(&csrf, "remote", "", "600");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) =
        page(&api, Method::POST, settings, Some(olivia), Some(&fields), Some("https://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(attributes(&api, &ws).await, before, "refused posts change nothing");

    // A good post: every setting saved, as the API then shows it.
    let (status, _, location) =
        post("/app/acme/workspaces/web/settings", olivia, form(&csrf, "agent", &pool, "600")).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(settings)));
    let after = attributes(&api, &ws).await;
    assert_eq!(after["execution-mode"], "agent");
    assert_eq!(after["auto-apply"], true);
    assert_eq!(after["working-directory"], "infra/prod");
    assert_eq!(after["plan-timeout"], 600);
    assert_eq!(after["apply-timeout"], 900);
    let (_, html, _) = page(&api, Method::GET, settings, Some(olivia), None, None).await;
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "the description is escaped"
    );
    assert!(!html.contains("<script>alert"), "tenant text reached the page as HTML");
    assert!(html.contains("value=\"agent\" checked") && html.contains("selected>edge-pool"), "{html}");

    // Lock, lock again (409, as in TFE), unlock.
    let lock = |action: &str| vec![("csrf", csrf.clone()), ("action", action.to_owned())];
    let (status, _, _) = post("/app/acme/workspaces/web/settings/lock", olivia, lock("lock")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(attributes(&api, &ws).await["locked"], true);
    let (_, html, _) = page(&api, Method::GET, settings, Some(olivia), None, None).await;
    assert!(html.contains("id=\"unlock\"") && html.contains(">locked<"), "{html}");
    let (status, html, _) = post("/app/acme/workspaces/web/settings/lock", olivia, lock("lock")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("already locked"), "{html}");
    let (status, _, _) = post("/app/acme/workspaces/web/settings/lock", olivia, lock("unlock")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(attributes(&api, &ws).await["locked"], false);
    let (status, _, _) = post("/app/acme/workspaces/web/settings/lock", olivia, lock("open-sesame")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Delete: the name must be typed exactly; a state that manages resources needs "force".
    let state = r#"{"version":4,"serial":1,"lineage":"L","outputs":{},"resources":[{"mode":"managed","type":"null_resource","name":"web","instances":[{"attributes":{}}]}]}"#;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/lock"), None).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/state-versions"), Some(json!({"data":{"type":"state-versions","attributes":{"serial":1,"md5":tern_store::md5_hex(state.as_bytes()),"lineage":"L","state":base64::engine::general_purpose::STANDARD.encode(state)}}}))).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/unlock"), None).await;
    let delete = |name: &str, force: bool| {
        let mut f = vec![("csrf", csrf.clone()), ("confirm", name.to_owned())];
        if force {
            f.push(("force", "on".to_owned()));
        }
        f
    };
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings/delete", olivia, delete("we", true)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("type its name exactly"), "{html}");
    let (status, html, _) =
        post("/app/acme/workspaces/web/settings/delete", olivia, delete("web", false)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("managing 1 resource"), "{html}");
    attributes(&api, &ws).await;
    let (status, _, location) =
        post("/app/acme/workspaces/web/settings/delete", olivia, delete("web", true)).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/app/acme/workspaces")));
    let (status, _) =
        api.call(Method::GET, &format!("/api/v2/workspaces/{ws}"), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The audit trail names who changed which settings — never a value — and the deletion.
    let trail = api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?page[size]=100", None).await;
    let text = trail.to_string();
    assert!(!text.contains("the web tier"), "a setting's value reached the audit trail");
    let actions: Vec<(String, String)> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["attributes"]["action"].as_str().unwrap_or("").to_owned(),
                e["attributes"]["actor"].as_str().unwrap_or("").to_owned(),
            )
        })
        .filter(|(a, _)| a.starts_with("workspace."))
        .collect();
    for want in ["workspace.updated", "workspace.locked", "workspace.unlocked", "workspace.deleted"] {
        assert!(
            actions.iter().any(|(a, who)| a == want && who == "olivia"),
            "{want} by olivia missing: {actions:?}"
        );
    }
    assert!(text.contains("\"working-directory\""), "the changed settings are named: {text}");
}

/// A workspace's attributes as the API shows them to the admin.
async fn attributes(api: &Api, ws: &str) -> Value {
    api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}"), None).await["data"]["attributes"].clone()
}
