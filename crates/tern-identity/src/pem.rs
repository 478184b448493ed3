//! PEM intake: turns the bytes of a key file into DER sections, or into an error that says what
//! is wrong with the file (empty, DER instead of PEM, encrypted, truncated, corrupt, the wrong
//! kind of block). The base64 decoding itself is rustls-pki-types'.

use rustls_pki_types::pem::{self, PemObject, SectionKind};
use zeroize::Zeroizing;

use crate::key::KeyError;

/// The decoded sections of a PEM file, and the labels of every block it has.
pub(crate) struct PemFile {
    sections: Vec<(SectionKind, Zeroizing<Vec<u8>>)>,
    labels: Vec<String>,
}

/// Parse PEM text. Never echoes file content in errors, only block labels.
pub(crate) fn parse(input: &[u8]) -> Result<PemFile, KeyError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(KeyError::Empty);
    }
    let labels = begin_labels(input);
    if labels.is_empty() {
        let hint = if input.first() == Some(&0x30) {
            Some("it looks like binary DER; convert it with: openssl pkey -inform DER -in FILE -out key.pem")
        } else if input.starts_with(b"ssh-") || input.starts_with(b"ecdsa-sha2-") {
            Some("it looks like an OpenSSH public key line; tern needs a PEM private key")
        } else {
            None
        };
        return Err(KeyError::NotPem { hint });
    }
    if labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY") || contains(input, b"Proc-Type: 4,ENCRYPTED") {
        return Err(KeyError::Encrypted);
    }
    let mut sections = Vec::new();
    for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(input) {
        match item {
            Ok((kind, der)) => sections.push((kind, Zeroizing::new(der))),
            Err(pem::Error::MissingSectionEnd { end_marker }) => {
                let label = String::from_utf8_lossy(&end_marker)
                    .trim_matches(|c| c == '-' || c == ' ')
                    .trim_start_matches("END ")
                    .to_owned();
                return Err(KeyError::Truncated { label });
            }
            Err(pem::Error::Base64Decode(_)) => return Err(KeyError::CorruptPem),
            Err(pem::Error::IllegalSectionStart { .. }) => {
                return Err(KeyError::MalformedPem { reason: "a BEGIN line is malformed" });
            }
            Err(pem::Error::SectionTooLarge) => {
                return Err(KeyError::MalformedPem { reason: "a PEM block is too large" });
            }
            Err(_) => return Err(KeyError::MalformedPem { reason: "the PEM structure is invalid" }),
        }
    }
    Ok(PemFile { sections, labels })
}

impl PemFile {
    /// The one private key block (PKCS#8, PKCS#1 or SEC1).
    pub(crate) fn private_key(&self) -> Result<(SectionKind, &[u8]), KeyError> {
        let mut keys = self.sections.iter().filter(|(kind, _)| {
            matches!(kind, SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey)
        });
        let first = keys.next();
        let more = keys.count();
        match first {
            None => Err(self.no_key_error(true)),
            Some(_) if more > 0 => Err(KeyError::SeveralPrivateKeys { count: more + 1 }),
            Some((kind, der)) => Ok((*kind, der.as_slice())),
        }
    }

    /// The first `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    pub(crate) fn public_key(&self) -> Result<&[u8], KeyError> {
        self.sections
            .iter()
            .find(|(kind, _)| *kind == SectionKind::PublicKey)
            .map(|(_, der)| der.as_slice())
            .ok_or_else(|| self.no_key_error(false))
    }

    fn no_key_error(&self, private: bool) -> KeyError {
        let found = self.labels.clone();
        let hint = if found.iter().any(|l| l == "OPENSSH PRIVATE KEY") {
            Some("convert an OpenSSH key with: ssh-keygen -p -m PKCS8 -f FILE")
        } else if found.iter().any(|l| l == "RSA PUBLIC KEY") {
            Some("convert a PKCS#1 public key with: openssl rsa -RSAPublicKey_in -in FILE -pubout")
        } else if private && found.iter().any(|l| l == "PUBLIC KEY") {
            Some("this is a public key; tern needs the private key to sign")
        } else {
            None
        };
        if private { KeyError::NoPrivateKey { found, hint } } else { KeyError::NoPublicKey { found, hint } }
    }
}

/// Labels of every `-----BEGIN <label>-----` line, at most 16, each at most 64 characters.
fn begin_labels(input: &[u8]) -> Vec<String> {
    input
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let rest = line.strip_prefix(b"-----BEGIN ")?;
            let label = rest.strip_suffix(b"-----")?;
            Some(String::from_utf8_lossy(&label[..label.len().min(64)]).into_owned())
        })
        .take(16)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
