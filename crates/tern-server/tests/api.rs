//! The API over real HTTP on an ephemeral port, against SQLite and PostgreSQL stores: every
//! endpoint's authentication, the resources' shapes, validation errors, pagination, the agent
//! API's job scoping, and minting through it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tern_identity::{ClaimPolicy, IssuerDocuments, KeyRing, SigningKey};
use tern_protocol::agent as protocol;
use tern_protocol::jsonapi::Document;
use tern_protocol::resources as r;
use tern_server::api::{ApiLimits, ApiState, ENDPOINTS, Signer};
use tern_server::{CachePolicy, IssuerState, ServeOptions, app_with, serve};
use tern_store::{EncryptionKey, Store, TokenKind};
use tern_testkit::db::TestDatabase;
use tern_types::{IssuerUrl, SystemClock, Ttl};
use tokio::sync::Notify;

struct Api {
    base: String,
    store: Store,
    admin: String,
    http: reqwest::Client,
    _db: TestDatabase,
}

/// How a test server differs from [`start`]'s.
#[derive(Default)]
struct Setup {
    /// The issuer its tokens name (default: the server's own URL).
    issuer: Option<IssuerUrl>,
    /// Its request limits (default: small ones, so that the size tests are quick).
    limits: Option<ApiLimits>,
    /// `tern serve --managed-keys` with this rotation, instead of one fixed key.
    managed_keys: Option<tern_server::keys::RotationPolicy>,
}

async fn start(db: TestDatabase) -> Api {
    start_with(db, Setup::default()).await
}

/// The real server on an ephemeral port, over `db`, with an admin token.
async fn start_with(db: TestDatabase, setup: Setup) -> Api {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let issuer = setup.issuer.unwrap_or_else(|| IssuerUrl::parse(&base).unwrap());
    let store =
        Store::open(&db.url, &EncryptionKey::generate().unwrap(), Arc::new(SystemClock)).await.unwrap();
    let (_, admin) = store.create_token(TokenKind::Admin, None, None, "test", None).await.unwrap();
    let (signer, keys, documents) = match setup.managed_keys {
        Some(rotation) => {
            let keys = tern_server::keys::ManagedKeys::start(
                store.clone(),
                issuer,
                ClaimPolicy::default(),
                CachePolicy::default(),
                rotation,
                Ttl::default(),
                store.unix_now(),
            )
            .await
            .unwrap();
            (keys.signer(), Some(keys.clone()), keys.documents())
        }
        None => {
            let key = SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap();
            let ring = KeyRing::new(key, Vec::new()).unwrap();
            let docs = IssuerDocuments::build(&issuer, &ring, &ClaimPolicy::default());
            let signer = Signer {
                ring: arc_swap::ArcSwap::from_pointee(ring),
                issuer,
                policy: ClaimPolicy::default(),
                max_ttl: Ttl::default(),
            };
            (Arc::new(signer), None, Arc::new(IssuerState::new(&docs, CachePolicy::default())))
        }
    };
    let api = ApiState {
        store: store.clone(),
        signer,
        clock: Arc::new(SystemClock),
        public_url: base.clone(),
        limits: setup.limits.unwrap_or(ApiLimits {
            max_upload_bytes: 256 * 1024,
            archive: tern_archive::Limits { max_unpacked_bytes: 8 * 1024 * 1024, max_entries: 1000 },
            ..ApiLimits::default()
        }),
        job_lease: Duration::from_secs(60),
        jobs_queued: Arc::new(Notify::new()),
        keys,
        audit: tern_server::audit::Auditor::start(store.clone()),
        job_scopes: Default::default(),
        signin: Arc::new(tern_server::web::SignIn::default()),
    };
    let router = app_with(documents, "", tern_server::api::router(api));
    tokio::spawn(async move {
        serve(listener, None, router, ServeOptions::default(), std::future::pending()).await.unwrap();
    });
    Api { base, store, admin: admin.expose_secret().to_owned(), http: reqwest::Client::new(), _db: db }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.header("content-type", "application/vnd.api+json").body(b.to_string());
        }
        let response = r.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, Some(&self.admin), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }
}

fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    tern_archive::pack(dir.path()).unwrap()
}

macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name(super::start(super::TestDatabase::sqlite()).await).await; }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name(super::start(super::TestDatabase::postgres()).await).await; }
        }
    )+};
}

both!(
    bad_input_leaves_the_store_unchanged,
    every_endpoint_refuses_every_credential_it_must,
    every_endpoint_needs_a_valid_token,
    resources_have_tfe_shapes_and_validation,
    runs_state_and_the_agent_api,
    every_other_endpoint_has_a_happy_path,
    agent_pools_run_their_workspaces_and_nothing_else,
    what_the_sdks_call_on_organizations_projects_and_sets,
    tokens_are_listed_expire_and_are_revoked,
    the_audit_trail_records_who_did_what_and_every_minted_token,
    a_remembered_job_scope_never_outlives_the_job_or_its_names,
    every_endpoint_decides_by_the_callers_teams,
    teams_members_tokens_and_access_through_the_tfe_api,
    the_ways_into_more_power_that_a_review_found_are_closed,
    the_web_ui_shows_runs_and_decides_as_the_api_does,
    an_administrator_signs_a_user_out_of_every_browser,
    a_person_lists_and_ends_their_own_browser_sessions,
    an_administrator_lists_and_ends_a_users_browser_sessions
);
/// The audit record of a test's own act, for the store's functions that take one.
fn by_test(
    action: &'static str,
) -> impl FnOnce(&tern_store::Token) -> tern_store::AuditInput + std::marker::Send {
    move |t| tern_store::AuditInput {
        organization_id: None,
        actor: "test".into(),
        actor_kind: "system".into(),
        action: action.into(),
        workspace_id: None,
        run_id: None,
        details: json!({ "id": t.id }),
    }
}

#[path = "api/ui_state.rs"]
mod ui_state;

#[path = "api/ui_account.rs"]
mod ui_account;
#[path = "api/ui_admin.rs"]
mod ui_admin;
#[path = "api/ui_doctor.rs"]
mod ui_doctor;
#[path = "api/ui_manage.rs"]
mod ui_manage;
#[path = "api/ui_matrix.rs"]
mod ui_matrix;
#[path = "api/ui_org.rs"]
mod ui_org;
#[path = "api/ui_settings.rs"]
mod ui_settings;
#[path = "api/ui_trust.rs"]
mod ui_trust;

/// An attacker's review of the permission model found these ways to more than a grant gives;
/// each is refused, and nothing changes.
async fn the_ways_into_more_power_that_a_review_found_are_closed(api: Api) {
    let id_of = |v: &Value| v["data"]["id"].as_str().unwrap().to_owned();
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})),
    )
    .await;
    let ws = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app","auto-apply":true}}})),
        )
        .await,
    );
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"][0]["id"].as_str().unwrap().to_owned();
    // A user per team: one that reads everything, one that manages teams and membership, one
    // that plans the workspace.
    let mut tokens = Vec::new();
    for (name, access) in [
        ("readers", json!({"read-workspaces": true})),
        ("people", json!({"manage-teams": true, "manage-membership": true})),
        ("planners", json!({})),
    ] {
        let team = id_of(
            &api.ok(
                Method::POST,
                "/api/v2/organizations/acme/teams",
                Some(
                    json!({"data":{"type":"teams","attributes":{"name":name,"organization-access":access}}}),
                ),
            )
            .await,
        );
        let user = id_of(
            &api.ok(
                Method::POST,
                "/api/v2/admin/users",
                Some(json!({"data":{"type":"users","attributes":{"username":format!("{name}-1")}}})),
            )
            .await,
        );
        api.ok(
            Method::POST,
            &format!("/api/v2/teams/{team}/relationships/users"),
            Some(json!({"data":[{"type":"users","id":format!("{name}-1")}]})),
        )
        .await;
        tokens.push(
            api.ok(Method::POST, &format!("/api/v2/users/{user}/authentication-tokens"), None).await["data"]
                ["attributes"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        if name == "planners" {
            api.ok(Method::POST, "/api/v2/team-workspaces", Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"plan"},"relationships":{
                "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":ws}}}}}))).await;
        }
    }
    let (reader, manager, planner) = (&tokens[0], &tokens[1], &tokens[2]);
    let org_token = api.ok(Method::POST, "/api/v2/organizations/acme/authentication-token", None).await["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let set = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"shared","global":true}}})),
        )
        .await,
    );
    let var = id_of(&api.ok(Method::POST, &format!("/api/v2/varsets/{set}/relationships/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":"TF_CLI_ARGS","value":"-no-color","category":"env"}}}))).await);
    // The owners team's own token: revoking it is owners' business, not team managers'.
    let owners_token =
        id_of(&api.ok(Method::POST, &format!("/api/v2/teams/{owners}/authentication-tokens"), None).await);
    // Each token used once first: its last-use stamp is then not written again for 15 s.
    for token in [reader, manager, planner, &org_token] {
        assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(token), None).await.0, StatusCode::OK);
    }
    let before = api.store.dump().await.unwrap();

    let refused = [
        // Reading the organization's sets is not writing them.
        (
            Method::PATCH,
            format!("/api/v2/varsets/{set}/relationships/vars/{var}"),
            reader,
            Some(json!({"data":{"type":"vars","attributes":{"value":"-chdir=/"}}})),
        ),
        (Method::DELETE, format!("/api/v2/varsets/{set}/relationships/vars/{var}"), reader, None),
        // Managing teams and membership is no way into owners, nor is an organization token.
        (
            Method::POST,
            format!("/api/v2/teams/{owners}/relationships/users"),
            manager,
            Some(json!({"data":[{"type":"users","id":"people-1"}]})),
        ),
        (Method::POST, format!("/api/v2/teams/{owners}/authentication-tokens"), manager, None),
        (Method::POST, format!("/api/v2/teams/{owners}/authentication-token"), manager, None),
        (
            Method::PATCH,
            format!("/api/v2/teams/{owners}"),
            manager,
            Some(json!({"data":{"type":"teams","attributes":{"sso-team-id":"everyone"}}})),
        ),
        (Method::POST, format!("/api/v2/teams/{owners}/authentication-tokens"), &org_token, None),
        (Method::DELETE, format!("/api/v2/authentication-tokens/{owners_token}"), manager, None),
        (
            Method::POST,
            format!("/api/v2/teams/{owners}/relationships/users"),
            &org_token,
            Some(json!({"data":[{"type":"users","id":"people-1"}]})),
        ),
    ];
    for (method, path, token, body) in refused {
        let (status, e) = api.call(method.clone(), &path, Some(token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {e}");
    }
    assert_eq!(api.store.dump().await.unwrap(), before, "nothing changed");

    // A planner's upload to an auto-apply workspace would queue a run that applies: refused
    // before the upload is taken, whether with a bearer token or through the signed URL.
    let cv = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws}/configuration-versions"),
            Some(planner),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":true}}})),
        )
        .await
        .1;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload).body(tarball(&[("main.tf", "# x\n")])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = api
        .http
        .put(format!("{}/api/v2/configuration-versions/{}/upload", api.base, id_of(&cv)))
        .bearer_auth(planner)
        .body(tarball(&[("main.tf", "# x\n")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let runs = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/runs"), None).await;
    assert!(runs["data"].as_array().unwrap().is_empty(), "{runs}");
    // Without auto-queue, the planner's signed URL works (the cloud block's upload with a user
    // token), and a reader is handed no upload URL at all.
    let cv = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws}/configuration-versions"),
            Some(planner),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}})),
        )
        .await
        .1;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload).body(tarball(&[("main.tf", "# x\n")])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed = api
        .call(Method::GET, &format!("/api/v2/workspaces/{ws}/configuration-versions"), Some(reader), None)
        .await
        .1;
    assert!(listed["data"][0]["attributes"]["upload-url"].is_null(), "{listed}");
    // A speculative configuration's run only plans: the planner's upload is taken, and the run
    // it queues is plan-only, on this auto-apply workspace too.
    let cv = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws}/configuration-versions"),
            Some(planner),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":true,"speculative":true}}})),
        )
        .await
        .1;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload).body(tarball(&[("main.tf", "# x\n")])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let runs = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/runs"), None).await;
    assert_eq!(runs["data"][0]["attributes"]["plan-only"], true, "{runs}");
    // So does a run the planner starts on that configuration through POST /runs.
    let run = json!({"data":{"type":"runs","relationships":{
        "workspace":{"data":{"type":"workspaces","id":ws}},
        "configuration-version":{"data":{"type":"configuration-versions","id":id_of(&cv)}}}}});
    let (status, started) = api.call(Method::POST, "/api/v2/runs", Some(planner), Some(run)).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["data"]["attributes"]["plan-only"], true, "{started}");
    // An agent pool shows a member only the workspaces they may see.
    let pool = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/agent-pools",
            Some(json!({"data":{"type":"agent-pools","attributes":{"name":"rack"}}})),
        )
        .await,
    );
    let hidden = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"hidden","execution-mode":"agent"},
                "relationships":{"agent-pool":{"data":{"type":"agent-pools","id":pool}}}}})),
        )
        .await,
    );
    let shown_pool = api.ok(Method::GET, &format!("/api/v2/agent-pools/{pool}"), None).await;
    assert_eq!(
        shown_pool["data"]["relationships"]["workspaces"]["data"][0]["id"],
        hidden.as_str(),
        "{shown_pool}"
    );
    for path in [format!("/api/v2/agent-pools/{pool}"), "/api/v2/organizations/acme/agent-pools".to_owned()] {
        let (status, seen) = api.call(Method::GET, &path, Some(planner), None).await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert!(!seen.to_string().contains(&hidden), "{path}: {seen}");
    }
    // The workspace's permissions block is the caller's.
    let shown = api.call(Method::GET, &format!("/api/v2/workspaces/{ws}"), Some(planner), None).await.1;
    let p = &shown["data"]["attributes"]["permissions"];
    assert_eq!(
        (p["can-queue-run"].as_bool(), p["can-queue-apply"].as_bool(), p["can-update"].as_bool()),
        (Some(true), Some(false), Some(false)),
        "{shown}"
    );
}

/// Teams as HCP Terraform's API has them: the owners team every organization gets, teams with
/// organization permissions (changed key by key), members by username, access to workspaces and
/// projects (levels and custom), team and user tokens, the account behind a token — each change
/// in effect at the next request and in the audit trail.
async fn teams_members_tokens_and_access_through_the_tfe_api(api: Api) {
    let data = |v: &Value, key: &str| v["data"][key].as_str().unwrap().to_owned();
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})),
    )
    .await;
    let ws = data(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app"}}})),
        )
        .await,
        "id",
    );
    // The owners team: there from the start, everything, never renamed nor deleted.
    let teams = api.ok(Method::GET, "/api/v2/organizations/acme/teams", None).await;
    assert_eq!(teams["data"].as_array().unwrap().len(), 1, "{teams}");
    let owners = &teams["data"][0];
    assert_eq!(owners["attributes"]["name"], "owners");
    assert_eq!(owners["attributes"]["organization-access"]["manage-teams"], true, "{owners}");
    assert_eq!(owners["attributes"]["permissions"]["can-destroy"], false, "{owners}");
    let owners_id = owners["id"].as_str().unwrap().to_owned();
    let (status, e) =
        api.call(Method::DELETE, &format!("/api/v2/teams/{owners_id}"), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let rename = json!({"data":{"type":"teams","attributes":{"name":"bosses"}}});
    let (status, e) =
        api.call(Method::PATCH, &format!("/api/v2/teams/{owners_id}"), Some(&api.admin), Some(rename)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    // A team with one organization permission; others added key by key; HCP's rules hold.
    let devs = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"devs","organization-access":{"read-workspaces":true}}}})),
        )
        .await;
    assert_eq!(devs["data"]["type"], "teams");
    assert_eq!(devs["data"]["attributes"]["visibility"], "secret");
    let devs_id = data(&devs, "id");
    let patched = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/teams/{devs_id}"),
            Some(json!({"data":{"type":"teams","attributes":{"organization-access":{"manage-agent-pools":true}}}})),
        )
        .await;
    let access = &patched["data"]["attributes"]["organization-access"];
    assert_eq!(
        (access["read-workspaces"].as_bool(), access["manage-agent-pools"].as_bool()),
        (Some(true), Some(true)),
        "{patched}"
    );
    for (bad, says) in [
        (json!({"manage-projects": true}), "manage-projects needs manage-workspaces"),
        (json!({"manage-everything": true}), "not an organization permission"),
        (json!({"manage-teams": "yes"}), "true or false"),
    ] {
        let body = json!({"data":{"type":"teams","attributes":{"organization-access":bad}}});
        let (status, e) =
            api.call(Method::PATCH, &format!("/api/v2/teams/{devs_id}"), Some(&api.admin), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
    let (status, e) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(&api.admin),
            Some(json!({"data":{"type":"teams","attributes":{"name":"devs"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");

    // Members by username; TFE's 400s for the unknown and the already there.
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        users.push(data(
            &api.ok(Method::POST, "/api/v2/admin/users", Some(json!({"data":{"type":"users","attributes":{"username":name,"email":format!("{name}@acme.test")}}}))).await,
            "id",
        ));
    }
    let members = format!("/api/v2/teams/{devs_id}/relationships/users");
    let (status, _) = api
        .call(Method::POST, &members, Some(&api.admin), Some(json!({"data":[{"type":"users","id":"alice"}]})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (who, says) in [("alice", "already"), ("carol", "does not exist")] {
        let (status, e) = api
            .call(Method::POST, &members, Some(&api.admin), Some(json!({"data":[{"type":"users","id":who}]})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
    let bob_probe = api
        .ok(Method::POST, &format!("/api/v2/users/{}/authentication-tokens", users[1]), None)
        .await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let admins = api.ok(Method::GET, "/api/v2/admin/users?q=ALI", None).await;
    assert_eq!(admins["data"].as_array().unwrap().len(), 1, "{admins}");
    let (status, e) =
        api.call(Method::GET, "/api/v2/admin/users?filter[suspended]=true", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let shown = api.ok(Method::GET, &format!("/api/v2/teams/{devs_id}?include=users"), None).await;
    assert_eq!(shown["data"]["attributes"]["users-count"], 1, "{shown}");
    assert_eq!(shown["included"][0]["attributes"]["username"], "alice", "{shown}");

    // Alice's token: she reads every workspace (read-workspaces), plans none of them.
    let alice_token = api
        .ok(
            Method::POST,
            &format!("/api/v2/users/{}/authentication-tokens", users[0]),
            Some(json!({"data":{"type":"authentication-tokens","attributes":{"description":"laptop"}}})),
        )
        .await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(alice_token.starts_with("tern-user."));
    let me = api.call(Method::GET, "/api/v2/account/details", Some(&alice_token), None).await.1;
    assert_eq!(
        (me["data"]["type"].as_str(), me["data"]["attributes"]["username"].as_str()),
        (Some("users"), Some("alice")),
        "{me}"
    );
    let admin_account = api.ok(Method::GET, "/api/v2/account/details", None).await;
    assert_eq!(admin_account["data"]["attributes"]["is-service-account"], true, "{admin_account}");
    let (status, _) =
        api.call(Method::GET, &format!("/api/v2/workspaces/{ws}"), Some(&alice_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let lock = format!("/api/v2/workspaces/{ws}/actions/lock");
    let (status, e) = api.call(Method::POST, &lock, Some(&alice_token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let detail = e["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("workspace-locking") && detail.contains("\"devs\""), "{e}");

    // Access to the workspace: `plan`, with TFE's implied permissions; custom ones refused with
    // a fixed level; changed to custom with locking; the change holds at the next request.
    let tws = api
        .ok(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"plan"},"relationships":{
                "team":{"data":{"type":"teams","id":devs_id}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
        )
        .await;
    let a = &tws["data"]["attributes"];
    assert_eq!(
        (a["runs"].as_str(), a["variables"].as_str(), a["state-versions"].as_str()),
        (Some("plan"), Some("read"), Some("read")),
        "{tws}"
    );
    let tws_id = data(&tws, "id");
    let (status, e) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/team-workspaces/{tws_id}"),
            Some(&api.admin),
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"plan","runs":"apply"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["errors"][0]["detail"].as_str().unwrap().contains("only with access \"custom\""), "{e}");
    let custom = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/team-workspaces/{tws_id}"),
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"custom","runs":"plan","workspace-locking":true,"variables":"none"}}})),
        )
        .await;
    assert_eq!(custom["data"]["attributes"]["workspace-locking"], true, "{custom}");
    let (status, e) = api.call(Method::POST, &lock, Some(&alice_token), None).await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let listed =
        api.ok(Method::GET, &format!("/api/v2/team-workspaces?filter[workspace][id]={ws}"), None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    let (status, e) = api.call(Method::GET, "/api/v2/team-workspaces", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let by_team =
        api.ok(Method::GET, &format!("/api/v2/team-workspaces?filter[team][id]={devs_id}"), None).await;
    assert_eq!(by_team["data"][0]["relationships"]["workspace"]["data"]["id"], ws.as_str(), "{by_team}");
    let (_, none) = api
        .call(
            Method::GET,
            &format!("/api/v2/team-workspaces?filter[team][id]={devs_id}"),
            Some(&bob_probe),
            None,
        )
        .await;
    assert_eq!(none["errors"][0]["status"], "404", "bob is in no team of acme: {none}");
    let (status, e) = api
        .call(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(&api.admin),
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{
                "team":{"data":{"type":"teams","id":devs_id}},"workspace":{"data":{"type":"workspaces","id":ws}}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");

    // Access to a project: maintain creates workspaces in it.
    let project = api.ok(Method::GET, "/api/v2/organizations/acme/projects", None).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_ws = json!({"data":{"type":"workspaces","attributes":{"name":"alices"}}});
    let (status, e) = api
        .call(Method::POST, "/api/v2/organizations/acme/workspaces", Some(&alice_token), Some(new_ws.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let tprj = api
        .ok(
            Method::POST,
            "/api/v2/team-projects",
            Some(json!({"data":{"type":"team-projects","attributes":{"access":"maintain"},"relationships":{
                "team":{"data":{"type":"teams","id":devs_id}},"project":{"data":{"type":"projects","id":project}}}}})),
        )
        .await;
    assert_eq!(tprj["data"]["attributes"]["workspace-access"]["create"], true, "{tprj}");
    assert_eq!(tprj["data"]["attributes"]["project-access"]["settings"], "read", "{tprj}");
    let (status, e) = api
        .call(Method::POST, "/api/v2/organizations/acme/workspaces", Some(&alice_token), Some(new_ws))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");

    // A team token acts as the team; a new legacy token revokes the old one.
    let team_token_path = format!("/api/v2/teams/{devs_id}/authentication-token");
    let first = api.ok(Method::POST, &team_token_path, None).await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.starts_with("tern-team."));
    let (status, _) = api.call(Method::GET, &format!("/api/v2/workspaces/{ws}"), Some(&first), None).await;
    assert_eq!(status, StatusCode::OK);
    let second = api.ok(Method::POST, &team_token_path, None).await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(&first), None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(&second), None).await.0, StatusCode::OK);
    let account = api.call(Method::GET, "/api/v2/account/details", Some(&second), None).await.1;
    assert_eq!(account["data"]["attributes"]["username"], "api-team-devs", "{account}");

    // Bob is in no team: acme does not exist for him. An owner may make organization tokens.
    let bob_token = api
        .ok(Method::POST, &format!("/api/v2/users/{}/authentication-tokens", users[1]), None)
        .await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = api.call(Method::GET, "/api/v2/organizations/acme", Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let org_token = "/api/v2/organizations/acme/authentication-token";
    assert_eq!(api.call(Method::POST, org_token, Some(&bob_token), None).await.0, StatusCode::NOT_FOUND);
    api.ok(
        Method::POST,
        &format!("/api/v2/teams/{owners_id}/relationships/users"),
        Some(json!({"data":[{"type":"users","id":"bob"}]})),
    )
    .await;
    assert_eq!(api.call(Method::POST, org_token, Some(&bob_token), None).await.0, StatusCode::CREATED);
    // Users see their own account and tokens, nobody else's.
    let (status, _) =
        api.call(Method::GET, &format!("/api/v2/users/{}", users[1]), Some(&alice_token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mine = api
        .call(
            Method::GET,
            &format!("/api/v2/users/{}/authentication-tokens", users[0]),
            Some(&alice_token),
            None,
        )
        .await
        .1;
    assert_eq!(mine["data"][0]["attributes"]["description"], "laptop", "{mine}");

    // Deleting a user ends their tokens; deleting a team, its token and access.
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v2/admin/users/{}", users[0]), Some(&api.admin), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::GET, "/api/v2/ping", Some(&alice_token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v2/teams/{devs_id}"), Some(&api.admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(&second), None).await.0, StatusCode::UNAUTHORIZED);
    let listed =
        api.ok(Method::GET, &format!("/api/v2/team-workspaces?filter[workspace][id]={ws}"), None).await;
    assert!(listed["data"].as_array().unwrap().is_empty(), "{listed}");

    // The trail has each of these, by whom.
    let trail = api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?page[size]=100", None).await;
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["attributes"]["action"].as_str().unwrap())
        .collect();
    for want in [
        "team.created",
        "team.updated",
        "team.members-added",
        "team-access.created",
        "team-access.updated",
        "team-project-access.created",
        "token.created",
        "team.deleted",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let all = api
        .ok(Method::GET, "/api/v2/admin/audit-trail?page[size]=100&filter[action]=user.created", None)
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    assert!(!trail.to_string().contains(&alice_token) && !trail.to_string().contains(&second));
}

/// The audit trail: variable changes (never values), runs, tokens created, and every workload
/// identity token minted (its jti, subject, audience, run; never the token), for the
/// organization's eyes only, filtered by action, workspace and time.
async fn the_audit_trail_records_who_did_what_and_every_minted_token(api: Api) {
    for org in ["acme", "other"] {
        api.ok(
            Method::POST,
            "/api/v2/organizations",
            Some(
                json!({"data":{"type":"organizations","attributes":{"name":org,"email":"ops@example.com"}}}),
            ),
        )
        .await;
    }
    let ws = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app","terraform-version":"1.11.4"}}})),
        )
        .await;
    let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/vars"),
            Some(&api.admin),
            Some(json!({"data":{"type":"vars","attributes":{
                "key":"db_password","value":"hunter2-audit-secret","category":"terraform","sensitive":true}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let run_id = queued_run(&api, &ws_id).await;
    let (agent, claimed) = claim_in_acme(&api).await;
    let mint = protocol::MintRequest { audience: "sts.amazonaws.com".into(), ttl_seconds: 600 };
    let (status, minted) = api
        .call(
            Method::POST,
            &protocol::job_path(&claimed.job.id, "/token"),
            Some(claimed.token.expose_secret()),
            body(&mint),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let minted: protocol::MintResponse = typed(&minted);
    api.call(Method::POST, &format!("/api/v2/runs/{run_id}/actions/cancel"), Some(&api.admin), None).await;

    let trail = api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail", None).await;
    let text = trail.to_string();
    for secret in
        ["hunter2-audit-secret", minted.token.expose_secret(), &agent, claimed.token.expose_secret()]
    {
        assert!(!text.contains(secret), "a secret in the audit trail: {trail}");
    }
    let trail: tern_protocol::jsonapi::ListDocument<r::AuditEvent> = typed(&trail);
    let actions: Vec<&str> = trail.data.iter().map(|e| e.attributes.action.as_str()).collect();
    assert_eq!(actions, ["variable.created", "run.created", "token.created", "token.minted", "run.canceled"]);
    let var = &trail.data[0];
    assert_eq!(var.attributes.details["key"], "db_password");
    assert_eq!(var.attributes.details["sensitive"], true);
    assert_eq!(var.attributes.actor_kind, "admin");
    let m = &trail.data[3];
    assert_eq!(
        (m.attributes.actor.as_str(), m.attributes.actor_kind.as_str()),
        (claimed.job.id.as_str(), "job")
    );
    assert_eq!(m.attributes.details["jti"], minted.jti.as_str());
    assert_eq!(m.attributes.details["subject"], minted.subject.as_str());
    assert_eq!(m.attributes.details["audience"], "sts.amazonaws.com");
    assert_eq!(m.attributes.details["expires-at"], minted.expires_at);
    assert_eq!(m.relationships.run.id(), Some(run_id.as_str()));
    assert_eq!(m.relationships.workspace.id(), Some(ws_id.as_str()));

    // Filters: by action, by workspace name, by time; unknown filters are refused.
    let only: tern_protocol::jsonapi::ListDocument<r::AuditEvent> = typed(
        &api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?filter%5Baction%5D=token.minted", None)
            .await,
    );
    assert_eq!(only.data.len(), 1);
    let in_ws =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?filter%5Bworkspace%5D=app", None).await;
    assert_eq!(
        in_ws["data"].as_array().unwrap().len(),
        4,
        "the token's creation is the organization's: {in_ws}"
    );
    let later = api
        .ok(
            Method::GET,
            "/api/v2/organizations/acme/audit-trail?filter%5Bsince%5D=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(later["data"].as_array().unwrap().len(), 0);
    let (status, e) = api
        .call(
            Method::GET,
            "/api/v2/organizations/acme/audit-trail?filter%5Buser%5D=x",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, _) = api
        .call(
            Method::GET,
            "/api/v2/organizations/acme/audit-trail?filter%5Bsince%5D=yesterday",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Where a variable set applies changes what a run gets: recorded too.
    let set = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"aws"}}})),
        )
        .await;
    let set_id = set["data"]["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/varsets/{set_id}/relationships/workspaces"),
            Some(&api.admin),
            Some(json!({"data":[{"type":"workspaces","id":ws_id}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let applied = api
        .ok(
            Method::GET,
            "/api/v2/organizations/acme/audit-trail?filter%5Baction%5D=variable-set.applied",
            None,
        )
        .await;
    assert_eq!(applied["data"][0]["attributes"]["details"]["workspaces"], json!([ws_id]), "{applied}");
    // Another organization's token: acme's trail does not exist for it, and its own is empty.
    let (_, other) = api
        .call(
            Method::POST,
            "/api/v2/organizations/other/authentication-token",
            Some(&api.admin),
            Some(json!({"data":{"type":"authentication-tokens"}})),
        )
        .await;
    let other = other["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let (status, _) =
        api.call(Method::GET, "/api/v2/organizations/acme/audit-trail", Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, own) =
        api.call(Method::GET, "/api/v2/organizations/other/audit-trail", Some(&other), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        own["data"].as_array().unwrap().iter().all(|e| e["attributes"]["action"] == "token.created"),
        "{own}"
    );
}

/// A job token's scope is remembered after its first token, but a remembered scope is never
/// trusted: a token is returned only when its audit record commits, and that statement checks the
/// job token and the names again. So a rename, a move to another project, or the job's end (each
/// made here without the mint endpoint's knowledge, as another replica would) holds at the very
/// next mint; a token that was not returned has no audit record, and every returned one has.
async fn a_remembered_job_scope_never_outlives_the_job_or_its_names(api: Api) {
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@example.com"}}})),
    )
    .await;
    let ws = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app","terraform-version":"1.11.4"}}})),
        )
        .await;
    let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
    queued_run(&api, &ws_id).await;
    let (_, claimed) = claim_in_acme(&api).await;
    let (job, job_token) = (claimed.job.id.clone(), claimed.token.expose_secret().to_owned());
    let mint = || async {
        let request = protocol::MintRequest { audience: "sts.amazonaws.com".into(), ttl_seconds: 600 };
        api.call(Method::POST, &protocol::job_path(&job, "/token"), Some(&job_token), body(&request)).await
    };
    let subject = |minted: &Value| typed::<protocol::MintResponse>(minted).subject;
    let mut returned = Vec::new();
    for _ in 0..3 {
        let (status, minted) = mint().await;
        assert_eq!(status, StatusCode::OK, "{minted}");
        assert_eq!(
            subject(&minted),
            "organization:acme:project:Default Project:workspace:app:run_phase:plan"
        );
        returned.push(minted);
    }
    // Renamed, then moved to a project: the next token names what is true now.
    let (status, e) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/workspaces/{ws_id}"),
            Some(&api.admin),
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app-2"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let (status, minted) = mint().await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert_eq!(subject(&minted), "organization:acme:project:Default Project:workspace:app-2:run_phase:plan");
    returned.push(minted);
    let project = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/projects",
            Some(json!({"data":{"type":"projects","attributes":{"name":"blue"}}})),
        )
        .await;
    let (status, e) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/workspaces/{ws_id}"),
            Some(&api.admin),
            Some(json!({"data":{"type":"workspaces","relationships":{
                "project":{"data":{"type":"projects","id":project["data"]["id"]}}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let (status, minted) = mint().await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert_eq!(subject(&minted), "organization:acme:project:blue:workspace:app-2:run_phase:plan");
    returned.push(minted);
    // The job ends (its token dies with it): the next mint is refused, as before anything was
    // remembered, and records nothing.
    let finish = protocol::FinishRequest {
        outcome: protocol::Outcome::Failed,
        has_changes: false,
        reason: Some("x".into()),
    };
    let (status, e) =
        api.call(Method::POST, &protocol::job_path(&job, "/finish"), Some(&job_token), body(&finish)).await;
    assert_eq!(status, StatusCode::OK, "{e}");
    let (status, refused) = mint().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    let trail: tern_protocol::jsonapi::ListDocument<r::AuditEvent> = typed(
        &api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?filter%5Baction%5D=token.minted", None)
            .await,
    );
    let recorded: Vec<&Value> = trail.data.iter().map(|e| &e.attributes.details["jti"]).collect();
    let handed: Vec<&Value> = returned.iter().map(|m| &m["jti"]).collect();
    assert_eq!(recorded, handed, "exactly the tokens returned are recorded, in order");
    assert_eq!(trail.data[4].attributes.details["subject"], returned[4]["subject"]);
}

/// API tokens with a lifecycle: listed with kind, last use and expiry (never the secret), an
/// expiry in the past refused, an expired token refused, a revoked one refused at once; the
/// admin token is rotated, not revoked; another organization's tokens do not exist for it.
async fn tokens_are_listed_expire_and_are_revoked(api: Api) {
    for org in ["acme", "other"] {
        api.ok(
            Method::POST,
            "/api/v2/organizations",
            Some(
                json!({"data":{"type":"organizations","attributes":{"name":org,"email":"ops@example.com"}}}),
            ),
        )
        .await;
    }
    let create = |path: &'static str, attributes: Value| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                path,
                Some(&api.admin),
                Some(json!({"data":{"type":"authentication-tokens","attributes":attributes}})),
            )
            .await
        }
    };
    let (status, e) = create(
        "/api/v2/organizations/acme/authentication-token",
        json!({"expired-at":"2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("not in the future"), "{e}");
    let (status, e) =
        create("/api/v2/organizations/acme/authentication-token", json!({"expired-at":"tomorrow"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, ci) = create(
        "/api/v2/organizations/acme/authentication-token",
        json!({"description":"ci","expired-at":"2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ci}");
    let ci: Document<r::AuthenticationToken> = typed(&ci);
    assert_eq!(ci.data.attributes.expired_at, Some(Some("2099-01-01T00:00:00Z".to_owned())));
    let ci_secret = ci.data.attributes.token.clone().unwrap().expose_secret().to_owned();
    let (_, agents) = create("/api/v2/organizations/acme/agent-tokens", json!({"description":"rack"})).await;
    let agents: Document<r::AuthenticationToken> = typed(&agents);
    // Who made a token is recorded (the admin token is nobody: no `created-by`).
    assert!(ci.data.relationships.created_by.is_none(), "{:?}", ci.data.relationships);
    let (status, by_org) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/agent-tokens",
            Some(&ci_secret),
            Some(json!({"data":{"type":"authentication-tokens","attributes":{"description":"made by ci"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_org}");
    assert_eq!(
        by_org["data"]["relationships"]["created-by"]["data"],
        json!({"type":"organizations","id":"acme"})
    );
    let by_org_id = by_org["data"]["id"].as_str().unwrap().to_owned();
    api.ok(Method::DELETE, &format!("/api/v2/authentication-tokens/{by_org_id}"), None).await;
    // The organization's list: its organization and agent tokens, no secrets, nobody else's.
    api.call(Method::GET, "/api/v2/ping", Some(&ci_secret), None).await;
    let (status, list) = api
        .call(Method::GET, "/api/v2/organizations/acme/authentication-tokens", Some(&ci_secret), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(!list.to_string().contains(&ci_secret), "never a secret in a list");
    let list: tern_protocol::jsonapi::ListDocument<r::AuthenticationToken> = typed(&list);
    let kinds: Vec<(&str, Option<&str>)> =
        list.data.iter().map(|t| (t.attributes.description.as_str(), t.attributes.kind.as_deref())).collect();
    assert_eq!(kinds, [("ci", Some("organization")), ("rack", Some("agent"))]);
    assert!(list.data[0].attributes.last_used_at.clone().flatten().is_some(), "its use is recorded");
    let (status, _) = api
        .call(Method::GET, "/api/v2/organizations/other/authentication-tokens", Some(&ci_secret), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organization does not exist for it");
    // The administrator's list holds the admin token too; the admin token is rotated, not revoked.
    let all: tern_protocol::jsonapi::ListDocument<r::AuthenticationToken> =
        typed(&api.ok(Method::GET, "/api/v2/admin/authentication-tokens", None).await);
    let admin = all.data.iter().find(|t| t.attributes.kind.as_deref() == Some("admin")).unwrap();
    let (status, e) = api
        .call(Method::DELETE, &format!("/api/v2/authentication-tokens/{}", admin.id), Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("TERN_ADMIN_TOKEN"), "{e}");
    let (status, _) = api
        .call(Method::GET, &format!("/api/v2/authentication-tokens/{}", admin.id), Some(&ci_secret), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the admin token does not exist for an organization");
    // The organization revokes its agent token; its organization token needs the admin.
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/authentication-tokens/{}", agents.data.id),
            Some(&ci_secret),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/authentication-tokens/{}", ci.data.id),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call(Method::GET, "/api/v2/ping", Some(&ci_secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked: refused on the next request");
    let list = api.ok(Method::GET, "/api/v2/organizations/acme/authentication-tokens", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    // A tern serve's own workers' token is replaced at its next start, not revoked here.
    let (workers, _) = api
        .store
        .create_token(TokenKind::Agent, None, None, "workers of tern-serve@x:1", None)
        .await
        .unwrap();
    let (status, e) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/authentication-tokens/{}", workers.id),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("--workers 0"), "{e}");
}

/// Concrete paths for the templates of ENDPOINTS.
fn concrete(path: &str) -> String {
    path.replace("{org}", "acme")
        .replace("{name}", "app")
        .replace("{id}", "x-1")
        .replace("{var}", "var-1")
        .replace("{session}", "ses-1")
}

async fn every_endpoint_needs_a_valid_token(api: Api) {
    for (method, path, _) in ENDPOINTS.iter() {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let path = concrete(path);
        if scope_of(method.as_str(), &path) == Scope::Public {
            assert_eq!(api.call(method.clone(), &path, None, None).await.0, StatusCode::OK, "{path}");
            continue;
        }
        let (status, body) = api.call(method.clone(), &path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token: {body}");
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        if path.contains("{signature}") {
            assert!(detail.contains("not valid or has expired"), "{body}");
        } else {
            assert!(detail.contains("Authorization: Bearer"), "{body}");
        }
        let (status, _) = api.call(method.clone(), &path, Some("tern-org.forged"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with an unknown token");
        // Routed: with the admin token, never the router's "no resource at" fallback.
        let (status, body) = api.call(method.clone(), &path, Some(&api.admin), None).await;
        assert!(
            !(status == StatusCode::NOT_FOUND && body.to_string().contains("no resource at")),
            "{method} {path} is documented but not routed"
        );
    }
    let doc = api.ok(Method::GET, "/api/v2/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v2/runs/{id}/actions/cancel"]["post"].is_object());
    // Public: the issuer documents and health.
    for path in ["/.well-known/jwks", "/.well-known/openid-configuration", "/healthz"] {
        assert_eq!(api.call(Method::GET, path, None, None).await.0, StatusCode::OK, "{path}");
    }
}

async fn resources_have_tfe_shapes_and_validation(api: Api) {
    let org = api
        .ok(
            Method::POST,
            "/api/v2/organizations",
            Some(
                json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"ops@acme.test"}}}),
            ),
        )
        .await;
    assert_eq!(
        (org["data"]["id"].as_str(), org["data"]["type"].as_str()),
        (Some("acme"), Some("organizations"))
    );
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"other"}}})),
    )
    .await;
    // Validation: body, type, attribute types, names.
    let cases: &[(Value, StatusCode, &str)] = &[
        (json!("not a document"), StatusCode::UNPROCESSABLE_ENTITY, "\"data\" object"),
        (
            json!({"data":{"type":"projects","attributes":{"name":"x"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expected type \"workspaces\"",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":7}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be a string",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name is required",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"a:b"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "':'",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","auto-apply":"yes"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "true or false",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","execution-mode":"cloud"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not one of",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","working-directory":"/etc"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "relative path",
        ),
        // A workspace names a Terraform version, never a program.
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-bin":"/bin/sh"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "terraform-bin was removed: a workspace chooses its Terraform by version with terraform-version",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-version":"/bin/sh"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not an exact version",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-version":"~> 1.5"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "constraints are not supported",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-version":"1.5"}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "all three numbers",
        ),
        (
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-version":7}}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "must be a string",
        ),
    ];
    for (body, status, detail) in cases {
        let (got, v) = api
            .call(Method::POST, "/api/v2/organizations/acme/workspaces", Some(&api.admin), Some(body.clone()))
            .await;
        assert_eq!(got, *status, "{body}: {v}");
        assert!(v["errors"][0]["detail"].as_str().unwrap().contains(detail), "{body}: {v}");
    }
    let r = api
        .http
        .post(format!("{}/api/v2/organizations/acme/workspaces", api.base))
        .bearer_auth(&api.admin)
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "invalid UTF-8 / not JSON");
    let huge = format!(
        "{{\"data\":{{\"type\":\"workspaces\",\"attributes\":{{\"name\":\"{}\"}}}}}}",
        "x".repeat(2 * 1024 * 1024)
    );
    // A fresh client: the server closes a connection whose body it refused to read.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v2/organizations/acme/workspaces", api.base))
        .bearer_auth(&api.admin)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let project = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/projects",
            Some(json!({"data":{"type":"projects","attributes":{"name":"Team Blue"}}})),
        )
        .await;
    let prj = project["data"]["id"].as_str().unwrap().to_owned();
    let ws = api.ok(Method::POST, "/api/v2/organizations/acme/workspaces", Some(json!({"data":{"type":"workspaces","attributes":{"name":"app","auto-apply":true,"terraform-version":"1.0.3","plan-timeout":600},"relationships":{"project":{"data":{"type":"projects","id":prj}}}}}))).await;
    let a = &ws["data"]["attributes"];
    assert_eq!(
        (
            a["auto-apply"].as_bool(),
            a["terraform-version"].as_str(),
            a["plan-timeout"].as_i64(),
            a["execution-mode"].as_str()
        ),
        (Some(true), Some("1.0.3"), Some(600), Some("remote"))
    );
    assert_eq!(ws["data"]["relationships"]["project"]["data"]["id"].as_str(), Some(prj.as_str()));
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(&api.admin),
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    for i in 0..24 {
        api.ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":format!("w{i:02}")}}})),
        )
        .await;
    }
    let page =
        api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?page[number]=3&page[size]=10", None).await;
    let p = &page["meta"]["pagination"];
    assert_eq!(
        (
            p["current-page"].as_u64(),
            p["total-count"].as_u64(),
            p["total-pages"].as_u64(),
            p["prev-page"].as_u64(),
            p["next-page"].as_u64()
        ),
        (Some(3), Some(25), Some(3), Some(2), None)
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    assert!(page["links"]["first"].as_str().unwrap().contains("page%5Bnumber%5D=1"));
    let (status, _) = api
        .call(Method::GET, "/api/v2/organizations/acme/workspaces?page[size]=zero", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let search = api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[name]=w1", None).await;
    assert_eq!(search["meta"]["pagination"]["total-count"], 10);

    // Tags: set at creation and through relationships/tags; search[tags] needs all of them.
    let tagged = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"tagged"},"relationships":{"tags":{"data":[{"type":"tags","attributes":{"name":"app"}}]}}}})),
        )
        .await;
    assert_eq!(tagged["data"]["attributes"]["tag-names"], json!(["app"]));
    let tagged_id = tagged["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{tagged_id}/relationships/tags"),
            Some(&api.admin),
            Some(json!({"data":[{"type":"tags","attributes":{"name":"team:web"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let both = api
        .ok(Method::GET, "/api/v2/organizations/acme/workspaces?search%5Btags%5D=app%2Cteam%3Aweb", None)
        .await;
    let names: Vec<&str> =
        both["data"].as_array().unwrap().iter().map(|w| w["attributes"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tagged"]);
    assert_eq!(
        both["data"][0]["attributes"]["tag-names"],
        json!(["app", "team:web"]),
        "a list shows tags too"
    );
    let none =
        api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[tags]=app,absent", None).await;
    assert_eq!(none["meta"]["pagination"]["total-count"], 0);
    let (status, v) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{tagged_id}/relationships/tags"),
            Some(&api.admin),
            Some(json!({"data":[{"type":"tags","attributes":{"name":"Not Valid"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    api.call(
        Method::DELETE,
        &format!("/api/v2/workspaces/{tagged_id}/relationships/tags"),
        Some(&api.admin),
        Some(json!({"data":[{"type":"tags","attributes":{"name":"app"}}]})),
    )
    .await;
    let left = api.ok(Method::GET, &format!("/api/v2/workspaces/{tagged_id}"), None).await;
    assert_eq!(left["data"]["attributes"]["tag-names"], json!(["team:web"]));
    // filter[project][id] filters; a filter tern does not know is refused, not ignored.
    let default_project = left["data"]["relationships"]["project"]["data"]["id"].as_str().unwrap().to_owned();
    let in_project = api
        .ok(
            Method::GET,
            &format!("/api/v2/organizations/acme/workspaces?filter[project][id]={default_project}"),
            None,
        )
        .await;
    assert!(in_project["meta"]["pagination"]["total-count"].as_u64().unwrap() >= 1);
    let (status, v) = api
        .call(
            Method::GET,
            "/api/v2/organizations/acme/workspaces?filter[project][id]=prj-AAAAAAAAAAAAAAAA",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = api
        .call(
            Method::GET,
            "/api/v2/organizations/acme/workspaces?filter[current-run][wat]=errored",
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v.to_string().contains("does not support the query parameter filter[current-run][wat]"), "{v}");
    api.call(Method::DELETE, &format!("/api/v2/workspaces/{tagged_id}"), Some(&api.admin), None).await;
    // Projects by name (the cloud block's project lookup); empty filters filter nothing.
    let named = api
        .ok(
            Method::GET,
            "/api/v2/organizations/acme/projects?filter[names]=Default%20Project&search[user]=",
            None,
        )
        .await;
    assert_eq!(named["meta"]["pagination"]["total-count"], 1);
    let none = api.ok(Method::GET, "/api/v2/organizations/acme/projects?filter[names]=absent", None).await;
    assert_eq!(none["meta"]["pagination"]["total-count"], 0);
    // A method a path does not take says so in JSON:API, not an empty 405.
    let (status, v) =
        api.call(Method::PUT, "/api/v2/organizations/acme/workspaces", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("does not support PUT"), "{v}");
    // pytfe names the token type in the singular, go-tfe in the plural.
    let singular = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/authentication-token",
            Some(json!({"data":{"type":"authentication-token","attributes":{"description":"pytfe"}}})),
        )
        .await;
    assert!(singular["data"]["attributes"]["token"].as_str().unwrap().starts_with("tern-org."));

    // An organization token sees its organization only; other organizations do not exist for it.
    let token = api
        .ok(
            Method::POST,
            "/api/v2/organizations/other/authentication-token",
            Some(json!({"data":{"type":"authentication-tokens","attributes":{"description":"ci"}}})),
        )
        .await;
    let other = token["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
    for path in [
        "/api/v2/organizations/acme",
        "/api/v2/organizations/acme/workspaces/app",
        &format!("/api/v2/workspaces/{ws_id}"),
        &format!("/api/v2/workspaces/{ws_id}/vars"),
        &format!("/api/v2/projects/{prj}"),
    ] {
        let (status, v) = api.call(Method::GET, path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (status, v) = api.call(Method::GET, "/api/v2/organizations", Some(&other), None).await;
    assert_eq!((status, v["data"].as_array().unwrap().len()), (StatusCode::OK, 1));
    assert_eq!(
        api.call(
            Method::POST,
            "/api/v2/organizations",
            Some(&other),
            Some(json!({"data":{"type":"organizations","attributes":{"name":"mine"}}}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let agent = api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await;
    let agent = agent["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(Method::GET, "/api/v2/organizations/acme", Some(&agent), None).await.0,
        StatusCode::FORBIDDEN
    );

    // Variables: sensitive values are write-only.
    let secret = "sensitive-value-that-never-comes-back";
    let var = api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":"DB_PASSWORD","value":secret,"category":"env","sensitive":true}}}))).await;
    assert!(var["data"]["attributes"]["value"].is_null());
    let var_id = var["data"]["id"].as_str().unwrap().to_owned();
    let listed = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws_id}/vars"), None).await;
    let shown = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws_id}/vars/{var_id}"), None).await;
    let patched = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/workspaces/{ws_id}/vars/{var_id}"),
            Some(json!({"data":{"type":"vars","attributes":{"value":format!("{secret}-2")}}})),
        )
        .await;
    for v in [&listed, &shown, &patched] {
        assert!(!v.to_string().contains(secret), "{v}");
    }
    let (status, v) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/vars"),
            Some(&api.admin),
            Some(json!({"data":{"type":"vars","attributes":{"key":"X","category":"secret"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["source"]["pointer"], "/data/attributes/category");
    let set = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"aws","global":false}}})),
        )
        .await;
    let set_id = set["data"]["id"].as_str().unwrap().to_owned();
    api.ok(Method::POST, &format!("/api/v2/varsets/{set_id}/relationships/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":"TFC_AWS_PROVIDER_AUTH","value":"true","category":"env"}}}))).await;
    api.ok(
        Method::POST,
        &format!("/api/v2/varsets/{set_id}/relationships/workspaces"),
        Some(json!({"data":[{"type":"workspaces","id":ws_id}]})),
    )
    .await;
    let set = api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}"), None).await;
    assert_eq!(
        (
            set["data"]["attributes"]["var-count"].as_u64(),
            set["data"]["attributes"]["workspace-count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    api.ok(Method::DELETE, &format!("/api/v2/workspaces/{ws_id}/vars/{var_id}"), None).await;
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/v2/workspaces/{ws_id}/vars/{var_id}"),
            Some(&api.admin),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Lock, update, delete.
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/actions/lock"), None).await;
    assert_eq!(
        api.call(Method::POST, &format!("/api/v2/workspaces/{ws_id}/actions/lock"), Some(&api.admin), None)
            .await
            .0,
        StatusCode::CONFLICT
    );
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/actions/unlock"), None).await;
    let renamed = api
        .ok(
            Method::PATCH,
            "/api/v2/organizations/acme/workspaces/w00",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"w-renamed"}}})),
        )
        .await;
    assert_eq!(renamed["data"]["attributes"]["name"], "w-renamed");
    api.ok(Method::DELETE, "/api/v2/organizations/acme/workspaces/w-renamed", None).await;
    assert_eq!(
        api.call(Method::GET, "/api/v2/organizations/acme/workspaces/w-renamed", Some(&api.admin), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn runs_state_and_the_agent_api(api: Api) {
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})),
    )
    .await;
    let ws = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            // The longest phase timeout a tenant may choose: its tokens still may not live
            // that long.
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app","plan-timeout":86400}}})),
        )
        .await;
    let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
    let ws2 = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"other"}}})),
        )
        .await;
    let ws2_id = ws2["data"]["id"].as_str().unwrap().to_owned();
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":"SECRET","value":"for-the-job-only","category":"env","sensitive":true}}}))).await;
    let (status, v) = api.call(Method::POST, "/api/v2/runs", Some(&api.admin), Some(json!({"data":{"type":"runs","relationships":{"workspace":{"data":{"type":"workspaces","id":ws_id}}}}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("no uploaded configuration"));

    // A hostile configuration is refused and the version errored; a good one is accepted.
    let cv = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/configuration-versions"),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}})),
        )
        .await;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let mut evil = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_link_name("../../etc").unwrap();
    h.set_cksum();
    evil.append_data(&mut h, "escape", std::io::empty()).unwrap();
    let evil = evil.into_inner().unwrap().finish().unwrap();
    let r = api.http.put(&upload).bearer_auth(&api.admin).body(evil).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("outside the configuration"));
    let cv = api
        .ok(
            Method::GET,
            &format!("/api/v2/configuration-versions/{}", cv["data"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(cv["data"]["attributes"]["status"], "errored");
    // Issue 15: links whose targets only look inside (`d -> .`, then `d/d/..`) are resolved as
    // the filesystem will, and the uploader is told which entry leads out.
    let cv = api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/configuration-versions"), None).await;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let chain = gz_tar(|b| {
        tar_entry(b, tar::EntryType::Symlink, "d", Some("."), b"");
        tar_entry(b, tar::EntryType::Symlink, "wd", Some("d/d/.."), b"");
    });
    let r = api.http.put(&upload).bearer_auth(&api.admin).body(chain).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["errors"][0]["detail"],
        r#"the configuration was refused: entry "wd" is a symbolic link to "d/d/..", which leads outside the configuration"#
    );
    let r = api.http.put(format!("{}/upload-too-big", api.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let cv = api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/configuration-versions"), None).await;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let big = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&vec![7u8; 400 * 1024]).unwrap();
        e.finish().unwrap()
    };
    let r = reqwest::Client::new().put(&upload).bearer_auth(&api.admin).body(big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "uploads are bounded");
    // The upload-url is signed: it works without a token (go-tfe sends none), for this
    // configuration version only, and not once tampered with.
    let cv_id = cv["data"]["id"].as_str().unwrap().to_owned();
    assert!(
        upload.starts_with(&format!("{}/api/v2/configuration-versions/{cv_id}/upload/", api.base)),
        "{upload}"
    );
    let put = |url: String| {
        let http = api.http.clone();
        async move { http.put(url).body(tarball(&[("main.tf", "# empty\n")])).send().await.unwrap().status() }
    };
    let last = if upload.ends_with('0') { '1' } else { '0' };
    assert_eq!(put(format!("{}{last}", &upload[..upload.len() - 1])).await, StatusCode::UNAUTHORIZED);
    let other =
        api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/configuration-versions"), None).await;
    let other_id = other["data"]["id"].as_str().unwrap();
    assert_eq!(put(upload.replace(&cv_id, other_id)).await, StatusCode::UNAUTHORIZED, "one URL, one version");
    // A configuration without Terraform files would plan to destroy everything: refused.
    let empty =
        api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/configuration-versions"), None).await;
    let r = api
        .http
        .put(empty["data"]["attributes"]["upload-url"].as_str().unwrap())
        .body(tarball(&[("README.md", "# not a configuration\n")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("has no Terraform files (*.tf or *.tf.json)"));
    let r = put(upload.clone()).await;
    assert_eq!(r, StatusCode::OK);
    assert_eq!(put(upload.clone()).await, StatusCode::CONFLICT, "a version is uploaded once");
    // auto-queue-runs (the default) started a run.
    let runs = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws_id}/runs"), None).await;
    let run = runs["data"][0].clone();
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (run["attributes"]["status"].as_str(), run["attributes"]["actions"]["is-cancelable"].as_bool()),
        (Some("pending"), Some(true))
    );
    let plan_id = run["relationships"]["plan"]["data"]["id"].as_str().unwrap().to_owned();
    let plan = api.ok(Method::GET, &format!("/api/v2/plans/{plan_id}"), None).await;
    let by_run = api.ok(Method::GET, &format!("/api/v2/runs/{run_id}/plan"), None).await;
    assert_eq!(by_run["data"]["id"], plan["data"]["id"], "GET /runs/{{id}}/plan is the run's plan");
    let apply_by_run = api.ok(Method::GET, &format!("/api/v2/runs/{run_id}/apply"), None).await;
    assert_eq!(apply_by_run["data"]["type"], "applies");
    assert_eq!(plan["data"]["attributes"]["status"], "queued");
    let log_url = plan["data"]["attributes"]["log-read-url"].as_str().unwrap().to_owned();
    assert!(log_url.starts_with(&format!("{}/api/v2/plans/{plan_id}/logs/", api.base)), "{log_url}");
    // The signed URL works without a token, as TFE's do; a tampered one does not.
    assert_eq!(reqwest::get(&log_url).await.unwrap().bytes().await.unwrap().as_ref(), b"\x02");
    // Flip the last hex digit (replacing it with a fixed one is a no-op when it already is that).
    let last = if log_url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &log_url[..log_url.len() - 1]);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let other_plan = log_url.replace(&plan_id, "plan-AAAAAAAAAAAAAAAA");
    assert_eq!(
        reqwest::get(&other_plan).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a signature is for one plan"
    );
    assert_eq!(
        api.call(Method::POST, &format!("/api/v2/runs/{run_id}/actions/apply"), Some(&api.admin), None)
            .await
            .0,
        StatusCode::CONFLICT
    );

    // Another workspace's run, for the job-token checks.
    let cv2 =
        api.ok(Method::POST, &format!("/api/v2/workspaces/{ws2_id}/configuration-versions"), None).await;
    api.http
        .put(cv2["data"]["attributes"]["upload-url"].as_str().unwrap())
        .bearer_auth(&api.admin)
        .body(tarball(&[("main.tf", "")]))
        .send()
        .await
        .unwrap();

    // The agent claims both jobs; each job token works for its own job only.
    // The agent's side is written with the protocol's shared types, as the runner does.
    let agent: Document<r::AuthenticationToken> =
        typed(&api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await);
    let agent = agent.data.attributes.token.unwrap().expose_secret().to_owned();
    let claim = |token: String| {
        let api = &api;
        async move {
            let request = protocol::ClaimRequest {
                agent: "a1".into(),
                wait_seconds: 0,
                restarted: false,
                terraform_versions: Some(vec!["1.11.4".into()]),
            };
            api.call(Method::POST, protocol::CLAIM_PATH, Some(&token), body(&request)).await
        }
    };
    assert_eq!(claim(api.admin.clone()).await.0, StatusCode::FORBIDDEN, "claiming needs an agent token");
    let (status, first) = claim(agent.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = claim(agent.clone()).await;
    let (status, _) = claim(agent.clone()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "nothing left");
    let first: protocol::ClaimResponse = typed(&first);
    let (job, job_token) = (first.job.id.clone(), first.token.expose_secret().to_owned());
    assert_eq!((first.job.run_id.as_str(), first.job.phase), (run_id.as_str(), tern_types::RunPhase::Plan));
    let other_job = typed::<protocol::ClaimResponse>(&second).job.id;
    assert_eq!(
        api.call(Method::GET, &format!("/api/agent/jobs/{other_job}"), Some(&job_token), None).await.0,
        StatusCode::NOT_FOUND,
        "job token of another run"
    );
    assert_eq!(
        api.call(Method::GET, &format!("/api/agent/jobs/{job}"), Some(&agent), None).await.0,
        StatusCode::FORBIDDEN,
        "agent token on a job"
    );
    assert_eq!(
        api.call(Method::GET, &format!("/api/v2/runs/{run_id}"), Some(&job_token), None).await.0,
        StatusCode::FORBIDDEN,
        "job token on the user API"
    );
    let (status, spec) = api.call(Method::GET, &protocol::job_path(&job, ""), Some(&job_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec.get("terraform_bin").is_none(), "a version the agent has, never a program: {spec}");
    let spec: protocol::JobSpec = typed(&spec);
    assert_eq!((spec.phase, spec.project.name.as_str()), (tern_types::RunPhase::Plan, "Default Project"));
    assert_eq!(spec.variables[0].value.expose_secret(), "for-the-job-only", "the job gets sensitive values");
    assert!(!format!("{spec:?}").contains("for-the-job-only"), "the job's Debug never shows a value");
    assert_eq!(spec.terraform_version, "1.11.4", "the run's version, pinned at the claim");
    let tarball_bytes = api
        .http
        .get(format!("{}/api/agent/jobs/{job}/configuration", api.base))
        .bearer_auth(&job_token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(tern_archive::inspect(&tarball_bytes, tern_archive::Limits::default()).is_ok());
    assert_eq!(
        api.http
            .get(format!("{}/api/agent/jobs/{job}/state", api.base))
            .bearer_auth(&job_token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    // Minting: the token names the job's own run and phase, and verifies against the JWKS.
    let mint = protocol::MintRequest { audience: "aws.workload.identity".into(), ttl_seconds: 600 };
    let (status, minted) =
        api.call(Method::POST, &protocol::job_path(&job, "/token"), Some(&job_token), body(&mint)).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert_eq!(
        typed::<protocol::MintResponse>(&minted).subject,
        "organization:acme:project:Default Project:workspace:app:run_phase:plan"
    );
    // Issue 15: a job's tokens never outlive the server's token lifetime, whatever the phase's
    // timeout; the job says what that lifetime is, so that its runner asks for no more.
    let max = Ttl::default().as_secs();
    assert_eq!((spec.timeout_seconds, spec.max_token_ttl_seconds), (86400, Some(max)));
    let lifetime = |m: &Value| m["expires_at"].as_u64().unwrap() - m["issued_at"].as_u64().unwrap();
    assert_eq!(lifetime(&minted), 600, "a shorter lifetime is granted as asked");
    for asked in [86400, max + 1] {
        let (status, long) = api
            .call(
                Method::POST,
                &format!("/api/agent/jobs/{job}/token"),
                Some(&job_token),
                Some(json!({"audience":"aws.workload.identity","ttl_seconds":asked})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{long}");
        assert_eq!(lifetime(&long), max, "asked for {asked}s in a phase of 24 h");
    }
    let jwks =
        api.http.get(format!("{}/.well-known/jwks", api.base)).send().await.unwrap().text().await.unwrap();
    let jwks = tern_identity::verify::Jwks::from_json(jwks.as_bytes()).unwrap();
    let expect = tern_identity::verify::Expectations {
        issuer: &api.base,
        audience: Some("aws.workload.identity"),
        now: tern_types::Clock::now(&SystemClock),
        leeway: Duration::from_secs(5),
    };
    let verified = tern_identity::verify::verify(minted["token"].as_str().unwrap(), &jwks, &expect).unwrap();
    assert_eq!(verified.claim_str("terraform_run_id"), Some(run_id.as_str()));
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/agent/jobs/{job}/token"),
            Some(&job_token),
            Some(json!({"audience":"","ttl_seconds":600})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Logs stream while the phase runs; cancellation reaches the agent through them.
    let r = api
        .http
        .post(format!("{}/api/agent/jobs/{job}/logs", api.base))
        .bearer_auth(&job_token)
        .body("Terraform will perform the following actions\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["cancel"], false);
    let log = api
        .http
        .get(format!("{}/api/v2/plans/{plan_id}/logs", api.base))
        .bearer_auth(&api.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&log[..], b"\x02Terraform will perform the following actions\n", "no ETX while running");
    let tail = api
        .http
        .get(format!("{}/api/v2/plans/{plan_id}/logs?offset=11&limit=7", api.base))
        .bearer_auth(&api.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(tail, "will pe");
    api.http
        .put(format!("{}/api/agent/jobs/{job}/plan", api.base))
        .bearer_auth(&job_token)
        .body("planfile")
        .send()
        .await
        .unwrap();
    assert_eq!(
        api.http
            .put(format!("{}/api/agent/jobs/{job}/state", api.base))
            .bearer_auth(&job_token)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "plans store no state"
    );
    let finish =
        protocol::FinishRequest { outcome: protocol::Outcome::Succeeded, has_changes: true, reason: None };
    let (status, done) =
        api.call(Method::POST, &protocol::job_path(&job, "/finish"), Some(&job_token), body(&finish)).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(typed::<protocol::FinishResponse>(&done).run_status, "planned");
    assert_eq!(
        api.call(Method::GET, &format!("/api/agent/jobs/{job}"), Some(&job_token), None).await.0,
        StatusCode::UNAUTHORIZED,
        "the job token died with the job"
    );
    let log = api
        .http
        .get(format!("{}/api/v2/plans/{plan_id}/logs", api.base))
        .bearer_auth(&api.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(log.last(), Some(&0x03), "ETX once the plan is over");

    // Confirm, apply through the agent API, store state.
    assert_eq!(
        api.call(Method::POST, &format!("/api/v2/runs/{run_id}/actions/apply"), Some(&api.admin), None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let (_, apply) = claim(agent.clone()).await;
    let (ajob, atoken) =
        (apply["job"]["id"].as_str().unwrap().to_owned(), apply["token"].as_str().unwrap().to_owned());
    assert_eq!(apply["job"]["phase"], "apply");
    let planfile = api
        .http
        .get(format!("{}/api/agent/jobs/{ajob}/plan", api.base))
        .bearer_auth(&atoken)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(planfile, "planfile");
    let state =
        r#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"L","outputs":{},"resources":[]}"#;
    assert_eq!(
        api.http
            .put(format!("{}/api/agent/jobs/{ajob}/state", api.base))
            .bearer_auth(&atoken)
            .body(state)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    api.call(
        Method::POST,
        &format!("/api/agent/jobs/{ajob}/finish"),
        Some(&atoken),
        Some(json!({"outcome":"succeeded"})),
    )
    .await;
    let run = api.ok(Method::GET, &format!("/api/v2/runs/{run_id}"), None).await;
    assert_eq!(run["data"]["attributes"]["status"], "applied");
    assert!(run["data"]["attributes"]["status-timestamps"]["applied-at"].is_string());
    let current =
        api.ok(Method::GET, &format!("/api/v2/workspaces/{ws_id}/current-state-version"), None).await;
    assert_eq!(
        (
            current["data"]["attributes"]["serial"].as_i64(),
            current["data"]["relationships"]["run"]["data"]["id"].as_str()
        ),
        (Some(1), Some(run_id.as_str()))
    );
    let download = current["data"]["attributes"]["hosted-state-download-url"].as_str().unwrap();
    assert_eq!(
        api.http.get(download).bearer_auth(&api.admin).send().await.unwrap().text().await.unwrap(),
        state
    );
    let filtered = api
        .ok(
            Method::GET,
            "/api/v2/state-versions?filter[organization][name]=acme&filter[workspace][name]=app",
            None,
        )
        .await;
    assert_eq!(filtered["meta"]["pagination"]["total-count"], 1);

    // State uploads through the user API need the lock and a matching md5 and a newer serial.
    let state2 = r#"{"version":4,"serial":2,"lineage":"L"}"#;
    use base64::Engine as _;
    let body = |md5: &str| json!({"data":{"type":"state-versions","attributes":{"serial":2,"md5":md5,"lineage":"L","state":base64::engine::general_purpose::STANDARD.encode(state2)}}});
    let good = tern_store::md5_hex(state2.as_bytes());
    assert_eq!(
        api.call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/state-versions"),
            Some(&api.admin),
            Some(body(&good))
        )
        .await
        .0,
        StatusCode::CONFLICT,
        "unlocked"
    );
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/actions/lock"), None).await;
    assert_eq!(
        api.call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/state-versions"),
            Some(&api.admin),
            Some(body("0000"))
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws_id}/state-versions"), Some(body(&good))).await;
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/state-versions"),
            Some(&api.admin),
            Some(body(&good)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "same serial again");

    // The other run: canceled while it plans; the agent learns it from its next log upload.
    let (other_token, other_run) =
        (second["token"].as_str().unwrap().to_owned(), second["job"]["run_id"].as_str().unwrap().to_owned());
    assert_eq!(
        api.call(Method::POST, &format!("/api/v2/runs/{other_run}/actions/cancel"), Some(&api.admin), None)
            .await
            .0,
        StatusCode::ACCEPTED
    );
    let r = api
        .http
        .post(format!("{}/api/agent/jobs/{other_job}/logs", api.base))
        .bearer_auth(&other_token)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["cancel"], true);
    api.call(
        Method::POST,
        &format!("/api/agent/jobs/{other_job}/finish"),
        Some(&other_token),
        Some(json!({"outcome":"canceled"})),
    )
    .await;
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/runs/{other_run}"), None).await["data"]["attributes"]["status"],
        "canceled"
    );

    // A run's plan options come back as TFE shows them; its variables never do.
    let ws3 = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"options"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cv3 = api.ok(Method::POST, &format!("/api/v2/workspaces/{ws3}/configuration-versions"), None).await;
    let upload3 = cv3["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload3).body(tarball(&[("main.tf", "# x\n")])).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let made = api
        .ok(
            Method::POST,
            "/api/v2/runs",
            Some(json!({"data":{"type":"runs","attributes":{
                "target-addrs":["null_resource.a"],"replace-addrs":["null_resource.b"],"refresh":false,
                "variables":[{"key":"password","value":"\"run-variable-7e1\""}]},
                "relationships":{"workspace":{"data":{"type":"workspaces","id":ws3}}}}})),
        )
        .await;
    let attrs = &made["data"]["attributes"];
    assert_eq!(
        (&attrs["target-addrs"], &attrs["replace-addrs"], &attrs["refresh"], &attrs["refresh-only"]),
        (&json!(["null_resource.a"]), &json!(["null_resource.b"]), &json!(false), &json!(false))
    );
    let shown =
        api.ok(Method::GET, &format!("/api/v2/runs/{}", made["data"]["id"].as_str().unwrap()), None).await;
    assert!(
        !made.to_string().contains("run-variable-7e1") && !shown.to_string().contains("run-variable-7e1")
    );
}

/// The endpoints the other tests do not walk through, each on its happy path.
async fn every_other_endpoint_has_a_happy_path(api: Api) {
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})),
    )
    .await;
    assert_eq!(api.ok(Method::GET, "/api/v2/ping", None).await["data"]["type"], "ping");
    assert_eq!(
        api.ok(Method::GET, "/api/v2/organizations/acme", None).await["data"]["attributes"]["name"],
        "acme"
    );
    let projects = api.ok(Method::GET, "/api/v2/organizations/acme/projects", None).await;
    let default = projects["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/projects/{default}"), None).await["data"]["attributes"]["name"],
        "Default Project"
    );
    let ws = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"app"}}})),
        )
        .await;
    let id = ws["data"]["id"].as_str().unwrap().to_owned();
    let patched = api.ok(Method::PATCH, &format!("/api/v2/workspaces/{id}"), Some(json!({"data":{"type":"workspaces","attributes":{"description":"the app","apply-timeout":900}}}))).await;
    assert_eq!(
        (
            patched["data"]["attributes"]["description"].as_str(),
            patched["data"]["attributes"]["apply-timeout"].as_i64()
        ),
        (Some("the app"), Some(900))
    );

    // Variable sets: list, their variables, update, delete, detach, delete the set.
    let set = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"shared"}}})),
        )
        .await;
    let set_id = set["data"]["id"].as_str().unwrap().to_owned();
    let var = api.ok(Method::POST, &format!("/api/v2/varsets/{set_id}/relationships/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":"region","value":"eu","category":"terraform"}}}))).await;
    let var_id = var["data"]["id"].as_str().unwrap().to_owned();
    let updated = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/varsets/{set_id}/relationships/vars/{var_id}"),
            Some(json!({"data":{"type":"vars","attributes":{"value":"us","hcl":false}}})),
        )
        .await;
    assert_eq!(updated["data"]["attributes"]["value"], "us");
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/varsets/{set_id}/relationships/vars"), None).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.ok(Method::GET, "/api/v2/organizations/acme/varsets", None).await["data"][0]["id"].as_str(),
        Some(set_id.as_str())
    );
    api.ok(
        Method::POST,
        &format!("/api/v2/varsets/{set_id}/relationships/workspaces"),
        Some(json!({"data":[{"type":"workspaces","id":id}]})),
    )
    .await;
    api.ok(
        Method::DELETE,
        &format!("/api/v2/varsets/{set_id}/relationships/workspaces"),
        Some(json!({"data":[{"type":"workspaces","id":id}]})),
    )
    .await;
    api.ok(Method::DELETE, &format!("/api/v2/varsets/{set_id}/relationships/vars/{var_id}"), None).await;
    api.ok(Method::DELETE, &format!("/api/v2/varsets/{set_id}"), None).await;
    assert_eq!(
        api.call(Method::GET, &format!("/api/v2/varsets/{set_id}"), Some(&api.admin), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Configuration versions and runs: list, a run created in the workspace, discard after plan.
    let cv = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{id}/configuration-versions"),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}})),
        )
        .await;
    api.http
        .put(cv["data"]["attributes"]["upload-url"].as_str().unwrap())
        .bearer_auth(&api.admin)
        .body(tarball(&[("main.tf", "")]))
        .send()
        .await
        .unwrap();
    let cvs = api.ok(Method::GET, &format!("/api/v2/workspaces/{id}/configuration-versions"), None).await;
    assert_eq!(
        (cvs["meta"]["pagination"]["total-count"].as_u64(), cvs["data"][0]["attributes"]["status"].as_str()),
        (Some(1), Some("uploaded"))
    );
    assert!(cvs["data"][0]["attributes"]["upload-url"].is_null(), "no upload URL once uploaded");
    let run = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{id}/runs"),
            Some(json!({"data":{"type":"runs","attributes":{"message":"from the test"}}})),
        )
        .await;
    let run_id = run["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(run["data"]["attributes"]["message"], "from the test");
    let agent = api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let (_, claimed) = api
        .call(
            Method::POST,
            "/api/agent/jobs/claim",
            Some(&agent),
            Some(json!({"agent":"a","terraform_versions":["1.11.4"]})),
        )
        .await;
    let (job, token) =
        (claimed["job"]["id"].as_str().unwrap().to_owned(), claimed["token"].as_str().unwrap().to_owned());
    assert_eq!(
        api.call(Method::POST, &format!("/api/agent/jobs/{job}/heartbeat"), Some(&token), None).await.1["cancel"],
        false
    );
    // The plan as JSON: kept, and counted (a replacement is one addition and one destruction).
    let plan_json = json!({"format_version":"1.2","resource_changes":[
        {"address":"a.x","change":{"actions":["create"]}},
        {"address":"a.y","change":{"actions":["update"]}},
        {"address":"a.z","change":{"actions":["delete","create"]}},
        {"address":"a.w","change":{"actions":["no-op"],"importing":{"id":"w"}}}]});
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/agent/jobs/{job}/plan-json"),
            Some(&token),
            Some(json!({"not":"a plan","resource_changes":7})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .call(Method::PUT, &format!("/api/agent/jobs/{job}/plan-json"), Some(&token), Some(plan_json.clone()))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let structured = json!({"plan_format_version":"1.2","resource_changes":[],"provider_schemas":{}});
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/agent/jobs/{job}/plan-json-redacted"),
            Some(&token),
            Some(json!({"x":1})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/api/agent/jobs/{job}/plan-json-redacted"),
            Some(&token),
            Some(structured.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    api.call(
        Method::POST,
        &format!("/api/agent/jobs/{job}/finish"),
        Some(&token),
        Some(json!({"outcome":"succeeded","has_changes":true})),
    )
    .await;
    let plan = api.ok(Method::GET, &format!("/api/v2/runs/{run_id}/plan"), None).await;
    let count = |k: &str| plan["data"]["attributes"][k].as_u64();
    assert_eq!(
        (
            count("resource-additions"),
            count("resource-changes"),
            count("resource-destructions"),
            count("resource-imports")
        ),
        (Some(2), Some(1), Some(1), Some(1)),
        "{plan}"
    );
    let plan_id = plan["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.ok(Method::GET, &format!("/api/v2/plans/{plan_id}/json-output"), None).await, plan_json);
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/runs/{run_id}/plan/json-output"), None).await,
        plan_json
    );
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/plans/{plan_id}/json-output-redacted"), None).await,
        structured
    );
    api.ok(Method::POST, &format!("/api/v2/runs/{run_id}/actions/discard"), None).await;
    let runs = api.ok(Method::GET, &format!("/api/v2/workspaces/{id}/runs"), None).await;
    assert_eq!(runs["data"][0]["attributes"]["status"], "discarded");
    let apply_id = runs["data"][0]["relationships"]["apply"]["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/applies/{apply_id}"), None).await["data"]["attributes"]["status"],
        "unreachable"
    );
    let log = api
        .http
        .get(format!("{}/api/v2/applies/{apply_id}/logs", api.base))
        .bearer_auth(&api.admin)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&log[..], b"\x02\x03", "an apply that never ran has an empty, closed log");

    // State: list by workspace, show one.
    api.store.create_state_version(&id, None, br#"{"version":4,"serial":1,"lineage":"L"}"#).await.unwrap();
    let states = api.ok(Method::GET, &format!("/api/v2/workspaces/{id}/state-versions"), None).await;
    let sv = states["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/state-versions/{sv}"), None).await["data"]["attributes"]["serial"],
        1
    );
    let with_outputs = br#"{"version":4,"serial":2,"lineage":"L","outputs":{"url":{"value":"https://x","type":"string"},"password":{"value":"p4ss","type":"string","sensitive":true}}}"#;
    api.store.create_state_version(&id, None, with_outputs).await.unwrap();
    let outputs =
        api.ok(Method::GET, &format!("/api/v2/workspaces/{id}/current-state-version-outputs"), None).await;
    let by_name = |n: &str| {
        outputs["data"].as_array().unwrap().iter().find(|o| o["attributes"]["name"] == n).unwrap().clone()
    };
    assert_eq!(by_name("url")["attributes"]["value"], "https://x");
    assert!(
        by_name("password")["attributes"]["value"].is_null()
            && by_name("password")["attributes"]["sensitive"] == true
    );
    assert!(!outputs.to_string().contains("p4ss"));

    // Delete the workspace by id.
    api.ok(Method::DELETE, &format!("/api/v2/workspaces/{id}"), None).await;
    assert_eq!(
        api.call(Method::GET, &format!("/api/v2/workspaces/{id}"), Some(&api.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// The endpoints the SDKs (pytfe, go-tfe) call beyond Terraform's own: organization and project
/// updates and deletes, variable sets scoped to projects (and their precedence in a job),
/// safe-delete, the workspace filters, runs by status, outputs by id, the organization token.
async fn what_the_sdks_call_on_organizations_projects_and_sets(api: Api) {
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme","email":"a@acme.test"}}})),
    )
    .await;
    let org = api
        .ok(
            Method::PATCH,
            "/api/v2/organizations/acme",
            Some(json!({"data":{"type":"organizations","attributes":{"email":"ops@acme.test"}}})),
        )
        .await;
    assert_eq!(org["data"]["attributes"]["email"], "ops@acme.test");
    let (status, body) = api
        .call(
            Method::PATCH,
            "/api/v2/organizations/acme",
            Some(&api.admin),
            Some(json!({"data":{"type":"organizations","attributes":{"name":"Not A Name!"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Projects: create with a description, rename, find by filter[names].
    let project = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/projects",
            Some(json!({"data":{"type":"projects","attributes":{"name":"payments","description":"money"}}})),
        )
        .await;
    let project_id = project["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(project["data"]["attributes"]["description"], "money");
    let renamed = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/projects/{project_id}"),
            Some(json!({"data":{"type":"projects","attributes":{"name":"billing"}}})),
        )
        .await;
    assert_eq!(
        (
            renamed["data"]["attributes"]["name"].as_str(),
            renamed["data"]["attributes"]["description"].as_str()
        ),
        (Some("billing"), Some("money"))
    );

    // Two workspaces: one in the project (tagged), one in the default project.
    let mut ws = Vec::new();
    for (name, project, tags) in [("api", Some(&project_id), json!(["prod"])), ("web", None, json!(["dev"]))]
    {
        let mut data = json!({"type":"workspaces","attributes":{"name":name,"tag-names":tags}});
        if let Some(p) = project {
            data["relationships"] = json!({"project":{"data":{"type":"projects","id":p}}});
        }
        let created = api
            .ok(Method::POST, "/api/v2/organizations/acme/workspaces", Some(json!({ "data": data })))
            .await;
        ws.push(created["data"]["id"].as_str().unwrap().to_owned());
    }
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["attributes"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = api
        .ok(
            Method::GET,
            &format!("/api/v2/organizations/acme/workspaces?filter[project][id]={project_id}"),
            None,
        )
        .await;
    assert_eq!(names(&listed), ["api"]);
    let listed =
        api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[exclude-tags]=prod", None).await;
    assert_eq!(names(&listed), ["web"]);
    let listed =
        api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[wildcard-name]=*p_", None).await;
    assert!(names(&listed).is_empty(), "_ is literal, not LIKE's any-character: {listed}");
    let listed =
        api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[wildcard-name]=a*", None).await;
    assert_eq!(names(&listed), ["api"]);
    // Tags have stable TFE-style ids, which name them in relationships/tags.
    let tags = api.ok(Method::GET, &format!("/api/v2/workspaces/{}/relationships/tags", ws[0]), None).await;
    let prod = tags["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(prod.starts_with("tag-") && prod.len() == 20, "{tags}");
    api.ok(
        Method::POST,
        &format!("/api/v2/workspaces/{}/relationships/tags", ws[1]),
        Some(json!({"data":[{"type":"tags","id":prod}]})),
    )
    .await;
    let listed = api.ok(Method::GET, "/api/v2/organizations/acme/workspaces?search[tags]=prod", None).await;
    assert_eq!(names(&listed), ["api", "web"]);
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{}/relationships/tags", ws[1]),
            Some(&api.admin),
            Some(json!({"data":[{"type":"tags","id":"tag-0000000000000000"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A TFE feature tern lacks is named, not a bare 404.
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/workspaces/{}/tag-bindings", ws[0]),
            Some(&api.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.to_string().contains("does not support tag bindings"), "{body}");
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/workspaces/{}/state-versions", ws[0]),
            Some(&api.admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.to_string().contains("state rollback"), "{body}");
    let shown =
        api.ok(Method::GET, &format!("/api/v2/workspaces/{}?include=project,nonsense", ws[0]), None).await;
    assert_eq!(shown["included"][0]["attributes"]["name"], "billing", "{shown}");
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(&api.admin),
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"vcs","vcs-repo":{"identifier":"a/b"}}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("vcs-repo"), "{body}");
    let (status, body) = api
        .call(Method::GET, "/api/v2/organizations/acme/workspaces?filter[nonsense]=1", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown filter is refused, never ignored: {body}");
    assert!(body.to_string().contains("filter[nonsense]"), "{body}");

    // Variable sets: one on the project, one on the workspace, one global; the same name in each
    // resolves workspace > set on the workspace > set on its project > global.
    let mut sets = Vec::new();
    for (name, global, relationships) in [
        ("on-project", false, json!({"projects":{"data":[{"type":"projects","id":project_id}]}})),
        ("on-workspace", false, json!({"workspaces":{"data":[{"type":"workspaces","id":ws[0]}]}})),
        ("everywhere", true, json!({})),
    ] {
        let set = api
            .ok(
                Method::POST,
                "/api/v2/organizations/acme/varsets",
                Some(json!({"data":{"type":"varsets","attributes":{"name":name,"global":global},"relationships":relationships}})),
            )
            .await;
        let id = set["data"]["id"].as_str().unwrap().to_owned();
        for key in ["level".to_owned(), name.replace('-', "_")] {
            api.ok(
                Method::POST,
                &format!("/api/v2/varsets/{id}/relationships/vars"),
                Some(json!({"data":{"type":"vars","attributes":{"key":key,"value":name,"category":"env"}}})),
            )
            .await;
        }
        sets.push(id);
    }
    let applied = api.ok(Method::GET, &format!("/api/v2/workspaces/{}/varsets", ws[0]), None).await;
    let mut set_names = names(&applied);
    set_names.sort();
    assert_eq!(set_names, ["everywhere", "on-project", "on-workspace"]);
    assert_eq!(
        names(&api.ok(Method::GET, &format!("/api/v2/workspaces/{}/varsets", ws[1]), None).await),
        ["everywhere"]
    );
    assert_eq!(
        names(&api.ok(Method::GET, &format!("/api/v2/projects/{project_id}/varsets"), None).await),
        ["on-project"]
    );
    let resolved = |vars: Vec<tern_store::JobVariable>| -> Vec<(String, String)> {
        let mut v: Vec<_> = vars.into_iter().map(|v| (v.key, v.value.expose_secret().to_owned())).collect();
        v.sort();
        v
    };
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        resolved(api.store.job_variables(&ws[0]).await.unwrap()),
        [
            pair("everywhere", "everywhere"),
            pair("level", "on-workspace"),
            pair("on_project", "on-project"),
            pair("on_workspace", "on-workspace")
        ]
    );
    api.ok(
        Method::DELETE,
        &format!("/api/v2/varsets/{}/relationships/workspaces", sets[1]),
        Some(json!({"data":[{"type":"workspaces","id":ws[0]}]})),
    )
    .await;
    assert!(resolved(api.store.job_variables(&ws[0]).await.unwrap()).contains(&pair("level", "on-project")));
    api.ok(
        Method::POST,
        &format!("/api/v2/workspaces/{}/vars", ws[0]),
        Some(json!({"data":{"type":"vars","attributes":{"key":"level","value":"own","category":"env"}}})),
    )
    .await;
    assert!(resolved(api.store.job_variables(&ws[0]).await.unwrap()).contains(&pair("level", "own")));
    // all-vars: what a run gets, each name once, the winner's.
    let all = api.ok(Method::GET, &format!("/api/v2/workspaces/{}/all-vars", ws[0]), None).await;
    let all: Vec<(String, String)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["attributes"]["key"].as_str().unwrap().to_owned(),
                v["attributes"]["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        all.iter().filter(|(k, _)| k == "level").collect::<Vec<_>>(),
        [&pair("level", "own")],
        "{all:?}"
    );
    api.ok(
        Method::DELETE,
        &format!("/api/v2/varsets/{}/relationships/projects", sets[0]),
        Some(json!({"data":[{"type":"projects","id":project_id}]})),
    )
    .await;
    assert!(
        !resolved(api.store.job_variables(&ws[0]).await.unwrap()).contains(&pair("on_project", "on-project"))
    );
    let patched = api
        .ok(
            Method::PATCH,
            &format!("/api/v2/varsets/{}", sets[2]),
            Some(json!({"data":{"type":"varsets","attributes":{"global":false,"description":"no longer"}}})),
        )
        .await;
    assert_eq!(
        (
            patched["data"]["attributes"]["global"].as_bool(),
            patched["data"]["attributes"]["description"].as_str()
        ),
        (Some(false), Some("no longer"))
    );
    assert!(
        names(&api.ok(Method::GET, &format!("/api/v2/workspaces/{}/varsets", ws[1]), None).await).is_empty()
    );
    let (status, body) = api
        .call(
            Method::PATCH,
            &format!("/api/v2/varsets/{}", sets[2]),
            Some(&api.admin),
            Some(json!({"data":{"type":"varsets","attributes":{"priority":true}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("priority"), "names what tern does not support: {body}");

    // A project with workspaces is not deleted; an empty one is.
    let (status, body) =
        api.call(Method::DELETE, &format!("/api/v2/projects/{project_id}"), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Runs by status, outputs by id.
    let run = queued_run(&api, &ws[0]).await;
    let by_status = |status: &'static str| {
        let api = &api;
        let ws = ws[0].clone();
        async move {
            api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/runs?filter[status]={status}"), None).await
        }
    };
    assert_eq!(by_status("pending,planning").await["data"][0]["id"].as_str(), Some(run.as_str()));
    // No worker here: the run waits, first in the queue.
    let capacity = api.ok(Method::GET, "/api/v2/organizations/acme/capacity", None).await;
    assert_eq!(
        (
            capacity["data"]["attributes"]["pending"].as_u64(),
            capacity["data"]["attributes"]["running"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let shown = api.ok(Method::GET, &format!("/api/v2/runs/{run}"), None).await;
    assert_eq!(shown["data"]["attributes"]["position-in-queue"], 0, "{shown}");
    let org_runs =
        api.ok(Method::GET, "/api/v2/organizations/acme/runs?filter[operation]=plan_and_apply", None).await;
    assert_eq!(org_runs["data"][0]["id"].as_str(), Some(run.as_str()));
    let org_runs =
        api.ok(Method::GET, "/api/v2/organizations/acme/runs?filter[operation]=destroy", None).await;
    assert_eq!(org_runs["data"].as_array().unwrap().len(), 0);
    let events = api.ok(Method::GET, &format!("/api/v2/runs/{run}/run-events"), None).await;
    let event = events["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/run-events/{event}"), None).await["data"]["id"].as_str(),
        Some(event.as_str())
    );
    let ws_doc = api.ok(Method::GET, &format!("/api/v2/workspaces/{}", ws[0]), None).await;
    assert_eq!(ws_doc["data"]["relationships"]["current-run"]["data"]["id"].as_str(), Some(run.as_str()));
    assert_eq!(by_status("applied").await["data"].as_array().unwrap().len(), 0);
    let (status, body) = api
        .call(
            Method::GET,
            &format!("/api/v2/workspaces/{}/runs?filter[status]=bogus", ws[0]),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    api.ok(Method::POST, &format!("/api/v2/runs/{run}/actions/cancel"), None).await;

    let state = br#"{"version":4,"serial":1,"lineage":"L","outputs":{"url":{"value":"https://x","type":"string"},"pw":{"value":"s3cr3t","type":"string","sensitive":true}},"resources":[{"mode":"managed","type":"null_resource","name":"a","instances":[{}]}]}"#;
    let sv = api.store.create_state_version(&ws[0], None, state).await.unwrap();
    let outputs = api.ok(Method::GET, &format!("/api/v2/state-versions/{}/outputs", sv.id), None).await;
    assert_eq!(outputs["meta"]["pagination"]["total-count"], 2, "{outputs}");
    for output in outputs["data"].as_array().unwrap() {
        let id = output["id"].as_str().unwrap();
        let one = api.ok(Method::GET, &format!("/api/v2/state-version-outputs/{id}"), None).await;
        assert_eq!(one["data"]["attributes"]["name"], output["attributes"]["name"]);
    }
    assert!(!outputs.to_string().contains("s3cr3t"));
    let forged =
        outputs["data"][0]["id"].as_str().unwrap().replace(|c: char| c.is_ascii_hexdigit() && c != '0', "0");
    assert_eq!(
        api.call(Method::GET, &format!("/api/v2/state-version-outputs/{forged}"), Some(&api.admin), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // State through upload URLs (go-tfe's flow): announced, pending, then the state PUT without a
    // token to the signed URL; it must be what was announced.
    api.ok(Method::POST, &format!("/api/v2/workspaces/{}/actions/lock", ws[0]), None).await;
    let next = br#"{"version":4,"serial":2,"lineage":"L","outputs":{},"resources":[{"mode":"managed","type":"null_resource","name":"a","instances":[{}]}]}"#;
    let md5 = tern_store::md5_hex(next);
    let announced = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{}/state-versions", ws[0]),
            Some(json!({"data":{"type":"state-versions","attributes":{"serial":2,"lineage":"L","md5":md5}}})),
        )
        .await;
    let sv2 = announced["data"]["id"].as_str().unwrap().to_owned();
    let upload = announced["data"]["attributes"]["hosted-state-upload-url"].as_str().unwrap().to_owned();
    let json_upload =
        announced["data"]["attributes"]["hosted-json-state-upload-url"].as_str().unwrap().to_owned();
    assert_eq!(
        api.ok(Method::GET, &format!("/api/v2/state-versions/{sv2}"), None).await["data"]["attributes"]["status"],
        "pending"
    );
    let put = |url: String, body: Vec<u8>| {
        let http = api.http.clone();
        async move { http.put(url).body(body).send().await.unwrap().status() }
    };
    assert_eq!(
        put(format!("{upload}0"), next.to_vec()).await,
        StatusCode::UNAUTHORIZED,
        "a tampered signature"
    );
    assert_eq!(
        put(upload.clone(), b"{}".to_vec()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not the announced state"
    );
    assert_eq!(put(json_upload, b"{}".to_vec()).await, StatusCode::OK);
    assert_eq!(put(upload.clone(), next.to_vec()).await, StatusCode::OK);
    let current =
        api.ok(Method::GET, &format!("/api/v2/workspaces/{}/current-state-version", ws[0]), None).await;
    assert_eq!(
        (current["data"]["id"].as_str(), current["data"]["attributes"]["status"].as_str()),
        (Some(sv2.as_str()), Some("finalized"))
    );
    assert_eq!(put(upload, next.to_vec()).await, StatusCode::NOT_FOUND, "an upload URL is used once");
    api.ok(Method::POST, &format!("/api/v2/workspaces/{}/actions/unlock", ws[0]), None).await;

    // Safe delete: refused while the state manages a resource, allowed when it manages none.
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v2/workspaces/{}/actions/safe-delete", ws[0]),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("1 resource"), "{body}");
    api.ok(Method::POST, "/api/v2/organizations/acme/workspaces/web/actions/safe-delete", None).await;
    api.ok(Method::DELETE, &format!("/api/v2/workspaces/{}", ws[0]), None).await;
    api.ok(Method::DELETE, &format!("/api/v2/projects/{project_id}"), None).await;

    // The organization token: shown without its secret, revoked.
    let token = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/authentication-token",
            Some(json!({"data":{"type":"authentication-token"}})),
        )
        .await;
    let secret = token["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let shown = api.ok(Method::GET, "/api/v2/organizations/acme/authentication-token", None).await;
    assert!(shown["data"]["attributes"]["token"].is_null() && !shown.to_string().contains(&secret));
    api.ok(Method::DELETE, "/api/v2/organizations/acme/authentication-token", None).await;
    assert_eq!(
        api.call(Method::GET, "/api/v2/organizations/acme", Some(&secret), None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The organization goes, with everything in it.
    api.ok(Method::DELETE, "/api/v2/organizations/acme", None).await;
    assert_eq!(
        api.call(Method::GET, "/api/v2/organizations/acme", Some(&api.admin), None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// An uploaded configuration and a run queued in workspace `ws_id`: the run's id.
/// A new agent token of `acme` claims the next job (Terraform 1.11.4): the token, and the job
/// with its job token.
async fn claim_in_acme(api: &Api) -> (String, protocol::ClaimResponse) {
    let agent: Document<r::AuthenticationToken> =
        typed(&api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await);
    let agent = agent.data.attributes.token.unwrap().expose_secret().to_owned();
    let claim = protocol::ClaimRequest {
        agent: "a1".into(),
        wait_seconds: 0,
        restarted: false,
        terraform_versions: Some(vec!["1.11.4".into()]),
    };
    let (status, claimed) = api.call(Method::POST, protocol::CLAIM_PATH, Some(&agent), body(&claim)).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    (agent, typed(&claimed))
}

async fn queued_run(api: &Api, ws_id: &str) -> String {
    let cv = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/configuration-versions"),
            Some(json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}})),
        )
        .await;
    let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
    let r = api.http.put(&upload).bearer_auth(&api.admin).body(tarball(&[("main.tf", "# x\n")])).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let run = api
        .ok(
            Method::POST,
            "/api/v2/runs",
            Some(json!({"data":{"type":"runs","attributes":{},"relationships":{
                "workspace":{"data":{"type":"workspaces","id":ws_id}},
                "configuration-version":{"data":{"type":"configuration-versions","id":cv["data"]["id"]}}}}})),
        )
        .await;
    run["data"]["id"].as_str().unwrap().to_owned()
}

/// A workspace in agent mode runs only on its pool's agents, and only on those that have its
/// Terraform version; until one asks, its run waits and says why. The server's own workers and
/// organization-wide agent tokens never take it.
async fn agent_pools_run_their_workspaces_and_nothing_else(api: Api) {
    for org in ["acme", "other"] {
        api.ok(
            Method::POST,
            "/api/v2/organizations",
            Some(json!({"data":{"type":"organizations","attributes":{"name":org}}})),
        )
        .await;
    }
    let token_of = |v: &Value| v["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let org_token = api.ok(Method::POST, "/api/v2/organizations/acme/authentication-token", None).await;
    let (org_token_id, org_token) =
        (org_token["data"]["id"].as_str().unwrap().to_owned(), token_of(&org_token));
    let other_token =
        token_of(&api.ok(Method::POST, "/api/v2/organizations/other/authentication-token", None).await);
    // With the organization's own token, as its people would.
    let as_org = |method: Method, path: String, body: Option<Value>| {
        let (api, token) = (&api, org_token.clone());
        async move { api.call(method, &path, Some(&token), body).await }
    };
    let (status, pool) = as_org(
        Method::POST,
        "/api/v2/organizations/acme/agent-pools".into(),
        Some(json!({"data":{"type":"agent-pools","attributes":{"name":"prod"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pool}");
    let pool_id = pool["data"]["id"].as_str().unwrap().to_owned();
    assert!(pool_id.starts_with("apool-"), "{pool}");
    assert_eq!(
        (pool["data"]["type"].as_str(), pool["data"]["attributes"]["agent-count"].as_u64()),
        (Some("agent-pools"), Some(0))
    );
    assert_eq!(pool["data"]["relationships"]["organization"]["data"]["id"], "acme");
    let (status, _) = as_org(
        Method::POST,
        "/api/v2/organizations/acme/agent-pools".into(),
        Some(json!({"data":{"type":"agent-pools","attributes":{"name":"prod"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "one name per organization");
    let (_, renamed) = as_org(
        Method::PATCH,
        format!("/api/v2/agent-pools/{pool_id}"),
        Some(json!({"data":{"type":"agent-pools","attributes":{"name":"production"}}})),
    )
    .await;
    assert_eq!(renamed["data"]["attributes"]["name"], "production");
    let (_, list) = as_org(Method::GET, "/api/v2/organizations/acme/agent-pools".into(), None).await;
    assert_eq!(list["meta"]["pagination"]["total-count"], 1);
    assert_eq!(
        api.call(Method::GET, &format!("/api/v2/agent-pools/{pool_id}"), Some(&other_token), None).await.0,
        StatusCode::NOT_FOUND,
        "another organization's pool does not exist for it"
    );
    let staging = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/agent-pools",
            Some(json!({"data":{"type":"agent-pools","attributes":{"name":"staging"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Tokens of the pool, shown once, as go-tfe creates them.
    let (status, created) = as_org(
        Method::POST,
        format!("/api/v2/agent-pools/{pool_id}/authentication-tokens"),
        Some(json!({"data":{"type":"agent-tokens","attributes":{"description":"rack 1"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (pool_token_id, pool_token) =
        (created["data"]["id"].as_str().unwrap().to_owned(), token_of(&created));
    assert!(pool_token.starts_with("tern-agent."));
    let (_, listed) =
        as_org(Method::GET, format!("/api/v2/agent-pools/{pool_id}/authentication-tokens"), None).await;
    assert_eq!(listed["data"][0]["attributes"]["description"], "rack 1");
    assert!(listed["data"][0]["attributes"]["token"].is_null(), "never shown again: {listed}");
    let (_, shown) =
        as_org(Method::GET, format!("/api/v2/authentication-tokens/{pool_token_id}"), None).await;
    assert_eq!(shown["data"]["relationships"]["agent-pool"]["data"]["id"].as_str(), Some(pool_id.as_str()));
    // Its own organization token is shown (never the secret), but only an administrator
    // revokes an organization token.
    let (status, own) =
        as_org(Method::GET, format!("/api/v2/authentication-tokens/{org_token_id}"), None).await;
    assert_eq!(
        (status, own["data"]["attributes"]["kind"].as_str()),
        (StatusCode::OK, Some("organization")),
        "{own}"
    );
    assert!(own["data"]["attributes"]["token"].is_null(), "{own}");
    let (status, refused) =
        as_org(Method::DELETE, format!("/api/v2/authentication-tokens/{org_token_id}"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused.to_string().contains("revoked by an administrator or a member of the owners team"),
        "{refused}"
    );
    let staging_token = token_of(
        &api.ok(Method::POST, &format!("/api/v2/agent-pools/{staging}/authentication-tokens"), None).await,
    );

    // An agent workspace on the pool, with Terraform 1.0.3, and a remote one.
    let (status, ws) = as_org(
        Method::POST,
        "/api/v2/organizations/acme/workspaces".into(),
        Some(json!({"data":{"type":"workspaces","attributes":{
            "name":"on-agents","execution-mode":"agent","agent-pool-id":pool_id,"terraform-version":"1.0.3"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ws}");
    let a = &ws["data"]["attributes"];
    assert_eq!(
        (a["execution-mode"].as_str(), a["agent-pool-id"].as_str(), a["terraform-version"].as_str()),
        (Some("agent"), Some(pool_id.as_str()), Some("1.0.3"))
    );
    assert_eq!(ws["data"]["relationships"]["agent-pool"]["data"]["id"].as_str(), Some(pool_id.as_str()));
    let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
    let remote = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/workspaces",
            Some(json!({"data":{"type":"workspaces","attributes":{"name":"on-workers"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run_id = queued_run(&api, &ws_id).await;
    let remote_run = queued_run(&api, &remote).await;
    let waiting = |id: String| {
        let api = &api;
        async move {
            let run = api.ok(Method::GET, &format!("/api/v2/runs/{id}"), None).await;
            (
                run["data"]["attributes"]["status"].as_str().unwrap().to_owned(),
                run["data"]["attributes"]["waiting-reason"].as_str().map(str::to_owned),
            )
        }
    };
    assert_eq!(
        waiting(run_id.clone()).await,
        (
            "pending".into(),
            Some(format!(
                "waiting for an agent in pool \"production\" ({pool_id}): no agent of this pool has asked for work in the last 60 s"
            ))
        )
    );

    let claim = |token: String, versions: Value| {
        let api = &api;
        async move {
            api.call(
                Method::POST,
                "/api/agent/jobs/claim",
                Some(&token),
                Some(json!({"agent":"rack-1","wait_seconds":0,"terraform_versions":versions})),
            )
            .await
        }
    };
    // tern serve's own workers (their token has no organization) take the remote run only.
    let (_, workers) = api.store.create_token(TokenKind::Agent, None, None, "workers", None).await.unwrap();
    let workers = workers.expose_secret().to_owned();
    let (status, got) = claim(workers.clone(), json!(["1.0.3", "1.11.4"])).await;
    assert_eq!((status, got["job"]["run_id"].as_str()), (StatusCode::OK, Some(remote_run.as_str())), "{got}");
    assert_eq!(claim(workers.clone(), json!(["1.0.3", "1.11.4"])).await.0, StatusCode::NO_CONTENT);
    // An organization-wide agent token, another pool's token: nothing.
    let legacy = token_of(&api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await);
    assert_eq!(claim(legacy, json!(["1.0.3"])).await.0, StatusCode::NO_CONTENT);
    assert_eq!(claim(staging_token, json!(["1.0.3"])).await.0, StatusCode::NO_CONTENT);
    // The pool's agent without 1.0.3: nothing, and the run says what it waits for.
    assert_eq!(claim(pool_token.clone(), json!(["1.11.4"])).await.0, StatusCode::NO_CONTENT);
    let (_, reason) = waiting(run_id.clone()).await;
    assert!(
        reason.as_deref().is_some_and(|r| r
            .ends_with("with Terraform 1.0.3: the agents of this pool seen in the last 60 s have 1.11.4")),
        "{reason:?}"
    );
    // The pool's agent with 1.0.3 runs it.
    let (status, got) = claim(pool_token.clone(), json!(["1.0.3", "1.11.4"])).await;
    assert_eq!((status, got["job"]["run_id"].as_str()), (StatusCode::OK, Some(run_id.as_str())), "{got}");
    let (job, job_token) = (got["job"]["id"].as_str().unwrap().to_owned(), token_of_claim(&got));
    let (_, spec) = api.call(Method::GET, &format!("/api/agent/jobs/{job}"), Some(&job_token), None).await;
    assert_eq!(spec["terraform_version"], "1.0.3");
    assert_eq!(waiting(run_id.clone()).await, ("planning".into(), None));
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/api/agent/jobs/{job}/finish"),
            Some(&job_token),
            Some(json!({"outcome":"succeeded","has_changes":false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, run) = as_org(Method::GET, format!("/api/v2/runs/{run_id}"), None).await;
    assert_eq!(
        (
            run["data"]["attributes"]["status"].as_str(),
            run["data"]["attributes"]["terraform-version"].as_str()
        ),
        (Some("planned_and_finished"), Some("1.0.3"))
    );
    let (_, shown) = as_org(Method::GET, format!("/api/v2/agent-pools/{pool_id}"), None).await;
    assert_eq!(shown["data"]["attributes"]["agent-count"], 1, "{shown}");
    assert_eq!(shown["data"]["relationships"]["workspaces"]["data"][0]["id"].as_str(), Some(ws_id.as_str()));

    // A pool in use stays; leaving agent mode frees it; a revoked token claims nothing.
    let (status, refused) = as_org(Method::DELETE, format!("/api/v2/agent-pools/{pool_id}"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"production\" is used by workspace \"on-agents\""),
        "{refused}"
    );
    let (_, ws) = as_org(
        Method::PATCH,
        format!("/api/v2/workspaces/{ws_id}"),
        Some(json!({"data":{"type":"workspaces","attributes":{"execution-mode":"remote"}}})),
    )
    .await;
    assert!(ws["data"]["attributes"]["agent-pool-id"].is_null(), "{ws}");
    assert!(ws["data"]["relationships"]["agent-pool"]["data"].is_null(), "{ws}");
    assert_eq!(
        api.call(
            Method::DELETE,
            &format!("/api/v2/authentication-tokens/{pool_token_id}"),
            Some(&other_token),
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        as_org(Method::DELETE, format!("/api/v2/authentication-tokens/{pool_token_id}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(claim(pool_token, json!(["1.0.3"])).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        as_org(Method::DELETE, format!("/api/v2/agent-pools/{pool_id}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        as_org(Method::GET, format!("/api/v2/agent-pools/{pool_id}"), None).await.0,
        StatusCode::NOT_FOUND
    );
}

/// A body read as the shared wire type the runner and the CLI read it as.
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// A request body written from the shared wire type.
fn body(v: &impl serde::Serialize) -> Option<Value> {
    Some(serde_json::to_value(v).unwrap())
}

fn token_of_claim(claimed: &Value) -> String {
    claimed["token"].as_str().unwrap().to_owned()
}

/// Who may call an endpoint (from its path), for the authorization matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No token needed, any token accepted (the API description).
    Public,
    /// Any valid token (ping).
    AnyToken,
    /// Any user token, admin or organization: each sees its own (listing organizations).
    UserToken,
    /// Admin token only.
    Admin,
    /// The organization's tokens: the admin token or its owners, never the organization token.
    OrgTokens,
    /// A user's own account: the admin token (or the user); everyone else "not found".
    UserSelf,
    /// What only a person has (their browser sessions): a user's token; every other token is
    /// refused, the admin token too (it is nobody's; administrators use /api/v2/admin/users).
    Person,
    /// Admin, or a token of the organization that owns the resource.
    Organization,
    /// Agent tokens: claiming a job.
    Claim,
    /// The job token of this very job, while it runs.
    Job,
    /// Signed URLs: no token at all.
    Signed,
}

fn scope_of(method: &str, path: &str) -> Scope {
    match (method, path) {
        (_, p) if p.contains("{signature}") => Scope::Signed,
        ("GET", "/api/v2/openapi.json") => Scope::Public,
        ("GET", "/api/v2/ping") => Scope::AnyToken,
        // Listing organizations shows each user token its own; agents and jobs have none.
        ("GET", "/api/v2/organizations") => Scope::UserToken,
        ("POST", "/api/v2/organizations") | ("PATCH" | "DELETE", "/api/v2/organizations/{org}") => {
            Scope::Admin
        }
        (_, "/api/v2/organizations/{org}/authentication-token") => Scope::OrgTokens,
        (_, p) if p.starts_with("/api/v2/admin/") => Scope::Admin,
        ("GET", "/api/v2/account/details") => Scope::UserToken,
        (_, p) if p.starts_with("/api/v2/account/sessions") => Scope::Person,
        (_, p) if p.starts_with("/api/v2/users/") => Scope::UserSelf,
        (_, "/api/agent/jobs/claim") => Scope::Claim,
        (_, p) if p.starts_with("/api/agent/jobs/") => Scope::Job,
        _ => Scope::Organization,
    }
}

/// The credentials every endpoint is tried with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    None,
    Malformed,
    Unknown,
    ExpiredOrgToken,
    RevokedUserToken,
    OrgToken,
    OtherOrgToken,
    AgentToken,
    JobToken,
    JobTokenOfAnotherJob,
    JobTokenAfterItsPhase,
    Admin,
}

const CREDENTIALS: [Credential; 12] = [
    Credential::None,
    Credential::Malformed,
    Credential::Unknown,
    Credential::ExpiredOrgToken,
    Credential::RevokedUserToken,
    Credential::OrgToken,
    Credential::OtherOrgToken,
    Credential::AgentToken,
    Credential::JobToken,
    Credential::JobTokenOfAnotherJob,
    Credential::JobTokenAfterItsPhase,
    Credential::Admin,
];

/// The one table: the status a denial must have, or `None` where the credential is allowed
/// (allowed calls are made harmlessly where they can be, see [`harmless_probe`]).
fn expected(scope: Scope, credential: Credential) -> Option<u16> {
    use Credential as C;
    use Scope as S;
    match (scope, credential) {
        (S::Public, _) => None,
        (S::Signed, _) => Some(401), // a wrong signature, whatever token comes with it
        (
            _,
            C::None
            | C::Malformed
            | C::Unknown
            | C::ExpiredOrgToken
            | C::RevokedUserToken
            | C::JobTokenAfterItsPhase,
        ) => Some(401),
        (S::AnyToken, _) => None,
        (S::UserToken, C::Admin | C::OrgToken | C::OtherOrgToken) => None,
        (S::UserToken, _) => Some(403),
        (S::Admin, C::Admin) => None,
        (S::Admin, _) => Some(403),
        (S::OrgTokens, C::Admin) => None,
        (S::OrgTokens, C::OtherOrgToken) => Some(404),
        (S::OrgTokens, _) => Some(403),
        // No credential of the matrix is a user's token.
        (S::Person, _) => Some(403),
        (S::UserSelf, C::Admin) => None,
        (S::UserSelf, _) => Some(404),
        (S::Organization, C::Admin | C::OrgToken) => None,
        // Another organization's resources do not exist for it: 404, never 403 (no oracle).
        (S::Organization, C::OtherOrgToken) => Some(404),
        (S::Organization, C::AgentToken | C::JobToken | C::JobTokenOfAnotherJob) => Some(403),
        (S::Claim, C::AgentToken) => None,
        (S::Claim, _) => Some(403),
        (S::Job, C::JobToken) => None,
        (S::Job, C::JobTokenOfAnotherJob) => Some(404),
        (S::Job, _) => Some(403),
    }
}

async fn fixture(api: &Api) -> Fixture {
    for org in ["acme", "other"] {
        api.ok(
            Method::POST,
            "/api/v2/organizations",
            Some(json!({"data":{"type":"organizations","attributes":{"name":org,"email":"ops@acme.test"}}})),
        )
        .await;
    }
    let token_of = |v: &Value| v["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let org_token =
        token_of(&api.ok(Method::POST, "/api/v2/organizations/acme/authentication-token", None).await);
    let other_token =
        token_of(&api.ok(Method::POST, "/api/v2/organizations/other/authentication-token", None).await);
    let agent = token_of(&api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await);
    let acme = api.store.organization("acme").await.unwrap();
    let past = api.store.unix_now() - 60;
    let (_, expired) = api
        .store
        .create_token(TokenKind::Organization, Some(&acme.id), None, "expired", Some(past))
        .await
        .unwrap();

    // Three workspaces with a run each; their plan jobs: the target (running), another
    // (running), and one that has finished.
    let mut ids = Vec::new();
    for name in ["app", "app2", "app3"] {
        let ws = api
            .ok(
                Method::POST,
                "/api/v2/organizations/acme/workspaces",
                Some(json!({"data":{"type":"workspaces","attributes":{"name":name}}})),
            )
            .await;
        let ws_id = ws["data"]["id"].as_str().unwrap().to_owned();
        let cv = api
            .ok(
                Method::POST,
                &format!("/api/v2/workspaces/{ws_id}/configuration-versions"),
                Some(
                    json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":false}}}),
                ),
            )
            .await;
        let cv_id = cv["data"]["id"].as_str().unwrap().to_owned();
        let upload = cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned();
        let r =
            api.http.put(&upload).bearer_auth(&api.admin).body(tarball(&[("main.tf", "# x\n")])).send().await;
        assert_eq!(r.unwrap().status(), StatusCode::OK);
        let run = api
            .ok(
                Method::POST,
                "/api/v2/runs",
                Some(json!({"data":{"type":"runs","attributes":{},"relationships":{
                    "workspace":{"data":{"type":"workspaces","id":ws_id}},
                    "configuration-version":{"data":{"type":"configuration-versions","id":cv_id}}}}})),
            )
            .await;
        let (status, claimed) = api
            .call(
                Method::POST,
                "/api/agent/jobs/claim",
                Some(&agent),
                Some(json!({"agent":"matrix","wait_seconds":5,"terraform_versions":["1.11.4"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{claimed}");
        ids.push((ws_id, cv_id, run["data"].clone(), claimed));
    }
    let job_id = |i: usize| ids[i].3["job"]["id"].as_str().unwrap().to_owned();
    let job_token = |i: usize| ids[i].3["token"].as_str().unwrap().to_owned();
    let (_, finished) = api
        .call(
            Method::POST,
            &format!("/api/agent/jobs/{}/finish", job_id(2)),
            Some(&job_token(2)),
            Some(json!({"outcome":"succeeded","has_changes":false})),
        )
        .await;
    assert!(finished.get("run_status").is_some(), "{finished}");
    let (ws_id, _, run, _) = &ids[0];
    let run_id = run["id"].as_str().unwrap();
    let plan_id = run["relationships"]["plan"]["data"]["id"].as_str().unwrap();
    let apply_id = run["relationships"]["apply"]["data"]["id"].as_str().unwrap();
    let var = api
        .ok(
            Method::POST,
            &format!("/api/v2/workspaces/{ws_id}/vars"),
            Some(json!({"data":{"type":"vars","attributes":{"key":"k","value":"v","category":"env"}}})),
        )
        .await;
    let var_id = var["data"]["id"].as_str().unwrap().to_owned();
    let set = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"shared"}}})),
        )
        .await;
    let set_id = set["data"]["id"].as_str().unwrap().to_owned();
    let set_var = api
        .ok(
            Method::POST,
            &format!("/api/v2/varsets/{set_id}/relationships/vars"),
            Some(json!({"data":{"type":"vars","attributes":{"key":"r","value":"eu","category":"env"}}})),
        )
        .await;
    let set_var_id = set_var["data"]["id"].as_str().unwrap().to_owned();
    let state = br#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"l-1","outputs":{"o":{"value":"v","type":"string"}},"resources":[]}"#;
    let sv = api.store.create_state_version(ws_id, None, state).await.unwrap();
    let output = api.ok(Method::GET, &format!("/api/v2/state-versions/{}/outputs", sv.id), None).await["data"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = api.ok(Method::GET, "/api/v2/organizations/acme/projects", None).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/agent-pools",
            Some(json!({"data":{"type":"agent-pools","attributes":{"name":"prod"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool_token = api
        .ok(
            Method::POST,
            &format!("/api/v2/agent-pools/{pool}/authentication-tokens"),
            Some(json!({"data":{"type":"agent-tokens","attributes":{"description":"rack 1"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let run_event = format!("re-{}-0", run_id.trim_start_matches("run-"));
    // People and teams: a team with access to the workspace and the project, a user in it.
    let team = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"devs"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tws = api
        .ok(
            Method::POST,
            "/api/v2/team-workspaces",
            Some(json!({"data":{"type":"team-workspaces","attributes":{"access":"read"},"relationships":{
                "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":ws_id}}}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tprj = api
        .ok(
            Method::POST,
            "/api/v2/team-projects",
            Some(json!({"data":{"type":"team-projects","attributes":{"access":"read"},"relationships":{
                "team":{"data":{"type":"teams","id":team}},"project":{"data":{"type":"projects","id":project}}}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = api
        .ok(
            Method::POST,
            "/api/v2/admin/users",
            Some(json!({"data":{"type":"users","attributes":{"username":"alice"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        Method::POST,
        &format!("/api/v2/teams/{team}/relationships/users"),
        Some(json!({"data":[{"type":"users","id":"alice"}]})),
    )
    .await;
    // alice is signed in with a browser: her session is nobody else's to end.
    let (session, _) = api.store.create_session(&user, api.store.unix_now() + 3600, None).await.unwrap();
    // An owner's user token, revoked: refused everywhere, as if it never existed.
    let owner = api
        .ok(
            Method::POST,
            "/api/v2/admin/users",
            Some(json!({"data":{"type":"users","attributes":{"username":"gone-owner"}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(
        Method::POST,
        &format!("/api/v2/teams/{owners}/relationships/users"),
        Some(json!({"data":[{"type":"users","id":"gone-owner"}]})),
    )
    .await;
    let made = api.ok(Method::POST, &format!("/api/v2/users/{owner}/authentication-tokens"), None).await;
    let revoked = made["data"]["attributes"]["token"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v2/authentication-tokens/{}", made["data"]["id"].as_str().unwrap()),
            Some(&api.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (ws_id, cv_id, run, _) = ids[0].clone();
    let ids_by_prefix: Vec<(&'static str, String)> = vec![
        ("/api/v2/workspaces/", ws_id.clone()),
        ("/api/v2/varsets/", set_id),
        ("/api/v2/configuration-versions/", cv_id.clone()),
        ("/api/v2/runs/", run_id.to_owned()),
        ("/api/v2/plans/", plan_id.to_owned()),
        ("/api/v2/applies/", apply_id.to_owned()),
        ("/api/v2/state-versions/", sv.id.clone()),
        ("/api/v2/state-version-outputs/", output),
        ("/api/v2/run-events/", run_event),
        ("/api/v2/projects/", project.clone()),
        ("/api/v2/agent-pools/", pool),
        ("/api/v2/authentication-tokens/", pool_token),
        ("/api/v2/teams/", team.clone()),
        ("/api/v2/team-workspaces/", tws),
        ("/api/v2/team-projects/", tprj),
        ("/api/v2/users/", user.clone()),
        ("/api/v2/admin/users/", user),
        ("/api/v2/account/sessions/", session.id.clone()),
    ];
    let _ = run;
    Fixture {
        org_token,
        other_token,
        agent,
        expired: expired.expose_secret().to_owned(),
        revoked,
        ids,
        ids_by_prefix,
        var_id,
        set_var_id,
        ws_id,
        cv_id,
        project,
        team,
        session: session.id,
    }
}

/// Real resources of every kind in `acme` (and an `other` organization), with tokens of every
/// kind: what the authorization matrices try each endpoint on.
struct Fixture {
    org_token: String,
    other_token: String,
    agent: String,
    expired: String,
    /// A user token of an owner, revoked.
    revoked: String,
    /// Per workspace (app, app2, app3): workspace id, configuration version id, run, claimed job.
    ids: Vec<(String, String, Value, Value)>,
    ids_by_prefix: Vec<(&'static str, String)>,
    var_id: String,
    set_var_id: String,
    ws_id: String,
    cv_id: String,
    project: String,
    team: String,
    /// A browser session of alice (a member of `devs`).
    session: String,
}

impl Fixture {
    fn job_id(&self, i: usize) -> String {
        self.ids[i].3["job"]["id"].as_str().unwrap().to_owned()
    }

    fn job_token(&self, i: usize) -> String {
        self.ids[i].3["token"].as_str().unwrap().to_owned()
    }

    /// Concrete paths: each template's ids are acme's real resources of the right kind.
    fn concrete(&self, path: &str) -> String {
        let id = self
            .ids_by_prefix
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or("x-1", |(_, id)| id.as_str());
        let var = if path.starts_with("/api/v2/varsets/") { &self.set_var_id } else { &self.var_id };
        let mut path = path
            .replace("{org}", "acme")
            .replace("{name}", "app")
            .replace("{var}", var)
            .replace("{kid}", "no-such-kid")
            .replace("{signature}", "0.00")
            .replace("{session}", &self.session)
            .replace("/api/agent/jobs/{id}", &format!("/api/agent/jobs/{}", self.job_id(0)))
            .replace("{id}", id);
        // Lists that need a filter get the one naming acme's resource.
        match path.as_str() {
            "/api/v2/state-versions" => {
                path.push_str("?filter[organization][name]=acme&filter[workspace][name]=app")
            }
            "/api/v2/team-workspaces" => path.push_str(&format!("?filter[workspace][id]={}", self.ws_id)),
            "/api/v2/team-projects" => path.push_str(&format!("?filter[project][id]={}", self.project)),
            _ => {}
        }
        path
    }

    /// A body where the endpoint reads one before it can tell whose resource it is.
    fn body_for(&self, template: &str) -> Option<Value> {
        match template {
            "/api/v2/runs" => Some(json!({"data":{"type":"runs","attributes":{},"relationships":{
                "workspace":{"data":{"type":"workspaces","id":self.ws_id}},
                "configuration-version":{"data":{"type":"configuration-versions","id":self.cv_id}}}}})),
            "/api/v2/organizations/{org}/workspaces" => {
                Some(json!({"data":{"type":"workspaces","attributes":{"name":"made-by-matrix"}}}))
            }
            "/api/v2/team-workspaces" => Some(
                json!({"data":{"type":"team-workspaces","attributes":{"access":"nonsense"},"relationships":{
                "team":{"data":{"type":"teams","id":self.team}},"workspace":{"data":{"type":"workspaces","id":self.ws_id}}}}}),
            ),
            "/api/v2/team-projects" => Some(
                json!({"data":{"type":"team-projects","attributes":{"access":"nonsense"},"relationships":{
                "team":{"data":{"type":"teams","id":self.team}},"project":{"data":{"type":"projects","id":self.project}}}}}),
            ),
            _ => None,
        }
    }
}

/// Every endpoint × every credential kind, from [`expected`]: resources are real (so that
/// "another organization" cannot pass by the resource not existing); denials must have their
/// status, and allowed calls are made only where [`harmless_probe`] can make them without
/// changing anything, so the matrix changes nothing.
async fn every_endpoint_refuses_every_credential_it_must(api: Api) {
    let f = fixture(&api).await;
    let mut tried = 0;
    let mut failures = Vec::new();
    for (method_name, template, _) in ENDPOINTS.iter() {
        let scope = scope_of(method_name, template);
        let method = Method::from_bytes(method_name.as_bytes()).unwrap();
        let path = f.concrete(template);
        for credential in CREDENTIALS {
            let Some(want) = expected(scope, credential) else { continue };
            let token: Option<String> = match credential {
                Credential::None => None,
                Credential::Malformed => Some("not a token at all".into()),
                Credential::Unknown => Some("tern-org.forged-forged-forged-forged-forged".into()),
                Credential::ExpiredOrgToken => Some(f.expired.clone()),
                Credential::RevokedUserToken => Some(f.revoked.clone()),
                Credential::OrgToken => Some(f.org_token.clone()),
                Credential::OtherOrgToken => Some(f.other_token.clone()),
                Credential::AgentToken => Some(f.agent.clone()),
                Credential::JobToken => Some(f.job_token(0)),
                Credential::JobTokenOfAnotherJob => Some(f.job_token(1)),
                Credential::JobTokenAfterItsPhase => Some(f.job_token(2)),
                Credential::Admin => Some(api.admin.clone()),
            };
            let (status, body) =
                api.call(method.clone(), &path, token.as_deref(), f.body_for(template)).await;
            tried += 1;
            if status.as_u16() != want {
                failures.push(format!(
                    "{method} {path} ({scope:?}) with {credential:?}: {status}, want {want}: {body}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {tried} denials wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(tried > 500, "{tried}");

    // The allowed cells, made harmless: reads, and writes whose body is refused only after the
    // caller was let in. The rest (deletes, actions, uploads) mutate by nature: the happy-path
    // tests make them with the allowed credentials.
    let mut allowed = 0;
    let mut happy_path_only = Vec::new();
    for (method_name, template, _) in ENDPOINTS.iter() {
        let scope = scope_of(method_name, template);
        let method = Method::from_bytes(method_name.as_bytes()).unwrap();
        let path = f.concrete(template);
        for credential in CREDENTIALS {
            if expected(scope, credential).is_some() {
                continue;
            }
            // The public document ignores any token: tried without one and with the admin's.
            if scope == Scope::Public && !matches!(credential, Credential::None | Credential::Admin) {
                continue;
            }
            let Some((body, want)) = harmless_probe(method_name, template) else {
                happy_path_only.push(format!("{method_name} {template}"));
                continue;
            };
            let token = match credential {
                Credential::OrgToken => f.org_token.clone(),
                Credential::OtherOrgToken => f.other_token.clone(),
                Credential::AgentToken => f.agent.clone(),
                Credential::JobToken => f.job_token(0),
                Credential::JobTokenOfAnotherJob => f.job_token(1),
                Credential::Admin => api.admin.clone(),
                // Public: no token at all.
                Credential::None => String::new(),
                other => panic!("{other:?} is never allowed"),
            };
            let token = Some(token.as_str()).filter(|t| !t.is_empty());
            let (status, response) = api.call(method.clone(), &path, token, body).await;
            allowed += 1;
            if status.as_u16() != want {
                failures.push(format!(
                    "{method} {path} ({scope:?}) with {credential:?} (allowed): {status}, want {want}: {response}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {allowed} allowed calls wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    happy_path_only.dedup();
    println!(
        "authorization matrix: {tried} denials and {allowed} allowed calls from one table; {} endpoints only the happy-path tests call: {}",
        happy_path_only.len(),
        happy_path_only.join(", ")
    );
    // Nothing changed: the target job still runs, its run is still planning.
    let job = api.store.job(&f.job_id(0)).await.unwrap();
    assert_eq!(job.status.to_string(), "running");
}

/// HCP Terraform's workspace access levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Read,
    Plan,
    Write,
    Admin,
}

/// The level an endpoint about one workspace (its runs, variables, state, configurations,
/// access) needs — HCP Terraform's permission table, written here apart from the server's code.
/// `None`: the endpoint is not about one workspace.
fn level_needed(method: &str, template: &str) -> Option<Level> {
    let about_a_workspace = [
        "/api/v2/workspaces/",
        "/api/v2/runs",
        "/api/v2/plans/",
        "/api/v2/applies/",
        "/api/v2/state-version",
        "/api/v2/configuration-versions/",
        "/api/v2/run-events/",
        "/api/v2/organizations/{org}/workspaces/{name}",
        "/api/v2/team-workspaces",
    ];
    if !about_a_workspace.iter().any(|p| template.starts_with(p)) || template.contains("{signature}") {
        return None;
    }
    Some(match (method, template) {
        ("GET", "/api/v2/configuration-versions/{id}/download") => Level::Plan,
        ("GET", _) => Level::Read,
        ("POST", "/api/v2/workspaces/{id}/configuration-versions" | "/api/v2/runs" | "/api/v2/workspaces/{id}/runs")
        | ("PUT", "/api/v2/configuration-versions/{id}/upload")
        // The run is still planning: stopping it is what a planner may do.
        | ("POST", "/api/v2/runs/{id}/actions/cancel") => Level::Plan,
        ("POST", "/api/v2/runs/{id}/actions/apply" | "/api/v2/runs/{id}/actions/discard")
        | (_, "/api/v2/workspaces/{id}/vars" | "/api/v2/workspaces/{id}/vars/{var}")
        | ("POST", "/api/v2/workspaces/{id}/state-versions")
        | ("POST", "/api/v2/workspaces/{id}/actions/lock" | "/api/v2/workspaces/{id}/actions/unlock") => Level::Write,
        _ => Level::Admin,
    })
}

/// What a member of `acme` whose teams hold no organization permission gets on an endpoint that
/// is not about one workspace: `None` allowed, else the status.
fn member_gets(method: &str, template: &str) -> Option<u16> {
    match (method, template) {
        (_, p) if p.contains("{signature}") => Some(401),
        (_, p) if p.starts_with("/api/agent/") || p.starts_with("/api/v2/admin/") => Some(403),
        (
            "GET",
            "/api/v2/ping"
            | "/api/v2/openapi.json"
            | "/api/v2/organizations"
            | "/api/v2/account/details"
            | "/api/v2/account/sessions",
        ) => None,
        // The fixture's session is alice's: not theirs to end.
        ("DELETE", "/api/v2/account/sessions/{id}") => Some(404),
        // Another user's account does not exist for them.
        (_, p) if p.starts_with("/api/v2/users/") => Some(404),
        // Seen by every member (lists filtered to what they may see).
        (
            "GET",
            "/api/v2/organizations/{org}"
            | "/api/v2/organizations/{org}/entitlement-set"
            | "/api/v2/organizations/{org}/capacity"
            | "/api/v2/organizations/{org}/projects"
            | "/api/v2/organizations/{org}/workspaces"
            | "/api/v2/organizations/{org}/agent-pools"
            | "/api/v2/agent-pools/{id}"
            | "/api/v2/organizations/{org}/teams"
            | "/api/v2/teams/{id}",
        ) => None,
        // A project nobody gave them: it does not exist for them.
        (_, p) if p.starts_with("/api/v2/projects/") || p.starts_with("/api/v2/team-projects") => Some(404),
        _ => Some(403),
    }
}

/// Users × their teams' access × every endpoint: users whose teams give `read`, `plan`,
/// `write` or `admin` on the workspace `app` (and a team token of the `plan` team), a member
/// with no access, and a user in no team of the organization. Each endpoint about the workspace
/// needs its level ([`level_needed`]): below it 403 naming the permission, no access at all 404;
/// the rest of the organization as [`member_gets`] says; and the lists show only what each may
/// see.
async fn every_endpoint_decides_by_the_callers_teams(api: Api) {
    let f = fixture(&api).await;
    let mut callers: Vec<(String, Option<Level>, bool, String)> = Vec::new(); // name, level, member, token
    for (name, level) in [
        ("reader", Some(Level::Read)),
        ("planner", Some(Level::Plan)),
        ("writer", Some(Level::Write)),
        ("wsadmin", Some(Level::Admin)),
        ("bystander", None),
        ("stranger", None),
    ] {
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
        let token = api.ok(Method::POST, &format!("/api/v2/users/{user}/authentication-tokens"), None).await
            ["data"]["attributes"]["token"]
            .as_str()
            .unwrap()
            .to_owned();
        if name != "stranger" {
            let team = api
                .ok(
                    Method::POST,
                    "/api/v2/organizations/acme/teams",
                    Some(json!({"data":{"type":"teams","attributes":{"name":format!("t-{name}")}}})),
                )
                .await["data"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            api.ok(
                Method::POST,
                &format!("/api/v2/teams/{team}/relationships/users"),
                Some(json!({"data":[{"type":"users","id":name}]})),
            )
            .await;
            if let Some(level) = level {
                let access = format!("{level:?}").to_lowercase();
                api.ok(
                    Method::POST,
                    "/api/v2/team-workspaces",
                    Some(json!({"data":{"type":"team-workspaces","attributes":{"access":access},"relationships":{
                        "team":{"data":{"type":"teams","id":team}},"workspace":{"data":{"type":"workspaces","id":f.ws_id}}}}})),
                )
                .await;
            }
            if name == "planner" {
                let team_token = api
                    .ok(Method::POST, &format!("/api/v2/teams/{team}/authentication-tokens"), None)
                    .await["data"]["attributes"]["token"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                callers.push(("team token of t-planner".into(), level, true, team_token));
            }
        }
        callers.push((name.into(), level, name != "stranger", token));
    }

    let (mut tried, mut allowed) = (0, 0);
    let mut failures = Vec::new();
    for (method_name, template, _) in ENDPOINTS.iter() {
        if scope_of(method_name, template) == Scope::Public {
            continue;
        }
        let method = Method::from_bytes(method_name.as_bytes()).unwrap();
        let path = f.concrete(template);
        for (who, level, member, token) in &callers {
            let want: Option<u16> = match level_needed(method_name, template) {
                // A team's token is nobody's: it has no browser sessions.
                _ if who.starts_with("team token") && template.starts_with("/api/v2/account/sessions") => {
                    Some(403)
                }
                Some(needed) => match level {
                    Some(l) if *l >= needed => None,
                    Some(_) => Some(403),
                    None => Some(404),
                },
                None if *member => member_gets(method_name, template),
                None => match member_gets(method_name, template) {
                    // Outside the organization, all of it is "not found"; what is not the
                    // organization's stays as it is.
                    Some(403)
                        if !template.starts_with("/api/agent/")
                            && !template.starts_with("/api/v2/admin/")
                            && !matches!(
                                (*method_name, *template),
                                ("POST", "/api/v2/organizations")
                                    | ("PATCH" | "DELETE", "/api/v2/organizations/{org}")
                            ) =>
                    {
                        Some(404)
                    }
                    None if template.starts_with("/api/v2/organizations/{org}")
                        || template.starts_with("/api/v2/teams/")
                        || template.starts_with("/api/v2/agent-pools/") =>
                    {
                        Some(404)
                    }
                    other => other,
                },
            };
            match want {
                Some(status) => {
                    let (got, body) =
                        api.call(method.clone(), &path, Some(token), f.body_for(template)).await;
                    tried += 1;
                    if got.as_u16() != status {
                        failures.push(format!("{method} {path} as {who}: {got}, want {status}: {body}"));
                    } else if status == 403
                        && !template.starts_with("/api/agent/")
                        && !body.to_string().contains("needs")
                    {
                        failures.push(format!(
                            "{method} {path} as {who}: the 403 does not say what is needed: {body}"
                        ));
                    }
                }
                None => {
                    let Some((body, status)) = harmless_probe(method_name, template) else { continue };
                    let (got, response) = api.call(method.clone(), &path, Some(token), body).await;
                    allowed += 1;
                    if got.as_u16() != status {
                        failures.push(format!(
                            "{method} {path} as {who} (allowed): {got}, want {status}: {response}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(tried > 500 && allowed > 100, "{tried} denials, {allowed} allowed calls");
    println!("users × levels matrix: {tried} denials and {allowed} allowed calls");

    // The lists show each caller only what it may see.
    let token_of = |who: &str| callers.iter().find(|c| c.0 == who).unwrap().3.clone();
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["attributes"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, listed) =
        api.call(Method::GET, "/api/v2/organizations/acme/workspaces", Some(&token_of("reader")), None).await;
    assert_eq!(names(&listed), ["app"], "{listed}");
    assert_eq!(listed["meta"]["pagination"]["total-count"], 1, "{listed}");
    let (_, listed) = api
        .call(Method::GET, "/api/v2/organizations/acme/workspaces", Some(&token_of("bystander")), None)
        .await;
    assert!(names(&listed).is_empty(), "{listed}");
    let (_, listed) = api
        .call(Method::GET, "/api/v2/organizations/acme/projects", Some(&token_of("bystander")), None)
        .await;
    assert!(names(&listed).is_empty(), "{listed}");
    // A project the reader may not see is not included with the workspace.
    let (_, shown) = api
        .call(
            Method::GET,
            &format!("/api/v2/workspaces/{}?include=project", f.ws_id),
            Some(&token_of("reader")),
            None,
        )
        .await;
    assert!(shown.get("included").is_none_or(|i| i.as_array().unwrap().is_empty()), "{shown}");
    let (_, orgs) = api.call(Method::GET, "/api/v2/organizations", Some(&token_of("reader")), None).await;
    assert_eq!(names(&orgs), ["acme"], "{orgs}");
    let (_, orgs) = api.call(Method::GET, "/api/v2/organizations", Some(&token_of("stranger")), None).await;
    assert!(names(&orgs).is_empty(), "{orgs}");
    // The alice of the fixture's team devs sees every workspace of the project (read on it).
    // A planner plans but never applies: a run that would apply by itself is refused too.
    let auto = json!({"data":{"type":"runs","attributes":{"auto-apply":true},"relationships":{
        "workspace":{"data":{"type":"workspaces","id":f.ws_id}},
        "configuration-version":{"data":{"type":"configuration-versions","id":f.cv_id}}}}});
    let (status, refused) =
        api.call(Method::POST, "/api/v2/runs", Some(&token_of("planner")), Some(auto)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(refused.to_string().contains("runs: apply"), "{refused}");
    // Nothing changed: the target job still runs.
    assert_eq!(api.store.job(&f.job_id(0)).await.unwrap().status.to_string(), "running");
}

/// How an allowed call is made without changing anything, and the status it must get: a read
/// (with its status), or a write whose body is refused after authorization (400 on the agent
/// API, 422 on JSON:API documents). `None`: it changes things by nature (deletes, actions,
/// uploads, token creation) and only the happy-path tests make it.
fn harmless_probe(method: &str, template: &str) -> Option<(Option<Value>, u16)> {
    let not_a_document = json!({"data": "not an object"});
    match (method, template) {
        // A wrong signature is refused whoever asks; the right one is the happy path's.
        (_, p) if p.contains("{signature}") => None,
        // This server signs with key files: the managed-key API says so, after authorization.
        ("GET", "/api/v2/admin/signing-keys") => Some((None, 409)),
        // The workspace has a state; the job, a plan phase, has no saved plan yet.
        ("GET", "/api/agent/jobs/{id}/plan") => Some((None, 404)),
        // The team has no token yet.
        ("GET", "/api/v2/teams/{id}/authentication-token") => Some((None, 404)),
        // The run is still planning: no JSON plan yet.
        (
            "GET",
            "/api/v2/plans/{id}/json-output"
            | "/api/v2/runs/{id}/plan/json-output"
            | "/api/v2/plans/{id}/json-output-redacted"
            | "/api/v2/runs/{id}/plan/json-output-redacted",
        ) => Some((None, 404)),
        ("GET", _) => Some((None, 200)),
        // Refused by the state of things, after authorization: the workspace is not locked,
        // the run is still planning, the keys are files.
        ("POST", "/api/v2/workspaces/{id}/state-versions") => Some((Some(not_a_document), 409)),
        ("POST", "/api/v2/runs/{id}/actions/apply" | "/api/v2/runs/{id}/actions/discard") => {
            Some((None, 409))
        }
        ("POST", "/api/v2/workspaces/{id}/actions/unlock") => Some((None, 409)),
        (
            "POST",
            "/api/v2/admin/signing-keys/actions/rotate" | "/api/v2/admin/signing-keys/{kid}/actions/retire",
        ) => Some((None, 409)),
        ("POST", "/api/agent/jobs/claim" | "/api/agent/jobs/{id}/token" | "/api/agent/jobs/{id}/finish") => {
            Some((Some(json!({"agent": 1, "audience": 1, "outcome": 1})), 400))
        }
        ("POST", "/api/v2/organizations")
        | ("POST", "/api/v2/organizations/{org}/projects")
        | (
            "POST" | "PATCH",
            "/api/v2/organizations/{org}/workspaces" | "/api/v2/organizations/{org}/workspaces/{name}",
        )
        | ("PATCH", "/api/v2/workspaces/{id}" | "/api/v2/agent-pools/{id}")
        | ("POST", "/api/v2/organizations/{org}/agent-pools")
        | ("POST", "/api/v2/workspaces/{id}/vars" | "/api/v2/organizations/{org}/varsets" | "/api/v2/runs")
        | ("PATCH", "/api/v2/workspaces/{id}/vars/{var}" | "/api/v2/varsets/{id}/relationships/vars/{var}")
        | (
            "POST",
            "/api/v2/varsets/{id}/relationships/vars" | "/api/v2/varsets/{id}/relationships/workspaces",
        )
        | (
            "DELETE",
            "/api/v2/varsets/{id}/relationships/workspaces" | "/api/v2/varsets/{id}/relationships/projects",
        )
        | ("POST", "/api/v2/varsets/{id}/relationships/projects")
        | ("PATCH", "/api/v2/organizations/{org}" | "/api/v2/projects/{id}" | "/api/v2/varsets/{id}")
        | ("POST", "/api/v2/workspaces/{id}/runs")
        | (
            "POST",
            "/api/v2/organizations/{org}/teams" | "/api/v2/team-workspaces" | "/api/v2/team-projects",
        )
        | ("PATCH", "/api/v2/teams/{id}" | "/api/v2/team-workspaces/{id}" | "/api/v2/team-projects/{id}")
        | ("POST" | "DELETE", "/api/v2/teams/{id}/relationships/users")
        | ("POST", "/api/v2/admin/users" | "/api/v2/users/{id}/authentication-tokens")
        | ("POST", "/api/v2/teams/{id}/authentication-tokens" | "/api/v2/teams/{id}/authentication-token") => {
            Some((Some(not_a_document), 422))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- the bad-input catalogue

/// What a bad request sends.
enum Send {
    Json(Value),
    Raw(Vec<u8>),
}

/// One bad request: what, where, the status and a fragment of the message it must get.
struct Bad {
    what: &'static str,
    method: Method,
    path: String,
    token: String,
    send: Send,
    status: u16,
    detail: &'static str,
    /// The one row a refused upload may change (its configuration version, to `errored`).
    errors_cv: Option<String>,
}

fn gz_tar(build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

fn tar_entry(
    b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    kind: tar::EntryType,
    path: &str,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if let Some(l) = link {
        h.set_link_name(l).unwrap();
    }
    // set_path refuses '..' and absolute paths; write the raw name so the server sees them.
    let name = path.as_bytes();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Every kind of bad input the API takes, each refused with a 4xx and a message, and the store
/// byte-for-byte unchanged after each (every row of every table, `Store::dump`), except that a
/// refused configuration upload marks its version `errored`, as TFE does.
async fn bad_input_leaves_the_store_unchanged(api: Api) {
    let ok = |path: &str, body: Value| {
        let api = &api;
        let path = path.to_owned();
        async move { api.ok(Method::POST, &path, Some(body)).await }
    };
    ok("/api/v2/organizations", json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})).await;
    ok("/api/v2/organizations", json!({"data":{"type":"organizations","attributes":{"name":"other"}}})).await;
    let other_prj = ok(
        "/api/v2/organizations/other/projects",
        json!({"data":{"type":"projects","attributes":{"name":"Theirs"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = ok(
        "/api/v2/organizations/acme/workspaces",
        json!({"data":{"type":"workspaces","attributes":{"name":"app"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_ws = ok(
        "/api/v2/organizations/other/workspaces",
        json!({"data":{"type":"workspaces","attributes":{"name":"theirs"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &format!("/api/v2/workspaces/{ws}/vars"),
        json!({"data":{"type":"vars","attributes":{"key":"TFC_AWS_PROVIDER_AUTH","value":"true","category":"env"}}}),
    )
    .await;
    let varset = ok(
        "/api/v2/organizations/acme/varsets",
        json!({"data":{"type":"varsets","attributes":{"name":"shared"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An agent pool that a workspace uses, and another organization's.
    let pool = ok(
        "/api/v2/organizations/acme/agent-pools",
        json!({"data":{"type":"agent-pools","attributes":{"name":"prod"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_pool = ok(
        "/api/v2/organizations/other/agent-pools",
        json!({"data":{"type":"agent-pools","attributes":{"name":"theirs"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        "/api/v2/organizations/acme/workspaces",
        json!({"data":{"type":"workspaces","attributes":{"name":"on-agents","execution-mode":"agent","agent-pool-id":pool}}}),
    )
    .await;
    // A run whose plan job an agent holds, for the agent API's cases.
    let cv = ok(
        &format!("/api/v2/workspaces/{ws}/configuration-versions"),
        json!({"data":{"type":"configuration-versions","attributes":{"auto-queue-runs":true}}}),
    )
    .await;
    let r = api
        .http
        .put(cv["data"]["attributes"]["upload-url"].as_str().unwrap())
        .bearer_auth(&api.admin)
        .body(tarball(&[("main.tf", "")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let agent = api.ok(Method::POST, "/api/v2/organizations/acme/agent-tokens", None).await["data"]["attributes"]
        ["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, claimed) = api
        .call(
            Method::POST,
            "/api/agent/jobs/claim",
            Some(&agent),
            Some(json!({"agent":"a1","terraform_versions":["1.11.4"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let job = claimed["job"]["id"].as_str().unwrap().to_owned();
    let job_token = claimed["token"].as_str().unwrap().to_owned();
    // Pending configuration versions, one per hostile upload.
    let mut pending = Vec::new();
    for _ in 0..12 {
        let cv = ok(
            &format!("/api/v2/workspaces/{ws}/configuration-versions"),
            json!({"data":{"type":"configuration-versions"}}),
        )
        .await;
        pending.push((
            cv["data"]["id"].as_str().unwrap().to_owned(),
            cv["data"]["attributes"]["upload-url"].as_str().unwrap().to_owned(),
        ));
    }
    // A locked workspace, so state uploads reach validation.
    let locked = ok(
        "/api/v2/organizations/acme/workspaces",
        json!({"data":{"type":"workspaces","attributes":{"name":"locked"}}}),
    )
    .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.ok(Method::POST, &format!("/api/v2/workspaces/{locked}/actions/lock"), None).await;

    // The user API cases run as acme's organization token: "another organization" is real for it.
    let admin = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/authentication-token",
            Some(json!({"data":{"type":"authentication-tokens","attributes":{"description":"bad input"}}})),
        )
        .await["data"]["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let json_case = |what, method, path: String, body: Value, status, detail| Bad {
        what,
        method,
        path,
        token: admin.clone(),
        send: Send::Json(body),
        status,
        detail,
        errors_cv: None,
    };
    let raw_case = |what, method, path: String, body: Vec<u8>, status, detail| Bad {
        what,
        method,
        path,
        token: admin.clone(),
        send: Send::Raw(body),
        status,
        detail,
        errors_cv: None,
    };
    let workspaces = "/api/v2/organizations/acme/workspaces".to_owned();
    let vars = format!("/api/v2/workspaces/{ws}/vars");
    let states = format!("/api/v2/workspaces/{locked}/state-versions");
    let state_doc = |state: &[u8], extra: Value| {
        use base64::Engine as _;
        let mut attributes =
            json!({"serial": 1, "state": base64::engine::general_purpose::STANDARD.encode(state)});
        if let (Some(a), Value::Object(e)) = (attributes.as_object_mut(), extra) {
            a.extend(e);
        }
        json!({"data":{"type":"state-versions","attributes":attributes}})
    };
    let good_state = br#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"abc","outputs":{},"resources":[]}"#;
    let huge_value = "v".repeat(tern_store::MAX_VALUE_BYTES + 1);
    let mut cases = vec![
        // JSON:API payloads
        raw_case(
            "body is not JSON",
            Method::POST,
            workspaces.clone(),
            b"{\"data\":".to_vec(),
            400,
            "not a JSON document",
        ),
        raw_case(
            "body is not UTF-8",
            Method::POST,
            workspaces.clone(),
            vec![0xff, 0xfe, 0x7b],
            400,
            "not a JSON document",
        ),
        raw_case("body is empty", Method::POST, workspaces.clone(), Vec::new(), 400, "not a JSON document"),
        raw_case("body over 1 MiB", Method::POST, workspaces.clone(), vec![b' '; 1024 * 1024 + 1], 413, ""),
        json_case("no data object", Method::POST, workspaces.clone(), json!([1, 2]), 422, "\"data\" object"),
        json_case(
            "data is a string",
            Method::POST,
            workspaces.clone(),
            json!({"data":"workspaces"}),
            422,
            "\"data\" object",
        ),
        json_case(
            "no type",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"attributes":{"name":"x"}}}),
            422,
            "\"type\" must be",
        ),
        json_case(
            "wrong type",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"vars","attributes":{"name":"x"}}}),
            422,
            "expected type",
        ),
        json_case(
            "name is a number",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":7}}}),
            422,
            "must be a string",
        ),
        json_case(
            "attributes are a list",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":["name"]}}),
            422,
            "name is required",
        ),
        json_case(
            "name with a colon",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"a:b"}}}),
            422,
            "':'",
        ),
        json_case(
            "name too long",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"n".repeat(300)}}}),
            422,
            "long",
        ),
        json_case(
            "name taken",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"app"}}}),
            409,
            "app",
        ),
        json_case(
            "auto-apply as a string",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","auto-apply":"true"}}}),
            422,
            "true or false",
        ),
        json_case(
            "timeout as a string",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","plan-timeout":"10m"}}}),
            422,
            "integer",
        ),
        json_case(
            "timeout negative",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","plan-timeout":-1}}}),
            422,
            "timeout",
        ),
        json_case(
            "timeout over the maximum",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","apply-timeout":10_000_000}}}),
            422,
            "timeout",
        ),
        json_case(
            "working directory escapes",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","working-directory":"../up"}}}),
            422,
            "relative path",
        ),
        // Terraform versions, not programs; agent pools of the workspace's organization.
        json_case(
            "terraform-bin names a program",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-bin":"/bin/sh"}}}),
            422,
            "terraform-bin was removed",
        ),
        json_case(
            "terraform-bin on an update",
            Method::PATCH,
            format!("/api/v2/workspaces/{ws}"),
            json!({"data":{"type":"workspaces","attributes":{"terraform-bin":"tofu"}}}),
            422,
            "terraform-bin was removed",
        ),
        json_case(
            "terraform-version is a path",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","terraform-version":"/bin/sh"}}}),
            422,
            "not an exact version",
        ),
        json_case(
            "terraform-version is a constraint",
            Method::PATCH,
            format!("/api/v2/workspaces/{ws}"),
            json!({"data":{"type":"workspaces","attributes":{"terraform-version":">= 1.0.0"}}}),
            422,
            "constraints are not supported",
        ),
        json_case(
            "agent mode without a pool",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","execution-mode":"agent"}}}),
            422,
            "needs agent-pool-id",
        ),
        json_case(
            "agent mode with another organization's pool",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x","execution-mode":"agent","agent-pool-id":other_pool}}}),
            422,
            "no such agent pool",
        ),
        json_case(
            "agent pool on a remote workspace",
            Method::PATCH,
            format!("/api/v2/workspaces/{ws}"),
            json!({"data":{"type":"workspaces","relationships":{"agent-pool":{"data":{"type":"agent-pools","id":pool}}}}}),
            422,
            "goes with execution-mode \"agent\" only",
        ),
        json_case(
            "agent pool without a name",
            Method::POST,
            "/api/v2/organizations/acme/agent-pools".into(),
            json!({"data":{"type":"agent-pools","attributes":{"name":""}}}),
            422,
            "1 to 90 printable characters",
        ),
        raw_case(
            "agent pool deleted while a workspace uses it",
            Method::DELETE,
            format!("/api/v2/agent-pools/{pool}"),
            Vec::new(),
            422,
            "is used by workspace \"on-agents\"",
        ),
        json_case(
            "project relationship without id",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x"},"relationships":{"project":{"data":{"type":"projects"}}}}}),
            422,
            "needs an id",
        ),
        json_case(
            "project that does not exist",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x"},"relationships":{"project":{"data":{"type":"projects","id":"prj-AAAAAAAAAAAAAAAA"}}}}}),
            404,
            "not found",
        ),
        json_case(
            "another organization's project",
            Method::POST,
            workspaces.clone(),
            json!({"data":{"type":"workspaces","attributes":{"name":"x"},"relationships":{"project":{"data":{"type":"projects","id":other_prj}}}}}),
            404,
            "not found",
        ),
        // Variables
        json_case(
            "variable without a key",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"value":"v","category":"env"}}}),
            422,
            "key",
        ),
        json_case(
            "variable key with a space",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A B","value":"v","category":"env"}}}),
            422,
            "key",
        ),
        json_case(
            "environment variable key with '='",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A=B","value":"v","category":"env"}}}),
            422,
            "key",
        ),
        json_case(
            "unknown category",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A","value":"v","category":"secret"}}}),
            422,
            "not one of",
        ),
        json_case(
            "sensitive as a string",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A","value":"v","category":"env","sensitive":"yes"}}}),
            422,
            "true or false",
        ),
        json_case(
            "value not a string",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A","value":{"nested":1},"category":"env"}}}),
            422,
            "must be a string",
        ),
        json_case(
            "value too large",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"A","value":huge_value,"category":"env"}}}),
            422,
            "bytes",
        ),
        json_case(
            "the same key twice",
            Method::POST,
            vars.clone(),
            json!({"data":{"type":"vars","attributes":{"key":"TFC_AWS_PROVIDER_AUTH","value":"false","category":"env"}}}),
            409,
            "TFC_AWS_PROVIDER_AUTH",
        ),
        json_case(
            "variable set: workspace list is an object",
            Method::POST,
            format!("/api/v2/varsets/{varset}/relationships/workspaces"),
            json!({"data":{"type":"workspaces","id":ws}}),
            422,
            "must be a list",
        ),
        json_case(
            "variable set: workspace without id",
            Method::POST,
            format!("/api/v2/varsets/{varset}/relationships/workspaces"),
            json!({"data":[{"type":"workspaces"}]}),
            422,
            "id is required",
        ),
        json_case(
            "variable set: another organization's workspace",
            Method::POST,
            format!("/api/v2/varsets/{varset}/relationships/workspaces"),
            json!({"data":[{"type":"workspaces","id":other_ws}]}),
            404,
            "not found",
        ),
        // Runs
        json_case(
            "run without a workspace",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"message":"x"}}}),
            422,
            "workspace",
        ),
        json_case(
            "run in another organization's workspace",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","relationships":{"workspace":{"data":{"type":"workspaces","id":other_ws}}}}}),
            404,
            "not found",
        ),
        json_case(
            "run with a configuration version that does not exist",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","relationships":{"workspace":{"data":{"type":"workspaces","id":ws}},"configuration-version":{"data":{"type":"configuration-versions","id":"cv-AAAAAAAAAAAAAAAA"}}}}}),
            404,
            "not found",
        ),
        json_case(
            "run variables that are not a list",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"variables":{"a":"1"}},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "variables must be a list",
        ),
        json_case(
            "a run variable whose value defines a second one",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"variables":[{"key":"a","value":"1\nb = 2"}]},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "not one HCL expression",
        ),
        json_case(
            "a run variable with an invalid name",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"variables":[{"key":"a b","value":"1"}]},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "not a Terraform variable name",
        ),
        json_case(
            "a run variable whose heredoc ends at a line Terraform trims differently",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"variables":[{"key":"a","value":"<<EOF\n\u{a0}EOF\nextra = \"x\"\nz = <<EOF\nEOF"}]},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "not one HCL expression",
        ),
        json_case(
            "a run with allow-empty-apply, which tern does not support yet",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"allow-empty-apply":true},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "does not support allow-empty-apply",
        ),
        json_case(
            "a saved plan that is speculative",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"save-plan":true,"plan-only":true},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "save-plan cannot be combined with plan-only",
        ),
        json_case(
            "a run target that is not an address",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","attributes":{"target-addrs":["a\nb"]},"relationships":{"workspace":{"data":{"type":"workspaces","id":ws}}}}}),
            422,
            "not a resource address",
        ),
        json_case(
            "run with a pending configuration version",
            Method::POST,
            "/api/v2/runs".into(),
            json!({"data":{"type":"runs","relationships":{"workspace":{"data":{"type":"workspaces","id":ws}},"configuration-version":{"data":{"type":"configuration-versions","id":pending[0].0}}}}}),
            409,
            "is pending",
        ),
        // State uploads
        json_case(
            "state not base64",
            Method::POST,
            states.clone(),
            json!({"data":{"type":"state-versions","attributes":{"serial":1,"state":"%%%"}}}),
            422,
            "base64",
        ),
        json_case(
            "state not JSON",
            Method::POST,
            states.clone(),
            state_doc(b"not json", json!({})),
            422,
            "state",
        ),
        json_case(
            "state md5 does not match",
            Method::POST,
            states.clone(),
            state_doc(good_state, json!({"md5":"00000000000000000000000000000000"})),
            422,
            "md5",
        ),
        json_case(
            "state serial does not match",
            Method::POST,
            states.clone(),
            state_doc(good_state, json!({"serial":2})),
            422,
            "serial",
        ),
        json_case(
            "state lineage does not match",
            Method::POST,
            states.clone(),
            state_doc(good_state, json!({"lineage":"other"})),
            422,
            "lineage",
        ),
        json_case(
            "state over 64 MiB",
            Method::POST,
            states.clone(),
            state_doc(&vec![b' '; tern_store::MAX_STATE_BYTES + 1], json!({})),
            422,
            "at most",
        ),
        json_case(
            "state in another organization's workspace",
            Method::POST,
            format!("/api/v2/workspaces/{other_ws}/state-versions"),
            state_doc(good_state, json!({})),
            404,
            "not found",
        ),
        // The agent API
        Bad {
            token: agent.clone(),
            ..json_case(
                "claim: agent name with a newline",
                Method::POST,
                "/api/agent/jobs/claim".into(),
                json!({"agent":"a\nb"}),
                400,
                "agent must be",
            )
        },
        Bad {
            token: agent.clone(),
            ..json_case(
                "claim: an agent that does not say its Terraform versions",
                Method::POST,
                "/api/agent/jobs/claim".into(),
                json!({"agent":"old"}),
                400,
                "terraform_versions is missing",
            )
        },
        Bad {
            token: agent.clone(),
            ..json_case(
                "claim: a Terraform version that is not one",
                Method::POST,
                "/api/agent/jobs/claim".into(),
                json!({"agent":"a","terraform_versions":["latest"]}),
                400,
                "not an exact version",
            )
        },
        Bad {
            token: agent.clone(),
            ..json_case(
                "claim: wrong field type",
                Method::POST,
                "/api/agent/jobs/claim".into(),
                json!({"agent":1}),
                400,
                "agent: invalid type",
            )
        },
        Bad {
            token: job_token.clone(),
            ..json_case(
                "mint: no audience",
                Method::POST,
                format!("/api/agent/jobs/{job}/token"),
                json!({"ttl_seconds":600}),
                400,
                "audience",
            )
        },
        Bad {
            token: job_token.clone(),
            ..json_case(
                "mint: empty audience",
                Method::POST,
                format!("/api/agent/jobs/{job}/token"),
                json!({"audience":"","ttl_seconds":600}),
                400,
                "audience",
            )
        },
        Bad {
            token: job_token.clone(),
            ..json_case(
                "mint: negative lifetime",
                Method::POST,
                format!("/api/agent/jobs/{job}/token"),
                json!({"audience":"a","ttl_seconds":-1}),
                400,
                "ttl_seconds: invalid value",
            )
        },
        Bad {
            token: job_token.clone(),
            ..json_case(
                "mint: lifetime as a string",
                Method::POST,
                format!("/api/agent/jobs/{job}/token"),
                json!({"audience":"a","ttl_seconds":"15m"}),
                400,
                "ttl_seconds: invalid type",
            )
        },
        Bad {
            token: job_token.clone(),
            ..json_case(
                "finish: unknown outcome",
                Method::POST,
                format!("/api/agent/jobs/{job}/finish"),
                json!({"outcome":"exploded"}),
                400,
                "outcome",
            )
        },
        Bad {
            token: job_token.clone(),
            ..raw_case(
                "log chunk over 1 MiB",
                Method::POST,
                format!("/api/agent/jobs/{job}/logs"),
                vec![b'x'; 1024 * 1024 + 1],
                413,
                "",
            )
        },
        Bad {
            token: job_token.clone(),
            ..raw_case(
                "plan file over the upload limit",
                Method::PUT,
                format!("/api/agent/jobs/{job}/plan"),
                vec![0; 256 * 1024 + 1],
                413,
                "",
            )
        },
    ];
    // Configuration tarballs, each on its own pending version.
    let tarballs: Vec<(&'static str, Vec<u8>, u16, &'static str)> = vec![
        ("tarball: not gzip", b"main.tf".to_vec(), 422, "not a readable"),
        (
            "tarball: truncated",
            {
                let t = tarball(&[("main.tf", "# x\n")]);
                t[..t.len() / 2].to_vec()
            },
            422,
            "not a readable",
        ),
        (
            "tarball: path traversal",
            gz_tar(|b| tar_entry(b, tar::EntryType::Regular, "../escape.tf", None, b"x")),
            422,
            "'..'",
        ),
        (
            "tarball: absolute path",
            gz_tar(|b| tar_entry(b, tar::EntryType::Regular, "/etc/cron.d/x", None, b"x")),
            422,
            "absolute",
        ),
        (
            "tarball: symlink out of the directory",
            gz_tar(|b| tar_entry(b, tar::EntryType::Symlink, "up", Some("../../etc"), b"")),
            422,
            "outside the configuration",
        ),
        (
            "tarball: absolute symlink",
            gz_tar(|b| tar_entry(b, tar::EntryType::Symlink, "passwd", Some("/etc/passwd"), b"")),
            422,
            "outside the configuration",
        ),
        (
            "tarball: hard link",
            gz_tar(|b| {
                tar_entry(b, tar::EntryType::Regular, "a.tf", None, b"x");
                tar_entry(b, tar::EntryType::Link, "b.tf", Some("/etc/shadow"), b"")
            }),
            422,
            "hard link",
        ),
        (
            "tarball: character device",
            gz_tar(|b| tar_entry(b, tar::EntryType::Char, "null", None, b"")),
            422,
            "character device",
        ),
        ("tarball: FIFO", gz_tar(|b| tar_entry(b, tar::EntryType::Fifo, "pipe", None, b"")), 422, "FIFO"),
        (
            "tarball: too many files",
            gz_tar(|b| {
                for i in 0..1001 {
                    tar_entry(b, tar::EntryType::Regular, &format!("f{i}.tf"), None, b"")
                }
            }),
            422,
            "more than 1000 entries",
        ),
        (
            "tarball: gzip bomb",
            gz_tar(|b| tar_entry(b, tar::EntryType::Regular, "bomb.tf", None, &vec![0; 9 * 1024 * 1024])),
            422,
            "more than 8388608 bytes",
        ),
        ("tarball: over the upload limit", vec![0; 256 * 1024 + 1], 413, ""),
    ];
    assert_eq!(tarballs.len(), pending.len());
    for ((what, body, status, detail), (cv, url)) in tarballs.into_iter().zip(&pending) {
        let path = url.strip_prefix(&api.base).unwrap().to_owned();
        cases.push(Bad {
            errors_cv: (status != 413).then(|| cv.clone()),
            ..raw_case(what, Method::PUT, path, body, status, detail)
        });
    }

    let mut before = api.store.dump().await.unwrap();
    for case in &cases {
        // A fresh connection each time: the server closes one whose body it refused to read.
        let mut r = reqwest::Client::new().request(case.method.clone(), format!("{}{}", api.base, case.path));
        r = r.bearer_auth(&case.token);
        r = match &case.send {
            Send::Json(v) => r.header("content-type", "application/vnd.api+json").body(v.to_string()),
            Send::Raw(b) => r.body(b.clone()),
        };
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, case.status, "{}: {text}", case.what);
        if !case.detail.is_empty() {
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", case.what));
            let detail = v["errors"][0]["detail"].as_str().unwrap_or_else(|| panic!("{}: {v}", case.what));
            assert!(detail.contains(case.detail), "{}: {detail:?} lacks {:?}", case.what, case.detail);
        }
        let after = api.store.dump().await.unwrap();
        let changed = changed_rows(&before, &after);
        match &case.errors_cv {
            None => assert!(changed.is_empty(), "{}: the store changed: {changed:#?}", case.what),
            Some(cv) => assert!(
                changed.len() == 2
                    && changed.iter().all(|r| r.contains(cv.as_str()))
                    && changed[1].contains("errored"),
                "{}: only {cv} may change, to errored: {changed:#?}",
                case.what
            ),
        }
        before = after;
    }
    println!("bad-input catalogue: {} cases refused, store unchanged after each", cases.len());
}

/// Rows removed then rows added between two dumps, as `table: row`.
fn changed_rows(before: &[(String, Vec<String>)], after: &[(String, Vec<String>)]) -> Vec<String> {
    let set = |d: &[(String, Vec<String>)]| -> std::collections::BTreeSet<String> {
        d.iter().flat_map(|(t, rows)| rows.iter().map(move |r| format!("{t}: {r}"))).collect()
    };
    let (mut b, mut a) = (set(before), set(after));
    // A token that authenticated was used: recording when (at most every 15 s, so only in a
    // slow run) is not a change the refused request made. A token row that differs only in
    // one timestamp that was set or grew is that record.
    let last_use_only = |old: &str, new: &str| {
        let (o, n): (Vec<&str>, Vec<&str>) = (old.split('|').collect(), new.split('|').collect());
        let differing: Vec<usize> = (0..o.len()).filter(|&i| o.get(i) != n.get(i)).collect();
        old.starts_with("tokens: ")
            && o.len() == n.len()
            && differing.len() == 1
            && n[differing[0]].parse::<i64>().is_ok_and(|y| {
                o[differing[0]] == "NULL" || o[differing[0]].parse::<i64>().is_ok_and(|x| y > x)
            })
    };
    let pairs: Vec<(String, String)> = b
        .difference(&a)
        .filter_map(|old| {
            a.difference(&b).find(|new| last_use_only(old, new)).map(|new| (old.clone(), new.clone()))
        })
        .collect();
    for (old, new) in pairs {
        b.remove(&old);
        a.remove(&new);
    }
    b.difference(&a).map(|r| format!("- {r}")).chain(a.difference(&b).map(|r| format!("+ {r}"))).collect()
}

/// A signed-in browser's GET or form POST (`cookie`: the session secret, `None`: no session).
async fn page(
    api: &Api,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    form: Option<&[(&str, &str)]>,
    origin: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut r = http.request(method, format!("{}{path}", api.base));
    if let Some(c) = cookie {
        r = r.header("cookie", format!("tern_session={c}"));
    }
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    if let Some(f) = form {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in f {
            body.append_pair(k, v);
        }
        r = r.header("content-type", "application/x-www-form-urlencoded").body(body.finish());
    }
    let response = r.send().await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), location)
}

/// The CSRF token a page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token")
        + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// The web UI over the application layer: a reader sees the run, its log and plan but no
/// Confirm button, and a forged or a reader's post is refused (403, run unchanged); an owner
/// confirms with a comment and the page says who did; tenant text is escaped; sensitive outputs
/// never reach a page; Terraform's printed run link opens the run.
async fn the_web_ui_shows_runs_and_decides_as_the_api_does(api: Api) {
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
    let owners = api.ok(Method::GET, "/api/v2/organizations/acme/teams?filter[names]=owners", None).await["data"][0]["id"].as_str().unwrap().to_owned();
    let readers = id_of(
        &api.ok(
            Method::POST,
            "/api/v2/organizations/acme/teams",
            Some(json!({"data":{"type":"teams","attributes":{"name":"ui-readers"}}})),
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
    for (name, team) in [("olivia", Some(&owners)), ("rita", Some(&readers)), ("nobody", None)] {
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
    let (olivia, rita, nobody) = (&sessions[0], &sessions[1], &sessions[2]);

    // A state with a sensitive output, and a run planned by an agent with a log and a JSON plan.
    let state = r#"{"version":4,"serial":1,"lineage":"L","outputs":{"endpoint":{"value":"https://web.example","type":"string"},"db_password":{"value":"s3cr3t-never-shown","type":"string","sensitive":true}},"resources":[{"mode":"managed","type":"null_resource","name":"web","instances":[{"attributes":{}}]}]}"#;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/lock"), None).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/state-versions"), Some(json!({"data":{"type":"state-versions","attributes":{"serial":1,"md5":tern_store::md5_hex(state.as_bytes()),"lineage":"L","state":base64::engine::general_purpose::STANDARD.encode(state)}}}))).await;
    api.ok(Method::POST, &format!("/api/v2/workspaces/{ws}/actions/unlock"), None).await;
    let run = queued_run(&api, &ws).await;
    let (_, claimed) = claim_in_acme(&api).await;
    let (job, job_token) = (claimed.job.id.clone(), claimed.token.expose_secret().to_owned());
    let put = |path: String, bytes: Vec<u8>| {
        let (api, job_token) = (&api, &job_token);
        async move {
            let r = api
                .http
                .request(
                    if path.ends_with("/logs") { Method::POST } else { Method::PUT },
                    format!("{}{path}", api.base),
                )
                .bearer_auth(job_token)
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
        }
    };
    // While it plans, the run page follows it: the page shows the log so far, and its event
    // stream sends only what comes after, then the status, then the end once it is planned; a
    // reconnect with Last-Event-ID repeats nothing.
    put(format!("/api/agent/jobs/{job}/logs"), b"Initializing the backend...\n".to_vec()).await;
    let (status, live, _) =
        page(&api, Method::GET, &format!("/app/acme/workspaces/web/runs/{run}"), Some(rita), None, None)
            .await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert!(live.contains("Initializing the backend") && live.contains("http-equiv=\"refresh\""), "{live}");
    let events = live
        .split("data-events=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let follow = |last: Option<String>| {
        let (api, events, rita) = (&api, events.clone(), rita.clone());
        async move {
            let mut r = api
                .http
                .get(format!("{}{events}", api.base))
                .header("cookie", format!("tern_session={rita}"));
            if let Some(id) = last {
                r = r.header("last-event-id", id);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.headers()["content-type"], "text/event-stream");
            r
        }
    };
    let mut stream = follow(None).await;
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "event: status").await;
    put(format!("/api/agent/jobs/{job}/logs"), b"\x1b[1mPlan:\x1b[0m 1 to add <b>bold</b>\n".to_vec()).await;
    read_until(&mut stream, &mut seen, "1 to add").await;
    assert!(
        !seen.contains("Initializing") && !seen.contains("\\u001b"),
        "the stream repeated what the page shows, or sent escapes: {seen}"
    );
    // Terminal colours arrive as classes beside the text; markup stays text.
    assert!(seen.contains(r#"[["Plan:","t-b"],[" 1 to add <b>bold</b>\n",""]]"#), "{seen}");
    // A stream of a session that ends (signed out elsewhere) stops following within seconds,
    // not at the stream's five-minute end.
    let (_, reader) = api.store.session(rita, 3600).await.unwrap().unwrap();
    let (_, second) = api.store.create_session(&reader.id, api.store.unix_now() + 3600, None).await.unwrap();
    let second = second.expose_secret().to_owned();
    let mut doomed = api
        .http
        .get(format!("{}{events}", api.base))
        .header("cookie", format!("tern_session={second}"))
        .send()
        .await
        .unwrap();
    let mut doomed_seen = String::new();
    read_until(&mut doomed, &mut doomed_seen, "event: status").await;
    assert!(api.store.end_session(&second, None).await.unwrap());
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(c) = doomed.chunk().await.unwrap() {
            doomed_seen.push_str(&String::from_utf8_lossy(&c));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream of an ended session still follows: {doomed_seen}");
    let last_id = seen.lines().filter_map(|l| l.strip_prefix("id: ")).next_back().unwrap().to_owned();
    let plan = br#"{"format_version":"1.2","resource_changes":[{"address":"null_resource.new","mode":"managed","type":"null_resource","name":"new","change":{"actions":["create"]}}]}"#;
    put(format!("/api/agent/jobs/{job}/plan"), b"planfile".to_vec()).await;
    put(format!("/api/agent/jobs/{job}/plan-json"), plan.to_vec()).await;
    let structured = br#"{"plan_format_version":"1.2","resource_changes":[{"address":"null_resource.new","mode":"managed","type":"null_resource","name":"new","change":{"actions":["create"]}}]}"#;
    put(format!("/api/agent/jobs/{job}/plan-json-redacted"), structured.to_vec()).await;
    let finish =
        protocol::FinishRequest { outcome: protocol::Outcome::Succeeded, has_changes: true, reason: None };
    let (status, done) =
        api.call(Method::POST, &protocol::job_path(&job, "/finish"), Some(&job_token), body(&finish)).await;
    assert_eq!(
        (status, typed::<protocol::FinishResponse>(&done).run_status.as_str()),
        (StatusCode::OK, "planned")
    );
    read_until(&mut stream, &mut seen, "event: end").await;
    assert!(seen.contains("\"status\":\"planned\""), "{seen}");
    let mut resumed = follow(Some(last_id)).await;
    let mut again = String::new();
    read_until(&mut resumed, &mut again, "event: end").await;
    assert!(!again.contains("1 to add"), "a reconnect repeated a line: {again}");

    // No session: to the sign-in page, coming back here.
    let (status, _, to) = page(&api, Method::GET, "/app/acme/workspaces?search=w", None, None, None).await;
    assert_eq!(
        (status, to.as_deref()),
        (StatusCode::SEE_OTHER, Some("/app/sign-in?return_to=%2Fapp%2Facme%2Fworkspaces%3Fsearch%3Dw"))
    );
    // Organizations and workspaces a person may see; someone in no team sees none.
    let (status, home, _) = page(&api, Method::GET, "/app", Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{home}");
    assert!(home.contains(r#"<a href="/app/acme/workspaces">acme</a>"#), "{home}");
    let (_, home, _) = page(&api, Method::GET, "/app", Some(nobody), None, None).await;
    assert!(!home.contains("/app/acme/"), "{home}");
    // Many organizations: a member sees theirs only; a site administrator sees all, 25 a page.
    for i in 0..30 {
        api.ok(
            Method::POST,
            "/api/v2/organizations",
            Some(json!({"data":{"type":"organizations","attributes":{"name":format!("zz-org-{i:02}")}}})),
        )
        .await;
    }
    let (_, home, _) = page(&api, Method::GET, "/app", Some(rita), None, None).await;
    assert!(home.contains("/app/acme/workspaces") && !home.contains("zz-org-"), "{home}");
    let admin_user = api.store.user_by_name("nobody").await.unwrap();
    api.ok(Method::POST, &format!("/api/v2/admin/users/{}/actions/grant_admin", admin_user.id), None).await;
    let (_, home, _) = page(&api, Method::GET, "/app", Some(nobody), None, None).await;
    assert!(
        home.contains("Page 1 of 2") && home.contains("href=\"/app?page=2\"") && !home.contains("zz-org-29"),
        "{home}"
    );
    let (_, home, _) = page(&api, Method::GET, "/app?page=2", Some(nobody), None, None).await;
    assert!(home.contains("/app/zz-org-29/workspaces") && !home.contains("/app/acme/"), "{home}");
    api.ok(Method::POST, &format!("/api/v2/admin/users/{}/actions/revoke_admin", admin_user.id), None).await;
    assert_eq!(
        page(&api, Method::GET, "/app/acme/workspaces", Some(nobody), None, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, list, _) = page(&api, Method::GET, "/app/acme/workspaces", Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(
        list.contains(">web</a>") && list.contains(">planned</span>") && list.contains("1 workspace<"),
        "{list}"
    );
    let (_, none, _) =
        page(&api, Method::GET, "/app/acme/workspaces?status=applied", Some(rita), None, None).await;
    assert!(none.contains("0 workspaces<"), "{none}");
    assert_eq!(
        page(&api, Method::GET, "/app/acme/workspaces?status=nonsense", Some(rita), None, None).await.0,
        StatusCode::BAD_REQUEST
    );

    // The workspace: outputs without the sensitive value, resources.
    let (status, overview, _) =
        page(&api, Method::GET, "/app/acme/workspaces/web", Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert!(overview.contains("https://web.example") && overview.contains("db_password"), "{overview}");
    assert!(!overview.contains("s3cr3t-never-shown"), "a sensitive output reached a page");
    let (_, owners_view, _) =
        page(&api, Method::GET, "/app/acme/workspaces/web", Some(olivia), None, None).await;
    assert!(
        owners_view.contains("null_resource.web") && !owners_view.contains("s3cr3t-never-shown"),
        "{owners_view}"
    );
    assert!(overview.contains("null_resource.web"), "read access includes the state (as in TFE)");

    // The run: a reader sees the log (escapes gone, HTML escaped) and the plan, no buttons.
    let run_page = format!("/app/acme/workspaces/web/runs/{run}");
    let (status, seen, _) = page(&api, Method::GET, &run_page, Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(
        seen.contains(r#"<span class="t-b">Plan:</span> 1 to add &#60;b&#62;bold&#60;/b&#62;"#)
            || seen.contains(r#"<span class="t-b">Plan:</span> 1 to add &lt;b&gt;bold&lt;/b&gt;"#),
        "{seen}"
    );
    assert!(!seen.contains("<b>bold</b>") && !seen.contains('\u{1b}'), "{seen}");
    assert!(seen.contains("+1 to add") && seen.contains("null_resource.new"), "{seen}");
    assert!(
        !seen.contains("confirm-apply") && !seen.contains("run-actions"),
        "a reader is offered no action"
    );
    let rita_csrf = csrf_of(&seen);
    let act = format!("{run_page}/actions");
    let (status, refused, _) =
        page(&api, Method::POST, &act, Some(rita), Some(&[("csrf", &rita_csrf), ("action", "apply")]), None)
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a reader's own form post: {refused}");
    assert_eq!(run_status(&api, &run).await, "planned");

    // An owner is offered Confirm & apply; a post without the session's CSRF token, or from
    // another origin, is refused; then confirming works and the timeline says who.
    let (_, seen, _) = page(&api, Method::GET, &run_page, Some(olivia), None, None).await;
    assert!(seen.contains("id=\"confirm-apply\"") && seen.contains("id=\"discard\""), "{seen}");
    let csrf = csrf_of(&seen);
    for (token, origin) in
        [(rita_csrf.as_str(), None), ("", None), (csrf.as_str(), Some("https://evil.example"))]
    {
        let (status, _, _) = page(
            &api,
            Method::POST,
            &act,
            Some(olivia),
            Some(&[("csrf", token), ("action", "apply")]),
            origin,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "forged post (token {token:?}, origin {origin:?})");
    }
    assert_eq!(
        page(&api, Method::POST, &act, None, Some(&[("csrf", &csrf), ("action", "apply")]), None).await.0,
        StatusCode::SEE_OTHER,
        "no session: to sign-in"
    );
    assert_eq!(run_status(&api, &run).await, "planned", "nothing forged changed the run");
    let (status, _, to) = page(
        &api,
        Method::POST,
        &act,
        Some(olivia),
        Some(&[("csrf", &csrf), ("action", "apply"), ("comment", "ship <it>")]),
        Some(&api.base),
    )
    .await;
    assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some(run_page.as_str())));
    assert_eq!(run_status(&api, &run).await, "confirmed");
    let (_, seen, _) = page(&api, Method::GET, &run_page, Some(rita), None, None).await;
    assert!(
        seen.contains("by olivia: “ship &#60;it&#62;”") || seen.contains("by olivia: “ship &lt;it&gt;”"),
        "{seen}"
    );
    let trail =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?filter[action]=run.applied", None).await;
    assert_eq!(trail["data"][0]["attributes"]["actor"], "olivia", "{trail}");

    // Variables: a reader sees them but no form, and a reader's post is refused; an owner adds
    // a plain and a sensitive one, changes and deletes; the sensitive value reaches no page and
    // no audit record.
    let vars_page = "/app/acme/workspaces/web/variables";
    let (status, seen, _) = page(&api, Method::GET, vars_page, Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(!seen.contains("id=\"add-variable\""), "{seen}");
    let reader_form = [("csrf", rita_csrf.as_str()), ("key", "sneaky"), ("value", "x"), ("category", "env")];
    assert_eq!(
        page(&api, Method::POST, vars_page, Some(rita), Some(&reader_form), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, seen, _) = page(&api, Method::GET, vars_page, Some(olivia), None, None).await;
    assert!(seen.contains("id=\"add-variable\""), "{seen}");
    for form in [
        [
            ("csrf", csrf.as_str()),
            ("key", "region"),
            ("value", "eu-west-1"),
            ("category", "terraform"),
            ("description", ""),
        ],
        [
            ("csrf", csrf.as_str()),
            ("key", "db_password"),
            ("value", "hunter2-never-shown"),
            ("category", "env"),
            ("sensitive", "on"),
        ],
    ] {
        let (status, body, to) = page(&api, Method::POST, vars_page, Some(olivia), Some(&form), None).await;
        assert_eq!((status, to.as_deref()), (StatusCode::SEE_OTHER, Some(vars_page)), "{body}");
    }
    // Variable sets that apply: a global one whose `region` the workspace's own overrides, and
    // a sensitive value of it never shown.
    let set = api
        .ok(
            Method::POST,
            "/api/v2/organizations/acme/varsets",
            Some(json!({"data":{"type":"varsets","attributes":{"name":"platform-defaults","global":true}}})),
        )
        .await["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (key, value, sensitive) in [
        ("region", "us-east-1", false),
        ("owner_team", "platform", false),
        ("SET_SECRET", "set-secret-never-shown", true),
    ] {
        let category = if sensitive { "env" } else { "terraform" };
        api.ok(Method::POST, &format!("/api/v2/varsets/{set}/relationships/vars"), Some(json!({"data":{"type":"vars","attributes":{"key":key,"value":value,"category":category,"sensitive":sensitive}}}))).await;
    }
    let (_, seen, _) = page(&api, Method::GET, vars_page, Some(rita), None, None).await;
    let sets = seen.split("id=\"variable-sets\"").nth(1).unwrap().split("</section>").next().unwrap();
    assert!(sets.contains("platform-defaults") && sets.contains("global: every workspace"), "{sets}");
    assert!(sets.contains("platform") && !seen.contains("set-secret-never-shown"), "{sets}");
    let row = |key: &str| {
        sets.split("<tr>").find(|r| r.contains(&format!("<code>{key}</code>"))).unwrap().to_owned()
    };
    assert!(row("region").contains("overridden") && row("owner_team").contains(">yes<"), "{sets}");
    // The API's effective list agrees: the workspace's region, the set's owner_team.
    let all = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/all-vars"), None).await.to_string();
    assert!(all.contains("eu-west-1") && !all.contains("us-east-1") && all.contains("platform"), "{all}");
    let vars = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/vars"), None).await;
    let var_id = |key: &str| {
        vars["data"].as_array().unwrap().iter().find(|v| v["attributes"]["key"] == key).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (region, password) = (var_id("region"), var_id("db_password"));
    let keep = [("csrf", csrf.as_str()), ("action", "update"), ("value", "")];
    assert_eq!(
        page(&api, Method::POST, &format!("{vars_page}/{password}"), Some(olivia), Some(&keep), None).await.0,
        StatusCode::SEE_OTHER
    );
    let change = [("csrf", csrf.as_str()), ("action", "update"), ("value", "us-east-1")];
    assert_eq!(
        page(&api, Method::POST, &format!("{vars_page}/{region}"), Some(olivia), Some(&change), None).await.0,
        StatusCode::SEE_OTHER
    );
    let (_, seen, _) = page(&api, Method::GET, vars_page, Some(rita), None, None).await;
    assert!(seen.contains("us-east-1") && seen.contains("db_password"), "{seen}");
    assert!(!seen.contains("hunter2-never-shown"), "a sensitive value reached a page");
    assert_eq!(
        page(
            &api,
            Method::POST,
            &format!("{vars_page}/{region}"),
            Some(rita),
            Some(&[("csrf", rita_csrf.as_str()), ("action", "delete")]),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let delete = [("csrf", csrf.as_str()), ("action", "delete")];
    assert_eq!(
        page(&api, Method::POST, &format!("{vars_page}/{region}"), Some(olivia), Some(&delete), None).await.0,
        StatusCode::SEE_OTHER
    );
    let vars = api.ok(Method::GET, &format!("/api/v2/workspaces/{ws}/vars"), None).await;
    assert_eq!(vars["data"].as_array().unwrap().len(), 1, "{vars}");
    let trail =
        api.ok(Method::GET, "/api/v2/organizations/acme/audit-trail?page[size]=100", None).await.to_string();
    assert!(
        trail.contains("variable.created") && !trail.contains("hunter2") && !trail.contains("us-east-1"),
        "{trail}"
    );

    // Dynamic credentials before any run: a missing role is the run's own error; once set, each
    // phase's sub and role, with a sensitive role masked.
    let env_var = |key: &str, value: &str, sensitive: bool| json!({"data":{"type":"vars","attributes":{"key":key,"value":value,"category":"env","sensitive":sensitive}}});
    let vars_path = format!("/api/v2/workspaces/{ws}/vars");
    api.ok(Method::POST, &vars_path, Some(env_var("TFC_AWS_PROVIDER_AUTH", "true", false))).await;
    let creds_page = "/app/acme/workspaces/web/credentials";
    let (status, seen, _) = page(&api, Method::GET, creds_page, Some(rita), None, None).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(seen.contains("A run would fail now") && seen.contains("TFC_AWS_RUN_ROLE_ARN"), "{seen}");
    api.ok(
        Method::POST,
        &vars_path,
        Some(env_var("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::222222222222:role/apply", false)),
    )
    .await;
    api.ok(
        Method::POST,
        &vars_path,
        Some(env_var("TFC_AWS_PLAN_ROLE_ARN", "arn:aws:iam::111111111111:role/secret-planner", true)),
    )
    .await;
    // A sensitive value as a message would change it (trimmed, without its trailing slash).
    api.ok(Method::POST, &vars_path, Some(env_var("TFC_VAULT_PROVIDER_AUTH", "true", false))).await;
    api.ok(Method::POST, &vars_path, Some(env_var("TFC_VAULT_RUN_ROLE", "tern", false))).await;
    api.ok(
        Method::POST,
        &vars_path,
        Some(env_var("TFC_VAULT_ADDR", " https://vault.secret-corp.internal:8200/\n", true)),
    )
    .await;
    let (_, seen, _) = page(&api, Method::GET, creds_page, Some(rita), None, None).await;
    assert!(!seen.contains("secret-corp"), "a sensitive value reached the page: {seen}");
    assert!(!seen.contains("A run would fail now"), "{seen}");
    assert!(
        seen.contains("organization:acme:project:Default Project:workspace:web:run_phase:plan"),
        "{seen}"
    );
    assert!(
        seen.contains("run_phase:apply") && seen.contains("arn:aws:iam::222222222222:role/apply"),
        "{seen}"
    );
    assert!(
        !seen.contains("secret-planner")
            && seen.contains("concerns the sensitive variable TFC_AWS_PLAN_ROLE_ARN"),
        "a sensitive value reached the page: {seen}"
    );
    assert!(seen.contains("aws.workload.identity"), "the default audience: {seen}");
    assert_eq!(page(&api, Method::GET, creds_page, Some(nobody), None, None).await.0, StatusCode::NOT_FOUND);

    // Terraform's printed link, and only names go into its redirect.
    let (status, _, to) =
        page(&api, Method::GET, &format!("/app/acme/web/runs/{run}"), None, None, None).await;
    assert_eq!((status, to), (StatusCode::SEE_OTHER, Some(run_page.clone())));
    // A path that is no page: a page saying so (not the API's JSON), signed in or not.
    for cookie in [Some(olivia.as_str()), None] {
        let (status, html, _) =
            page(&api, Method::GET, "/app/acme/workspaces/web/no-such-tab/x", cookie, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.to_lowercase().starts_with("<!doctype html"), "{html}");
        assert!(html.contains("there is no page at /app/acme/workspaces/web/no-such-tab/x"), "{html}");
    }
    // A run under another workspace's path is not found; the stylesheet is immutable.
    assert_eq!(
        page(&api, Method::GET, &format!("/app/acme/workspaces/other/runs/{run}"), Some(olivia), None, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let css = seen.split("href=\"/app/assets/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let r = reqwest::get(format!("{}/app/assets/{css}", api.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(
        reqwest::get(format!("{}/app/assets/tern-old.css", api.base)).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

async fn run_status(api: &Api, run: &str) -> String {
    api.ok(Method::GET, &format!("/api/v2/runs/{run}"), None).await["data"]["attributes"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Read an event stream until `want` has arrived (bounded).
async fn read_until(r: &mut reqwest::Response, seen: &mut String, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in the event stream within 10 s: {seen}"))
            .unwrap();
        match chunk {
            Some(c) => seen.push_str(&String::from_utf8_lossy(&c)),
            None => panic!("the event stream ended without {want:?}: {seen}"),
        }
    }
}

/// `POST /api/v2/admin/users/{id}/actions/sign_out` ends every session of the user (and none
/// of anyone else's), is audited with the count, and is refused to the user themselves.
async fn an_administrator_signs_a_user_out_of_every_browser(api: Api) {
    let mut users = Vec::new();
    for name in ["leaver", "stayer"] {
        let doc = api
            .ok(
                Method::POST,
                "/api/v2/admin/users",
                Some(json!({"data":{"type":"users","attributes":{"username":name}}})),
            )
            .await;
        users.push(doc["data"]["id"].as_str().unwrap().to_owned());
    }
    let later = api.store.unix_now() + 3600;
    let mut sessions = Vec::new();
    for user in [&users[0], &users[0], &users[1]] {
        let (_, secret) = api.store.create_session(user, later, None).await.unwrap();
        sessions.push(secret.expose_secret().to_owned());
    }
    let token =
        api.store.create_user_token(&users[0], "laptop", None, by_test("token.created")).await.unwrap();
    let path = format!("/api/v2/admin/users/{}/actions/sign_out", users[0]);
    let (status, _) = api.call(Method::POST, &path, Some(token.1.expose_secret()), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only an administrator signs people out");
    let done = api.ok(Method::POST, &path, None).await;
    assert_eq!(done["meta"]["sessions-ended"], 2, "{done}");
    assert_eq!(done["data"]["attributes"]["username"], "leaver", "{done}");
    assert!(api.store.session(&sessions[0], 3600).await.unwrap().is_none());
    assert!(api.store.session(&sessions[1], 3600).await.unwrap().is_none());
    assert!(api.store.session(&sessions[2], 3600).await.unwrap().is_some(), "another user's session ended");
    // Their token remains (tokens end with `tern token revoke`).
    let (status, _) =
        api.call(Method::GET, "/api/v2/account/details", Some(token.1.expose_secret()), None).await;
    assert_eq!(status, StatusCode::OK);
    let trail = api.ok(Method::GET, "/api/v2/admin/audit-trail?filter[action]=user.signed-out", None).await;
    assert_eq!(trail["data"][0]["attributes"]["details"]["sessions"], 2, "{trail}");
    assert_eq!(trail["data"][0]["attributes"]["details"]["username"], "leaver", "{trail}");
    let (status, _) = api
        .call(Method::POST, "/api/v2/admin/users/user-nobody/actions/sign_out", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A user and their browser sessions, made in the store as a sign-in makes them: the user's id,
/// a token of theirs, and each session's public id and secret (newest last).
async fn person_with_sessions(
    api: &Api,
    name: &str,
    sessions: usize,
) -> (String, String, Vec<(String, String)>) {
    let doc = api
        .ok(
            Method::POST,
            "/api/v2/admin/users",
            Some(json!({"data":{"type":"users","attributes":{"username":name}}})),
        )
        .await;
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let token = api.ok(Method::POST, &format!("/api/v2/users/{id}/authentication-tokens"), None).await["data"]
        ["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut made = Vec::new();
    for _ in 0..sessions {
        let (s, secret) = api.store.create_session(&id, api.store.unix_now() + 3600, None).await.unwrap();
        made.push((s.id, secret.expose_secret().to_owned()));
    }
    (id, token, made)
}

/// Whether a browser with this session cookie is signed in (the web UI's home page, or a
/// redirect to sign in).
async fn signed_in(api: &Api, secret: &str) -> bool {
    let (status, _, to) = page(api, Method::GET, "/app", Some(secret), None, None).await;
    match status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert!(to.as_deref().is_some_and(|t| t.starts_with("/app/sign-in")), "{to:?}");
            false
        }
        other => panic!("GET /app: {other}"),
    }
}

/// Neither a session's secret nor its stored hash is in `text`.
fn holds_no_session_secret(text: &str, sessions: &[(String, String)]) {
    use base64::Engine as _;
    for (id, secret) in sessions {
        let hash = tern_store::token_hash(secret);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        for b64 in [
            base64::engine::general_purpose::STANDARD.encode(&hash),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash),
        ] {
            assert!(!text.contains(&b64), "the hash of {id} in {text}");
        }
        assert!(!text.contains(secret.as_str()) && !text.contains(&hex), "the secret of {id} in {text}");
    }
}

/// `GET /api/v2/account/sessions` lists the caller's own browser sessions (ids and times, never
/// a secret), and `DELETE …/{id}` ends one: its cookie opens nothing on the next request, the
/// others stay, and it is in the audit trail. Another user's session is "not found" and nothing
/// changes; tokens that are nobody's (organization, admin) are refused.
async fn a_person_lists_and_ends_their_own_browser_sessions(api: Api) {
    let (alice, token, mine) = person_with_sessions(&api, "alice", 2).await;
    let (_, bob_token, theirs) = person_with_sessions(&api, "bob", 1).await;
    let all: Vec<(String, String)> = mine.iter().chain(&theirs).cloned().collect();
    let ids = |v: &Value| -> Vec<String> {
        v["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };

    let (status, listed) = api.call(Method::GET, "/api/v2/account/sessions", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(ids(&listed), [mine[1].0.clone(), mine[0].0.clone()], "alice's, newest first: {listed}");
    let first = &listed["data"][0];
    assert_eq!(first["type"], "sessions", "{listed}");
    assert_eq!(first["relationships"]["user"]["data"], json!({"id": alice, "type": "users"}), "{listed}");
    assert_eq!(first["links"]["self"], format!("/api/v2/account/sessions/{}", mine[1].0), "{listed}");
    let a = &first["attributes"];
    for time in ["created-at", "last-seen-at", "expires-at"] {
        let at = a[time].as_str().unwrap_or_else(|| panic!("{time}: {listed}"));
        assert!(humantime::parse_rfc3339(at).is_ok(), "{time}: {at}");
    }
    assert_eq!(a["current"], false, "a token is no session: {listed}");
    holds_no_session_secret(&listed.to_string(), &all);
    let (_, bobs) = api.call(Method::GET, "/api/v2/account/sessions", Some(&bob_token), None).await;
    assert_eq!(ids(&bobs), [theirs[0].0.clone()], "{bobs}");

    // Tokens that are nobody's have no sessions: refused, saying what is needed.
    api.ok(
        Method::POST,
        "/api/v2/organizations",
        Some(json!({"data":{"type":"organizations","attributes":{"name":"acme"}}})),
    )
    .await;
    let org_token = api.ok(Method::POST, "/api/v2/organizations/acme/authentication-token", None).await["data"]
        ["attributes"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for who in [&org_token, &api.admin] {
        let (status, e) = api.call(Method::GET, "/api/v2/account/sessions", Some(who), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
        assert!(e.to_string().contains("needs a user's token"), "{e}");
    }
    // Each token used once: its last-use stamp is then not written again for a while.
    assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(&token), None).await.0, StatusCode::OK);

    // Someone else's session, through one's own account: not found, and nothing changes.
    let before = api.store.dump().await.unwrap();
    for (who, id) in [(&token, &theirs[0].0), (&token, &"ses-nothing".to_owned()), (&org_token, &mine[0].0)] {
        let (status, e) =
            api.call(Method::DELETE, &format!("/api/v2/account/sessions/{id}"), Some(who), None).await;
        let want = if *who == org_token { StatusCode::FORBIDDEN } else { StatusCode::NOT_FOUND };
        assert_eq!(status, want, "{id}: {e}");
    }
    assert_eq!(api.store.dump().await.unwrap(), before, "nothing changed");
    assert!(signed_in(&api, &theirs[0].1).await, "bob is still signed in");

    // Ending one: its cookie opens nothing on the very next request; the other stays.
    assert!(signed_in(&api, &mine[0].1).await);
    let (status, e) = api
        .call(Method::DELETE, &format!("/api/v2/account/sessions/{}", mine[0].0), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{e}");
    assert!(!signed_in(&api, &mine[0].1).await, "an ended session still opens pages");
    assert!(signed_in(&api, &mine[1].1).await, "the other session ended too");
    let (status, _) = api
        .call(Method::DELETE, &format!("/api/v2/account/sessions/{}", mine[0].0), Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "ended once");
    let (_, listed) = api.call(Method::GET, "/api/v2/account/sessions", Some(&token), None).await;
    assert_eq!(ids(&listed), [mine[1].0.clone()], "{listed}");

    // The audit trail names the session by its public id, and the actor.
    let trail = api.ok(Method::GET, "/api/v2/admin/audit-trail?filter[action]=user.signed-out", None).await;
    let event = &trail["data"][0]["attributes"];
    assert_eq!(event["actor"], "alice", "{trail}");
    assert_eq!(event["details"]["session"], mine[0].0.as_str(), "{trail}");
    assert_eq!(event["details"]["username"], "alice", "{trail}");
    assert_eq!(trail["data"].as_array().unwrap().len(), 1, "one event, for the one session ended: {trail}");
    holds_no_session_secret(&trail.to_string(), &all);
}

/// `GET /api/v2/admin/users/{id}/sessions` and `DELETE …/sessions/{session}`: an administrator
/// lists a user's sessions and ends one of them (the others and their tokens remain); a
/// session of another user under this user's path is "not found" and nothing changes; the user
/// themselves may not use the administrators' endpoints.
async fn an_administrator_lists_and_ends_a_users_browser_sessions(api: Api) {
    let (alice, token, mine) = person_with_sessions(&api, "alice", 2).await;
    let (bob, _, theirs) = person_with_sessions(&api, "bob", 1).await;
    let all: Vec<(String, String)> = mine.iter().chain(&theirs).cloned().collect();
    let list = format!("/api/v2/admin/users/{alice}/sessions");

    let listed = api.ok(Method::GET, &list, None).await;
    let ids: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine[1].0.as_str(), mine[0].0.as_str()], "{listed}");
    assert_eq!(listed["data"][0]["links"]["self"], format!("{list}/{}", mine[1].0), "{listed}");
    assert_eq!(listed["meta"]["pagination"]["total-count"], 2, "{listed}");
    holds_no_session_secret(&listed.to_string(), &all);
    let (status, _) =
        api.call(Method::GET, "/api/v2/admin/users/user-nobody/sessions", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Not the user's own way in, nor a way to end them.
    for (method, path) in [(Method::GET, list.clone()), (Method::DELETE, format!("{list}/{}", mine[0].0))] {
        let (status, e) = api.call(method, &path, Some(&token), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {e}");
    }
    // bob's session under alice's path: not found, nothing changes.
    assert_eq!(api.call(Method::GET, "/api/v2/ping", Some(&token), None).await.0, StatusCode::OK);
    let before = api.store.dump().await.unwrap();
    let (status, e) =
        api.call(Method::DELETE, &format!("{list}/{}", theirs[0].0), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert!(e.to_string().contains("user alice has no session"), "{e}");
    assert_eq!(api.store.dump().await.unwrap(), before, "nothing changed");

    let (status, e) =
        api.call(Method::DELETE, &format!("{list}/{}", mine[0].0), Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{e}");
    assert!(!signed_in(&api, &mine[0].1).await, "an ended session still opens pages");
    assert!(signed_in(&api, &mine[1].1).await && signed_in(&api, &theirs[0].1).await);
    let (status, _) = api.call(Method::GET, "/api/v2/account/details", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "their token remains");
    let listed = api.ok(Method::GET, &format!("/api/v2/admin/users/{bob}/sessions"), None).await;
    assert_eq!(listed["data"][0]["id"], theirs[0].0.as_str(), "{listed}");

    let trail = api.ok(Method::GET, "/api/v2/admin/audit-trail?filter[action]=user.signed-out", None).await;
    let event = &trail["data"][0]["attributes"];
    assert_eq!(event["actor-kind"], "admin", "{trail}");
    assert_eq!(
        (&event["details"]["session"], &event["details"]["username"]),
        (&json!(mine[0].0), &json!("alice"))
    );
    holds_no_session_secret(&trail.to_string(), &all);
}
