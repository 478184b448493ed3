//! Encryption at rest and token hashing.
//!
//! Sensitive variable values and managed private keys are sealed with AES-256-GCM under the
//! operator's key-encryption key, with the row's id as associated data, so a ciphertext copied
//! to another row does not open. Bearer tokens are stored as their SHA-256.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Why a key-encryption key was refused, or a ciphertext did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The key is not 32 bytes of base64.
    #[error(
        "the key-encryption key must be 32 random bytes in base64 (44 characters, e.g. from `openssl rand -base64 32`); got {0}"
    )]
    BadKey(String),
    /// A ciphertext did not open: wrong key, or the data was altered.
    #[error(
        "a stored secret did not decrypt: the key-encryption key is not the one it was sealed with, or the data was altered"
    )]
    Open,
    /// The system's random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// The operator's key-encryption key (32 bytes). `Debug` does not show it.
#[derive(Clone)]
pub struct EncryptionKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl EncryptionKey {
    /// Parse the base64 form (standard or URL-safe alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| CryptoError::BadKey("text that is not base64".into()))?,
        );
        let key: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| CryptoError::BadKey(format!("{} bytes", bytes.len())))?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// A new random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(key.as_mut()).map_err(|_| CryptoError::Random)?;
        Ok(Self(key))
    }

    /// An HMAC key derived from this key for `purpose` (never the key itself).
    pub fn derive_hmac_key(&self, purpose: &str) -> aws_lc_rs::hmac::Key {
        let root = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.0.as_ref());
        let derived = Zeroizing::new(aws_lc_rs::hmac::sign(&root, purpose.as_bytes()).as_ref().to_vec());
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &derived)
    }

    /// The base64 form, to be written to a private file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.0.as_ref()))
    }
}

/// Seals and opens secrets under an [`EncryptionKey`].
pub struct Cipher {
    key: LessSafeKey,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    /// A cipher for `key`.
    pub fn new(key: &EncryptionKey) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key.0.as_ref())
            .map_err(|_| CryptoError::BadKey("a key AES-256-GCM refuses".into()))?;
        Ok(Self { key: LessSafeKey::new(unbound) })
    }

    /// `nonce || ciphertext || tag`, bound to `context` (a row id).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut data = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Open what [`Cipher::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut data = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), data.as_mut_slice())
            .map_err(|_| CryptoError::Open)?
            .len();
        data.truncate(len);
        Ok(data)
    }
}

/// SHA-256 of a bearer token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

/// `n` random bytes.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A new bearer token: `<prefix>.<43 characters of base64url>` (256 random bits).
pub(crate) fn new_token_secret(prefix: &str) -> Result<Zeroizing<String>, CryptoError> {
    let bytes = Zeroizing::new(random_bytes::<32>()?);
    Ok(Zeroizing::new(format!("{prefix}.{}", URL_SAFE_NO_PAD.encode(bytes.as_ref()))))
}

/// A resource id in TFE's style: `<prefix>-` and 16 characters of `[0-9a-zA-Z]`.
pub(crate) fn new_id(prefix: &str) -> Result<String, CryptoError> {
    const ALPHABET: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('-');
    while id.len() < prefix.len() + 17 {
        for b in random_bytes::<32>()? {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && id.len() < prefix.len() + 17 {
                id.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(id)
}

/// [`new_id`] that sorts by time: its first 6 characters are `unix_seconds` in base 62 (in
/// ASCII order), the other 10 random. For rows only ever appended (the audit trail), ids of
/// one second go into one corner of the `id` index, so an insert finds its page in the cache
/// and dirties one hot page, not a random one of the whole index.
pub(crate) fn new_id_at(prefix: &str, unix_seconds: i64) -> Result<String, CryptoError> {
    const SORTED: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random = new_id(prefix)?;
    let mut time = [b'0'; 6];
    let mut t = u64::try_from(unix_seconds).unwrap_or(0);
    for c in time.iter_mut().rev() {
        *c = SORTED[usize::try_from(t % 62).unwrap_or(0)];
        t /= 62;
    }
    let head = prefix.len() + 1;
    // 62^6 seconds is 1 800 years: no wrap before then.
    Ok(format!("{}{}{}", &random[..head], String::from_utf8_lossy(&time), &random[head + 6..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_second_and_keep_the_shape_of_ids() {
        let ids: Vec<String> = [0, 61, 62, 1_800_000_000, 1_800_000_001, 1_800_003_600]
            .iter()
            .map(|t| new_id_at("ae", *t).unwrap())
            .collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        for id in &ids {
            assert_eq!(id.len(), "ae-".len() + 16, "{id}");
            assert!(id.starts_with("ae-") && id[3..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
        assert!(ids[0].starts_with("ae-000000") && ids[1].starts_with("ae-00000z"), "{ids:?}");
        let (a, b) = (new_id_at("ae", 1_800_000_000).unwrap(), new_id_at("ae", 1_800_000_000).unwrap());
        assert_eq!(a[..9], b[..9], "one second, one prefix");
        assert_ne!(a, b, "and random after it");
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = EncryptionKey::generate().unwrap();
        let cipher = Cipher::new(&key).unwrap();
        let sealed = cipher.seal("var-1", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(cipher.open("var-1", &sealed).unwrap().as_slice(), b"hunter2");
        assert_eq!(cipher.open("var-2", &sealed), Err(CryptoError::Open));
        let other = Cipher::new(&EncryptionKey::generate().unwrap()).unwrap();
        assert_eq!(other.open("var-1", &sealed), Err(CryptoError::Open));
        assert_eq!(cipher.open("var-1", &sealed[..5]), Err(CryptoError::Open));
    }

    #[test]
    fn keys_parse_from_base64_and_refuse_other_sizes() {
        let key = EncryptionKey::generate().unwrap();
        let text = key.to_base64();
        assert_eq!(text.len(), 44);
        assert!(EncryptionKey::from_base64(&text).is_ok());
        assert!(format!("{key:?}").contains("redacted"));
        let err = EncryptionKey::from_base64("c2hvcnQ=").unwrap_err();
        assert!(err.to_string().contains("got 5 bytes"), "{err}");
        assert!(EncryptionKey::from_base64("not base64 !!").is_err());
    }

    #[test]
    fn ids_and_tokens_have_their_shape() {
        let id = new_id("ws").unwrap();
        assert_eq!(id.len(), 19);
        assert!(id.starts_with("ws-") && id[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(new_id("ws").unwrap(), id);
        let token = new_token_secret("tern").unwrap();
        assert_eq!(token.len(), 5 + 43);
        assert_eq!(token_hash(&token).len(), 32);
    }
}
