//! The verifier refuses every classic JWT pitfall, with a precise error; table-driven.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tern_identity::ClaimProfile;
use tern_identity::verify::{Expectations, Jwks, VerifyError, verify};
use tern_types::RunPhase;

use crate::{T0, at, key, mint_at, ring};

fn jwks() -> Jwks {
    let ring = ring("rsa-2048.pem", &["ec-p256.pem"]);
    Jwks::from_public_keys(ring.public_keys())
}

fn expect(now: u64) -> Expectations<'static> {
    Expectations {
        issuer: "https://tern.example.com",
        audience: Some("aws.workload.identity"),
        now: at(now),
        leeway: Duration::from_secs(60),
    }
}

/// A token with an arbitrary header and claims, signed by a fixture key through jsonwebtoken.
fn forged(
    fixture: &str,
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let pem = tern_testkit::read_key_fixture(fixture);
    let key = match alg {
        jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn good_claims() -> serde_json::Value {
    json!({"iss": "https://tern.example.com", "sub": "s", "aud": "aws.workload.identity",
           "iat": T0, "nbf": T0, "exp": T0 + 900})
}

fn unsigned(header: serde_json::Value, claims: serde_json::Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[test]
fn valid_tokens_verify_at_the_boundaries() {
    let rsa = mint_at(&key("rsa-2048.pem"), ClaimProfile::Tfc, RunPhase::Plan, T0);
    let ec = mint_at(&key("ec-p256.pem"), ClaimProfile::Otf, RunPhase::Apply, T0);
    for token in [&rsa, &ec] {
        for now in [T0 - 60, T0, T0 + 900, T0 + 960] {
            let verified = verify(token.jwt.expose_secret(), &jwks(), &expect(now))
                .unwrap_or_else(|e| panic!("now={now}: {e}"));
            assert_eq!(verified.kid(), token.kid.as_str());
            assert_eq!(verified.claim_str("sub"), Some(token.subject.as_str()));
        }
    }
}

#[test]
fn pitfalls_table() {
    let rsa_kid = key("rsa-2048.pem").kid().as_str().to_owned();
    let ec_kid = key("ec-p256.pem").kid().as_str().to_owned();
    let good = mint_at(&key("rsa-2048.pem"), ClaimProfile::Tfc, RunPhase::Plan, T0);
    let good = good.jwt.expose_secret().to_owned();
    let mut tampered_parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&tampered_parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("organization:acme:project:Default Project:workspace:prod:run_phase:apply");
    tampered_parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = tampered_parts.join(".");

    let with = |patch: serde_json::Value| {
        let mut c = good_claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        forged("rsa-2048.pem", jsonwebtoken::Algorithm::RS256, Some(&rsa_kid), c)
    };

    type Check = fn(&VerifyError) -> bool;
    let cases: Vec<(&str, String, u64, Check)> = vec![
        (
            "alg none",
            unsigned(json!({"alg": "none", "kid": rsa_kid}), good_claims()),
            T0,
            |e| matches!(e, VerifyError::UnsupportedAlgorithm { alg } if alg == "none"),
        ),
        (
            "HS256 with the public key as secret",
            unsigned(json!({"alg": "HS256", "kid": rsa_kid}), good_claims()),
            T0,
            |e| matches!(e, VerifyError::UnsupportedAlgorithm { .. }),
        ),
        (
            "crit header",
            unsigned(json!({"alg": "RS256", "kid": rsa_kid, "crit": ["exp"]}), good_claims()),
            T0,
            |e| matches!(e, VerifyError::Malformed { .. }),
        ),
        ("no kid", forged("rsa-2048.pem", jsonwebtoken::Algorithm::RS256, None, good_claims()), T0, |e| {
            matches!(e, VerifyError::MissingKid)
        }),
        (
            "unknown kid",
            forged("rsa-2048.pem", jsonwebtoken::Algorithm::RS256, Some("gone"), good_claims()),
            T0,
            |e| matches!(e, VerifyError::UnknownKid { available, .. } if available.len() == 2),
        ),
        (
            "RS256 header naming the EC key",
            forged("rsa-2048.pem", jsonwebtoken::Algorithm::RS256, Some(&ec_kid), good_claims()),
            T0,
            |e| matches!(e, VerifyError::KeyAlgorithmMismatch { .. }),
        ),
        (
            "signed by another key under our kid",
            forged("rsa-2048-second.pem", jsonwebtoken::Algorithm::RS256, Some(&rsa_kid), good_claims()),
            T0,
            |e| matches!(e, VerifyError::BadSignature { .. }),
        ),
        ("payload altered after signing", tampered, T0, |e| matches!(e, VerifyError::BadSignature { .. })),
        ("issuer with trailing slash", with(json!({"iss": "https://tern.example.com/"})), T0, |e| {
            matches!(e, VerifyError::IssuerMismatch { .. }) && e.to_string().contains("trailing '/'")
        }),
        ("another issuer", with(json!({"iss": "https://app.terraform.io"})), T0, |e| {
            matches!(e, VerifyError::IssuerMismatch { .. })
        }),
        ("no issuer", with(json!({"iss": null})), T0, |e| {
            matches!(e, VerifyError::MissingClaim { claim: "iss" })
        }),
        ("another audience", with(json!({"aud": "vault.workload.identity"})), T0, |e| {
            matches!(e, VerifyError::AudienceMismatch { .. })
        }),
        (
            "audience array without ours",
            with(json!({"aud": ["a", "b"]})),
            T0,
            |e| matches!(e, VerifyError::AudienceMismatch { found, .. } if found.len() == 2),
        ),
        ("no exp", with(json!({"exp": null})), T0, |e| {
            matches!(e, VerifyError::MissingClaim { claim: "exp" })
        }),
        ("exp as a string", with(json!({"exp": "soon"})), T0, |e| {
            matches!(e, VerifyError::ClaimType { claim: "exp", .. })
        }),
        (
            "expired beyond leeway",
            good.clone(),
            T0 + 961,
            |e| matches!(e, VerifyError::Expired { exp, now, .. } if *exp == T0 + 900 && *now == T0 + 961),
        ),
        ("not yet valid", good.clone(), T0 - 61, |e| matches!(e, VerifyError::NotYetValid { .. })),
        ("issued in the future without nbf", with(json!({"nbf": null, "iat": T0 + 120})), T0, |e| {
            matches!(e, VerifyError::IssuedInFuture { .. })
        }),
        ("two parts", "a.b".to_owned(), T0, |e| matches!(e, VerifyError::Malformed { .. })),
        ("garbage", "not a token".to_owned(), T0, |e| matches!(e, VerifyError::Malformed { .. })),
        (
            "header not JSON",
            format!("{}.{}.", URL_SAFE_NO_PAD.encode("x"), URL_SAFE_NO_PAD.encode("{}")),
            T0,
            |e| matches!(e, VerifyError::Malformed { .. }),
        ),
    ];
    for (name, token, now, check) in cases {
        let err = verify(&token, &jwks(), &expect(now)).err().unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(check(&err), "{name}: unexpected {err:?}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{name}: {message}");
        assert!(!message.contains(&good[..40]), "{name}: the error must not echo the token");
    }
}

#[test]
fn audience_check_can_be_skipped_but_issuer_cannot() {
    let token = mint_at(&key("rsa-2048.pem"), ClaimProfile::Tfc, RunPhase::Plan, T0);
    let mut e = expect(T0);
    e.audience = None;
    assert!(verify(token.jwt.expose_secret(), &jwks(), &e).is_ok());
    e.issuer = "https://other.example.com";
    assert!(matches!(
        verify(token.jwt.expose_secret(), &jwks(), &e),
        Err(VerifyError::IssuerMismatch { .. })
    ));
}

#[test]
fn jwks_parsing_explains_unusable_keys() {
    let doc = json!({"keys": [
        {"kty": "RSA", "kid": "short", "n": URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AA", "e": "AQAB"},
    ]});
    let jwks = Jwks::from_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.kids(), ["short", "ed", "enc"]);
    for (kid, reason) in [("short", "1024 bits"), ("ed", "\"OKP\""), ("enc", "\"use\"")] {
        let token = forged("rsa-2048.pem", jsonwebtoken::Algorithm::RS256, Some(kid), good_claims());
        let err = verify(&token, &jwks, &expect(T0)).unwrap_err();
        assert!(
            matches!(&err, VerifyError::UnusableKey { reason: r, .. } if r.contains(reason)),
            "{kid}: {err}"
        );
    }
    assert!(Jwks::from_json(b"[]").is_err());
    assert!(Jwks::from_json(b"{}").is_err());
}
