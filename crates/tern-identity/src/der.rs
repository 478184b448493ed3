//! A minimal, bounded DER reader: just enough structure to tell *why* a key file is unusable
//! (which algorithm, which curve, how many RSA bits) and to read a SubjectPublicKeyInfo.
//!
//! aws-lc-rs does the real parsing of private keys; this module only looks at the outer
//! structure so that errors can say "RSA key is 1024 bits" instead of "key rejected". Every read
//! is bounds-checked and lengths are limited to four octets; it never panics on any input.

/// DER universal tags used here.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const CONTEXT_0: u8 = 0xA0;
}

/// Object identifiers (DER content octets) tern recognises.
pub(crate) mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    pub const RSASSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    pub const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
    pub const P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
    pub const SECP256K1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x0A];
    pub const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
    pub const ED448: &[u8] = &[0x2B, 0x65, 0x71];
    pub const X25519: &[u8] = &[0x2B, 0x65, 0x6E];
    pub const DSA: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x38, 0x04, 0x01];
}

/// What went wrong reading DER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DerError {
    #[error("the data ends in the middle of a value")]
    Truncated,
    #[error("expected {expected}, found tag {found:#04x}")]
    UnexpectedTag { expected: &'static str, found: u8 },
    #[error("unsupported length encoding")]
    BadLength,
    #[error("unexpected data after the end of the structure")]
    TrailingData,
}

/// A cursor over DER-encoded bytes.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.input.first().copied()
    }

    /// Read one tag-length-value and return the tag and the content.
    pub(crate) fn read_any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, rest) = self.input.split_first().ok_or(DerError::Truncated)?;
        let (&first, mut rest) = rest.split_first().ok_or(DerError::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 || count > 4 {
                return Err(DerError::BadLength);
            }
            if rest.len() < count {
                return Err(DerError::Truncated);
            }
            let (octets, after) = rest.split_at(count);
            rest = after;
            octets.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < len {
            return Err(DerError::Truncated);
        }
        let (content, after) = rest.split_at(len);
        self.input = after;
        Ok((tag, content))
    }

    /// Read a value that must have tag `expected`.
    pub(crate) fn read(&mut self, expected: u8, name: &'static str) -> Result<&'a [u8], DerError> {
        match self.peek_tag() {
            Some(found) if found != expected => Err(DerError::UnexpectedTag { expected: name, found }),
            _ => Ok(self.read_any()?.1),
        }
    }

    /// Read a value with tag `expected` if the next value has that tag.
    pub(crate) fn read_optional(&mut self, expected: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(expected) { Ok(Some(self.read_any()?.1)) } else { Ok(None) }
    }

    /// Require that nothing is left.
    pub(crate) fn finish(&self) -> Result<(), DerError> {
        if self.input.is_empty() { Ok(()) } else { Err(DerError::TrailingData) }
    }
}

/// The content of the single SEQUENCE that makes up `der`, refusing trailing bytes.
pub(crate) fn outer_sequence(der: &[u8]) -> Result<Reader<'_>, DerError> {
    let mut outer = Reader::new(der);
    let content = outer.read(tag::SEQUENCE, "SEQUENCE")?;
    outer.finish()?;
    Ok(Reader::new(content))
}

/// An unsigned big-endian integer without leading zero octets.
pub(crate) fn unsigned(int: &[u8]) -> &[u8] {
    let start = int.iter().position(|&b| b != 0).unwrap_or(int.len());
    &int[start..]
}

/// The number of significant bits of an unsigned big-endian integer.
pub(crate) fn bit_len(int: &[u8]) -> usize {
    let int = unsigned(int);
    match int.first() {
        None => 0,
        Some(&first) => int.len() * 8 - first.leading_zeros() as usize,
    }
}

/// Dotted-decimal form of an OID, for messages.
pub(crate) fn oid_to_string(content: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in content {
        value = value.saturating_mul(128).saturating_add(u64::from(b & 0x7F));
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let (t, c) = Reader::new(&long).read_any().unwrap();
        assert_eq!((t, c.len()), (0x04, 0x80));
        let (t, c) = Reader::new(&[0x02, 0x01, 0x05]).read_any().unwrap();
        assert_eq!((t, c), (0x02, &[5u8][..]));
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        let cases: &[(&[u8], DerError)] = &[
            (&[], DerError::Truncated),
            (&[0x30], DerError::Truncated),
            (&[0x30, 0x05, 0x01], DerError::Truncated),
            (&[0x30, 0x80], DerError::BadLength),
            (&[0x30, 0x85, 1, 1, 1, 1, 1], DerError::BadLength),
            (&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], DerError::Truncated),
        ];
        for (input, expected) in cases {
            assert_eq!(Reader::new(input).read_any().err().as_ref(), Some(expected), "{input:?}");
        }
        assert_eq!(outer_sequence(&[0x30, 0x00, 0x00]).err(), Some(DerError::TrailingData));
        assert!(matches!(
            Reader::new(&[0x02, 0x00]).read(tag::SEQUENCE, "SEQUENCE"),
            Err(DerError::UnexpectedTag { found: 0x02, .. })
        ));
    }

    #[test]
    fn integers_and_oids() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01]), 1);
        assert_eq!(bit_len(&[0x00]), 0);
        assert_eq!(oid_to_string(oid::P256), "1.2.840.10045.3.1.7");
        assert_eq!(oid_to_string(oid::RSA_ENCRYPTION), "1.2.840.113549.1.1.1");
        assert_eq!(oid_to_string(oid::SECP256K1), "1.3.132.0.10");
    }
}
