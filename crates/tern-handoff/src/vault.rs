//! The Vault (and OpenBao) HTTP API calls tern makes: JWT login, token renewal and
//! revocation, secrets-engine reads and lease revocation. Errors say which Vault, which path,
//! the HTTP status, and Vault's own `errors` messages.

use std::time::Duration;

use serde_json::{Value, json};
use tern_types::SecretString;

/// A Vault refusal or failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The CA bundle is unusable.
    #[error("the Vault CA certificate is not a usable PEM certificate: {0}")]
    Ca(String),
    /// Could not talk to Vault.
    #[error("cannot reach Vault at {addr} ({what}): {reason}{}", tls_hint(.reason))]
    Unreachable {
        /// Vault address.
        addr: String,
        /// The call.
        what: String,
        /// Why.
        reason: String,
    },
    /// Vault answered with an error.
    #[error("Vault at {addr} refused {what} (HTTP {status}): {}", messages(.errors))]
    Refused {
        /// Vault address.
        addr: String,
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// Vault's messages.
        errors: Vec<String>,
    },
    /// The answer lacks a field.
    #[error("Vault at {addr} answered {what} without {field}")]
    Malformed {
        /// Vault address.
        addr: String,
        /// The call.
        what: String,
        /// The missing field.
        field: &'static str,
    },
}

fn tls_hint(reason: &str) -> &'static str {
    if reason.contains("UnknownIssuer") || reason.contains("certificate") {
        "; if Vault's certificate comes from a private CA, set TFC_VAULT_ENCODED_CACERT to the CA's PEM, base64-encoded"
    } else {
        ""
    }
}

fn messages(errors: &[String]) -> String {
    if errors.is_empty() { "no message".to_owned() } else { errors.join("; ") }
}

/// A client for one Vault server (address, namespace, CA, timeout).
#[derive(Clone)]
pub struct VaultClient {
    http: reqwest::Client,
    addr: String,
    namespace: Option<String>,
}

/// A Vault token from a login.
pub struct VaultToken {
    /// The token.
    pub token: SecretString,
    /// Its lease duration.
    pub lease: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
}

/// A secrets-engine response.
pub struct Secret {
    /// The lease to revoke at the end (empty when not revocable).
    pub lease_id: String,
    /// The `data` object. Holds secrets: never log it.
    pub data: Value,
}

impl VaultClient {
    /// A client for `addr` (no trailing slash).
    pub fn new(
        addr: &str,
        namespace: Option<&str>,
        ca_pem: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, VaultError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| VaultError::Ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(VaultError::Ca("no CERTIFICATE block".to_owned()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| VaultError::Ca(e.to_string()))?;
        Ok(Self {
            http,
            addr: addr.trim_end_matches('/').to_owned(),
            namespace: namespace.map(str::to_owned),
        })
    }

    /// The address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, VaultError> {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let mut req = self.http.request(method, &url).header("X-Vault-Request", "true");
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t.expose_secret());
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| VaultError::Unreachable {
            addr: self.addr.clone(),
            what: what.to_owned(),
            reason: http_cause(&e),
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let errors = value
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            return Err(VaultError::Refused {
                addr: self.addr.clone(),
                what: what.to_owned(),
                status: status.as_u16(),
                errors,
            });
        }
        Ok(value)
    }

    /// `POST auth/<auth_path>/login {role, jwt}`.
    pub async fn login(&self, auth_path: &str, role: &str, jwt: &str) -> Result<VaultToken, VaultError> {
        let what = format!("the login to auth/{auth_path} as role {role:?}");
        let body = json!({ "role": role, "jwt": jwt });
        let v = self
            .call(reqwest::Method::POST, &format!("auth/{auth_path}/login"), None, Some(&body), &what)
            .await?;
        token_from(&v, &self.addr, &what)
    }

    /// `POST auth/token/renew-self`.
    pub async fn renew_self(&self, token: &SecretString) -> Result<VaultToken, VaultError> {
        let v = self
            .call(
                reqwest::Method::POST,
                "auth/token/renew-self",
                Some(token),
                Some(&json!({})),
                "the renewal of tern's token",
            )
            .await?;
        let mut renewed = token_from(&v, &self.addr, "the renewal of tern's token")?;
        renewed.token = token.clone();
        Ok(renewed)
    }

    /// `POST auth/token/revoke-self`: the token revokes itself, and with it every lease it created.
    pub async fn revoke_self(&self, token: &SecretString) -> Result<(), VaultError> {
        self.call(
            reqwest::Method::POST,
            "auth/token/revoke-self",
            Some(token),
            Some(&json!({})),
            "the revocation of tern's token",
        )
        .await
        .map(|_| ())
    }

    /// `auth/token/lookup-self`.
    pub async fn lookup_self(&self, token: &SecretString) -> Result<Value, VaultError> {
        self.call(reqwest::Method::GET, "auth/token/lookup-self", Some(token), None, "a token lookup").await
    }

    /// A secrets-engine request.
    pub async fn read(
        &self,
        token: &SecretString,
        post: bool,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Secret, VaultError> {
        let method = if post { reqwest::Method::POST } else { reqwest::Method::GET };
        let what = format!("{} {path}", if post { "POST" } else { "GET" });
        let v = self.call(method, path, Some(token), body, &what).await?;
        let data = v.get("data").cloned().filter(Value::is_object).ok_or(VaultError::Malformed {
            addr: self.addr.clone(),
            what: what.clone(),
            field: "data",
        })?;
        let lease_id = v.get("lease_id").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(Secret { lease_id, data })
    }

    /// `PUT sys/leases/revoke {lease_id}`.
    pub async fn revoke_lease(&self, token: &SecretString, lease_id: &str) -> Result<(), VaultError> {
        self.call(
            reqwest::Method::PUT,
            "sys/leases/revoke",
            Some(token),
            Some(&json!({ "lease_id": lease_id })),
            "the revocation of a lease",
        )
        .await
        .map(|_| ())
    }
}

fn token_from(v: &Value, addr: &str, what: &str) -> Result<VaultToken, VaultError> {
    let malformed = |field| VaultError::Malformed { addr: addr.to_owned(), what: what.to_owned(), field };
    let auth = v.get("auth").ok_or_else(|| malformed("auth"))?;
    let token =
        auth.get("client_token").and_then(Value::as_str).ok_or_else(|| malformed("auth.client_token"))?;
    Ok(VaultToken {
        token: SecretString::new(token.to_owned()),
        lease: Duration::from_secs(auth.get("lease_duration").and_then(Value::as_u64).unwrap_or(0)),
        renewable: auth.get("renewable").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// What went wrong with an HTTP request, in words: reqwest's own top message repeats the URL and
/// says little ("error sending request", "client error (Connect)"); the causes below say what
/// happened.
pub fn http_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.starts_with("client error (") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() { e.to_string() } else { parts.join(": ") }
}
