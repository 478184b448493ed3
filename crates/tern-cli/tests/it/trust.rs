//! `tern trust`, `tern explain` and `tern doctor` through the binary: the CLI prints what the
//! library goldens hold, generated Terraform is canonical HCL (terraform fmt), explain's
//! verdicts for Vault equal a real OpenBao's, and doctor passes a healthy server and names
//! what is wrong with broken ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::peers::{bao, openbao};
use crate::support::{Scratch, Server, run};

const ISSUER: &str = "https://tern.example.com";

fn goldens() -> PathBuf {
    tern_testkit::workspace_root().join("crates/tern-trust/tests/golden")
}

#[test]
fn trust_prints_the_library_goldens() {
    let s = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (&["aws", "--project", "Default Project", "--workspace", "prod"], "aws-tfc.tf"),
        (
            &["vault", "--project", "Default Project", "--workspace", "prod", "--phase", "each"],
            "vault-tfc-each.tf",
        ),
        (
            &[
                "gcp",
                "--project",
                "Default Project",
                "--workspace",
                "prod",
                "--format",
                "json",
                "--gcp-project-number",
                "123456789012",
            ],
            "gcp-tfc.json",
        ),
        (
            &["azure", "--project", "Default Project", "--workspace", "prod", "--format", "cli"],
            "azure-tfc.sh",
        ),
        (
            &[
                "kubernetes",
                "--profile",
                "otf",
                "--workspace",
                "prod",
                "--audience",
                "kubernetes",
                "--project",
                "Default Project",
            ],
            "kubernetes-otf.tf",
        ),
    ];
    for (args, golden) in cases {
        let mut cmd = s.tern();
        cmd.args(["trust", "--issuer-url", ISSUER, "--organization", "acme"]).args(*args);
        let out = run(&mut cmd);
        out.success();
        let expected = std::fs::read_to_string(goldens().join(golden)).unwrap();
        assert_eq!(out.stdout, expected, "tern trust {args:?} differs from {golden}");
    }
    // Refusals are usage errors that say what to give.
    let mut cmd = s.tern();
    cmd.args(["trust", "azure", "--issuer-url", ISSUER, "--organization", "acme"]);
    let out = run(&mut cmd);
    out.failure(2);
    assert!(
        out.stderr.contains("azure matches the token's subject exactly")
            && out.stderr.contains("--workspace"),
        "{}",
        out.stderr
    );
    let mut cmd = s.tern();
    cmd.args([
        "trust",
        "aws",
        "--issuer-url",
        ISSUER,
        "--organization",
        "acme",
        "--profile",
        "terrakube",
        "--phase",
        "plan",
    ]);
    let out = run(&mut cmd);
    out.failure(2);
    assert!(out.stderr.contains("cannot tell plan from apply"), "{}", out.stderr);
}

#[test]
fn generated_terraform_is_canonical_hcl_and_scripts_parse() {
    let s = Scratch::new();
    let mut n = 0;
    for entry in std::fs::read_dir(goldens()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".tf") {
            let copy = s.path().join(&name);
            std::fs::copy(&path, &copy).unwrap();
            let out = Command::new(tern_testkit::peers::terraform())
                .args(["fmt", "-check", "-diff"])
                .arg(&copy)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "terraform fmt -check {name}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        } else if name.ends_with(".sh") {
            let out = Command::new("sh").arg("-n").arg(&path).output().unwrap();
            assert!(out.status.success(), "sh -n {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    assert!(n >= 15, "only {n} Terraform goldens");
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

#[test]
fn explain_exit_codes_and_messages() {
    let s = Scratch::new();
    let mut cmd = s.tern();
    cmd.args([
        "trust",
        "aws",
        "--format",
        "json",
        "--issuer-url",
        ISSUER,
        "--organization",
        "acme",
        "--project",
        "Default Project",
        "--workspace",
        "prod",
        "--phase",
        "apply",
    ]);
    let out = run(&mut cmd);
    out.success();
    std::fs::write(s.path().join("aws.json"), &out.stdout).unwrap();
    let explain = |extra: &[&str]| {
        let mut cmd = s.tern();
        cmd.args(["explain", "aws", "--trust", "aws.json", "--issuer-url", ISSUER]).args(extra);
        run(&mut cmd)
    };
    let ok = explain(&["--organization", "acme", "--workspace", "prod", "--phase", "apply"]);
    ok.success();
    assert!(ok.stdout.starts_with("aws: ACCEPTED"), "{}", ok.stdout);
    let plan = explain(&["--organization", "acme", "--workspace", "prod", "--phase", "plan"]);
    plan.failure(1);
    assert!(plan.stdout.contains("wrong phase: this is a plan token"), "{}", plan.stdout);
    // A real token from a file, minted for OTF's layout: the project segment is missing.
    let token = s.mint("rsa-2048.pem", ISSUER, "aws.workload.identity", &["--profile", "otf"]);
    std::fs::write(s.path().join("token"), token).unwrap();
    let otf = explain(&["--token", "token"]);
    otf.failure(1);
    assert!(otf.stdout.contains("these tokens have none (OTF's and Terrakube's layouts)"), "{}", otf.stdout);
    // Unreadable trust: exit 2.
    std::fs::write(s.path().join("bad.json"), "{").unwrap();
    let mut cmd = s.tern();
    cmd.args(["explain", "aws", "--trust", "bad.json", "--token", "token"]);
    run(&mut cmd).failure(2);
}

/// For every token and role of a matrix, `tern explain vault` accepts exactly when OpenBao's
/// login succeeds.
#[test]
fn vault_verdicts_match_openbao() {
    let s = Scratch::new();
    let (_bao, addr) = openbao(&s.home());
    let public = std::fs::read_to_string(s.key("rsa-2048.pub.pem")).unwrap();
    let config = json!({"jwt_validation_pubkeys": [public], "bound_issuer": ISSUER});
    let ok = |r: (u16, Value), what: &str| assert!(r.0 < 300, "{what}: {} {}", r.0, r.1);
    ok(bao(&addr, "POST", "sys/auth/jwt", Some(&json!({"type": "jwt"}))), "enable jwt");
    ok(bao(&addr, "POST", "auth/jwt/config", Some(&config)), "config");
    let config_path = write_json(s.path(), "config.json", &config);

    let exact = "organization:acme:project:Default Project:workspace:prod:run_phase:apply";
    let base = |claims: Value, claims_type: &str| {
        json!({
            "role_type": "jwt",
            "bound_audiences": ["vault.workload.identity"],
            "bound_claims_type": claims_type,
            "bound_claims": claims,
            "user_claim": "terraform_full_workspace",
            "token_policies": ["default"],
        })
    };
    let mut roles: Vec<(&str, Value)> = vec![
        ("exact", base(json!({"sub": exact}), "string")),
        (
            "glob-phase",
            base(
                json!({"sub": "organization:acme:project:Default Project:workspace:prod:run_phase:*"}),
                "glob",
            ),
        ),
        (
            "glob-workspace",
            base(
                json!({"sub": "organization:acme:project:Default Project:workspace:*:run_phase:apply"}),
                "glob",
            ),
        ),
        (
            "claims-list",
            base(
                json!({"terraform_workspace_name": ["staging", "prod"], "terraform_run_phase": "apply"}),
                "string",
            ),
        ),
        ("otf-layout", base(json!({"sub": "organization:acme:workspace:prod:run_phase:*"}), "glob")),
        (
            "star-as-string",
            base(
                json!({"sub": "organization:acme:project:Default Project:workspace:prod:run_phase:*"}),
                "string",
            ),
        ),
        ("user-claim-missing", {
            let mut r = base(json!({"sub": exact}), "string");
            r["user_claim"] = json!("terrakube_workspace_id");
            r
        }),
        ("no-audience", {
            let mut r = base(json!({}), "string");
            r["bound_audiences"] = json!([]);
            r["bound_subject"] = json!(exact);
            r
        }),
    ];
    {
        let mut r = base(json!({"sub": exact}), "string");
        r["bound_audiences"] = json!(["aws.workload.identity", "vault.workload.identity"]);
        roles.push(("audience-list", r));
    }
    for (name, role) in &roles {
        ok(bao(&addr, "POST", &format!("auth/jwt/role/{name}"), Some(role)), name);
    }

    let mint = |ws: &str, phase: &str, aud: &str, issuer: &str, extra: &[&str]| -> String {
        let mut cmd = s.tern();
        cmd.args(["token", "mint", "--signing-key"]).arg(s.key("rsa-2048.pem"));
        cmd.args(["--issuer-url", issuer, "--organization", "acme", "--workspace", ws, "--run-id", "run-1"]);
        cmd.args(["--phase", phase, "--audience", aud]).args(extra);
        let out = run(&mut cmd);
        out.success();
        out.stdout
    };
    let va = "vault.workload.identity";
    let tokens: Vec<(&str, String)> = vec![
        ("right", mint("prod", "apply", va, ISSUER, &[])),
        ("plan phase", mint("prod", "plan", va, ISSUER, &[])),
        ("other workspace", mint("staging", "apply", va, ISSUER, &[])),
        ("other project", mint("prod", "apply", va, ISSUER, &["--project", "Platform"])),
        ("other audience", mint("prod", "apply", "aws.workload.identity", ISSUER, &[])),
        ("other issuer", mint("prod", "apply", va, "https://tern.example.com:8443", &[])),
        ("expired", mint("prod", "apply", va, ISSUER, &["--issued-at", "2020-01-01T00:00:00Z"])),
        ("otf profile", mint("prod", "apply", va, ISSUER, &["--profile", "otf"])),
    ];
    let mut accepted = 0;
    let mut refused = 0;
    for (role_name, role) in &roles {
        let role_path = write_json(s.path(), &format!("{role_name}.json"), role);
        for (what, token) in &tokens {
            let (status, body) =
                bao(&addr, "POST", "auth/jwt/login", Some(&json!({"role": role_name, "jwt": token})));
            assert!(
                status == 200 || status == 400 || status == 403,
                "{role_name}/{what}: OpenBao {status} {body}"
            );
            let token_path = s.path().join("token.jwt");
            std::fs::write(&token_path, token).unwrap();
            let mut cmd = s.tern();
            cmd.args(["explain", "vault", "--trust"]).arg(&role_path).arg("--config").arg(&config_path);
            cmd.arg("--token").arg(&token_path);
            let out = run(&mut cmd);
            assert!(
                out.code() == 0 || out.code() == 1,
                "{role_name}/{what}: exit {}: {}",
                out.code(),
                out.stderr
            );
            let bao_ok = status == 200;
            assert_eq!(
                out.code() == 0,
                bao_ok,
                "role {role_name}, token {what}: OpenBao {} ({body}), tern explain said:\n{}",
                if bao_ok { "accepted" } else { "refused" },
                out.stdout
            );
            if bao_ok { accepted += 1 } else { refused += 1 }
        }
    }
    assert!(accepted >= 8 && refused >= 40, "matrix too one-sided: {accepted} accepted, {refused} refused");
}

fn doctor(s: &Scratch, args: &[&str]) -> crate::support::Run {
    let mut cmd = s.tern();
    cmd.arg("doctor").args(args);
    run(&mut cmd)
}

fn finding<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.get(8..).is_some_and(|r| r.starts_with(&format!("{name:<20} "))))
        .unwrap_or_else(|| panic!("no {name} finding in:\n{out}"))
}

#[test]
fn doctor_passes_a_healthy_server_and_names_what_is_broken() {
    let s = Scratch::new();
    let ca = tern_testkit::tls::TestCa::generate(s.path());
    let port = crate::peers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("https://localhost:{port}");
    let key = s.key("rsa-2048.pem");
    let data = s.path().join("data");
    let common: Vec<String> = vec![
        "--listen".into(),
        listen.clone(),
        "--issuer-url".into(),
        issuer.clone(),
        "--signing-key".into(),
        key.display().to_string(),
        "--tls-cert".into(),
        ca.server_cert.display().to_string(),
        "--tls-key".into(),
        ca.server_key.display().to_string(),
        "--data-dir".into(),
        data.display().to_string(),
    ];
    let common_ref: Vec<&str> = common.iter().map(String::as_str).collect();
    let mut cmd = s.tern();
    cmd.env("SSL_CERT_FILE", &ca.ca_cert);
    let server = Server::start(cmd, &common_ref);
    let ca_arg = ca.ca_cert.display().to_string();
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = common.clone();
        // Later flags replace earlier ones of the same name.
        for pair in extra.chunks(2) {
            if let Some(i) = v.iter().position(|a| a == pair[0]) {
                v[i + 1] = pair[1].to_owned();
            } else {
                v.extend(pair.iter().map(|x| (*x).to_owned()));
            }
        }
        v.extend(["--ca-cert".to_owned(), ca_arg.clone()]);
        v
    };
    let run_doctor = |extra: &[&str]| {
        let args = with(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        doctor(&s, &refs)
    };

    // Healthy: every check passes (workers poll within a second of start).
    std::thread::sleep(std::time::Duration::from_secs(2));
    let healthy = run_doctor(&[]);
    assert_eq!(healthy.code(), 0, "{}\n{}", healthy.stdout, healthy.stderr);
    assert!(
        !healthy.stdout.contains("  warn  ") && !healthy.stdout.contains("  FAIL  "),
        "{}",
        healthy.stdout
    );
    for name in [
        "issuer URL",
        "https",
        "database",
        "signing key",
        "key permissions",
        "clock",
        "discovery document",
        "discovery cache",
        "JWKS",
        "JWKS cache",
        "mint and verify",
        "agents",
        "TLS certificate",
        "AWS thumbprint",
    ] {
        assert!(finding(&healthy.stdout, name).starts_with("  pass"), "{name}:\n{}", healthy.stdout);
    }

    // Wrong issuer URL: the same server, but not the URL in its tokens.
    let wrong = run_doctor(&["--issuer-url", &format!("https://127.0.0.1:{port}")]);
    wrong.failure(1);
    assert!(finding(&wrong.stdout, "discovery document").contains("says its issuer is"), "{}", wrong.stdout);
    let slash = run_doctor(&["--issuer-url", &format!("{issuer}/")]);
    slash.failure(1);
    assert!(finding(&slash.stdout, "issuer URL").contains("trailing slash"), "{}", slash.stdout);

    // Mismatched key: this configuration signs with a key the server does not publish.
    let other = s.key("rsa-2048-second.pem").display().to_string();
    let mismatched = run_doctor(&["--signing-key", &other]);
    mismatched.failure(1);
    assert!(
        finding(&mismatched.stdout, "JWKS").contains("but not the configured signing key"),
        "{}",
        mismatched.stdout
    );
    assert!(finding(&mismatched.stdout, "mint and verify").starts_with("  FAIL"), "{}", mismatched.stdout);

    // Unreachable database.
    let nodb = run_doctor(&["--database-url", "postgres://tern@127.0.0.1:1/tern"]);
    nodb.failure(1);
    assert!(finding(&nodb.stdout, "database").starts_with("  FAIL"), "{}", nodb.stdout);
    assert!(finding(&nodb.stdout, "agents").contains("not checked"), "{}", nodb.stdout);
    drop(server);

    // Expired certificate, served by the server.
    let expired = tern_testkit::tls::TestCa::generate_expired(&s.path().join("expired"));
    let port2 = crate::peers::free_port();
    let listen2 = format!("127.0.0.1:{port2}");
    let issuer2 = format!("https://localhost:{port2}");
    let mut cmd = s.tern();
    cmd.env("SSL_CERT_FILE", &expired.ca_cert);
    let serve_args: Vec<String> = vec![
        "--listen".into(),
        listen2.clone(),
        "--issuer-url".into(),
        issuer2.clone(),
        "--signing-key".into(),
        key.display().to_string(),
        "--tls-cert".into(),
        expired.server_cert.display().to_string(),
        "--tls-key".into(),
        expired.server_key.display().to_string(),
        "--data-dir".into(),
        s.path().join("data2").display().to_string(),
    ];
    let serve_args: Vec<&str> = serve_args.iter().map(String::as_str).collect();
    let expired_ca = expired.ca_cert.display().to_string();
    let mut refs = serve_args.clone();
    refs.extend(["--ca-cert", expired_ca.as_str()]);
    let _server2 = Server::start(cmd, &serve_args);
    let out = doctor(&s, &refs);
    out.failure(1);
    assert!(finding(&out.stdout, "TLS certificate").contains("expired at"), "{}", out.stdout);
    assert!(finding(&out.stdout, "discovery document").starts_with("  FAIL"), "{}", out.stdout);
}

/// A private issuer: `tern keys export-jwks` prints the JWKS the server publishes (next key
/// included), and `tern trust gcp --jwks-file` uploads it — public keys only.
#[test]
fn a_private_issuer_exports_its_jwks_and_google_is_given_it() {
    let s = Scratch::new();
    let mut serve = s.tern_plain();
    serve.env("TERN_ADMIN_TOKEN", crate::runs::ADMIN);
    let data = s.path().join("data");
    let server = Server::start(
        serve,
        &[
            "--managed-keys",
            "--key-publish-lead",
            "3s",
            "--jwks-max-age",
            "1s",
            "--rotate-keys-every",
            "off",
            "--workers",
            "0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    let cli = || {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", crate::runs::ADMIN);
        cmd
    };
    let served = || crate::support::http_get(&format!("{}/.well-known/jwks", server.base));
    let kids = |text: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(text).unwrap();
        v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };

    let out = run(cli().args(["keys", "export-jwks"]));
    out.success();
    assert_eq!(out.stdout, served(), "exactly the document the issuer serves");
    assert_eq!(kids(&out.stdout).len(), 1);

    // The next key is in it as soon as it is published, long before it signs.
    run(cli().args(["keys", "rotate", "--activate-in", "1h"])).success();
    let file = s.path().join("exported.json");
    let out = run(cli().args(["keys", "export-jwks", "--out", file.to_str().unwrap()]));
    out.success();
    assert!(out.stdout.is_empty(), "{out}");
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_eq!(exported, served());
    let both = kids(&exported);
    assert_eq!(both.len(), 2, "{exported}");
    assert!(out.stderr.contains(&both[1]) && out.stderr.contains("tern keys list"), "{out}");
    for private in ["\"d\"", "\"p\"", "\"q\"", "PRIVATE"] {
        assert!(!exported.contains(private), "{exported}");
    }

    // tern trust gcp uploads it.
    let out = run(cli().args([
        "trust",
        "gcp",
        "--issuer-url",
        ISSUER,
        "--organization",
        "acme",
        "--workspace",
        "prod",
        "--format",
        "json",
        "--jwks-file",
        file.to_str().unwrap(),
    ]));
    out.success();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let uploaded: Value =
        serde_json::from_str(doc["provider"]["oidc"]["jwksJson"].as_str().unwrap()).unwrap();
    assert_eq!(uploaded, serde_json::from_str::<Value>(&exported).unwrap());

    // Only an administrator may export (the JWKS is public, but this is the admin API).
    let out = run(cli().env("TERN_TOKEN", "not-a-token").args(["keys", "export-jwks"]));
    out.failure(1);
    assert!(out.stdout.is_empty() && out.stderr.contains("401"), "{out}");
}

#[test]
fn trust_gcp_with_a_jwks_file_prints_the_library_goldens_and_refuses_private_keys() {
    let s = Scratch::new();
    // As the library's golden test reads it.
    let jwks = r#"{"keys":[{"kty":"EC","kid":"tern-k1","alg":"ES256","use":"sig","crv":"P-256","x":"WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis","y":"y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}]}"#;
    std::fs::write(s.path().join("jwks.json"), jwks).unwrap();
    let trust = |args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.args(["trust", "--issuer-url", ISSUER, "--organization", "acme"]).args(args);
        run(&mut cmd)
    };
    for (format, golden) in
        [("terraform", "gcp-tfc-private.tf"), ("json", "gcp-tfc-private.json"), ("cli", "gcp-tfc-private.sh")]
    {
        let out = trust(&[
            "gcp",
            "--project",
            "Default Project",
            "--workspace",
            "prod",
            "--gcp-project-number",
            "123456789012",
            "--format",
            format,
            "--jwks-file",
            "jwks.json",
        ]);
        out.success();
        let expected = std::fs::read_to_string(goldens().join(golden)).unwrap();
        assert_eq!(
            out.stdout, expected,
            "tern trust gcp --format {format} --jwks-file differs from {golden}"
        );
    }
    let gcp = ["gcp", "--workspace", "prod", "--jwks-file"];
    // A private key is refused, and its value is not repeated.
    let private = jwks.replace("\"use\"", "\"d\":\"c2VjcmV0LXNjYWxhcg\",\"use\"");
    std::fs::write(s.path().join("private.json"), private).unwrap();
    let out = trust(&[&gcp[..], &["private.json"]].concat());
    out.failure(2);
    assert!(out.stderr.contains("private key") && out.stderr.contains("\"d\""), "{out}");
    assert!(!out.stderr.contains("c2VjcmV0") && out.stdout.is_empty(), "{out}");
    for (name, text, expected) in [
        ("empty.json", "{\"keys\": []}", "has no key"),
        ("one-key.json", "{\"kty\":\"RSA\",\"n\":\"x\",\"e\":\"AQAB\"}", "no \"keys\" member"),
        ("garbage.json", "<html>", "is not JSON"),
    ] {
        std::fs::write(s.path().join(name), text).unwrap();
        let out = trust(&[&gcp[..], &[name]].concat());
        out.failure(2);
        assert!(out.stderr.contains(expected) && out.stderr.contains(name), "{name}: {out}");
    }
    let out = trust(&[&gcp[..], &["missing.json"]].concat());
    out.failure(2);
    assert!(out.stderr.contains("reading --jwks-file missing.json"), "{out}");
    // Other clouds fetch the issuer's keys.
    let out = trust(&["aws", "--workspace", "prod", "--jwks-file", "jwks.json"]);
    out.failure(2);
    assert!(out.stderr.contains("--jwks-file is for gcp"), "{out}");
}
