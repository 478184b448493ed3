//! People signing in, for real: a certified OpenID provider (the npm package `oidc-provider`,
//! its development login and consent pages), Debian's Chromium driven by `playwright-core`, and
//! the real `terraform login` of both Terraform versions completing its browser step there —
//! against `tern serve` over https; and a second, independent provider, OpenBao's
//! (`identity/oidc/provider`). Plus what an attacker tries at the edges: a replayed or
//! foreign `state`, a return URL to another site, a form without its CSRF token, a session
//! cookie after sign-out.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runs::ADMIN;
use crate::support::{Scratch, Server, run};

/// The test identity provider, killed on drop.
struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp(redirect_uri: &str) -> Idp {
    let dir = tern_testkit::peers::node_dir();
    let mut child = Command::new("node")
        .arg(dir.join("oidc-provider.mjs"))
        .args(["--redirect-uri", redirect_uri, "--client-secret", "tern-test-client-secret"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs oidc-provider.mjs");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("oidc-provider said {line:?}"));
    // Keep reading what it prints (its warnings): a closed pipe would end it at its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    Idp { child, issuer: ready["issuer"].as_str().unwrap().to_owned() }
}

/// A port free now, for a server whose URL the provider must know before it starts.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `tern serve` over https on `port`, signing people in at the provider `issuer` as client
/// `client_id` with `client_secret`, and `extra` arguments.
fn serve(
    s: &Scratch,
    port: u16,
    ca: &tern_testkit::tls::TestCa,
    (issuer, client_id, client_secret): (&str, &str, &str),
    extra: &[&str],
) -> Server {
    let secret = s.path().join("client-secret");
    std::fs::write(&secret, format!("{client_secret}\n")).unwrap();
    let mut cmd = s.tern_plain();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    let listen = format!("127.0.0.1:{port}");
    let data = s.path().join("data");
    let mut args = vec![
        "--listen",
        &listen,
        "--workers",
        "0",
        "--signing-key",
        "keys/rsa-2048.pem",
        "--data-dir",
        data.to_str().unwrap(),
        "--tls-cert",
        ca.server_cert.to_str().unwrap(),
        "--tls-key",
        ca.server_key.to_str().unwrap(),
        "--oidc-issuer",
        issuer,
        "--oidc-client-id",
        client_id,
        "--oidc-client-secret-file",
        secret.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Server::start(cmd, &args)
}

fn browser(args: &[&str]) -> Value {
    let dir = tern_testkit::peers::node_dir();
    tern_testkit::peers::chromium();
    let out = run(Command::new("node").arg(dir.join("browser.mjs")).args(args).current_dir(&dir));
    let last = out.stdout.lines().last().unwrap_or_default().to_owned();
    let v: Value = serde_json::from_str(&last).unwrap_or_else(|_| panic!("browser.mjs said:\n{out}"));
    assert_eq!(v["ok"], true, "the browser failed: {v}\n{out}");
    v
}

fn tern(s: &Scratch, server: &Server, ca: &tern_testkit::tls::TestCa, args: &[&str]) -> String {
    let out = run(s
        .tern_plain()
        .env("TERN_SERVER", &server.issuer)
        .env("TERN_TOKEN", ADMIN)
        .env("SSL_CERT_FILE", &ca.ca_cert)
        .args(args));
    out.success();
    out.stdout.clone()
}

fn http(ca: &tern_testkit::tls::TestCa) -> reqwest::blocking::Client {
    let pem = std::fs::read(&ca.ca_cert).unwrap();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[test]
fn people_sign_in_through_a_real_identity_provider_and_terraform_login_gets_them_a_token() {
    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let port = free_port();
    let base = format!("https://localhost:{port}");
    let provider = idp(&format!("{base}/oauth/callback"));
    let server = serve(&s, port, &ca, (&provider.issuer, "tern", "tern-test-client-secret"), &[]);
    assert_eq!(server.issuer, base);
    tern(&s, &server, &ca, &["org", "create", "acme"]);
    // The provider's group `devs` maps to team devs, which plans workspace app.
    tern(&s, &server, &ca, &["team", "create", "--org", "acme", "devs", "--sso-team-id", "devs"]);
    tern(&s, &server, &ca, &["workspace", "create", "app", "--org", "acme"]);
    tern(
        &s,
        &server,
        &ca,
        &["team", "access", "--org", "acme", "devs", "--workspace", "app", "--level", "plan"],
    );

    // In the browser: /app → sign-in → the provider → back, signed in, in the team; sign out.
    let seen = browser(&["sign-in", "--tern", &base, "--user", "alice"]);
    assert_eq!(seen["signInPage"], "/app/sign-in", "{seen}");
    assert_eq!(seen["username"], "alice", "{seen}");
    assert_eq!(seen["teams"], serde_json::json!(["acme / devs"]), "the group made alice a member: {seen}");
    assert_eq!(
        (
            seen["cookie"]["name"].as_str(),
            seen["cookie"]["httpOnly"].as_bool(),
            seen["cookie"]["secure"].as_bool(),
            seen["cookie"]["sameSite"].as_str()
        ),
        (Some("__Host-tern_session"), Some(true), Some(true), Some("Lax")),
        "{seen}"
    );
    assert_eq!(seen["afterSignOut"], "/app/sign-in", "{seen}");

    // The session cookie after sign-out opens nothing.
    let client = http(&ca);
    let cookie = format!("__Host-tern_session={}", seen["cookie"]["value"].as_str().unwrap());
    let r = client.get(format!("{base}/app")).header("cookie", &cookie).send().unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/app/sign-in"));

    // A callback with an unknown (or replayed) state, or from another browser: refused, no session.
    let r = client.get(format!("{base}/oauth/callback?code=x&state=forged")).send().unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("tern_session=tern")));
    // A return URL to another site is not followed: the sign-in page keeps /app.
    let page = client
        .get(format!("{base}/app/sign-in?return_to=https://evil.example/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("return_to=%2Fapp") && !page.contains("evil.example"), "{page}");
    // A user made here without an identity is never reached by a provider sign-in under the
    // same name (an account takeover a review found), an administrator least of all.
    tern(&s, &server, &ca, &["user", "create", "root", "--admin"]);
    let refused = browser(&["sign-in", "--tern", &base, "--user", "root"]);
    assert!(refused["refused"].as_str().unwrap_or_default().contains("--identity"), "{refused}");

    // A session opened with a user token ends when the token is revoked.
    let token = tern(&s, &server, &ca, &["user", "token", "root"]).trim().to_owned();
    let page = client.get(format!("{base}/app/sign-in")).send().unwrap();
    let pre = set_cookie(&page, "__Host-tern_presession");
    let html = page.text().unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let signed_in = client
        .post(format!("{base}/app/sign-in/token"))
        .header("cookie", format!("__Host-tern_presession={pre}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&csrf={csrf}&return_to=%2Fapp"))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let session = format!("__Host-tern_session={}", set_cookie(&signed_in, "__Host-tern_session"));
    let home = client.get(format!("{base}/app")).header("cookie", &session).send().unwrap();
    assert_eq!(home.status(), reqwest::StatusCode::OK);
    let id = tern(&s, &server, &ca, &["token", "list"]);
    let id = id
        .lines()
        .find(|l| l.contains("token of root"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    tern(&s, &server, &ca, &["token", "revoke", &id]);
    let home = client.get(format!("{base}/app")).header("cookie", &session).send().unwrap();
    assert_eq!(home.status(), reqwest::StatusCode::SEE_OTHER, "the session ended with its token");

    // A form without its CSRF token is refused.
    let r = client
        .post(format!("{base}/app/sign-in/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={ADMIN}&csrf=forged"))
        .send()
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);

    // `terraform login`, both versions: the browser step in Chromium (already signed in? no:
    // each browser is new, so it signs in through the provider, then allows).
    let mut terraforms = vec![(tern_testkit::peers::terraform(), "1.0.3".to_owned())];
    if let Some(found) = crate::cloud::terraform_at_least("signin::terraform_login", 0) {
        terraforms.push(found);
    }
    assert!(
        terraforms.len() == 2 || std::env::var("TERN_TEST_TERRAFORM").as_deref() == Ok("none"),
        "both Terraforms"
    );
    for (terraform, version) in &terraforms {
        let home = s.path().join(format!("home-{version}"));
        std::fs::create_dir_all(home.join(".terraform.d")).unwrap();
        let token = terraform_login(terraform, &home, &ca.ca_cert, &format!("localhost:{port}"), &base);
        assert!(token.starts_with("tern-user."), "Terraform {version} saved a user token");
        let me: Value = client
            .get(format!("{base}/api/v2/account/details"))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(me["data"]["attributes"]["username"], "alice", "Terraform {version}: {me}");
        // The token acts as alice: she sees the workspace her team plans.
        let ws = client
            .get(format!("{base}/api/v2/organizations/acme/workspaces/app"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(ws.status(), reqwest::StatusCode::OK, "Terraform {version}");
    }

    // The audit trail: the sign-ins with the team joined, the sign-out, the tokens.
    let trail = tern(&s, &server, &ca, &["audit", "--json"]);
    for want in ["user.signed-in", "user.signed-out", "\"via\":\"terraform login\""] {
        assert!(trail.contains(want), "{want} missing:\n{trail}");
    }
    assert!(trail.contains("devs (team-"), "the team joined through the group: {trail}");
}

/// The value of cookie `name` a response sets.
fn set_cookie(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", r.headers()))
}

/// Run `terraform login host` to the point where it prints the authorization URL, complete the
/// browser step in Chromium, and return the token it saved.
fn terraform_login(terraform: &Path, home: &Path, ca: &Path, host: &str, base: &str) -> String {
    let empty_config = home.join("terraformrc");
    std::fs::write(&empty_config, "").unwrap();
    let mut child = Command::new(terraform)
        .args(["login", host])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("SSL_CERT_FILE", ca)
        .env("TF_CLI_CONFIG_FILE", &empty_config)
        .env("CHECKPOINT_DISABLE", "1")
        // No browser can open here: Terraform prints the URL instead.
        .env("BROWSER", "/bin/false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    let url = loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("terraform login printed no URL:\n{seen}")
        });
        seen.push_str(&line);
        seen.push('\n');
        let trimmed = line.trim();
        if trimmed.starts_with(&format!("{base}/app/oauth/authorize?")) {
            break trimmed.to_owned();
        }
    };
    let done = browser(&["authorize", "--url", &url, "--tern", base, "--user", "alice"]);
    assert_eq!(done["gotCode"], true, "the browser took a code to Terraform: {done}");
    // Its own minute from here: on a loaded machine Chromium's start can take most of the first.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "terraform login did not finish within 60 s of the browser step:\n{seen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    while let Ok(line) = rx.try_recv() {
        seen.push_str(&line);
        seen.push('\n');
    }
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    assert!(status.success(), "terraform login failed:\n{seen}\n{stderr}");
    assert!(seen.contains("Success!"), "{seen}");
    let saved: Value =
        serde_json::from_slice(&std::fs::read(home.join(".terraform.d/credentials.tfrc.json")).unwrap())
            .unwrap();
    saved["credentials"][host]["token"].as_str().unwrap().to_owned()
}

/// A second, independent OpenID provider: OpenBao's (`identity/oidc/provider`). Alice is an
/// OpenBao entity in group `devs`, logged in with userpass; the provider's authorize endpoint,
/// called with her OpenBao token as a program would, gives the code that tern's callback takes
/// (PKCE, state, nonce, client secret, OpenBao's JWKS). She arrives signed in, named by the
/// `username` claim a scope template adds, and in team devs through the `groups` claim.
#[test]
fn people_sign_in_through_openbao_as_a_second_identity_provider() {
    use crate::peers::{bao, bao_as, openbao};
    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let (_bao, addr) = openbao(s.path());
    let ok = |(status, v): (u16, Value), what: &str| {
        assert!((200..300).contains(&status), "{what}: {status} {v}");
        v
    };
    let port = free_port();
    let base = format!("https://localhost:{port}");
    // Alice: userpass login, an entity named alice, in group devs.
    ok(bao(&addr, "POST", "sys/auth/userpass", Some(&serde_json::json!({"type": "userpass"}))), "userpass");
    ok(
        bao(&addr, "POST", "auth/userpass/users/alice", Some(&serde_json::json!({"password": "wonderland"}))),
        "user",
    );
    let accessor = ok(bao(&addr, "GET", "sys/auth", None), "mounts")["userpass/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let entity = ok(
        bao(&addr, "POST", "identity/entity", Some(&serde_json::json!({"name": "alice"}))),
        "entity",
    )["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        bao(
            &addr,
            "POST",
            "identity/entity-alias",
            Some(&serde_json::json!({"name": "alice", "canonical_id": entity, "mount_accessor": accessor})),
        ),
        "alias",
    );
    ok(
        bao(
            &addr,
            "POST",
            "identity/group",
            Some(&serde_json::json!({"name": "devs", "member_entity_ids": [entity]})),
        ),
        "group",
    );
    // The provider: a confidential client for tern, scopes for the username and the groups.
    ok(
        bao(
            &addr,
            "POST",
            "identity/oidc/key/tern",
            Some(&serde_json::json!({"allowed_client_ids": ["*"], "algorithm": "RS256"})),
        ),
        "key",
    );
    ok(
        bao(
            &addr,
            "POST",
            "identity/oidc/client/tern",
            Some(&serde_json::json!({
                "redirect_uris": [format!("{base}/oauth/callback")],
                "assignments": ["allow_all"],
                "key": "tern",
                "client_type": "confidential",
            })),
        ),
        "client",
    );
    let client = ok(bao(&addr, "GET", "identity/oidc/client/tern", None), "client")["data"].clone();
    let (client_id, client_secret) = (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    );
    ok(
        bao(
            &addr,
            "POST",
            "identity/oidc/scope/user",
            Some(&serde_json::json!({"template": r#"{"username": {{identity.entity.name}}}"#})),
        ),
        "scope user",
    );
    ok(
        bao(
            &addr,
            "POST",
            "identity/oidc/scope/groups",
            Some(&serde_json::json!({"template": r#"{"groups": {{identity.entity.groups.names}}}"#})),
        ),
        "scope groups",
    );
    ok(
        bao(
            &addr,
            "POST",
            "identity/oidc/provider/tern",
            Some(
                &serde_json::json!({"allowed_client_ids": [client_id], "scopes_supported": ["user", "groups"]}),
            ),
        ),
        "provider",
    );
    let issuer = ok(bao(&addr, "GET", "identity/oidc/provider/tern", None), "provider")["data"]["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(issuer.ends_with("/v1/identity/oidc/provider/tern"), "{issuer}");

    // tern signs people in there.
    let server = serve(
        &s,
        port,
        &ca,
        (&issuer, &client_id, &client_secret),
        &["--oidc-username-claim", "username", "--oidc-scopes", "user,groups"],
    );
    tern(&s, &server, &ca, &["org", "create", "acme"]);
    tern(&s, &server, &ca, &["team", "create", "--org", "acme", "devs", "--sso-team-id", "devs"]);

    // The browser's part, as a program: start signing in, which sends it off to OpenBao with
    // a cookie that binds the sign-in to this browser.
    let http = http(&ca);
    let start = http.get(format!("{base}/app/sign-in/oidc?return_to=%2Fapp")).send().unwrap();
    assert_eq!(start.status(), reqwest::StatusCode::SEE_OTHER, "{:?}", start.text());
    let pre = format!("__Host-tern_signin={}", set_cookie(&start, "__Host-tern_signin"));
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    // Its discovery document names the page of OpenBao's web UI; a program asks the API's.
    let query = authorize
        .strip_prefix(&format!("{addr}/ui/vault/identity/oidc/provider/tern/authorize?"))
        .unwrap_or_else(|| panic!("not OpenBao's authorize endpoint: {authorize}"));
    for part in ["code_challenge_method=S256", "state=", "nonce=", "response_type=code"] {
        assert!(query.contains(part), "{part} missing: {authorize}");
    }
    // Alice logs in to OpenBao and allows it.
    let login = ok(
        bao_as(
            &addr,
            "",
            "POST",
            "auth/userpass/login/alice",
            Some(&serde_json::json!({"password": "wonderland"})),
        ),
        "login",
    );
    let alice = login["auth"]["client_token"].as_str().unwrap().to_owned();
    let answer = ok(
        bao_as(&addr, &alice, "GET", &format!("identity/oidc/provider/tern/authorize?{query}"), None),
        "authorize",
    );
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let (code, state) = (enc(answer["code"].as_str().unwrap()), enc(answer["state"].as_str().unwrap()));
    // Back at tern: a session, alice, in devs.
    let back = http
        .get(format!("{base}/oauth/callback?code={code}&state={state}"))
        .header("cookie", &pre)
        .send()
        .unwrap();
    let status = back.status();
    assert_eq!(status, reqwest::StatusCode::SEE_OTHER, "{:?}", back.text());
    let session = format!("__Host-tern_session={}", set_cookie(&back, "__Host-tern_session"));
    let home = http.get(format!("{base}/app")).header("cookie", &session).send().unwrap().text().unwrap();
    assert!(home.contains("alice"), "signed in as alice: {home}");
    let members = tern(&s, &server, &ca, &["team", "show", "--org", "acme", "devs"]);
    assert!(members.contains("alice"), "the group made alice a member of devs:\n{members}");
    // The code is used once.
    let again = http
        .get(format!("{base}/oauth/callback?code={code}&state={state}"))
        .header("cookie", &pre)
        .send()
        .unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::BAD_REQUEST);
}
