//! Crash and restart: `kill -9` of the server and of a separate agent at random points across
//! many runs, on SQLite and on PostgreSQL, from a fixed, printed seed (`TERN_CRASH_SEED`, `TERN_CRASH_ROUNDS` to change).
//! Afterwards no run is stuck, no credential file remains, every run's apply ran at most once and
//! only while its run was alive, state versions form one unbroken lineage, and no Vault token of
//! a dead phase is left (they are revoked when the killed process starts again).
//!
//! Also: `kill -9` of the server while clients mint job tokens as fast as they can, on both
//! backends: every token a client received has its `token.minted` record in the audit trail
//! after the restart, once (the record is committed before the token is returned).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::peers::{free_port, openbao_role, openbao_trusts};
use crate::runs::{ADMIN, World, call};
use crate::support::{Scratch, Server, run};

/// xorshift64*: tiny, deterministic, enough to pick kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn unix_ms() -> u128 {
    std::time::UNIX_EPOCH.elapsed().map(|d| d.as_millis()).unwrap_or(0)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The Vault role's token TTL, in seconds.
const VAULT_TOKEN_TTL_S: u64 = 30;

const TERMINAL: [&str; 5] = ["applied", "planned_and_finished", "errored", "canceled", "discarded"];

struct Agent {
    child: Child,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(w: &World, server: &Server, token: &str, dir: &Path, log: &Path) -> Agent {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child =
        w.s.tern()
            .args(["agent", "--server", &server.base, "--name", "crash-agent"])
            .env("TERN_AGENT_TOKEN", token)
            .env("XDG_RUNTIME_DIR", dir)
            .env("PATH", w.path_var())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
    Agent { child }
}

fn status_of(w: &World, server: &Server, run_id: &str) -> String {
    let shown = run(w.cli(server).args(["run", "show", run_id])).stdout;
    shown.lines().find_map(|l| l.strip_prefix("status:")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The configuration: a resource replaced on every run whose apply writes `start` and `end`
/// lines (with the run id) to a ledger around a pause and the AWS + Vault check.
fn crash_config(w: &World, ledger: &Path) -> PathBuf {
    w.config_with(
        "crash-config",
        &format!(
            r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null" }}
  }}
}}
variable "python" {{ type = string }}
resource "null_resource" "step" {{
  triggers = {{ always = timestamp() }}
  provisioner "local-exec" {{
    command = "echo \"$TFC_RUN_ID start $(date +%s%3N)\" >> {ledger}; sleep 4; ${{var.python}} e2e_check.py > /dev/null; echo \"$TFC_RUN_ID end $(date +%s%3N)\" >> {ledger}"
  }}
}}
"#,
            ledger = ledger.display()
        ),
    )
}

#[test]
fn kill_9_of_server_and_agent_at_random_points_loses_nothing() {
    crash_rounds(None, 5);
}

#[test]
fn kill_9_of_server_and_agent_at_random_points_loses_nothing_on_postgres() {
    let db = tern_testkit::db::TestDatabase::postgres();
    crash_rounds(Some(&db.url), 3);
}

fn crash_rounds(database_url: Option<&str>, default_rounds: u64) {
    let seed = env_u64("TERN_CRASH_SEED", 0x7e41_2026);
    let rounds = env_u64("TERN_CRASH_ROUNDS", default_rounds);
    let backend = if database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    eprintln!(
        "crash test ({backend}): seed {seed:#x}, {rounds} rounds (set TERN_CRASH_SEED / TERN_CRASH_ROUNDS)"
    );
    let mut rng = Rng(seed | 1);
    let w = World::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", listen.as_str(), "--workers", "1"];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    let serve = || w.serve(&args);
    let mut server = Some(serve());
    openbao_trusts(&w.bao_addr, &server.as_ref().unwrap().issuer, "5m");
    // A short token TTL (renewed while a phase runs): a token no recovery can revoke, because
    // its runner died while Vault answered the login, must be gone soon after.
    openbao_role(&w.bao_addr, "crash-*", &format!("{VAULT_TOKEN_TTL_S}s"));
    let workspaces = ["crash-0", "crash-1", "crash-2"];
    for ws in workspaces {
        w.workspace(server.as_ref().unwrap(), ws, &["--auto-apply"]);
    }
    let ledger = w.s.exchange().join("ledger.txt");
    let config = crash_config(&w, &ledger);
    let agent_token = w.ok(server.as_ref().unwrap(), &["agent-token", "create"]).trim().to_owned();
    let agent_dir = tempfile::tempdir().unwrap();
    let agent_log = w.s.path().join("agent.log");
    let mut agent =
        Some(start_agent(&w, server.as_ref().unwrap(), &agent_token, agent_dir.path(), &agent_log));

    let mut all_runs: Vec<String> = Vec::new();
    let mut recovered_times = std::collections::BTreeMap::<String, u128>::new();
    let mut kills = (0, 0); // (server, agent)
    let mut server_logs = String::new();
    for round in 0..rounds {
        let srv = server.as_ref().unwrap();
        let mut round_runs = Vec::new();
        for ws in workspaces {
            let out = run(w.cli(srv).args([
                "run",
                "start",
                "--workspace",
                ws,
                "--dir",
                config.to_str().unwrap(),
                "--no-follow",
            ]));
            out.success();
            round_runs.push(out.stdout.trim().to_owned());
        }
        let delay = Duration::from_millis(200 + rng.below(6000));
        let victim = rng.below(3); // 0 server, 1 agent, 2 both
        let pause = Duration::from_millis(rng.below(800));
        std::thread::sleep(delay);
        let statuses: Vec<String> = round_runs.iter().map(|r| status_of(&w, srv, r)).collect();
        eprintln!(
            "round {round}: kill -9 {} after {} ms (runs then: {statuses:?}), restart after {} ms",
            ["server", "agent", "server and agent"][victim as usize],
            delay.as_millis(),
            pause.as_millis()
        );
        if victim != 1 {
            server_logs.push_str(&server.take().unwrap().kill9());
            kills.0 += 1;
        }
        if victim != 0 {
            agent.take();
            kills.1 += 1;
        }
        std::thread::sleep(pause);
        if server.is_none() {
            server = Some(serve());
        }
        if agent.is_none() {
            // The agent recovers before it says it is serving; wait for that line.
            let serving =
                || std::fs::read_to_string(&agent_log).unwrap_or_default().matches(" serving ").count();
            let before = serving();
            agent =
                Some(start_agent(&w, server.as_ref().unwrap(), &agent_token, agent_dir.path(), &agent_log));
            let deadline = Instant::now() + Duration::from_secs(30);
            while serving() == before {
                assert!(Instant::now() < deadline, "the restarted agent never started serving");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Both recover before they say they are ready (the server's listening line, the agent's
        // serving line): from here on nothing of a killed phase may run.
        let recovered_at = unix_ms();
        let srv = server.as_ref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        for r in &round_runs {
            loop {
                let st = status_of(&w, srv, r);
                if TERMINAL.contains(&st.as_str()) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "run {r} stuck in {st:?} after round {round}\n--- server\n{}\n--- agent\n{}",
                    srv.logs(),
                    std::fs::read_to_string(&agent_log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        recovered_times.extend(round_runs.iter().map(|r| (r.clone(), recovered_at)));
        all_runs.extend(round_runs);
    }

    // One more run per workspace with no kill: every workspace still works.
    let srv = server.as_ref().unwrap();
    for ws in workspaces {
        let out =
            run(w.cli(srv).args(["run", "start", "--workspace", ws, "--dir", config.to_str().unwrap()]));
        assert!(out.stderr.contains(": applied"), "{ws} after the crashes: {out}");
        all_runs.push(out.stdout.lines().next().unwrap().trim().to_owned());
    }

    // Statuses, and what the ledger says each run's apply did.
    let ledger_text = std::fs::read_to_string(&ledger).unwrap_or_default();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for r in &all_runs {
        let st = status_of(&w, srv, r);
        assert!(TERMINAL.contains(&st.as_str()), "{r}: {st}");
        let stamps = |what: &str| -> Vec<u128> {
            let prefix = format!("{r} {what} ");
            ledger_text.lines().filter_map(|l| l.strip_prefix(&prefix)?.parse().ok()).collect()
        };
        let (starts, ends) = (stamps("start").len(), stamps("end").len());
        // A phase whose runner was killed must not go on changing things once the runner has
        // started again: its run is errored and its workspace free for the next run.
        if st == "errored"
            && let Some(recovered) = recovered_times.get(r)
        {
            let late: Vec<u128> = stamps("end").into_iter().filter(|t| t > recovered).collect();
            assert!(
                late.is_empty(),
                "run {r}'s runner was killed and had recovered at {recovered}, but its apply went on until {late:?}"
            );
        }
        assert!(starts <= 1, "run {r} applied {starts} times\n{ledger_text}");
        if st == "applied" {
            assert_eq!((starts, ends), (1, 1), "applied run {r}\n{ledger_text}");
        }
        *tally.entry(st).or_default() += 1;
    }
    // No process of a killed phase survives it: every phase ran in a sandbox (a PID namespace
    // that dies with its runner), providers and local-exec children included. Processes of this
    // test's phases name its directory on their command line (job directory, configuration).
    let root = w.s.path().to_string_lossy().into_owned();
    let survivors: Vec<String> = tern_testkit::command_lines()
        .into_iter()
        .filter(|c| {
            c.contains(&root)
                && (c.contains("/work/") || c.contains("terraform"))
                && !c.contains("tern serve")
        })
        .filter(|c| !c.starts_with(super::support::bin()))
        .collect();
    assert!(survivors.is_empty(), "processes of killed phases still run: {survivors:#?}");
    eprintln!(
        "crash test ({backend}): {} runs, {} server kills, {} agent kills, outcomes {tally:?}",
        all_runs.len(),
        kills.0,
        kills.1
    );

    // State: per workspace, serials strictly increase and one lineage runs through them all.
    for ws in workspaces {
        let (status, ws_doc) =
            call("GET", &format!("{}/api/v2/organizations/acme/workspaces/{ws}", srv.base), ADMIN, None);
        assert_eq!(status, 200, "{ws_doc}");
        let id = ws_doc["data"]["id"].as_str().unwrap();
        let (status, list) = call(
            "GET",
            &format!("{}/api/v2/workspaces/{id}/state-versions?page[size]=100", srv.base),
            ADMIN,
            None,
        );
        assert_eq!(status, 200, "{list}");
        let mut serials: Vec<i64> = Vec::new();
        let mut lineages = std::collections::BTreeSet::new();
        for v in list["data"].as_array().unwrap() {
            let url = v["attributes"]["hosted-state-download-url"].as_str().unwrap();
            let (status, state) = call("GET", url, ADMIN, None);
            assert_eq!(status, 200, "{url}");
            assert_eq!(
                Some(v["attributes"]["serial"].as_i64().unwrap()),
                state["serial"].as_i64(),
                "{state}"
            );
            serials.push(state["serial"].as_i64().unwrap());
            lineages.insert(state["lineage"].as_str().unwrap().to_owned());
        }
        serials.sort_unstable();
        assert!(serials.windows(2).all(|p| p[0] < p[1]), "{ws}: serials {serials:?}");
        assert_eq!(lineages.len(), 1, "{ws}: one lineage, got {lineages:?}");
        assert!(!serials.is_empty(), "{ws}: the last run applied, so there is state");
    }

    // Nothing left behind: credential directories and Vault tokens of the dead phases.
    let server_creds = w.s.path().join("data/credentials");
    let agent_creds = agent_dir.path().join("tern/credentials");
    assert_eq!(w.credential_dirs(&server_creds), Vec::<String>::new(), "server credentials left");
    assert_eq!(w.credential_dirs(&agent_creds), Vec::<String>::new(), "agent credentials left");
    drop(agent);
    let (_, logs) = server.take().unwrap().stop();
    server_logs.push_str(&logs);
    assert!(!server_logs.contains("panicked"), "{server_logs}");
    vault_tokens_of_dead_phases(
        &w,
        &format!("{server_logs}{}", std::fs::read_to_string(&agent_log).unwrap()),
    );
}

/// Every Vault token of a dead phase is revoked when its runner starts again, except one that
/// Vault issued while the runner was being killed in the middle of the login, which tern never
/// received: recovery reports each such login (the phase records it before it logs in), and the
/// token expires with its TTL. So: no more tokens than reported logins outlive recovery, and all
/// are gone within the TTL.
fn vault_tokens_of_dead_phases(w: &World, logs: &str) {
    let revoked = logs.matches("revoked a Vault token left by a dead phase").count();
    let in_flight = logs.matches("was under way when the phase died").count();
    let left = w.vault_token_lookups();
    eprintln!(
        "Vault: {revoked} token(s) of dead phases revoked on restart, {in_flight} login(s) in flight at a kill, {} token(s) left to expire",
        left.len()
    );
    assert!(
        left.len() <= in_flight,
        "{} Vault token(s) outlived recovery, but only {in_flight} login(s) were in flight at a kill: {left:#?}",
        left.len()
    );
    // Nothing may still renew them: each is gone once the role's TTL has passed.
    let deadline = Instant::now() + Duration::from_secs(VAULT_TOKEN_TTL_S + 15);
    while w.vault_tokens() > 0 {
        assert!(
            Instant::now() < deadline,
            "tokens outlived their TTL (is something still renewing them?): {:#?}",
            w.vault_token_lookups()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Threads minting at once in the minting crash test.
const MINT_CLIENTS: usize = 8;

#[test]
fn kill_9_while_minting_loses_no_audit_record_of_a_returned_token() {
    mint_crash_rounds(None, 6);
}

#[test]
fn kill_9_while_minting_loses_no_audit_record_of_a_returned_token_on_postgres() {
    let db = tern_testkit::db::TestDatabase::postgres();
    mint_crash_rounds(Some(&db.url), 6);
}

/// `tern serve` with no workers (the test claims the job itself) on `database_url`, or on the
/// SQLite file of the scratch directory's data directory.
fn mint_serve(s: &Scratch, database_url: Option<&str>) -> Server {
    let mut cmd = s.tern_plain();
    cmd.env("TERN_ADMIN_TOKEN", ADMIN);
    // A lease longer than the test: the claimed job stays alive across the restarts.
    let mut args = vec!["--signing-key", "keys/rsa-2048.pem", "--workers", "0", "--job-lease", "10m"];
    if let Some(url) = database_url {
        args.extend(["--database-url", url]);
    }
    Server::start(cmd, &args)
}

/// The `jti` in a JWT's payload.
fn jti_of(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {jwt:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_else(|e| panic!("the JWT's payload is not base64url ({e}): {payload:?}"));
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap_or_else(|| panic!("no jti in {claims}")).to_owned()
}

/// What one client thread got in one round.
#[derive(Default)]
struct Minted {
    /// The jti of every token received in full.
    jtis: Vec<String>,
    /// Answers other than 200 (status and body).
    refused: Vec<String>,
}

/// Mint as fast as possible until `stop`; a request that fails in transit (the server is being
/// killed) returned no token and is simply tried again.
fn mint_until(url: &str, job_token: &str, stop: &AtomicBool, received: &AtomicUsize) -> Minted {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let body = json!({"audience": "sts.amazonaws.com", "ttl_seconds": 600}).to_string();
    let mut minted = Minted::default();
    while !stop.load(Ordering::SeqCst) {
        let Ok(response) = client.post(url).bearer_auth(job_token).body(body.clone()).send() else {
            continue;
        };
        let status = response.status().as_u16();
        let Ok(text) = response.text() else { continue };
        if status != 200 {
            minted.refused.push(format!("{status}: {text}"));
            continue;
        }
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let jti = jti_of(answer["token"].as_str().unwrap_or_else(|| panic!("no token in {answer}")));
        assert_eq!(answer["jti"].as_str(), Some(jti.as_str()), "the answer's jti is the token's");
        minted.jtis.push(jti);
        received.fetch_add(1, Ordering::SeqCst);
    }
    minted
}

/// Rounds of: clients mint from several threads, the server is killed with `kill -9` at a
/// random moment while their requests are in flight, and started again on the same database.
/// Then every jti a client received must be in the trail, and none twice.
fn mint_crash_rounds(database_url: Option<&str>, default_rounds: u64) {
    let started = Instant::now();
    let seed = env_u64("TERN_CRASH_SEED", 0x7e41_2026);
    let rounds = env_u64("TERN_CRASH_ROUNDS", default_rounds);
    let backend = if database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    eprintln!(
        "minting crash test ({backend}): seed {seed:#x}, {rounds} rounds, {MINT_CLIENTS} clients (set TERN_CRASH_SEED / TERN_CRASH_ROUNDS)"
    );
    let mut rng = Rng(seed | 1);
    let s = Scratch::new();
    let tern = |server: &Server, args: &[&str]| {
        let mut cmd = s.tern_plain();
        cmd.env("TERN_SERVER", &server.base).env("TERN_TOKEN", ADMIN).env("TERN_ORG", "acme").args(args);
        let out = run(&mut cmd);
        out.success();
        out.stdout
    };

    // A claimed job and its token, as an agent holds them.
    let mut server = mint_serve(&s, database_url);
    tern(&server, &["org", "create", "acme"]);
    tern(&server, &["workspace", "create", "app", "--terraform-version", "1.11.4"]);
    let dir = s.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), "# nothing\n").unwrap();
    tern(&server, &["run", "start", "--workspace", "app", "--dir", dir.to_str().unwrap(), "--no-follow"]);
    let agent = tern(&server, &["agent-token", "create"]).trim().to_owned();
    let (status, claimed) = call(
        "POST",
        &format!("{}/api/agent/jobs/claim", server.base),
        &agent,
        Some(json!({"agent": "mint-crash", "wait_seconds": 5, "terraform_versions": ["1.11.4"]})),
    );
    assert_eq!(status, 200, "{claimed}");
    let job = claimed["job"]["id"].as_str().unwrap().to_owned();
    let job_token = claimed["token"].as_str().unwrap().to_owned();

    let mut received: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut server_logs = String::new();
    for round in 0..rounds {
        let url = format!("{}/api/agent/jobs/{job}/token", server.base);
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..MINT_CLIENTS)
            .map(|_| {
                let (url, job_token, stop, count) =
                    (url.clone(), job_token.clone(), stop.clone(), count.clone());
                std::thread::spawn(move || mint_until(&url, &job_token, &stop, &count))
            })
            .collect();
        // Kill once the mints are under way, at a random moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while count.load(Ordering::SeqCst) == 0 {
            if Instant::now() > deadline {
                stop.store(true, Ordering::SeqCst);
                let refusals: Vec<String> =
                    clients.into_iter().flat_map(|c| c.join().unwrap().refused).take(5).collect();
                panic!("round {round}: no token minted within 10 s: {refusals:#?}\n{}", server.logs());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let delay = Duration::from_millis(rng.below(1500));
        std::thread::sleep(delay);
        let at_kill = count.load(Ordering::SeqCst);
        server_logs.push_str(&server.kill9());
        stop.store(true, Ordering::SeqCst);
        let mut in_round = 0;
        for client in clients {
            let minted = client.join().unwrap();
            in_round += minted.jtis.len();
            received.extend(minted.jtis);
            refused.extend(minted.refused);
        }
        eprintln!(
            "{backend} round {round}: kill -9 {} ms into the mints, {at_kill} tokens received before it, {in_round} in all",
            delay.as_millis()
        );
        server = mint_serve(&s, database_url);
    }

    // The trail, read by a server started again on the same database.
    let exported = tern(&server, &["audit", "--action", "token.minted", "--json"]);
    let mut in_trail = std::collections::BTreeMap::<String, usize>::new();
    for line in exported.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["actor"].as_str(), Some(job.as_str()), "{event}");
        let jti = event["details"]["jti"].as_str().unwrap_or_else(|| panic!("no jti: {event}"));
        *in_trail.entry(jti.to_owned()).or_default() += 1;
    }
    let (_, logs) = server.stop();
    server_logs.push_str(&logs);
    eprintln!(
        "minting crash test ({backend}): {} tokens received, {} token.minted records ({} committed but not received), {rounds} kills, {:.1} s",
        received.len(),
        in_trail.len(),
        in_trail.len().saturating_sub(received.len()),
        started.elapsed().as_secs_f64()
    );
    assert!(refused.is_empty(), "mints refused while the server ran: {refused:#?}");
    let mut seen = std::collections::BTreeSet::new();
    let twice: Vec<&String> = received.iter().filter(|j| !seen.insert(*j)).collect();
    assert!(twice.is_empty(), "tokens with the same jti were returned: {twice:?}");
    let missing: Vec<&String> = received.iter().filter(|j| !in_trail.contains_key(*j)).collect();
    assert!(
        missing.is_empty(),
        "{} of the {} tokens returned to clients have no token.minted record after the kill -9 (jti): {missing:?}",
        missing.len(),
        received.len()
    );
    let duplicated: Vec<(&String, &usize)> = in_trail.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "jti recorded more than once (jti, times): {duplicated:?}");
    assert!(!server_logs.contains("panicked"), "{server_logs}");
}
