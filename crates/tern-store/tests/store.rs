//! The store's contract, run against both backends: every test exists as `<name>::sqlite` and
//! `<name>::postgres` (PostgreSQL at 127.0.0.1:5432, or `TERN_TEST_POSTGRES_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use tern_store::*;
use tern_testkit::db::TestDatabase;
use tern_types::{FixedClock, RunPhase, SecretString, TerraformVersion};

struct Fixture {
    store: Store,
    clock: Arc<FixedClock>,
    key: EncryptionKey,
    db: TestDatabase,
}

async fn fixture(db: TestDatabase) -> Fixture {
    let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
    let key = EncryptionKey::generate().unwrap();
    let store = Store::open(&db.url, &key, clock.clone()).await.unwrap();
    Fixture { store, clock, key, db }
}

macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::fixture(super::TestDatabase::sqlite()).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::fixture(super::TestDatabase::postgres()).await).await;
            }
        }
    )+};
}

both!(
    organizations_start_with_a_default_project,
    workspaces_are_unique_validated_and_paged,
    a_members_workspace_list_pages_only_what_it_may_see,
    sensitive_values_are_sealed_and_only_jobs_read_them,
    token_acts_commit_with_their_record,
    user_acts_commit_with_their_record,
    variable_sets_apply_with_workspace_precedence,
    a_run_goes_through_plan_and_apply,
    runs_of_a_workspace_take_turns,
    each_job_is_claimed_exactly_once,
    dead_agents_leave_errored_runs,
    cancel_and_discard_follow_the_state_machine,
    state_versions_move_forward_only,
    tokens_are_hashed_and_expire,
    reopening_checks_migrations_and_the_key,
    managed_keys_rotate_in_order,
    agent_pools_are_unique_used_and_deleted_with_their_tokens,
    agent_workspaces_need_a_pool_of_their_organization,
    each_runner_claims_only_what_its_token_and_versions_allow,
    a_runs_terraform_version_is_pinned_when_its_plan_is_claimed,
    a_waiting_run_says_what_it_waits_for,
    run_variables_are_sealed_and_options_kept,
    replicas_bootstrapping_at_once_agree_on_one_admin_token,
    audit_events_are_appended_in_batches_and_read_back_filtered,
    mint_events_are_recorded_only_while_the_job_token_and_names_hold,
    the_audit_writer_outlives_cut_connections,
    sessions_end_when_idle_at_their_limit_or_at_sign_out,
    a_users_sessions_are_listed_and_ended_by_their_public_id,
    sign_ins_and_codes_are_used_once_by_whoever_started_them,
    provider_groups_set_the_memberships_of_mapped_teams,
    grants_follow_every_change_through_the_organizations_version,
);

/// A session lives while used within the idle limit, up to its absolute end; sign-out and the
/// user's deletion end it; only its hash is stored.
async fn sessions_end_when_idle_at_their_limit_or_at_sign_out(f: Fixture) {
    use std::time::Duration;
    let u = f.store.create_user("alice", "", false).await.unwrap();
    let now = f.store.unix_now();
    let (_, secret) = f.store.create_session(&u.id, now + 7200, None).await.unwrap();
    assert!(!format!("{:?}", f.store.dump().await.unwrap()).contains(secret.expose_secret()), "hash only");
    let (s, user) = f.store.session(secret.expose_secret(), 600).await.unwrap().unwrap();
    assert_eq!(user.username, "alice");
    // Used every 9 minutes with a 10-minute idle limit: alive until the absolute end.
    for _ in 0..13 {
        f.clock.advance(Duration::from_secs(540));
        assert!(f.store.session(secret.expose_secret(), 600).await.unwrap().is_some());
    }
    f.clock.advance(Duration::from_secs(540));
    assert!(f.store.session(secret.expose_secret(), 600).await.unwrap().is_none(), "past {}", s.expires_at);
    // Idle too long.
    let (_, idle) = f.store.create_session(&u.id, f.store.unix_now() + 7200, None).await.unwrap();
    f.clock.advance(Duration::from_secs(601));
    assert!(f.store.session(idle.expose_secret(), 600).await.unwrap().is_none());
    // Sign-out, and the user's deletion.
    let (_, a) = f.store.create_session(&u.id, f.store.unix_now() + 7200, None).await.unwrap();
    let (_, b) = f.store.create_session(&u.id, f.store.unix_now() + 7200, None).await.unwrap();
    assert!(f.store.end_session(a.expose_secret(), None).await.unwrap());
    assert!(f.store.session(a.expose_secret(), 600).await.unwrap().is_none());
    assert!(f.store.session(b.expose_secret(), 600).await.unwrap().is_some());
    f.store.delete_user(&u.id, &noted("user.deleted", &u.id)).await.unwrap();
    assert!(f.store.session(b.expose_secret(), 600).await.unwrap().is_none());
}

/// A user's live sessions are listed newest first, by their public ids (the ended, the expired
/// and the idle ones not); one is ended by its id, only through its own user: another user's id
/// ends nothing and changes nothing. All but one end at once ("sign out everywhere else").
async fn a_users_sessions_are_listed_and_ended_by_their_public_id(f: Fixture) {
    let alice = f.store.create_user("alice", "", false).await.unwrap();
    let bob = f.store.create_user("bob", "", false).await.unwrap();
    let later = f.store.unix_now() + 7200;
    // A person's sign-in: the session commits with its record.
    let signed_in = |s: &Session| noted("user.signed-in", &s.id);
    let (first, first_secret) = f.store.sign_in(&alice.id, later, None, signed_in).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    let (second, _) = f.store.create_session(&alice.id, later, None).await.unwrap();
    let (short, _) = f.store.create_session(&alice.id, f.store.unix_now() + 60, None).await.unwrap();
    let (theirs, theirs_secret) = f.store.create_session(&bob.id, later, None).await.unwrap();
    assert!(first.id.starts_with("ses-") && first.id != second.id);
    assert!(
        !first.id.contains(first_secret.expose_secret()) && !first_secret.expose_secret().contains(&first.id)
    );
    let ids = |list: Vec<Session>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let listed = f.store.list_user_sessions(&alice.id, 600).await.unwrap();
    assert_eq!(listed[0], short, "newest first, with its times");
    assert_eq!(ids(listed), [short.id.clone(), second.id.clone(), first.id.clone()]);
    // Past its absolute end, or idle too long: not listed.
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(
        ids(f.store.list_user_sessions(&alice.id, 600).await.unwrap()),
        [second.id.clone(), first.id.clone()]
    );
    assert!(f.store.list_user_sessions(&alice.id, 30).await.unwrap().is_empty(), "idle longer than 30 s");

    // Another user's session, through alice: nothing ends, nothing changes.
    let before = f.store.dump().await.unwrap();
    assert_eq!(
        f.store
            .end_user_session(&alice.id, &theirs.id, |s: &Session| noted("user.signed-out", &s.id))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .end_user_session(&alice.id, "ses-nothing", |s: &Session| noted("user.signed-out", &s.id))
            .await
            .unwrap(),
        None
    );
    assert_eq!(f.store.dump().await.unwrap(), before);
    assert!(f.store.session(theirs_secret.expose_secret(), 600).await.unwrap().is_some());

    let ended = f
        .store
        .end_user_session(&alice.id, &first.id, |s: &Session| noted("user.signed-out", &s.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.id, first.id);
    assert!(
        f.store.session(first_secret.expose_secret(), 600).await.unwrap().is_none(),
        "its cookie opens nothing"
    );
    assert_eq!(
        f.store
            .end_user_session(&alice.id, &first.id, |s: &Session| noted("user.signed-out", &s.id))
            .await
            .unwrap(),
        None,
        "ended once"
    );
    assert_eq!(
        ids(f.store.list_user_sessions(&alice.id, 600).await.unwrap()),
        std::slice::from_ref(&second.id)
    );
    assert_eq!(
        ids(f.store.list_user_sessions(&bob.id, 600).await.unwrap()),
        std::slice::from_ref(&theirs.id)
    );

    // Every other browser: all of alice's sessions but the one kept, none of bob's.
    let (third, _) = f.store.create_session(&alice.id, later, None).await.unwrap();
    assert_eq!(
        f.store
            .end_user_sessions_except(&alice.id, &second.id, |n: &u64| noted(
                "user.signed-out",
                &n.to_string()
            ))
            .await
            .unwrap(),
        1,
        "third (the expired one went when it was made)"
    );
    assert_eq!(ids(f.store.list_user_sessions(&alice.id, 600).await.unwrap()), [second.id.as_str()]);
    assert_eq!(
        f.store
            .end_user_sessions_except(&alice.id, &second.id, |n: &u64| noted(
                "user.signed-out",
                &n.to_string()
            ))
            .await
            .unwrap(),
        0,
        "nothing left"
    );
    assert!(
        f.store
            .end_user_session(&alice.id, &third.id, |s: &Session| noted("user.signed-out", &s.id))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(ids(f.store.list_user_sessions(&bob.id, 600).await.unwrap()), [theirs.id]);
    // Each ending committed with its record; those that ended nothing recorded nothing.
    let recorded =
        [("user.signed-in", first.id.as_str()), ("user.signed-out", &first.id), ("user.signed-out", "1")];
    assert_eq!(trail(&f).await, recorded.map(|(a, id)| (a.to_owned(), id.to_owned())));
}

/// A sign-in in flight is taken once, by the browser that started it, before it expires; its
/// verifier is sealed. A code is taken once, before it expires.
async fn sign_ins_and_codes_are_used_once_by_whoever_started_them(f: Fixture) {
    use std::time::Duration;
    let s = |v: &str| SecretString::new(v.to_owned());
    let later = f.store.unix_now() + 600;
    f.store
        .put_signin_attempt(
            &s("state-1"),
            &s("browser-1"),
            "nonce-1",
            &s("verifier-secret-1"),
            "/app/x",
            later,
        )
        .await
        .unwrap();
    assert!(!format!("{:?}", f.store.dump().await.unwrap()).contains("verifier-secret-1"), "sealed");
    assert!(f.store.take_signin_attempt("state-1", "browser-2").await.unwrap().is_none(), "another browser");
    // Taken (and gone) even when refused: a guessed browser cannot retry.
    assert!(f.store.take_signin_attempt("state-1", "browser-1").await.unwrap().is_none(), "used once");
    f.store
        .put_signin_attempt(&s("state-2"), &s("browser-1"), "nonce-2", &s("verifier-2"), "/app", later)
        .await
        .unwrap();
    let a = f.store.take_signin_attempt("state-2", "browser-1").await.unwrap().unwrap();
    assert_eq!(
        (a.nonce.as_str(), a.verifier.expose_secret(), a.return_to.as_str()),
        ("nonce-2", "verifier-2", "/app")
    );
    assert!(f.store.take_signin_attempt("state-2", "browser-1").await.unwrap().is_none(), "replayed");
    f.store.put_signin_attempt(&s("state-3"), &s("browser-1"), "n", &s("v"), "/app", later).await.unwrap();
    f.clock.advance(Duration::from_secs(601));
    assert!(f.store.take_signin_attempt("state-3", "browser-1").await.unwrap().is_none(), "expired");

    let u = f.store.create_user("alice", "", false).await.unwrap();
    let code = tern_store::AuthorizationCode {
        user_id: u.id.clone(),
        client_id: "terraform-cli".into(),
        redirect_uri: "http://localhost:10000/login".into(),
        challenge: "c".repeat(43),
    };
    let secret = f.store.create_authorization_code(&code, f.store.unix_now() + 60).await.unwrap();
    assert_eq!(f.store.take_authorization_code(secret.expose_secret()).await.unwrap(), Some(code.clone()));
    assert_eq!(f.store.take_authorization_code(secret.expose_secret()).await.unwrap(), None, "once");
    let secret = f.store.create_authorization_code(&code, f.store.unix_now() + 60).await.unwrap();
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(f.store.take_authorization_code(secret.expose_secret()).await.unwrap(), None, "expired");
}

/// The provider's groups: teams with that `sso-team-id` are joined and left with the group;
/// teams named like a group are joined with `by_name` and never left by it; the owners team
/// only through an explicit mapping. A provider identity links to a user made beforehand.
async fn provider_groups_set_the_memberships_of_mapped_teams(f: Fixture) {
    let org = f.store.create_organization("acme", "").await.unwrap();
    let none = tern_access::OrgPermissions::default();
    let mapped = f
        .store
        .create_team(&org.id, "platform", none, "organization", Some("grp-platform"), team_made)
        .await
        .unwrap();
    let named = f.store.create_team(&org.id, "devs", none, "organization", None, team_made).await.unwrap();
    // Made by an administrator for the provider's identity: reached by it, not duplicated.
    let made = f
        .store
        .create_user_with_identity("alice", "", false, Some("https://idp#1"), |u: &User| {
            noted("user.created", &u.id)
        })
        .await
        .unwrap();
    let u = f
        .store
        .user_for_identity("https://idp#1", "alice", "alice@acme.test", |u: &User| {
            noted("user.created", &u.id)
        })
        .await
        .unwrap();
    assert_eq!(u.id, made.id);
    assert_eq!(
        f.store
            .user_for_identity("https://idp#1", "alice", "", |u: &User| noted("user.created", &u.id))
            .await
            .unwrap()
            .id,
        made.id
    );
    // Another identity cannot take the name, nor can any identity take a user made without one
    // (a provider's username is no proof: the admin-takeover a review found).
    assert!(
        f.store
            .user_for_identity("https://idp#2", "alice", "", |u: &User| noted("user.created", &u.id))
            .await
            .is_err()
    );
    f.store.create_user("root", "", true).await.unwrap();
    let e = f
        .store
        .user_for_identity("https://idp#3", "root", "", |u: &User| noted("user.created", &u.id))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--identity"), "{e}");
    // A new identity makes a new user; e-mail-like names are fine.
    let new = f
        .store
        .user_for_identity("https://idp#4", "carol@acme.test", "", |u: &User| noted("user.created", &u.id))
        .await
        .unwrap();
    assert!(!new.site_admin);
    let groups = vec!["grp-platform".to_owned(), "devs".to_owned(), "owners".to_owned()];
    let c = f
        .store
        .sync_groups(&u.id, &groups, true, |_: &MembershipChanges| noted("team.members-synced", ""))
        .await
        .unwrap();
    let names = |v: &[(String, String)]| v.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&c.added), ["platform", "devs"], "never owners by name");
    let c = f
        .store
        .sync_groups(&u.id, &[], true, |_: &MembershipChanges| noted("team.members-synced", ""))
        .await
        .unwrap();
    assert_eq!(names(&c.removed), ["platform"], "only the explicitly mapped team is left");
    assert_eq!(f.store.team_members(&named.id).await.unwrap().len(), 1);
    assert!(f.store.team_members(&mapped.id).await.unwrap().is_empty());
}

/// Every change to teams, memberships or team access bumps its organization's grants version
/// (and no other's), so the grants a replica keeps in memory are read again on the next request,
/// on whichever replica made the change.
async fn grants_follow_every_change_through_the_organizations_version(f: Fixture) {
    use tern_access::{AccessLevel, OrgPermissions, ProjectAccessLevel, ProjectGrant, WorkspaceGrant};
    let o = org(&f, "acme").await;
    let other = org(&f, "other").await;
    let ws = workspace(&f, &o, "web").await;
    let blue = f.store.create_project(&o.id, "blue", "").await.unwrap();
    let alice = f.store.create_user("alice", "", false).await.unwrap();
    // A second replica on the same database: its cache is its own.
    let replica = Store::open(&f.db.url, &f.key, f.clock.clone()).await.unwrap();
    let fresh = |id: String| {
        let store = f.store.clone();
        async move { store.organization_by_id(&id).await.unwrap() }
    };
    let holder = Holder::User(&alice.id);
    let mut seen = fresh(o.id.clone()).await.grants_version;
    assert_eq!(o.grants_version, seen, "a new organization comes back with its owners team counted");
    assert_ne!(seen, 0);
    let others = fresh(other.id.clone()).await.grants_version;
    // Both replicas answer from the row they loaded; the change must have moved the version.
    macro_rules! changed {
        ($what:literal, $check:expr) => {{
            let now = fresh(o.id.clone()).await;
            assert_ne!(now.grants_version, seen, "{}: the version did not move", $what);
            seen = now.grants_version;
            for store in [&f.store, &replica] {
                let g = store.grants(&now, holder).await.unwrap();
                let check: &dyn Fn(Option<tern_access::TeamGrants>) -> bool = &$check;
                assert!(check(g.clone()), "{}: {g:?}", $what);
            }
        }};
    }
    assert_eq!(f.store.grants(&fresh(o.id.clone()).await, holder).await.unwrap(), None);
    assert_eq!(replica.grants(&fresh(o.id.clone()).await, holder).await.unwrap(), None);

    let devs = f
        .store
        .create_team(&o.id, "devs", OrgPermissions::default(), "organization", None, team_made)
        .await
        .unwrap();
    changed!("team created", |g| g.is_none());
    f.store
        .add_team_members(&devs.id, &["alice".to_owned()], &noted("team.members-added", &devs.id))
        .await
        .unwrap();
    changed!("member added", |g| g.is_some_and(|g| g.teams == ["devs"] && g.workspaces.is_empty()));
    let tws = f
        .store
        .create_team_workspace(
            &devs.id,
            &ws.id,
            WorkspaceGrant::level(AccessLevel::Read),
            |a: &TeamWorkspace| noted("team-access.created", &a.id),
        )
        .await
        .unwrap();
    changed!("workspace access given", |g| g
        .is_some_and(|g| g.workspaces == [(ws.id.clone(), WorkspaceGrant::level(AccessLevel::Read))]));
    replica
        .update_team_workspace(&tws.id, WorkspaceGrant::level(AccessLevel::Write), |a: &TeamWorkspace| {
            noted("team-access.updated", &a.id)
        })
        .await
        .unwrap();
    changed!("workspace access changed on the other replica", |g| g
        .is_some_and(|g| g.workspaces == [(ws.id.clone(), WorkspaceGrant::level(AccessLevel::Write))]));
    let tprj = f
        .store
        .create_team_project(
            &devs.id,
            &blue.id,
            ProjectGrant::level(ProjectAccessLevel::Read),
            |a: &TeamProject| noted("team-project-access.created", &a.id),
        )
        .await
        .unwrap();
    changed!("project access given", |g| g.is_some_and(|g| g.projects.len() == 1));
    f.store
        .update_team_project(&tprj.id, ProjectGrant::level(ProjectAccessLevel::Admin), |a: &TeamProject| {
            noted("team-project-access.updated", &a.id)
        })
        .await
        .unwrap();
    changed!("project access changed", |g| g
        .is_some_and(|g| g.projects == [(blue.id.clone(), ProjectGrant::level(ProjectAccessLevel::Admin))]));
    replica.delete_team_project(&tprj.id, &noted("team-project-access.deleted", &tprj.id)).await.unwrap();
    changed!("project access removed", |g| g.is_some_and(|g| g.projects.is_empty()));
    f.store.delete_team_workspace(&tws.id, &noted("team-access.deleted", &tws.id)).await.unwrap();
    changed!("workspace access removed", |g| g.is_some_and(|g| g.workspaces.is_empty()));
    let perms = OrgPermissions { manage_workspaces: true, ..Default::default() };
    let changes = TeamChanges { name: Some("platform".into()), access: Some(perms), ..Default::default() };
    f.store.update_team(&devs.id, changes, |t: &Team| noted("team.updated", &t.id)).await.unwrap();
    changed!("team renamed and given a permission", |g| g
        .is_some_and(|g| g.teams == ["platform"] && g.org.manage_workspaces));
    let removed = noted("team.members-removed", &devs.id);
    f.store.remove_team_members(&devs.id, &["alice".to_owned()], &removed).await.unwrap();
    changed!("member removed", |g| g.is_none());
    // Refused (nothing recorded): a member removed twice; below, a team deleted twice.
    assert!(f.store.remove_team_members(&devs.id, &["alice".to_owned()], &removed).await.is_err());
    f.store
        .sync_groups(&alice.id, &["platform".to_owned()], true, |_: &MembershipChanges| {
            noted("team.members-synced", "")
        })
        .await
        .unwrap();
    changed!("member added by the identity provider's groups", |g| g
        .is_some_and(|g| g.teams == ["platform"]));
    f.store.delete_team(&devs.id, &noted("team.deleted", &devs.id)).await.unwrap();
    changed!("team deleted", |g| g.is_none());
    assert!(f.store.delete_team(&devs.id, &noted("team.deleted", &devs.id)).await.is_err());
    let ops = f
        .store
        .create_team(&o.id, "ops", OrgPermissions::default(), "organization", None, team_made)
        .await
        .unwrap();
    f.store
        .add_team_members(&ops.id, &["alice".to_owned()], &noted("team.members-added", &ops.id))
        .await
        .unwrap();
    changed!("member of a new team", |g| g.is_some_and(|g| g.teams == ["ops"]));
    f.store.delete_user(&alice.id, &noted("user.deleted", &alice.id)).await.unwrap();
    changed!("user deleted", |g| g.is_none());
    // Reading grants moves nothing, and nothing of it touched the other organization.
    assert_eq!(fresh(o.id.clone()).await.grants_version, seen);
    assert_eq!(fresh(other.id.clone()).await.grants_version, others);
    // Each change committed with its record, through either replica; the refused ones left none.
    let expected = [
        ("team.created", devs.id.as_str()),
        ("team.members-added", devs.id.as_str()),
        ("team-access.created", tws.id.as_str()),
        ("team-access.updated", tws.id.as_str()),
        ("team-project-access.created", tprj.id.as_str()),
        ("team-project-access.updated", tprj.id.as_str()),
        ("team-project-access.deleted", tprj.id.as_str()),
        ("team-access.deleted", tws.id.as_str()),
        ("team.updated", devs.id.as_str()),
        ("team.members-removed", devs.id.as_str()),
        ("team.members-synced", ""),
        ("team.deleted", devs.id.as_str()),
        ("team.created", ops.id.as_str()),
        ("team.members-added", ops.id.as_str()),
        ("user.deleted", alice.id.as_str()),
    ];
    assert_eq!(trail(&f).await, expected.map(|(a, id)| (a.to_owned(), id.to_owned())));
}

/// A batch of 300 events (more than one INSERT statement) lands whole and in order; filters
/// and pages read it back.
async fn audit_events_are_appended_in_batches_and_read_back_filtered(f: Fixture) {
    let event = |i: usize| AuditInput {
        organization_id: Some(if i.is_multiple_of(3) { "org-b".into() } else { "org-a".into() }),
        actor: format!("at-{}", i % 2),
        actor_kind: "organization".into(),
        action: if i.is_multiple_of(5) { "run.created".into() } else { "token.minted".into() },
        workspace_id: Some("ws-1".into()),
        run_id: None,
        details: serde_json::json!({ "n": i }),
    };
    let batch: Vec<AuditInput> = (0..300).map(event).collect();
    f.store.append_audit(&batch).await.unwrap();
    let page = |number| Page { number, size: 100 };
    let all = f.store.audit_events(None, &AuditFilter::default(), page(1)).await.unwrap();
    assert_eq!(all.total, 300);
    let n: Vec<u64> = all.items.iter().map(|e| e.event.details["n"].as_u64().unwrap()).collect();
    assert_eq!(n, (0..100).collect::<Vec<u64>>(), "in order");
    assert_eq!(all.items[7].event, event(7));
    let a = f.store.audit_events(Some("org-a"), &AuditFilter::default(), page(1)).await.unwrap();
    assert_eq!(a.total, 200);
    let filter = AuditFilter {
        actor: Some("at-1".into()),
        action: Some("run.created".into()),
        ..AuditFilter::default()
    };
    let mine = f.store.audit_events(Some("org-a"), &filter, page(1)).await.unwrap();
    assert!(mine.items.iter().all(|e| e.event.actor == "at-1" && e.event.action == "run.created"));
    assert_eq!(mine.total, 20, "odd multiples of 5 not divisible by 3");
    // A prefix is literal text (`_` and `%` match only themselves), and newest come first.
    let runs =
        AuditFilter { action_prefix: Some("run.".into()), newest_first: true, ..AuditFilter::default() };
    let runs = f.store.audit_events(None, &runs, page(1)).await.unwrap();
    assert_eq!(runs.total, 60);
    assert_eq!(runs.items[0].event.details["n"], 295, "newest first");
    for literal in ["run%", "run_created", "ru_"] {
        let f2 = AuditFilter { action_prefix: Some(literal.into()), ..AuditFilter::default() };
        assert_eq!(f.store.audit_events(None, &f2, page(1)).await.unwrap().total, 0, "{literal}");
    }
    let later = AuditFilter { since: Some(1_800_000_001), ..AuditFilter::default() };
    assert_eq!(f.store.audit_events(None, &later, page(1)).await.unwrap().total, 0);
    assert!(f.store.append_audit(&[]).await.is_ok());
}

/// A minted token's event is recorded only while the job token that asked still authenticates
/// its running job and the names the token carries are still the job's: checked by the
/// statement that records it, event by event, in a batch with events that have no condition.
async fn mint_events_are_recorded_only_while_the_job_token_and_names_hold(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let job = claim(&f, "agent", None).await.unwrap();
    let (_, token) =
        f.store.create_token(TokenKind::Job, Some(&o.id), Some(&job.id), "job", None).await.unwrap();
    let token = token.expose_secret();
    let scope = f.store.job_token_scope(token, &job.id).await.unwrap().unwrap();
    let minted = |n: u64| AuditInput {
        organization_id: Some(o.id.clone()),
        actor: job.id.clone(),
        actor_kind: "job".into(),
        action: "token.minted".into(),
        workspace_id: Some(ws.id.clone()),
        run_id: Some(job.run_id.clone()),
        details: serde_json::json!({ "n": n }),
    };
    let holds = MintCondition::new(token, &scope);
    let other_job = MintCondition::new(
        token,
        &JobScope { job: Job { id: "job-other".into(), ..scope.job.clone() }, ..scope.clone() },
    );
    let not_a_token = MintCondition::new("not-a-token", &scope);
    let renamed =
        |name: &str| MintCondition::new(token, &JobScope { workspace: name.into(), ..scope.clone() });
    let recorded = f
        .store
        .append_audit_checked(&[
            (minted(0), Some(holds.clone())),
            (minted(1), Some(other_job)),
            (minted(2), None),
            (minted(3), Some(not_a_token)),
            (minted(4), Some(renamed("app-old"))),
            (minted(5), Some(holds.clone())),
        ])
        .await
        .unwrap();
    assert_eq!(recorded, [true, false, true, false, false, true]);
    let minted_only = AuditFilter { action: Some("token.minted".into()), ..AuditFilter::default() };
    let trail = f.store.audit_events(None, &minted_only, Page { number: 1, size: 100 }).await.unwrap();
    let n: Vec<u64> = trail.items.iter().map(|e| e.event.details["n"].as_u64().unwrap()).collect();
    assert_eq!(n, [0, 2, 5], "only what was recorded is in the trail, in order");
    // A rename, a move to another project and a renamed organization each stop the old names.
    f.store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { name: Some("app-2".into()), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!(f.store.append_audit_checked(&[(minted(6), Some(holds.clone()))]).await.unwrap(), [false]);
    assert_eq!(f.store.append_audit_checked(&[(minted(7), Some(renamed("app-2")))]).await.unwrap(), [true]);
    let fresh = f.store.job_token_scope(token, &job.id).await.unwrap().unwrap();
    let p = f.store.create_project(&o.id, "blue", "").await.unwrap();
    f.store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { project_id: Some(p.id.clone()), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!(
        f.store.append_audit_checked(&[(minted(8), Some(MintCondition::new(token, &fresh)))]).await.unwrap(),
        [false]
    );
    let fresh = f.store.job_token_scope(token, &job.id).await.unwrap().unwrap();
    assert_eq!(fresh.project, "blue");
    f.store.update_project(&p.id, Some("green"), None).await.unwrap();
    assert_eq!(
        f.store.append_audit_checked(&[(minted(9), Some(MintCondition::new(token, &fresh)))]).await.unwrap(),
        [false]
    );
    let fresh = f.store.job_token_scope(token, &job.id).await.unwrap().unwrap();
    assert_eq!(
        f.store.append_audit_checked(&[(minted(10), Some(MintCondition::new(token, &fresh)))]).await.unwrap(),
        [true]
    );
    // The job's end revokes its token: nothing more is recorded for it.
    f.store.finish_job(&job.id, &JobOutcome::Succeeded { has_changes: false }).await.unwrap();
    assert_eq!(
        f.store.append_audit_checked(&[(minted(11), Some(MintCondition::new(token, &fresh)))]).await.unwrap(),
        [false]
    );
    // An expired job token likewise (a job token with an expiry, on a new job).
    f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let job = claim(&f, "agent", None).await.unwrap();
    let expires = 1_800_000_060; // the fixture's clock, a minute on
    let (_, token) =
        f.store.create_token(TokenKind::Job, Some(&o.id), Some(&job.id), "job", Some(expires)).await.unwrap();
    let scope = f.store.job_token_scope(token.expose_secret(), &job.id).await.unwrap().unwrap();
    let holds = MintCondition::new(token.expose_secret(), &scope);
    assert_eq!(f.store.append_audit_checked(&[(minted(12), Some(holds.clone()))]).await.unwrap(), [true]);
    f.clock.advance(Duration::from_secs(60));
    assert_eq!(f.store.append_audit_checked(&[(minted(13), Some(holds))]).await.unwrap(), [false]);
    // The hash stays out of Debug.
    assert!(!format!("{:?}", MintCondition::new(token.expose_secret(), &scope)).contains("hash"));
}

/// The audit trail's writer outlives its connections: with every connection to the database cut
/// between two batches (a PostgreSQL restart, a failover), the next batch is recorded.
async fn the_audit_writer_outlives_cut_connections(f: Fixture) {
    let event = |n: u64| AuditInput {
        organization_id: None,
        actor: "system".into(),
        actor_kind: "system".into(),
        action: "key.rotated".into(),
        workspace_id: None,
        run_id: None,
        details: serde_json::json!({ "n": n }),
    };
    let mut writer = f.store.audit_writer();
    assert_eq!(writer.append_checked(&[(event(0), None)]).await.unwrap(), [true]);
    f.db.cut_connections();
    assert_eq!(writer.append_checked(&[(event(1), None), (event(2), None)]).await.unwrap(), [true, true]);
    let trail =
        f.store.audit_events(None, &AuditFilter::default(), Page { number: 1, size: 10 }).await.unwrap();
    assert_eq!(trail.total, 3);
}

/// Two replicas (two stores, two pools) starting at the same instant: one creates the admin
/// token and the other finds it; both given TERN_ADMIN_TOKEN register it once. Ten times over.
async fn replicas_bootstrapping_at_once_agree_on_one_admin_token(f: Fixture) {
    let other = Store::open(&f.db.url, &f.key, f.clock.clone()).await.unwrap();
    let chosen = SecretString::new("an-admin-token-both-replicas-were-given-0123456".into());
    for round in 0..10 {
        for t in f.store.list_tokens(TokenKind::Admin, None).await.unwrap() {
            f.store.revoke_token(&t.id, &noted("token.revoked", &t.id)).await.unwrap();
        }
        let given = (round % 2 == 1).then_some(&chosen);
        let (a, b) = tokio::join!(f.store.bootstrap_admin_token(given), other.bootstrap_admin_token(given));
        let (a, b) = (a.unwrap(), b.unwrap());
        let created = [&a, &b].iter().filter(|o| matches!(o, AdminBootstrap::Created(_))).count();
        match given {
            None => assert_eq!(created, 1, "round {round}: exactly one creates it: {a:?} {b:?}"),
            Some(_) => {
                assert!(matches!((&a, &b), (AdminBootstrap::Given { .. }, AdminBootstrap::Given { .. })))
            }
        }
        assert_eq!(f.store.list_tokens(TokenKind::Admin, None).await.unwrap().len(), 1, "round {round}");
    }
    // A rolling rotation: T1 → T2. A replica still given T1 (restarted mid-rollout) is refused,
    // and T2 stays the admin token; T2 given again is fine.
    let t1 = SecretString::new("the-first-admin-token-0123456789abcdef-0123".into());
    let t2 = SecretString::new("the-second-admin-token-0123456789abcdef-012".into());
    f.store.bootstrap_admin_token(Some(&t1)).await.unwrap();
    f.store.bootstrap_admin_token(Some(&t2)).await.unwrap();
    let e = other.bootstrap_admin_token(Some(&t1)).await.unwrap_err();
    assert!(e.to_string().contains("replaced by a newer one"), "{e}");
    assert!(f.store.authenticate(t2.expose_secret()).await.unwrap().is_some(), "T2 still works");
    assert!(f.store.authenticate(t1.expose_secret()).await.unwrap().is_none());
    assert!(matches!(
        other.bootstrap_admin_token(Some(&t2)).await.unwrap(),
        AdminBootstrap::Given { revoked: 0 }
    ));
    assert!(!format!("{:?}", f.store.dump().await.unwrap()).contains(t1.expose_secret()));
}

async fn run_variables_are_sealed_and_options_kept(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    let secret = "\"run-variable-secret-value\"";
    let options = RunOptions {
        target_addrs: vec!["null_resource.a".into()],
        replace_addrs: vec!["module.m.null_resource.b[0]".into()],
        refresh: false,
        refresh_only: false,
        save_plan: true,
    };
    let input = RunInput {
        variables: vec![
            RunVariable { key: "password".into(), value: SecretString::new(secret.into()) },
            RunVariable { key: "n".into(), value: SecretString::new("3".into()) },
        ],
        options: options.clone(),
        ..Default::default()
    };
    let run = f.store.create_run(&ws.id, &input, "at-x", run_made).await.unwrap();
    assert_eq!(f.store.run(&run.id).await.unwrap().options, options);
    let vars = f.store.run_variables(&run.id).await.unwrap();
    let read: Vec<(&str, &str)> = vars.iter().map(|v| (v.key.as_str(), v.value.expose_secret())).collect();
    assert_eq!(read, [("password", secret), ("n", "3")]);
    assert!(!format!("{vars:?}").contains("run-variable-secret-value"));
    // At rest the value is sealed: not in the database file or table in the clear.
    let dump = format!("{:?}", f.store.dump().await.unwrap());
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02X}")).collect::<String>();
    let needle = "run-variable-secret-value";
    assert!(!dump.contains(needle) && !dump.contains(&hex(needle.as_bytes())), "sealed at rest");
    // A run without variables has none; the defaults refresh.
    let plain = f.store.create_run(&ws.id, &RunInput::default(), "at-x", run_made).await.unwrap();
    assert!(f.store.run_variables(&plain.id).await.unwrap().is_empty());
    assert_eq!(plain.options, RunOptions::default());
    assert!(plain.options.refresh);
}

async fn org(f: &Fixture, name: &str) -> Organization {
    f.store.create_organization(name, "ops@example.com").await.unwrap()
}

async fn workspace(f: &Fixture, org: &Organization, name: &str) -> Workspace {
    f.store
        .create_workspace(&org.id, &WorkspaceSettings { name: Some(name.into()), ..Default::default() })
        .await
        .unwrap()
}

fn version(text: &str) -> tern_types::Version {
    tern_types::Version::parse(text).unwrap()
}

/// An agent token: the server's workers' (no organization), an organization-wide one, or a
/// pool's.
async fn agent_token(f: &Fixture, org: Option<&str>, pool: Option<&str>) -> Token {
    match pool {
        Some(pool) => {
            f.store
                .create_pool_token(pool, "pool agents", None, None, |t: &Token| noted("token.created", &t.id))
                .await
                .unwrap()
                .0
        }
        None => f.store.create_token(TokenKind::Agent, org, None, "agents", None).await.unwrap().0,
    }
}

/// Claim as `agent` with `token` and Terraform `versions`.
async fn claim_with(f: &Fixture, agent: &str, token: &Token, versions: &[&str]) -> Option<Job> {
    let versions: Vec<_> = versions.iter().map(|v| version(v)).collect();
    let claimant =
        Claimant { agent, token, scope: ClaimScope::of(token).unwrap(), terraform_versions: &versions };
    f.store.claim_job(&claimant, 30).await.unwrap()
}

/// Claim as `agent` with the server's workers' token (`org` None) or an organization-wide
/// agent token, with Terraform 1.11.4.
async fn claim(f: &Fixture, agent: &str, org: Option<&str>) -> Option<Job> {
    let token = agent_token(f, org, None).await;
    claim_with(f, agent, &token, &["1.11.4"]).await
}

/// The audit event of an act on run `run`, recorded with the act.
fn act(action: &str, run: &str) -> AuditInput {
    AuditInput {
        organization_id: None,
        actor: "at-test".into(),
        actor_kind: "organization".into(),
        action: action.into(),
        workspace_id: None,
        run_id: Some(run.into()),
        details: serde_json::json!({}),
    }
}

/// An act of a test, recorded with the id of what it made or changed.
fn noted(action: &str, id: &str) -> AuditInput {
    AuditInput {
        organization_id: None,
        actor: "at-test".into(),
        actor_kind: "organization".into(),
        action: action.into(),
        workspace_id: None,
        run_id: None,
        details: serde_json::json!({ "id": id }),
    }
}

/// [`noted`] for a run created.
fn run_made(r: &Run) -> AuditInput {
    noted("run.created", &r.id)
}

/// [`noted`] for a team created.
fn team_made(t: &Team) -> AuditInput {
    noted("team.created", &t.id)
}

/// Every action recorded with the id it names (`details.id`), oldest first.
async fn trail(f: &Fixture) -> Vec<(String, String)> {
    let trail =
        f.store.audit_events(None, &AuditFilter::default(), Page { number: 1, size: 100 }).await.unwrap();
    trail
        .items
        .into_iter()
        .map(|e| (e.event.action, e.event.details["id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The actions recorded for run `run`, oldest first.
async fn acts(f: &Fixture, run: &str) -> Vec<String> {
    let filter = AuditFilter { run_id: Some(run.into()), ..AuditFilter::default() };
    let trail = f.store.audit_events(None, &filter, Page { number: 1, size: 100 }).await.unwrap();
    trail.items.into_iter().map(|e| e.event.action).collect()
}

fn named(part: &str) -> WorkspaceFilter {
    WorkspaceFilter { name: Some(part.into()), ..Default::default() }
}

async fn uploaded_cv(f: &Fixture, ws: &Workspace) -> ConfigurationVersion {
    let cv = f.store.create_configuration_version(&ws.id, false, false).await.unwrap();
    f.store.upload_configuration(&cv.id, b"tarball").await.unwrap()
}

async fn organizations_start_with_a_default_project(f: Fixture) {
    let o = org(&f, "acme").await;
    assert!(o.id.starts_with("org-"));
    let projects = f.store.list_projects(&o.id, &[], None, Page::default()).await.unwrap();
    let named = f
        .store
        .list_projects(&o.id, &["Default Project".to_owned(), "absent".to_owned()], None, Page::default())
        .await
        .unwrap();
    assert_eq!(named.items.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Default Project"]);
    assert_eq!(named.total, 1);
    assert_eq!(projects.items.len(), 1);
    assert_eq!(projects.items[0].name, "Default Project");
    let err = f.store.create_organization("acme", "x@example.com").await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("\"acme\" already exists")), "{err}");
    let err = f.store.create_organization("ac:me", "x@example.com").await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(m) if m.contains("':'")), "{err}");
    let p = f.store.create_project(&o.id, "Team Blue", "").await.unwrap();
    assert_eq!(f.store.project_by_name(&o.id, "Team Blue").await.unwrap(), p);
    assert!(matches!(f.store.organization("nope").await, Err(StoreError::NotFound { .. })));
    org(&f, "beta").await;
    let all = f.store.list_organizations(None, Page { number: 1, size: 1 }).await.unwrap();
    assert_eq!((all.total, all.items[0].name.as_str()), (2, "acme"));
    let only = f.store.list_organizations(Some(std::slice::from_ref(&o.id)), Page::default()).await.unwrap();
    assert_eq!(only.total, 1);
}

/// A member's list (`visible`: some workspaces, and every workspace of some projects) pages by
/// name with the right total, on every page and past the last, with the other filters; another
/// organization's workspaces never appear, even when named.
async fn a_members_workspace_list_pages_only_what_it_may_see(f: Fixture) {
    let o = org(&f, "acme").await;
    let other = org(&f, "other").await;
    let blue = f.store.create_project(&o.id, "blue", "").await.unwrap();
    let mut loose = Vec::new();
    for i in 0..30 {
        let project_id = (i % 3 == 0).then(|| blue.id.clone());
        let settings =
            WorkspaceSettings { name: Some(format!("ws-{i:02}")), project_id, ..Default::default() };
        let ws = f.store.create_workspace(&o.id, &settings).await.unwrap();
        if i % 3 != 0 && i % 4 == 0 {
            loose.push(ws.id);
        }
    }
    let theirs = workspace(&f, &other, "ws-99").await;
    // ws-00, 03, …, 27 through the project; 04, 08, 16, 20, 28 by id; and theirs, named.
    let mut ids = loose.clone();
    ids.push(theirs.id.clone());
    let visible = WorkspaceFilter { visible: Some((ids, vec![blue.id.clone()])), ..Default::default() };
    let want: Vec<String> =
        (0..30).filter(|i| i % 3 == 0 || i % 4 == 0).map(|i| format!("ws-{i:02}")).collect();
    assert_eq!(want.len(), 15);
    let mut seen = Vec::new();
    for number in 1..=4 {
        let page = f.store.list_workspaces(&o.id, &visible, Page { number, size: 4 }).await.unwrap();
        assert_eq!(page.total, 15, "page {number}");
        seen.extend(page.items.iter().map(|w| w.name.clone()));
        assert!(
            page.items
                .iter()
                .all(|w| w.project.as_str()
                    == if w.project_id == blue.id { "blue" } else { "Default Project" })
        );
    }
    assert_eq!(seen, want, "in name order, each once");
    let past = f.store.list_workspaces(&o.id, &visible, Page { number: 9, size: 4 }).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 15, "past the last page the total is still right");
    // With the other filters.
    let narrowed = WorkspaceFilter { name: Some("-2".into()), ..visible.clone() };
    let page = f.store.list_workspaces(&o.id, &narrowed, Page::default()).await.unwrap();
    let names: Vec<&str> = page.items.iter().map(|w| w.name.as_str()).collect();
    assert_eq!((names, page.total), (vec!["ws-20", "ws-21", "ws-24", "ws-27", "ws-28"], 5));
    let in_blue = WorkspaceFilter { project_id: Some(blue.id.clone()), ..visible.clone() };
    assert_eq!(f.store.list_workspaces(&o.id, &in_blue, Page::default()).await.unwrap().total, 10);
    // Nothing visible: nothing listed.
    let none = WorkspaceFilter { visible: Some((vec![], vec![])), ..Default::default() };
    let page = f.store.list_workspaces(&o.id, &none, Page::default()).await.unwrap();
    assert_eq!((page.items.len(), page.total), (0, 0));
    // The owner's list (no `visible`) still sees all 30, in order.
    let all = f
        .store
        .list_workspaces(&o.id, &WorkspaceFilter::default(), Page { number: 1, size: 50 })
        .await
        .unwrap();
    assert_eq!(all.total, 30);
    assert_eq!(all.items.last().unwrap().name, "ws-29");
}

async fn workspaces_are_unique_validated_and_paged(f: Fixture) {
    let o = org(&f, "acme").await;
    for i in 0..25 {
        workspace(&f, &o, &format!("ws-{i:02}")).await;
    }
    let page2 = f
        .store
        .list_workspaces(&o.id, &WorkspaceFilter::default(), Page { number: 2, size: 10 })
        .await
        .unwrap();
    assert_eq!(page2.total, 25);
    assert_eq!(page2.items.first().unwrap().name, "ws-10");
    let found = f.store.list_workspaces(&o.id, &named("-2"), Page::default()).await.unwrap();
    assert_eq!(found.total, 5, "ws-20..ws-24");
    // `_` is not a wildcard in search.
    assert_eq!(f.store.list_workspaces(&o.id, &named("_"), Page::default()).await.unwrap().total, 0);
    // Search ignores case on both backends (SQLite's LIKE did, PostgreSQL's did not).
    workspace(&f, &o, "WebApp").await;
    for part in ["weba", "WEBAPP", "bAp"] {
        let found = f.store.list_workspaces(&o.id, &named(part), Page::default()).await.unwrap();
        assert_eq!(found.total, 1, "{part}");
    }
    let wild = WorkspaceFilter { wildcard_name: Some("web*".into()), ..Default::default() };
    assert_eq!(f.store.list_workspaces(&o.id, &wild, Page::default()).await.unwrap().total, 1);
    let wild = WorkspaceFilter { wildcard_name: Some("WS-2*".into()), ..Default::default() };
    assert_eq!(f.store.list_workspaces(&o.id, &wild, Page::default()).await.unwrap().total, 5);
    let ws = f.store.workspace_by_name(&o.id, "ws-00").await.unwrap();
    assert_eq!(
        (ws.project.as_str(), ws.terraform_version.to_string().as_str(), ws.plan_timeout_s),
        ("Default Project", "latest", 7200)
    );
    let err = f
        .store
        .create_workspace(&o.id, &WorkspaceSettings { name: Some("ws-00".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    for bad in [
        WorkspaceSettings {
            name: Some("x".into()),
            working_directory: Some("../up".into()),
            ..Default::default()
        },
        WorkspaceSettings { name: Some("x".into()), plan_timeout_s: Some(5), ..Default::default() },
        WorkspaceSettings { name: Some("bad name".into()), ..Default::default() },
        WorkspaceSettings { name: None, ..Default::default() },
    ] {
        assert!(
            matches!(f.store.create_workspace(&o.id, &bad).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
    let updated = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings {
                terraform_version: Some(TerraformVersion::parse("1.0.3").unwrap()),
                auto_apply: Some(true),
                ..Default::default()
            },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert!(updated.auto_apply && updated.terraform_version.to_string() == "1.0.3");
    assert!(f.store.set_workspace_lock(&ws.id, true, &noted("workspace.locked", "")).await.unwrap().locked);
    assert!(matches!(
        f.store.set_workspace_lock(&ws.id, true, &noted("workspace.locked", "")).await,
        Err(StoreError::Conflict(_))
    ));
    // A rename to a taken name changes nothing and records nothing.
    let other = workspace(&f, &o, "taken").await;
    let taken = WorkspaceSettings { name: Some(other.name.clone()), ..Default::default() };
    let err = f.store.update_workspace(&ws.id, &taken, &noted("workspace.updated", "")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    f.store.delete_workspace(&ws.id, &noted("workspace.deleted", "")).await.unwrap();
    assert!(matches!(f.store.workspace(&ws.id).await, Err(StoreError::NotFound { .. })));
    let acts: Vec<String> = trail(&f).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(acts, ["workspace.updated", "workspace.locked", "workspace.deleted"]);
}

async fn sensitive_values_are_sealed_and_only_jobs_read_them(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    let owner = VariableOwner::Workspace(ws.id.clone());
    let secret = "s3cr3t-value-that-must-not-leak";
    let v = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                value: Some(SecretString::new(secret.into())),
                category: Some(Category::Env),
                sensitive: Some(true),
                ..Default::default()
            },
            |v: &Variable| noted("variable.created", &v.id),
        )
        .await
        .unwrap();
    assert_eq!(v.value, None);
    assert!(!format!("{v:?}").contains(secret));
    let listed = f.store.list_variables(&owner).await.unwrap();
    assert!(!format!("{listed:?}").contains(secret));
    let job = f.store.job_variables(&ws.id).await.unwrap();
    assert_eq!(job[0].value.expose_secret(), secret);
    assert!(!format!("{job:?}").contains(secret));
    let err = f
        .store
        .update_variable(
            &v.id,
            &VariableInput { sensitive: Some(false), ..Default::default() },
            |v: &Variable| noted("variable.updated", &v.id),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot be made non-sensitive"), "{err}");
    // A plain variable that becomes sensitive keeps its value, sealed.
    let plain = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("region".into()),
                value: Some(SecretString::new("eu-west-1".into())),
                category: Some(Category::Terraform),
                ..Default::default()
            },
            |v: &Variable| noted("variable.created", &v.id),
        )
        .await
        .unwrap();
    assert_eq!(plain.value.as_deref(), Some("eu-west-1"));
    let sealed = f
        .store
        .update_variable(
            &plain.id,
            &VariableInput { sensitive: Some(true), ..Default::default() },
            |v: &Variable| noted("variable.updated", &v.id),
        )
        .await
        .unwrap();
    assert_eq!(sealed.value, None);
    let job = f.store.job_variables(&ws.id).await.unwrap();
    assert!(job.iter().any(|v| v.key == "region" && v.value.expose_secret() == "eu-west-1"));
    for (key, category) in [("1BAD", Category::Env), ("has-dash", Category::Env), ("", Category::Terraform)] {
        let err = f
            .store
            .create_variable(
                &owner,
                &VariableInput { key: Some(key.into()), category: Some(category), ..Default::default() },
                |v: &Variable| noted("variable.created", &v.id),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{key}: {err}");
    }
    let dup = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                category: Some(Category::Env),
                ..Default::default()
            },
            |v: &Variable| noted("variable.created", &v.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)));
    // Same key, other category: allowed.
    let other = f
        .store
        .create_variable(
            &owner,
            &VariableInput {
                key: Some("DB_PASSWORD".into()),
                category: Some(Category::Terraform),
                ..Default::default()
            },
            |v: &Variable| noted("variable.created", &v.id),
        )
        .await
        .unwrap();
    f.store.delete_variable(&v.id, &noted("variable.deleted", &v.id)).await.unwrap();
    assert!(matches!(
        f.store.delete_variable(&v.id, &noted("variable.deleted", &v.id)).await,
        Err(StoreError::NotFound { .. })
    ));
    // Each act is recorded with it; a refused one (a bad key, a duplicate, unsealing, a
    // second delete) records nothing.
    assert_eq!(
        trail(&f).await,
        [
            ("variable.created", v.id.as_str()),
            ("variable.created", plain.id.as_str()),
            ("variable.updated", plain.id.as_str()),
            ("variable.created", other.id.as_str()),
            ("variable.deleted", v.id.as_str()),
        ]
        .map(|(a, id)| (a.to_owned(), id.to_owned()))
    );
}

async fn variable_sets_apply_with_workspace_precedence(f: Fixture) {
    let o = org(&f, "acme").await;
    let a = workspace(&f, &o, "a").await;
    let b = workspace(&f, &o, "b").await;
    let global = f
        .store
        .create_variable_set(&o.id, "everywhere", "", true, &SetReach::default(), |s: &VariableSet| {
            noted("variable-set.created", &s.id)
        })
        .await
        .unwrap();
    let attached = f
        .store
        .create_variable_set(&o.id, "aws", "", false, &SetReach::default(), |s: &VariableSet| {
            noted("variable-set.created", &s.id)
        })
        .await
        .unwrap();
    let applied = |s: &VariableSet| noted("variable-set.applied", &s.id);
    let set = |set: &VariableSet, key: &str, value: &str| {
        let owner = VariableOwner::VariableSet(set.id.clone());
        let input = VariableInput {
            key: Some(key.into()),
            value: Some(SecretString::new(value.into())),
            category: Some(Category::Env),
            ..Default::default()
        };
        let store = f.store.clone();
        async move {
            store
                .create_variable(&owner, &input, |v: &Variable| noted("variable.created", &v.id))
                .await
                .unwrap()
        }
    };
    set(&global, "TFC_AWS_RUN_ROLE_ARN", "global-role").await;
    set(&global, "ONLY_GLOBAL", "g").await;
    set(&attached, "TFC_AWS_RUN_ROLE_ARN", "aws-role").await;
    set(&attached, "TFC_AWS_PROVIDER_AUTH", "true").await;
    f.store
        .apply_variable_set(&attached.id, SetScope::Workspaces, std::slice::from_ref(&a.id), applied)
        .await
        .unwrap();
    f.store
        .create_variable(
            &VariableOwner::Workspace(a.id.clone()),
            &VariableInput {
                key: Some("TFC_AWS_RUN_ROLE_ARN".into()),
                value: Some(SecretString::new("workspace-role".into())),
                category: Some(Category::Env),
                ..Default::default()
            },
            |v: &Variable| noted("variable.created", &v.id),
        )
        .await
        .unwrap();
    let value = |vars: &[JobVariable], key: &str| {
        vars.iter().find(|v| v.key == key).map(|v| v.value.expose_secret().to_owned())
    };
    let va = f.store.job_variables(&a.id).await.unwrap();
    assert_eq!(value(&va, "TFC_AWS_RUN_ROLE_ARN").as_deref(), Some("workspace-role"));
    assert_eq!(value(&va, "TFC_AWS_PROVIDER_AUTH").as_deref(), Some("true"));
    assert_eq!(value(&va, "ONLY_GLOBAL").as_deref(), Some("g"));
    assert_eq!(va.iter().filter(|v| v.key == "TFC_AWS_RUN_ROLE_ARN").count(), 1);
    let vb = f.store.job_variables(&b.id).await.unwrap();
    // "aws" sorts before "everywhere", but b has only the global set.
    assert_eq!(value(&vb, "TFC_AWS_RUN_ROLE_ARN").as_deref(), Some("global-role"));
    assert_eq!(value(&vb, "TFC_AWS_PROVIDER_AUTH"), None);
    let other = org(&f, "other").await;
    let foreign = workspace(&f, &other, "x").await;
    assert!(
        f.store
            .apply_variable_set(
                &attached.id,
                SetScope::Workspaces,
                std::slice::from_ref(&foreign.id),
                applied
            )
            .await
            .is_err()
    );
    assert_eq!(f.store.job_variables(&foreign.id).await.unwrap().len(), 0, "sets never cross organizations");
    // All or nothing: one foreign id among good ones applies none of them.
    let c = workspace(&f, &o, "c").await;
    assert!(
        f.store
            .apply_variable_set(
                &attached.id,
                SetScope::Workspaces,
                &[c.id.clone(), foreign.id.clone()],
                applied
            )
            .await
            .is_err()
    );
    assert!(!f.store.variable_set(&attached.id).await.unwrap().workspace_ids.contains(&c.id));
    let detached = f
        .store
        .remove_variable_set(
            &attached.id,
            SetScope::Workspaces,
            std::slice::from_ref(&a.id),
            |s: &VariableSet| noted("variable-set.removed", &s.id),
        )
        .await
        .unwrap();
    assert!(detached.workspace_ids.is_empty());
    assert_eq!(f.store.list_variable_sets(&o.id).await.unwrap().len(), 2);
    // A set created where it applies, in one act; one that may not apply everywhere asked
    // is not created, and nothing is recorded.
    let reach = SetReach { workspaces: vec![b.id.clone()], projects: vec![b.project_id.clone()] };
    let created = f
        .store
        .create_variable_set(&o.id, "both", "", false, &reach, |s: &VariableSet| {
            noted("variable-set.created", &s.id)
        })
        .await
        .unwrap();
    assert_eq!((created.workspace_ids, created.project_ids), (reach.workspaces, reach.projects));
    let refused = SetReach { workspaces: vec![b.id.clone(), foreign.id.clone()], ..SetReach::default() };
    let err = f
        .store
        .create_variable_set(&o.id, "half", "", false, &refused, |s: &VariableSet| {
            noted("variable-set.created", &s.id)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(f.store.list_variable_sets(&o.id).await.unwrap().len(), 3);
    // A rename to a taken name changes nothing of the rest, and records nothing.
    let changes = VariableSetChanges {
        name: Some("aws".into()),
        remove: SetReach::of(SetScope::Workspaces, vec![b.id.clone()]),
        ..VariableSetChanges::default()
    };
    let err = f
        .store
        .update_variable_set(&created.id, &changes, |s: &VariableSet| noted("variable-set.updated", &s.id))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(f.store.variable_set(&created.id).await.unwrap().workspace_ids, std::slice::from_ref(&b.id));
    let gone = noted("variable-set.deleted", &created.id);
    f.store.delete_variable_set(&created.id, &gone).await.unwrap();
    assert!(matches!(
        f.store.delete_variable_set(&created.id, &gone).await,
        Err(StoreError::NotFound { .. })
    ));
    let sets: Vec<(String, String)> =
        trail(&f).await.into_iter().filter(|(a, _)| a.starts_with("variable-set.")).collect();
    assert_eq!(
        sets,
        [
            ("variable-set.created", global.id.as_str()),
            ("variable-set.created", attached.id.as_str()),
            ("variable-set.applied", attached.id.as_str()),
            ("variable-set.removed", attached.id.as_str()),
            ("variable-set.created", created.id.as_str()),
            ("variable-set.deleted", created.id.as_str()),
        ]
        .map(|(a, id)| (a.to_owned(), id.to_owned()))
    );
}

async fn a_run_goes_through_plan_and_apply(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    let err = f.store.create_run(&ws.id, &RunInput::default(), "at-x", run_made).await.unwrap_err();
    assert!(err.to_string().contains("no uploaded configuration"), "{err}");
    let cv = uploaded_cv(&f, &ws).await;
    assert_eq!(f.store.configuration_tarball(&cv.id).await.unwrap(), b"tarball");
    let run = f.store.create_run(&ws.id, &RunInput::default(), "at-x", run_made).await.unwrap();
    // The run and its record commit together; the refused one above left none.
    let created: Vec<_> = trail(&f).await.into_iter().filter(|(a, _)| a == "run.created").collect();
    assert_eq!(created, [("run.created".to_owned(), run.id.clone())]);
    assert_eq!(
        (run.status, run.plan_status, run.configuration_version_id.as_str()),
        (RunStatus::Pending, PhaseStatus::Queued, cv.id.as_str())
    );
    let job = claim(&f, "agent-1", None).await.unwrap();
    assert_eq!(
        (job.phase, job.run_id.as_str(), job.agent.as_deref()),
        (RunPhase::Plan, run.id.as_str(), Some("agent-1"))
    );
    assert_eq!(f.store.run(&run.id).await.unwrap().status, RunStatus::Planning);
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id.as_deref(), Some(run.id.as_str()));
    assert!(claim(&f, "agent-2", None).await.is_none());
    // A follower hears its run change (a log appended) at once, not after its patience; with
    // no change it waits its patience out.
    let mut changes = f.store.run_changes();
    let waited = std::time::Instant::now();
    f.store.append_log(&run.id, RunPhase::Plan, b"Terraform will perform ").await.unwrap();
    changes.wait_for(&run.id, std::time::Duration::from_secs(30)).await;
    assert!(waited.elapsed() < std::time::Duration::from_secs(10), "the follower was not woken");
    let waited = std::time::Instant::now();
    changes.wait_for(&run.id, std::time::Duration::from_millis(200)).await;
    assert!(waited.elapsed() >= std::time::Duration::from_millis(200), "woken without a change");
    f.store.append_log(&run.id, RunPhase::Plan, b"the following actions\n").await.unwrap();
    assert_eq!(
        f.store.log(&run.id, RunPhase::Plan).await.unwrap(),
        b"Terraform will perform the following actions\n"
    );
    // Ranges across chunk boundaries read as slices of the whole; followers resume by chunk.
    let whole = b"Terraform will perform the following actions\n";
    for (offset, limit) in [(0, 5), (20, 6), (23, 100), (22, 1), (46, 10), (45, 1), (100, 1), (3, 0)] {
        let (got, length) = f.store.log_range(&run.id, RunPhase::Plan, offset, limit).await.unwrap();
        let from = (offset as usize).min(whole.len());
        let to = (offset + limit).min(whole.len() as u64) as usize;
        assert_eq!(
            (got.as_slice(), length),
            (&whole[from..to.max(from)], whole.len() as u64),
            "offset {offset} limit {limit}"
        );
    }
    let chunks = f.store.log_after(&run.id, RunPhase::Plan, 0, 10).await.unwrap();
    assert_eq!(chunks.len(), 2);
    let rest = f.store.log_after(&run.id, RunPhase::Plan, chunks[0].0, 10).await.unwrap();
    assert_eq!(rest, chunks[1..].to_vec());
    assert_eq!(f.store.log_last_chunk(&run.id, RunPhase::Plan).await.unwrap(), chunks[1].0);
    assert_eq!(f.store.log_tail(&run.id, RunPhase::Plan, 1000).await.unwrap(), (whole.to_vec(), chunks[1].0));
    assert_eq!(
        f.store.log_tail(&run.id, RunPhase::Plan, 10).await.unwrap(),
        (whole[35..].to_vec(), chunks[1].0)
    );
    assert_eq!(f.store.log_tail(&run.id, RunPhase::Apply, 10).await.unwrap(), (Vec::new(), 0));
    assert_eq!(f.store.log_range(&run.id, RunPhase::Apply, 0, 10).await.unwrap(), (Vec::new(), 0));
    // Appends that overlap (a retried request beside the one still handled) each start where
    // the log ended: the ranges read as slices of the whole log.
    let mut overlapping = Vec::new();
    for i in 0..16u8 {
        let (store, id) = (f.store.clone(), run.id.clone());
        overlapping.push(tokio::spawn(async move {
            store.append_log(&id, RunPhase::Apply, &[b'a' + i; 7]).await.unwrap();
        }));
    }
    for t in overlapping {
        t.await.unwrap();
    }
    let whole_apply = f.store.log(&run.id, RunPhase::Apply).await.unwrap();
    assert_eq!(whole_apply.len(), 16 * 7);
    for offset in [0, 6, 7, 50, 111] {
        let (got, length) = f.store.log_range(&run.id, RunPhase::Apply, offset, 9).await.unwrap();
        assert_eq!(length, 16 * 7, "the log's length from its last chunk");
        let from = offset as usize;
        assert_eq!(got, whole_apply[from..(from + 9).min(whole_apply.len())], "at {offset}");
    }
    assert!(!f.store.heartbeat(&job.id, 30).await.unwrap());
    f.store.set_plan_file(&run.id, b"planfile with a sensitive value").await.unwrap();
    assert_eq!(f.store.plan_file(&run.id).await.unwrap(), b"planfile with a sensitive value");
    let dump = format!("{:?}", f.store.dump().await.unwrap());
    let hex: String = b"planfile".iter().map(|c| format!("{c:02X}")).collect();
    assert!(!dump.contains(&hex), "saved plans are sealed at rest");
    let planned = f.store.finish_job(&job.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!(
        (planned.status, planned.plan_status, planned.has_changes),
        (RunStatus::Planned, PhaseStatus::Finished, Some(true))
    );
    assert!(matches!(f.store.finish_job(&job.id, &JobOutcome::Canceled).await, Err(StoreError::Conflict(_))));
    assert!(claim(&f, "agent-1", None).await.is_none(), "nothing to do until confirmed");
    let confirmed = f.store.apply_run(&run.id, &act("run.applied", &run.id)).await.unwrap();
    assert_eq!((confirmed.status, confirmed.apply_status), (RunStatus::Confirmed, PhaseStatus::Queued));
    assert_eq!(acts(&f, &run.id).await, ["run.applied"], "recorded with the act");
    assert!(f.store.apply_run(&run.id, &act("run.applied", &run.id)).await.is_err(), "applied once");
    assert_eq!(acts(&f, &run.id).await, ["run.applied"], "a refused act records nothing");
    let apply = claim(&f, "agent-2", Some(&o.id)).await.unwrap();
    assert_eq!(apply.phase, RunPhase::Apply);
    assert_eq!(f.store.plan_file(&run.id).await.unwrap(), b"planfile with a sensitive value");
    let applied = f.store.finish_job(&apply.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!((applied.status, applied.apply_status), (RunStatus::Applied, PhaseStatus::Finished));
    assert!(
        applied.status_timestamps.contains_key("applied-at")
            && applied.status_timestamps.contains_key("planning-at")
    );
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id, None);
    // Auto-apply and no-change plans.
    let auto = f
        .store
        .create_run(&ws.id, &RunInput { auto_apply: Some(true), ..Default::default() }, "at-x", run_made)
        .await
        .unwrap();
    let j = claim(&f, "a", None).await.unwrap();
    assert_eq!(
        f.store.finish_job(&j.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap().status,
        RunStatus::Confirmed
    );
    let j = claim(&f, "a", None).await.unwrap();
    assert_eq!((j.run_id.as_str(), j.phase), (auto.id.as_str(), RunPhase::Apply));
    f.store.finish_job(&j.id, &JobOutcome::Failed("provider crashed".into())).await.unwrap();
    let failed = f.store.run(&auto.id).await.unwrap();
    assert_eq!(
        (failed.status, failed.error_message.as_deref()),
        (RunStatus::Errored, Some("provider crashed"))
    );
    f.store.create_run(&ws.id, &RunInput::default(), "at-x", run_made).await.unwrap();
    let j = claim(&f, "a", None).await.unwrap();
    assert_eq!(
        f.store.finish_job(&j.id, &JobOutcome::Succeeded { has_changes: false }).await.unwrap().status,
        RunStatus::PlannedAndFinished
    );
    // Another organization's agent sees nothing of acme.
    f.store.create_run(&ws.id, &RunInput::default(), "at-x", run_made).await.unwrap();
    let other = org(&f, "other").await;
    assert!(claim(&f, "b", Some(&other.id)).await.is_none());
    assert_eq!(
        f.store
            .list_runs(
                tern_store::RunScope::Workspace(&ws.id),
                &tern_store::RunFilter::default(),
                Page::default()
            )
            .await
            .unwrap()
            .total,
        4
    );
}

async fn runs_of_a_workspace_take_turns(f: Fixture) {
    let o = org(&f, "acme").await;
    let a = workspace(&f, &o, "a").await;
    let b = workspace(&f, &o, "b").await;
    uploaded_cv(&f, &a).await;
    uploaded_cv(&f, &b).await;
    let a1 = f.store.create_run(&a.id, &RunInput::default(), "t", run_made).await.unwrap();
    let a2 = f.store.create_run(&a.id, &RunInput::default(), "t", run_made).await.unwrap();
    let b1 = f.store.create_run(&b.id, &RunInput::default(), "t", run_made).await.unwrap();
    let j1 = claim(&f, "x", None).await.unwrap();
    let j2 = claim(&f, "x", None).await.unwrap();
    assert_eq!((j1.run_id.as_str(), j2.run_id.as_str()), (a1.id.as_str(), b1.id.as_str()), "a2 waits for a1");
    assert!(claim(&f, "x", None).await.is_none());
    f.store.finish_job(&j1.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert!(claim(&f, "x", None).await.is_none(), "a planned run holds its workspace");
    f.store.discard_run(&a1.id, &act("run.discarded", &a1.id)).await.unwrap();
    let j3 = claim(&f, "x", None).await.unwrap();
    assert_eq!(j3.run_id, a2.id);
    // A plan-only run neither waits for the workspace nor takes it.
    let spec = f
        .store
        .create_run(&a.id, &RunInput { plan_only: true, ..Default::default() }, "t", run_made)
        .await
        .unwrap();
    let j4 = claim(&f, "x", None).await.unwrap();
    assert_eq!(j4.run_id, spec.id);
    assert_eq!(f.store.workspace(&a.id).await.unwrap().active_run_id.as_deref(), Some(a2.id.as_str()));
    f.store.finish_job(&j4.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    assert_eq!(f.store.run(&spec.id).await.unwrap().status, RunStatus::PlannedAndFinished);
    assert_eq!(f.store.workspace(&a.id).await.unwrap().active_run_id.as_deref(), Some(a2.id.as_str()));
}

async fn each_job_is_claimed_exactly_once(f: Fixture) {
    let o = org(&f, "acme").await;
    let mut runs = Vec::new();
    for i in 0..12 {
        let ws = workspace(&f, &o, &format!("w{i}")).await;
        uploaded_cv(&f, &ws).await;
        runs.push(f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap().id);
    }
    let mut tasks = Vec::new();
    for agent in 0..6 {
        let store = f.store.clone();
        let workers = agent_token(&f, None, None).await;
        let versions = vec![version("1.11.4")];
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..40 {
                let name = format!("agent-{agent}");
                let claimant = Claimant {
                    agent: &name,
                    token: &workers,
                    scope: ClaimScope::ServerWorkers,
                    terraform_versions: &versions,
                };
                match store.claim_job(&claimant, 30).await {
                    Ok(Some(job)) => mine.push(job.run_id),
                    Ok(None) => tokio::time::sleep(Duration::from_millis(2)).await,
                    Err(e) => panic!("claim failed: {e}"),
                }
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    claimed.sort();
    runs.sort();
    assert_eq!(claimed, runs, "every run claimed once, none twice");
}

async fn dead_agents_leave_errored_runs(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    let r1 = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let j = claim(&f, "doomed", None).await.unwrap();
    let (_, job_token) =
        f.store.create_token(TokenKind::Job, Some(&o.id), Some(&j.id), "job", None).await.unwrap();
    f.clock.advance(Duration::from_secs(20));
    assert!(f.store.expire_jobs().await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(11));
    let expired = f.store.expire_jobs().await.unwrap();
    assert_eq!(expired.len(), 1);
    let run = f.store.run(&r1.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Errored);
    assert!(run.error_message.unwrap().contains("(doomed) stopped reporting"));
    assert!(f.store.authenticate(job_token.expose_secret()).await.unwrap().is_none(), "job token revoked");
    assert!(matches!(f.store.heartbeat(&j.id, 30).await, Err(StoreError::Conflict(_))));
    // A restarted agent errors what it held.
    let r2 = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    claim(&f, "local@host", None).await.unwrap();
    let abandoned =
        f.store.abandon_agent_jobs("local@host", None, "tern restarted while this phase ran").await.unwrap();
    assert_eq!(abandoned[0].id, r2.id);
    assert_eq!(
        f.store.run(&r2.id).await.unwrap().error_message.as_deref(),
        Some("tern restarted while this phase ran")
    );
    assert_eq!(f.store.workspace(&ws.id).await.unwrap().active_run_id, None);
}

async fn cancel_and_discard_follow_the_state_machine(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    uploaded_cv(&f, &ws).await;
    let r = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    assert!(
        matches!(f.store.discard_run(&r.id, &act("run.discarded", &r.id)).await, Err(StoreError::Conflict(m)) if m.contains("is pending"))
    );
    // An act and its audit record commit together: a refused act records nothing.
    assert_eq!(acts(&f, &r.id).await, Vec::<String>::new());
    let canceled = f.store.cancel_run(&r.id, "canceled by admin", &act("run.canceled", &r.id)).await.unwrap();
    assert_eq!((canceled.status, canceled.plan_status), (RunStatus::Canceled, PhaseStatus::Canceled));
    assert_eq!(acts(&f, &r.id).await, ["run.canceled"]);
    assert!(claim(&f, "a", None).await.is_none());
    assert!(matches!(
        f.store.cancel_run(&r.id, "again", &act("run.canceled", &r.id)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(acts(&f, &r.id).await, ["run.canceled"]);
    // A running phase is asked to stop; the run is canceled when the agent reports.
    let r = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let j = claim(&f, "a", None).await.unwrap();
    assert_eq!(
        f.store.cancel_run(&r.id, "stop", &act("run.canceled", &r.id)).await.unwrap().status,
        RunStatus::Planning
    );
    assert_eq!(acts(&f, &r.id).await, ["run.canceled"], "the request to the agent, recorded with it");
    assert!(f.store.heartbeat(&j.id, 30).await.unwrap(), "the agent learns of the cancel");
    let done = f.store.finish_job(&j.id, &JobOutcome::Failed("interrupted".into())).await.unwrap();
    assert_eq!(done.status, RunStatus::Canceled);
    // Locked workspaces start no runs.
    f.store.set_workspace_lock(&ws.id, true, &noted("workspace.locked", "")).await.unwrap();
    assert!(
        matches!(f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await, Err(StoreError::Conflict(m)) if m.contains("locked"))
    );
    let created = trail(&f).await.into_iter().filter(|(a, _)| a == "run.created").count();
    assert_eq!(created, 2, "a run refused on a locked workspace records nothing");
}

async fn state_versions_move_forward_only(f: Fixture) {
    let o = org(&f, "acme").await;
    let ws = workspace(&f, &o, "app").await;
    assert!(matches!(f.store.current_state_version(&ws.id).await, Err(StoreError::NotFound { .. })));
    let s1 =
        br#"{"version":4,"terraform_version":"1.0.3","serial":1,"lineage":"L1","outputs":{},"resources":[]}"#;
    let v1 = f.store.create_state_version(&ws.id, None, s1).await.unwrap();
    assert_eq!((v1.serial, v1.lineage.as_str(), v1.size), (1, "L1", i64::try_from(s1.len()).unwrap()));
    assert_eq!(v1.md5, md5_hex(s1));
    let stale = f.store.create_state_version(&ws.id, None, s1).await.unwrap_err();
    assert!(stale.to_string().contains("not newer"), "{stale}");
    let other = f
        .store
        .create_state_version(&ws.id, None, br#"{"version":4,"serial":9,"lineage":"L2"}"#)
        .await
        .unwrap_err();
    assert!(other.to_string().contains("lineage"), "{other}");
    let s2 = br#"{"version":4,"serial":2,"lineage":"L1","outputs":{"db":{"value":"state-secret-7f3a","sensitive":true}}}"#;
    let v2 = f.store.create_state_version(&ws.id, Some("run-x"), s2).await.unwrap();
    assert_eq!(f.store.current_state_version(&ws.id).await.unwrap(), v2);
    assert_eq!(f.store.state_bytes(&v2.id).await.unwrap(), s2);
    assert_eq!(v2.size, i64::try_from(s2.len()).unwrap(), "the size is the state's, not the ciphertext's");
    // Sealed at rest: neither the value nor the state's text is in any row.
    let dump = format!("{:?}", f.store.dump().await.unwrap());
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02X}")).collect::<String>();
    for needle in ["state-secret-7f3a", "lineage"] {
        assert!(
            !dump.contains(needle) && !dump.contains(&hex(needle.as_bytes())),
            "{needle} stored in the clear"
        );
    }
    let list = f.store.list_state_versions(&ws.id, Page::default()).await.unwrap();
    assert_eq!(list.items.iter().map(|v| v.serial).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(f.store.previous_state_version(&ws.id, 2).await.unwrap(), Some(v1));
    assert_eq!(f.store.previous_state_version(&ws.id, 1).await.unwrap(), None);
    assert!(matches!(f.store.create_state_version(&ws.id, None, b"{}").await, Err(StoreError::Invalid(_))));
}

async fn tokens_are_hashed_and_expire(f: Fixture) {
    let o = org(&f, "acme").await;
    let (t, secret) = f
        .store
        .create_token(TokenKind::Organization, Some(&o.id), None, "ci", Some(1_800_000_100))
        .await
        .unwrap();
    assert!(secret.expose_secret().starts_with("tern-org."));
    assert!(!format!("{t:?} {secret:?}").contains(secret.expose_secret()));
    assert_eq!(f.store.authenticate(secret.expose_secret()).await.unwrap(), Some(t.clone()));
    assert_eq!(f.store.authenticate("tern-org.nope").await.unwrap(), None);
    f.clock.advance(Duration::from_secs(100));
    assert_eq!(f.store.authenticate(secret.expose_secret()).await.unwrap(), None, "expired");
    // First start: an admin token is created once; later starts find it.
    let first = match f.store.bootstrap_admin_token(None).await.unwrap() {
        AdminBootstrap::Created(secret) => secret,
        other => panic!("{other:?}"),
    };
    assert!(first.expose_secret().starts_with("tern-admin."));
    assert!(matches!(f.store.bootstrap_admin_token(None).await.unwrap(), AdminBootstrap::Existing));
    // TERN_ADMIN_TOKEN becomes the admin token and revokes the others; again, it changes nothing.
    let chosen = SecretString::new("an-admin-token-chosen-by-the-operator-0123456789".into());
    assert!(matches!(
        f.store.bootstrap_admin_token(Some(&chosen)).await.unwrap(),
        AdminBootstrap::Given { revoked: 1 }
    ));
    assert!(matches!(
        f.store.bootstrap_admin_token(Some(&chosen)).await.unwrap(),
        AdminBootstrap::Given { revoked: 0 }
    ));
    assert_eq!(
        f.store.authenticate(first.expose_secret()).await.unwrap(),
        None,
        "the first-start token died"
    );
    assert_eq!(f.store.authenticate(chosen.expose_secret()).await.unwrap().unwrap().kind, TokenKind::Admin);
    // A rotation: the new one works, the old one no longer.
    let rotated = SecretString::new("the-next-admin-token-chosen-by-the-operator-987".into());
    f.store.bootstrap_admin_token(Some(&rotated)).await.unwrap();
    assert_eq!(f.store.authenticate(chosen.expose_secret()).await.unwrap(), None, "rotated out");
    assert!(f.store.authenticate(rotated.expose_secret()).await.unwrap().is_some());
    // Each replacement that revoked something is recorded with it, as the system's act.
    let filter = AuditFilter { action: Some("token.revoked".into()), ..AuditFilter::default() };
    let trail = f.store.audit_events(None, &filter, Page { number: 1, size: 10 }).await.unwrap().items;
    let counts: Vec<_> =
        trail.iter().map(|e| (e.event.actor.as_str(), e.event.details["count"].as_u64())).collect();
    assert_eq!(counts, [("system", Some(1)), ("system", Some(1))]);
    assert!(f.store.bootstrap_admin_token(Some(&SecretString::new("short".into()))).await.is_err());
    // Another kind's token is never promoted to admin.
    assert!(f.store.bootstrap_admin_token(Some(&secret)).await.is_err(), "an organization token");
    assert_eq!(f.store.list_tokens(TokenKind::Organization, Some(&o.id)).await.unwrap().len(), 1);
    f.store.revoke_token(&t.id, &noted("token.revoked", &t.id)).await.unwrap();
    assert!(f.store.list_tokens(TokenKind::Organization, None).await.unwrap().is_empty());
}

/// An administrator's acts on users commit with their audit record; a refused one records
/// nothing.
async fn user_acts_commit_with_their_record(f: Fixture) {
    let made = |u: &User| noted("user.created", &u.id);
    let u = f.store.create_user_with_identity("alice", "", false, Some("https://idp#1"), made).await.unwrap();
    assert!(f.store.create_user_with_identity("alice", "", false, None, made).await.is_err(), "taken");
    assert!(f.store.create_user_with_identity("bad name", "", false, None, made).await.is_err());
    let admin =
        f.store.set_site_admin(&u.id, true, |u: &User| noted("user.admin-granted", &u.id)).await.unwrap();
    assert!(admin.site_admin);
    let missing =
        f.store.set_site_admin("user-missing", true, |u: &User| noted("user.admin-granted", &u.id)).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    f.store.delete_user(&u.id, &noted("user.deleted", &u.id)).await.unwrap();
    assert!(f.store.delete_user(&u.id, &noted("user.deleted", &u.id)).await.is_err());
    // A user met at a sign-in is recorded as it is created; met again, not.
    let made = |u: &User| noted("user.created", &u.id);
    let bob = f.store.user_for_identity("https://idp#2", "bob", "", made).await.unwrap();
    f.store.user_for_identity("https://idp#2", "bob", "bob@acme.test", made).await.unwrap();
    assert_eq!(
        trail(&f).await,
        [
            ("user.created", u.id.as_str()),
            ("user.admin-granted", u.id.as_str()),
            ("user.deleted", u.id.as_str()),
            ("user.created", bob.id.as_str()),
        ]
        .map(|(a, id)| (a.to_owned(), id.to_owned()))
    );
}

/// A token someone asks for, and its revocation, commit with their audit record; an act that
/// is refused records nothing.
async fn token_acts_commit_with_their_record(f: Fixture) {
    let o = org(&f, "acme").await;
    let created = |t: &Token| noted("token.created", &t.id);
    let (org_token, _) = f
        .store
        .create_organization_scoped_token(TokenKind::Organization, &o.id, "ci", None, None, created)
        .await
        .unwrap();
    let pool = f.store.create_agent_pool(&o.id, "rack").await.unwrap();
    let (pool_token, _) = f.store.create_pool_token(&pool.id, "rack 1", None, None, created).await.unwrap();
    let u = f.store.create_user("alice", "", false).await.unwrap();
    let (user_token, _) = f.store.create_user_token(&u.id, "laptop", None, created).await.unwrap();
    let none = tern_access::OrgPermissions::default();
    let team = f.store.create_team(&o.id, "platform", none, "organization", None, team_made).await.unwrap();
    let (first, _) = f.store.create_team_token(&team.id, "one", None, false, None, created).await.unwrap();
    let (second, _) = f.store.create_team_token(&team.id, "two", None, false, None, created).await.unwrap();
    // TFE's legacy team token replaces the team's others, and its record names them.
    let (legacy, _) = f.store.create_team_token(&team.id, "legacy", None, true, None, created).await.unwrap();
    assert_eq!(f.store.list_team_tokens(&team.id).await.unwrap(), std::slice::from_ref(&legacy));
    let filter = AuditFilter { action: Some("token.created".into()), ..AuditFilter::default() };
    let events = f.store.audit_events(None, &filter, Page { number: 1, size: 100 }).await.unwrap().items;
    let last = events.last().map(|e| e.event.details.clone()).unwrap_or_default();
    assert_eq!(last["replaced"], serde_json::json!([first.id, second.id]));
    // Refused: a user who does not exist, a pool that does not exist, a token revoked twice.
    assert!(f.store.create_user_token("u-missing", "x", None, created).await.is_err());
    assert!(f.store.create_pool_token("apool-missing", "x", None, None, created).await.is_err());
    f.store.revoke_token(&org_token.id, &noted("token.revoked", &org_token.id)).await.unwrap();
    let again = f.store.revoke_token(&org_token.id, &noted("token.revoked", &org_token.id)).await;
    assert!(matches!(again, Err(StoreError::NotFound { .. })));
    assert_eq!(
        trail(&f).await,
        [
            ("token.created", org_token.id.as_str()),
            ("token.created", pool_token.id.as_str()),
            ("token.created", user_token.id.as_str()),
            ("team.created", team.id.as_str()),
            ("token.created", first.id.as_str()),
            ("token.created", second.id.as_str()),
            ("token.created", legacy.id.as_str()),
            ("token.revoked", first.id.as_str()),
            ("token.revoked", second.id.as_str()),
            ("token.revoked", org_token.id.as_str()),
        ]
        .map(|(a, id)| (a.to_owned(), id.to_owned()))
    );
}

async fn reopening_checks_migrations_and_the_key(f: Fixture) {
    org(&f, "acme").await;
    f.store.close().await;
    let again = Store::open(&f.db.url, &f.key, f.clock.clone()).await.unwrap();
    assert_eq!(again.organization("acme").await.unwrap().name, "acme");
    again.close().await;
    let err = Store::open(&f.db.url, &EncryptionKey::generate().unwrap(), f.clock.clone()).await.unwrap_err();
    assert!(err.to_string().contains("not the one this database was set up with"), "{err}");
}

async fn managed_keys_rotate_in_order(f: Fixture) {
    let now = 1_800_000_000;
    assert!(
        f.store
            .add_managed_key("k1", "RS256", b"PEM-1", KeyState::Current, now, Some(&noted("key.rotated", "")))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .add_managed_key(
                "k1b",
                "RS256",
                b"PEM-x",
                KeyState::Current,
                now,
                Some(&noted("key.rotated", ""))
            )
            .await
            .unwrap(),
        "one current key"
    );
    let err = f.store.retire_managed_key("k1", 100, false, &noted("key.retired", "")).await.unwrap_err();
    assert!(err.to_string().contains("run `tern keys rotate` first"), "{err}");
    assert!(
        f.store
            .add_managed_key(
                "k2",
                "ES256",
                b"PEM-2",
                KeyState::Next,
                now + 10,
                Some(&noted("key.rotated", ""))
            )
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .add_managed_key(
                "k3",
                "RS256",
                b"PEM-3",
                KeyState::Next,
                now + 10,
                Some(&noted("key.rotated", ""))
            )
            .await
            .unwrap(),
        "one next key"
    );
    let states = |keys: Vec<ManagedKey>| keys.into_iter().map(|k| (k.kid, k.state)).collect::<Vec<_>>();
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k1".into(), KeyState::Current), ("k2".into(), KeyState::Next)]
    );
    assert!(!f.store.advance_managed_keys(100).await.unwrap(), "not yet");
    f.clock.advance(Duration::from_secs(10));
    assert!(f.store.advance_managed_keys(100).await.unwrap());
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k2".into(), KeyState::Current), ("k1".into(), KeyState::Retired)]
    );
    assert_eq!(f.store.managed_key_pem("k2").await.unwrap().as_slice(), b"PEM-2", "sealed and opened");
    f.clock.advance(Duration::from_secs(100));
    f.store.advance_managed_keys(100).await.unwrap();
    assert_eq!(
        states(f.store.managed_keys().await.unwrap()),
        [("k2".into(), KeyState::Current)],
        "k1 left the JWKS after its window"
    );
    // A compromised key leaves at once, its replacement signs at once.
    f.store
        .add_managed_key(
            "k4",
            "RS256",
            b"PEM-4",
            KeyState::Next,
            now + 10_000,
            Some(&noted("key.rotated", "")),
        )
        .await
        .unwrap();
    f.store.retire_managed_key("k2", 100, true, &noted("key.retired", "")).await.unwrap();
    assert_eq!(states(f.store.managed_keys().await.unwrap()), [("k4".into(), KeyState::Current)]);
    assert!(matches!(
        f.store.retire_managed_key("nope", 1, false, &noted("key.retired", "")).await,
        Err(StoreError::NotFound { .. })
    ));
    // Each key added and retired committed with its record; a key another replica beat, and a
    // refused retirement, recorded nothing.
    let acts: Vec<String> = trail(&f).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(acts, ["key.rotated", "key.rotated", "key.rotated", "key.retired"]);
}

async fn pool(f: &Fixture, org: &Organization, name: &str) -> AgentPool {
    f.store.create_agent_pool(&org.id, name).await.unwrap()
}

async fn agent_workspace(
    f: &Fixture,
    org: &Organization,
    name: &str,
    pool: &AgentPool,
    version: &str,
) -> Workspace {
    let ws = f
        .store
        .create_workspace(
            &org.id,
            &WorkspaceSettings {
                name: Some(name.into()),
                execution_mode: Some(ExecutionMode::Agent),
                agent_pool_id: Some(pool.id.clone()),
                terraform_version: Some(TerraformVersion::parse(version).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    uploaded_cv(f, &ws).await;
    ws
}

async fn agent_pools_are_unique_used_and_deleted_with_their_tokens(f: Fixture) {
    let acme = org(&f, "acme").await;
    let other = org(&f, "other").await;
    let prod = pool(&f, &acme, "prod").await;
    assert!(prod.id.starts_with("apool-") && prod.organization == "acme", "{prod:?}");
    let err = f.store.create_agent_pool(&acme.id, "prod").await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("\"prod\" already exists")), "{err}");
    pool(&f, &other, "prod").await; // names are unique per organization only
    for bad in ["", " lead", "trail ", "new\nline", &"x".repeat(91)] {
        assert!(
            matches!(f.store.create_agent_pool(&acme.id, bad).await, Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
    let renamed = f.store.rename_agent_pool(&prod.id, "production").await.unwrap();
    assert_eq!(renamed.name, "production");
    let listed = f.store.list_agent_pools(&acme.id, Page::default()).await.unwrap();
    assert_eq!((listed.total, listed.items[0].name.as_str()), (1, "production"));

    let (token, secret) = f
        .store
        .create_pool_token(&prod.id, "rack 1", None, Some("users:u-1"), |t: &Token| {
            noted("token.created", &t.id)
        })
        .await
        .unwrap();
    assert_eq!(
        (token.kind, token.organization_id.as_deref(), token.agent_pool_id.as_deref()),
        (TokenKind::Agent, Some(acme.id.as_str()), Some(prod.id.as_str()))
    );
    assert!(secret.expose_secret().starts_with("tern-agent."));
    assert_eq!(token.created_by.as_deref(), Some("users:u-1"));
    assert_eq!(
        ClaimScope::of(&token),
        Some(ClaimScope::Pool { organization_id: acme.id.clone(), pool_id: prod.id.clone() })
    );
    assert_eq!(f.store.list_pool_tokens(&prod.id).await.unwrap(), vec![token.clone()]);
    // An agent of the pool that asks for work counts as present.
    assert_eq!(claim_with(&f, "rack-1", &token, &["1.0.3"]).await, None);
    assert_eq!(f.store.agent_pool(&prod.id).await.unwrap().agent_count, 1);
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(f.store.agent_pool(&prod.id).await.unwrap().agent_count, 0, "gone quiet");

    let ws = agent_workspace(&f, &acme, "app", &prod, "latest").await;
    assert_eq!(f.store.agent_pool(&prod.id).await.unwrap().workspace_ids, vec![ws.id.clone()]);
    let err = f.store.delete_agent_pool(&prod.id).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid(m) if m.contains("\"production\" is used by workspace \"app\"")),
        "{err}"
    );
    f.store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { execution_mode: Some(ExecutionMode::Remote), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    f.store.delete_agent_pool(&prod.id).await.unwrap();
    assert!(f.store.authenticate(secret.expose_secret()).await.unwrap().is_none(), "its tokens went with it");
    assert!(matches!(f.store.agent_pool(&prod.id).await, Err(StoreError::NotFound { .. })));
}

async fn agent_workspaces_need_a_pool_of_their_organization(f: Fixture) {
    let acme = org(&f, "acme").await;
    let other = org(&f, "other").await;
    let prod = pool(&f, &acme, "prod").await;
    let theirs = pool(&f, &other, "theirs").await;
    let create = |mode: Option<ExecutionMode>, pool: Option<&str>| WorkspaceSettings {
        name: Some("app".into()),
        execution_mode: mode,
        agent_pool_id: pool.map(str::to_owned),
        ..Default::default()
    };
    for (settings, says) in [
        (create(Some(ExecutionMode::Agent), None), "needs agent-pool-id"),
        (create(Some(ExecutionMode::Agent), Some(&theirs.id)), "no such agent pool"),
        (create(Some(ExecutionMode::Agent), Some("apool-nope")), "no such agent pool"),
        (create(None, Some(&prod.id)), "goes with execution-mode \"agent\" only"),
        (create(Some(ExecutionMode::Local), Some(&prod.id)), "goes with execution-mode \"agent\" only"),
    ] {
        let err = f.store.create_workspace(&acme.id, &settings).await.unwrap_err();
        assert!(matches!(&err, StoreError::Invalid(m) if m.contains(says)), "{settings:?}: {err}");
    }
    let ws = f
        .store
        .create_workspace(&acme.id, &create(Some(ExecutionMode::Agent), Some(&prod.id)))
        .await
        .unwrap();
    assert_eq!(
        (ws.execution_mode, ws.agent_pool_id.as_deref()),
        (ExecutionMode::Agent, Some(prod.id.as_str()))
    );
    // Other changes keep the pool; another pool of the organization replaces it.
    let second = pool(&f, &acme, "second").await;
    let ws = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { auto_apply: Some(true), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!(ws.agent_pool_id.as_deref(), Some(prod.id.as_str()));
    let ws = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { agent_pool_id: Some(second.id.clone()), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!(ws.agent_pool_id.as_deref(), Some(second.id.as_str()));
    let err = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { agent_pool_id: Some(theirs.id.clone()), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    // Leaving agent mode clears the pool.
    let ws = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { execution_mode: Some(ExecutionMode::Remote), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!((ws.execution_mode, ws.agent_pool_id), (ExecutionMode::Remote, None));
    let err = f
        .store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings { execution_mode: Some(ExecutionMode::Agent), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs agent-pool-id"), "{err}");
}

async fn each_runner_claims_only_what_its_token_and_versions_allow(f: Fixture) {
    let acme = org(&f, "acme").await;
    let other = org(&f, "other").await;
    let prod = pool(&f, &acme, "prod").await;
    let wrong = pool(&f, &acme, "staging").await;
    let agent_ws = agent_workspace(&f, &acme, "on-agents", &prod, "1.0.3").await;
    let remote_ws = workspace(&f, &acme, "on-workers").await;
    uploaded_cv(&f, &remote_ws).await;
    let agent_run = f.store.create_run(&agent_ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let remote_run = f.store.create_run(&remote_ws.id, &RunInput::default(), "t", run_made).await.unwrap();

    let workers = agent_token(&f, None, None).await;
    let legacy_other = agent_token(&f, Some(&other.id), None).await;
    let wrong_pool = agent_token(&f, None, Some(&wrong.id)).await;
    let prod_agent = agent_token(&f, None, Some(&prod.id)).await;
    assert_eq!(ClaimScope::of(&workers), Some(ClaimScope::ServerWorkers));
    assert_eq!(ClaimScope::of(&legacy_other), Some(ClaimScope::Organization(other.id.clone())));

    // Nothing claims without a version; another organization's token sees nothing; the wrong
    // pool sees nothing; the right pool without 1.0.3 sees nothing.
    assert_eq!(claim_with(&f, "w", &workers, &[]).await, None);
    assert_eq!(claim_with(&f, "o", &legacy_other, &["1.0.3", "1.11.4"]).await, None);
    assert_eq!(claim_with(&f, "s", &wrong_pool, &["1.0.3", "1.11.4"]).await, None);
    assert_eq!(claim_with(&f, "p", &prod_agent, &["1.11.4"]).await, None);
    // The server's workers take the remote run, never the agent one, whatever versions.
    let j = claim_with(&f, "w", &workers, &["1.0.3", "1.11.4"]).await.unwrap();
    assert_eq!(j.run_id, remote_run.id);
    assert_eq!(
        claim_with(&f, "w", &workers, &["1.0.3", "1.11.4"]).await,
        None,
        "the agent run is not theirs"
    );
    // The pool's agent with 1.0.3 takes it.
    let j = claim_with(&f, "p", &prod_agent, &["1.0.3"]).await.unwrap();
    assert_eq!((j.run_id.as_str(), j.agent.as_deref()), (agent_run.id.as_str(), Some("p")));
    // A legacy organization-wide token keeps running its organization's remote workspaces,
    // and only those.
    let legacy = agent_token(&f, Some(&acme.id), None).await;
    let second_agent_run = f
        .store
        .create_run(&agent_ws.id, &RunInput { plan_only: true, ..Default::default() }, "t", run_made)
        .await
        .unwrap();
    let other_ws = workspace(&f, &other, "theirs").await;
    uploaded_cv(&f, &other_ws).await;
    f.store.create_run(&other_ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let b = workspace(&f, &acme, "b").await;
    uploaded_cv(&f, &b).await;
    let b_run = f.store.create_run(&b.id, &RunInput::default(), "t", run_made).await.unwrap();
    let j = claim_with(&f, "l", &legacy, &["1.0.3"]).await.unwrap();
    assert_eq!(j.run_id, b_run.id, "not the agent run, not the other organization's");
    assert_eq!(claim_with(&f, "l", &legacy, &["1.0.3"]).await, None);
    // A local workspace's queued run is nobody's.
    f.store
        .update_workspace(
            &other_ws.id,
            &WorkspaceSettings { execution_mode: Some(ExecutionMode::Local), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert_eq!(claim_with(&f, "w", &workers, &["1.0.3", "1.11.4"]).await, None);
    assert_eq!(claim_with(&f, "o", &legacy_other, &["1.0.3", "1.11.4"]).await, None);
    let j = claim_with(&f, "p", &prod_agent, &["1.0.3"]).await.unwrap();
    assert_eq!(j.run_id, second_agent_run.id, "plan-only runs of the pool's workspace too");
}

async fn a_runs_terraform_version_is_pinned_when_its_plan_is_claimed(f: Fixture) {
    let acme = org(&f, "acme").await;
    let ws = workspace(&f, &acme, "app").await;
    uploaded_cv(&f, &ws).await;
    let workers = agent_token(&f, None, None).await;
    let run = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    assert_eq!(run.terraform_version, None);
    let plan = claim_with(&f, "w1", &workers, &["1.0.3", "1.11.4", "1.12.0-beta1"]).await.unwrap();
    assert_eq!(
        f.store.run(&run.id).await.unwrap().terraform_version.as_deref(),
        Some("1.11.4"),
        "latest: the highest release"
    );
    f.store.finish_job(&plan.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    // The workspace moves on; the run's apply still needs the Terraform that planned.
    f.store
        .update_workspace(
            &ws.id,
            &WorkspaceSettings {
                terraform_version: Some(TerraformVersion::parse("1.0.3").unwrap()),
                ..Default::default()
            },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    f.store.apply_run(&run.id, &act("run.applied", &run.id)).await.unwrap();
    f.clock.advance(Duration::from_secs(61)); // w1 has not asked for a minute
    assert_eq!(claim_with(&f, "w2", &workers, &["1.0.3"]).await, None);
    let reason = f.store.run_waiting_reason(&f.store.run(&run.id).await.unwrap()).await.unwrap().unwrap();
    assert!(reason.contains("waiting for a worker with Terraform 1.11.4"), "{reason}");
    let apply = claim_with(&f, "w1", &workers, &["1.11.4"]).await.unwrap();
    assert_eq!((apply.run_id.as_str(), apply.phase), (run.id.as_str(), RunPhase::Apply));
    assert_eq!(f.store.run(&run.id).await.unwrap().terraform_version.as_deref(), Some("1.11.4"));
    // An exact request is pinned as it is.
    f.store.finish_job(&apply.id, &JobOutcome::Succeeded { has_changes: true }).await.unwrap();
    let exact = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    claim_with(&f, "w1", &workers, &["1.0.3", "1.11.4"]).await.unwrap();
    assert_eq!(f.store.run(&exact.id).await.unwrap().terraform_version.as_deref(), Some("1.0.3"));
}

async fn a_waiting_run_says_what_it_waits_for(f: Fixture) {
    let acme = org(&f, "acme").await;
    let prod = pool(&f, &acme, "prod").await;
    let ws = agent_workspace(&f, &acme, "app", &prod, "1.0.3").await;
    let run = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    let reason = |run: Run| {
        let store = f.store.clone();
        async move { store.run_waiting_reason(&run).await.unwrap() }
    };
    let said = reason(run.clone()).await.unwrap();
    assert_eq!(
        said,
        format!(
            "waiting for an agent in pool \"prod\" ({}): no agent of this pool has asked for work in the last 60 s",
            prod.id
        )
    );
    // The server's workers asking changes nothing for an agent workspace.
    let workers = agent_token(&f, None, None).await;
    assert_eq!(claim_with(&f, "w", &workers, &["1.0.3"]).await, None);
    assert_eq!(reason(run.clone()).await.unwrap(), said);
    // An agent of the pool without the version.
    let agent = agent_token(&f, None, Some(&prod.id)).await;
    assert_eq!(claim_with(&f, "a", &agent, &["1.11.4", "1.9.0"]).await, None);
    let said = reason(run.clone()).await.unwrap();
    assert!(
        said.ends_with(
            "with Terraform 1.0.3: the agents of this pool seen in the last 60 s have 1.11.4, 1.9.0"
        ),
        "{said}"
    );
    // Once it has it, the run is next in line: nothing to explain.
    f.clock.advance(Duration::from_secs(1));
    let job = claim_with(&f, "a", &agent, &["1.0.3"]).await.unwrap();
    assert_eq!(reason(f.store.run(&run.id).await.unwrap()).await, None, "running");
    // A second run waits for the first.
    let second = f.store.create_run(&ws.id, &RunInput::default(), "t", run_made).await.unwrap();
    assert_eq!(
        reason(second.clone()).await.unwrap(),
        format!("waiting for run {} to finish: the runs of a workspace take turns", run.id)
    );
    // A page of runs at once says the same, run by run (the running one: nothing).
    let page = [f.store.run(&run.id).await.unwrap(), second.clone()];
    let reasons = f.store.run_waiting_reasons(&page).await.unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons.get(&second.id), reason(second.clone()).await.as_ref());
    f.store.finish_job(&job.id, &JobOutcome::Succeeded { has_changes: false }).await.unwrap();
    assert_eq!(reason(second.clone()).await, None, "an agent with 1.0.3 asked within the minute");
    f.clock.advance(Duration::from_secs(61));
    assert!(reason(second.clone()).await.unwrap().contains("no agent of this pool has asked"));
    // A remote workspace with nobody asking, then a local one.
    let remote = workspace(&f, &acme, "remote").await;
    uploaded_cv(&f, &remote).await;
    let r = f.store.create_run(&remote.id, &RunInput::default(), "t", run_made).await.unwrap();
    assert_eq!(
        reason(r.clone()).await.unwrap(),
        "waiting for a worker: neither tern serve's own workers nor an agent of organization \"acme\" has asked for work in the last 60 s"
    );
    f.store
        .update_workspace(
            &remote.id,
            &WorkspaceSettings { execution_mode: Some(ExecutionMode::Local), ..Default::default() },
            &noted("workspace.updated", ""),
        )
        .await
        .unwrap();
    assert!(reason(r).await.unwrap().contains("uses local execution"));
}
