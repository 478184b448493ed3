//! The Vault (and OpenBao) HTTP API calls tern makes: JWT login, token renewal and
//! revocation, secrets-engine reads and lease revocation. Errors say which Vault, which path,
//! the HTTP status, and Vault's own `errors` messages.
//!
//! The address is the tenant's choice and errors go to the run log, so the client trusts the
//! server as little as it can: it follows no redirect (a 3xx is an error naming the status and
//! the host it pointed to, and the token is never sent anywhere but the configured address), it
//! reads bounded bodies, and of an error body it keeps only Vault's `errors` strings, without
//! control characters or terminal escapes, each cut at [`MAX_MESSAGE_CHARS`], at most
//! [`MAX_MESSAGES`] of them; anything else the server sent is never shown.

use std::time::Duration;

use serde_json::{Value, json};
use tern_types::SecretString;

/// Longest error body read: Vault's error documents are a few hundred bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest answer read: Vault's own default `max_request_size`, so a secret Vault accepted fits.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Longest message of Vault's kept in an error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;
/// Most messages of Vault's kept in an error.
pub const MAX_MESSAGES: usize = 5;

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
    /// Vault answered with a redirect, which tern does not follow: it would send the token
    /// (or the login's JWT) to wherever the server said.
    #[error(
        "Vault at {addr} answered {what} with a redirect (HTTP {status}) to {}; tern follows no redirect, so that a token is only ever sent to the address configured: use the address of the server that answers (for a cluster, its active node or a load balancer in front of it)",
        .location.as_deref().unwrap_or("an unreadable location")
    )]
    Redirected {
        /// Vault address.
        addr: String,
        /// The call.
        what: String,
        /// HTTP status.
        status: u16,
        /// The host (and port) of the `Location` header, nothing else of it.
        location: Option<String>,
    },
    /// The answer is larger than tern reads.
    #[error("Vault at {addr} answered {what} with more than {limit} bytes")]
    TooLarge {
        /// Vault address.
        addr: String,
        /// The call.
        what: String,
        /// Bytes read at most.
        limit: usize,
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
        /// Vault's messages, cleaned ([`clean_message`]) and bounded.
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
            .redirect(reqwest::redirect::Policy::none())
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
        if status.is_redirection() {
            return Err(VaultError::Redirected {
                addr: self.addr.clone(),
                what: what.to_owned(),
                status: status.as_u16(),
                location: location_host(&resp),
            });
        }
        let limit = if status.is_success() { MAX_BODY } else { MAX_ERROR_BODY };
        let unreachable = |e: reqwest::Error| VaultError::Unreachable {
            addr: self.addr.clone(),
            what: what.to_owned(),
            reason: http_cause(&e),
        };
        let (body, complete) = read_bounded(resp, limit).await.map_err(unreachable)?;
        if !status.is_success() {
            // A cut error body is not parsed: the status alone says enough.
            let errors = if complete { vault_messages(&body) } else { Vec::new() };
            return Err(VaultError::Refused {
                addr: self.addr.clone(),
                what: what.to_owned(),
                status: status.as_u16(),
                errors,
            });
        }
        if !complete {
            return Err(VaultError::TooLarge { addr: self.addr.clone(), what: what.to_owned(), limit });
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
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

/// The body, at most `limit` bytes; `false` if there was more (the rest is not read).
async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// The host and port a redirect points to: the path and query could carry anything.
fn location_host(resp: &reqwest::Response) -> Option<String> {
    let location = resp.headers().get(reqwest::header::LOCATION)?.to_str().ok()?;
    let url = resp.url().join(location).ok()?;
    let host = url.host_str()?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some(clean_message(&host))
}

/// Vault's `errors` strings from an error body, cleaned, at most [`MAX_MESSAGES`]; nothing if
/// the body is not Vault's JSON.
fn vault_messages(body: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let Some(errors) = value.get("errors").and_then(Value::as_array) else { return Vec::new() };
    errors
        .iter()
        .filter_map(Value::as_str)
        .map(clean_message)
        .filter(|m| !m.is_empty())
        .take(MAX_MESSAGES)
        .collect()
}

/// Text from a remote server made fit for a log line: terminal escape sequences removed,
/// other control characters (and bidirectional overrides) removed or, for line breaks and
/// tabs, turned into a space; at most [`MAX_MESSAGE_CHARS`] characters, `…` marking a cut.
pub fn clean_message(text: &str) -> String {
    let mut out = String::new();
    let mut kept = 0usize;
    let mut chars = text.chars().peekable();
    // Skip a control sequence's parameters up to its final byte.
    fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        for c in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                break;
            }
        }
    }
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                // Operating system command: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {} // a two-character escape: both go
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                    kept += 1;
                }
            }
            c if c.is_control() => {}
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => {
                if kept == MAX_MESSAGE_CHARS {
                    out.push('…');
                    break;
                }
                out.push(c);
                kept += 1;
            }
        }
    }
    out.trim_end().to_owned()
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// An HTTP server that answers every request with `reply` and closes, keeping the head of
    /// each request it received (request line and headers).
    async fn canned(reply: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let reply = Arc::new(reply);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (log, reply) = (Arc::clone(&log), Arc::clone(&reply));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    log.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                    // The client may stop reading a long answer: that is the point.
                    let _ = stream.write_all(&reply).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        (addr, seen)
    }

    fn client(addr: &str) -> VaultClient {
        VaultClient::new(addr, None, None, Duration::from_secs(10)).unwrap()
    }

    /// Issue 15: a Vault that redirects would get tern to send the token again, wherever it
    /// says. The redirect is an error naming the status and the host only.
    #[tokio::test]
    async fn a_redirect_is_an_error_and_the_token_goes_nowhere_else() {
        let (elsewhere, second) = canned(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}".to_vec(),
        )
        .await;
        let host = elsewhere.trim_start_matches("http://").to_owned();
        for status in
            ["301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"]
        {
            let reply = format!(
                "HTTP/1.1 {status}\r\nlocation: {elsewhere}/v1/auth/token/lookup-self?leak=FAKE-SECRET-IN-LOCATION\r\ncontent-length: 0\r\n\r\n"
            );
            let (addr, first) = canned(reply.into_bytes()).await;
            let token = SecretString::new("s.FAKE-VAULT-TOKEN".to_owned());
            let err = client(&addr).lookup_self(&token).await.unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, VaultError::Redirected { .. }), "{status}: {text}");
            assert!(text.contains(&format!("(HTTP {})", &status[..3])), "{status}: {text}");
            assert!(text.contains(&format!("to {host};")), "{status}: {text}");
            assert!(!text.contains("FAKE-SECRET") && !text.contains("lookup-self?"), "{status}: {text}");
            assert_eq!(first.lock().unwrap().len(), 1, "{status}");
            assert!(
                first.lock().unwrap()[0].contains("s.FAKE-VAULT-TOKEN"),
                "sent once, to the configured Vault"
            );
            // The login's JWT is not forwarded either.
            let login = client(&addr).login("jwt", "tern", "eyJ.FAKE-JWT.sig").await;
            assert!(matches!(login, Err(VaultError::Redirected { .. })), "{status}");
        }
        assert!(second.lock().unwrap().is_empty(), "the redirect's target saw {:?}", second.lock().unwrap());
    }

    /// What a hostile or broken server sends back never reaches the log as it was: only Vault's
    /// `errors` strings, cleaned and cut; a body over the limit is not even read to its end.
    #[tokio::test]
    async fn a_remote_body_reaches_the_error_only_as_cleaned_vault_messages() {
        let reply = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        let token = SecretString::new("s.FAKE-VAULT-TOKEN".to_owned());

        // Escapes, control characters and overlong messages; secrets outside `errors`.
        let long = format!("permission denied {}FAKE-SECRET-AFTER-THE-CUT", "x".repeat(300));
        let body = json!({
            "errors": [
                "\u{1b}[31;1mpermission denied\u{1b}[0m\r\n\u{1b}]0;owned\u{7}next line\u{7}\u{8}\u{202e}",
                long,
                "", "3", "4", "5", "6", "7: FAKE-SECRET-PAST-THE-COUNT",
            ],
            "data": { "password": "FAKE-SECRET-IN-DATA" },
        })
        .to_string();
        let (addr, _) = canned(reply("403 Forbidden", &body)).await;
        let err = client(&addr).lookup_self(&token).await.unwrap_err();
        let VaultError::Refused { status: 403, errors, .. } = &err else { panic!("{err}") };
        assert_eq!(errors[0], "permission denied next line");
        assert_eq!(errors[1].chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(errors[1].starts_with("permission denied xxx") && errors[1].ends_with('…'));
        assert_eq!(errors.len(), MAX_MESSAGES);
        let text = err.to_string();
        assert!(!text.contains("FAKE-SECRET") && !text.chars().any(char::is_control), "{text:?}");

        // A huge body, not Vault's JSON: the status only, read no further than the limit.
        let huge = format!(
            "\u{1b}[2J{}FAKE-SECRET-IN-A-HUGE-BODY{}",
            "A".repeat(MAX_ERROR_BODY / 2),
            "B".repeat(8 * 1024 * 1024)
        );
        let (addr, _) = canned(reply("500 Internal Server Error", &huge)).await;
        let err = client(&addr).lookup_self(&token).await.unwrap_err();
        let text = err.to_string();
        assert!(text.ends_with("(HTTP 500): no message"), "{text:.300}");
        assert!(text.len() < 300, "{text:.300}");

        // Valid JSON, but past the error limit: not parsed.
        let padded =
            json!({"errors": ["FAKE-SECRET-IN-A-LONG-ERROR"], "pad": "p".repeat(MAX_ERROR_BODY)}).to_string();
        let (addr, _) = canned(reply("400 Bad Request", &padded)).await;
        let text = client(&addr).lookup_self(&token).await.unwrap_err().to_string();
        assert!(text.ends_with("(HTTP 400): no message"), "{text}");
    }

    #[test]
    fn messages_are_cleaned_of_escapes_and_controls() {
        for (given, expected) in [
            ("plain", "plain"),
            ("\u{1b}[1;31mred\u{1b}[0m", "red"),
            ("\u{9b}2Jcleared", "cleared"),
            ("\u{1b}]8;;http://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\", "link"),
            ("a\nb\r\n\tc", "a b c"),
            ("bell\u{7}\u{0}\u{7f}", "bell"),
            ("\u{202e}desrever", "desrever"),
            ("\u{1b}Mup", "up"),
            ("unterminated \u{1b}[", "unterminated"),
        ] {
            assert_eq!(clean_message(given), expected, "{given:?}");
        }
        assert_eq!(clean_message(&"é".repeat(500)).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
