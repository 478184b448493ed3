//! Minted tokens: golden claim sets per profile, exact header, and independent verification
//! with the `jsonwebtoken` crate.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tern_identity::{ClaimPolicy, ClaimProfile, Jti, JwkParams, SubjectTemplate, TokenRequest};
use tern_testkit::assert_golden;
use tern_types::{Audience, RunPhase, Ttl};

use crate::{T0, at, context, golden_dir, issuer, key, mint_at};

fn parts(jwt: &str) -> (Value, Value) {
    let mut it = jwt.split('.');
    let header = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (serde_json::from_slice(&header).unwrap(), serde_json::from_slice(&claims).unwrap())
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap();
    out.push(b'\n');
    out
}

#[test]
fn golden_claims_per_profile_and_phase() {
    let k = key("rsa-2048.pem");
    for profile in ClaimProfile::ALL {
        for phase in [RunPhase::Plan, RunPhase::Apply] {
            let token = mint_at(&k, profile, phase, T0);
            let (header, claims) = parts(token.jwt.expose_secret());
            assert_eq!(
                header,
                serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": k.kid().as_str()}),
                "header"
            );
            assert_golden(&golden_dir(), &format!("claims-{profile}-{phase}.json"), &pretty(&claims));
            assert_eq!(claims["sub"], token.subject.as_str());
        }
    }
}

#[test]
fn golden_compact_token_is_byte_exact() {
    // RS256 (PKCS#1 v1.5) signatures are deterministic, so the whole token is reproducible.
    let token = mint_at(&key("rsa-2048.pem"), ClaimProfile::Tfc, RunPhase::Apply, T0);
    assert_golden(&golden_dir(), "token-tfc-apply.jwt", token.jwt.expose_secret().as_bytes());
}

#[test]
fn header_key_order_and_time_claims() {
    let token = mint_at(&key("ec-p256.pem"), ClaimProfile::Tfc, RunPhase::Plan, T0);
    let raw_header = URL_SAFE_NO_PAD.decode(token.jwt.expose_secret().split('.').next().unwrap()).unwrap();
    let raw_header = String::from_utf8(raw_header).unwrap();
    assert!(raw_header.starts_with(r#"{"alg":"ES256","typ":"JWT","kid":""#), "{raw_header}");
    let (_, claims) = parts(token.jwt.expose_secret());
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["nbf"], T0, "nbf = iat (OpenBao needs it for lifetimes over ~210 s)");
    assert_eq!(claims["exp"], T0 + 900);
    assert!(claims["aud"].is_string(), "aud is a single string");
    assert_eq!((token.issued_at, token.expires_at), (T0, T0 + 900));
}

#[test]
fn custom_subject_template_changes_only_sub() {
    let k = key("rsa-2048.pem");
    let ctx = context("prod", RunPhase::Plan);
    let audience = Audience::parse("vault.workload.identity").unwrap();
    let template = SubjectTemplate::parse("organization,workspace_id,run_phase").unwrap();
    let policy = ClaimPolicy::new(ClaimProfile::Tfc, Some(template));
    let request = TokenRequest {
        context: &ctx,
        audience: &audience,
        policy: &policy,
        issued_at: at(T0),
        ttl: "1h".parse::<Ttl>().unwrap(),
        jti: Jti::fixed("x"),
    };
    let token = tern_identity::mint(&k, &issuer(), &request).unwrap();
    let (_, claims) = parts(token.jwt.expose_secret());
    assert_eq!(claims["sub"], "organization:acme:workspace_id:ws-mbsd5E3Ktt5Rg2Xm:run_phase:plan");
    assert_eq!(claims["terraform_project_name"], "Default Project");
    assert_eq!(claims["exp"], T0 + 3600);
}

#[test]
fn jsonwebtoken_verifies_our_tokens() {
    for fixture in ["rsa-2048.pem", "ec-p256.pem"] {
        let k = key(fixture);
        // Mint "now" so that jsonwebtoken's own clock accepts it.
        let now = tern_types::unix_seconds(tern_types::Clock::now(&tern_types::SystemClock));
        let token = mint_at(&k, ClaimProfile::Tfc, RunPhase::Apply, now);
        let (decoding, alg) = match k.public_jwk().params() {
            JwkParams::Rsa { n, e } => {
                (DecodingKey::from_rsa_raw_components(n, e), jsonwebtoken::Algorithm::RS256)
            }
            JwkParams::P256 { x, y } => (
                DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                    .unwrap(),
                jsonwebtoken::Algorithm::ES256,
            ),
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&["https://tern.example.com"]);
        validation.set_audience(&["aws.workload.identity"]);
        validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "nbf", "iat"]);
        let data = jsonwebtoken::decode::<Value>(token.jwt.expose_secret(), &decoding, &validation)
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        assert_eq!(data.header.kid.as_deref(), Some(k.kid().as_str()));
        assert_eq!(
            data.claims["sub"],
            "organization:acme:project:Default Project:workspace:prod:run_phase:apply"
        );
    }
}

#[test]
fn minted_token_debug_is_redacted() {
    let token = mint_at(&key("rsa-2048.pem"), ClaimProfile::Tfc, RunPhase::Plan, T0);
    let shown = format!("{token:?}");
    let signature = token.jwt.expose_secret().rsplit('.').next().unwrap();
    assert!(!shown.contains(signature));
    assert!(!shown.contains(token.jwt.expose_secret().split('.').next().unwrap()));
    assert!(shown.contains("redacted"));
}
