//! The attack suite (issue 15): a tenant of organization `evil`, holding only its organization
//! token, runs a configuration whose `local-exec` tries to read what the server and another
//! tenant hold, while organization `acme`'s apply is running with a sensitive variable, a live
//! AWS token file and a Vault token. Every phase runs in the sandbox (the default).

use std::time::{Duration, Instant};

use crate::peers::openbao_trusts;
use crate::runs::World;
use crate::support::run;

/// What the attacker's `local-exec` tries. Each line it prints starting with `LEAK` is a hole.
fn probe(
    data: &str,
    root: &str,
    targets: &str,
    allowed_ip: &str,
    allowed_port: u16,
    api_port: &str,
) -> String {
    format!(
        r#"#!/bin/sh
DATA='{data}'
ROOT='{root}'
# The network: this host's loopback services (PostgreSQL, tern's own listener) by every route,
# its own addresses, a link-local address standing in for the metadata endpoint.
for t in {targets}; do
  timeout 3 bash -c "exec 3<>/dev/tcp/${{t%:*}}/${{t##*:}}" 2>/dev/null && echo "LEAK-CONNECTS $t"
done
# The control: what the operator allowed (a peer on this host's loopback) is reachable.
timeout 3 bash -c "exec 3<>/dev/tcp/{allowed_ip}/{allowed_port}" 2>/dev/null && echo "REACHES-ALLOWED"
# tern's own API, as a phase on HCP Terraform reaches its API: allowed without being listed.
timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/{api_port}" 2>/dev/null && echo "REACHES-API"
JOB="$(dirname "$PWD")"
# The phase's own job directory and credentials are there; nothing else may be.
for f in "$DATA"/* "$ROOT"/keys/* "$ROOT"/* "$ROOT"/data/*; do
  [ -f "$f" ] && echo "LEAK-SEES-FILE $f"
done
for d in "$DATA"/work/*; do
  [ -e "$d" ] && [ "$d" != "$JOB" ] && echo "LEAK-SEES-JOB $d"
done
for d in "$DATA"/credentials/*; do
  [ -e "$d" ] && [ "$(basename "$d")" != "$TFC_RUN_ID" ] && echo "LEAK-SEES-CREDENTIALS $d"
done
cat "$DATA/tern.db" >/dev/null 2>&1 && echo "LEAK-READS-DB"
for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -q -e DEPLOY_PASSWORD -e TERN_ADMIN_TOKEN -e AWS_WEB_IDENTITY_TOKEN_FILE -e VAULT_TOKEN; then
    echo "LEAK-ENVIRON $p $(cat $p/comm)"
  fi
done
touch "$ROOT/pwned" 2>/dev/null && echo "LEAK-WRITES-OUTSIDE"
touch "$DATA/pwned" 2>/dev/null && echo "LEAK-WRITES-DATA"
echo "SIBLING-JOBS $(ls -A "$(dirname "$JOB")" | wc -l)"
echo "PROCESSES $(ls -d /proc/[0-9]* | wc -l)"
echo "UID $(id -u)"
echo "PROBE-DONE"
"#
    )
}

#[test]
fn a_tenants_run_cannot_reach_the_servers_keys_or_another_tenants_secrets() {
    attack(Runner::ServersWorkers);
}

/// The same attack on one `tern agent` running both phases at once (`--concurrency 2`). An
/// agent's token serves one organization, so the victim and the attacker are two workspaces of
/// it: the attacker's phase must still see nothing of the other job on the same agent.
#[test]
fn a_run_on_an_agent_cannot_reach_the_job_it_runs_beside() {
    attack(Runner::Agent);
}

#[derive(Clone, Copy, PartialEq)]
enum Runner {
    ServersWorkers,
    Agent,
}

fn attack(runner: Runner) {
    let w = World::new();
    // The operator's CLI configuration (the provider mirror) reaches every phase: the attacker's
    // workspace does not set TF_CLI_CONFIG_FILE.
    let tfrc = w.tfrc.display().to_string();
    let workers = if runner == Runner::Agent { "0" } else { "2" };
    let server = w.serve(&["--workers", workers, "--terraform-config", &tfrc]);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    // Where the phases' jobs and credentials are: the server's data directory, or the agent's.
    let agent_home = tempfile::tempdir().unwrap();
    let (data, agent) = match runner {
        Runner::ServersWorkers => (w.s.path().join("data"), None),
        Runner::Agent => {
            let _ = run(w.cli(&server).args(["org", "create", "acme"]));
            let token = w.ok(&server, &["agent-token", "create"]).trim().to_owned();
            let log = std::fs::File::create(w.s.path().join("agent.log")).unwrap();
            let mut agent = w.s.tern();
            agent
                .args(["agent", "--server", &server.base, "--name", "shared", "--concurrency", "2"])
                .args(["--terraform-config", &tfrc])
                .env("TERN_AGENT_TOKEN", &token)
                .env("XDG_RUNTIME_DIR", agent_home.path())
                .env("PATH", w.path_var())
                .stdout(std::process::Stdio::null())
                .stderr(log);
            (agent_home.path().join("tern"), Some(crate::peers::Daemon(agent.spawn().unwrap())))
        }
    };

    // The victim: acme's apply holds its credentials for a while.
    w.workspace(&server, "prod", &[]); // the workspace OpenBao trusts
    let victim_config = w.config_with(
        "victim-config",
        r#"terraform {
  required_providers {
    null = { source = "hashicorp/null" }
  }
}
variable "python" { type = string }
resource "null_resource" "check" {
  provisioner "local-exec" {
    command = "${var.python} e2e_check.py && sleep 20"
  }
}
"#,
    );
    let started = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "prod",
        "--dir",
        victim_config.to_str().unwrap(),
        "--auto-apply",
        "--no-follow",
    ]));
    started.success();
    let victim_run = started.stdout.lines().next().unwrap().trim().to_owned();

    // The attacker: its own organization and token, nothing else (on the agent: a workspace of
    // the organization the agent serves, with that organization's token).
    let org = if runner == Runner::Agent { "acme" } else { "evil" };
    if runner == Runner::ServersWorkers {
        w.ok(&server, &["org", "create", "evil"]);
    }
    let token = w.ok(&server, &["org", "token", org]).trim().to_owned();
    let evil = |args: &[&str]| {
        let mut cmd = w.s.tern();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", &token).env("TERN_ORG", org).args(args);
        run(&mut cmd)
    };
    evil(&["workspace", "create", "attack"]).success();
    // Loader variables a tenant may set: they must not reach the privileged steps.
    evil(&["var", "set", "LD_PRELOAD=/nonexistent/evil.so", "--workspace", "attack"]).success();
    let attack = w.s.path().join("attack-config");
    std::fs::create_dir_all(&attack).unwrap();
    // Targets: host:port pairs a phase must not reach.
    let server_port = server.base.rsplit(':').next().unwrap().trim_end_matches('/').to_owned();
    let mut targets =
        vec!["127.0.0.1:5432".to_owned(), "10.0.2.2:5432".to_owned(), "169.254.169.254:80".to_owned()];
    // The server's other listeners (its workers' loopback listener): not its API, not reachable.
    let others: Vec<u16> =
        server.listening_ports().into_iter().filter(|p| p.to_string() != server_port).collect();
    assert!(runner == Runner::Agent || !others.is_empty(), "tern serve with workers has a second listener");
    for port in others {
        targets.push(format!("127.0.0.1:{port}"));
        targets.push(format!("10.0.2.2:{port}"));
    }
    for addr in tern_sandbox::egress::host_addresses().unwrap() {
        // (127.0.0.1 is tern's API: reachable, the control below.)
        if let std::net::IpAddr::V4(v4) = addr
            && !v4.is_loopback()
        {
            targets.push(format!("{v4}:5432"));
            targets.push(format!("{v4}:{server_port}"));
        }
    }
    // A listener on a link-local address of this host, standing in for the metadata endpoint,
    // where the host can add one (root): the phase must not reach it.
    // (One a failed earlier run left is removed first.)
    let _ = std::process::Command::new("ip")
        .args(["addr", "del", "169.254.169.254/32", "dev", "lo"])
        .stderr(std::process::Stdio::null())
        .status();
    let metadata = std::process::Command::new("ip")
        .args(["addr", "add", "169.254.169.254/32", "dev", "lo"])
        .status()
        .is_ok_and(|s| s.success());
    let _metadata_listener =
        metadata.then(|| std::net::TcpListener::bind("169.254.169.254:80").ok()).flatten();
    let probe_text = probe(
        &data.display().to_string(),
        &w.s.path().display().to_string(),
        &targets.join(" "),
        "127.0.0.1",
        w.moto_port,
        &server_port,
    );
    std::fs::write(attack.join("probe.sh"), probe_text).unwrap();
    std::fs::write(
        attack.join("main.tf"),
        r#"terraform {
  required_providers {
    null = { source = "hashicorp/null" }
  }
}
resource "null_resource" "probe" {
  provisioner "local-exec" {
    command = "sh probe.sh"
  }
}
"#,
    )
    .unwrap();

    // Attack while the victim's apply runs (its check printed, its sleep going).
    // The victim's status reaches `want` (never errored on the way) within 90 s.
    let victim_reaches = |want: &str, what: &str| {
        let until = Instant::now() + Duration::from_secs(90);
        loop {
            let shown = w.ok(&server, &["run", "show", &victim_run]);
            if shown.contains(want) {
                return;
            }
            assert!(!shown.contains("errored"), "{shown}");
            assert!(Instant::now() < until, "{what}: {shown}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    victim_reaches("applying", "the victim's apply never started");
    let out =
        evil(&["run", "start", "--workspace", "attack", "--dir", attack.to_str().unwrap(), "--auto-apply"]);
    out.success();
    // Both ran at once: the victim's apply (20 s of sleep) is still going.
    let shown = w.ok(&server, &["run", "show", &victim_run]);
    assert!(shown.contains("status:       applying"), "the attack ran beside the victim: {shown}");
    let log = &out.stdout;
    assert!(log.contains("PROBE-DONE"), "{out}");
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains("LEAK")).collect();
    assert!(leaks.is_empty(), "the sandbox let a phase reach: {leaks:#?}\n{out}");
    assert!(log.contains("SIBLING-JOBS 1"), "other jobs are invisible: {out}");
    assert!(log.contains("REACHES-ALLOWED"), "the control: an allowed peer is reachable: {out}");
    assert!(log.contains("REACHES-API"), "tern's API is reachable without --allow-egress: {out}");
    let processes: usize = log
        .lines()
        .find_map(|l| l.split("PROCESSES ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX);
    assert!(processes <= 12, "only the phase's own processes are visible ({processes}): {out}");
    if nix::unistd::geteuid().is_root() {
        assert!(log.contains("UID 65534"), "as root, phases run as nobody: {out}");
    }
    assert!(!w.s.path().join("pwned").exists() && !data.join("pwned").exists());
    for secret in ["a-sensitive-workspace-value", super::runs::ADMIN] {
        assert!(!log.contains(secret), "{secret} reached the attacker: {out}");
    }

    // The victim's run was not disturbed.
    victim_reaches("status:       applied", "the victim's run did not finish");
    if metadata {
        let _ = std::process::Command::new("ip")
            .args(["addr", "del", "169.254.169.254/32", "dev", "lo"])
            .status();
    }
    let (_, logs) = server.stop();
    if runner == Runner::Agent {
        drop(agent);
        let agent_log = std::fs::read_to_string(w.s.path().join("agent.log")).unwrap();
        assert!(agent_log.contains("phases run in a sandbox"), "{agent_log}");
        assert!(agent_log.contains("network confined"), "{agent_log}");
        // Both phases ran on this agent, at the same time.
        let claims = logs.lines().filter(|l| l.contains("job claimed") && l.contains("agent=shared")).count();
        assert!(claims >= 3, "the agent ran the victim's plan and apply and the attack: {logs}");
    } else {
        assert!(logs.contains("phases run in a sandbox") && logs.contains("network confined"), "{logs}");
    }
}

/// The operator's `--ca-bundle` reaches every phase: Terraform (Go) fetches a module from a host
/// signed by a private CA, and curl reads tern's own API over TLS, reached through the egress
/// filter without `--allow-egress` (the module host needs it: it is another loopback service).
#[test]
fn phases_trust_the_operators_ca_bundle_and_reach_terns_api() {
    let w = World::new();
    let ca = tern_testkit::tls::TestCa::generate(&w.s.shared().join("ca"));
    // The module host: a directory served over TLS with a certificate of that CA.
    let files = w.s.shared().join("modules");
    let module = w.s.path().join("module-src");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(module.join("main.tf"), "output \"greeting\" { value = \"hello over private TLS\" }\n")
        .unwrap();
    let packed = std::process::Command::new("tar")
        .args([
            "czf",
            files.join("greeting.tar.gz").to_str().unwrap(),
            "-C",
            module.to_str().unwrap(),
            "main.tf",
        ])
        .status()
        .unwrap();
    assert!(packed.success());
    let host = crate::peers::Peer::python(
        "https_files.py",
        &[
            "--dir",
            files.to_str().unwrap(),
            "--cert",
            ca.server_cert.to_str().unwrap(),
            "--key",
            ca.server_key.to_str().unwrap(),
        ],
    );
    let host_port = host.info["port"].as_u64().unwrap();
    w.s.allow_egress(&format!("127.0.0.1:{host_port}"));

    let tfrc = w.tfrc.display().to_string();
    let server = w.serve(&[
        "--tls-cert",
        ca.server_cert.to_str().unwrap(),
        "--tls-key",
        ca.server_key.to_str().unwrap(),
        "--ca-bundle",
        ca.ca_cert.to_str().unwrap(),
        "--terraform-config",
        &tfrc,
    ]);
    let api = server.issuer.clone();
    assert!(api.starts_with("https://localhost:"), "{api}");
    let config = w.config_with(
        "tls-config",
        &format!(
            r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null" }}
  }}
}}
module "greeting" {{
  source = "https://localhost:{host_port}/greeting.tar.gz"
}}
resource "null_resource" "api" {{
  provisioner "local-exec" {{
    command = "curl -sS --max-time 10 {api}/.well-known/openid-configuration; echo; echo \"bundle $SSL_CERT_FILE\""
  }}
}}
output "greeting" {{ value = module.greeting.greeting }}
"#
        ),
    );
    let cli = |args: &[&str]| {
        let mut cmd = w.s.tern();
        cmd.env("TERN_SERVER", &api)
            .env("SSL_CERT_FILE", &ca.ca_cert)
            .env("TERN_TOKEN", super::runs::ADMIN)
            .env("TERN_ORG", "acme")
            .args(args);
        run(&mut cmd)
    };
    cli(&["org", "create", "acme"]).success();
    cli(&["workspace", "create", "tls"]).success();
    let out = cli(&["run", "start", "--workspace", "tls", "--dir", config.to_str().unwrap(), "--auto-apply"]);
    out.success();
    let log = &out.stdout;
    assert!(log.contains("Apply complete! Resources: 1 added"), "{out}");
    assert!(log.contains(&format!("\"issuer\": \"{api}\"")), "curl read tern's discovery document: {out}");
    assert!(log.contains("bundle /") && log.contains("phase-ca-bundle.pem"), "{out}");
    let state = cli(&["state", "pull", "--workspace", "tls"]);
    state.success();
    assert!(state.stdout.contains("hello over private TLS"), "Terraform fetched the module: {state}");
    let (_, logs) = server.stop();
    assert!(logs.contains("phases trust the system's roots and 1 certificate(s)"), "{logs}");
}
