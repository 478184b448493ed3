//! Golden discovery and JWKS documents for fixed keys.

use tern_identity::{ClaimPolicy, ClaimProfile, IssuerDocuments, KeyRing, KeyRingError};
use tern_testkit::assert_golden;

use crate::{golden_dir, issuer, key, ring};

#[test]
fn golden_documents_for_each_profile_and_ring() {
    let cases = [
        ("rsa", ring("rsa-2048.pem", &[]), ClaimProfile::Tfc),
        ("rsa-rotation", ring("rsa-2048.pem", &["rsa-2048-second.pem", "ec-p256.pem"]), ClaimProfile::Tfc),
        ("ec", ring("ec-p256.pem", &[]), ClaimProfile::Tfc),
        ("rsa-otf", ring("rsa-2048.pem", &[]), ClaimProfile::Otf),
        ("rsa-terrakube", ring("rsa-2048.pem", &[]), ClaimProfile::Terrakube),
    ];
    for (name, ring, profile) in cases {
        let docs = IssuerDocuments::build(&issuer(), &ring, &ClaimPolicy::new(profile, None));
        assert_golden(&golden_dir(), &format!("discovery-{name}.json"), docs.discovery());
        assert_golden(&golden_dir(), &format!("jwks-{name}.json"), docs.jwks());
    }
}

#[test]
fn documents_are_stable_and_etags_follow_content() {
    let policy = ClaimPolicy::default();
    let a = IssuerDocuments::build(&issuer(), &ring("rsa-2048.pem", &[]), &policy);
    let b = IssuerDocuments::build(&issuer(), &ring("rsa-2048.pem", &[]), &policy);
    assert_eq!(a, b);
    let c = IssuerDocuments::build(&issuer(), &ring("rsa-2048.pem", &["rsa-2048-second.pem"]), &policy);
    assert_eq!(a.discovery_etag(), c.discovery_etag(), "same issuer, algorithms and claims");
    assert_ne!(a.jwks_etag(), c.jwks_etag(), "a new key changes the JWKS");
    assert!(a.jwks_etag().starts_with('"') && a.jwks_etag().ends_with('"'));
}

#[test]
fn jwks_rsa_parameters_are_unsigned_big_endian() {
    let docs = IssuerDocuments::build(&issuer(), &ring("rsa-2048.pem", &[]), &ClaimPolicy::default());
    let jwks: serde_json::Value = serde_json::from_slice(docs.jwks()).unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    use base64::Engine as _;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n).unwrap();
    assert_eq!(n.len(), 256, "2048-bit modulus without a sign byte");
    assert_ne!(n[0], 0);
    assert_eq!(jwks["keys"][0]["e"], "AQAB");
}

#[test]
fn a_ring_refuses_the_same_key_or_kid_twice() {
    let err =
        KeyRing::new(key("rsa-2048.pem"), vec![key("rsa-2048-pkcs1.pem").public_jwk().clone()]).unwrap_err();
    assert!(matches!(err, KeyRingError::DuplicateKey { .. }), "{err:?}");
    let kid: tern_identity::Kid = "same".parse().unwrap();
    let err = KeyRing::new(
        key("rsa-2048.pem").with_kid(kid.clone()),
        vec![key("ec-p256.pem").public_jwk().clone().with_kid(kid)],
    )
    .unwrap_err();
    assert!(matches!(err, KeyRingError::DuplicateKid { .. }), "{err:?}");
}
