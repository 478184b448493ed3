//! The web UI's authorization matrix: every route of the browser's one table
//! (`tern_server::PAGES`) × every kind of caller — not signed in, signed in but in no team of
//! the organization, a member with no access, members whose teams hold read, plan, write and
//! admin on the workspace, an owner, a site administrator. What each must get is written here
//! from the permission model (`docs/permissions.md`), apart from the server's code: [`needed`]
//! says what each route needs (and must agree with the table), [`want`] what each caller then
//! gets. A page the caller may not see is "not found" (or the sign-in page, signed out); a form
//! without the right is refused and the store is unchanged; every form is refused without its
//! CSRF token, or with another session's; and the router answers no method the table lacks.

use std::collections::BTreeSet;
use std::time::Instant;

use tern_server::{Needs, PAGES, PageMethod, Permission as P, WorkspaceLevel as L};

use super::ui_org::person;
use super::*;

both!(every_web_route_decides_as_the_permission_model_says);

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No session.
    Nobody,
    /// Signed in, in no team of the organization.
    Stranger,
    /// A member (a team with no access to anything).
    Bystander,
    /// A member whose team holds this level on the workspace.
    Holder(L),
    /// A member of the owners team.
    Owner,
    /// A site administrator (in no team).
    SiteAdmin,
}

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Let in.
    Allowed,
    /// Sent to sign in.
    SignIn,
    /// Refused with this status.
    Refused(u16),
}

/// A workspace level's rank, lowest first (HCP Terraform's order, written here).
fn rank(l: L) -> u8 {
    match l {
        L::Read => 1,
        L::Plan => 2,
        L::Write => 3,
        L::Admin => 4,
    }
}

/// What each route needs, from `docs/permissions.md`: the act of the route (the form the matrix
/// posts, where a form can ask for more than one thing).
fn needed(method: &str, template: &str) -> Needs {
    let ws = "/app/{org}/workspaces/{ws}";
    match (method, template) {
        (
            "GET",
            "/app/sign-in"
            | "/app/sign-in/oidc"
            | "/oauth/callback"
            | "/app/assets/{name}"
            | "/app/{org}"
            | "/app/{org}/settings"
            | "/app/{org}/{ws}/runs/{run}",
        )
        | ("POST", "/app/sign-in/token" | "/oauth/token") => Needs::Public,
        // One's own account: one's sessions, ended (another person's is "not found").
        ("GET", "/app" | "/app/oauth/authorize" | "/app/account/sessions")
        | (
            "POST",
            "/app/sign-out"
            | "/app/oauth/authorize"
            | "/app/account/sessions/{id}/end"
            | "/app/account/sessions/end-others",
        ) => Needs::SignedIn,
        (_, p) if p.starts_with("/app/admin/") => Needs::SiteAdmin,
        (
            "GET",
            "/app/{org}/workspaces"
            | "/app/{org}/settings/teams"
            | "/app/{org}/settings/teams/{team}"
            | "/app/{org}/settings/agents",
        ) => Needs::Member,
        ("GET", "/app/{org}/settings/audit-trail" | "/app/{org}/settings/tokens") => {
            Needs::Organization(P::Owners)
        }
        ("POST", "/app/{org}/settings/tokens" | "/app/{org}/settings/tokens/{id}/revoke") => {
            Needs::Organization(P::ManageTheToken)
        }
        (
            "POST",
            "/app/{org}/settings/teams"
            | "/app/{org}/settings/teams/{team}"
            | "/app/{org}/settings/teams/{team}/delete",
        ) => Needs::Organization(P::ManageTeams),
        ("POST", "/app/{org}/settings/teams/{team}/members") => Needs::Organization(P::ManageMembership),
        // Access to a workspace is granted by whoever administers it.
        (
            "POST",
            "/app/{org}/settings/teams/{team}/{kind}" | "/app/{org}/settings/teams/{team}/{kind}/{id}",
        ) => Needs::Workspace(L::Admin),
        ("GET", p) if p.starts_with("/app/{org}/settings/varsets") => Needs::Organization(P::ReadWorkspaces),
        ("POST", p) if p.starts_with("/app/{org}/settings/varsets") => {
            Needs::Organization(P::ManageWorkspaces)
        }
        ("GET", p) if p.starts_with(ws) => Needs::Workspace(L::Read),
        ("POST", p) if p.strip_prefix(ws).is_some() => match &p[ws.len()..] {
            "/credentials/check" => Needs::Workspace(L::Read),
            "/variables" | "/variables/{var}" | "/settings/lock" | "/runs/{run}/actions" => {
                Needs::Workspace(L::Write)
            }
            "/settings" | "/settings/delete" => Needs::Workspace(L::Admin),
            other => panic!("POST {ws}{other}: a new form; say here what it needs"),
        },
        _ => panic!("{method} {template}: a new route; say here what it needs"),
    }
}

/// What `who` gets on a route that needs `needs`. The matrix's callers hold no organization
/// permission but the owners'.
fn want(needs: Needs, who: Who) -> Want {
    match (needs, who) {
        (Needs::Public, _) => Want::Allowed,
        (_, Who::Nobody) => Want::SignIn,
        (_, Who::SiteAdmin) | (Needs::SignedIn, _) => Want::Allowed,
        // Administration is no secret: refused, not hidden (as the API's admin endpoints).
        (Needs::SiteAdmin, _) => Want::Refused(403),
        // The organization does not exist for someone in none of its teams.
        (_, Who::Stranger) => Want::Refused(404),
        (_, Who::Owner) | (Needs::Member, _) => Want::Allowed,
        // Members see the organization but hold none of its permissions.
        (Needs::Organization(_), _) => Want::Refused(403),
        // A workspace one has no access to does not exist for one.
        (Needs::Workspace(_), Who::Bystander) => Want::Refused(404),
        (Needs::Workspace(need), Who::Holder(l)) if rank(l) >= rank(need) => Want::Allowed,
        (Needs::Workspace(_), Who::Holder(_)) => Want::Refused(403),
    }
}

/// One caller of the matrix.
struct Caller {
    who: Who,
    name: &'static str,
    /// The session cookie's secret.
    session: Option<String>,
    /// The CSRF token of its pages' forms.
    csrf: String,
}

/// The resources the probes name.
struct Fixture {
    ws: String,
    run: String,
    sv: String,
    var: String,
    set: String,
    set_var: String,
    /// The access row of team `spare` to the workspace.
    spare_row: String,
    /// A token of team `loose`.
    team_token: String,
    /// The public id of a session of a user who is none of the callers.
    others_session: String,
    css: String,
}

/// How a route is tried: its concrete path, the form it posts, and what an allowed caller gets
/// where a call changes nothing (`None`: it changes things by nature; only denials are tried).
struct Probe {
    path: String,
    form: Vec<(&'static str, String)>,
    allowed: Option<u16>,
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn probe(f: &Fixture, method: &str, template: &str) -> Probe {
    let path = template
        .replace("{org}", "acme")
        .replace("{ws}", "app")
        .replace("{run}", &f.run)
        .replace("{sv}", &f.sv)
        .replace("{name}", &f.css);
    let fields = |list: &[(&'static str, &str)]| list.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let (path, form, allowed) = match (method, template) {
        ("GET", "/app/{org}" | "/app/{org}/settings" | "/app/{org}/{ws}/runs/{run}") => {
            (path, vec![], Some(303))
        }
        // This server has no identity provider.
        ("GET", "/app/sign-in/oidc" | "/oauth/callback") => (path, vec![], Some(404)),
        ("GET", "/app/oauth/authorize") => (
            format!(
                "{path}?client_id=terraform-cli&redirect_uri=http%3A%2F%2Flocalhost%3A10000%2Flogin&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256&response_type=code"
            ),
            vec![],
            Some(200),
        ),
        ("GET", "/app/{org}/settings/teams/{team}") => (path.replace("{team}", "loose"), vec![], Some(200)),
        ("GET", "/app/{org}/settings/varsets/{id}") => (path.replace("{id}", &f.set), vec![], Some(200)),
        ("GET", _) => (path, vec![], Some(200)),
        ("POST", "/app/sign-in/token") => {
            (path, fields(&[("token", "tern-user.nope"), ("return_to", "/app")]), Some(401))
        }
        ("POST", "/app/sign-out") => (path, vec![], None),
        // Someone else's session (a site administrator's own form ends only their own): "not
        // found", nothing ended.
        ("POST", "/app/account/sessions/{id}/end") => {
            (path.replace("{id}", &f.others_session), vec![], Some(404))
        }
        // Each caller has one session, this one: none other ends, nothing is recorded.
        ("POST", "/app/account/sessions/end-others") => (path, vec![], Some(303)),
        ("POST", "/app/oauth/authorize") => (
            path,
            fields(&[
                ("client_id", "terraform-cli"),
                ("redirect_uri", "http://localhost:10000/login"),
                ("state", "s"),
                ("code_challenge", CHALLENGE),
                ("decision", "deny"),
            ]),
            Some(303),
        ),
        ("POST", "/oauth/token") => (
            path,
            fields(&[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("code_verifier", "v"),
                ("client_id", "terraform-cli"),
                ("redirect_uri", "http://localhost:10000/login"),
            ]),
            Some(400),
        ),
        // This server signs with key files: refused after the caller is let in.
        ("POST", "/app/admin/keys/rotate") => (path, fields(&[("activate_in", "")]), Some(409)),
        ("POST", "/app/admin/keys/retire") => (path, fields(&[("kid", "k")]), Some(409)),
        ("POST", "/app/{org}/settings/tokens") => {
            (path, fields(&[("for", "organization"), ("description", "matrix"), ("expires_days", "")]), None)
        }
        ("POST", "/app/{org}/settings/tokens/{id}/revoke") => {
            (path.replace("{id}", &f.team_token), vec![], None)
        }
        ("POST", "/app/{org}/settings/teams") => (path, fields(&[("name", "matrix-team")]), None),
        ("POST", "/app/{org}/settings/teams/{team}") => {
            (path.replace("{team}", "loose"), fields(&[("name", "renamed")]), None)
        }
        ("POST", "/app/{org}/settings/teams/{team}/members") => {
            (path.replace("{team}", "loose"), fields(&[("action", "add"), ("username", "stranger")]), None)
        }
        ("POST", "/app/{org}/settings/teams/{team}/delete") => {
            (path.replace("{team}", "loose"), vec![], None)
        }
        ("POST", "/app/{org}/settings/teams/{team}/{kind}") => (
            path.replace("{team}", "loose").replace("{kind}", "workspaces"),
            fields(&[("target", &f.ws), ("access", "admin")]),
            None,
        ),
        ("POST", "/app/{org}/settings/teams/{team}/{kind}/{id}") => (
            path.replace("{team}", "spare").replace("{kind}", "workspaces").replace("{id}", &f.spare_row),
            fields(&[("action", "update"), ("access", "admin")]),
            None,
        ),
        ("POST", "/app/{org}/settings/varsets") => (path, fields(&[("name", "matrix-set")]), None),
        ("POST", "/app/{org}/settings/varsets/{id}") => {
            (path.replace("{id}", &f.set), fields(&[("name", "renamed"), ("description", "")]), None)
        }
        ("POST", "/app/{org}/settings/varsets/{id}/delete") => (path.replace("{id}", &f.set), vec![], None),
        ("POST", "/app/{org}/settings/varsets/{id}/variables") => {
            (path.replace("{id}", &f.set), fields(&[("key", "x"), ("value", "y"), ("category", "env")]), None)
        }
        ("POST", "/app/{org}/settings/varsets/{id}/variables/{var}") => (
            path.replace("{id}", &f.set).replace("{var}", &f.set_var),
            fields(&[("action", "update"), ("value", "z")]),
            None,
        ),
        ("POST", "/app/{org}/settings/varsets/{id}/scope") => (
            path.replace("{id}", &f.set),
            fields(&[("action", "apply"), ("kind", "workspaces"), ("target", &f.ws)]),
            None,
        ),
        ("POST", "/app/{org}/workspaces/{ws}/variables") => {
            (path, fields(&[("key", "x"), ("value", "y"), ("category", "env")]), None)
        }
        ("POST", "/app/{org}/workspaces/{ws}/variables/{var}") => {
            (path.replace("{var}", &f.var), fields(&[("action", "update"), ("value", "z")]), None)
        }
        ("POST", "/app/{org}/workspaces/{ws}/settings") => (
            path,
            fields(&[
                ("description", "changed"),
                ("execution_mode", "remote"),
                ("terraform_version", "1.11.4"),
                ("working_directory", ""),
                ("plan_timeout", "3600"),
                ("apply_timeout", "3600"),
            ]),
            None,
        ),
        ("POST", "/app/{org}/workspaces/{ws}/settings/lock") => (path, fields(&[("action", "lock")]), None),
        ("POST", "/app/{org}/workspaces/{ws}/settings/delete") => (path, fields(&[("confirm", "app")]), None),
        ("POST", "/app/{org}/workspaces/{ws}/credentials/check") => {
            (path, fields(&[("cloud", "aws"), ("phase", "plan"), ("document", "{}")]), None)
        }
        // The run is still pending: there is no plan to confirm.
        ("POST", "/app/{org}/workspaces/{ws}/runs/{run}/actions") => {
            (path, fields(&[("action", "apply"), ("comment", "")]), Some(409))
        }
        _ => panic!("{method} {template}: a new route; say here how the matrix tries it"),
    };
    Probe { path, form, allowed }
}

/// One request: `(status, body, location)`. An event stream's body is not read (it lasts).
async fn send(
    (api, http): (&Api, &reqwest::Client),
    method: &str,
    path: &str,
    cookie: Option<String>,
    form: Option<Vec<(&str, String)>>,
) -> (u16, String, String) {
    let mut r = http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", api.base));
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    if let Some(f) = form {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in f {
            body.append_pair(k, &v);
        }
        r = r.header("content-type", "application/x-www-form-urlencoded").body(body.finish());
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let location =
        response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
    let stream = response
        .headers()
        .get("content-type")
        .is_some_and(|c| c.to_str().unwrap_or("").starts_with("text/event-stream"));
    let body = if stream { "(event stream)".to_owned() } else { response.text().await.unwrap() };
    (status, body, location)
}

async fn id_of(api: &Api, path: &str, body: Value) -> String {
    api.ok(Method::POST, path, Some(body)).await["data"]["id"].as_str().unwrap().to_owned()
}

async fn team(api: &Api, name: &str) -> String {
    id_of(
        api,
        "/api/v2/organizations/acme/teams",
        json!({"data":{"type":"teams","attributes":{"name":name}}}),
    )
    .await
}

async fn grant(api: &Api, team: &str, ws: &str, access: &str) -> String {
    id_of(
        api,
        "/api/v2/team-workspaces",
        json!({"data":{"type":"team-workspaces","attributes":{"access":access},"relationships":{
            "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
    )
    .await
}

/// The organization `acme` with workspace `app` (a pending run, a variable, a state version), a
/// variable set, the teams the callers are in, and teams `spare` (read on `app`) and `loose`
/// (nothing, a token) for the forms to name.
async fn fixture(web: (&Api, &reqwest::Client)) -> (Fixture, Vec<Caller>) {
    let api = web.0;
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@acme.test"}}})),
    )
    .await;
    let ws = id_of(
        api,
        "/api/v2/organizations/acme/workspaces",
        json!({"data":{"type":"workspaces","attributes":{"name":"app"}}}),
    )
    .await;
    let cv = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{ws}/configuration-versions"),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}})),
        )
        .await;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload).body(tarball(&[("main.tf", "# x\n")])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let run = id_of(
        api,
        "/api/v2/runs",
        json!({"data":{"type":"runs","attributes":{},"relationships":{
            "workspace":{"data":{"type":"workspaces","id":ws}},
            "configuration-version":{"data":{"type":"configuration-versions","id":cv["data"]["id"]}}}}}),
    )
    .await;
    let var = id_of(
        api,
        &format!("/api/v2/workspaces/{ws}/vars"),
        json!({"data":{"type":"vars","attributes":{"key":"k","value":"v","category":"env"}}}),
    )
    .await;
    let set = id_of(
        api,
        "/api/v2/organizations/acme/varsets",
        json!({"data":{"type":"varsets","attributes":{"name":"shared"}}}),
    )
    .await;
    let set_var = id_of(
        api,
        &format!("/api/v2/varsets/{set}/relationships/vars"),
        json!({"data":{"type":"vars","attributes":{"key":"r","value":"eu","category":"env"}}}),
    )
    .await;
    let state = br#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"l-1","outputs":{"o":{"value":"v","type":"string"}},"resources":[]}"#;
    let sv = api.store.create_state_version(&ws, None, state).await.unwrap().id;
    let spare = team(api, "spare").await;
    let spare_row = grant(api, &spare, &ws, "read").await;
    let loose = team(api, "loose").await;
    let team_token = api
        .ok(Method::POST, &format!("/api/v2/teams/{loose}/authentication-tokens"), None)
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut callers = vec![Caller { who: Who::Nobody, name: "nobody", session: None, csrf: String::new() }];
    for (who, name) in [
        (Who::Stranger, "stranger"),
        (Who::Bystander, "bystander"),
        (Who::Holder(L::Read), "reader"),
        (Who::Holder(L::Plan), "planner"),
        (Who::Holder(L::Write), "writer"),
        (Who::Holder(L::Admin), "wsadmin"),
        (Who::Owner, "owner"),
    ] {
        let in_team = match who {
            Who::Stranger => None,
            Who::Owner => Some(owners.clone()),
            _ => Some(team(api, &format!("t-{name}")).await),
        };
        if let (Who::Holder(level), Some(t)) = (who, &in_team) {
            grant(api, t, &ws, &format!("{level:?}").to_lowercase()).await;
        }
        let p = person(api, name, in_team.as_deref()).await;
        callers.push(Caller { who, name, session: Some(p.session), csrf: String::new() });
    }
    let ghost = api.store.create_user("ghost", "", false).await.unwrap();
    let (others_session, _) =
        api.store.create_session(&ghost.id, api.store.unix_now() + 3600, None).await.unwrap();
    let root = api.store.create_user("root", "root@example.com", true).await.unwrap();
    let (_, secret) = api.store.create_session(&root.id, api.store.unix_now() + 3600, None).await.unwrap();
    callers.push(Caller {
        who: Who::SiteAdmin,
        name: "root",
        session: Some(secret.expose_secret().to_owned()),
        csrf: String::new(),
    });
    for c in callers.iter_mut().filter(|c| c.session.is_some()) {
        let (status, html, _) = send(web, "GET", "/app", cookie(c), None).await;
        assert_eq!(status, 200, "{}: {html}", c.name);
        c.csrf = csrf_of(&html);
    }
    let (_, html, _) = send(web, "GET", "/app/sign-in", None, None).await;
    let at = html.find("/app/assets/tern-").unwrap() + "/app/assets/".len();
    let css = html[at..].split('"').next().unwrap().to_owned();
    assert!(css.ends_with(".css"), "{css}");
    (
        Fixture {
            ws,
            run,
            sv,
            var,
            set,
            set_var,
            spare_row,
            team_token,
            others_session: others_session.id,
            css,
        },
        callers,
    )
}

/// Every act in the audit trail, counted: the application layer records each change it makes,
/// so a refused form must leave this as it was (a cheap look after each one; the whole store is
/// compared row by row around them all).
async fn acts(api: &Api) -> u64 {
    let one = tern_store::Page { number: 1, size: 1 };
    api.store.audit_events(None, &tern_store::AuditFilter::default(), one).await.unwrap().total
}

fn cookie(c: &Caller) -> Option<String> {
    c.session.as_ref().map(|s| format!("tern_session={s}"))
}

/// A pre-session cookie and its CSRF token, as the sign-in page hands them out.
async fn pre_session((api, http): (&Api, &reqwest::Client)) -> (String, String) {
    let r = http.get(format!("{}/app/sign-in", api.base)).send().await.unwrap();
    let pre = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("tern_presession="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    (format!("tern_presession={pre}"), csrf_of(&r.text().await.unwrap()))
}

async fn every_web_route_decides_as_the_permission_model_says(api: Api) {
    let started = Instant::now();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let web = (&api, &http);
    let (f, callers) = fixture(web).await;
    let ready = started.elapsed();
    let routes: Vec<_> = PAGES.iter().collect();
    let mut failures = Vec::new();
    let (mut denied, mut allowed, mut forged) = (0, 0, 0);

    // The table says what the model says.
    for page in &routes {
        let model = needed(page.method.as_str(), page.path);
        if page.needs != model {
            failures.push(format!(
                "{} {}: the table says {:?}, the model {model:?}",
                page.method.as_str(),
                page.path,
                page.needs
            ));
        }
    }

    // Pages: refused where the model refuses, and shown (one harmless look) where it allows.
    for page in routes.iter().filter(|p| p.method == PageMethod::Get) {
        let method = page.method.as_str();
        let needs = needed(method, page.path);
        let p = probe(&f, method, page.path);
        for c in &callers {
            let (status, body, location) = send(web, method, &p.path, cookie(c), None).await;
            let ok = match want(needs, c.who) {
                Want::Allowed => {
                    allowed += 1;
                    // The sign-in page sends a signed-in person on.
                    let expected = match (page.path, c.who) {
                        ("/app/sign-in", Who::Nobody) => Some(200),
                        ("/app/sign-in", _) => Some(303),
                        _ => p.allowed,
                    };
                    Some(status) == expected
                }
                Want::SignIn => {
                    denied += 1;
                    status == 303 && location.starts_with("/app/sign-in")
                }
                Want::Refused(want) => {
                    denied += 1;
                    status == want && (want != 403 || body.contains("needs"))
                }
            };
            if !ok {
                failures.push(format!(
                    "GET {} as {} ({:?}, {needs:?}): {status} {location} {}",
                    p.path,
                    c.name,
                    want(needs, c.who),
                    &body[..body.len().min(300)]
                ));
            }
        }
    }

    // Forms: every refusal leaves the store as it was, and so does every form without its
    // CSRF token or with another session's (sent by the site administrator, who may do
    // anything else).
    let other_csrf = callers.iter().find(|c| c.who == Who::Bystander).unwrap().csrf.clone();
    let root = callers.iter().find(|c| c.who == Who::SiteAdmin).unwrap();
    let before = api.store.dump().await.unwrap();
    let mut acted = acts(&api).await;
    for page in routes.iter().filter(|p| p.method == PageMethod::Post) {
        let method = page.method.as_str();
        let needs = needed(method, page.path);
        let p = probe(&f, method, page.path);
        for c in &callers {
            let expected = want(needs, c.who);
            if expected == Want::Allowed {
                continue;
            }
            let mut form = p.form.clone();
            form.push(("csrf", c.csrf.clone()));
            let (status, body, location) = send(web, method, &p.path, cookie(c), Some(form)).await;
            denied += 1;
            if acts(&api).await != acted {
                failures.push(format!("POST {} as {}: refused, yet an act was recorded", p.path, c.name));
                acted = acts(&api).await;
            }
            let ok = match expected {
                Want::SignIn => status == 303 && location.starts_with("/app/sign-in"),
                Want::Refused(want) => status == want && (want != 403 || body.contains("needs")),
                Want::Allowed => unreachable!(),
            };
            if !ok {
                failures.push(format!(
                    "POST {} as {} ({expected:?}, {needs:?}): {status} {location} {}",
                    p.path,
                    c.name,
                    &body[..body.len().min(300)]
                ));
            }
        }
        if page.csrf {
            let (cookie, good) = if needs == Needs::Public {
                pre_session(web).await
            } else {
                (cookie(root).unwrap(), root.csrf.clone())
            };
            let (forged_token, other) = if needs == Needs::Public {
                (pre_session(web).await.1, "forged".to_owned())
            } else {
                (other_csrf.clone(), "forged".to_owned())
            };
            assert_ne!(good, forged_token);
            for csrf in [None, Some(other), Some(forged_token)] {
                let mut form = p.form.clone();
                if let Some(t) = &csrf {
                    form.push(("csrf", t.clone()));
                }
                let (status, body, _) = send(web, method, &p.path, Some(cookie.clone()), Some(form)).await;
                forged += 1;
                if acts(&api).await != acted {
                    failures.push(format!(
                        "POST {} with CSRF token {csrf:?}: refused, yet an act was recorded",
                        p.path
                    ));
                    acted = acts(&api).await;
                }
                // Refused by the handler (403), or by axum where the form's CSRF field is required.
                if !(status == 403 || (csrf.is_none() && status == 422)) {
                    failures.push(format!(
                        "POST {} with CSRF token {csrf:?}: {status}, want it refused: {}",
                        p.path,
                        &body[..body.len().min(300)]
                    ));
                }
            }
        }
    }

    // Byte for byte: every row of every table.
    let after = api.store.dump().await.unwrap();
    if after != before {
        let changed: Vec<String> = after
            .iter()
            .zip(&before)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| {
                let gone: Vec<_> = b.1.iter().filter(|r| !a.1.contains(r)).collect();
                let new: Vec<_> = a.1.iter().filter(|r| !b.1.contains(r)).collect();
                format!("{}: -{gone:?} +{new:?}", a.0)
            })
            .collect();
        failures.push(format!("refused forms changed the store: {changed:?}"));
    }
    let before = after;

    // Forms that change nothing, as allowed callers send them.
    for page in routes.iter().filter(|p| p.method == PageMethod::Post) {
        let method = page.method.as_str();
        let needs = needed(method, page.path);
        let p = probe(&f, method, page.path);
        let Some(expected) = p.allowed else { continue };
        for c in callers.iter().filter(|c| want(needs, c.who) == Want::Allowed) {
            let mut form = p.form.clone();
            let cookie = if needs == Needs::Public {
                // Public forms are tried signed out; the sign-in form with its pre-session.
                if c.who != Who::Nobody {
                    continue;
                }
                if page.csrf {
                    let (cookie, csrf) = pre_session(web).await;
                    form.push(("csrf", csrf));
                    Some(cookie)
                } else {
                    None
                }
            } else {
                form.push(("csrf", c.csrf.clone()));
                cookie(c)
            };
            let (status, body, _) = send(web, method, &p.path, cookie, Some(form)).await;
            allowed += 1;
            if status != expected {
                failures.push(format!(
                    "POST {} as {} (allowed): {status}, want {expected}: {}",
                    p.path,
                    c.name,
                    &body[..body.len().min(300)]
                ));
            }
        }
    }
    let after = api.store.dump().await.unwrap();
    if after != before {
        failures.push("the allowed forms that change nothing changed the store".to_owned());
    }

    // The router answers no method the table does not list for a path.
    let mut methods_tried = 0;
    let listed: BTreeSet<(&str, &str)> = routes.iter().map(|p| (p.method.as_str(), p.path)).collect();
    for page in &routes {
        for other in ["GET", "POST"] {
            if listed.contains(&(other, page.path)) {
                continue;
            }
            let p = probe(&f, page.method.as_str(), page.path);
            let path = p.path.split('?').next().unwrap().to_owned();
            let root_cookie = cookie(root);
            let form = (other == "POST").then(|| vec![("csrf", root.csrf.clone())]);
            let (status, _, _) = send(web, other, &path, root_cookie, form).await;
            methods_tried += 1;
            if status != 405 {
                failures.push(format!(
                    "{other} {path}: {status}, want 405 (the table lists only {})",
                    page.method.as_str()
                ));
            }
        }
    }
    assert_eq!(api.store.dump().await.unwrap(), after, "nothing changed");

    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(listed.len(), routes.len(), "every route of the table was tried");
    assert!(
        routes.len() >= 50 && denied > 200 && allowed > 150,
        "{} routes, {denied} denied, {allowed} allowed",
        routes.len()
    );
    println!(
        "web authorization matrix: {} routes × {} callers: {denied} refusals, {allowed} allowed calls, {forged} forged forms, {methods_tried} unlisted methods; fixture {:?}, checks {:?}",
        routes.len(),
        callers.len(),
        ready,
        started.elapsed() - ready
    );
}
