//! `tern token mint|inspect|verify` without a network peer: claims per profile, custom subjects,
//! `--issued-at`, stdin handling, and that tokens do not leak into diagnostics.

use serde_json::Value;

use crate::support::{Scratch, Server, run, run_with_stdin};

fn claims(s: &Scratch, token: &str) -> Value {
    let out = run(s.tern().args(["token", "inspect", "--json", token]));
    out.success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["claims"].clone()
}

#[test]
fn mint_profiles_ids_and_subject_templates() {
    let s = Scratch::new();
    let c = claims(&s, &s.mint("rsa-2048.pem", "https://tern.example.com", "aws.workload.identity", &[]));
    assert_eq!(c["sub"], "organization:acme:project:Default Project:workspace:prod:run_phase:plan");
    assert_eq!(c["terraform_organization_id"], "org-0724d383f4f6de0f", "derived ids are stable");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 900);

    let c = claims(
        &s,
        &s.mint(
            "rsa-2048.pem",
            "https://tern.example.com",
            "a",
            &["--profile", "terrakube", "--workspace-id", "3f0e0d1c-aaaa-bbbb-cccc-000000000001"],
        ),
    );
    assert_eq!(c["sub"], "organization:acme:workspace:prod");
    assert_eq!(c["terrakube_workspace_id"], "3f0e0d1c-aaaa-bbbb-cccc-000000000001");
    assert_eq!(c["terrakube_job_id"], "run-CZcmD7eagjhyX0vN");

    let c = claims(
        &s,
        &s.mint(
            "rsa-2048.pem",
            "https://tern.example.com",
            "a",
            &[
                "--subject-template",
                "organization,project,workspace_id,run_phase",
                "--project",
                "Platform",
                "--ttl",
                "1h",
            ],
        ),
    );
    assert!(
        c["sub"].as_str().unwrap().starts_with("organization:acme:project:Platform:workspace_id:ws-"),
        "{c}"
    );
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 3600);

    let c = claims(
        &s,
        &s.mint("rsa-2048.pem", "https://tern.example.com", "a", &["--issued-at", "2026-01-01T00:00:00Z"]),
    );
    assert_eq!(c["iat"], 1_767_225_600u64);
}

#[test]
fn inspect_reads_stdin_and_explains_times() {
    let s = Scratch::new();
    let token =
        s.mint("rsa-2048.pem", "https://tern.example.com", "a", &["--issued-at", "2020-01-01T00:00:00Z"]);
    let out = run_with_stdin(s.tern().args(["token", "inspect"]), Some(&format!("{token}\n")));
    out.success();
    let exp =
        out.stdout.lines().find(|l| l.trim_start().starts_with("exp ")).unwrap_or_else(|| panic!("{out}"));
    assert!(exp.contains("1577837700  2020-01-01T00:15:00Z ("), "{out}");
    assert!(out.stdout.contains("status     expired"), "{out}");
    assert!(out.stdout.contains("signature  not verified"), "{out}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!out.stdout.contains(signature), "inspect does not print the signature");

    let out = run_with_stdin(s.tern().args(["token", "inspect", "-"]), Some(""));
    out.failure(1);
    assert!(out.stderr.contains("the input is empty"), "{out}");
}

#[test]
fn verify_explains_each_refusal_without_echoing_the_token() {
    let s = Scratch::new();
    let server = Server::start(s.tern(), &["--signing-key", "keys/rsa-2048.pem"]);
    let issuer = server.issuer.clone();
    let verify = |token: &str, issuer_arg: &str, audience: &str| {
        run_with_stdin(
            s.tern().args(["token", "verify", "--issuer-url", issuer_arg, "--audience", audience]),
            Some(token),
        )
    };
    let good = s.mint("rsa-2048.pem", &issuer, "aws.workload.identity", &[]);
    verify(&good, &issuer, "aws.workload.identity").success();

    let cases: Vec<(&str, String, String, &str, &str)> = vec![
        ("audience", good.clone(), issuer.clone(), "sts.amazonaws.com", "audience mismatch"),
        (
            "expired",
            s.mint(
                "rsa-2048.pem",
                &issuer,
                "aws.workload.identity",
                &["--issued-at", "2020-01-01T00:00:00Z"],
            ),
            issuer.clone(),
            "aws.workload.identity",
            "the token expired at 2020-01-01T00:15:00Z",
        ),
        (
            "unpublished key",
            s.mint("rsa-2048-second.pem", &issuer, "aws.workload.identity", &[]),
            issuer.clone(),
            "aws.workload.identity",
            "is not in the issuer's JWKS",
        ),
        (
            "issuer in the token differs",
            s.mint("rsa-2048.pem", "https://tern.example.com", "aws.workload.identity", &[]),
            issuer.clone(),
            "aws.workload.identity",
            "issuer mismatch",
        ),
        (
            "issuer with a trailing slash",
            good.clone(),
            format!("{issuer}/"),
            "aws.workload.identity",
            "names issuer",
        ),
    ];
    for (what, token, issuer_arg, audience, expected) in cases {
        let out = verify(&token, &issuer_arg, audience);
        out.failure(1);
        assert!(out.stderr.contains(expected), "{what}\n{out}");
        assert_eq!(out.stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{what}\n{out}");
        let signature = token.rsplit('.').next().unwrap();
        assert!(!out.stderr.contains(signature) && !out.stdout.contains(signature), "{what}: token echoed");
    }
}
