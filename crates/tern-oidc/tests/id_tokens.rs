//! The ID token checks against a provider that answers what each test wants: a good token
//! passes; forged, expired, not-yet-valid, wrong-audience, wrong-issuer, wrong-nonce, unsigned
//! and symmetric ones are refused with the reason; the provider's refusals and a discovery
//! document for another issuer are named. (The successful flow against a certified provider is
//! the browser test, `tern-cli/tests/it/signin.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tern_identity::SigningKey;
use tern_oidc::{OidcError, Provider, ProviderConfig};
use tern_types::SecretString;
use url::Url;

#[derive(Clone, Default)]
struct Answers {
    issuer_in_discovery: Arc<Mutex<Option<String>>>,
    token_response: Arc<Mutex<(u16, Value)>>,
}

async fn fake_provider(answers: Answers) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://127.0.0.1:{}", addr.port());
    let key = SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem")).unwrap();
    let jwks = json!({"keys": [key.public_jwk()]});
    let (b, a1, a2) = (base.clone(), answers.clone(), answers.clone());
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let issuer = a1.issuer_in_discovery.lock().unwrap().clone().unwrap_or(b.clone());
                async move {
                    axum::Json(json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{b}/auth"),
                        "token_endpoint": format!("{b}/token"),
                        "jwks_uri": format!("{b}/jwks"),
                    }))
                }
            }),
        )
        .route("/jwks", get(move || async move { axum::Json(jwks) }))
        .route(
            "/token",
            post(move || {
                let (status, body) = a2.token_response.lock().unwrap().clone();
                async move { (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(body)) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn provider(base: &str) -> Provider {
    Provider::new(ProviderConfig {
        issuer: Url::parse(base).unwrap(),
        client_id: "tern".into(),
        client_secret: SecretString::new("secret".into()),
        redirect_uri: Url::parse("https://tern.example.com/oauth/callback").unwrap(),
        scopes: vec!["profile".into(), "groups".into()],
        username_claim: "preferred_username".into(),
        groups_claim: "groups".into(),
    })
    .unwrap()
}

fn now() -> i64 {
    i64::try_from(tern_types::unix_seconds(tern_types::Clock::now(&tern_types::SystemClock))).unwrap()
}

fn sign(claims: &Value, pem: &str, kid: &str, alg: jsonwebtoken::Algorithm) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = match alg {
        jsonwebtoken::Algorithm::HS256 => jsonwebtoken::EncodingKey::from_secret(b"the client secret"),
        _ => jsonwebtoken::EncodingKey::from_rsa_pem(&tern_testkit::read_key_fixture(pem)).unwrap(),
    };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn id_tokens_are_checked_like_a_careful_relying_party() {
    let answers = Answers::default();
    let base = fake_provider(answers.clone()).await;
    let p = provider(&base);
    let kid = SigningKey::from_pem(&tern_testkit::read_key_fixture("rsa-2048.pem"))
        .unwrap()
        .kid()
        .as_str()
        .to_owned();

    let start = p.authorization_request().await.unwrap();
    let q: std::collections::HashMap<String, String> = start.url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256", "PKCE");
    assert_eq!(q["nonce"], start.nonce);
    assert!(q["scope"].split(' ').any(|s| s == "openid"), "{q:?}");
    assert!(!format!("{start:?}").contains(start.verifier.expose_secret()), "the verifier never in Debug");

    let good = json!({
        "iss": base, "aud": "tern", "sub": "u-1", "nonce": start.nonce, "iat": now(), "exp": now() + 300,
        "preferred_username": "alice", "email": "alice@acme.test", "groups": ["devs"],
    });
    let answer =
        |token: String| (200, json!({"access_token": "a", "token_type": "bearer", "id_token": token}));
    *answers.token_response.lock().unwrap() =
        answer(sign(&good, "rsa-2048.pem", &kid, jsonwebtoken::Algorithm::RS256));
    let id = finish(&p, &start).await.unwrap();
    assert_eq!((id.username.as_str(), id.groups.as_slice()), ("alice", &["devs".to_owned()][..]));
    assert_eq!(id.identity, format!("{base}#u-1"));

    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forged (another key, same kid)",
            sign(&good, "rsa-2048-second.pem", &kid, jsonwebtoken::Algorithm::RS256),
            "signature",
        ),
        (
            "expired",
            sign(
                &with(json!({"exp": now() - 3600, "iat": now() - 7200})),
                "rsa-2048.pem",
                &kid,
                jsonwebtoken::Algorithm::RS256,
            ),
            "expired",
        ),
        (
            "wrong audience",
            sign(&with(json!({"aud": "someone-else"})), "rsa-2048.pem", &kid, jsonwebtoken::Algorithm::RS256),
            "aud",
        ),
        (
            "wrong issuer",
            sign(
                &with(json!({"iss": "https://evil.example"})),
                "rsa-2048.pem",
                &kid,
                jsonwebtoken::Algorithm::RS256,
            ),
            "iss",
        ),
        (
            "wrong nonce (a replayed token)",
            sign(&with(json!({"nonce": "another"})), "rsa-2048.pem", &kid, jsonwebtoken::Algorithm::RS256),
            "nonce",
        ),
        (
            "no nonce",
            sign(&with(json!({"nonce": null})), "rsa-2048.pem", &kid, jsonwebtoken::Algorithm::RS256),
            "nonce",
        ),
        ("symmetric (alg confusion)", sign(&good, "", &kid, jsonwebtoken::Algorithm::HS256), "HS256"),
        (
            "unknown key",
            sign(&good, "rsa-2048.pem", "no-such-kid", jsonwebtoken::Algorithm::RS256),
            "no-such-kid",
        ),
        (
            "no username claim",
            sign(
                &with(json!({"preferred_username": null})),
                "rsa-2048.pem",
                &kid,
                jsonwebtoken::Algorithm::RS256,
            ),
            "--oidc-username-claim",
        ),
    ];
    for (what, token, says) in cases {
        *answers.token_response.lock().unwrap() = answer(token);
        let e = finish(&p, &start).await.unwrap_err();
        assert!(matches!(e, OidcError::IdToken(_)), "{what}: {e}");
        assert!(e.to_string().contains(says), "{what}: {e}");
    }
    // Unsigned: `alg: none`.
    let unsigned = {
        use base64::Engine as _;
        let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b(&json!({"alg": "none", "kid": kid})), b(&good))
    };
    *answers.token_response.lock().unwrap() = answer(unsigned);
    assert!(matches!(finish(&p, &start).await.unwrap_err(), OidcError::IdToken(_)));
    // No ID token at all; the provider refusing the code.
    *answers.token_response.lock().unwrap() = (200, json!({"access_token": "a", "token_type": "bearer"}));
    assert!(finish(&p, &start).await.unwrap_err().to_string().contains("no id_token"));
    *answers.token_response.lock().unwrap() =
        (400, json!({"error": "invalid_grant", "error_description": "code used"}));
    let e = finish(&p, &start).await.unwrap_err();
    assert!(matches!(e, OidcError::Refused(_)) && e.to_string().contains("invalid_grant (code used)"), "{e}");

    // A discovery document naming another issuer is not trusted.
    let other = Answers::default();
    let base2 = fake_provider(other.clone()).await;
    *other.issuer_in_discovery.lock().unwrap() = Some("https://evil.example".into());
    let e = provider(&base2).authorization_request().await.unwrap_err();
    assert!(e.to_string().contains("names the issuer"), "{e}");
}

async fn finish(
    p: &Provider,
    start: &tern_oidc::AuthorizationRequest,
) -> Result<tern_oidc::Identity, OidcError> {
    p.finish("code", &start.verifier, &start.nonce, tern_types::Clock::now(&tern_types::SystemClock)).await
}
