//! The bad-input catalogue: every malformed key, path and setting gets one clear line on stderr
//! and a documented exit code (1 failure, 2 usage). All outputs live in one golden file,
//! `tests/golden/errors.txt`, so reviewers read every message the user can get.

use crate::support::{Scratch, run};

/// (description, arguments after `tern`, extra environment, expected exit code)
type Case = (&'static str, Vec<&'static str>, Vec<(&'static str, &'static str)>, i32);

fn mint(key: &'static str) -> Vec<&'static str> {
    vec![
        "token",
        "mint",
        "--signing-key",
        key,
        "--issuer-url",
        "https://tern.example.com",
        "--organization",
        "acme",
        "--workspace",
        "prod",
        "--run-id",
        "run-1",
        "--phase",
        "plan",
        "--audience",
        "aws.workload.identity",
    ]
}

fn with(mut base: Vec<&'static str>, extra: &[&'static str]) -> Vec<&'static str> {
    base.extend_from_slice(extra);
    base
}

fn replace(base: Vec<&'static str>, flag: &str, value: &'static str) -> Vec<&'static str> {
    let mut out = base;
    let i = out.iter().position(|a| *a == flag).unwrap();
    out[i + 1] = value;
    out
}

fn cases() -> Vec<Case> {
    let ok = "keys/rsa-2048.pem";
    vec![
        ("missing key file", mint("keys/missing.pem"), vec![], 1),
        ("a directory instead of a file", mint("keys"), vec![], 1),
        ("empty file", mint("keys/empty.pem"), vec![], 1),
        ("not PEM", mint("keys/not-a-key.txt"), vec![], 1),
        ("binary DER", mint("keys/rsa-2048.der"), vec![], 1),
        ("truncated PEM", mint("keys/truncated.pem"), vec![], 1),
        ("corrupt base64", mint("keys/corrupt-base64.pem"), vec![], 1),
        ("encrypted PKCS#8", mint("keys/encrypted-pkcs8.pem"), vec![], 1),
        ("encrypted traditional PEM", mint("keys/encrypted-traditional.pem"), vec![], 1),
        ("RSA 1024", mint("keys/rsa-1024.pem"), vec![], 1),
        ("EC P-384", mint("keys/ec-p384.pem"), vec![], 1),
        ("EC secp256k1", mint("keys/ec-secp256k1-sec1.pem"), vec![], 1),
        ("Ed25519", mint("keys/ed25519.pem"), vec![], 1),
        ("certificate, no key", mint("keys/certificate-only.pem"), vec![], 1),
        ("public key given as the signing key", mint("keys/rsa-2048.pub.pem"), vec![], 1),
        (
            "public key that does not match",
            with(mint(ok), &["--public-key", "keys/rsa-2048-second.pub.pem"]),
            vec![],
            1,
        ),
        (
            "public key file holding a private key",
            with(mint(ok), &["--public-key", "keys/rsa-2048.pem"]),
            vec![],
            1,
        ),
        (
            "issuer with a trailing slash",
            replace(mint(ok), "--issuer-url", "https://tern.example.com/"),
            vec![],
            2,
        ),
        ("issuer without a scheme", replace(mint(ok), "--issuer-url", "tern.example.com"), vec![], 2),
        (
            "issuer not canonical",
            replace(mint(ok), "--issuer-url", "https://Tern.example.com:443"),
            vec![],
            2,
        ),
        ("unknown profile", with(mint(ok), &["--profile", "github"]), vec![], 2),
        (
            "subject template without the workspace",
            with(mint(ok), &["--subject-template", "organization,run_phase"]),
            vec![],
            2,
        ),
        (
            "subject template with an unknown key",
            with(mint(ok), &["--subject-template", "organization,workspace,repo"]),
            vec![],
            2,
        ),
        (
            "workspace name that would forge a subject",
            replace(mint(ok), "--workspace", "prod:run_phase:apply"),
            vec![],
            2,
        ),
        ("lifetime without a unit", with(mint(ok), &["--ttl", "900"]), vec![], 2),
        ("lifetime too long", with(mint(ok), &["--ttl", "48h"]), vec![], 2),
        ("bad --issued-at", with(mint(ok), &["--issued-at", "yesterday"]), vec![], 2),
        ("invalid kid", with(mint(ok), &["--kid", "has space"]), vec![], 2),
        ("unknown phase", replace(mint(ok), "--phase", "destroy"), vec![], 2),
        (
            "flag and Terrakube variable disagree",
            mint(ok),
            vec![("DynamicCredentialPrivateKeyPath", "keys/rsa-2048-second.pem")],
            2,
        ),
        ("Terrakube TTL not a number", mint(ok), vec![("DynamicCredentialTtl", "30m")], 2),
        (
            "keygen: unwritable --out (parent is a file)",
            vec!["keygen", "--out", "keys/README.md/key.pem"],
            vec![],
            1,
        ),
        ("keygen: --out in a missing directory", vec!["keygen", "--out", "no-such-dir/key.pem"], vec![], 1),
        ("keygen: --out exists", vec!["keygen", "--out", "keys/rsa-2048.pem"], vec![], 1),
        (
            "keygen: --bits with ES256",
            vec!["keygen", "--out", "k.pem", "--algorithm", "ES256", "--bits", "2048"],
            vec![],
            2,
        ),
        ("keygen: unsupported size", vec!["keygen", "--out", "k.pem", "--bits", "1024"], vec![], 2),
        (
            "serve: non-loopback without an issuer",
            vec!["serve", "--listen", "0.0.0.0:0", "--signing-key", ok],
            vec![],
            2,
        ),
        (
            "serve: --listen not an address",
            vec!["serve", "--listen", "localhost", "--signing-key", ok],
            vec![],
            2,
        ),
        (
            "serve: TLS certificate missing",
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--signing-key",
                ok,
                "--tls-cert",
                "keys/missing.pem",
                "--tls-key",
                ok,
            ],
            vec![],
            1,
        ),
        (
            "serve: --tls-cert without --tls-key",
            vec!["serve", "--signing-key", ok, "--tls-cert", "keys/certificate-only.pem"],
            vec![],
            2,
        ),
        (
            "serve: bad published key",
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--signing-key",
                ok,
                "--signing-key",
                "keys/rsa-1024.pem",
            ],
            vec![],
            1,
        ),
        (
            "serve: the same key twice",
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--signing-key",
                ok,
                "--signing-key",
                "keys/rsa-2048-pkcs1.pem",
            ],
            vec![],
            1,
        ),
        (
            "serve: public key without a signing key",
            vec!["serve", "--public-key", "keys/rsa-2048.pub.pem"],
            vec![],
            2,
        ),
        (
            "serve: a key publish lead that replicas and caches do not cover",
            vec!["serve", "--managed-keys", "--key-publish-lead", "5m", "--jwks-max-age", "5m"],
            vec![],
            2,
        ),
        (
            "serve: bad --jwks-max-age",
            vec!["serve", "--signing-key", ok, "--jwks-max-age", "soon"],
            vec![],
            2,
        ),
        (
            "serve: a --terraform that is not there",
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--signing-key",
                ok,
                "--terraform",
                "tools/terraform-1.5.7",
            ],
            vec![],
            1,
        ),
        (
            "serve: a --terraform that is not Terraform",
            vec!["serve", "--listen", "127.0.0.1:0", "--signing-key", ok, "--terraform", "/bin/echo"],
            vec![],
            1,
        ),
        (
            "workspace create: --terraform-bin, removed",
            vec!["workspace", "create", "app", "--org", "acme", "--terraform-bin", "/bin/sh"],
            vec![],
            2,
        ),
        (
            "verify: not a token",
            vec!["token", "verify", "--issuer-url", "http://127.0.0.1:9", "not-a-token"],
            vec![],
            1,
        ),
        (
            "verify: issuer unreachable",
            // header {"alg":"RS256"}, payload {}: well-formed enough to go to the network.
            vec!["token", "verify", "--issuer-url", "http://127.0.0.1:9", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"],
            vec![],
            1,
        ),
        ("inspect: two parts", vec!["token", "inspect", "abc.def"], vec![], 1),
        (
            "var set: KEY with nothing on standard input",
            vec!["var", "set", "DB_PASSWORD", "--org", "acme", "--workspace", "prod"],
            vec![("TERN_SERVER", "http://127.0.0.1:9"), ("TERN_TOKEN", "t")],
            2,
        ),
        (
            "client: --server without a scheme",
            vec!["org", "list", "--server", "127.0.0.1:8080", "--token", "t"],
            vec![],
            2,
        ),
        (
            "client: a scheme tern does not speak",
            vec!["org", "list", "--server", "ftp://127.0.0.1:8080", "--token", "t"],
            vec![],
            2,
        ),
        (
            "client: nothing listens there",
            vec!["org", "list"],
            vec![("TERN_SERVER", "http://127.0.0.1:9"), ("TERN_TOKEN", "t")],
            1,
        ),
        (
            "exec: a command that is not on PATH",
            vec![
                "exec",
                "--signing-key",
                ok,
                "--issuer-url",
                "https://tern.example.com",
                "--organization",
                "acme",
                "--workspace",
                "prod",
                "--run-id",
                "run-1",
                "--phase",
                "plan",
                "--",
                "no-such-command",
            ],
            vec![],
            1,
        ),
    ]
}

#[test]
fn bad_input_catalogue() {
    let scratch = Scratch::new();
    let mut golden = String::new();
    for (what, args, env, code) in cases() {
        let mut cmd = scratch.tern_plain();
        cmd.env("TERN_LOG", "error").args(&args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        assert_eq!(out.code(), code, "{what}\n{out}");
        assert!(out.stdout.is_empty(), "{what}: nothing on stdout when failing\n{out}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(lines.first().is_some_and(|l| l.starts_with("error: ")), "{what}\n{out}");
        if !out.stderr.contains("For more information") {
            // tern's own errors are one line; clap's usage errors add the usage after it.
            assert_eq!(lines.len(), 1, "{what}: one line on stderr\n{out}");
        }
        assert!(!out.stderr.contains("MII"), "{what}: key material in an error\n{out}");
        let env_text: String = env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        golden.push_str(&format!(
            "# {what}\n$ {env_text}tern {}\nexit {code}\n{}\n",
            args.join(" "),
            out.stderr
        ));
    }
    tern_testkit::assert_golden(&golden_dir(), "errors.txt", golden.as_bytes());
}

pub fn golden_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}
