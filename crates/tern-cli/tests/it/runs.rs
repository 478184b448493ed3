//! Runs end to end: `tern serve` with real Terraform 1.0.3 and the null provider, a workspace
//! with AWS (boto3 against moto) and Vault (a real OpenBao) dynamic credentials, on the server's
//! own workers and on a separate `tern agent`; kill -9 of the server mid-plan; two replicas on
//! one PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::peers::{Daemon, bao_as, moto, openbao, openbao_role, openbao_trusts};
use crate::support::{Scratch, Server, run};

pub(crate) const ADMIN: &str = "tern-admin-token-for-the-end-to-end-tests-0123456789";
const ROLE: &str = "arn:aws:iam::123456789012:role/tern-run";

pub(crate) struct World {
    pub(crate) s: Scratch,
    _moto: Daemon,
    pub(crate) moto_port: u16,
    _bao: Daemon,
    pub(crate) bao_addr: String,
    _bao_home: tempfile::TempDir,
    pub(crate) tools: PathBuf,
    pub(crate) tfrc: PathBuf,
}

impl World {
    pub(crate) fn new() -> World {
        let s = Scratch::new();
        let (moto_daemon, moto_port) = moto(&s.path().join("moto.jsonl"));
        let bao_home = tempfile::tempdir().unwrap();
        let (bao_daemon, bao_addr) = openbao(bao_home.path());
        // Phases reach both (boto3 and the Vault client in the check script), through the
        // sandbox's egress filter.
        s.allow_egress(&format!("127.0.0.1:{moto_port}"));
        s.allow_egress(bao_addr.trim_start_matches("http://"));
        // Terraform on the workers' PATH; a slow variant whose plan takes 60 s, which says it is
        // version 1.0.3-slow: a workspace chooses it with that terraform-version once a runner
        // registers it (`--terraform tools/slow-terraform`).
        let tools = s.path().join("tools");
        std::fs::create_dir_all(&tools).unwrap();
        std::os::unix::fs::symlink(tern_testkit::peers::terraform(), tools.join("terraform")).unwrap();
        let slow = tools.join("slow-terraform");
        std::fs::write(
            &slow,
            "#!/bin/sh\nif [ \"$1\" = version ]; then echo '{\"terraform_version\":\"1.0.3-slow\"}'; exit 0; fi\nif [ \"$1\" = plan ]; then sleep 60; fi\nexec terraform \"$@\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
        // The null provider from a local mirror: no registry needed.
        let mirror = s.shared().join("mirror/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64");
        std::fs::create_dir_all(&mirror).unwrap();
        std::fs::copy(tern_testkit::peers::null_provider(), mirror.join("terraform-provider-null_v2.1.2_x4"))
            .unwrap();
        let tfrc = s.shared().join("terraform.tfrc");
        std::fs::write(
            &tfrc,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
                s.shared().join("mirror").display()
            ),
        )
        .unwrap();
        World {
            s,
            _moto: moto_daemon,
            moto_port,
            _bao: bao_daemon,
            bao_addr,
            _bao_home: bao_home,
            tools,
            tfrc,
        }
    }

    /// `--terraform` for both of this world's binaries (1.0.3 and 1.0.3-slow).
    pub(crate) fn both_terraforms(&self) -> Vec<String> {
        ["terraform", "slow-terraform"]
            .iter()
            .flat_map(|name| ["--terraform".to_owned(), self.tools.join(name).display().to_string()])
            .collect()
    }

    pub(crate) fn path_var(&self) -> String {
        format!("{}:{}", self.tools.display(), std::env::var("PATH").unwrap_or_default())
    }

    /// `tern serve` with this world's data directory (unless `args` give one).
    pub(crate) fn serve(&self, args: &[&str]) -> Server {
        let mut cmd = self.s.tern();
        cmd.env("TERN_ADMIN_TOKEN", ADMIN).env("PATH", self.path_var());
        let data = self.s.path().join("data");
        let mut all: Vec<&str> = args.to_vec();
        let data_arg = data.to_str().unwrap().to_owned();
        if !args.contains(&"--data-dir") {
            all.extend(["--data-dir", &data_arg]);
        }
        Server::start(cmd, &all)
    }

    pub(crate) fn cli(&self, server: &Server) -> Command {
        let mut cmd = self.s.tern();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN).env("TERN_ORG", "acme");
        cmd
    }

    pub(crate) fn ok(&self, server: &Server, args: &[&str]) -> String {
        let out = run(self.cli(server).args(args));
        out.success();
        out.stdout.clone()
    }

    /// Organization acme (once), a workspace with AWS and Vault dynamic credentials, and a
    /// configuration whose local-exec proves both.
    pub(crate) fn workspace(&self, server: &Server, name: &str, extra: &[&str]) {
        let _ = run(self.cli(server).args(["org", "create", "acme"]));
        let mut create = vec!["workspace", "create", name];
        create.extend(extra);
        self.ok(server, &create);
        let python = tern_testkit::peers::python();
        for v in self.credential_vars() {
            self.ok(server, &["var", "set", &v, "--workspace", name]);
        }
        self.ok(
            server,
            &["var", "set", &format!("python={}", python.display()), "--terraform", "--workspace", name],
        );
        self.ok(
            server,
            &[
                "var",
                "set",
                "DEPLOY_PASSWORD=a-sensitive-workspace-value",
                "--sensitive",
                "--workspace",
                name,
            ],
        );
    }

    /// The env variables of a workspace with AWS (moto) and Vault (OpenBao) dynamic credentials.
    pub(crate) fn credential_vars(&self) -> Vec<String> {
        vec![
            format!("TF_CLI_CONFIG_FILE={}", self.tfrc.display()),
            "TFC_AWS_PROVIDER_AUTH=true".into(),
            format!("TFC_AWS_RUN_ROLE_ARN={ROLE}"),
            format!("AWS_ENDPOINT_URL_STS=http://127.0.0.1:{}", self.moto_port),
            "AWS_DEFAULT_REGION=us-east-1".into(),
            "TFC_VAULT_PROVIDER_AUTH=true".into(),
            format!("TFC_VAULT_ADDR={}", self.bao_addr),
            "TFC_VAULT_RUN_ROLE=tern".into(),
        ]
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.config_with(
            "config",
            r#"terraform {
  required_providers {
    null = { source = "hashicorp/null" }
  }
}
variable "python" { type = string }
resource "null_resource" "check" {
  provisioner "local-exec" {
    command = "${var.python} e2e_check.py"
  }
}
output "workspace" { value = "checked" }
"#,
        )
    }

    /// A configuration directory `name` with `main_tf` and the AWS + Vault check script.
    pub(crate) fn config_with(&self, name: &str, main_tf: &str) -> PathBuf {
        let dir = self.s.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(tern_testkit::peers::python_scripts().join("e2e_check.py"), dir.join("e2e_check.py"))
            .unwrap();
        std::fs::write(dir.join("main.tf"), main_tf).unwrap();
        dir
    }

    /// Vault tokens alive besides root.
    pub(crate) fn vault_tokens(&self) -> usize {
        self.vault_token_lookups().len()
    }

    /// Vault's lookup of every token alive besides root (`ttl`, `creation_time`, `meta`, …).
    pub(crate) fn vault_token_lookups(&self) -> Vec<Value> {
        let (status, v) = bao_as(&self.bao_addr, "root", "LIST", "auth/token/accessors", None);
        assert_eq!(status, 200, "{v}");
        let accessors: Vec<String> = v["data"]["keys"]
            .as_array()
            .map(|keys| keys.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        accessors
            .into_iter()
            .filter_map(|accessor| {
                let body = serde_json::json!({ "accessor": accessor });
                let (status, v) =
                    bao_as(&self.bao_addr, "root", "POST", "auth/token/lookup-accessor", Some(&body));
                // Gone between the listing and the lookup (expired or revoked just then).
                if status == 400 || status == 403 {
                    return None;
                }
                assert_eq!(status, 200, "lookup-accessor: {v}");
                let root = v["data"]["policies"].as_array().is_some_and(|p| p.iter().any(|p| p == "root"));
                (!root).then(|| v["data"].clone())
            })
            .collect()
    }

    pub(crate) fn credential_dirs(&self, base: &Path) -> Vec<String> {
        std::fs::read_dir(base)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }
}

/// `tern serve` over https with a fresh test CA, as Terraform requires of a remote host.
pub(crate) struct Https {
    pub(crate) server: Server,
    pub(crate) ca: tern_testkit::tls::TestCa,
    /// `localhost:<port>`, the backend's `hostname`.
    pub(crate) host: String,
}

impl World {
    pub(crate) fn serve_https(&self, extra: &[&str]) -> Https {
        let ca = tern_testkit::tls::TestCa::generate(self.s.path());
        let mut args = vec![
            "--tls-cert",
            ca.server_cert.to_str().unwrap(),
            "--tls-key",
            ca.server_key.to_str().unwrap(),
        ];
        args.extend(extra);
        let server = self.serve(&args);
        assert!(server.issuer.starts_with("https://localhost:"), "{}", server.issuer);
        let host = server.issuer.trim_start_matches("https://").to_owned();
        Https { server, ca, host }
    }

    /// `tern <args>` against an https server, trusting its CA.
    pub(crate) fn tern_https(&self, h: &Https, args: &[&str]) -> crate::support::Run {
        run(self
            .cli(&h.server)
            .env("SSL_CERT_FILE", &h.ca.ca_cert)
            .env("TERN_SERVER", &h.server.issuer)
            .args(args))
    }

    /// A configuration directory whose `remote` backend is `workspace` of acme on `h`, followed
    /// by `body`.
    pub(crate) fn remote_config(
        &self,
        h: &Https,
        name: &str,
        org: &str,
        workspace: &str,
        body: &str,
    ) -> PathBuf {
        let dir = self.s.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.tf"),
            format!(
                "terraform {{\n  backend \"remote\" {{\n    hostname     = \"{}\"\n    organization = \"{org}\"\n    workspaces {{ name = \"{workspace}\" }}\n  }}\n  required_providers {{\n    null = {{ source = \"hashicorp/null\" }}\n  }}\n}}\n{body}",
                h.host
            ),
        )
        .unwrap();
        dir
    }
}

/// `tern run start … --auto-apply` (following the logs through the API) must end applied, with
/// the role and the secret in the log, a state version, no credentials left, Vault token revoked.
fn assert_full_run(w: &World, server: &Server, workspace: &str, credentials: &Path) {
    let config = w.config();
    let out = run(w.cli(server).args([
        "run",
        "start",
        "--workspace",
        workspace,
        "--dir",
        config.to_str().unwrap(),
        "--auto-apply",
    ]));
    out.success();
    let log = &out.stdout;
    assert!(log.contains("assumed role: arn:aws:sts::123456789012:assumed-role/tern-run/"), "{out}");
    assert!(log.contains("read secret/data/app from Vault: password sha256"), "{out}");
    assert!(log.contains("runner AWS key visible: False"), "{out}");
    assert!(log.contains("Apply complete! Resources: 1 added"), "{out}");
    assert!(log.contains("[tern] stored the new state"), "{out}");
    // Each phase says how long it took to start Terraform (scripts/bench reads this line).
    let started: Vec<&str> = log.lines().filter(|l| l.contains("[tern] terraform started ")).collect();
    assert_eq!(started.len(), 2, "one line per phase: {out}");
    assert!(
        started.iter().all(|l| l.contains(" ms after the phase began (job, configuration and state ")
            && l.contains("Vault login(s) ")
            && l.contains("; starting the process ")),
        "{started:?}"
    );
    assert!(!log.contains("a-sensitive-workspace-value"), "sensitive values stay out of logs");
    assert!(out.stderr.contains(": applied"), "{out}");
    let run_id = log.lines().next().unwrap().trim().to_owned();
    let shown = w.ok(server, &["run", "show", &run_id]);
    assert!(shown.contains("status:       applied"), "{shown}");
    let state = w.ok(server, &["state", "pull", "--workspace", workspace]);
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["resources"][0]["type"], "null_resource");
    assert_eq!(state["outputs"]["workspace"]["value"], "checked");
    assert_eq!(w.credential_dirs(credentials), Vec::<String>::new(), "no credential file remains");
    assert_eq!(w.vault_tokens(), 0, "the phases' Vault tokens were revoked");
}

#[test]
fn a_run_plans_and_applies_with_aws_and_vault_credentials_on_the_servers_workers() {
    let w = World::new();
    let server = w.serve(&[]);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    w.workspace(&server, "prod", &[]);
    assert_full_run(&w, &server, "prod", &w.s.path().join("data/credentials"));
    // The run went through the API like any other: listed, with both phases' logs.
    let runs = w.ok(&server, &["run", "list", "--workspace", "prod"]);
    assert!(runs.contains("applied"), "{runs}");
    // `tern run logs RUN | head -1`: a reader that goes away ends the command quietly, status 0
    // (it used to panic with "failed printing to stdout: Broken pipe", status 101).
    let run_id = runs.lines().find_map(|l| l.split_whitespace().find(|w| w.starts_with("run-"))).unwrap();
    for args in [vec!["run", "logs", run_id], vec!["run", "list", "--workspace", "prod"]] {
        let mut child =
            w.cli(&server).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before the first line
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !stderr.contains("panicked"), "{args:?}: {:?} {stderr}", out.status);
    }
    let (_, logs) = server.stop();
    assert!(logs.contains("minted a workload identity token"), "{logs}");
    assert!(!logs.contains("a-sensitive-workspace-value") && !logs.contains("hunter2"), "{logs}");
}

#[test]
fn the_same_run_passes_on_a_separate_agent_that_has_no_key() {
    let w = World::new();
    let server = w.serve(&["--workers", "0"]);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    w.workspace(&server, "prod", &[]);
    let token = w.ok(&server, &["agent-token", "create"]).trim().to_owned();
    let agent_dir = tempfile::tempdir().unwrap();
    let mut agent = w.s.tern();
    agent
        .args(["agent", "--server", &server.base, "--name", "agent-7"])
        .env("TERN_AGENT_TOKEN", &token)
        .env("XDG_RUNTIME_DIR", agent_dir.path())
        .env("PATH", w.path_var())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _agent = Daemon(agent.spawn().unwrap());
    assert_full_run(&w, &server, "prod", &agent_dir.path().join("tern/credentials"));
    let (_, logs) = server.stop();
    assert!(logs.contains("agent=agent-7"), "{logs}");
}

#[test]
fn an_agent_pool_workspace_waits_for_its_pools_agent_and_never_runs_on_the_servers_workers() {
    let w = World::new();
    let server = w.serve(&[]); // with its own workers, which must leave this workspace alone
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    let _ = run(w.cli(&server).args(["org", "create", "acme"]));
    let created = w.ok(&server, &["agent-pool", "create", "prod"]);
    assert!(created.contains("created agent pool \"prod\" (apool-"), "{created}");
    w.workspace(&server, "prod", &["--agent-pool", "prod", "--terraform-version", "1.0.3"]);
    let shown = w.ok(&server, &["workspace", "show", "prod"]);
    assert!(
        shown.contains("execution mode:    agent") && shown.contains("agent pool:        apool-"),
        "{shown}"
    );
    let out = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "prod",
        "--dir",
        w.config().to_str().unwrap(),
        "--auto-apply",
        "--no-follow",
    ]));
    out.success();
    let run_id = out.stdout.trim().to_owned();
    // The server's workers poll every few seconds; the run stays queued and says why.
    std::thread::sleep(Duration::from_secs(3));
    let shown = w.ok(&server, &["run", "show", &run_id]);
    assert!(shown.contains("status:       pending"), "{shown}");
    assert!(
        shown.contains("waiting:      waiting for an agent in pool \"prod\" (apool-")
            && shown.contains("no agent of this pool has asked for work in the last 60 s"),
        "{shown}"
    );

    // An agent with the pool's token runs it, plan and apply.
    let token = w.ok(&server, &["agent-pool", "token", "prod"]).trim().to_owned();
    assert!(token.starts_with("tern-agent."), "{token}");
    let agent_dir = tempfile::tempdir().unwrap();
    let mut agent = w.s.tern();
    agent
        .args(["agent", "--server", &server.base, "--name", "pool-agent"])
        .env("TERN_AGENT_TOKEN", &token)
        .env("TERN_TERRAFORM", w.tools.join("terraform"))
        .env("XDG_RUNTIME_DIR", agent_dir.path())
        .env("PATH", w.path_var())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _agent = Daemon(agent.spawn().unwrap());
    let follow = run(w.cli(&server).args(["run", "logs", &run_id, "--follow"]));
    follow.success();
    assert!(follow.stdout.contains("Apply complete! Resources: 1 added"), "{follow}");
    assert!(follow.stdout.contains("[tern] Terraform 1.0.3 (terraform)"), "{follow}");
    let pools = w.ok(&server, &["agent-pool", "list"]);
    assert!(pools.contains("\tprod\t1 agents\t1 workspaces"), "{pools}");
    let shown = w.ok(&server, &["run", "show", &run_id]);
    assert!(shown.contains("terraform:    1.0.3") && !shown.contains("waiting:"), "{shown}");
    let (_, logs) = server.stop();
    let claims: Vec<&str> = logs.lines().filter(|l| l.contains("job claimed")).collect();
    assert_eq!(claims.len(), 2, "{logs}");
    assert!(claims.iter().all(|l| l.contains("agent=pool-agent")), "only the pool's agent: {claims:#?}");
}

pub(crate) fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn kill_9_during_a_plan_errors_the_run_on_restart_and_a_new_run_succeeds() {
    let w = World::new();
    let terraforms = w.both_terraforms();
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend(terraforms.iter().map(String::as_str));
    let server = w.serve(&args);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    w.workspace(&server, "prod", &["--terraform-version", "1.0.3-slow"]);
    let out = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "prod",
        "--dir",
        w.config().to_str().unwrap(),
        "--no-follow",
    ]));
    out.success();
    let run_id = out.stdout.trim().to_owned();
    let credentials = w.s.path().join("data/credentials");
    wait_for("the plan to start", Duration::from_secs(60), || {
        run(w.cli(&server).args(["run", "logs", &run_id])).stdout.contains("$ slow-terraform plan")
    });
    assert_eq!(w.credential_dirs(&credentials), std::slice::from_ref(&run_id), "the phase holds credentials");
    assert_eq!(w.vault_tokens(), 1, "and a Vault token");
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    server.kill9();

    // Restart on the same port (the workers' identity) and data directory.
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", listen.as_str()];
    args.extend(terraforms.iter().map(String::as_str));
    let server = w.serve(&args);
    let shown = w.ok(&server, &["run", "show", &run_id]);
    assert!(shown.contains("status:       errored"), "{shown}");
    assert!(shown.contains("tern serve restarted while this phase ran"), "{shown}");
    assert_eq!(
        w.credential_dirs(&credentials),
        Vec::<String>::new(),
        "the dead phase's credentials are gone"
    );
    assert_eq!(w.vault_tokens(), 0, "its Vault token was revoked on restart");
    assert!(server.logs().contains("revoked"), "{}", server.logs());
    assert!(
        w.ok(&server, &["workspace", "show", "prod"]).contains("active run:        -"),
        "the workspace is free again"
    );
    // A new run succeeds, in a workspace with the normal terraform.
    w.workspace(&server, "prod2", &[]);
    openbao_role(&w.bao_addr, "prod*", "5m");
    assert_full_run(&w, &server, "prod2", &credentials);
}

#[test]
fn two_replicas_on_one_postgres_serve_one_jwks_and_run_each_job_once() {
    let w = World::new();
    let db = tern_testkit::db::TestDatabase::postgres();
    let key = tern_store_key();
    let common = |data: &str, port: u16| {
        vec![
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--public-url".to_owned(),
            format!("http://127.0.0.1:{port}"),
            "--database-url".to_owned(),
            db.url.clone(),
            "--signing-key".to_owned(),
            tern_testkit::key_fixture("rsa-2048.pem").to_str().unwrap().to_owned(),
            "--issuer-url".to_owned(),
            "https://tern.example.com".to_owned(),
            "--data-dir".to_owned(),
            w.s.path().join(data).to_str().unwrap().to_owned(),
        ]
    };
    let start = |data: &str| {
        let mut cmd = w.s.tern();
        cmd.env("TERN_ADMIN_TOKEN", ADMIN).env("PATH", w.path_var()).env("TERN_ENCRYPTION_KEY", &key);
        let args = common(data, crate::peers::free_port());
        Server::start(cmd, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let a = start("a");
    let b = start("b");
    let jwks = |s: &Server| crate::support::http_get(&format!("{}/.well-known/jwks", s.base));
    assert_eq!(jwks(&a), jwks(&b));
    let _ = run(w.cli(&a).args(["org", "create", "acme"]));
    let config = w.s.path().join("plain");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.tf"), "terraform {\n  required_providers {\n    null = { source = \"hashicorp/null\" }\n  }\n}\nresource \"null_resource\" \"x\" {}\n").unwrap();
    let mut runs = Vec::new();
    for (i, server) in [&a, &b, &a, &b, &a, &b].iter().enumerate() {
        let ws = format!("w{}", i % 3);
        if i < 3 {
            w.ok(server, &["workspace", "create", &ws, "--auto-apply"]);
            w.ok(
                server,
                &["var", "set", &format!("TF_CLI_CONFIG_FILE={}", w.tfrc.display()), "--workspace", &ws],
            );
        }
        let out = run(w.cli(server).args([
            "run",
            "start",
            "--workspace",
            &ws,
            "--dir",
            config.to_str().unwrap(),
            "--no-follow",
        ]));
        out.success();
        runs.push(out.stdout.trim().to_owned());
    }
    for id in &runs {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let shown = run(w.cli(&a).args(["run", "show", id])).stdout;
            if ["applied", "planned_and_finished", "errored"]
                .iter()
                .any(|st| shown.contains(&format!("status:       {st}\n")))
            {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "run {id} did not finish:\n{shown}\n--- replica a\n{}\n--- replica b\n{}\n--- log\n{}",
                    a.logs(),
                    b.logs(),
                    run(w.cli(&a).args(["run", "logs", id])).stdout
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // The first run of each workspace applies its change; the second finds nothing to do.
    for (i, id) in runs.iter().enumerate() {
        let shown = w.ok(&b, &["run", "show", id]);
        let (status, applies) = if i < 3 { ("applied", 1) } else { ("planned_and_finished", 0) };
        assert!(shown.contains(&format!("status:       {status}\n")), "{shown}");
        let logs = w.ok(&a, &["run", "logs", id]);
        assert_eq!(logs.matches("[tern] plan of run").count(), 1, "planned once: {logs}");
        assert_eq!(logs.matches("[tern] apply of run").count(), applies, "applied {applies} times: {logs}");
    }
    let (_, la) = a.stop();
    let (_, lb) = b.stop();
    let claimed = |l: &str| l.matches("job claimed").count();
    assert_eq!(claimed(&la) + claimed(&lb), 3 * 2 + 3, "each job claimed once across replicas");
    assert!(claimed(&la) > 0 && claimed(&lb) > 0, "both replicas' workers ran jobs");
}

pub(crate) fn tern_store_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

/// A tiny blocking JSON-over-HTTP helper for the agent API.
pub(crate) fn call(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut r =
            client.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url).bearer_auth(token);
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    })
}

#[test]
fn managed_key_rotation_keeps_every_token_verifiable_until_it_expires() {
    let w = World::new();
    let server = w.serve(&[
        "--managed-keys",
        "--key-publish-lead",
        "3s",
        "--jwks-max-age",
        "1s",
        "--rotate-keys-every",
        "off",
        "--workers",
        "0",
    ]);
    assert!(server.logs().contains("generated the first one"), "{}", server.logs());
    let _ = run(w.cli(&server).args(["org", "create", "acme"]));
    w.ok(&server, &["workspace", "create", "prod"]);
    let config = w.s.path().join("plain");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("main.tf"), "# nothing\n").unwrap();
    w.ok(&server, &["run", "start", "--workspace", "prod", "--dir", config.to_str().unwrap(), "--no-follow"]);
    let agent = w.ok(&server, &["agent-token", "create"]).trim().to_owned();
    let (status, claimed) = call(
        "POST",
        &format!("{}/api/agent/jobs/claim", server.base),
        &agent,
        Some(serde_json::json!({"agent": "test", "terraform_versions": ["1.0.3"]})),
    );
    assert_eq!(status, 200, "{claimed}");
    let (job, job_token) =
        (claimed["job"]["id"].as_str().unwrap().to_owned(), claimed["token"].as_str().unwrap().to_owned());
    let mint = || {
        let (status, v) = call(
            "POST",
            &format!("{}/api/agent/jobs/{job}/token", server.base),
            &job_token,
            Some(serde_json::json!({"audience": "aud.example", "ttl_seconds": 600})),
        );
        assert_eq!(status, 200, "{v}");
        (v["token"].as_str().unwrap().to_owned(), v["kid"].as_str().unwrap().to_owned())
    };
    let verifies = |token: &str| -> bool {
        let verdicts: Vec<bool> = ["pyjwt", "jose"]
            .iter()
            .map(|p| crate::interop::peer_verdict(p, &server.issuer, "aud.example", token)["ok"] == true)
            .collect();
        assert_eq!(verdicts[0], verdicts[1], "PyJWT and jose disagree on {token}");
        verdicts[0]
    };
    let jwks_kids = || -> Vec<String> {
        let jwks: Value =
            serde_json::from_str(&crate::support::http_get(&format!("{}/.well-known/jwks", server.base)))
                .unwrap();
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    };

    let (before, kid_a) = mint();
    assert!(verifies(&before));
    assert_eq!(jwks_kids(), std::slice::from_ref(&kid_a));

    // Sooner than max-age (1 s) plus the replicas' refresh (1 s): a relying party could meet a
    // token signed by a key it was never shown.
    let early = run(w.cli(&server).args(["keys", "rotate", "--activate-in", "1s"]));
    early.failure(1);
    assert!(early.stderr.contains("at least 2s"), "{early}");
    assert_eq!(jwks_kids(), std::slice::from_ref(&kid_a), "nothing was published");
    // What happens before the new key signs is checked first, with the fast calls only (the
    // verifiers start Python processes, slow on a loaded machine): 8 s is then plenty.
    let out = run(w.cli(&server).args(["keys", "rotate", "--activate-in", "8s"]));
    out.success();
    let kids = jwks_kids();
    assert_eq!(kids.len(), 2, "the next key is published before it signs: {kids:?}");
    let kid_b = kids.iter().find(|k| **k != kid_a).unwrap().clone();
    let (during, kid) = mint();
    let listed = w.ok(&server, &["keys", "list"]);
    assert_eq!(kid, kid_a, "still signing with the current key while the next one is only published");
    assert!(listed.contains(&kid_b) && listed.contains("next"), "{listed}");
    assert!(verifies(&before) && verifies(&during));

    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let (token, kid) = mint();
        if kid == kid_b {
            break token;
        }
        assert!(Instant::now() < deadline, "the next key never started signing");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(verifies(&before) && verifies(&during) && verifies(&after), "all verify after the rotation");
    let listed = w.ok(&server, &["keys", "list"]);
    assert!(listed.contains("retired") && listed.contains(&kid_a), "{listed}");
    assert_eq!(jwks_kids(), [kid_b.clone(), kid_a.clone()], "the retired key stays published");

    // A compromised key leaves the JWKS at once: its tokens stop verifying, the others do not.
    run(w.cli(&server).args(["keys", "retire", &kid_a, "--unpublish"])).success();
    assert_eq!(jwks_kids(), std::slice::from_ref(&kid_b));
    assert!(!verifies(&before) && verifies(&after));
    let out = run(w.cli(&server).args(["keys", "retire", &kid_b]));
    out.failure(1);
    assert!(out.stderr.contains("run `tern keys rotate` first"), "{out}");

    // A server with key files refuses the key commands with a useful message.
    drop(server);
    let plain = w.serve(&["--data-dir", w.s.path().join("plain-data").to_str().unwrap()]);
    let out = run(w.cli(&plain).args(["keys", "list"]));
    out.failure(1);
    assert!(out.stderr.contains("--managed-keys"), "{out}");
}

#[test]
fn canceling_a_running_plan_interrupts_terraform_and_cleans_up() {
    let w = World::new();
    let terraforms = w.both_terraforms();
    let mut args = vec!["--grace", "5s"];
    args.extend(terraforms.iter().map(String::as_str));
    let server = w.serve(&args);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    w.workspace(&server, "prod", &["--terraform-version", "1.0.3-slow"]);
    let out = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "prod",
        "--dir",
        w.config().to_str().unwrap(),
        "--no-follow",
    ]));
    out.success();
    let run_id = out.stdout.trim().to_owned();
    wait_for("the plan to start", Duration::from_secs(60), || {
        run(w.cli(&server).args(["run", "logs", &run_id])).stdout.contains("$ slow-terraform plan")
    });
    assert_eq!(w.vault_tokens(), 1);
    let started = Instant::now();
    w.ok(&server, &["run", "cancel", &run_id]);
    let follow = run(w.cli(&server).args(["run", "logs", &run_id, "--follow"]));
    follow.failure(1);
    assert!(follow.stderr.contains("canceled"), "{follow}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "canceled in {:?}, not after the 60 s sleep",
        started.elapsed()
    );
    assert!(follow.stdout.contains("[tern] the phase was canceled"), "{follow}");
    assert_eq!(w.credential_dirs(&w.s.path().join("data/credentials")), Vec::<String>::new());
    assert_eq!(w.vault_tokens(), 0, "the canceled phase's Vault token was revoked");
    let runs = w.ok(&server, &["run", "list", "--workspace", "prod"]);
    assert!(runs.contains("canceled"), "{runs}");
}

#[test]
fn terraform_plans_and_applies_remotely_through_the_remote_backend_over_https() {
    let w = World::new();
    let h = w.serve_https(&[]);
    let ca_pem = std::fs::read_to_string(&h.ca.ca_cert).unwrap();
    crate::peers::openbao_trusts_with_ca(&w.bao_addr, &h.server.issuer, "5m", Some(&ca_pem));
    let tern = |args: &[&str]| {
        let out = w.tern_https(&h, args);
        out.success();
        out.stdout.clone()
    };
    tern(&["org", "create", "acme"]);
    // The workspace as World::workspace makes it, over https.
    tern(&["workspace", "create", "prod"]);
    for v in w.credential_vars() {
        tern(&["var", "set", &v, "--workspace", "prod"]);
    }
    tern(&[
        "var",
        "set",
        &format!("python={}", tern_testkit::peers::python().display()),
        "--terraform",
        "--workspace",
        "prod",
    ]);

    // The user's side: a configuration with a remote backend and a CLI configuration with the
    // token, exactly as for HCP Terraform.
    let body = r#"variable "python" { type = string }
resource "null_resource" "check" {
  provisioner "local-exec" {
    command = "${var.python} e2e_check.py"
  }
}
output "workspace" { value = "checked" }
"#;
    let dir = w.remote_config(&h, "laptop", "acme", "prod", body);
    std::fs::copy(tern_testkit::peers::python_scripts().join("e2e_check.py"), dir.join("e2e_check.py"))
        .unwrap();
    let terraform = |args: &[&str]| laptop_terraform(&w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    let init = terraform(&["init", "-input=false"]);
    init.success();
    assert!(init.stdout.contains("Successfully configured the backend \"remote\""), "{init}");
    let plan = terraform(&["plan", "-input=false"]);
    plan.success();
    assert!(plan.stdout.contains("Running plan in the remote backend"), "{plan}");
    assert!(plan.stdout.contains("[tern] plan of run"), "the remote log is streamed: {plan}");
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{plan}");
    let apply = terraform(&["apply", "-input=false", "-auto-approve"]);
    apply.success();
    assert!(
        apply.stdout.contains("assumed role: arn:aws:sts::123456789012:assumed-role/tern-run/"),
        "{apply}"
    );
    assert!(apply.stdout.contains("read secret/data/app from Vault"), "{apply}");
    assert!(apply.stdout.contains("Apply complete! Resources: 1 added"), "{apply}");

    // The state Terraform sees is the state tern stores; the runs are tern runs like any other.
    let pulled = terraform(&["state", "pull"]);
    pulled.success();
    let ours: Value = serde_json::from_str(&tern(&["state", "pull", "--workspace", "prod"])).unwrap();
    let theirs: Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(ours, theirs);
    let outputs = terraform(&["output", "-json"]);
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    assert_eq!(outputs["workspace"]["value"], "checked");
    let runs = tern(&["run", "list", "--workspace", "prod"]);
    assert!(runs.contains("applied") && runs.contains("planned_and_finished"), "{runs}");
    assert_eq!(w.vault_tokens(), 0);
}

/// Terraform on "a laptop": `dir` with a CLI configuration holding `token` for `host` and the
/// provider mirror, trusting the test CA.
fn laptop_terraform(
    w: &World,
    dir: &Path,
    host: &str,
    token: &str,
    ca: &Path,
    args: &[&str],
) -> crate::support::Run {
    laptop_terraform_with(&tern_testkit::peers::terraform(), w, dir, host, token, ca, args)
}

/// [`laptop_terraform`] with another Terraform binary.
pub(crate) fn laptop_terraform_with(
    binary: &Path,
    w: &World,
    dir: &Path,
    host: &str,
    token: &str,
    ca: &Path,
    args: &[&str],
) -> crate::support::Run {
    let cli_config = dir.with_extension("tfrc");
    std::fs::write(
        &cli_config,
        format!(
            "credentials \"{host}\" {{\n  token = \"{token}\"\n}}\nprovider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            w.s.shared().join("mirror").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary);
    // `-no-color` before a saved plan file, which must come last; at the end otherwise.
    match args.split_last() {
        Some((file, rest)) if file.ends_with(".tfplan") => cmd.args(rest).arg("-no-color").arg(file),
        _ => cmd.args(args).arg("-no-color"),
    };
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.s.home())
        .env("TF_CLI_CONFIG_FILE", &cli_config)
        .env("SSL_CERT_FILE", ca)
        .env("TF_IN_AUTOMATION", "1");
    run(&mut cmd)
}

#[test]
fn the_remote_backend_explains_a_wrong_token_or_organization_and_creates_a_missing_workspace() {
    let w = World::new();
    let h = w.serve_https(&["--workers", "0"]);
    w.tern_https(&h, &["org", "create", "acme"]).success();
    // An organization token from the CLI works for its organization.
    let org_token = w.tern_https(&h, &["org", "token", "acme", "--description", "laptop"]);
    org_token.success();
    let org_token = org_token.stdout.trim().to_owned();
    assert!(org_token.starts_with("tern-org."), "{org_token}");
    let init = |org: &str, workspace: &str, token: &str| {
        let dir = w.remote_config(&h, &format!("laptop-{org}-{workspace}"), org, workspace, "");
        laptop_terraform(&w, &dir, &h.host, token, &h.ca.ca_cert, &["init", "-input=false"])
    };
    let out = init("nope", "app", ADMIN);
    out.failure(1);
    assert!(
        out.stderr.contains("organization \"nope\" at host") && out.stderr.contains("not found"),
        "{out}"
    );
    let out = init("acme", "app", "tern-org.not-a-real-token");
    out.failure(1);
    assert!(
        out.stderr.contains("Failed to read organization \"acme\"") && out.stderr.contains("unauthorized"),
        "{out}"
    );
    // A workspace the configuration names but tern does not have is created, as by TFE.
    init("acme", "brand-new", &org_token).success();
    let shown = w.tern_https(&h, &["workspace", "show", "brand-new"]);
    shown.success();
    assert!(shown.stdout.contains("project:           Default Project"), "{shown}");
}

#[test]
fn local_execution_keeps_the_state_in_tern_and_the_lock_stops_a_second_apply() {
    let w = World::new();
    let h = w.serve_https(&["--workers", "0"]);
    let tern = |args: &[&str]| w.tern_https(&h, args);
    tern(&["org", "create", "acme"]).success();
    tern(&["workspace", "create", "laptop", "--execution-mode", "local"]).success();
    let body = "resource \"null_resource\" \"here\" {\n  provisioner \"local-exec\" { command = \"echo ran on the laptop\" }\n}\n";
    let dir = w.remote_config(&h, "local-config", "acme", "laptop", body);
    let terraform = |args: &[&str]| laptop_terraform(&w, &dir, &h.host, ADMIN, &h.ca.ca_cert, args);
    terraform(&["init", "-input=false"]).success();
    let apply = terraform(&["apply", "-input=false", "-auto-approve"]);
    apply.success();
    assert!(apply.stdout.contains("(local-exec): ran on the laptop"), "{apply}");
    assert!(!apply.stdout.contains("Running apply in the remote backend"), "{apply}");
    let states = tern(&["state", "list", "--workspace", "laptop"]);
    states.success();
    assert_eq!(states.stdout.lines().count(), 1, "one state version, written by the client: {states}");
    let pulled: Value =
        serde_json::from_str(&tern(&["state", "pull", "--workspace", "laptop"]).stdout).unwrap();
    assert_eq!(pulled["resources"][0]["type"], "null_resource");
    let out = tern(&["run", "start", "--workspace", "laptop", "--dir", dir.to_str().unwrap()]);
    out.failure(1);
    assert!(out.stderr.contains("uses local execution"), "{out}");

    // Another apply holds the lock: this one waits for nothing and says why.
    tern(&["workspace", "lock", "laptop"]).success();
    let blocked = terraform(&["apply", "-input=false", "-auto-approve"]);
    blocked.failure(1);
    assert!(
        blocked.stderr.contains("Error acquiring the state lock")
            && blocked.stderr.contains("already locked"),
        "{blocked}"
    );
    tern(&["workspace", "unlock", "laptop"]).success();
    terraform(&["apply", "-input=false", "-auto-approve"]).success();
}

#[test]
fn ctrl_c_in_the_terraform_cli_cancels_the_remote_apply() {
    let w = World::new();
    let h = w.serve_https(&["--grace", "5s"]);
    let tern = |args: &[&str]| w.tern_https(&h, args);
    tern(&["org", "create", "acme"]).success();
    tern(&["workspace", "create", "slow"]).success();
    tern(&["var", "set", &format!("TF_CLI_CONFIG_FILE={}", w.tfrc.display()), "--workspace", "slow"])
        .success();
    let body = "resource \"null_resource\" \"slow\" {\n  provisioner \"local-exec\" { command = \"sleep 120\" }\n}\n";
    let dir = w.remote_config(&h, "slow-config", "acme", "slow", body);
    let (host, ca) = (&h.host, &h.ca);
    laptop_terraform(&w, &dir, host, ADMIN, &ca.ca_cert, &["init", "-input=false"]).success();
    // Spawn the apply as a terminal would: in its own process group, which Ctrl-C signals as a
    // whole (Terraform 1.0 runs as two processes; the outer one ignores SIGINT).
    let mut apply = Command::new(tern_testkit::peers::terraform());
    apply
        .args(["apply", "-input=false", "-auto-approve", "-no-color"])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.s.home())
        .env("TF_CLI_CONFIG_FILE", dir.with_extension("tfrc"))
        .env("SSL_CERT_FILE", &ca.ca_cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut apply, 0);
    let mut child = apply.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    wait_for("the remote apply to start its provisioner", Duration::from_secs(90), || {
        seen.lock().unwrap().contains("Provisioning with 'local-exec'")
    });
    let started = Instant::now();
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let _ = child.wait().unwrap();
    reader.join().unwrap();
    let output = seen.lock().unwrap().clone();
    assert!(output.contains("The remote operation was successfully cancelled"), "{output}");
    wait_for("the run to be canceled on the server", Duration::from_secs(30), || {
        tern(&["run", "list", "--workspace", "slow"]).stdout.lines().next().unwrap_or("").contains("canceled")
    });
    assert!(started.elapsed() < Duration::from_secs(60), "canceled, not waited out: {:?}", started.elapsed());
    let shown = tern(&["workspace", "show", "slow"]);
    assert!(shown.stdout.contains("active run:        -"), "the workspace is free again: {shown}");
}

/// A directory without Terraform files plans to destroy everything (tern's backend file would be
/// the whole configuration): `tern run start` refuses it, and so does the runner when the
/// workspace's working directory holds none.
#[test]
fn a_configuration_without_terraform_files_never_plans() {
    let w = World::new();
    let server = w.serve(&["--terraform-config", w.tfrc.to_str().unwrap()]);
    w.ok(&server, &["org", "create", "acme"]);
    w.ok(&server, &["workspace", "create", "prod"]);
    let empty = w.s.path().join("not-a-configuration");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("README.md"), "notes\n").unwrap();
    let out =
        run(w.cli(&server).args(["run", "start", "--workspace", "prod", "--dir", empty.to_str().unwrap()]));
    out.failure(2);
    assert!(out.stderr.contains("holds no Terraform files (*.tf or *.tf.json)"), "{out}");
    assert!(out.stderr.contains("would destroy everything in prod's state"), "{out}");

    // The configuration has files, but not in the workspace's working directory.
    w.ok(&server, &["workspace", "create", "nested", "--working-directory", "infra"]);
    let config = w.config_with("root-only", "resource \"null_resource\" \"x\" {}\n");
    std::fs::create_dir_all(config.join("infra")).unwrap();
    std::fs::write(config.join("infra/README.md"), "moved\n").unwrap();
    let refused = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "nested",
        "--dir",
        config.to_str().unwrap(),
    ]));
    refused.failure(2);
    assert!(refused.stderr.contains("infra holds no Terraform files"), "{refused}");
}
