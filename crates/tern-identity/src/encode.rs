//! The two encoders on the minting hot path: base64url without padding, and JSON string and
//! number literals. Byte-for-byte the same output as the `base64` crate and `serde_json`
//! (tested below against both), but table-driven and with a fast path for strings that need no
//! escaping, so that a token's cost is its signature (see `benches/mint.rs`).

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Append the base64url encoding of `bytes` (RFC 4648 §5, no padding) to `out`.
pub(crate) fn push_b64url(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + (bytes.len() * 4).div_ceil(3), 0);
    let mut dst = &mut out[start..];
    let mut src = bytes;
    // 6 input bytes -> 8 output bytes per step, reading 8 bytes at once (so 2 bytes of look-ahead).
    while src.len() >= 8 && dst.len() >= 8 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&src[..8]);
        let n = u64::from_be_bytes(word);
        let quad = [
            B64URL[(n >> 58) as usize & 63],
            B64URL[(n >> 52) as usize & 63],
            B64URL[(n >> 46) as usize & 63],
            B64URL[(n >> 40) as usize & 63],
            B64URL[(n >> 34) as usize & 63],
            B64URL[(n >> 28) as usize & 63],
            B64URL[(n >> 22) as usize & 63],
            B64URL[(n >> 16) as usize & 63],
        ];
        dst[..8].copy_from_slice(&quad);
        src = &src[6..];
        dst = &mut dst[8..];
    }
    for (s, d) in src.chunks_exact(3).zip(dst.chunks_exact_mut(4)) {
        let n = (u32::from(s[0]) << 16) | (u32::from(s[1]) << 8) | u32::from(s[2]);
        d[0] = B64URL[(n >> 18) as usize & 63];
        d[1] = B64URL[(n >> 12) as usize & 63];
        d[2] = B64URL[(n >> 6) as usize & 63];
        d[3] = B64URL[n as usize & 63];
    }
    let full = src.len() / 3;
    match (&src[full * 3..], &mut dst[full * 4..]) {
        ([a], [d0, d1]) => {
            *d0 = B64URL[usize::from(a >> 2)];
            *d1 = B64URL[usize::from((a & 0x03) << 4)];
        }
        ([a, b], [d0, d1, d2]) => {
            *d0 = B64URL[usize::from(a >> 2)];
            *d1 = B64URL[usize::from(((a & 0x03) << 4) | (b >> 4))];
            *d2 = B64URL[usize::from((b & 0x0F) << 2)];
        }
        _ => {}
    }
}

/// Append `s` as a JSON string literal, quotes included.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Fast path: nothing to escape (names, URLs, ids). A fold without early exit vectorises.
    let needs_escape = s.bytes().fold(false, |acc, b| acc | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if needs_escape {
        // serde_json's escaping, for exact compatibility. Writing a &str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Append `n` as a JSON number.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn base64url_matches_the_base64_crate_for_every_length_and_byte() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            for start in [0, 1, 2] {
                let slice = &data[start.min(len)..len];
                let mut ours = b"prefix.".to_vec();
                push_b64url(&mut ours, slice);
                assert_eq!(
                    ours,
                    format!("prefix.{}", URL_SAFE_NO_PAD.encode(slice)).into_bytes(),
                    "len {len} start {start}"
                );
            }
        }
    }

    #[test]
    fn json_strings_match_serde_json() {
        let cases = [
            "",
            "acme",
            "Default Project",
            "organization:acme:project:Default Project:workspace:prod:run_phase:apply",
            "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
            "quote\"inside",
            "back\\slash",
            "tab\there",
            "newline\n",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "unicode: é ü 日本 😀",
            "</script>",
            "\u{2028}\u{2029}",
        ];
        for s in cases {
            let mut ours = Vec::new();
            push_json_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
            let back: String = serde_json::from_slice(&ours).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn numbers_match_serde_json() {
        for n in [0u64, 1, 9, 10, 99, 100, 1_763_719_200, u64::MAX] {
            let mut ours = Vec::new();
            push_u64(&mut ours, n);
            assert_eq!(ours, n.to_string().into_bytes());
        }
    }
}
