//! Key intake: every accepted format, every refused one, and the error each gets.

use tern_identity::{Algorithm, EcCurve, KeyError, KeySpec, PublicJwk, SigningKey};
use tern_testkit::read_key_fixture;

use crate::key;

#[test]
fn accepted_formats_derive_the_same_public_key() {
    // (fixture, same key as, algorithm)
    let cases = [
        ("rsa-2048.pem", "rsa-2048.pem", Algorithm::Rs256),
        ("rsa-2048-pkcs1.pem", "rsa-2048.pem", Algorithm::Rs256),
        ("ec-p256.pem", "ec-p256.pem", Algorithm::Es256),
        ("ec-p256-sec1.pem", "ec-p256.pem", Algorithm::Es256),
    ];
    for (fixture, same_as, alg) in cases {
        let k = key(fixture);
        assert_eq!(k.algorithm(), alg, "{fixture}");
        assert_eq!(k.kid(), key(same_as).kid(), "{fixture} and {same_as} are the same key");
        assert_eq!(k.kid().as_str(), k.public_jwk().thumbprint(), "default kid is the RFC 7638 thumbprint");
        k.check_public_pem(&read_key_fixture(&same_as.replace(".pem", ".pub.pem")))
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
    }
}

#[test]
fn refused_inputs_say_why() {
    type Check = fn(&KeyError) -> bool;
    let cases: &[(&str, Check, &str)] = &[
        ("empty.pem", |e| matches!(e, KeyError::Empty), "the file is empty"),
        ("not-a-key.txt", |e| matches!(e, KeyError::NotPem { hint: None }), "not a PEM file"),
        ("rsa-2048.der", |e| matches!(e, KeyError::NotPem { hint: Some(_) }), "binary DER"),
        ("truncated.pem", |e| matches!(e, KeyError::Truncated { .. }), "truncated"),
        ("corrupt-base64.pem", |e| matches!(e, KeyError::CorruptPem), "corrupt"),
        ("encrypted-pkcs8.pem", |e| matches!(e, KeyError::Encrypted), "encrypted"),
        ("encrypted-traditional.pem", |e| matches!(e, KeyError::Encrypted), "encrypted"),
        ("rsa-1024.pem", |e| matches!(e, KeyError::RsaTooSmall { bits: 1024 }), "1024 bits"),
        ("ec-p384.pem", |e| matches!(e, KeyError::UnsupportedCurve { curve: EcCurve::P384 }), "P-384"),
        (
            "ec-secp256k1-sec1.pem",
            |e| matches!(e, KeyError::UnsupportedCurve { curve: EcCurve::Secp256k1 }),
            "secp256k1",
        ),
        (
            "ed25519.pem",
            |e| matches!(e, KeyError::UnsupportedKeyType { .. }),
            "Ed25519 keys are not supported",
        ),
        ("certificate-only.pem", |e| matches!(e, KeyError::NoPrivateKey { .. }), "found: CERTIFICATE"),
        (
            "rsa-2048.pub.pem",
            |e| matches!(e, KeyError::NoPrivateKey { hint: Some(_), .. }),
            "this is a public key",
        ),
    ];
    for (fixture, check, message_part) in cases {
        let err = SigningKey::from_pem(&read_key_fixture(fixture)).expect_err(fixture);
        assert!(check(&err), "{fixture}: unexpected {err:?}");
        let message = err.to_string();
        assert!(message.contains(message_part), "{fixture}: {message:?} lacks {message_part:?}");
        assert!(!message.contains('\n'), "{fixture}: error must be one line: {message:?}");
    }
}

#[test]
fn error_messages_never_echo_key_material() {
    let bytes = read_key_fixture("corrupt-base64.pem");
    let body_line = String::from_utf8_lossy(&bytes).lines().nth(3).unwrap().to_owned();
    for fixture in ["corrupt-base64.pem", "truncated.pem", "encrypted-pkcs8.pem", "rsa-1024.pem"] {
        let err = SigningKey::from_pem(&read_key_fixture(fixture)).expect_err(fixture);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&body_line[..20]), "{fixture}: {shown}");
        assert!(!shown.contains("MII"), "{fixture}: {shown}");
    }
}

#[test]
fn several_private_keys_in_one_file_are_refused() {
    let mut both = read_key_fixture("rsa-2048.pem");
    both.extend(read_key_fixture("ec-p256.pem"));
    assert_eq!(SigningKey::from_pem(&both).err(), Some(KeyError::SeveralPrivateKeys { count: 2 }));
}

#[test]
fn mismatched_public_key_is_refused_with_both_thumbprints() {
    let k = key("rsa-2048.pem");
    let err = k.check_public_pem(&read_key_fixture("rsa-2048-second.pub.pem")).unwrap_err();
    let KeyError::PublicKeyMismatch { private_thumbprint, public_thumbprint } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(private_thumbprint, k.kid().as_str());
    assert_eq!(public_thumbprint, key("rsa-2048-second.pem").kid().as_str());
    // An EC public key against an RSA private key is a mismatch too.
    assert!(matches!(
        k.check_public_pem(&read_key_fixture("ec-p256.pub.pem")),
        Err(KeyError::PublicKeyMismatch { .. })
    ));
    // A private key file where a public key is expected.
    assert!(matches!(
        k.check_public_pem(&read_key_fixture("rsa-2048.pem")),
        Err(KeyError::NoPublicKey { .. })
    ));
}

#[test]
fn generated_keys_round_trip_through_pkcs8_pem() {
    for spec in [KeySpec::Rsa { bits: 2048 }, KeySpec::EcP256] {
        let k = SigningKey::generate(spec).unwrap();
        let pem = k.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.kid(), k.kid());
        let public = PublicJwk::from_spki_pem(k.public_key_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(public.kid(), k.kid());
        k.check_public_pem(k.public_key_pem().unwrap().as_bytes()).unwrap();
    }
    assert!(matches!(SigningKey::generate(KeySpec::Rsa { bits: 1024 }), Err(KeyError::RsaTooSmall { .. })));
}

#[test]
fn debug_output_of_a_key_is_redacted() {
    let k = key("rsa-2048.pem");
    let shown = format!("{k:?} {k:#?}");
    assert!(shown.contains(k.kid().as_str()));
    assert!(shown.contains("<redacted>"));
    let pem = k.to_pkcs8_pem().unwrap();
    let body = pem.lines().nth(1).unwrap();
    assert!(!shown.contains(body), "{shown}");
}

#[test]
fn kid_override_changes_header_and_jwk() {
    let k = key("rsa-2048.pem").with_kid("03446895-220d-47e1-9564-4eeaa3691b42".parse().unwrap());
    assert_eq!(k.kid().as_str(), "03446895-220d-47e1-9564-4eeaa3691b42");
    assert_eq!(k.public_jwk().kid().as_str(), "03446895-220d-47e1-9564-4eeaa3691b42");
    assert_ne!(k.public_jwk().thumbprint(), k.kid().as_str());
}
