//! `tern keygen`: mode 0600, refuses to overwrite, replaces atomically with --force, prints the
//! kid and public JWK, and what it writes loads everywhere tern takes a key.

use std::os::unix::fs::PermissionsExt as _;

use serde_json::Value;

use crate::support::{Scratch, run};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn rs256_default_key() {
    let s = Scratch::new();
    let out = run(s.tern().args(["keygen", "--out", "new.pem"]));
    out.success();
    let key = s.path().join("new.pem");
    assert_eq!(mode(&key), 0o600);
    let jwk: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let kid = jwk["kid"].as_str().unwrap();
    assert!(out.stderr.contains(&format!("kid: {kid}")), "{out}");
    assert!(out.stderr.contains("RSA 2048 bits"), "{out}");
    // The key is PKCS#8 and loads as a signing key with the same kid.
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let token = s.mint("../new.pem", "https://tern.example.com", "aws.workload.identity", &[]);
    let out = run(s.tern().args(["token", "inspect", "--json", &token]));
    let inspected: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(inspected["header"]["kid"], kid);
    // No private material on stdout or stderr.
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!out.stdout.contains(body_line) && !out.stderr.contains(body_line));
}

#[test]
fn es256_and_rsa_4096_with_public_key_file() {
    let s = Scratch::new();
    let out = run(s.tern().args([
        "keygen",
        "--out",
        "ec.pem",
        "--algorithm",
        "ES256",
        "--public-out",
        "ec.pub.pem",
    ]));
    out.success();
    let jwk: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("EC"), Some("P-256")));
    assert_eq!(mode(&s.path().join("ec.pub.pem")), 0o644);
    // The public key file is accepted as the matching --public-key.
    s.mint("../ec.pem", "https://tern.example.com", "a", &["--public-key", "ec.pub.pem"]);

    let out = run(s.tern().args(["keygen", "--out", "big.pem", "--bits", "4096"]));
    out.success();
    let jwk: Value = serde_json::from_str(&out.stdout).unwrap();
    use base64::Engine as _;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 512, "4096-bit modulus");
}

#[test]
fn overwrite_needs_force_and_force_is_atomic() {
    let s = Scratch::new();
    run(s.tern().args(["keygen", "--out", "k.pem"])).success();
    let before = std::fs::read(s.path().join("k.pem")).unwrap();
    let out = run(s.tern().args(["keygen", "--out", "k.pem"]));
    out.failure(1);
    assert!(out.stderr.contains("already exists; use --force"), "{out}");
    assert_eq!(std::fs::read(s.path().join("k.pem")).unwrap(), before, "untouched without --force");

    // A loosely-permissioned old file is replaced by a 0600 one.
    std::fs::set_permissions(s.path().join("k.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    run(s.tern().args(["keygen", "--out", "k.pem", "--force"])).success();
    assert_ne!(std::fs::read(s.path().join("k.pem")).unwrap(), before);
    assert_eq!(mode(&s.path().join("k.pem")), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tern-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
}
