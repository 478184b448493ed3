//! A JWKS uploaded to a cloud instead of fetched from the issuer: how a **private issuer** (a
//! tern server the cloud cannot reach) is trusted where the cloud accepts one — Google Cloud's
//! workload identity pool OIDC providers take `jwks_json`. [`UploadedJwks::parse`] checks that a
//! file is a JWKS of public keys only, so a private key never reaches a cloud's configuration.

use serde_json::Value;

/// Members that only a private (or symmetric) JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A checked JWKS of public keys, as it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedJwks {
    /// The file it came from, as the user named it (gcloud reads it again).
    path: String,
    /// The document, compact.
    json: String,
    /// The key ids, in order (`-` for a key without one).
    kids: Vec<String>,
}

/// Why a file is not a JWKS that may be uploaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON.
    #[error(
        "--jwks-file {path} is not JSON ({reason}): give the issuer's JWKS, as `tern keys export-jwks` prints it"
    )]
    NotJson {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// JSON, but not a JWKS.
    #[error("--jwks-file {path} is not a JWKS: {reason} (`tern keys export-jwks` prints the issuer's)")]
    NotJwks {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A key is private or symmetric.
    #[error(
        "--jwks-file {path}: key {index} (kid {kid}) is a private key (it has {member:?}); refusing to put it in a cloud's configuration. Upload the public JWKS (`tern keys export-jwks`), and treat this file as a leaked key"
    )]
    PrivateKey {
        /// The file.
        path: String,
        /// Position of the key in `keys`, from 0.
        index: usize,
        /// Its `kid`, or `-`.
        kid: String,
        /// The private member it has.
        member: &'static str,
    },
    /// `keys` is empty.
    #[error("--jwks-file {path} has no key: a cloud given it would accept no token")]
    Empty {
        /// The file.
        path: String,
    },
}

impl UploadedJwks {
    /// Check `text`, read from `path`: a JSON object whose `keys` is a non-empty array of public
    /// keys (each an object with a `kty`, RSA `n`/`e` or EC/OKP `crv`/`x`), none with private
    /// members (`d`, RSA's primes and CRT values, a symmetric `k`).
    pub fn parse(path: &str, text: &str) -> Result<Self, JwksError> {
        let path = path.to_owned();
        let doc: Value = serde_json::from_str(text)
            .map_err(|e| JwksError::NotJson { path: path.clone(), reason: e.to_string() })?;
        let not = |reason: String| JwksError::NotJwks { path: path.clone(), reason };
        let keys = doc
            .as_object()
            .ok_or_else(|| not("it is not a JSON object".into()))?
            .get("keys")
            .ok_or_else(|| {
                not("it has no \"keys\" member (a single JWK? wrap it as {\"keys\": [ … ]})".into())
            })?
            .as_array()
            .ok_or_else(|| not("\"keys\" is not an array".into()))?;
        if keys.is_empty() {
            return Err(JwksError::Empty { path });
        }
        let mut kids = Vec::with_capacity(keys.len());
        for (index, key) in keys.iter().enumerate() {
            let key = key.as_object().ok_or_else(|| not(format!("key {index} is not an object")))?;
            let kid = key.get("kid").and_then(Value::as_str).unwrap_or("-").to_owned();
            // A key id goes into comments of the Terraform and of a script meant for `sh`: only
            // printable ASCII (a newline would end the comment and start a command).
            if kid.is_empty() || kid.len() > 256 || !kid.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err(not(format!(
                    "key {index} has a \"kid\" that is empty, longer than 256 bytes, or not printable ASCII"
                )));
            }
            if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| key.contains_key(*m)) {
                return Err(JwksError::PrivateKey { path, index, kid, member });
            }
            let kty = key
                .get("kty")
                .and_then(Value::as_str)
                .ok_or_else(|| not(format!("key {index} (kid {kid}) has no \"kty\"")))?;
            let needs: &[&str] = match kty {
                "RSA" => &["n", "e"],
                "EC" => &["crv", "x", "y"],
                "OKP" => &["crv", "x"],
                other => {
                    return Err(not(format!(
                        "key {index} (kid {kid}) has kty {other:?}, not a public key type (RSA, EC, OKP)"
                    )));
                }
            };
            if let Some(missing) = needs.iter().find(|m| !key.get(**m).is_some_and(Value::is_string)) {
                return Err(not(format!("key {index} (kid {kid}, {kty}) has no {missing:?}")));
            }
            kids.push(kid);
        }
        let json = serde_json::to_string(&doc).map_err(|e| not(e.to_string()))?;
        Ok(Self { path, json, kids })
    }

    /// The file it was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The document, compact JSON.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The key ids it holds (`-` for a key without one).
    pub fn kids(&self) -> &[String] {
        &self.kids
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::{JwksError, UploadedJwks};

    const RSA: &str = r#"{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"sXch","e":"AQAB"}"#;
    const EC: &str = r#"{"kty":"EC","kid":"k2","crv":"P-256","x":"f83O","y":"x_FE"}"#;

    fn parse(text: &str) -> Result<UploadedJwks, JwksError> {
        UploadedJwks::parse("jwks.json", text)
    }

    #[test]
    fn a_public_jwks_is_kept_with_its_key_ids() {
        let j = parse(&format!("{{\"keys\": [{RSA}, {EC}]}}\n")).unwrap();
        assert_eq!(j.kids(), ["k1", "k2"]);
        assert_eq!(j.path(), "jwks.json");
        assert!(!j.json().contains('\n'));
        let back: serde_json::Value = serde_json::from_str(j.json()).unwrap();
        assert_eq!(back["keys"][1]["crv"], "P-256");
    }

    #[test]
    fn a_private_key_is_refused_whichever_private_member_it_has() {
        for (member, key) in [
            ("d", r#"{"kty":"EC","kid":"k2","crv":"P-256","x":"f83O","y":"x_FE","d":"secret"}"#),
            ("p", r#"{"kty":"RSA","kid":"k1","n":"sXch","e":"AQAB","p":"secret"}"#),
            ("k", r#"{"kty":"oct","kid":"h","k":"c2VjcmV0"}"#),
        ] {
            let err = parse(&format!("{{\"keys\": [{RSA}, {key}]}}")).unwrap_err();
            match &err {
                JwksError::PrivateKey { index: 1, member: m, .. } => assert_eq!(*m, member),
                other => panic!("{other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains("private key") && !text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_jwks_says_why() {
        let cases = [
            ("not json", "is not JSON"),
            ("[]", "not a JSON object"),
            (RSA, "no \"keys\" member"),
            ("{\"keys\": {}}", "\"keys\" is not an array"),
            ("{\"keys\": [1]}", "key 0 is not an object"),
            ("{\"keys\": [{\"kid\":\"a\",\"n\":\"x\",\"e\":\"y\"}]}", "key 0 (kid a) has no \"kty\""),
            ("{\"keys\": [{\"kty\":\"RSA\",\"kid\":\"a\",\"e\":\"AQAB\"}]}", "has no \"n\""),
            ("{\"keys\": [{\"kty\":\"XYZ\"}]}", "kty \"XYZ\""),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.starts_with("--jwks-file jwks.json"), "{err}");
        }
        assert_eq!(parse("{\"keys\": []}").unwrap_err(), JwksError::Empty { path: "jwks.json".into() });
    }

    #[test]
    fn a_key_id_that_could_break_out_of_a_comment_is_refused() {
        for kid in ["k1\ntouch /tmp/pwned\n#", "tab\there", "", "\u{1b}[31m"] {
            let doc =
                serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": kid}]});
            let e = super::UploadedJwks::parse("f.json", &doc.to_string()).unwrap_err().to_string();
            assert!(e.contains("printable ASCII"), "{kid:?}: {e}");
            assert!(!e.contains("pwned"), "the kid is not echoed: {e}");
        }
    }
}
