//! Fill a store with one organization and N workspaces, through `tern-store` (the same rules
//! and transactions as the API), several at once. Idempotent: existing workspaces are kept.
//!
//! With `--teams`, also the people an authorization benchmark needs: T teams (no organization
//! permissions), each with one member of its own, access to `--grants-per-team` workspaces
//! spread over the organization and, with `--projects`, read access to one project; a user
//! `bench-member` in the first `--member-teams` of them; a user `bench-owner` in `owners`.
//! Their user tokens go to `--token-file` (mode 0600), never to stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::json;
use tern_store::{
    EncryptionKey, OWNERS, Page, Run, Store, StoreError, Team, TeamProject, TeamWorkspace, Token, User,
    WorkspaceSettings,
};
use tern_types::SystemClock;

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The database (sqlite://PATH or postgres://…), as given to `tern serve`.
    #[arg(long)]
    database_url: String,
    /// The key-encryption key, base64. Give it in the environment: a command line is visible
    /// to every user of the machine.
    #[arg(long, env = "TERN_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: String,
    /// Organization to create the workspaces in (created if missing).
    #[arg(long, default_value = "bench")]
    organization: String,
    /// Workspaces the organization should have: ws-000000, ws-000001, …
    #[arg(long)]
    workspaces: usize,
    /// Projects the new workspaces are spread over (bench-project-000, …; workspace i goes to
    /// project i mod P). 0: all in the Default Project.
    #[arg(long, default_value_t = 0)]
    projects: usize,
    /// Teams to create (team-0000, …), each with a member, workspace and project access.
    #[arg(long, default_value_t = 0)]
    teams: usize,
    /// Workspaces each team has direct access to (read, plan, write, admin in turn).
    #[arg(long, default_value_t = 10)]
    grants_per_team: usize,
    /// How many of the teams (the first ones) the user `bench-member` is in.
    #[arg(long, default_value_t = 3)]
    member_teams: usize,
    /// Where to write the user tokens of `bench-owner` and `bench-member` (JSON, mode 0600).
    /// Required with --teams.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Runs the first workspace (ws-000000) should have, for run lists at scale. It is set to
    /// agent execution in a pool with no agent (`bench-idle`), so the runs stay queued and no
    /// server worker picks them up.
    #[arg(long, default_value_t = 0)]
    runs: usize,
    /// Workspaces created at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// The name of the `i`th seeded workspace.
pub fn workspace_name(i: usize) -> String {
    format!("ws-{i:06}")
}

fn project_name(i: usize) -> String {
    format!("bench-project-{i:03}")
}

fn team_name(i: usize) -> String {
    format!("team-{i:04}")
}

/// The workspaces team `t` has direct access to: `per_team` of them, evenly spread.
fn team_workspaces(t: usize, per_team: usize, teams: usize, workspaces: usize) -> Vec<usize> {
    if workspaces == 0 {
        return Vec::new();
    }
    let stride = (workspaces / (teams * per_team).max(1)).max(1);
    (0..per_team.min(workspaces)).map(|g| ((t * per_team + g) * stride) % workspaces).collect()
}

pub fn run(args: SeedArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(seed(args))
}

async fn seed(args: SeedArgs) -> anyhow::Result<(serde_json::Value, bool)> {
    if args.teams > 0 && args.token_file.is_none() {
        bail!("--teams needs --token-file: the users' tokens go there");
    }
    let key = EncryptionKey::from_base64(&args.encryption_key).context("the encryption key")?;
    let store = Arc::new(Store::open(&args.database_url, &key, Arc::new(SystemClock)).await?);
    let org = match store.organization(&args.organization).await {
        Ok(o) => o,
        Err(_) => store.create_organization(&args.organization, "bench@example.com").await?,
    };
    let mut projects = Vec::with_capacity(args.projects);
    for i in 0..args.projects {
        let p = match store.project_by_name(&org.id, &project_name(i)).await {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => {
                store.create_project(&org.id, &project_name(i), "seeded by tern-bench").await?
            }
            Err(e) => return Err(e.into()),
        };
        projects.push(p.id);
    }
    let projects = Arc::new(projects);
    let existing = count(&store, &org.id).await?;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(existing));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (store, next, org_id, target, projects) =
            (store.clone(), next.clone(), org.id.clone(), args.workspaces, projects.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= target {
                    return Ok::<(), anyhow::Error>(());
                }
                let project_id = (!projects.is_empty()).then(|| projects[i % projects.len()].clone());
                let settings =
                    WorkspaceSettings { name: Some(workspace_name(i)), project_id, ..Default::default() };
                store.create_workspace(&org_id, &settings).await.with_context(|| workspace_name(i))?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let created = args.workspaces.saturating_sub(existing);
    let seconds = start.elapsed().as_secs_f64();
    let mut report = json!({
        "organization": args.organization,
        "workspaces": count(&store, &org.id).await?,
        "projects": args.projects,
        "created": created,
        "seconds": seconds,
        "per_second": if seconds > 0.0 { created as f64 / seconds } else { 0.0 },
    });
    if args.teams > 0
        && let (Some(path), Some(map)) = (&args.token_file, report.as_object_mut())
    {
        let people = seed_people(&store, &org.id, &args, &projects).await?;
        write_tokens(path, &people.tokens)?;
        map.insert("people".to_owned(), people.report);
    }
    if args.runs > 0
        && let Some(map) = report.as_object_mut()
    {
        map.insert("runs".to_owned(), seed_runs(&store, &org.id, &args).await?);
    }
    Ok((report, true))
}

struct People {
    report: serde_json::Value,
    tokens: Secrets,
}

/// A user by name, created if missing.
async fn user(store: &Store, username: &str) -> anyhow::Result<User> {
    Ok(match store.user_by_name(username).await {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => store.create_user(username, "", false).await?,
        Err(e) => return Err(e.into()),
    })
}

/// Make `username` a member of `team_id` unless it is one already.
async fn join(store: &Store, user: &User, team_id: &str) -> anyhow::Result<()> {
    if !store.teams_of_user(&user.id).await?.iter().any(|t| t.id == team_id) {
        let event = seeded("team.members-added", team_id);
        store.add_team_members(team_id, std::slice::from_ref(&user.username), &event).await?;
    }
    Ok(())
}

/// Teams, their members and access, and the two users the benchmark acts as.
async fn seed_people(
    store: &Arc<Store>,
    org_id: &str,
    args: &SeedArgs,
    projects: &Arc<Vec<String>>,
) -> anyhow::Result<People> {
    let start = Instant::now();
    let workspaces = count(store, org_id).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let grants = Arc::new(AtomicUsize::new(0));
    // SQLite: one at a time. It has one writer anyway, and concurrent writers there only wait
    // for each other.
    let concurrency = if args.database_url.starts_with("sqlite:") { 1 } else { args.concurrency.max(1) };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next, grants, org_id, projects) =
            (store.clone(), next.clone(), grants.clone(), org_id.to_owned(), projects.clone());
        let (teams, per_team) = (args.teams, args.grants_per_team);
        tasks.spawn(async move {
            loop {
                let t = next.fetch_add(1, Ordering::Relaxed);
                if t >= teams {
                    return Ok::<(), anyhow::Error>(());
                }
                let name = team_name(t);
                match store.team_by_name(&org_id, &name).await {
                    Ok(_) => continue, // seeded by an earlier run, with its access
                    Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                // The types are tern-access's, reached through the store's signatures: the grants
                // are written as the API's JSON attributes.
                let team = store
                    .create_team(&org_id, &name, Default::default(), "organization", None, |t: &Team| {
                        seeded("team.created", &t.id)
                    })
                    .await
                    .with_context(|| name.clone())?;
                let own = user(&store, &format!("user-{t:04}")).await?;
                join(&store, &own, &team.id).await?;
                for (g, w) in team_workspaces(t, per_team, teams, workspaces).into_iter().enumerate() {
                    let ws = store.workspace_by_name(&org_id, &workspace_name(w)).await?;
                    let level = ["read", "plan", "write", "admin"][g % 4];
                    store
                        .create_team_workspace(
                            &team.id,
                            &ws.id,
                            serde_json::from_value(json!({ "access": level }))?,
                            |a: &TeamWorkspace| seeded("team-access.created", &a.id),
                        )
                        .await
                        .with_context(|| format!("{name} on {}", ws.name))?;
                    grants.fetch_add(1, Ordering::Relaxed);
                }
                if !projects.is_empty() {
                    let project = &projects[t % projects.len()];
                    store
                        .create_team_project(
                            &team.id,
                            project,
                            serde_json::from_value(json!({ "access": "read" }))?,
                            |a: &TeamProject| seeded("team-project-access.created", &a.id),
                        )
                        .await
                        .with_context(|| format!("{name} on project {project}"))?;
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let member = user(store, "bench-member").await?;
    let mut member_teams = Vec::new();
    for t in 0..args.member_teams.min(args.teams) {
        let team = store.team_by_name(org_id, &team_name(t)).await?;
        join(store, &member, &team.id).await?;
        member_teams.push(team.name);
    }
    let owner = user(store, "bench-owner").await?;
    join(store, &owner, &store.team_by_name(org_id, OWNERS).await?.id).await?;
    let made = |t: &Token| seeded("token.created", &t.id);
    let (_, owner_token) = store.create_user_token(&owner.id, "tern-bench", None, made).await?;
    let (_, member_token) = store.create_user_token(&member.id, "tern-bench", None, made).await?;
    // Browser sessions for the web UI's pages (a day: longer than any benchmark).
    let day = store.unix_now() + 86_400;
    let (_, owner_session) = store.create_session(&owner.id, day, None).await?;
    let (_, member_session) = store.create_session(&member.id, day, None).await?;
    // A workspace the member reaches through a direct grant of their first team (and, with
    // projects, through that team's project too).
    let member_workspace =
        team_workspaces(0, args.grants_per_team, args.teams, workspaces).first().map(|&w| workspace_name(w));
    let seconds = start.elapsed().as_secs_f64();
    Ok(People {
        report: json!({
            "teams": args.teams,
            "team_workspace_grants": grants.load(Ordering::Relaxed),
            "team_project_grants": if projects.is_empty() { 0 } else { args.teams },
            "owner": owner.username,
            "member": member.username,
            "member_teams": member_teams,
            "member_workspace": member_workspace,
            "seconds": seconds,
        }),
        tokens: Secrets {
            owner: owner_token.expose_secret().to_owned(),
            member: member_token.expose_secret().to_owned(),
            owner_session: owner_session.expose_secret().to_owned(),
            member_session: member_session.expose_secret().to_owned(),
        },
    })
}

/// The user tokens and session secrets of `bench-owner` and `bench-member`.
struct Secrets {
    owner: String,
    member: String,
    owner_session: String,
    member_session: String,
}

/// The tokens as JSON in a new file only this user may read.
fn write_tokens(path: &std::path::Path, s: &Secrets) -> anyhow::Result<()> {
    let json = json!({
        "owner": s.owner, "member": s.member,
        "owner_session": s.owner_session, "member_session": s.member_session,
    })
    .to_string();
    tern_handoff::files::write_private(path, json.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// `--runs` queued runs in ws-000000 (kept queued: agent execution, in a pool no agent serves).
async fn seed_runs(store: &Arc<Store>, org_id: &str, args: &SeedArgs) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let ws = store.workspace_by_name(org_id, &workspace_name(0)).await.context("the runs' workspace")?;
    let pools = store.list_agent_pools(org_id, Page { number: 1, size: 100 }).await?;
    let pool = match pools.items.into_iter().find(|p| p.name == "bench-idle") {
        Some(p) => p,
        None => store.create_agent_pool(org_id, "bench-idle").await?,
    };
    let settings = WorkspaceSettings {
        execution_mode: Some(tern_store::ExecutionMode::Agent),
        agent_pool_id: Some(pool.id),
        ..Default::default()
    };
    store.update_workspace(&ws.id, &settings, &seeded("workspace.updated", &ws.id)).await?;
    let existing = store
        .list_runs(
            tern_store::RunScope::Workspace(&ws.id),
            &tern_store::RunFilter::default(),
            Page { number: 1, size: 1 },
        )
        .await?
        .total as usize;
    if existing >= args.runs {
        return Ok(json!({ "workspace": ws.name, "runs": existing, "created": 0, "seconds": 0.0 }));
    }
    let cv = store.create_configuration_version(&ws.id, false, false).await?;
    store.upload_configuration(&cv.id, &crate::runs::tarball()?).await?;
    let input = tern_store::RunInput {
        configuration_version_id: Some(cv.id),
        message: Some("seeded by tern-bench".to_owned()),
        ..Default::default()
    };
    // SQLite has one writer: one at a time there.
    let concurrency = if args.database_url.starts_with("sqlite:") { 1 } else { args.concurrency.max(1) };
    let next = Arc::new(AtomicUsize::new(existing));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, next, ws_id, input, target) =
            (store.clone(), next.clone(), ws.id.clone(), input.clone(), args.runs);
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < target {
                store
                    .create_run(&ws_id, &input, "tern-bench", |r: &Run| seeded("run.created", &r.id))
                    .await?;
            }
            Ok::<(), anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(
        json!({ "workspace": ws.name, "runs": args.runs, "created": args.runs - existing, "seconds": seconds }),
    )
}

async fn count(store: &Store, organization_id: &str) -> anyhow::Result<usize> {
    let page = store
        .list_workspaces(
            organization_id,
            &tern_store::WorkspaceFilter::default(),
            Page { number: 1, size: 1 },
        )
        .await?;
    Ok(usize::try_from(page.total)?)
}

/// The audit record of what the seed made (the store records each act with its record).
fn seeded(action: &str, id: &str) -> tern_store::AuditInput {
    tern_store::AuditInput {
        organization_id: None,
        actor: "tern-bench".into(),
        actor_kind: "system".into(),
        action: action.into(),
        workspace_id: None,
        run_id: None,
        details: json!({ "id": id }),
    }
}

#[cfg(test)]
mod tests {
    use super::team_workspaces;

    #[test]
    fn team_grants_are_spread_and_distinct() {
        let all: Vec<usize> = (0..1000).flat_map(|t| team_workspaces(t, 10, 1000, 100_000)).collect();
        assert_eq!(all.len(), 10_000);
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 10_000);
        assert_eq!(all[..3], [0, 10, 20]);
        // More grants than workspaces: each team's own are still distinct.
        let small = team_workspaces(7, 10, 20, 50);
        let mut s = small.clone();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 10);
        assert!(team_workspaces(0, 10, 1, 0).is_empty());
    }
}
