//! `tern serve` as a process: development mode, configured keys, rotation, migration settings,
//! TLS, logs, and graceful shutdown.

use serde_json::Value;

use crate::support::{Scratch, Server, get_json, run, run_with_stdin};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn kid_of(s: &Scratch, key: &str) -> String {
    let token = s.mint(key, "https://x.example.com", "a", &[]);
    let out = run(s.tern().args(["token", "inspect", "--json", &token]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["header"]["kid"].as_str().unwrap().to_owned()
}

#[test]
fn development_mode_generates_a_key_once_and_says_what_to_do_next() {
    let s = Scratch::new();
    let server = Server::start(s.tern(), &[]);
    assert!(server.issuer.starts_with("http://127.0.0.1:"), "{}", server.issuer);
    assert_eq!(server.issuer, server.base);
    let logs = server.logs();
    assert!(logs.contains("generated a development key"), "{logs}");
    assert!(logs.contains("Next steps"), "{logs}");
    assert!(logs.contains("tern token mint --signing-key"), "{logs}");
    // The admin token is in a private file, never in the output; the printed login works.
    let admin_file = s.home().join(".local/share/tern/admin-token");
    assert!(logs.contains(&format!("Admin token created, in {}", admin_file.display())), "{logs}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&admin_file).unwrap().permissions().mode() & 0o777, 0o600);
    let admin = std::fs::read_to_string(&admin_file).unwrap();
    assert!(admin.starts_with("tern-admin.") && !logs.contains(admin.trim()), "{logs}");
    let login = logs.lines().find(|l| l.contains(" login --server ")).unwrap().trim().to_owned();
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", &login]).env_clear();
    sh.env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("HOME", s.home()).current_dir(s.path());
    run(&mut sh).success();
    let orgs = run(s.tern().args(["org", "list"]));
    orgs.success();
    let key = s.home().join(".local/share/tern/dev-signing-key.pem");
    assert!(key.exists());
    let first = kids(&get_json(&format!("{}/.well-known/jwks", server.base)));
    let (status, _) = server.stop();
    assert!(status.success());

    // Second start: the same key, reused.
    let server = Server::start(s.tern(), &[]);
    assert!(server.logs().contains("using the development key"), "{}", server.logs());
    assert_eq!(kids(&get_json(&format!("{}/.well-known/jwks", server.base))), first);
    // And the printed step 3 works when pasted into a shell, exactly as printed.
    let logs = server.logs();
    assert!(!logs.contains("Admin token created"), "created once only: {logs}");
    let start = logs.find("3. Mint a token").unwrap();
    let step: Vec<&str> = logs[start..].lines().skip(1).take_while(|l| !l.trim().is_empty()).collect();
    let command = step.iter().map(|l| l.trim().trim_end_matches('\\').trim()).collect::<Vec<_>>().join(" ");
    assert!(command.contains("token mint") && command.contains("| "), "{command}");
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", &command]).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    sh.env("HOME", s.home()).current_dir(s.path());
    let out = run(&mut sh);
    out.success();
    assert!(out.stdout.starts_with("token is valid"), "{out}");
}

#[test]
fn configured_keys_rotation_order_and_graceful_stop() {
    let s = Scratch::new();
    let mut cmd = s.tern();
    cmd.env("TERN_LOG", "debug");
    let server = Server::start(
        cmd,
        &[
            "--issuer-url",
            "https://tern.example.com",
            "--signing-key",
            "keys/rsa-2048.pem",
            "--signing-key",
            "keys/ec-p256.pub.pem",
            "--signing-key",
            "keys/rsa-2048-second.pem",
        ],
    );
    assert_eq!(server.issuer, "https://tern.example.com");
    let jwks = get_json(&format!("{}/.well-known/jwks", server.base));
    assert_eq!(
        kids(&jwks),
        [kid_of(&s, "rsa-2048.pem"), kid_of(&s, "ec-p256.pem"), kid_of(&s, "rsa-2048-second.pem")],
        "signing key first, then the published ones in order"
    );
    let discovery = get_json(&format!("{}/.well-known/openid-configuration", server.base));
    assert_eq!(discovery["issuer"], "https://tern.example.com");
    assert_eq!(discovery["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256"]));
    assert!(server.logs().contains("2 more published"), "{}", server.logs());
    let (status, logs) = server.stop();
    assert!(status.success(), "SIGTERM is a clean stop: {status}\n{logs}");
    assert!(logs.contains("shutting down") && logs.contains("stopped"), "{logs}");
    // Even at debug level, no private key material reaches the log.
    for key in ["rsa-2048.pem", "rsa-2048-second.pem"] {
        let pem = std::fs::read_to_string(s.key(key)).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!logs.contains(line), "private key line of {key} in the log");
        }
    }
}

#[test]
fn terrakube_configuration_is_accepted_as_is() {
    let s = Scratch::new();
    let mut cmd = s.tern();
    cmd.env("DynamicCredentialPrivateKeyPath", s.key("rsa-2048.pem"))
        .env("DynamicCredentialPublicKeyPath", s.key("rsa-2048.pub.pem"))
        .env("DynamicCredentialId", "03446895-220d-47e1-9564-4eeaa3691b42")
        .env("DynamicCredentialTtl", "30")
        .env("DynamicCredentialHostname", "terrakube-api.example.com");
    let server = Server::start(cmd, &["--profile", "terrakube"]);
    assert_eq!(server.issuer, "https://terrakube-api.example.com");
    let jwks = get_json(&format!("{}/.well-known/jwks", server.base));
    assert_eq!(kids(&jwks), ["03446895-220d-47e1-9564-4eeaa3691b42"]);
    let discovery = get_json(&format!("{}/.well-known/openid-configuration", server.base));
    assert!(discovery["claims_supported"].as_array().unwrap().contains(&Value::from("terrakube_job_id")));
    let logs = server.logs();
    assert!(logs.contains("using DynamicCredentialPrivateKeyPath (migration setting)"), "{logs}");
    assert!(logs.contains("token lifetime 30m"), "{logs}");
}

#[test]
fn otf_flags_are_accepted_and_a_mismatched_public_key_stops_startup() {
    let s = Scratch::new();
    let server = Server::start(
        s.tern(),
        &[
            "--private-key-path",
            "keys/rsa-2048.pem",
            "--public-key-path",
            "keys/rsa-2048.pub.pem",
            "--profile",
            "otf",
        ],
    );
    let discovery = get_json(&format!("{}/.well-known/openid-configuration", server.base));
    assert!(
        discovery["claims_supported"].as_array().unwrap().contains(&Value::from("terraform_full_workspace"))
    );
    assert!(
        !discovery["claims_supported"].as_array().unwrap().contains(&Value::from("terraform_project_name"))
    );
    drop(server);

    let mut cmd = s.tern();
    cmd.env("OTF_PRIVATE_KEY_PATH", "keys/rsa-2048.pem")
        .env("OTF_PUBLIC_KEY_PATH", "keys/rsa-2048-second.pub.pem");
    let out = run(cmd.args(["serve", "--listen", "127.0.0.1:0"]));
    out.failure(1);
    assert!(out.stderr.contains("the public key does not match the private key"), "{out}");
}

#[test]
fn a_busy_port_is_reported() {
    let s = Scratch::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(s.tern().args(["serve", "--signing-key", "keys/rsa-2048.pem", "--listen", &addr]));
    out.failure(1);
    assert!(out.stderr.contains(&format!("cannot listen on {addr}")), "{out}");
}

#[test]
fn https_with_a_private_ca_and_verify_through_it() {
    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let server = Server::start(
        s.tern(),
        &[
            "--signing-key",
            "keys/ec-p256.pem",
            "--tls-cert",
            ca.server_cert.to_str().unwrap(),
            "--tls-key",
            ca.server_key.to_str().unwrap(),
        ],
    );
    assert!(server.issuer.starts_with("https://localhost:"), "{}", server.issuer);
    let token = s.mint("ec-p256.pem", &server.issuer, "api://AzureADTokenExchange", &[]);
    let verify = |extra: &[&str]| {
        let mut cmd = s.tern();
        cmd.args([
            "token",
            "verify",
            "--issuer-url",
            &server.issuer,
            "--audience",
            "api://AzureADTokenExchange",
        ]);
        cmd.args(extra);
        run_with_stdin(&mut cmd, Some(&token))
    };
    let out = verify(&["--ca-cert", ca.ca_cert.to_str().unwrap()]);
    out.success();
    assert!(out.stdout.contains("ES256 key"), "{out}");
    // Without the CA the TLS handshake fails, and the error says so.
    let out = verify(&[]);
    out.failure(1);
    assert!(out.stderr.contains("cannot fetch the discovery document"), "{out}");
    assert!(out.stderr.to_lowercase().contains("certificate"), "{out}");
}

/// `--tls-self-signed`: https with a certificate for this machine, signed by a local CA that is
/// kept across restarts; the printed SSL_CERT_FILE line is what makes the CLI (and Terraform)
/// trust it, and the server certificate is an end-entity one (not a CA, which clients refuse).
#[test]
fn a_self_signed_server_says_how_to_trust_it_and_keeps_its_ca() {
    let s = Scratch::new();
    let data = s.path().join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let start = || Server::start(s.tern(), &["--tls-self-signed", "--data-dir", &data_arg]);
    let server = start();
    assert!(server.issuer.starts_with("https://localhost:"), "{}", server.issuer);
    let logs = server.logs();
    let line = logs.lines().find(|l| l.contains("export SSL_CERT_FILE=")).unwrap_or_else(|| panic!("{logs}"));
    let bundle = line.trim().trim_start_matches("export SSL_CERT_FILE=").to_owned();
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let cli = |bundle: Option<&str>| {
        let mut cmd = s.tern();
        cmd.env("TERN_SERVER", &server.issuer).env("TERN_TOKEN", admin.trim()).args(["org", "list"]);
        if let Some(b) = bundle {
            cmd.env("SSL_CERT_FILE", b);
        }
        run(&mut cmd)
    };
    cli(Some(&bundle)).success();
    let untrusted = cli(None);
    assert_ne!(untrusted.status.code(), Some(0), "{untrusted}");
    use std::os::unix::fs::PermissionsExt as _;
    for key in ["ca-key.pem", "server-key.pem"] {
        let mode = std::fs::metadata(data.join("tls").join(key)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    drop(server);
    let again = start();
    assert_eq!(
        std::fs::read(data.join("tls/ca.pem")).unwrap(),
        ca,
        "the CA is reused: clients keep trusting it"
    );
    let mut cmd = s.tern();
    cmd.env("TERN_SERVER", &again.issuer).env("TERN_TOKEN", admin.trim()).env("SSL_CERT_FILE", &bundle);
    run(cmd.args(["org", "list"])).success();
    // Not both ways of giving TLS.
    let both =
        run(s.tern().args(["serve", "--tls-self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"]));
    both.failure(2);
    assert!(
        both.stderr.contains("--tls-self-signed") && both.stderr.contains("cannot be used with"),
        "{both}"
    );
}

#[test]
fn json_logs() {
    let s = Scratch::new();
    let mut cmd = s.tern();
    cmd.args(["--log-format", "json"]);
    let server = Server::start(cmd, &["--signing-key", "keys/rsa-2048.pem"]);
    let logs = server.logs();
    let line = logs.lines().find(|l| l.contains("listening on")).unwrap();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO");
    assert!(v["fields"]["message"].as_str().unwrap().contains("with issuer http://127.0.0.1:"));
}
