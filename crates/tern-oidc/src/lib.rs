//! Signing people in through the operator's OpenID provider (any standard one: Keycloak, Dex,
//! Entra ID, Okta, Google, OpenBao's…): the authorization code flow with PKCE (S256), `state`
//! and `nonce`, the code exchanged at the token endpoint with the client's secret, and the ID
//! token checked against the provider's JWKS — signature (RS256 or ES256, never `none` or a
//! symmetric algorithm), issuer, audience (and `azp` when there are several), expiry and nonce —
//! by `tern_identity::verify`, the verifier tern already uses as a relying party.
//!
//! The OAuth mechanics (PKCE, the authorization URL, the token request) are the `oauth2`
//! crate's; ID tokens are `tern-identity`'s (the `openidconnect` crate would do both, but it
//! depends on the `rsa` crate, which tern bans: RUSTSEC-2023-0071). The provider's discovery
//! document and keys are fetched on first use and cached; an unknown `kid` refetches the keys
//! (at most every 30 seconds), so a rotation at the provider is followed. HTTP follows no
//! redirect (no SSRF through the provider's documents) and times out after 10 seconds.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tern_identity::verify::{Expectations, Jwks, VerifyError, verify};
use tern_types::SecretString;
use url::Url;

/// How tern is registered with the provider, and which claims say who someone is.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The issuer: its discovery document is `<issuer>/.well-known/openid-configuration`.
    pub issuer: Url,
    /// tern's client id at the provider.
    pub client_id: String,
    /// tern's client secret.
    pub client_secret: SecretString,
    /// Where the provider sends the browser back (`<public URL>/oauth/callback`).
    pub redirect_uri: Url,
    /// Scopes asked besides `openid` (default: `profile`, `email`, `groups`).
    pub scopes: Vec<String>,
    /// The claim that names the user (default `preferred_username`).
    pub username_claim: String,
    /// The claim that lists the user's groups (default `groups`).
    pub groups_claim: String,
}

/// Why a sign-in failed. Never holds a token, a code or a secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, or answered with something unusable.
    #[error("the identity provider {what}: {reason}")]
    Provider {
        /// What was asked.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The provider refused the code exchange.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check.
    #[error("the identity provider's ID token was refused: {0}")]
    IdToken(String),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
}

/// What the browser is sent to, and what must be kept (server-side) until it comes back.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The provider's authorization URL with every parameter.
    pub url: Url,
    /// The `state` (also in the URL): comes back with the code.
    pub state: SecretString,
    /// The `nonce` (also in the URL): must be in the ID token.
    pub nonce: String,
    /// The PKCE verifier: proves at the token endpoint that we started this sign-in.
    pub verifier: SecretString,
}

/// Who signed in, as the verified ID token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `<issuer>#<sub>`: stable, unique per provider.
    pub identity: String,
    /// The username claim's value.
    pub username: String,
    /// The `email` claim, if any.
    pub email: String,
    /// The groups claim's values (empty when absent).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
}

struct Cached {
    discovery: Discovery,
    jwks: Arc<Jwks>,
    keys_fetched: Instant,
    fetched: Instant,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default)]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type Response = StandardTokenResponse<IdTokenField, BasicTokenType>;
type OauthClient = oauth2::Client<
    BasicErrorResponse,
    Response,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How long the discovery document and keys are kept before they are fetched again.
const CACHE_FOR: Duration = Duration::from_secs(300);
/// The least time between two fetches of the keys for an unknown `kid`.
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(30);
/// Clock skew allowed on the ID token's times.
const LEEWAY: Duration = Duration::from_secs(60);

/// The provider, as tern talks to it.
pub struct Provider {
    config: ProviderConfig,
    http: reqwest::Client,
    cache: ArcSwapOption<Cached>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("issuer", &self.config.issuer.as_str()).finish_non_exhaustive()
    }
}

/// `http://` only for a provider on this machine (tests, a local Dex); anything else HTTPS.
fn check_url(url: &Url, what: &str) -> Result<(), OidcError> {
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() == "https" || (url.scheme() == "http" && local) {
        Ok(())
    } else {
        Err(OidcError::Config(format!(
            "the identity provider's {what} {url} must be https:// (http:// only on 127.0.0.1 or localhost)"
        )))
    }
}

impl Provider {
    /// A provider; nothing is fetched until the first sign-in.
    pub fn new(config: ProviderConfig) -> Result<Self, OidcError> {
        check_url(&config.issuer, "issuer")?;
        if config.client_id.is_empty() {
            return Err(OidcError::Config("the identity provider's client id is empty".into()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { config, http, cache: ArcSwapOption::empty() })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    async fn get_json(&self, url: &Url, what: &'static str) -> Result<Vec<u8>, OidcError> {
        let fail = |reason: String| OidcError::Provider { what, reason };
        let response = self.http.get(url.clone()).send().await.map_err(|e| fail(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(fail(format!("{url} answered {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fail(format!("{url}: {e}")))?;
        if body.len() > 1024 * 1024 {
            return Err(fail(format!("{url} answered more than 1 MiB")));
        }
        Ok(body.to_vec())
    }

    async fn fetch(&self, keep_discovery: Option<&Cached>) -> Result<Arc<Cached>, OidcError> {
        let discovery = match keep_discovery {
            Some(c) if c.fetched.elapsed() < CACHE_FOR => c.discovery.clone(),
            _ => {
                let base = self.config.issuer.as_str().trim_end_matches('/');
                let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
                    .map_err(|e| OidcError::Config(format!("issuer URL: {e}")))?;
                let body = self.get_json(&url, "discovery document").await?;
                let d: Discovery = serde_json::from_slice(&body).map_err(|e| OidcError::Provider {
                    what: "discovery document",
                    reason: format!("{url}: {e}"),
                })?;
                // OpenID Connect Discovery §4.3: the document names the issuer it was asked for.
                if d.issuer.trim_end_matches('/') != base {
                    return Err(OidcError::Provider {
                        what: "discovery document",
                        reason: format!("names the issuer {:?}, not {base:?}", d.issuer),
                    });
                }
                for (url, what) in [
                    (&d.authorization_endpoint, "authorization endpoint"),
                    (&d.token_endpoint, "token endpoint"),
                    (&d.jwks_uri, "JWKS URI"),
                ] {
                    check_url(url, what)?;
                }
                d
            }
        };
        let body = self.get_json(&discovery.jwks_uri, "JWKS").await?;
        let jwks = Jwks::from_json(&body)
            .map_err(|e| OidcError::Provider { what: "JWKS", reason: e.to_string() })?;
        let now = Instant::now();
        let fetched = keep_discovery.filter(|c| c.fetched.elapsed() < CACHE_FOR).map_or(now, |c| c.fetched);
        let cached = Arc::new(Cached { discovery, jwks: Arc::new(jwks), keys_fetched: now, fetched });
        self.cache.store(Some(cached.clone()));
        Ok(cached)
    }

    async fn cached(&self) -> Result<Arc<Cached>, OidcError> {
        match self.cache.load_full() {
            Some(c) if c.fetched.elapsed() < CACHE_FOR => Ok(c),
            _ => self.fetch(None).await,
        }
    }

    fn client(&self, d: &Discovery) -> Result<OauthClient, OidcError> {
        let redirect = RedirectUrl::new(self.config.redirect_uri.to_string())
            .map_err(|e| OidcError::Config(format!("redirect URI: {e}")))?;
        let auth = AuthUrl::from_url(d.authorization_endpoint.clone());
        let token = TokenUrl::from_url(d.token_endpoint.clone());
        Ok(oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.expose_secret().to_owned()))
            .set_auth_uri(auth)
            .set_token_uri(token)
            .set_redirect_uri(redirect))
    }

    /// Start a sign-in: the URL to send the browser to, and what to keep until it returns.
    pub async fn authorization_request(&self) -> Result<AuthorizationRequest, OidcError> {
        let cached = self.cached().await?;
        let client = self.client(&cached.discovery)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random().secret().clone();
        let mut request = client.authorize_url(CsrfToken::new_random).add_scope(Scope::new("openid".into()));
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state) =
            request.add_extra_param("nonce", nonce.clone()).set_pkce_challenge(challenge).url();
        Ok(AuthorizationRequest {
            url,
            state: SecretString::new(state.secret().clone()),
            nonce,
            verifier: SecretString::new(verifier.secret().clone()),
        })
    }

    /// Finish a sign-in: exchange `code` (with the verifier), check the ID token (and its
    /// `nonce`), and say who it is.
    pub async fn finish(
        &self,
        code: &str,
        verifier: &SecretString,
        nonce: &str,
        now: SystemTime,
    ) -> Result<Identity, OidcError> {
        let cached = self.cached().await?;
        let client = self.client(&cached.discovery)?;
        let http = self.http.clone();
        let send = move |request: oauth2::HttpRequest| {
            let http = http.clone();
            async move { send(&http, request).await }
        };
        let response = client
            .exchange_code(oauth2::AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&send)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    OidcError::Refused(match r.error_description() {
                        Some(d) => format!("{} ({d})", r.error().as_ref()),
                        None => r.error().as_ref().to_owned(),
                    })
                }
                other => OidcError::Provider { what: "token endpoint", reason: other.to_string() },
            })?;
        let id_token = response.extra_fields().id_token.clone().ok_or_else(|| {
            OidcError::IdToken("the token response has no id_token (is the scope openid granted?)".into())
        })?;
        let verified = match self.check(&cached, &id_token, now) {
            Err(VerifyError::UnknownKid { .. }) if cached.keys_fetched.elapsed() >= REFETCH_KEYS_AFTER => {
                // The provider rotated its keys since we fetched them.
                let fresh = self.fetch(Some(&cached)).await?;
                self.check(&fresh, &id_token, now)
            }
            other => other,
        }
        .map_err(|e| OidcError::IdToken(e.to_string()))?;
        identity_of(verified.claims(), &cached.discovery.issuer, &self.config, nonce)
    }

    fn check(
        &self,
        cached: &Cached,
        token: &str,
        now: SystemTime,
    ) -> Result<tern_identity::verify::VerifiedToken, VerifyError> {
        verify(
            token,
            &cached.jwks,
            &Expectations {
                issuer: &cached.discovery.issuer,
                audience: Some(&self.config.client_id),
                now,
                leeway: LEEWAY,
            },
        )
    }
}

/// The identity in verified claims: the nonce must be ours; with several audiences, `azp`
/// must be us (OpenID Connect Core §3.1.3.7).
fn identity_of(
    claims: &serde_json::Map<String, Value>,
    issuer: &str,
    config: &ProviderConfig,
    nonce: &str,
) -> Result<Identity, OidcError> {
    let refuse = |why: String| Err(OidcError::IdToken(why));
    match claims.get("nonce").and_then(Value::as_str) {
        Some(n) if n == nonce => {}
        Some(_) => return refuse("its nonce is not the one this sign-in sent (a replayed token?)".into()),
        None => return refuse("it has no nonce".into()),
    }
    if let Some(Value::Array(aud)) = claims.get("aud")
        && aud.len() > 1
        && claims.get("azp").and_then(Value::as_str) != Some(config.client_id.as_str())
    {
        return refuse(format!("it has several audiences and its azp is not {:?}", config.client_id));
    }
    let Some(sub) = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return refuse("it has no sub".into());
    };
    let Some(username) = claims.get(&config.username_claim).and_then(Value::as_str).filter(|s| !s.is_empty())
    else {
        return refuse(format!(
            "it has no {:?} claim to name the user (set --oidc-username-claim to one it has, e.g. email or sub)",
            config.username_claim
        ));
    };
    let groups = match claims.get(&config.groups_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        Some(_) => return refuse(format!("its {:?} claim is not a list of strings", config.groups_claim)),
    };
    Ok(Identity {
        identity: format!("{}#{sub}", issuer.trim_end_matches('/')),
        username: username.to_owned(),
        // An address the provider says it has not verified is not taken.
        email: match claims.get("email_verified") {
            Some(Value::Bool(false)) => String::new(),
            _ => claims.get("email").and_then(Value::as_str).unwrap_or_default().to_owned(),
        },
        groups,
    })
}

/// The `oauth2` crate's request, sent with tern's HTTP client.
async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut out = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

/// A transport failure talking to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config() -> ProviderConfig {
        ProviderConfig {
            issuer: Url::parse("https://idp.example.com").unwrap(),
            client_id: "tern".into(),
            client_secret: SecretString::new("s".into()),
            redirect_uri: Url::parse("https://tern.example.com/oauth/callback").unwrap(),
            scopes: vec![],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
        }
    }

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_identity_needs_our_nonce_a_subject_and_a_username() {
        let c = config();
        let good = claims(
            serde_json::json!({"sub":"u1","nonce":"n","preferred_username":"alice","email":"a@x","groups":["devs","ops"]}),
        );
        let id = identity_of(&good, "https://idp.example.com/", &c, "n").unwrap();
        assert_eq!(id.identity, "https://idp.example.com#u1");
        assert_eq!((id.username.as_str(), id.groups.len()), ("alice", 2));
        for (bad, says) in [
            (serde_json::json!({"sub":"u1","nonce":"other","preferred_username":"a"}), "nonce is not"),
            (serde_json::json!({"sub":"u1","preferred_username":"a"}), "no nonce"),
            (serde_json::json!({"nonce":"n","preferred_username":"a"}), "no sub"),
            (serde_json::json!({"sub":"u1","nonce":"n"}), "--oidc-username-claim"),
            (
                serde_json::json!({"sub":"u1","nonce":"n","preferred_username":"a","aud":["tern","other"],"azp":"other"}),
                "azp",
            ),
            (
                serde_json::json!({"sub":"u1","nonce":"n","preferred_username":"a","groups":{"a":1}}),
                "not a list",
            ),
        ] {
            let e = identity_of(&claims(bad), "https://idp.example.com", &c, "n").unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn providers_must_be_https_unless_on_this_machine() {
        let mut c = config();
        c.issuer = Url::parse("http://idp.example.com").unwrap();
        assert!(Provider::new(c.clone()).unwrap_err().to_string().contains("https://"));
        c.issuer = Url::parse("http://127.0.0.1:9000").unwrap();
        assert!(Provider::new(c).is_ok());
    }
}
