//! The client commands as a new user first meets them: a wrong token, a typo in a name, a server
//! URL without its scheme or with the wrong one, an empty value, a pipe closed early. Each error
//! says what happened and what to do.

use std::process::{Command, Stdio};

use crate::runs::ADMIN;
use crate::support::{Run, Scratch, Server, run, run_with_stdin};

fn serve(s: &Scratch, extra: &[&str]) -> Server {
    let mut args = vec!["--signing-key", "keys/rsa-2048.pem", "--workers", "0"];
    args.extend(extra);
    let mut cmd = s.tern_plain();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    Server::start(cmd, &args)
}

/// `tern` against `server` with the admin token in TERN_TOKEN.
fn cli(s: &Scratch, server: &Server) -> Command {
    let mut cmd = s.tern_plain();
    cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN);
    cmd
}

fn failed(out: &Run, code: i32) -> String {
    out.failure(code);
    assert!(out.stdout.is_empty(), "nothing on stdout when failing\n{out}");
    assert_eq!(out.stderr.lines().count(), 1, "one line on stderr\n{out}");
    out.stderr.clone()
}

#[test]
fn a_refused_token_names_where_it_came_from() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let refused = "401 Unauthorized: the token is not valid: unknown, revoked, or expired";

    let err = failed(&run(cli(&s, &server).env("TERN_TOKEN", "not-a-token").args(["org", "list"])), 1);
    assert!(err.contains(refused), "{err}");
    assert!(err.contains("the token in the TERN_TOKEN environment variable was refused"), "{err}");
    assert!(err.contains("set TERN_TOKEN to a valid token"), "{err}");
    assert!(!err.contains("not-a-token"), "the token is never echoed: {err}");

    let err = failed(&run(cli(&s, &server).args(["org", "list", "--token", "not-a-token"])), 1);
    assert!(err.contains("the token given with --token was refused"), "{err}");

    // The saved login: good when saved, then replaced by a bad one in the file.
    run_with_stdin(s.tern_plain().args(["login", "--server", &server.base]), Some(ADMIN)).success();
    let saved = s.home().join(".config/tern/credentials.json");
    let mut login: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    login["token"] = "revoked-token".into();
    std::fs::write(&saved, login.to_string()).unwrap();
    let err = failed(&run(s.tern_plain().args(["org", "list"])), 1);
    assert!(err.contains(refused), "{err}");
    assert!(
        err.contains(&format!("the token saved by `tern login` in {} was refused", saved.display())),
        "{err}"
    );
    assert!(err.contains(&format!("`tern login --server {}", server.base)), "{err}");

    let err =
        failed(&run_with_stdin(s.tern_plain().args(["login", "--server", &server.base]), Some("bad")), 1);
    assert!(err.contains("the token given to `tern login` was refused"), "{err}");
}

#[test]
fn unknown_organizations_and_workspaces_suggest_the_closest_name() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let ok = |args: &[&str]| run(cli(&s, &server).args(args)).success().stdout.clone();
    ok(&["org", "create", "acme"]);
    ok(&["workspace", "create", "prod", "--org", "acme"]);
    ok(&["workspace", "create", "staging", "--org", "acme"]);

    let err = failed(&run(cli(&s, &server).env("TERN_ORG", "acmee").args(["workspace", "list"])), 1);
    assert!(err.contains("organization \"acmee\" not found; did you mean \"acme\"?"), "{err}");
    assert!(err.contains("the organizations are \"acme\""), "{err}");

    let err = failed(&run(cli(&s, &server).args(["workspace", "show", "prd", "--org", "acme"])), 1);
    assert!(err.contains("workspace \"prd\" not found; did you mean \"prod\"?"), "{err}");
    assert!(err.contains("the workspaces are \"prod\", \"staging\""), "{err}");

    // Nothing close: the names that exist, no guess.
    let err =
        failed(&run(cli(&s, &server).args(["var", "list", "--workspace", "zzzzzz", "--org", "acme"])), 1);
    assert!(err.contains("workspace \"zzzzzz\" not found; the workspaces are"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");

    // A workspace of an organization that does not exist: the organization is the typo.
    let err = failed(&run(cli(&s, &server).args(["workspace", "show", "prod", "--org", "acne"])), 1);
    assert!(err.contains("organization \"acne\" not found; did you mean \"acme\"?"), "{err}");

    let err = failed(
        &run(cli(&s, &server).args([
            "workspace",
            "create",
            "app",
            "--org",
            "acme",
            "--project",
            "default project",
        ])),
        1,
    );
    assert!(err.contains("has no project \"default project\": did you mean \"Default Project\"?"), "{err}");
}

#[test]
fn var_set_refuses_an_empty_standard_input_and_sets_empty_values_on_purpose() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let ok = |args: &[&str]| run(cli(&s, &server).args(args)).success().stdout.clone();
    ok(&["org", "create", "acme"]);
    ok(&["workspace", "create", "prod", "--org", "acme"]);
    let set = ["var", "set", "TOKEN", "--workspace", "prod", "--org", "acme"];

    for stdin in [None, Some(""), Some("\n")] {
        let err = failed(&run_with_stdin(cli(&s, &server).args(set), stdin), 2);
        assert!(err.contains("TOKEN was not set"), "{err}");
        assert!(err.contains("to set an empty value on purpose, write `TOKEN=`"), "{err}");
    }
    let vars = ok(&["var", "list", "--workspace", "prod", "--org", "acme"]);
    assert!(!vars.contains("TOKEN"), "nothing stored: {vars}");

    run_with_stdin(cli(&s, &server).args(set), Some("from-stdin\n")).success();
    ok(&["var", "set", "EMPTY=", "--workspace", "prod", "--org", "acme"]);
    let vars = ok(&["var", "list", "--workspace", "prod", "--org", "acme"]);
    assert!(vars.contains("TOKEN\tfrom-stdin"), "{vars}");
    assert!(vars.lines().any(|l| l.ends_with("\tEMPTY\t")), "{vars}");
}

#[test]
fn server_urls_without_a_scheme_the_wrong_scheme_or_nothing_listening() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let org_list = |url: &str| {
        let mut cmd = cli(&s, &server);
        cmd.args(["org", "list", "--server", url]);
        cmd
    };
    let address = server.base.trim_start_matches("http://").to_owned();

    let err = failed(&run(&mut org_list(&address)), 2);
    assert!(err.contains(&format!("has no scheme: write http://{address}")), "{err}");

    let err = failed(&run(&mut org_list(&format!("https://{address}"))), 1);
    assert!(err.contains(&format!("{address} speaks plain HTTP, not TLS: use http://{address}")), "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = failed(&run(&mut org_list(&format!("http://{closed}"))), 1);
    assert!(
        err.contains(&format!("nothing listens at {closed}: start the server there (`tern serve`)")),
        "{err}"
    );
}

#[test]
fn an_untrusted_certificate_says_to_set_ssl_cert_file() {
    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let server = serve(
        &s,
        &["--tls-cert", ca.server_cert.to_str().unwrap(), "--tls-key", ca.server_key.to_str().unwrap()],
    );
    let mut cmd = cli(&s, &server);
    cmd.env("TERN_SERVER", &server.issuer).args(["org", "list"]);
    let err = failed(&run(&mut cmd), 1);
    assert!(err.contains("is not trusted: if your own CA signed it, set SSL_CERT_FILE"), "{err}");
    // With the CA, it works.
    run(cmd.env("SSL_CERT_FILE", &ca.ca_cert)).success();
}

#[test]
fn a_closed_standard_output_ends_quietly() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    run(cli(&s, &server).args(["org", "create", "acme"])).success();
    for i in 0..3 {
        run(cli(&s, &server).args(["workspace", "create", &format!("w{i}"), "--org", "acme"])).success();
    }
    let mint = [
        "token",
        "mint",
        "--signing-key",
        "keys/rsa-2048.pem",
        "--issuer-url",
        "https://tern.example.com",
        "--organization",
        "acme",
        "--workspace",
        "prod",
        "--run-id",
        "run-1",
        "--phase",
        "plan",
        "--audience",
        "sts.amazonaws.com",
    ];
    for args in [vec!["workspace", "list", "--org", "acme"], vec!["org", "list"], mint.to_vec()] {
        let mut child =
            cli(&s, &server).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // `| head` gone before the first line
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}

/// `tern workspace update` changes only what is given; `delete` needs --yes, and --safe refuses
/// while the state manages a resource.
#[test]
fn workspaces_are_updated_and_deleted_from_the_cli() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let tern = |args: &[&str]| run(cli(&s, &server).env("TERN_ORG", "acme").args(args));
    tern(&["org", "create", "acme"]).success();
    tern(&["workspace", "create", "app", "--plan-timeout", "30m"]).success();
    let err = failed(&tern(&["workspace", "update", "app"]), 2);
    assert!(err.contains("nothing to change"), "{err}");
    tern(&[
        "workspace",
        "update",
        "app",
        "--auto-apply",
        "true",
        "--terraform-version",
        "1.11.4",
        "--rename",
        "api",
    ])
    .success();
    let shown = tern(&["workspace", "show", "api"]);
    shown.success();
    for line in ["auto-apply:        true", "terraform:         1.11.4", "plan timeout (s):  1800"] {
        assert!(shown.stdout.contains(line), "{line}\n{shown}");
    }
    let err = failed(&tern(&["workspace", "delete", "api"]), 2);
    assert!(err.contains("add --yes"), "{err}");
    // A state that manages a resource: --safe refuses, plain delete goes ahead.
    use base64::Engine as _;
    let state = r#"{"version":4,"serial":1,"lineage":"l","outputs":{},"resources":[{"mode":"managed","type":"null_resource","name":"a","instances":[{}]}]}"#;
    let id = shown.stdout.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().to_owned();
    tern(&["workspace", "lock", "api"]).success();
    let (status, body) = crate::runs::call(
        "POST",
        &format!("{}/api/v2/workspaces/{id}/state-versions", server.base),
        ADMIN,
        Some(serde_json::json!({"data":{"type":"state-versions","attributes":{
            "serial": 1, "lineage": "l", "state": base64::engine::general_purpose::STANDARD.encode(state)}}})),
    );
    assert_eq!(status, 201, "{body}");
    tern(&["workspace", "unlock", "api"]).success();
    let err = failed(&tern(&["workspace", "delete", "api", "--safe", "--yes"]), 1);
    assert!(err.contains("managing 1 resource"), "{err}");
    tern(&["workspace", "delete", "api", "--yes"]).success();
    let err = failed(&tern(&["workspace", "show", "api"]), 1);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn variable_sets_are_made_filled_applied_and_removed_from_the_cli() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let tern = |args: &[&str]| run(cli(&s, &server).env("TERN_ORG", "acme").args(args));
    tern(&["org", "create", "acme"]).success();
    tern(&["project", "create", "prod"]).success();
    tern(&["workspace", "create", "network", "--project", "prod"]).success();
    tern(&["workspace", "create", "app"]).success();
    let made = tern(&["varset", "create", "aws", "--description", "AWS role"]);
    made.success();
    assert!(made.stderr.contains("tern var set KEY=VALUE --varset aws"), "{made}");
    tern(&["var", "set", "TFC_AWS_PROVIDER_AUTH=true", "--varset", "aws"]).success();
    tern(&["var", "set", "db_password=hunter2", "--varset", "aws", "--terraform", "--sensitive"]).success();
    let updated = tern(&["var", "set", "TFC_AWS_PROVIDER_AUTH=false", "--varset", "aws"]);
    updated.success();
    assert!(
        updated.stdout.contains("updated env variable TFC_AWS_PROVIDER_AUTH of variable set aws"),
        "{updated}"
    );
    let usage = |args: &[&str]| {
        let out = tern(args);
        out.failure(2);
        out.stderr
    };
    let err = usage(&["var", "list"]);
    assert!(err.contains("--workspace") && err.contains("--varset"), "one owner is required: {err}");
    let err = usage(&["var", "list", "--workspace", "app", "--varset", "aws"]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = usage(&["varset", "apply", "aws"]);
    assert!(err.contains("--workspace") && err.contains("--project"), "{err}");

    tern(&["varset", "apply", "aws", "--project", "prod", "--workspace", "app"]).success();
    let listed = tern(&["varset", "list"]);
    listed.success();
    assert!(listed.stdout.contains("aws\t2 variables\t1 workspaces, 1 projects"), "{listed}");
    let shown = tern(&["varset", "show", "aws"]);
    shown.success();
    for line in [
        "workspaces:   app",
        "projects:     prod",
        "TFC_AWS_PROVIDER_AUTH\tfalse",
        "db_password\t<sensitive>",
    ] {
        assert!(shown.stdout.contains(line), "{line}\n{shown}");
    }
    assert!(!shown.stdout.contains("hunter2") && !shown.stderr.contains("hunter2"), "{shown}");
    // Where it applies, a run gets it: the workspace's effective variables say so.
    let effective = |ws: &str| {
        let list = tern(&["workspace", "show", ws]);
        let id = list.stdout.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().to_owned();
        let (status, body) = crate::runs::call(
            "GET",
            &format!("{}/api/v2/workspaces/{id}/all-vars", server.base),
            ADMIN,
            None,
        );
        assert_eq!(status, 200, "{body}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["attributes"]["key"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(effective("network").contains(&"db_password".to_owned()), "through its project");
    assert!(effective("app").contains(&"TFC_AWS_PROVIDER_AUTH".to_owned()), "directly");
    tern(&["varset", "remove", "aws", "--project", "prod"]).success();
    assert!(effective("network").is_empty(), "no longer through its project");
    assert!(!effective("app").is_empty());

    let typo = failed(&tern(&["varset", "show", "asw"]), 1);
    assert!(typo.contains("did you mean \"aws\""), "{typo}");
    tern(&["var", "delete", "db_password", "--varset", "aws", "--terraform"]).success();
    let err = failed(&tern(&["varset", "delete", "aws"]), 2);
    assert!(err.contains("add --yes"), "{err}");
    tern(&["varset", "delete", "aws", "--yes"]).success();
    assert!(effective("app").is_empty(), "a deleted set applies nowhere");
}

#[test]
fn tokens_are_listed_expire_and_are_revoked_from_the_cli() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let tern = |args: &[&str]| run(cli(&s, &server).env("TERN_ORG", "acme").args(args));
    tern(&["org", "create", "acme"]).success();
    let made = tern(&["org", "token", "acme", "--description", "ci", "--expires-in", "30d"]);
    made.success();
    assert!(made.stderr.contains("expires 20"), "the expiry is said: {made}");
    let secret = made.stdout.trim().to_owned();
    tern(&["agent-token", "create", "--description", "rack 1"]).success();
    let bad = tern(&["org", "token", "acme", "--expires-in", "soon"]);
    bad.failure(2);

    let listed = tern(&["token", "list", "--org", "acme"]);
    listed.success();
    assert!(!listed.stdout.contains(&secret), "never a secret: {listed}");
    let ci = listed.stdout.lines().find(|l| l.ends_with(" ci")).unwrap_or_else(|| panic!("{listed}"));
    assert!(ci.contains("organization") && !ci.contains("never"), "it expires: {ci}");
    assert!(listed.stdout.lines().any(|l| l.contains("agent") && l.ends_with("rack 1")), "{listed}");
    let all = tern(&["token", "list"]);
    assert!(
        all.stdout.lines().any(|l| l.contains(" admin ")),
        "the admin's list holds the admin token: {all}"
    );

    // The organization token works until it is revoked; then it is refused at once.
    let with_token = |token: &str, args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", token).args(args);
        run(&mut cmd)
    };
    with_token(&secret, &["workspace", "list", "--org", "acme"]).success();
    let id = ci.split_whitespace().next().unwrap();
    let refused = with_token(&secret, &["token", "revoke", id]);
    refused.failure(1);
    assert!(refused.stderr.contains("revoked by an administrator"), "{refused}");
    tern(&["token", "revoke", id]).success();
    let gone = with_token(&secret, &["workspace", "list", "--org", "acme"]);
    gone.failure(1);
    assert!(gone.stderr.contains("TERN_TOKEN"), "a refused token names its source: {gone}");
    let admin = all
        .stdout
        .lines()
        .find(|l| l.contains(" admin "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let err = failed(&tern(&["token", "revoke", &admin]), 1);
    assert!(err.contains("TERN_ADMIN_TOKEN"), "the admin token is rotated: {err}");
}

/// Users and teams from the CLI, as an administrator sets them up without an identity provider:
/// each token does what its teams allow, and no more.
#[test]
fn users_and_teams_decide_what_each_token_may_do() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let as_token = |token: &str, args: &[&str]| {
        run(cli(&s, &server).env("TERN_ORG", "acme").env("TERN_TOKEN", token).args(args))
    };
    let tern = |args: &[&str]| as_token(ADMIN, args);
    let token = |out: &Run| {
        out.success();
        assert_eq!(out.stdout.lines().count(), 1, "the token alone on stdout\n{out}");
        let token = out.stdout.trim().to_owned();
        assert!(!out.stderr.contains(&token), "{out}");
        token
    };
    tern(&["org", "create", "acme"]).success();
    tern(&["workspace", "create", "app"]).success();

    // The first administrator, bootstrapped with the admin token.
    tern(&["user", "create", "root", "--admin"]).success();
    let root = token(&tern(&["user", "token", "root"]));
    let orgs = as_token(&root, &["org", "list"]);
    assert_eq!(orgs.success().stdout, "acme\n", "an administrator sees every organization");

    let made = tern(&["user", "create", "alice", "--email", "alice@example.com"]);
    made.success();
    assert!(made.stdout.starts_with("created user alice (user-"), "{made}");
    assert!(made.stderr.contains("give them a token: `tern user token alice`"), "{made}");
    assert!(made.stderr.contains("`tern team add-member --org ORG TEAM alice`"), "{made}");
    as_token(&root, &["user", "create", "bob"]).success();
    let users = tern(&["user", "list"]);
    let lines: Vec<&str> = users.success().stdout.lines().collect();
    assert!(lines[0].starts_with("USERNAME  ADMIN  EMAIL"), "{users}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("alice ") && l.contains(" no ") && l.contains("alice@example.com"))
    );
    assert!(lines.iter().any(|l| l.starts_with("root ") && l.contains(" yes ")), "{users}");

    // devs: no organization permission, plan on the workspace.
    tern(&["team", "create", "devs"]).success();
    tern(&["team", "add-member", "devs", "alice"]).success();
    let granted = tern(&["team", "access", "devs", "--workspace", "app", "--level", "write"]);
    assert_eq!(granted.success().stdout, "team devs now has write access to workspace app\n");
    let changed = tern(&["team", "access", "devs", "--workspace", "app", "--level", "plan"]);
    assert!(changed.success().stdout.contains("plan access to workspace app (was write)"), "{changed}");
    let err = failed(&tern(&["team", "access", "devs", "--workspace", "app", "--level", "maintain"]), 2);
    assert!(err.contains("a workspace's levels are read, plan, write, admin"), "{err}");
    let shown = tern(&["team", "show", "devs"]);
    assert!(shown.success().stdout.contains("members:       alice\n"), "{shown}");

    let alice = token(&tern(&["user", "token", "alice"]));
    let bob = token(&tern(&["user", "token", "bob", "--expires-in", "1h"]));

    // alice sees the workspace and may plan, but not write its variables.
    let listed = as_token(&alice, &["workspace", "list"]);
    assert!(listed.success().stdout.starts_with("app\t"), "{listed}");
    // Nothing listed: standard output stays empty, and the person learns why.
    let none = as_token(&alice, &["workspace", "list", "--search", "nothing-like-it"]);
    assert_eq!(none.success().stdout, "", "{none}");
    assert!(
        none.stderr.contains(
            "no workspace of acme whose name contains \"nothing-like-it\" is visible to this token"
        ),
        "{none}"
    );
    let err = failed(&as_token(&alice, &["var", "set", "FOO=bar", "--workspace", "app"]), 1);
    assert!(err.contains("403 Forbidden: this needs variables: write on workspace \"app\""), "{err}");
    assert!(err.contains("your team \"devs\" grant variables: read"), "{err}");
    let teams = as_token(&alice, &["team", "list"]);
    let lines: Vec<&str> = teams.success().stdout.lines().collect();
    assert!(lines[0].starts_with("NAME    MEMBERS  PERMISSIONS  ID"), "{teams}");
    assert!(lines.iter().any(|l| l.split_whitespace().take(3).eq(["devs", "1", "-"])), "{teams}");
    assert!(lines.iter().any(|l| l.split_whitespace().take(3).eq(["owners", "0", "all"])), "{teams}");
    let err = failed(&as_token(&alice, &["team", "token", "devs"]), 1);
    assert!(err.contains("needs the organization permission manage-teams"), "{err}");
    let err = failed(&as_token(&alice, &["user", "token", "bob"]), 1);
    assert!(err.contains("only an administrator acts on other users"), "{err}");

    // bob is in no team: the organization does not exist for him.
    let err = failed(&as_token(&bob, &["workspace", "list"]), 1);
    assert!(err.contains("organization \"acme\" not found"), "{err}");
    assert!(err.contains("`tern team add-member --org acme TEAM bob`"), "{err}");

    // A team's token does what the team may; --replace revokes the team's earlier ones.
    let team = token(&tern(&["team", "token", "devs", "--description", "ci"]));
    assert!(as_token(&team, &["workspace", "list"]).success().stdout.starts_with("app\t"));
    let replaced = token(&tern(&["team", "token", "devs", "--replace"]));
    let err = failed(&as_token(&team, &["workspace", "list"]), 1);
    assert!(err.contains("401 Unauthorized"), "{err}");
    as_token(&replaced, &["workspace", "list"]).success();

    // Names that are not there.
    let err = failed(&tern(&["team", "show", "dev"]), 1);
    assert!(err.contains("organization acme has no team \"dev\": did you mean \"devs\"?"), "{err}");
    let err = failed(&tern(&["user", "token", "alicee"]), 1);
    assert!(err.contains("there is no user \"alicee\": did you mean \"alice\"?"), "{err}");

    // Signing someone out of every browser says how many sessions ended; their token remains.
    let out = tern(&["user", "sign-out", "bob"]);
    assert!(out.success().stdout.contains("bob is signed out of 0 browser session(s)"), "{out}");
    let err = failed(&as_token(&bob, &["workspace", "list"]), 1);
    assert!(
        err.contains("404 Not Found") && err.contains("user bob is in no team"),
        "still authenticated: {err}"
    );

    // A deleted user's token is refused at once.
    tern(&["user", "delete", "bob"]).success();
    let err = failed(&as_token(&bob, &["workspace", "list"]), 1);
    assert!(err.contains("401 Unauthorized"), "{err}");
    tern(&["user", "revoke-admin", "root"]).success();
    let err = failed(&as_token(&root, &["user", "list"]), 1);
    assert!(err.contains("403 Forbidden"), "{err}");
}

/// A browser signed in with `token` at `server`'s sign-in form (as a person pastes their token
/// there): the session cookie's value.
fn browser_session(server: &Server, token: &str) -> String {
    let http =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = http.get(format!("{}/app/sign-in", server.base)).send().unwrap();
    let cookie = |r: &reqwest::blocking::Response, name: &str| -> String {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap().to_owned())
            })
            .unwrap_or_else(|| panic!("no {name} cookie: {:?}", r.headers()))
    };
    let pre = cookie(&form, "tern_presession");
    let html = form.text().unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let signed_in = http
        .post(format!("{}/app/sign-in/token", server.base))
        .header("cookie", format!("tern_presession={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&csrf={csrf}&return_to=%2Fapp"))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    cookie(&signed_in, "tern_session")
}

/// Whether the browser with this session cookie is signed in.
fn opens_pages(server: &Server, session: &str) -> bool {
    let http =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let home =
        http.get(format!("{}/app", server.base)).header("cookie", format!("tern_session={session}")).send();
    home.unwrap().status() == reqwest::StatusCode::OK
}

/// `tern user sessions NAME` lists a person's browser sessions (their own token, or the admin
/// token for anyone), never a secret; `tern user sign-out NAME --session ID` ends one of them,
/// and that browser is signed out at its next request while the others stay.
#[test]
fn a_user_lists_and_ends_their_browser_sessions() {
    let s = Scratch::new();
    let server = serve(&s, &[]);
    let as_token = |token: &str, args: &[&str]| run(cli(&s, &server).env("TERN_TOKEN", token).args(args));
    let tern = |args: &[&str]| as_token(ADMIN, args);
    let token = |out: Run| out.success().stdout.trim().to_owned();
    tern(&["user", "create", "alice"]).success();
    tern(&["user", "create", "bob"]).success();
    let alice = token(tern(&["user", "token", "alice"]));
    let bob = token(tern(&["user", "token", "bob"]));

    let none = as_token(&alice, &["user", "sessions", "alice"]);
    assert_eq!(none.success().stdout, "", "{none}");
    assert!(none.stderr.contains("alice has no browser session"), "{none}");
    let laptop = browser_session(&server, &alice);
    let phone = browser_session(&server, &alice);

    // Her own, with her own token: newest first, ids and times, no secret.
    let listed = as_token(&alice, &["user", "sessions", "alice"]);
    let lines: Vec<&str> = listed.success().stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("SIGNED IN") && lines[0].contains("EXPIRES"),
        "{listed}"
    );
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[1].starts_with("ses-") && lines[2].starts_with("ses-"), "{listed}");
    assert!(
        !listed.stdout.contains(&laptop) && !listed.stdout.contains(&phone),
        "a secret was printed: {listed}"
    );
    let json = tern(&["user", "sessions", "alice", "--json"]);
    let ids: Vec<String> = json
        .success()
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "the administrator sees them too: {json}");
    assert!(lines[1].starts_with(&ids[0]), "the same order: {listed}\n{json}");
    let (newest, oldest) = (&ids[0], &ids[1]);

    // Not someone else's, and not someone else's to end.
    let err = failed(&as_token(&bob, &["user", "sessions", "alice"]), 1);
    assert!(err.contains("only an administrator acts on other users"), "{err}");
    let err = failed(&as_token(&bob, &["user", "sign-out", "bob", "--session", oldest]), 1);
    assert!(err.contains("404 Not Found") && err.contains("you have no session"), "{err}");
    assert!(opens_pages(&server, &laptop));

    // alice ends the oldest (her laptop's): it is signed out; her phone is not.
    let out = as_token(&alice, &["user", "sign-out", "alice", "--session", oldest]);
    assert!(out.success().stdout.contains(&format!("session {oldest} of alice has ended")), "{out}");
    assert!(!opens_pages(&server, &laptop), "an ended session still opens pages");
    assert!(opens_pages(&server, &phone));
    // The administrator ends the other; her token remains.
    tern(&["user", "sign-out", "alice", "--session", newest]).success();
    assert!(!opens_pages(&server, &phone));
    let listed = tern(&["user", "sessions", "alice"]);
    assert!(listed.success().stderr.contains("alice has no browser session"), "{listed}");
    as_token(&alice, &["user", "sessions", "alice"]).success();
    let err = failed(&tern(&["user", "sign-out", "alice", "--session", newest]), 1);
    assert!(err.contains("404 Not Found") && err.contains("user alice has no session"), "{err}");
}
