//! The attack suite (issue 15): a tenant of organization `evil`, holding only its organization
//! token, runs a configuration whose `local-exec` tries to read what the server and another
//! tenant hold, while organization `acme`'s apply is running with a sensitive variable, a live
//! AWS token file and a Vault token. Every phase runs in the sandbox (the default).

use std::time::{Duration, Instant};

use crate::peers::openbao_trusts;
use crate::runs::World;
use crate::support::run;

/// What the attacker's `local-exec` tries. Each line it prints starting with `LEAK` is a hole.
fn probe(data: &str, root: &str, targets: &str, allowed_ip: &str, allowed_port: u16) -> String {
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
JOB="$(dirname "$PWD")"
# The phase's own job directory and credentials are there; nothing else may be.
for f in "$DATA"/* "$ROOT"/keys/* "$ROOT"/*; do
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
    let w = World::new();
    // The operator's CLI configuration (the provider mirror) reaches every phase: the attacker's
    // workspace does not set TF_CLI_CONFIG_FILE.
    let tfrc = w.tfrc.display().to_string();
    let server = w.serve(&["--workers", "2", "--terraform-config", &tfrc]);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    let data = w.s.path().join("data");

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
    command = "${var.python} e2e_check.py && sleep 8"
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

    // The attacker: its own organization and token, nothing else.
    w.ok(&server, &["org", "create", "evil"]);
    let token = w.ok(&server, &["org", "token", "evil"]).trim().to_owned();
    let evil = |args: &[&str]| {
        let mut cmd = w.s.tern();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", &token).env("TERN_ORG", "evil").args(args);
        run(&mut cmd)
    };
    evil(&["workspace", "create", "attack"]).success();
    // Loader variables a tenant may set: they must not reach the privileged steps.
    evil(&["var", "set", "LD_PRELOAD=/nonexistent/evil.so", "--workspace", "attack"]).success();
    let attack = w.s.path().join("attack-config");
    std::fs::create_dir_all(&attack).unwrap();
    // Targets: host:port pairs a phase must not reach.
    let server_port = server.base.rsplit(':').next().unwrap().trim_end_matches('/').to_owned();
    let mut targets = vec![
        "127.0.0.1:5432".to_owned(),
        "10.0.2.2:5432".to_owned(),
        format!("127.0.0.1:{server_port}"),
        format!("10.0.2.2:{server_port}"),
        "169.254.169.254:80".to_owned(),
    ];
    for addr in tern_sandbox::egress::host_addresses().unwrap() {
        if let std::net::IpAddr::V4(v4) = addr {
            targets.push(format!("{v4}:5432"));
            targets.push(format!("{v4}:{server_port}"));
        }
    }
    // A listener on a link-local address of this host, standing in for the metadata endpoint,
    // where the host can add one (root): the phase must not reach it.
    // (One a failed earlier run left is removed first.)
    let _ =
        std::process::Command::new("ip").args(["addr", "del", "169.254.169.254/32", "dev", "lo"]).status();
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
    let log = &out.stdout;
    assert!(log.contains("PROBE-DONE"), "{out}");
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains("LEAK")).collect();
    assert!(leaks.is_empty(), "the sandbox let a phase reach: {leaks:#?}\n{out}");
    assert!(log.contains("SIBLING-JOBS 1"), "other jobs are invisible: {out}");
    assert!(log.contains("REACHES-ALLOWED"), "the control: an allowed peer is reachable: {out}");
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
    assert!(logs.contains("phases run in a sandbox") && logs.contains("network confined"), "{logs}");
}
