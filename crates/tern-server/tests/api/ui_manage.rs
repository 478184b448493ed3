//! Managing an organization from its settings pages, over the application layer the API's
//! handlers call too: teams created, renamed, given and refused workspace and project access,
//! deleted (never the owners team); variable sets created, changed, applied and deleted, their
//! variables with sensitive values that no page, trail or answer ever shows. Someone without
//! the permission is not offered the form, and their forged post gets exactly the API's answer.

use super::ui_org::{Person, acme, get, person, tbody};
use super::*;

both!(
    teams_are_managed_from_their_pages_as_the_api_decides,
    variable_sets_are_managed_and_keep_secrets,
    the_workspaces_page_filters_by_any_project
);

/// A form post by `who` (`csrf`: the token the form carries).
async fn post(
    api: &Api,
    path: &str,
    who: &Person,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, Option<String>) {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    page(api, Method::POST, path, Some(&who.session), Some(&all), None).await
}

fn id_of(v: &Value) -> String {
    v["data"]["id"].as_str().unwrap().to_owned()
}

/// The audit actions of `actor` in acme, oldest first.
async fn actions_of(api: &Api, actor: &str) -> Vec<String> {
    let trail = api
        .ok(
            Method::GET,
            &format!("/api/v2/organizations/acme/audit-trail?page[size]=100&filter[actor]={actor}"),
            None,
        )
        .await;
    trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attributes"]["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn teams_are_managed_from_their_pages_as_the_api_decides(api: Api) {
    let (devs, olivia, mia, _otto) = acme(&api).await;
    let web = id_of(&api.ok(Method::GET, "/api/v2/organizations/acme/workspaces/web", None).await);
    let infra = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/projects",
            Some(json!({"data":{"type":"projects","attributes":{"name":"infra"}}})),
        )
        .await,
    );
    // mia (devs) may read web: she sees it, and is refused (403, not 404) what she may not do.
    api.ok(
        Method::POST,
        "/api/v2/team-workspaces",
        Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{
        "team":{"data":{"type":"teams","id":devs}},"workspace":{"data":{"type":"workspaces","id":web}}}}})),
    )
    .await;
    let teams = "/app/acme/settings/teams";

    // Creating: offered to the owner with the permissions she may grant; not to mia.
    let (_, html) = get(&api, teams, &olivia).await;
    assert!(html.contains("id=\"create-team\"") && html.contains("value=\"manage-teams\""), "{html}");
    assert!(html.contains("<label for=\"team-name\">Name</label>"), "labelled");
    let csrf = csrf_of(&html);
    let (_, html) = get(&api, teams, &mia).await;
    assert!(!html.contains("id=\"create-team\""), "{html}");
    let csrf_mia = csrf_of(&html);
    let (api_status, _) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(&mia.token),
            Some(json!({"data":{"type":"teams","attributes":{"name":"mine"}}})),
        )
        .await;
    let (status, _, _) = post(&api, teams, &mia, &csrf_mia, &[("name", "mine")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    for bad in [csrf_mia.as_str(), ""] {
        let (status, _, _) = post(&api, teams, &olivia, bad, &[("name", "mine")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a forged or absent CSRF token");
    }
    let (status, html, _) =
        post(&api, teams, &olivia, &csrf, &[("name", "half"), ("permission", "manage-projects")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("manage-projects needs manage-workspaces too"), "{html}");
    let listed = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=mine,half", None).await;
    assert!(listed["data"].as_array().unwrap().is_empty(), "nothing was made: {listed}");

    let (status, _, location) =
        post(&api, teams, &olivia, &csrf, &[("name", "ops"), ("permission", "manage-workspaces")]).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/app/acme/settings/teams/ops")));
    let ops = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=ops", None).await["data"]
        [0]
    .clone();
    assert_eq!(ops["attributes"]["organization-access"]["manage-workspaces"], true, "{ops}");
    assert_eq!(ops["attributes"]["organization-access"]["manage-teams"], false, "{ops}");
    let ops_id = ops["id"].as_str().unwrap().to_owned();

    // The team's page: the owner gets every form, mia none.
    let ops_page = "/app/acme/settings/teams/ops";
    let (_, html) = get(&api, ops_page, &olivia).await;
    for form in ["id=\"change-team\"", "id=\"delete-team\"", "id=\"grant-workspace\"", "id=\"grant-project\""]
    {
        assert!(html.contains(form), "{form} missing: {html}");
    }
    assert!(html.contains("<datalist id=\"grant-ws-names\"><option value=\"web\">"), "{html}");
    let (_, html) = get(&api, ops_page, &mia).await;
    for form in ["id=\"change-team\"", "id=\"delete-team\"", "id=\"grant-workspace\"", "id=\"grant-project\""]
    {
        assert!(!html.contains(form), "{form} offered to mia: {html}");
    }

    // Workspace access: granted, changed, removed; mia's forged posts get the API's answers.
    let grant = format!("{ops_page}/workspaces");
    let (api_status, _) = api
        .call(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(&mia.token),
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"admin"},"relationships":{
            "team":{"data":{"type":"teams","id":ops_id}},"workspace":{"data":{"type":"workspaces","id":web}}}}})),
        )
        .await;
    let (status, _, _) = post(&api, &grant, &mia, &csrf_mia, &[("target", &web), ("access", "admin")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let (status, html, _) =
        post(&api, &grant, &olivia, &csrf, &[("target", &web), ("access", "custom")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    // The form names the workspace; a name that is not one is "not found", as one mia may not
    // see would be, and nothing is granted.
    let (status, html, _) =
        post(&api, &grant, &olivia, &csrf, &[("workspace", "nope"), ("access", "write")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(
        html.contains("workspace &#34;nope&#34; not found")
            || html.contains("workspace &quot;nope&quot; not found"),
        "{html}"
    );
    let (status, _, _) =
        post(&api, &grant, &mia, &csrf_mia, &[("workspace", "web"), ("access", "admin")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "mia may see web but not manage its access");
    let (status, _, location) =
        post(&api, &grant, &olivia, &csrf, &[("workspace", " web "), ("access", "write")]).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(ops_page)));
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(html.contains("web</a></td><td>write</td>"), "{html}");
    let access =
        api.ok(Method::GET, &format!("/api/v2/team-workspaces?filter[team][id]={ops_id}"), None).await;
    assert_eq!(access["data"][0]["attributes"]["access"], "write", "{access}");
    let access_id = id_of(&json!({"data": access["data"][0]}));
    let change = format!("{ops_page}/workspaces/{access_id}");
    let (api_status, _) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/team-workspaces/{access_id}"),
            Some(&mia.token),
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"admin"}}})),
        )
        .await;
    let (status, _, _) =
        post(&api, &change, &mia, &csrf_mia, &[("action", "update"), ("access", "admin")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let (status, _, _) =
        post(&api, &change, &olivia, &csrf, &[("action", "update"), ("access", "admin")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(html.contains("web</a></td><td>admin</td>"), "{html}");
    // The row under another team's path is not found there (the page names the team it acts on).
    let elsewhere = format!("/app/acme/settings/teams/owners/workspaces/{access_id}");
    let (status, _, _) = post(&api, &elsewhere, &olivia, &csrf, &[("action", "delete")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(html.contains("web</a></td><td>admin</td>"), "{html}");
    let (status, _, _) = post(&api, &change, &olivia, &csrf, &[("action", "delete")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let access =
        api.ok(Method::GET, &format!("/api/v2/team-workspaces?filter[team][id]={ops_id}"), None).await;
    assert!(access["data"].as_array().unwrap().is_empty(), "{access}");

    // An organization with more workspaces than the suggestions hold: the last one by name is
    // not suggested, and is granted by typing its name.
    let acme = api.store.organization("acme").await.unwrap();
    for name in (0..100).map(|i| format!("w-{i:03}")).chain(["zz-last".to_owned()]) {
        let settings = tern_store::WorkspaceSettings { name: Some(name), ..Default::default() };
        api.store.create_workspace(&acme.id, &settings).await.unwrap();
    }
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert_eq!(html.matches("<option value=\"w-").count(), 100, "the first hundred by name: {html}");
    assert!(!html.contains("<option value=\"zz-last\">"), "{html}");
    let (status, _, _) =
        post(&api, &grant, &olivia, &csrf, &[("workspace", "zz-last"), ("access", "read")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(html.contains("zz-last</a></td><td>read</td>"), "{html}");

    // Project access, the same way, by name.
    let grant_project = format!("{ops_page}/projects");
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(
        html.contains("<datalist id=\"grant-pj-names\">") && html.contains("<option value=\"infra\">"),
        "{html}"
    );
    let (status, html, _) =
        post(&api, &grant_project, &olivia, &csrf, &[("project", "nope"), ("access", "maintain")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(
        html.contains("project &#34;nope&#34; not found")
            || html.contains("project &quot;nope&quot; not found"),
        "{html}"
    );
    let (status, _, _) =
        post(&api, &grant_project, &olivia, &csrf, &[("project", "infra"), ("access", "maintain")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = get(&api, ops_page, &olivia).await;
    assert!(html.contains("<td>infra</td><td>maintain</td>"), "{html}");
    let access = api.ok(Method::GET, &format!("/api/v2/team-projects?filter[team][id]={ops_id}"), None).await;
    assert_eq!(access["data"][0]["relationships"]["project"]["data"]["id"], infra.as_str(), "{access}");
    let project_access = id_of(&json!({"data": access["data"][0]}));
    let change = format!("{ops_page}/projects/{project_access}");
    let (status, _, _) =
        post(&api, &change, &olivia, &csrf, &[("action", "update"), ("access", "admin")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let access = api.ok(Method::GET, &format!("/api/v2/team-projects/{project_access}"), None).await;
    assert_eq!(access["data"]["attributes"]["access"], "admin", "{access}");
    let (status, _, _) = post(&api, &change, &olivia, &csrf, &[("action", "delete")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Renamed, with its permissions: mia's forged post gets the API's 403.
    let (api_status, _) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/teams/{ops_id}"),
            Some(&mia.token),
            Some(json!({"data":{"type":"teams","attributes":{"name":"x"}}})),
        )
        .await;
    let (status, _, _) = post(&api, ops_page, &mia, &csrf_mia, &[("name", "x")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let fields = [
        ("name", "platform"),
        ("permissions-shown", "1"),
        ("permission", "manage-workspaces"),
        ("permission", "manage-teams"),
    ];
    let (status, _, location) = post(&api, ops_page, &olivia, &csrf, &fields).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/app/acme/settings/teams/platform"))
    );
    let shown = api.ok(Method::GET, &format!("/api/v2/teams/{ops_id}"), None).await;
    assert_eq!(shown["data"]["attributes"]["name"], "platform");
    assert_eq!(shown["data"]["attributes"]["organization-access"]["manage-teams"], true, "{shown}");

    // The owners team: no rename or delete offered, and a forged delete gets the API's refusal.
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, html) = get(&api, "/app/acme/settings/teams/owners", &olivia).await;
    assert!(!html.contains("id=\"delete-team\"") && !html.contains("id=\"change-team\""), "{html}");
    let (api_status, _) =
        api.call(Method::DELETE, &format!("/api/v2/teams/{owners}"), Some(&olivia.token), None).await;
    let (status, _, _) = post(&api, "/app/acme/settings/teams/owners/delete", &olivia, &csrf, &[]).await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(status, api_status);

    // Deleted: mia cannot; the owner can.
    let platform_delete = "/app/acme/settings/teams/platform/delete";
    let (api_status, _) =
        api.call(Method::DELETE, &format!("/api/v2/teams/{ops_id}"), Some(&mia.token), None).await;
    let (status, _, _) = post(&api, platform_delete, &mia, &csrf_mia, &[]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let (status, _, location) = post(&api, platform_delete, &olivia, &csrf, &[]).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(teams)));
    let (status, _) = api.call(Method::GET, &format!("/api/v2/teams/{ops_id}"), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change in the trail by the API's names, once each.
    assert_eq!(
        actions_of(&api, "olivia").await,
        [
            "team.created",
            "team-access.created",
            "team-access.updated",
            "team-access.deleted",
            "team-access.created",
            "team-project-access.created",
            "team-project-access.updated",
            "team-project-access.deleted",
            "team.updated",
            "team.deleted",
        ]
    );
    assert!(actions_of(&api, "mia").await.is_empty(), "refusals change nothing");
}

async fn variable_sets_are_managed_and_keep_secrets(api: Api) {
    const SECRET: &str = "s3cr3t-Value-4f9c";
    const REPLACED: &str = "n3w-s3cr3t-77ab";
    let (_, olivia, mia, otto) = acme(&api).await;
    let web = id_of(&api.ok(Method::GET, "/api/v2/organizations/acme/workspaces/web", None).await);
    let infra = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/projects",
            Some(json!({"data":{"type":"projects","attributes":{"name":"infra"}}})),
        )
        .await,
    );
    // rita reads every workspace (and so the sets) but may not change them.
    let readers = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"readers","organization-access":{"read-workspaces":true}}}})),
        )
        .await,
    );
    let rita = person(&api, "rita", Some(&readers)).await;
    let sets = "/app/acme/settings/varsets";

    // Who sees the page: as `GET …/varsets`.
    for (who, name) in [(&olivia, "olivia"), (&rita, "rita"), (&mia, "mia"), (&otto, "otto")] {
        let (api_status, _) =
            api.call(Method::GET, "/api/v2/organizations/acme/varsets", Some(&who.token), None).await;
        let (status, html) = get(&api, sets, who).await;
        assert_eq!(status, api_status, "{name}: {html}");
    }
    let (_, html) = get(&api, sets, &olivia).await;
    assert!(html.contains("id=\"no-sets\"") && html.contains("id=\"create-set\""), "{html}");
    assert!(html.contains("aria-current=\"page\">Variable sets</a>"), "the tab: {html}");
    let csrf = csrf_of(&html);
    let (_, html) = get(&api, sets, &rita).await;
    assert!(!html.contains("id=\"create-set\""), "{html}");
    let csrf_rita = csrf_of(&html);

    // Created: rita's forged post gets the API's 403; a forged token, 403.
    let (api_status, _) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(&rita.token),
            Some(json!({"data":{"type":"varsets","attributes":{"name":"mine"}}})),
        )
        .await;
    let (status, _, _) = post(&api, sets, &rita, &csrf_rita, &[("name", "mine")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let (status, _, _) = post(&api, sets, &olivia, &csrf_rita, &[("name", "mine")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, location) =
        post(&api, sets, &olivia, &csrf, &[("name", "shared"), ("description", "<b>common</b>")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set_page = location.unwrap();
    let set_id = set_page.rsplit('/').next().unwrap().to_owned();
    assert!(set_id.starts_with("varset-"), "{set_page}");

    // Variables: a plain one and a sensitive one; the value never comes back.
    let vars = format!("{set_page}/variables");
    let (status, _, _) = post(
        &api,
        &vars,
        &olivia,
        &csrf,
        &[("key", "region"), ("value", "eu-west-1"), ("category", "terraform")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = post(
        &api,
        &vars,
        &olivia,
        &csrf,
        &[("key", "TOKEN"), ("value", SECRET), ("category", "env"), ("sensitive", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (api_status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/varsets/{set_id}/relationships/vars"),
            Some(&rita.token),
            Some(json!({"data":{"type":"vars","attributes":{"key":"x","value":"y","category":"env"}}})),
        )
        .await;
    let (status, _, _) =
        post(&api, &vars, &rita, &csrf_rita, &[("key", "x"), ("value", "y"), ("category", "env")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let listed = api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}/relationships/vars"), None).await;
    let var_id = |key: &str| {
        listed["data"].as_array().unwrap().iter().find(|v| v["attributes"]["key"] == key).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (token_var, region_var) = (var_id("TOKEN"), var_id("region"));
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "rita added nothing: {listed}");

    let (status, html) = get(&api, &set_page, &olivia).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("<code class=\"value\">eu-west-1</code>") && html.contains(">sensitive</span>"),
        "{html}"
    );
    assert!(!html.contains("<b>common"), "tenant text is escaped");
    for form in [
        "id=\"add-variable\"",
        "id=\"change-set\"",
        "id=\"delete-set\"",
        "id=\"apply-workspace\"",
        "id=\"apply-project\"",
    ] {
        assert!(html.contains(form), "{form} missing: {html}");
    }
    let (status, html) = get(&api, &set_page, &rita).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for form in [
        "id=\"add-variable\"",
        "id=\"change-set\"",
        "id=\"delete-set\"",
        "id=\"apply-workspace\"",
        "action=\"update\"",
    ] {
        assert!(!html.contains(form), "{form} offered to rita: {html}");
    }
    // Replacing the sensitive value: empty keeps it, a new one replaces it; neither is shown.
    let token_form = format!("{vars}/{token_var}");
    for value in ["", REPLACED] {
        let (status, _, _) =
            post(&api, &token_form, &olivia, &csrf, &[("action", "update"), ("value", value)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    let (api_status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/varsets/{set_id}/relationships/vars/{token_var}"),
            Some(&rita.token),
            None,
        )
        .await;
    let (status, _, _) = post(&api, &token_form, &rita, &csrf_rita, &[("action", "delete")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));

    // Where it applies: a workspace and a project, one removed again; the workspace's
    // Variables tab shows the set.
    let scope = format!("{set_page}/scope");
    let (api_status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/varsets/{set_id}/relationships/workspaces"),
            Some(&rita.token),
            Some(json!({"data":[{"type":"workspaces","id":web}]})),
        )
        .await;
    let (status, _, _) = post(
        &api,
        &scope,
        &rita,
        &csrf_rita,
        &[("action", "apply"), ("kind", "workspaces"), ("target", &web)],
    )
    .await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    // A workspace is named (the form suggests the first hundred); rita's named post is refused
    // before the name is looked at, and a name that is no workspace is "not found".
    let (_, html_of_set) = get(&api, &set_page, &olivia).await;
    assert!(html_of_set.contains("<datalist id=\"apply-ws-names\"><option value=\"web\">"), "{html_of_set}");
    let named = [("action", "apply"), ("kind", "workspaces"), ("workspace", "nope")];
    let (status, _, _) = post(&api, &scope, &rita, &csrf_rita, &named).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, html, _) = post(&api, &scope, &olivia, &csrf, &named).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    let (status, html, _) = post(
        &api,
        &scope,
        &olivia,
        &csrf,
        &[("action", "apply"), ("kind", "workspaces"), ("workspace", "web")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (status, html, _) =
        post(&api, &scope, &olivia, &csrf, &[("action", "apply"), ("kind", "projects"), ("project", "nope")])
            .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    for (action, kind, target) in [("apply", "projects", &infra), ("remove", "projects", &infra)] {
        let (status, html, _) =
            post(&api, &scope, &olivia, &csrf, &[("action", action), ("kind", kind), ("target", target)])
                .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{action} {kind}: {html}");
    }
    let shown = api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}"), None).await;
    assert_eq!(shown["data"]["relationships"]["workspaces"]["data"][0]["id"], web.as_str(), "{shown}");
    assert!(shown["data"]["relationships"]["projects"]["data"].as_array().unwrap().is_empty(), "{shown}");
    let (_, html) = get(&api, sets, &olivia).await;
    assert!(
        tbody(&html).contains("<span class=\"tag\">workspace web</span>")
            && tbody(&html).contains("<td>2</td>"),
        "{html}"
    );
    let (_, ws_vars) = get(&api, "/app/acme/workspaces/web/variables", &olivia).await;
    assert!(ws_vars.contains("shared <span class=\"muted\">— applied to this workspace</span>"), "{ws_vars}");

    // Renamed and made global; rita's forged change gets the API's 403.
    let (api_status, _) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/varsets/{set_id}"),
            Some(&rita.token),
            Some(json!({"data":{"type":"varsets","attributes":{"global":true}}})),
        )
        .await;
    let (status, _, _) = post(&api, &set_page, &rita, &csrf_rita, &[("name", "x"), ("global", "on")]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    let (status, _, _) = post(
        &api,
        &set_page,
        &olivia,
        &csrf,
        &[("name", "everywhere"), ("description", "all"), ("global", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let shown = api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}"), None).await;
    assert_eq!(
        (shown["data"]["attributes"]["name"].as_str(), shown["data"]["attributes"]["global"].as_bool()),
        (Some("everywhere"), Some(true))
    );
    let (_, html) = get(&api, sets, &olivia).await;
    assert!(tbody(&html).contains("global</span> every workspace"), "{html}");

    // A variable deleted, then the set; rita's forged delete first.
    let (status, _, _) =
        post(&api, &format!("{vars}/{region_var}"), &olivia, &csrf, &[("action", "delete")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (api_status, _) =
        api.call(Method::DELETE, &format!("/api/v2/varsets/{set_id}"), Some(&rita.token), None).await;
    let (status, _, _) = post(&api, &format!("{set_page}/delete"), &rita, &csrf_rita, &[]).await;
    assert_eq!((status, api_status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));

    // The secret is in no page, no trail, no answer, and not stored in the clear.
    let (_, set_html) = get(&api, &set_page, &olivia).await;
    let (_, trail) = get(&api, "/app/acme/settings/audit-trail", &olivia).await;
    let api_trail =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?page[size]=100", None).await.to_string();
    let api_vars =
        api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}?include=vars"), None).await.to_string();
    let dump = format!("{:?}", api.store.dump().await.unwrap());
    for secret in [SECRET, REPLACED] {
        for (what, text) in [
            ("the set page", &set_html),
            ("the workspace's variables page", &ws_vars),
            ("the trail page", &trail),
            ("the API trail", &api_trail),
            ("the API's set", &api_vars),
            ("the store", &dump),
        ] {
            assert!(!text.contains(secret), "a sensitive value reached {what}");
        }
    }
    let (status, _, location) = post(&api, &format!("{set_page}/delete"), &olivia, &csrf, &[]).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(sets)));
    let (status, _) =
        api.call(Method::GET, &format!("/api/v2/varsets/{set_id}"), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        actions_of(&api, "olivia").await,
        [
            "variable-set.created",
            "variable.created",
            "variable.created",
            "variable.updated",
            "variable.updated",
            "variable-set.applied",
            "variable-set.applied",
            "variable-set.removed",
            "variable-set.updated",
            "variable.deleted",
            "variable-set.deleted",
        ]
    );
    assert!(actions_of(&api, "rita").await.is_empty(), "refusals change nothing");
}

/// The workspaces page's project filter lists the first hundred projects; every row links to
/// its project's filter, and a filter by a project past the hundred still names it. Another
/// organization's project id names nothing.
async fn the_workspaces_page_filters_by_any_project(api: Api) {
    let (_, olivia, _, _) = acme(&api).await;
    let acme = api.store.organization("acme").await.unwrap();
    for i in 0..100 {
        api.store.create_project(&acme.id, &format!("p-{i:03}"), "").await.unwrap();
    }
    let last = api.store.create_project(&acme.id, "zz-last", "").await.unwrap();
    let settings = tern_store::WorkspaceSettings {
        name: Some("in-zz".into()),
        project_id: Some(last.id.clone()),
        ..Default::default()
    };
    api.store.create_workspace(&acme.id, &settings).await.unwrap();
    let other = api.store.create_organization("other", "").await.unwrap();
    let theirs = api.store.create_project(&other.id, "secret-project", "").await.unwrap();

    let (_, html) = get(&api, "/app/acme/workspaces?search=in-zz", &olivia).await;
    let link = format!("<a href=\"/app/acme/workspaces?project={}\"", last.id);
    assert!(html.contains(&link), "the row links to its project: {html}");
    assert!(!html.contains(">zz-last</option>"), "past the first hundred: {html}");
    let (status, html) = get(&api, &format!("/app/acme/workspaces?project={}", last.id), &olivia).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("<option value=\"{}\" selected>zz-last</option>", last.id)), "{html}");
    assert!(html.contains(">in-zz</a>") && html.contains("1 workspace<"), "{html}");
    let (_, html) = get(&api, &format!("/app/acme/workspaces?project={}", theirs.id), &olivia).await;
    assert!(!html.contains("secret-project") && html.contains("0 workspaces<"), "{html}");
}
