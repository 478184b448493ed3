//! `tern exec` with real clients: boto3 against moto's STS, google-auth and azure-identity
//! against token-endpoint stubs that verify every token they receive, Vault logins against
//! OpenBao (renewed, revoked), Vault-backed secrets engines, token refresh in a long phase, and
//! teardown on every path.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use tern_testkit::peers;

use crate::peers::{Peer, bao_as, bao_tls, moto, openbao, openbao_tls, openbao_trusts};
use crate::support::{Run, Scratch, Server, http_get, run, run_with_stdin};

const PROVIDER: &str = "projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern";
const SUB_PLAN: &str = "organization:acme:project:Default Project:workspace:prod:run_phase:plan";

/// A scratch directory with a working directory and a credentials directory.
struct Exec {
    s: Scratch,
    issuer: String,
    _server: Server,
}

impl Exec {
    fn new() -> Exec {
        let s = Scratch::new();
        std::fs::create_dir(s.path().join("work")).unwrap();
        let server = Server::start(s.tern(), &["--signing-key", "keys/rsa-2048.pem"]);
        Exec { issuer: server.issuer.clone(), s, _server: server }
    }

    fn creds(&self) -> PathBuf {
        self.s.path().join("creds")
    }

    fn work(&self) -> PathBuf {
        self.s.path().join("work")
    }

    /// `tern exec` for acme/prod with `env_file` as the workspace variables, running `command`.
    fn command(&self, run_id: &str, env_file: &str, extra: &[&str], command: &[&str]) -> Command {
        let file = self.s.path().join(format!("{run_id}.env"));
        std::fs::write(&file, env_file).unwrap();
        let mut cmd = self.s.tern();
        cmd.arg("exec").arg("--env-file").arg(&file);
        cmd.args(["--signing-key", "keys/rsa-2048.pem", "--issuer-url", &self.issuer]);
        cmd.args(["--organization", "acme", "--workspace", "prod", "--run-id", run_id, "--phase", "plan"]);
        cmd.arg("--credentials-dir").arg(self.creds()).arg("--workdir").arg(self.work());
        cmd.args(extra).arg("--");
        cmd.args(command);
        cmd
    }

    /// The stand-in command through the peers' Python.
    fn stand_in(args: &[&str]) -> Vec<String> {
        let mut v = vec![
            peers::python().display().to_string(),
            peers::python_scripts().join("stand_in.py").display().to_string(),
        ];
        v.extend(args.iter().map(|a| (*a).to_owned()));
        v
    }

    fn report(out: &Run) -> Value {
        let line = out
            .stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no report\n{out}"));
        serde_json::from_str(line).unwrap()
    }

    /// Nothing of the run is left: no credentials directory, no tfvars in the working directory.
    fn assert_clean(&self, run_id: &str) {
        assert!(!self.creds().join(run_id).exists(), "credentials of {run_id} left behind");
        let leftovers: Vec<_> =
            std::fs::read_dir(self.work()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(leftovers.is_empty(), "files left in the working directory: {leftovers:?}");
    }

    /// `tern token verify` on `token`: the claims, or a panic with the refusal.
    fn verified(&self, token: &str, audience: &str) -> Value {
        run_with_stdin(
            self.s.tern().args(["token", "verify", "--issuer-url", &self.issuer, "--audience", audience]),
            Some(token),
        )
        .success();
        let out = run(self.s.tern().args(["token", "inspect", "--json", token]));
        serde_json::from_str::<Value>(&out.stdout).unwrap()["claims"].clone()
    }
}

fn stand_in_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn boto3_assumes_the_role_at_moto_with_a_token_that_verifies() {
    let e = Exec::new();
    let recording = e.s.path().join("moto.jsonl");
    let (_moto, port) = moto(&recording);
    let sts = format!("http://127.0.0.1:{port}");
    let with_ambient = |mut cmd: Command| {
        cmd.env("AWS_ENDPOINT_URL_STS", &sts)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIARUNNERKEY")
            .env("AWS_SECRET_ACCESS_KEY", "runner-secret");
        cmd
    };

    // The default configuration: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE.
    let vars = "TFC_AWS_PROVIDER_AUTH=true\nTFC_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/tern-run\n";
    let cmd = Exec::stand_in(&["aws-identity"]);
    let out = run(&mut with_ambient(e.command("run-aws-1", vars, &[], &stand_in_refs(&cmd))));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(report["arn"], "arn:aws:sts::123456789012:assumed-role/tern-run/tern-run-aws-1-plan", "{out}");
    assert_eq!(report["runner_key_present"], false, "the runner's own AWS key must not reach the command");
    assert_eq!(report["metadata_disabled"], "true");
    e.assert_clean("run-aws-1");

    // An alias: no implicit environment; the tfvars name a shared config file.
    let vars =
        "TFC_AWS_PROVIDER_AUTH_ALT=true\nTFC_AWS_RUN_ROLE_ARN_ALT=arn:aws:iam::123456789012:role/tern-alt\n";
    let cmd = Exec::stand_in(&["aws-alias-identity", "ALT"]);
    let out = run(&mut with_ambient(e.command("run-aws-2", vars, &[], &stand_in_refs(&cmd))));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(report["arn"], "arn:aws:sts::123456789012:assumed-role/tern-alt/tern-run-aws-2-plan");
    assert_eq!(report["implicit_role"], Value::Null, "aliases set no AWS_ROLE_ARN");
    e.assert_clean("run-aws-2");

    // What moto received: the tokens verify against tern's JWKS, with the right sub and aud.
    let recorded = http_get(&format!("{sts}/moto-api/recorder/download-recording"));
    let mut tokens = Vec::new();
    for line in recorded.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).unwrap();
        let body = entry["body"].as_str().unwrap_or_default();
        let body = if entry["body_encoded"] == true {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap()
        } else {
            body.to_owned()
        };
        if let Some(token) = body.split('&').find_map(|kv| kv.strip_prefix("WebIdentityToken=")) {
            tokens.push(urlencoding_decode(token));
        }
    }
    assert_eq!(tokens.len(), 2, "two AssumeRoleWithWebIdentity calls recorded");
    for token in &tokens {
        let claims = e.verified(token, "aws.workload.identity");
        assert_eq!(claims["sub"], SUB_PLAN);
        assert_eq!(claims["aud"], "aws.workload.identity");
    }
}

fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn cloud_stub(e: &Exec) -> (Peer, tern_testkit::tls::TestCa) {
    let ca = tern_testkit::tls::TestCa::generate(e.s.path());
    let gcp_audience = format!("//iam.googleapis.com/{PROVIDER}");
    let stub = Peer::python(
        "cloud_stub.py",
        &[
            "--issuer",
            &e.issuer,
            "--cert",
            ca.server_cert.to_str().unwrap(),
            "--key",
            ca.server_key.to_str().unwrap(),
            "--gcp-audience",
            &gcp_audience,
        ],
    );
    (stub, ca)
}

fn records(stub: &Peer, kind: &str) -> Vec<Value> {
    let all: Vec<Value> =
        serde_json::from_str(&http_get(&format!("http://127.0.0.1:{}/records", stub.port("http")))).unwrap();
    all.into_iter().filter(|r| r["kind"] == kind).collect()
}

const GCP_VARS: &str = "TFC_GCP_PROVIDER_AUTH=true
TFC_GCP_WORKLOAD_PROVIDER_NAME=projects/123456/locations/global/workloadIdentityPools/tern-pool/providers/tern
TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL=terraform@acme.iam.gserviceaccount.com
";

#[test]
fn google_auth_exchanges_the_token_with_the_provider_resource_as_audience() {
    let e = Exec::new();
    let (stub, _ca) = cloud_stub(&e);
    let base = format!("http://127.0.0.1:{}", stub.port("http"));
    let sts = format!("{base}/v1/token");
    let cmd = Exec::stand_in(&["gcp-token"]);
    let mut command = e.command(
        "run-gcp",
        GCP_VARS,
        &["--gcp-sts-url", &sts, "--gcp-iam-credentials-url", &base],
        &stand_in_refs(&cmd),
    );
    command.env("GOOGLE_CLOUD_PROJECT", "stub-project").env("GOOGLE_CREDENTIALS", "{\"runner\": true}");
    let out = run(&mut command);
    out.success();
    assert_eq!(Exec::report(&out)["token_is_service_account_token"], true, "{out}");
    let sts_calls = records(&stub, "gcp-sts");
    assert_eq!(sts_calls.len(), 1);
    assert_eq!(sts_calls[0]["valid"], true, "{}", sts_calls[0]);
    assert_eq!(
        sts_calls[0]["audience_field"],
        format!("//iam.googleapis.com/{PROVIDER}"),
        "STS audience is the provider resource"
    );
    assert_eq!(sts_calls[0]["subject_token_type"], "urn:ietf:params:oauth:token-type:jwt");
    assert_eq!(sts_calls[0]["sub"], SUB_PLAN);
    let iam = records(&stub, "gcp-iam");
    assert_eq!(
        (iam[0]["valid"].clone(), iam[0]["service_account"].clone()),
        (Value::Bool(true), "terraform@acme.iam.gserviceaccount.com".into())
    );
    e.assert_clean("run-gcp");
}

#[test]
fn azure_identity_presents_a_client_assertion_that_verifies() {
    let e = Exec::new();
    let (stub, ca) = cloud_stub(&e);
    let vars = "TFC_AZURE_PROVIDER_AUTH=true
TFC_AZURE_RUN_CLIENT_ID=4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b
ARM_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47
";
    let cmd = Exec::stand_in(&["azure-token"]);
    let mut command = e.command("run-azure", vars, &[], &stand_in_refs(&cmd));
    command
        .env("AZURE_AUTHORITY_HOST", format!("https://localhost:{}", stub.port("https")))
        .env("REQUESTS_CA_BUNDLE", &ca.ca_cert)
        .env("ARM_CLIENT_SECRET", "runner-secret");
    let out = run(&mut command);
    out.success();
    let report = Exec::report(&out);
    assert_eq!(report["token_ok"], true, "{out}");
    assert_eq!(report["use_oidc"], "true");
    let calls = records(&stub, "azure");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["valid"], true, "{}", calls[0]);
    assert_eq!(calls[0]["client_id"], "4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b");
    assert_eq!(
        calls[0]["tenant"], "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "AZURE_TENANT_ID comes from ARM_TENANT_ID"
    );
    assert_eq!(calls[0]["assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    e.assert_clean("run-azure");
}

#[test]
fn tokens_are_refreshed_in_a_phase_that_outlives_them() {
    let e = Exec::new();
    let (stub, _ca) = cloud_stub(&e);
    let base = format!("http://127.0.0.1:{}", stub.port("http"));
    let vars = format!(
        "TFC_AWS_PROVIDER_AUTH=true\nTFC_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/tern-run\n{GCP_VARS}"
    );
    let cmd = Exec::stand_in(&["refresh-loop", "50"]);
    let sts = format!("{base}/v1/token");
    let mut command = e.command(
        "run-refresh",
        &vars,
        &["--token-ttl", "20s", "--gcp-sts-url", &sts, "--gcp-iam-credentials-url", &base],
        &stand_in_refs(&cmd),
    );
    command
        .env("AWS_ENDPOINT_URL_STS", &base)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("GOOGLE_CLOUD_PROJECT", "stub");
    let out = run(&mut command);
    out.success();
    let rounds = Exec::report(&out)["rounds"].as_u64().unwrap();
    assert!(rounds >= 10, "{rounds} rounds\n{out}");
    for kind in ["aws", "gcp-sts"] {
        let calls = records(&stub, kind);
        assert_eq!(calls.len() as u64, rounds, "{kind}");
        let invalid: Vec<&Value> = calls.iter().filter(|c| c["valid"] != true).collect();
        assert!(invalid.is_empty(), "{kind}: tokens that were not valid when sent: {invalid:?}");
    }
    let refreshes = out.stderr.matches("refreshed the token for").count();
    assert!(refreshes >= 4, "a 50 s phase with 20 s tokens refreshes each of 2 tokens at least twice\n{out}");
    e.assert_clean("run-refresh");
}

#[test]
fn vault_tokens_are_renewed_while_the_phase_runs_and_revoked_after() {
    let e = Exec::new();
    let bao_home = tempfile::tempdir().unwrap();
    let (_bao, addr) = openbao(bao_home.path());
    openbao_trusts(&addr, &e.issuer, "6s");
    let vars = format!("TFC_VAULT_PROVIDER_AUTH=true\nTFC_VAULT_ADDR={addr}\nTFC_VAULT_RUN_ROLE=tern\n");
    let token_out = e.s.path().join("vault-token");
    let cmd = Exec::stand_in(&["vault-read", "secret/data/app", "14", token_out.to_str().unwrap()]);
    let out = run(&mut e.command("run-vault", &vars, &[], &stand_in_refs(&cmd)));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(
        report["keys"],
        serde_json::json!(["password"]),
        "a 6 s token still works after 14 s: it was renewed\n{out}"
    );
    assert!(out.stderr.contains("renewed tern's Vault token"), "{out}");
    let token = std::fs::read_to_string(&token_out).unwrap();
    let (status, _) = bao_as(&addr, &token, "GET", "auth/token/lookup-self", None);
    assert_eq!(status, 403, "the token is revoked after the phase");
    assert!(!out.stderr.contains(&token), "the Vault token must not appear in tern's output");
    e.assert_clean("run-vault");

    // A refused login says what Vault said and what the token carried.
    let vars = format!(
        "TFC_VAULT_PROVIDER_AUTH=true\nTFC_VAULT_ADDR={addr}\nTFC_VAULT_RUN_ROLE=tern\nTFC_VAULT_WORKLOAD_IDENTITY_AUDIENCE=other\n"
    );
    let out = run(&mut e.command("run-vault-refused", &vars, &[], &["true"]));
    out.failure(1);
    assert!(out.stderr.contains("refused the login to auth/jwt as role \"tern\" (HTTP 400)"), "{out}");
    assert!(out.stderr.contains("aud=\"other\""), "{out}");
    e.assert_clean("run-vault-refused");

    // A phase killed with SIGKILL: the next start revokes its Vault token and removes its files.
    let cmd = Exec::stand_in(&["sleep", "60"]);
    let mut child = e
        .command(
            "run-vault-killed",
            &format!("TFC_VAULT_PROVIDER_AUTH=true\nTFC_VAULT_ADDR={addr}\nTFC_VAULT_RUN_ROLE=tern\n"),
            &[],
            &stand_in_refs(&cmd),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let token_file = e.creds().join("run-vault-killed").join("vault.token");
    wait_until(|| token_file.exists(), "the Vault token file");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(bao_as(&addr, &token, "GET", "auth/token/lookup-self", None).0, 200);
    kill_tree(&mut child, "-KILL");
    assert!(token_file.exists(), "nothing removes files after SIGKILL");
    let out = run(&mut e.command("run-after-crash", "", &[], &["true"]));
    out.success();
    assert!(out.stderr.contains("revoked a Vault token left by a dead phase"), "{out}");
    assert_eq!(bao_as(&addr, &token, "GET", "auth/token/lookup-self", None).0, 403);
    assert!(!e.creds().join("run-vault-killed").exists());
}

/// tern serve, OpenBao trusting it, and the secrets-engine stub in front of OpenBao.
fn vault_backed_setup() -> (Exec, (crate::peers::Daemon, tempfile::TempDir), Peer) {
    let e = Exec::new();
    let bao_home = tempfile::tempdir().unwrap();
    let (bao, addr) = openbao(bao_home.path());
    openbao_trusts(&addr, &e.issuer, "5m");
    let stub = Peer::python("vault_engines_stub.py", &["--bao", &addr]);
    (e, (bao, bao_home), stub)
}

#[test]
fn vault_backed_engines_after_a_real_openbao_login() {
    let (e, _bao, stub) = vault_backed_setup();
    let vault = format!("http://127.0.0.1:{}", stub.port("port"));
    let vars = format!(
        "TFC_VAULT_PROVIDER_AUTH=true
TFC_VAULT_ADDR={vault}
TFC_VAULT_RUN_ROLE=tern
TFC_VAULT_BACKED_AWS_AUTH=true
TFC_VAULT_BACKED_AWS_AUTH_TYPE=iam_user
TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE=deploy
TFC_VAULT_BACKED_AWS_SLEEP_SECONDS=1
TFC_VAULT_BACKED_GCP_AUTH=true
TFC_VAULT_BACKED_GCP_AUTH_TYPE=roleset/access_token
TFC_VAULT_BACKED_GCP_RUN_VAULT_ROLESET=viewer
TFC_VAULT_BACKED_AZURE_AUTH=true
TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE=contributor
"
    );
    let cmd = Exec::stand_in(&["vault-backed"]);
    let out = run(&mut e.command("run-vb", &vars, &[], &stand_in_refs(&cmd)));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(
        report["aws_credentials"],
        serde_json::json!([
            "[default]",
            "aws_access_key_id = AKIASTUBVAULT",
            "aws_secret_access_key = aws-stub-secret"
        ]),
        "{out}"
    );
    assert_eq!(report["gcp_access_token"], "gcp-stub-access-token");
    assert_eq!(report["arm_client_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(report["arm_client_secret_set"], true);
    let all: Vec<Value> = serde_json::from_str(&http_get(&format!("{vault}/records"))).unwrap();
    let reads: Vec<&str> =
        all.iter().filter(|r| r["kind"] == "read").map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(
        reads,
        ["/v1/aws/creds/deploy", "/v1/gcp/roleset/viewer/token", "/v1/azure/creds/contributor"]
    );
    let revoked = all.iter().filter(|r| r["kind"] == "revoke").count();
    assert_eq!(revoked, 2, "the AWS and Azure leases are revoked at the end (access tokens have none)");
    e.assert_clean("run-vb");
}

#[test]
fn vault_over_tls_with_a_private_ca_in_a_namespace() {
    let e = Exec::new();
    let bao_home = tempfile::tempdir().unwrap();
    let (_bao, addr, ca) = openbao_tls(bao_home.path());
    let ns = Some("team");
    let ok = |r: (u16, Value), what: &str| assert!(r.0 < 300, "{what}: {} {}", r.0, r.1);
    ok(bao_tls(&addr, &ca, None, "POST", "sys/namespaces/team", Some(&serde_json::json!({}))), "namespace");
    ok(
        bao_tls(&addr, &ca, ns, "POST", "sys/auth/jwt", Some(&serde_json::json!({"type": "jwt"}))),
        "enable jwt",
    );
    ok(
        bao_tls(
            &addr,
            &ca,
            ns,
            "POST",
            "auth/jwt/config",
            Some(&serde_json::json!({"oidc_discovery_url": e.issuer, "bound_issuer": e.issuer})),
        ),
        "configure jwt",
    );
    ok(
        bao_tls(
            &addr,
            &ca,
            ns,
            "POST",
            "sys/mounts/secret",
            Some(&serde_json::json!({"type": "kv", "options": {"version": "2"}})),
        ),
        "kv mount",
    );
    ok(
        bao_tls(
            &addr,
            &ca,
            ns,
            "POST",
            "sys/policies/acl/app",
            Some(&serde_json::json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"})),
        ),
        "policy",
    );
    ok(
        bao_tls(
            &addr,
            &ca,
            ns,
            "POST",
            "auth/jwt/role/tern",
            Some(&serde_json::json!({
                "role_type": "jwt", "bound_audiences": ["vault.workload.identity"], "user_claim": "terraform_full_workspace",
                "bound_claims_type": "glob", "bound_claims": {"sub": "organization:acme:*:workspace:prod:*"},
                "token_policies": ["app"], "token_ttl": "5m",
            })),
        ),
        "role",
    );
    ok(
        bao_tls(
            &addr,
            &ca,
            ns,
            "POST",
            "secret/data/app",
            Some(&serde_json::json!({"data": {"user": "tern"}})),
        ),
        "secret",
    );

    let encoded = base64::engine::general_purpose::STANDARD.encode(&ca);
    let vars = format!(
        "TFC_VAULT_PROVIDER_AUTH=true\nTFC_VAULT_ADDR={addr}\nTFC_VAULT_RUN_ROLE=tern\nTFC_VAULT_NAMESPACE=team\nTFC_VAULT_ENCODED_CACERT={encoded}\nTFC_VAULT_CLIENT_TIMEOUT=10\n"
    );
    let token_out = e.s.path().join("vault-token");
    let cmd = Exec::stand_in(&["vault-read", "secret/data/app", "0", token_out.to_str().unwrap()]);
    let out = run(&mut e.command("run-vault-tls", &vars, &[], &stand_in_refs(&cmd)));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(report["keys"], serde_json::json!(["user"]), "{out}");
    assert_eq!(report["namespace"], "team");
    assert_eq!(report["cacert"], true, "VAULT_CACERT points at the CA tern wrote");
    e.assert_clean("run-vault-tls");

    // Without the CA, the TLS failure is reported as such.
    let vars = format!(
        "TFC_VAULT_PROVIDER_AUTH=true\nTFC_VAULT_ADDR={addr}\nTFC_VAULT_RUN_ROLE=tern\nTFC_VAULT_NAMESPACE=team\n"
    );
    let out = run(&mut e.command("run-vault-no-ca", &vars, &[], &["true"]));
    out.failure(1);
    assert!(out.stderr.contains("cannot reach Vault at https://127.0.0.1:"), "{out}");
    assert!(out.stderr.contains("invalid peer certificate: UnknownIssuer"), "{out}");
    assert!(out.stderr.contains("set TFC_VAULT_ENCODED_CACERT"), "{out}");
    assert!(
        !out.stderr.contains("bound_audiences"),
        "the token never reached Vault: no claims advice\n{out}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line, not a second copy from a library's log\n{out}");
    e.assert_clean("run-vault-no-ca");
}

#[test]
fn vault_backed_aliases_assumed_role_and_static_account_key() {
    let (e, _bao, stub) = vault_backed_setup();
    let vault = format!("http://127.0.0.1:{}", stub.port("port"));
    let vars = format!(
        "TFC_VAULT_PROVIDER_AUTH_V=true
TFC_VAULT_ADDR_V={vault}
TFC_VAULT_RUN_ROLE_V=tern
TFC_VAULT_BACKED_AWS_AUTH_A=true
TFC_VAULT_BACKED_AWS_AUTH_TYPE_A=assumed_role
TFC_VAULT_BACKED_AWS_RUN_VAULT_ROLE_A=deploy
TFC_VAULT_BACKED_AWS_RUN_ROLE_ARN_A=arn:aws:iam::123456789012:role/deployer
TFC_VAULT_BACKED_AWS_VAULT_CONFIG_A=V
TFC_VAULT_BACKED_GCP_AUTH_G=true
TFC_VAULT_BACKED_GCP_AUTH_TYPE_G=static_account/service_account_key
TFC_VAULT_BACKED_GCP_RUN_VAULT_STATIC_ACCOUNT_G=ci
TFC_VAULT_BACKED_GCP_VAULT_CONFIG_G=V
"
    );
    let cmd = Exec::stand_in(&["vault-backed-aliases", "A", "G"]);
    let out = run(&mut e.command("run-vb-aliases", &vars, &[], &stand_in_refs(&cmd)));
    out.success();
    let report = Exec::report(&out);
    assert_eq!(
        report["aws_credentials"],
        serde_json::json!([
            "[default]",
            "aws_access_key_id = AKIASTUBVAULT",
            "aws_secret_access_key = aws-stub-secret",
            "aws_session_token = aws-stub-session"
        ]),
        "{out}"
    );
    assert_eq!(report["gcp_key_type"], "service_account");
    assert_eq!(report["implicit_aws"], Value::Null, "aliases set no implicit environment");
    let all: Vec<Value> = serde_json::from_str(&http_get(&format!("{vault}/records"))).unwrap();
    let sts = all.iter().find(|r| r["path"] == "/v1/aws/sts/deploy").unwrap();
    assert_eq!(sts["method"], "POST");
    assert_eq!(sts["body"]["role_arn"], "arn:aws:iam::123456789012:role/deployer");
    assert_eq!(sts["body"]["role_session_name"], "tern-run-vb-aliases-plan");
    assert!(all.iter().any(|r| r["path"] == "/v1/gcp/static-account/ci/key"));
    assert_eq!(all.iter().filter(|r| r["kind"] == "revoke").count(), 2);
    e.assert_clean("run-vb-aliases");
}

fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Signal tern and, for SIGKILL, its orphaned command too.
fn kill_tree(child: &mut std::process::Child, signal: &str) {
    let pid = child.id().to_string();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    Command::new("kill").args([signal, &pid]).status().unwrap();
    if signal == "-KILL" {
        for c in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", c]).status();
        }
    }
    let _ = child.wait();
}

const AWS_VARS: &str =
    "TFC_AWS_PROVIDER_AUTH=true\nTFC_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/tern-run\n";

#[test]
fn teardown_on_success_failure_timeout_and_signals() {
    let e = Exec::new();
    run(&mut e.command("run-ok", AWS_VARS, &[], &["true"])).success();
    e.assert_clean("run-ok");
    run(&mut e.command(
        "run-fail",
        AWS_VARS,
        &[],
        &["sh", "-c", "test -s \"$AWS_WEB_IDENTITY_TOKEN_FILE\" && exit 7"],
    ))
    .failure(7);
    e.assert_clean("run-fail");

    let started = Instant::now();
    let out =
        run(&mut e.command("run-timeout", AWS_VARS, &["--timeout", "1s", "--grace", "5s"], &["sleep", "30"]));
    out.failure(124);
    assert!(out.stderr.contains("the phase timed out after 1s"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(15));
    e.assert_clean("run-timeout");

    // SIGTERM to tern: passed on to the command, then teardown.
    let quiet = |mut c: Command| {
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    let mut child = quiet(e.command("run-term", AWS_VARS, &[], &["sleep", "30"])).spawn().unwrap();
    wait_until(|| e.creds().join("run-term").join("aws.token").exists(), "the token file");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
    e.assert_clean("run-term");

    // SIGKILL to tern: its files stay until the next start sweeps them.
    let mut child = quiet(e.command("run-killed", AWS_VARS, &[], &["sleep", "30"])).spawn().unwrap();
    wait_until(|| e.creds().join("run-killed").join("aws.token").exists(), "the token file");
    kill_tree(&mut child, "-KILL");
    assert!(e.creds().join("run-killed").join("aws.token").exists());
    let out = run(&mut e.command("run-next", AWS_VARS, &[], &["true"]));
    out.success();
    assert!(out.stderr.contains("left by a dead phase"), "{out}");
    assert!(!e.creds().join("run-killed").exists());
    e.assert_clean("run-next");
}

#[test]
fn configuration_errors_stop_the_phase_before_anything_exists() {
    let e = Exec::new();
    let vars = "TFC_AWS_PROVIDER_AUTH=true\nTFC_AWS_PLAN_ROLE_ARN=arn:aws:iam::123456789012:role/x\nAWS_ACCESS_KEY_ID=AKIA\nTFC_GCP_PROVIDER_AUTH=yes\n";
    let out = run(&mut e.command("run-bad", vars, &[], &["true"]));
    out.failure(1);
    assert!(out.stderr.contains("3 problems with the dynamic credentials variables"), "{out}");
    assert!(
        out.stderr.contains("TFC_AWS_PLAN_ROLE_ARN is set, but the apply phase has no role ARN"),
        "{out}"
    );
    assert!(out.stderr.contains("AWS_ACCESS_KEY_ID is set in the workspace"), "{out}");
    assert!(out.stderr.contains("TFC_GCP_PROVIDER_AUTH=\"yes\""), "{out}");
    assert!(!e.creds().exists(), "nothing was created");

    let out = run(&mut e.command("run-bad-file", "not a line\n", &[], &["true"]));
    out.failure(1);
    assert!(out.stderr.contains("run-bad-file.env: line 1: expected NAME=value"), "{out}");
}

/// `tern exec --dry-run` for acme/prod with `vars` as the workspace, credentials under /run/tern.
fn dry_run(s: &Scratch, vars: &str, extra: &[&str], command: &[&str]) -> Run {
    std::fs::write(s.path().join("ws.env"), vars).unwrap();
    let mut cmd = s.tern();
    cmd.args(["exec", "--dry-run", "--env-file", "ws.env", "--signing-key", "keys/rsa-2048.pem"]);
    cmd.args(["--issuer-url", "https://tern.example.com", "--organization", "acme", "--workspace", "prod"]);
    cmd.args(["--credentials-dir", "/run/tern"]).args(extra).arg("--").args(command);
    run(&mut cmd)
}

#[test]
fn dry_run_of_a_multi_platform_multi_alias_workspace() {
    let s = Scratch::new();
    let ca = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    let vars = format!(
        "TFC_AWS_PROVIDER_AUTH=true
TFC_AWS_RUN_ROLE_ARN=arn:aws:iam::123456789012:role/tern-run
TFC_AWS_PROVIDER_AUTH_PROD=true
TFC_AWS_PLAN_ROLE_ARN_PROD=arn:aws:iam::210987654321:role/tern-plan
TFC_AWS_APPLY_ROLE_ARN_PROD=arn:aws:iam::210987654321:role/tern-apply
TFC_GCP_PROVIDER_AUTH=true
TFC_GCP_WORKLOAD_PROVIDER_NAME={PROVIDER}
TFC_GCP_RUN_SERVICE_ACCOUNT_EMAIL=terraform@acme.iam.gserviceaccount.com
TFC_AZURE_PROVIDER_AUTH=true
TFC_AZURE_RUN_CLIENT_ID=4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b
ARM_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47
TFC_KUBERNETES_PROVIDER_AUTH_EKS=true
TFC_KUBERNETES_WORKLOAD_IDENTITY_AUDIENCE_EKS=sts.amazonaws.com
TFC_VAULT_PROVIDER_AUTH=true
TFC_VAULT_ADDR=https://vault.example.com:8200
TFC_VAULT_RUN_ROLE=tern
TFC_VAULT_ENCODED_CACERT={ca}
TFC_VAULT_BACKED_AZURE_AUTH_VB=true
TFC_VAULT_BACKED_AZURE_RUN_VAULT_ROLE_VB=contributor
TFC_WORKLOAD_IDENTITY_AUDIENCE=my-app
TFC_AWS_RUN_ROLE_ARN_STAGING=arn:aws:iam::123456789012:role/unused
TFC_AWS_PROVIDER_AUTH_STAGING=false
"
    );
    let out = dry_run(
        &s,
        &vars,
        &["--run-id", "run-CZcmD7eagjhyX0vN", "--phase", "apply", "--workdir", "/work/infra"],
        &["terraform", "apply", "tfplan"],
    );
    out.success();
    assert!(!std::path::Path::new("/run/tern/run-CZcmD7eagjhyX0vN").exists(), "a dry run creates nothing");
    tern_testkit::assert_golden(&crate::errors::golden_dir(), "exec-dry-run.txt", out.stdout.as_bytes());
}

#[test]
fn a_short_token_lifetime_with_azure_is_warned_about() {
    let s = Scratch::new();
    let vars = "TFC_AZURE_PROVIDER_AUTH=true\nTFC_AZURE_RUN_CLIENT_ID=4e4b7b2a-2f0e-4d3c-9a7b-1c2d3e4f5a6b\n";
    let out = dry_run(
        &s,
        vars,
        &["--run-id", "r", "--phase", "plan", "--token-ttl", "5m", "--workdir", "/work"],
        &["true"],
    );
    out.success();
    assert!(out.stdout.contains("--token-ttl 5m is short for Azure"), "{out}");
}

#[test]
fn a_missing_command_is_reported_once_before_any_token_is_minted() {
    let e = Exec::new();
    for (command, says) in [
        ("no-such-command-here", "cannot run \"no-such-command-here\": no such command on PATH"),
        ("./no-such-script", "cannot run \"./no-such-script\": there is no file "),
    ] {
        let out = run(&mut e.command("run-missing", AWS_VARS, &[], &[command, "arg"]));
        out.failure(1);
        assert_eq!(out.stderr.matches(says).count(), 1, "said once\n{out}");
        assert!(!out.stderr.contains("os error"), "{out}");
        assert!(!out.stderr.contains("minted"), "nothing minted for a command that is not there\n{out}");
        assert!(!e.creds().join("run-missing").exists(), "nothing written\n{out}");
    }
}
