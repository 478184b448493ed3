//! Concurrency and load against a real `tern serve`, on SQLite and on PostgreSQL: hundreds of
//! mint requests at once while the managed key rotates, the JWKS fetched throughout, every
//! token verified as it arrives by PyJWT and jose (one long-lived JWKS client each, jose with
//! cooldown 0); then many runs queued at once, drained by the server's workers and two agents
//! racing for jobs. Pass: no error, no verification failure, every token's key in every JWKS
//! fetched after the token was issued, and no run planned or applied twice.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::runs::{ADMIN, World, call, tern_store_key, wait_for};
use crate::support::{Server, run};

const AUDIENCE: &str = "load.example";
/// Mint requests in flight at once, per wave.
const WAVE: usize = 200;

/// A verifier process fed one token per line, answering one JSON line per token.
struct Verifier {
    name: &'static str,
    child: Child,
    answers: std::sync::mpsc::Receiver<String>,
}

impl Verifier {
    fn start(name: &'static str, issuer: &str) -> Verifier {
        let mut cmd = match name {
            "pyjwt" => {
                let mut c = Command::new(tern_testkit::peers::python());
                c.arg(tern_testkit::peers::python_scripts().join("verify_stream_pyjwt.py"));
                c
            }
            _ => {
                let dir = tern_testkit::peers::node_dir();
                let mut c = Command::new("node");
                c.arg(dir.join("verify-stream-jose.mjs")).current_dir(dir);
                c
            }
        };
        let mut child = cmd
            .args([issuer, AUDIENCE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Verifier { name, child, answers }
    }

    fn send(&mut self, token: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{token}").unwrap();
        stdin.flush().unwrap();
    }

    /// Close stdin and collect `n` verdicts.
    fn finish(mut self, n: usize) -> Vec<Value> {
        drop(self.child.stdin.take());
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let line = self
                .answers
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("{}: {} of {n} verdicts", self.name, out.len()));
            out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: {line:?}: {e}", self.name)));
        }
        let _ = self.child.wait();
        out
    }
}

struct Minted {
    received: Instant,
    kid: String,
}

struct JwksSeen {
    started: Instant,
    kids: Vec<String>,
}

fn plain_config(w: &World, ledger: &Path) -> std::path::PathBuf {
    let dir = w.s.path().join("load-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "terraform {{\n  required_providers {{\n    null = {{ source = \"hashicorp/null\" }}\n  }}\n}}\n\
             resource \"null_resource\" \"x\" {{\n  triggers = {{ always = timestamp() }}\n  \
             provisioner \"local-exec\" {{\n    command = \"echo $TFC_RUN_ID >> {}\"\n  }}\n}}\n",
            ledger.display()
        ),
    )
    .unwrap();
    dir
}

fn concurrency_and_load(postgres: bool) {
    let w = World::new();
    let db = postgres.then(tern_testkit::db::TestDatabase::postgres);
    let mut args = vec![
        "--managed-keys",
        "--key-publish-lead",
        "2s",
        "--rotate-keys-every",
        "off",
        "--jwks-max-age",
        "0s",
        "--workers",
        "0",
    ];
    let url;
    if let Some(db) = &db {
        url = db.url.clone();
        args.extend(["--database-url", &url]);
    }
    let server = {
        let mut cmd = w.s.tern();
        cmd.env("TERN_ADMIN_TOKEN", ADMIN)
            .env("PATH", w.path_var())
            .env("TERN_ENCRYPTION_KEY", tern_store_key());
        let data = w.s.path().join("data");
        args.extend(["--data-dir", data.to_str().unwrap()]);
        Server::start(cmd, &args)
    };
    let _ = run(w.cli(&server).args(["org", "create", "acme"]));
    let ledger = w.s.exchange().join("ledger.txt");
    let config = plain_config(&w, &ledger);

    // Four claimed plan jobs to mint for.
    let mut jobs = Vec::new();
    for i in 0..4 {
        let ws = format!("mint-{i}");
        w.ok(&server, &["workspace", "create", &ws]);
        w.ok(
            &server,
            &["run", "start", "--workspace", &ws, "--dir", config.to_str().unwrap(), "--no-follow"],
        );
    }
    let agent = w.ok(&server, &["agent-token", "create"]).trim().to_owned();
    for _ in 0..4 {
        let (status, claimed) = call(
            "POST",
            &format!("{}/api/agent/jobs/claim", server.base),
            &agent,
            Some(json!({"agent": "load", "terraform_versions": ["1.0.3"]})),
        );
        assert_eq!(status, 200, "{claimed}");
        jobs.push((
            claimed["job"]["id"].as_str().unwrap().to_owned(),
            claimed["token"].as_str().unwrap().to_owned(),
        ));
    }

    // Relying parties, started before the first token.
    let verifiers = Arc::new(Mutex::new(vec![
        Verifier::start("pyjwt", &server.issuer),
        Verifier::start("jose", &server.issuer),
    ]));
    let minted: Arc<Mutex<Vec<Minted>>> = Arc::default();
    let jwks_seen: Arc<Mutex<Vec<JwksSeen>>> = Arc::default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let http = reqwest::Client::builder().pool_max_idle_per_host(WAVE).build().unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let jwks_task = {
        let (http, base, seen, done) = (http.clone(), server.base.clone(), jwks_seen.clone(), done.clone());
        rt.spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let r = http.get(format!("{base}/.well-known/jwks")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let v: Value = r.json().await.unwrap();
                let kids = v["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["kid"].as_str().unwrap().to_owned())
                    .collect();
                seen.lock().unwrap().push(JwksSeen { started, kids });
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let wave = |label: &str| {
        let t0 = Instant::now();
        let results: Vec<(u16, Value)> = rt.block_on(async {
            let requests = (0..WAVE).map(|i| {
                let (job, token) = jobs[i % jobs.len()].clone();
                let (http, base) = (http.clone(), server.base.clone());
                async move {
                    let r = http
                        .post(format!("{base}/api/agent/jobs/{job}/token"))
                        .bearer_auth(&token)
                        .json(&json!({"audience": AUDIENCE, "ttl_seconds": 900}))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().await.unwrap_or(Value::Null))
                }
            });
            let handles: Vec<_> = requests.map(|f| tokio::spawn(f)).collect();
            let mut out = Vec::new();
            for h in handles {
                let (status, v) = h.await.unwrap();
                if status == 200 {
                    let token = v["token"].as_str().unwrap().to_owned();
                    minted.lock().unwrap().push(Minted {
                        received: Instant::now(),
                        kid: v["kid"].as_str().unwrap().to_owned(),
                    });
                    for verifier in verifiers.lock().unwrap().iter_mut() {
                        verifier.send(&token);
                    }
                }
                out.push((status, v));
            }
            out
        });
        let failed: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
        assert!(
            failed.is_empty(),
            "{label}: {} of {WAVE} mints failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        );
        eprintln!("{label}: {WAVE} concurrent mints in {} ms", t0.elapsed().as_millis());
    };
    wave("wave 1 (current key)");
    let kid_a = minted.lock().unwrap()[0].kid.clone();
    w.ok(&server, &["keys", "rotate", "--activate-in", "2s"]);
    wave("wave 2 (next key published, not yet signing)");
    let started = Instant::now();
    let mut waves = 2;
    loop {
        waves += 1;
        wave(&format!("wave {waves} (rotation {} ms in)", started.elapsed().as_millis()));
        if minted.lock().unwrap().last().is_some_and(|m| m.kid != kid_a) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the next key never started signing");
    }
    waves += 1;
    wave(&format!("wave {waves} (new key)"));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(jwks_task).unwrap();

    // Every token's key was in every JWKS fetched after the token was issued.
    let minted = std::mem::take(&mut *minted.lock().unwrap());
    let seen = std::mem::take(&mut *jwks_seen.lock().unwrap());
    let kids: std::collections::BTreeSet<&str> = minted.iter().map(|m| m.kid.as_str()).collect();
    assert_eq!(kids.len(), 2, "tokens from both keys: {kids:?}");
    let mut checks = 0u64;
    for m in &minted {
        for j in seen.iter().filter(|j| j.started > m.received) {
            assert!(
                j.kids.contains(&m.kid),
                "a JWKS fetched after a token was issued lacks its key {}",
                m.kid
            );
            checks += 1;
        }
    }
    let verifiers = std::mem::take(&mut *verifiers.lock().unwrap());
    for v in verifiers {
        let name = v.name;
        let verdicts = v.finish(minted.len());
        let bad: Vec<&Value> = verdicts.iter().filter(|v| v["ok"] != true).collect();
        assert!(
            bad.is_empty(),
            "{name}: {} of {} tokens failed: {:?}",
            bad.len(),
            verdicts.len(),
            &bad[..bad.len().min(3)]
        );
    }
    eprintln!(
        "load ({}): {} tokens minted in waves of {WAVE}, {} JWKS fetched during the rotation, {checks} token/JWKS pairs checked, all verified by PyJWT and jose",
        if postgres { "PostgreSQL" } else { "SQLite" },
        minted.len(),
        seen.len()
    );

    // Let the four plan jobs go, then queue many runs at once for workers and agents to race for.
    for (job, token) in &jobs {
        let (status, v) = call(
            "POST",
            &format!("{}/api/agent/jobs/{job}/finish", server.base),
            token,
            Some(json!({"outcome": "failed", "reason": "load test"})),
        );
        assert!(status < 300, "{v}");
    }
    let mut runs = Vec::new();
    for i in 0..8 {
        let ws = format!("queue-{i}");
        w.ok(&server, &["workspace", "create", &ws, "--auto-apply"]);
        w.ok(
            &server,
            &["var", "set", &format!("TF_CLI_CONFIG_FILE={}", w.tfrc.display()), "--workspace", &ws],
        );
    }
    for _round in 0..3 {
        for i in 0..8 {
            let out = run(w.cli(&server).args([
                "run",
                "start",
                "--workspace",
                &format!("queue-{i}"),
                "--dir",
                config.to_str().unwrap(),
                "--no-follow",
            ]));
            out.success();
            runs.push(out.stdout.trim().to_owned());
        }
    }
    let agent_dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let agents: Vec<crate::peers::Daemon> = agent_dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let child =
                w.s.tern()
                    .args(["agent", "--server", &server.base, "--name", &format!("racer-{i}")])
                    .env("TERN_AGENT_TOKEN", &agent)
                    .env("XDG_RUNTIME_DIR", dir.path())
                    .env("PATH", w.path_var())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
            crate::peers::Daemon(child)
        })
        .collect();
    let t0 = Instant::now();
    wait_for("every queued run to finish", Duration::from_secs(300), || {
        runs.iter().all(|id| {
            let (status, v) = call("GET", &format!("{}/api/v2/runs/{id}", server.base), ADMIN, None);
            status == 200
                && ["applied", "errored"].contains(&v["data"]["attributes"]["status"].as_str().unwrap_or(""))
        })
    });
    let drained = t0.elapsed();
    drop(agents);
    let ledger_text = std::fs::read_to_string(&ledger).unwrap_or_default();
    for id in &runs {
        let shown = w.ok(&server, &["run", "show", id]);
        assert!(shown.contains("status:       applied\n"), "{shown}");
        let logs = w.ok(&server, &["run", "logs", id]);
        assert_eq!(logs.matches("[tern] plan of run").count(), 1, "planned once: {logs}");
        assert_eq!(logs.matches("[tern] apply of run").count(), 1, "applied once: {logs}");
        assert_eq!(ledger_text.lines().filter(|l| l == id).count(), 1, "{id} executed once:\n{ledger_text}");
    }
    eprintln!(
        "load ({}): {} runs queued at once, drained by 3 racing agents in {:.1} s, each planned and applied exactly once",
        if postgres { "PostgreSQL" } else { "SQLite" },
        runs.len(),
        drained.as_secs_f64()
    );
    let (_, logs) = server.stop();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn hundreds_of_mints_during_rotation_and_queued_runs_on_sqlite() {
    concurrency_and_load(false);
}

#[test]
fn hundreds_of_mints_during_rotation_and_queued_runs_on_postgres() {
    concurrency_and_load(true);
}
