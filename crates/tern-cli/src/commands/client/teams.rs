//! `tern user` and `tern team`: users, teams, their members, tokens and access to workspaces and
//! projects, over the API's `users`, `teams`, `team-workspaces` and `team-projects` documents.
//! Names are resolved to ids as the other client commands resolve them (a missing one names the
//! closest); a created token goes to stdout alone.

use std::process::ExitCode;

use anyhow::anyhow;
use reqwest::Method;
use serde_json::{Value, json};
use tern_protocol::jsonapi::{Document, ListDocument};
use tern_protocol::resources as r;

use super::{ApiError, Client, block_on, create_token, did_you_mean, enc, expires_at, named, names};
use crate::UsageError;
use crate::cli::{TeamAccessTarget, TeamCommand, UserCommand};
use crate::settings::Env;

/// Cells under a header, each column as wide as its widest cell (the last one unpadded).
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<String> = cells.zip(&widths).map(|(cell, w)| format!("{cell:<w$}", w = *w)).collect();
        outln!("{}", cells.join("  ").trim_end());
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// The organization permissions set in `access` (a team's `organization-access`), by name.
fn held(access: &impl serde::Serialize) -> (Vec<String>, usize) {
    match serde_json::to_value(access) {
        Ok(Value::Object(all)) => {
            let count = all.len();
            (all.into_iter().filter(|(_, v)| *v == Value::Bool(true)).map(|(k, _)| k).collect(), count)
        }
        _ => (Vec::new(), 0),
    }
}

/// A team's permissions as a list shows them: `all`, `-`, or the names, comma-separated.
fn permissions_cell(access: &impl serde::Serialize) -> String {
    match held(access) {
        (held, count) if count > 0 && held.len() == count => "all".to_owned(),
        (held, _) if held.is_empty() => "-".to_owned(),
        (held, _) => held.join(","),
    }
}

/// `--level` for a workspace or a project, checked before anything is sent.
fn check_level(target: &TeamAccessTarget, level: &str) -> Result<(), UsageError> {
    let (what, levels, api): (&str, &[&str], &str) = if target.project.is_some() {
        ("project", &["read", "write", "maintain", "admin"], "team-projects")
    } else {
        ("workspace", &["read", "plan", "write", "admin"], "team-workspaces")
    };
    if levels.contains(&level) {
        return Ok(());
    }
    let allowed = levels.join(", ");
    if level == "custom" {
        return Err(UsageError(format!(
            "--level custom is set through the API only (POST /api/v2/{api} with access \"custom\" and its permissions); here give {allowed}"
        )));
    }
    Err(UsageError(format!("--level {level:?}: a {what}'s levels are {allowed}")))
}

impl Client {
    /// Every user: the administrators' list, every page.
    async fn users(&self) -> anyhow::Result<Vec<r::User>> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let list: ListDocument<r::User> =
                self.get(&format!("/api/v2/admin/users?page%5Bsize%5D=100&page%5Bnumber%5D={page}")).await?;
            out.extend(list.data);
            match list.meta.and_then(|m| m.pagination.next_page) {
                Some(n) => page = n,
                None => break,
            }
        }
        Ok(out)
    }

    /// The user the token belongs to, if it is a user's token.
    pub(super) async fn me(&self) -> Option<r::User> {
        let response =
            self.send_once(Method::GET, "/api/v2/account/details", None, false).await.ok()?.ok()?;
        let me = response.json::<Document<r::User>>().await.ok()?.data;
        (!me.attributes.is_service_account).then_some(me)
    }

    /// User `username`: the token's own user, else one of the administrators' list; if there is
    /// none, the error names the closest.
    async fn user(&self, username: &str) -> anyhow::Result<r::User> {
        let me = self.me().await;
        if let Some(me) = &me
            && me.attributes.username == username
        {
            return Ok(me.clone());
        }
        let users = match self.users().await {
            Ok(users) => users,
            Err(e) => {
                return Err(match (e.downcast::<ApiError>(), me) {
                    (Ok(mut api), Some(me)) if api.status == reqwest::StatusCode::FORBIDDEN => {
                        api.hint = Some(format!(
                            "this token is user {}'s, and only an administrator acts on other users",
                            me.attributes.username
                        ));
                        api.into()
                    }
                    (Ok(api), _) => api.into(),
                    (Err(e), _) => e,
                });
            }
        };
        let names: Vec<String> = users.iter().map(|u| u.attributes.username.clone()).collect();
        users.into_iter().find(|u| u.attributes.username == username).ok_or_else(|| {
            let hint = did_you_mean(username, "user", &names, "tern user list", "tern user create USERNAME");
            anyhow!("there is no user {username:?}: {hint}")
        })
    }

    /// Where user `username`'s browser sessions are: the token's own account's, else the
    /// administrators' path of that user (which names the closest user if there is none).
    async fn sessions_path(&self, username: &str) -> anyhow::Result<String> {
        if self.me().await.is_some_and(|me| me.attributes.username == username) {
            return Ok("/api/v2/account/sessions".to_owned());
        }
        let u = self.user(username).await?;
        Ok(format!("/api/v2/admin/users/{}/sessions", enc(&u.id)))
    }

    /// Team `name` of `org`; if there is none, the error names the closest (one more request).
    async fn team(&self, org: &str, name: &str) -> anyhow::Result<r::Team> {
        let path = format!("/api/v2/organizations/{}/teams?filter%5Bnames%5D={}", enc(org), enc(name));
        let list: ListDocument<r::Team> = self.get(&path).await?;
        if let Some(team) = named(&list, name) {
            return Ok(team.clone());
        }
        let all: ListDocument<r::Team> =
            self.get(&format!("/api/v2/organizations/{}/teams?page%5Bsize%5D=100", enc(org))).await?;
        let hint = did_you_mean(
            name,
            "team",
            &names(&all),
            &format!("tern team list --org {org}"),
            &format!("tern team create --org {org} NAME"),
        );
        Err(anyhow!("organization {org} has no team {name:?}: {hint}"))
    }

    /// Project `name` of `org`; if there is none, the error names the closest.
    async fn project(&self, org: &str, name: &str) -> anyhow::Result<r::Project> {
        let list: ListDocument<r::Project> =
            self.get(&format!("/api/v2/organizations/{}/projects?page%5Bsize%5D=100", enc(org))).await?;
        named(&list, name).cloned().ok_or_else(|| {
            let hint = did_you_mean(
                name,
                "project",
                &names(&list),
                &format!("tern project list --org {org}"),
                &format!("tern project create NAME --org {org}"),
            );
            anyhow!("organization {org} has no project {name:?}: {hint}")
        })
    }
}

pub fn user(command: UserCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Create { username, email, admin, identity, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let body = json!({ "data": { "type": "users", "attributes": {
                    "username": username, "email": email, "is-admin": admin, "identity": identity,
                } } });
                let u: Document<r::User> = c.write(Method::POST, "/api/v2/admin/users", body).await?;
                let name = &u.data.attributes.username;
                outln!(
                    "created user {name} ({}){}",
                    u.data.id,
                    if u.data.attributes.is_admin { ", an administrator" } else { "" }
                );
                if u.data.attributes.is_admin {
                    eprintln!("next: give them a token: `tern user token {name}`");
                } else {
                    eprintln!(
                        "next: give them a token: `tern user token {name}`; add them to a team: `tern team add-member --org ORG TEAM {name}`"
                    );
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::List { json, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let users = c.users().await?;
                if json {
                    for u in &users {
                        let a = &u.attributes;
                        let line = json!({ "id": u.id, "username": a.username, "email": a.email, "is-admin": a.is_admin });
                        outln!("{line}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        let a = &u.attributes;
                        vec![
                            a.username.clone(),
                            if a.is_admin { "yes" } else { "no" }.to_owned(),
                            if a.email.is_empty() { "-".to_owned() } else { a.email.clone() },
                            u.id.clone(),
                        ]
                    })
                    .collect();
                table(&["USERNAME", "ADMIN", "EMAIL", "ID"], &rows);
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::Delete { username, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let u = c.user(&username).await?;
                c.send(Method::DELETE, &format!("/api/v2/admin/users/{}", enc(&u.id)), None, false).await?;
                outln!("deleted user {username}: their tokens no longer work, and they left their teams");
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::Token { username, description, expires_in, client } => {
            let expires = expires_at(expires_in.as_deref())?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let u = c.user(&username).await?;
                let path = format!("/api/v2/users/{}/authentication-tokens", enc(&u.id));
                let hint = format!(
                    "token of user {username} (shown once; it may do what their teams allow; use it as TERN_TOKEN or with `tern login`):"
                );
                create_token(&c, &path, &description, expires.as_deref(), &hint).await
            })
        }
        UserCommand::GrantAdmin { username, client } => set_admin(&username, true, &client, env),
        UserCommand::RevokeAdmin { username, client } => set_admin(&username, false, &client, env),
        UserCommand::SignOut { username, session: None, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let u = c.user(&username).await?;
                let path = format!("/api/v2/admin/users/{}/actions/sign_out", enc(&u.id));
                let done: Value = c.write(Method::POST, &path, json!({})).await?;
                let ended = done["meta"]["sessions-ended"].as_u64().unwrap_or(0);
                outln!(
                    "{username} is signed out of {ended} browser session(s), on every replica; their API tokens remain (tern token list, tern token revoke)"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::SignOut { username, session: Some(session), client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let path = format!("{}/{}", c.sessions_path(&username).await?, enc(&session));
                c.send(Method::DELETE, &path, None, false).await?;
                outln!(
                    "session {session} of {username} has ended, on every replica; their other sessions and API tokens remain"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        UserCommand::Sessions { username, json, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let list: ListDocument<r::Session> = c.get(&c.sessions_path(&username).await?).await?;
                if json {
                    for s in &list.data {
                        let a = &s.attributes;
                        let line = json!({
                            "id": s.id, "created-at": a.created_at, "last-seen-at": a.last_seen_at,
                            "expires-at": a.expires_at,
                        });
                        outln!("{line}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                if list.data.is_empty() {
                    eprintln!("{username} has no browser session");
                    return Ok(ExitCode::SUCCESS);
                }
                let rows: Vec<Vec<String>> = list
                    .data
                    .iter()
                    .map(|s| {
                        let a = &s.attributes;
                        vec![s.id.clone(), a.created_at.clone(), a.last_seen_at.clone(), a.expires_at.clone()]
                    })
                    .collect();
                table(&["ID", "SIGNED IN", "LAST SEEN", "EXPIRES"], &rows);
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

/// `tern user grant-admin` / `revoke-admin`.
fn set_admin(
    username: &str,
    admin: bool,
    client: &crate::cli::ClientArgs,
    env: Env<'_>,
) -> anyhow::Result<ExitCode> {
    let c = Client::new(client, env)?;
    block_on(async move {
        let u = c.user(username).await?;
        let action = if admin { "grant_admin" } else { "revoke_admin" };
        let path = format!("/api/v2/admin/users/{}/actions/{action}", enc(&u.id));
        let _: Document<r::User> = c.write(Method::POST, &path, json!({})).await?;
        if admin {
            outln!("{username} is now an administrator of this installation: they may do everything");
        } else {
            outln!("{username} is no longer an administrator; what their teams allow remains");
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn team(command: TeamCommand, env: Env<'_>) -> anyhow::Result<ExitCode> {
    match command {
        TeamCommand::Create { name, org, permissions, sso_team_id, visibility, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let mut attributes = json!({ "name": name });
                if !permissions.is_empty() {
                    let access: serde_json::Map<String, Value> =
                        permissions.iter().map(|p| (p.clone(), Value::Bool(true))).collect();
                    attributes["organization-access"] = Value::Object(access);
                }
                if let Some(v) = visibility {
                    attributes["visibility"] = json!(v);
                }
                if let Some(group) = sso_team_id {
                    attributes["sso-team-id"] = json!(group);
                }
                let body = json!({ "data": { "type": "teams", "attributes": attributes } });
                let t: Document<r::Team> = c
                    .write(Method::POST, &format!("/api/v2/organizations/{}/teams", enc(&org)), body)
                    .await?;
                let name = &t.data.attributes.name;
                outln!("created team {name} ({})", t.data.id);
                eprintln!(
                    "next: add members: `tern team add-member --org {org} {name} USERNAME…`; give it access: `tern team access --org {org} {name} --workspace NAME --level plan`"
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        TeamCommand::List { org, json, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let mut teams = Vec::new();
                let mut page = 1;
                loop {
                    let path = format!(
                        "/api/v2/organizations/{}/teams?page%5Bsize%5D=100&page%5Bnumber%5D={page}",
                        enc(&org)
                    );
                    let list: ListDocument<r::Team> = c.get(&path).await?;
                    teams.extend(list.data);
                    match list.meta.and_then(|m| m.pagination.next_page) {
                        Some(n) => page = n,
                        None => break,
                    }
                }
                if json {
                    for t in &teams {
                        let a = &t.attributes;
                        let line = json!({
                            "id": t.id, "name": a.name, "users-count": a.users_count,
                            "organization-access": a.organization_access, "visibility": a.visibility,
                            "sso-team-id": a.sso_team_id,
                        });
                        outln!("{line}");
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                let rows: Vec<Vec<String>> = teams
                    .iter()
                    .map(|t| {
                        let a = &t.attributes;
                        vec![
                            a.name.clone(),
                            a.users_count.to_string(),
                            permissions_cell(&a.organization_access),
                            t.id.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "MEMBERS", "PERMISSIONS", "ID"], &rows);
                Ok(ExitCode::SUCCESS)
            })
        }
        TeamCommand::Show { name, org, json, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let found = c.team(&org, &name).await?;
                let doc: Document<r::Team> =
                    c.get(&format!("/api/v2/teams/{}?include=users", enc(&found.id))).await?;
                let t = doc.data;
                let included: Vec<r::User> = doc
                    .included
                    .into_iter()
                    .filter(|v| v["type"] == "users")
                    .filter_map(|v| serde_json::from_value(v).ok())
                    .collect();
                // In the order of the team's relationship; an id without its document as it is.
                let members: Vec<String> = t
                    .relationships
                    .users
                    .ids()
                    .map(|id| {
                        included
                            .iter()
                            .find(|u| u.id == id)
                            .map_or_else(|| id.to_owned(), |u| u.attributes.username.clone())
                    })
                    .collect();
                let a = &t.attributes;
                if json {
                    let line = json!({
                        "id": t.id, "name": a.name, "organization": org, "visibility": a.visibility,
                        "sso-team-id": a.sso_team_id, "organization-access": a.organization_access,
                        "members": members,
                    });
                    outln!("{line}");
                    return Ok(ExitCode::SUCCESS);
                }
                let (permissions, count) = held(&a.organization_access);
                let permissions = if count > 0 && permissions.len() == count {
                    "all (it may do everything in the organization)".to_owned()
                } else if permissions.is_empty() {
                    "- (only what its access to workspaces and projects allows)".to_owned()
                } else {
                    permissions.join(", ")
                };
                outln!("name:          {}", a.name);
                outln!("id:            {}", t.id);
                outln!("organization:  {org}");
                outln!("visibility:    {}", a.visibility);
                outln!("group:         {}", a.sso_team_id.as_deref().unwrap_or("-"));
                outln!("permissions:   {permissions}");
                outln!(
                    "members:       {}",
                    if members.is_empty() { "-".to_owned() } else { members.join(", ") }
                );
                Ok(ExitCode::SUCCESS)
            })
        }
        TeamCommand::Delete { name, org, client } => {
            let c = Client::new(&client, env)?;
            block_on(async move {
                let t = c.team(&org, &name).await?;
                c.send(Method::DELETE, &format!("/api/v2/teams/{}", enc(&t.id)), None, false).await?;
                outln!("deleted team {name} with its access and tokens");
                Ok(ExitCode::SUCCESS)
            })
        }
        TeamCommand::AddMember { team, usernames, org, client } => {
            members(true, &team, &usernames, &org, &client, env)
        }
        TeamCommand::RemoveMember { team, usernames, org, client } => {
            members(false, &team, &usernames, &org, &client, env)
        }
        TeamCommand::Access { team, org, target, level, remove, client } => {
            let level = match (&level, remove) {
                (_, true) => None,
                (Some(level), false) => {
                    check_level(&target, level)?;
                    Some(level.clone())
                }
                (None, false) => return Err(UsageError("give --level LEVEL, or --remove".into()).into()),
            };
            let c = Client::new(&client, env)?;
            block_on(async move { access(&c, &org, &team, &target, level.as_deref()).await })
        }
        TeamCommand::Token { team, org, description, expires_in, replace, client } => {
            let expires = expires_at(expires_in.as_deref())?;
            let c = Client::new(&client, env)?;
            block_on(async move {
                let t = c.team(&org, &team).await?;
                let path = if replace {
                    format!("/api/v2/teams/{}/authentication-token", enc(&t.id))
                } else {
                    format!("/api/v2/teams/{}/authentication-tokens", enc(&t.id))
                };
                let hint = format!(
                    "token of team {team} of {org} (shown once; it may do what the team may{}):",
                    if replace { "; the team's other tokens are revoked" } else { "" }
                );
                create_token(&c, &path, &description, expires.as_deref(), &hint).await
            })
        }
    }
}

/// `tern team add-member` (`add`) / `remove-member`.
fn members(
    add: bool,
    team: &str,
    usernames: &[String],
    org: &str,
    client: &crate::cli::ClientArgs,
    env: Env<'_>,
) -> anyhow::Result<ExitCode> {
    let c = Client::new(client, env)?;
    block_on(async move {
        let t = c.team(org, team).await?;
        let data: Vec<Value> = usernames.iter().map(|u| json!({ "type": "users", "id": u })).collect();
        let method = if add { Method::POST } else { Method::DELETE };
        let path = format!("/api/v2/teams/{}/relationships/users", enc(&t.id));
        if let Err(e) = c.act(method, &path, json!({ "data": data })).await {
            return Err(match e.downcast::<ApiError>() {
                Ok(mut api)
                    if api.status == reqwest::StatusCode::BAD_REQUEST
                        && api.detail.contains("does not exist") =>
                {
                    api.hint = Some(
                        "`tern user list` shows the users; `tern user create USERNAME` makes one".into(),
                    );
                    api.into()
                }
                Ok(api) => api.into(),
                Err(e) => e,
            });
        }
        let who = usernames.join(", ");
        if add {
            outln!("added {who} to team {team}");
        } else {
            outln!("removed {who} from team {team}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `tern team access`: grant `level` (or, with none, remove the access) on the target.
async fn access(
    c: &Client,
    org: &str,
    team: &str,
    target: &TeamAccessTarget,
    level: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let t = c.team(org, team).await?;
    // The kind of document, the relationship, its id, and how to name the target.
    let (kind, relation, id, what) = match (&target.workspace, &target.project) {
        (Some(ws), _) => {
            ("team-workspaces", "workspace", c.workspace(org, ws).await?.id, format!("workspace {ws}"))
        }
        (None, Some(p)) => ("team-projects", "project", c.project(org, p).await?.id, format!("project {p}")),
        (None, None) => return Err(UsageError("give --workspace NAME or --project NAME".into()).into()),
    };
    let list = format!(
        "/api/v2/{kind}?filter%5B{relation}%5D%5Bid%5D={}&filter%5Bteam%5D%5Bid%5D={}",
        enc(&id),
        enc(&t.id)
    );
    // The two documents differ only in their attributes' other fields: the level is `access`.
    let existing: Option<(String, String)> = if kind == "team-workspaces" {
        let l: ListDocument<r::TeamWorkspace> = c.get(&list).await?;
        l.data
            .into_iter()
            .find(|a| a.relationships.team.id() == Some(t.id.as_str()))
            .map(|a| (a.id, a.attributes.access))
    } else {
        let l: ListDocument<r::TeamProject> = c.get(&list).await?;
        l.data
            .into_iter()
            .find(|a| a.relationships.team.id() == Some(t.id.as_str()))
            .map(|a| (a.id, a.attributes.access))
    };
    let Some(level) = level else {
        let (access_id, _) = existing.ok_or_else(|| {
            anyhow!("team {team} has no access of its own to {what}: nothing to remove (`tern team show --org {org} {team}` shows its organization permissions)")
        })?;
        c.send(Method::DELETE, &format!("/api/v2/{kind}/{}", enc(&access_id)), None, false).await?;
        outln!("team {team} no longer has access of its own to {what}");
        return Ok(ExitCode::SUCCESS);
    };
    match existing {
        Some((_, current)) if current == level => {
            outln!("team {team} already has {level} access to {what}");
        }
        Some((access_id, current)) => {
            let body = json!({ "data": { "type": kind, "attributes": { "access": level } } });
            c.act(Method::PATCH, &format!("/api/v2/{kind}/{}", enc(&access_id)), body).await?;
            outln!("team {team} now has {level} access to {what} (was {current})");
        }
        None => {
            let body = json!({ "data": { "type": kind, "attributes": { "access": level }, "relationships": {
                relation: { "data": { "type": format!("{relation}s"), "id": id } },
                "team": { "data": { "type": "teams", "id": t.id } },
            } } });
            c.act(Method::POST, &format!("/api/v2/{kind}"), body).await?;
            outln!("team {team} now has {level} access to {what}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_offered_are_the_keys_of_organization_access() {
        let (_, count) = held(&r::TeamAttributes::default().organization_access);
        let mut keys: Vec<String> =
            match serde_json::to_value(r::TeamAttributes::default().organization_access) {
                Ok(Value::Object(m)) => m.keys().cloned().collect(),
                other => panic!("{other:?}"),
            };
        keys.sort();
        let mut offered: Vec<String> =
            crate::cli::ORG_PERMISSIONS.iter().map(|(n, _)| (*n).to_owned()).collect();
        offered.sort();
        assert_eq!(offered, keys);
        assert_eq!(count, keys.len());
    }

    #[test]
    fn levels_are_checked_for_their_target() {
        let ws = TeamAccessTarget { workspace: Some("prod".into()), project: None };
        let project = TeamAccessTarget { workspace: None, project: Some("infra".into()) };
        assert!(check_level(&ws, "plan").is_ok());
        assert!(check_level(&project, "maintain").is_ok());
        let e = check_level(&ws, "maintain").unwrap_err().0;
        assert_eq!(e, "--level \"maintain\": a workspace's levels are read, plan, write, admin");
        let e = check_level(&project, "plan").unwrap_err().0;
        assert!(e.contains("read, write, maintain, admin"), "{e}");
        let e = check_level(&ws, "custom").unwrap_err().0;
        assert!(e.contains("through the API only") && e.contains("team-workspaces"), "{e}");
    }

    #[test]
    fn permissions_show_as_all_none_or_their_names() {
        let mut access = r::TeamAttributes::default().organization_access;
        assert_eq!(permissions_cell(&access), "-");
        access.manage_workspaces = true;
        access.read_workspaces = true;
        assert_eq!(permissions_cell(&access), "manage-workspaces,read-workspaces");
    }
}
