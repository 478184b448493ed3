//! Masked run logs (issue 15, item 4), end to end: `tern serve` runs real Terraform with a
//! workspace's sensitive values and live AWS and Vault credentials, and configurations that
//! print them every way they can — Terraform refusing a sensitive value (its error shows the
//! tfvars line), the plan's diff, outputs, `jsonencode`, Python's JSON, and a `local-exec` that
//! echoes the minted token file and the Vault token. The logs stored on the server, read back
//! through the API, show `***` and never a value in any of its spellings.

use serde_json::json;

use crate::peers::openbao_trusts;
use crate::runs::{ADMIN, World, call};
use crate::support::run;

/// Sensitive, and refused by a `number` variable; with a quote, a backslash, a non-ASCII letter
/// and the characters Go's JSON escapes, so that each spelling differs from the others.
const PIN: &str = r#"n0t-a-number "q" \ ü <&>"#;
/// The same value in the spellings Terraform and the tools around it print.
const PIN_SPELLINGS: &[&str] = &[
    PIN,
    // HCL, as tern writes it in the tfvars file (Terraform's error snippet), and JSON (serde, JS)
    r#"n0t-a-number \"q\" \\ ü <&>"#,
    // Go's JSON (Terraform's jsonencode and -json output)
    r#"n0t-a-number \"q\" \\ ü \u003c\u0026\u003e"#,
    // Python's json.dumps (ASCII only)
    r#"n0t-a-number \"q\" \\ \u00fc <&>"#,
    // jsonencode(value) printed by Terraform as a quoted string
    r#"n0t-a-number \\\"q\\\" \\\\ ü \\u003c\\u0026\\u003e"#,
];
/// In a variable set attached to every workspace.
const FROM_SET: &str = "varset-secret-5f1c0a";
/// Too short to mask: named at the start of the run instead.
const SHORT: &str = "abc";

/// Both phases' logs of `run_id` as stored, read through the API (the signed log URLs).
/// The run's stored logs as a reader sees them: Terraform's colours dropped, so that a secret
/// a colour escape cut in two would still be found whole.
fn stored_logs(base: &str, run_id: &str) -> String {
    let (status, r) = call("GET", &format!("{base}/api/v2/runs/{run_id}"), ADMIN, None);
    assert_eq!(status, 200, "{r}");
    let mut logs = String::new();
    for (kind, rel) in [("plans", "plan"), ("applies", "apply")] {
        let Some(id) = r["data"]["relationships"][rel]["data"]["id"].as_str() else { continue };
        let (status, p) = call("GET", &format!("{base}/api/v2/{kind}/{id}"), ADMIN, None);
        assert_eq!(status, 200, "{p}");
        if let Some(url) = p["data"]["attributes"]["log-read-url"].as_str() {
            logs.push_str(&crate::support::without_colours(&text(url)));
        }
    }
    logs
}

fn text(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "{url}: {}", response.status());
        response.text().await.unwrap()
    })
}

/// Where each needle appears in `log` (by name, never the value).
fn hits(log: &str, needles: &[(String, String)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, v)| !v.is_empty() && log.contains(v.as_str()))
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn sensitive_values_and_credentials_are_masked_in_stored_run_logs() {
    let w = World::new();
    let server = w.serve(&[]);
    openbao_trusts(&w.bao_addr, &server.issuer, "5m");
    // AWS and Vault dynamic credentials, a sensitive env variable (DEPLOY_PASSWORD).
    w.workspace(&server, "prod", &[]);
    for (key, value) in [("pin", PIN), ("short", SHORT)] {
        w.ok(
            &server,
            &["var", "set", &format!("{key}={value}"), "--terraform", "--sensitive", "--workspace", "prod"],
        );
    }
    let base = &server.base;
    let (status, set) = call(
        "POST",
        &format!("{base}/api/v2/organizations/acme/varsets"),
        ADMIN,
        Some(json!({"data":{"type":"varsets","attributes":{"name":"shared","global":true}}})),
    );
    assert!(status < 300, "{status} {set}");
    let set_id = set["data"]["id"].as_str().unwrap();
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v2/varsets/{set_id}/relationships/vars"),
        ADMIN,
        Some(
            json!({"data":{"type":"vars","attributes":{"key":"from_set","value":FROM_SET,"category":"terraform","sensitive":true}}}),
        ),
    );
    assert!(status < 300, "{status} {v}");

    // 1. The attack from the issue: a number variable given a string refuses it, and
    // Terraform's error quotes the line of the tfvars file that holds the value.
    let refused = w.config_with(
        "refused",
        r#"variable "pin" { type = number }
variable "short" { type = string }
variable "from_set" { type = string }
variable "python" { type = string }
"#,
    );
    let out =
        run(w.cli(&server).args(["run", "start", "--workspace", "prod", "--dir", refused.to_str().unwrap()]));
    assert_ne!(out.code(), 0, "the plan fails: {out}");
    let run_id = out.stdout.lines().next().unwrap().trim().to_owned();
    let log = stored_logs(base, &run_id);
    assert!(log.contains("Invalid value for input variable"), "Terraform refused the value:\n{log}");
    assert!(log.contains(r#"1: pin = "***""#), "the tfvars line is shown masked:\n{log}");
    assert!(
        log.contains(
            r#"warning: sensitive Terraform variable "short" is 3 byte(s) long, too short to mask in logs"#
        ),
        "the short value is named at the start:\n{log}"
    );
    let mut needles: Vec<(String, String)> = PIN_SPELLINGS
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("pin spelling #{i}"), (*s).to_owned()))
        .collect();
    needles.push(("any part of pin".into(), "n0t-a-number".into()));
    assert_eq!(hits(&log, &needles), Vec::<String>::new(), "the refused value leaked:\n{log}");
    assert_eq!(hits(&out.stdout, &needles), Vec::<String>::new(), "followed log:\n{out}");

    // 2. A configuration that prints every value and credential it gets, in every phase.
    let capture = w.s.exchange().join("capture");
    std::fs::create_dir_all(&capture).unwrap();
    // Written by the phase, which runs as the sandbox user.
    std::fs::set_permissions(&capture, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let printing = w.config_with(
        "printing",
        &format!(
            r#"terraform {{
  required_providers {{
    null = {{ source = "hashicorp/null" }}
  }}
}}
variable "pin" {{ type = string }}
variable "short" {{ type = string }}
variable "from_set" {{ type = string }}
variable "python" {{ type = string }}
resource "null_resource" "print" {{
  triggers = {{ pin = var.pin, from_set = var.from_set }}
  provisioner "local-exec" {{
    environment = {{ PIN = var.pin }}
    command     = <<-EOT
      printf 'pin: %s\n' "$PIN"
      ${{var.python}} -c 'import json, os; print("json:", json.dumps(os.environ["PIN"]))'
      echo "deploy password: $DEPLOY_PASSWORD"
      echo "vault token: $VAULT_TOKEN"
      echo "aws token: $(cat "$AWS_WEB_IDENTITY_TOKEN_FILE")"
      echo "$VAULT_TOKEN" >> {c}/handed
      cat "$AWS_WEB_IDENTITY_TOKEN_FILE" >> {c}/handed
      echo >> {c}/handed
    EOT
  }}
}}
output "pin" {{ value = var.pin }}
output "pin_json" {{ value = jsonencode(var.pin) }}
output "from_set" {{ value = var.from_set }}
"#,
            c = capture.display()
        ),
    );
    let out = run(w.cli(&server).args([
        "run",
        "start",
        "--workspace",
        "prod",
        "--dir",
        printing.to_str().unwrap(),
        "--auto-apply",
    ]));
    out.success();
    let run_id = out.stdout.lines().next().unwrap().trim().to_owned();
    let log = stored_logs(base, &run_id);
    assert!(log.contains("Apply complete!"), "{log}");
    for line in ["pin: ***", "json: \"***\"", "deploy password: ***", "vault token: ***", "aws token: ***"] {
        assert!(log.contains(line), "{line:?} in the log:\n{log}");
    }
    assert!(log.contains("pin_json = \"\\\"***\\\"\""), "jsonencode output masked:\n{log}");

    let handed = std::fs::read_to_string(capture.join("handed")).unwrap();
    let handed: Vec<&str> = handed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(handed.len(), 2, "a Vault token and an AWS token were handed over: {handed:?}");
    assert!(handed[1].starts_with("eyJ"), "the AWS token is a JWT");
    needles.push(("the variable set's value".into(), FROM_SET.into()));
    needles.push(("the sensitive env variable".into(), "a-sensitive-workspace-value".into()));
    needles.push(("the Vault token".into(), handed[0].to_owned()));
    needles.push(("the minted AWS token".into(), handed[1].to_owned()));
    // The token's signature alone, as a tool might print only a part of it.
    let signature = handed[1].rsplit('.').next().unwrap();
    needles.push(("the minted token's signature".into(), signature.to_owned()));
    assert_eq!(hits(&log, &needles), Vec::<String>::new(), "a value leaked:\n{log}");
    assert_eq!(hits(&out.stdout, &needles), Vec::<String>::new(), "followed log:\n{out}");
    // The run's record too (a failure reason would be there).
    let (_, r) = call("GET", &format!("{base}/api/v2/runs/{run_id}"), ADMIN, None);
    assert_eq!(hits(&r.to_string(), &needles), Vec::<String>::new(), "{r}");
}
