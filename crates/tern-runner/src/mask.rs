//! Masking secrets in run logs: [`Masker`] replaces every sensitive value a phase knows with
//! `***` before a byte of the log leaves the runner, as GitHub Actions does with its secrets.
//!
//! What is masked, for each secret learned with [`Masker::add_secret`]: the value itself; each of
//! its lines when it has several (trimmed, as long as [`MIN_LEN`]), so a certificate or a key is
//! caught line by line; and the forms in which Terraform and the tools around it print a string:
//! quoted for HCL (what tern writes to the tfvars file, and what Terraform shows in the source
//! snippet of an error about the value), and escaped for JSON (`-json` output, the JSON in error
//! messages) with Go's HTML escapes (`\u003c`) and with every non-ASCII character escaped, and
//! one level of each inside the other (the snippet in `-json` diagnostics; a `jsonencode()`
//! result that Terraform prints as a quoted string).
//!
//! The log is a stream of chunks cut anywhere, even inside a UTF-8 character or a secret.
//! [`Masker::push`] returns what is safe to emit now and holds back only the shortest tail that
//! could still be the start of a secret (at most the longest pattern less one byte), so a secret
//! split over two or more chunks is still caught; the tail is released by the next chunk that
//! decides it, or by [`Masker::finish`]. The result is exactly what masking the whole log at
//! once would give: leftmost-longest matches, each replaced by `***`.
//!
//! Values shorter than [`MIN_LEN`] bytes are not masked (see there); [`Learned`] says so, and the
//! runner reports it at the start of the run. Transformed values (base64 of a secret, a secret
//! cut by Terraform's line wrapping, a hash) are not recognised: masking is a safety net for
//! accidents, not a defence against a configuration that means to print its secrets.
//!
//! Matching uses the `aho-corasick` crate (leftmost-longest, all patterns in one pass over the
//! text): the same search `regex` uses for literal alternations, tested far beyond what a
//! hand-written matcher here would be, and linear in the log's size whatever the secrets are.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aho_corasick::{AhoCorasick, MatchKind};
use tern_handoff::{MintFailure, TokenMinter};
use tern_identity::MintedToken;
use tern_types::{Audience, SecretString, Ttl};
use zeroize::Zeroizing;

use crate::client::JobVariable;

/// What a secret is replaced with.
pub const MASK: &[u8] = b"***";

/// Values (and lines of multi-line values) shorter than this many bytes, once surrounding white
/// space is trimmed, are not masked. Masking `42`, `yes` or `abc` would replace every occurrence
/// of those letters throughout the log (counts, timestamps, words), making it unreadable, and the
/// pattern of `***` left behind would itself tell the value. A value that short has too little
/// entropy to be kept secret by masking; the run says so at its start instead. Four bytes is
/// where a value stops being a common word or number fragment in Terraform's output.
pub const MIN_LEN: usize = 4;

/// What [`Masker::add_secret`] did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// The value is masked in all its forms. `short_lines` lines of a multi-line value are too
    /// short to be masked on their own (they are masked only where the whole value appears).
    Masked {
        /// Lines shorter than [`MIN_LEN`].
        short_lines: usize,
    },
    /// Empty or white space only: nothing to mask.
    Empty,
    /// Too short to mask safely: not masked.
    TooShort {
        /// Length in bytes, without surrounding white space.
        len: usize,
    },
}

impl Learned {
    /// The line for the run log when the value is not (entirely) masked; `what` names the
    /// value (`sensitive variable "pin"`), never shows it.
    pub fn warning(&self, what: &str) -> Option<String> {
        match *self {
            Self::Masked { short_lines: 0 } | Self::Empty => None,
            Self::Masked { short_lines } => Some(format!(
                "{what} has {short_lines} line(s) shorter than {MIN_LEN} bytes: they are masked in logs only where the whole value appears"
            )),
            Self::TooShort { len } => Some(format!(
                "{what} is {len} byte(s) long, too short to mask in logs (values of {MIN_LEN} bytes or more are masked)"
            )),
        }
    }
}

/// A streaming masker: built from labelled secrets, fed the log chunk by chunk.
pub struct Masker {
    /// What was learned, by name (never the value), for `Debug`.
    labels: Vec<String>,
    /// Every form of every secret, sorted and without duplicates (for the prefix test).
    patterns: Vec<SecretString>,
    /// `first[b]`: some pattern starts with byte `b`.
    first: [bool; 256],
    /// The automaton over `patterns`; `None` while there is none.
    matcher: Option<AhoCorasick>,
    /// The tail not yet emitted: it may be the start of a secret.
    held: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Masker")
            .field("secrets", &self.labels)
            .field("patterns", &self.patterns.len())
            .field("held_bytes", &self.held.len())
            .finish()
    }
}

impl Default for Masker {
    fn default() -> Self {
        Self::new()
    }
}

impl Masker {
    /// A masker that knows no secret yet (it passes everything through).
    pub fn new() -> Self {
        Self {
            labels: Vec::new(),
            patterns: Vec::new(),
            first: [false; 256],
            matcher: None,
            held: Zeroizing::new(Vec::new()),
        }
    }

    /// A masker for `secrets` (name, value); what each gave is in the same order.
    pub fn with_secrets<'a>(
        secrets: impl IntoIterator<Item = (&'a str, &'a SecretString)>,
    ) -> (Self, Vec<Learned>) {
        let mut masker = Self::new();
        let learned = masker.add_secrets(secrets);
        (masker, learned)
    }

    /// Learn `value`, named `what` (for `Debug` and reports). Works mid-stream: the held tail
    /// and everything pushed from now on are masked with it too.
    pub fn add_secret(&mut self, what: &str, value: &SecretString) -> Learned {
        self.add_secrets([(what, value)]).into_iter().next().unwrap_or(Learned::Empty)
    }

    /// [`Self::add_secret`] for several at once (one rebuild of the automaton).
    pub fn add_secrets<'a>(
        &mut self,
        secrets: impl IntoIterator<Item = (&'a str, &'a SecretString)>,
    ) -> Vec<Learned> {
        let before = self.patterns.len();
        let learned = secrets.into_iter().map(|(what, value)| self.learn(what, value)).collect();
        if self.patterns.len() != before {
            self.rebuild();
        }
        learned
    }

    fn learn(&mut self, what: &str, value: &SecretString) -> Learned {
        let value = value.expose_secret();
        let core = value.trim();
        if core.is_empty() {
            return Learned::Empty;
        }
        if core.len() < MIN_LEN {
            return Learned::TooShort { len: core.len() };
        }
        // The value as given, without surrounding white space, and each line long enough.
        let mut bases: Vec<&str> = vec![value, core];
        let mut short_lines = 0;
        if core.contains('\n') {
            for line in core.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if line.len() < MIN_LEN {
                    short_lines += 1;
                } else {
                    bases.push(line);
                }
            }
        }
        let mut new: Vec<String> = Vec::new();
        for base in bases {
            let hcl = hcl_escaped(base);
            new.push(base.to_owned());
            for style in [JsonStyle::Plain, JsonStyle::Go, JsonStyle::Ascii] {
                let json = json_escaped(base, style);
                // The tfvars snippet in -json diagnostics; jsonencode() shown by Terraform.
                new.push(json_escaped(&hcl, style));
                new.push(hcl_escaped(&json));
                new.push(json);
            }
            new.push(hcl);
        }
        for form in new {
            let form = SecretString::new(form);
            if form.len() < MIN_LEN {
                continue;
            }
            if let Err(at) = self.patterns.binary_search_by(|p| p.expose_secret().cmp(form.expose_secret())) {
                self.first[usize::from(form.expose_secret().as_bytes()[0])] = true;
                self.patterns.insert(at, form);
            }
        }
        self.labels.push(what.to_owned());
        Learned::Masked { short_lines }
    }

    fn rebuild(&mut self) {
        // Building fails only past the automaton's size limits (far beyond any set of secrets
        // a phase has); keep the previous automaton then rather than mask nothing.
        match AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(self.patterns.iter().map(|p| p.expose_secret().as_bytes()))
        {
            Ok(m) => self.matcher = Some(m),
            Err(e) => tracing::error!("log masking: the patterns cannot be compiled: {e}"),
        }
    }

    /// The next chunk of the log; answers the bytes that are safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.matcher.is_none() && self.held.is_empty() {
            return chunk.to_vec();
        }
        self.held.extend_from_slice(chunk);
        let limit = self.undecided_from();
        let (out, consumed) = self.mask(&self.held, limit);
        self.held.drain(..consumed);
        out
    }

    /// The end of the log: what was held back, masked. The masker can take a new log after.
    pub fn finish(&mut self) -> Vec<u8> {
        let (out, _) = self.mask(&self.held, self.held.len());
        self.held.clear();
        out
    }

    /// `text` masked as a whole, apart from the stream (for a message that goes elsewhere).
    pub fn redact(&self, text: &[u8]) -> Vec<u8> {
        self.mask(text, text.len()).0
    }

    /// `text` masked as a whole.
    pub fn redact_str(&self, text: &str) -> String {
        // Patterns are whole UTF-8 strings, so a match never cuts a character of valid text.
        String::from_utf8_lossy(&self.redact(text.as_bytes())).into_owned()
    }

    /// Replace the matches that start before `limit`; answers the output and how many bytes
    /// of `text` it covers (at least `limit`, more when a match runs past it).
    fn mask(&self, text: &[u8], limit: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(limit);
        let mut cursor = 0;
        if let Some(matcher) = &self.matcher {
            for m in matcher.find_iter(text) {
                if m.start() >= limit {
                    break;
                }
                out.extend_from_slice(&text[cursor..m.start()]);
                out.extend_from_slice(MASK);
                cursor = m.end();
            }
        }
        let end = cursor.max(limit);
        out.extend_from_slice(&text[cursor..end]);
        (out, end)
    }

    /// Where the held text stops being decided: the first position from which the rest is a
    /// proper prefix of some pattern (a secret that the next chunk may complete, or a longer
    /// one that may extend a match), or its end.
    ///
    /// Everything before that position masks as it would in the whole log: no match starting
    /// there can reach past the end (it would make that start undecided), so leftmost-longest
    /// makes the same choices with or without the bytes still to come.
    fn undecided_from(&self) -> usize {
        let text: &[u8] = &self.held;
        let longest = self.patterns.iter().map(SecretString::len).max().unwrap_or(0);
        let from = text.len().saturating_sub(longest.saturating_sub(1));
        (from..text.len())
            .find(|&i| self.first[usize::from(text[i])] && self.is_proper_prefix(&text[i..]))
            .unwrap_or(text.len())
    }

    /// Whether some pattern is longer than `tail` and starts with it.
    fn is_proper_prefix(&self, tail: &[u8]) -> bool {
        // Sorted: the patterns that start with `tail` follow `tail`'s own place, which holds
        // `tail` itself at most once.
        let at = self.patterns.partition_point(|p| p.expose_secret().as_bytes() < tail);
        self.patterns[at..].iter().take(2).any(|p| {
            let p = p.expose_secret().as_bytes();
            p.len() > tail.len() && p.starts_with(tail)
        })
    }
}

/// A [`Masker`] shared by the log pump (which feeds it) and whoever learns secrets while the
/// phase runs (the variables at its start, tokens as they are minted).
#[derive(Clone, Default)]
pub struct SharedMasker(Arc<Mutex<Masker>>);

impl fmt::Debug for SharedMasker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.lock().fmt(f)
    }
}

impl SharedMasker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Masker> {
        // The masker's state stays consistent between calls; a panic elsewhere must not stop
        // the masking.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Masker::add_secret`].
    pub fn add_secret(&self, what: &str, value: &SecretString) -> Learned {
        self.lock().add_secret(what, value)
    }

    /// Learn the sensitive ones of a job's variables (workspace and variable sets, both
    /// categories); answers a warning for each that cannot be masked entirely.
    pub fn add_sensitive_variables(&self, variables: &[JobVariable]) -> Vec<String> {
        let named: Vec<(String, SecretString)> = variables
            .iter()
            .filter(|v| v.sensitive)
            .map(|v| {
                let kind = if v.category == "env" { "environment variable" } else { "Terraform variable" };
                (format!("sensitive {kind} {:?}", v.key), v.value.clone())
            })
            .collect();
        let learned = self.lock().add_secrets(named.iter().map(|(what, value)| (what.as_str(), value)));
        named.iter().zip(learned).filter_map(|((what, _), learned)| learned.warning(what)).collect()
    }

    /// [`Masker::push`].
    pub fn push(&self, chunk: &[u8]) -> Vec<u8> {
        self.lock().push(chunk)
    }

    /// [`Masker::finish`].
    pub fn finish(&self) -> Vec<u8> {
        self.lock().finish()
    }

    /// [`Masker::redact_str`].
    pub fn redact_str(&self, text: &str) -> String {
        self.lock().redact_str(text)
    }
}

/// A [`TokenMinter`] that teaches the masker every token before handing it out: before it is
/// written to a file or an environment, so before Terraform (or anything it starts) can print
/// it. Tokens re-minted while the phase runs go through here too.
#[derive(Debug)]
pub struct MaskingMinter<M> {
    inner: M,
    masker: SharedMasker,
}

impl<M> MaskingMinter<M> {
    /// Mint with `inner`, teaching `masker`.
    pub fn new(inner: M, masker: SharedMasker) -> Self {
        Self { inner, masker }
    }
}

impl<M: TokenMinter> TokenMinter for MaskingMinter<M> {
    async fn mint(&self, audience: &Audience, ttl: Ttl) -> Result<MintedToken, MintFailure> {
        let minted = self.inner.mint(audience, ttl).await?;
        let token = SecretString::new(minted.jwt.expose_secret().to_owned());
        self.masker.add_secret(&format!("the workload identity token for {}", audience.as_str()), &token);
        Ok(minted)
    }
}

/// The inside of the HCL string tern writes for `value` (in a `.tfvars` file).
fn hcl_escaped(value: &str) -> String {
    let quoted = crate::job::hcl_string(value);
    quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or(&quoted).to_owned()
}

#[derive(Clone, Copy)]
enum JsonStyle {
    /// What serde_json and most encoders write.
    Plain,
    /// Go's `encoding/json` (Terraform): also `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes.
    Go,
    /// ASCII only (Python's default): every other character as `\u` escapes.
    Ascii,
}

/// The inside of the JSON string for `value`, in `style`.
fn json_escaped(value: &str, style: JsonStyle) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => push_u_escapes(&mut out, c),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if matches!(style, JsonStyle::Go) => {
                push_u_escapes(&mut out, c)
            }
            c if matches!(style, JsonStyle::Ascii) && !(' '..='~').contains(&c) => {
                push_u_escapes(&mut out, c)
            }
            c => out.push(c),
        }
    }
    out
}

/// `\uXXXX` (lowercase, as the encoders write it), as a surrogate pair beyond the BMP.
fn push_u_escapes(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.push_str(&format!("\\u{unit:04x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::new(s.to_owned())
    }

    fn masker(secrets: &[&str]) -> Masker {
        let named: Vec<(String, SecretString)> =
            secrets.iter().enumerate().map(|(i, s)| (format!("secret #{i}"), secret(s))).collect();
        Masker::with_secrets(named.iter().map(|(what, value)| (what.as_str(), value))).0
    }

    /// Push `chunks` one after another, then finish.
    fn stream(m: &mut Masker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            out.extend(m.push(c));
        }
        out.extend(m.finish());
        out
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn whole_values_are_masked() {
        // (secrets, input, expected)
        let cases: &[(&[&str], &str, &str)] = &[
            (&["hunter22"], "password is hunter22.", "password is ***."),
            (&["hunter22"], "hunter22hunter22", "******"),
            (&["hunter22"], "hunter2 hunter222", "hunter2 ***2"),
            (&["hunter22"], "no secret here", "no secret here"),
            // Overlapping secrets: leftmost first, then the longest at that place.
            (&["abcdef", "cdefgh"], "xabcdefghx", "x***ghx"),
            (&["abcd", "abcdefgh"], "abcdefgh abcdefg", "*** ***efg"),
            (&["bcde", "abcdefgh"], "abcdefgx", "a***fgx"),
            // Surrounding white space is not part of what is masked.
            (&["  padded-secret\n"], "got padded-secret!", "got ***!"),
        ];
        for (secrets, input, expected) in cases {
            let m = masker(secrets);
            assert_eq!(text(&m.redact(input.as_bytes())), *expected, "{secrets:?} in {input:?}");
            let mut streamed = masker(secrets);
            assert_eq!(text(&stream(&mut streamed, &[input.as_bytes()])), *expected, "{input:?} streamed");
        }
    }

    #[test]
    fn a_secret_split_over_two_or_three_chunks_is_masked_at_every_split() {
        let input = b"before s3cr3t-value after s3cr3t-value";
        let expected = b"before *** after ***";
        for i in 0..=input.len() {
            let mut m = masker(&["s3cr3t-value"]);
            assert_eq!(stream(&mut m, &[&input[..i], &input[i..]]), expected, "split at {i}");
            for j in i..=input.len() {
                let mut m = masker(&["s3cr3t-value"]);
                let out = stream(&mut m, &[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(out, expected, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn only_a_possible_start_of_a_secret_is_held_back() {
        let mut m = masker(&["s3cr3t-value"]);
        assert_eq!(m.push(b"line one\n"), b"line one\n", "nothing can start a secret here");
        assert_eq!(m.push(b"and s3cr"), b"and ", "the start of the secret waits");
        assert_eq!(m.push(b"ecy\n"), b"s3crecy\n", "released once it cannot be the secret");
        assert_eq!(m.push(b"s3cr3t-val"), b"");
        assert_eq!(m.push(b"ue!"), b"***!");
        assert_eq!(m.push(b"tail s3"), b"tail ");
        assert_eq!(m.finish(), b"s3", "finish releases the tail");
        // A complete match that a longer secret could still extend waits too.
        let mut m = masker(&["abcd", "abcdefgh"]);
        assert_eq!(m.push(b"abcd"), b"");
        assert_eq!(m.push(b"efgh"), b"***");
        assert_eq!(m.push(b"abcd"), b"");
        assert_eq!(m.push(b"e!"), b"***e!");
    }

    #[test]
    fn json_and_hcl_forms_are_masked() {
        let value = "p\"a\\ss\nw<o>rd&é€😀";
        let m = masker(&[value]);
        let forms = [
            // serde_json / JavaScript
            serde_json::to_string(value).unwrap(),
            // Go (Terraform's -json output): HTML-safe escapes
            r#""p\"a\\ss\nw\u003co\u003erd\u0026é€😀""#.to_owned(),
            // Python's default: ASCII only
            r#""p\"a\\ss\nw<o>rd&\u00e9\u20ac\ud83d\ude00""#.to_owned(),
            // What tern writes to the tfvars file, and Terraform quotes in its snippet
            crate::job::hcl_string(value),
            // That snippet in Terraform's -json diagnostics
            serde_json::to_string(&crate::job::hcl_string(value)).unwrap(),
            // jsonencode(value) shown by Terraform as an output's value
            crate::job::hcl_string(r#"p\"a\\ss\nw\u003co\u003erd\u0026é€😀"#),
        ];
        for form in forms {
            let out = text(&m.redact(format!("{{\"v\":{form}}}").as_bytes()));
            assert!(!out.contains("ss"), "{form} gave {out}");
            assert!(out.contains("***"), "{form} gave {out}");
        }
    }

    #[test]
    fn a_terraform_refusal_of_a_sensitive_value_is_masked() {
        // Terraform 1.11.4 refusing a string for a number variable: the snippet shows the
        // value as tern quoted it in the tfvars file; with -json, that snippet JSON-escaped.
        let value = "s3cr\"et-not-a-number";
        let m = masker(&[value]);
        let human = format!(
            "  on zz-tern-workspace.auto.tfvars line 1:\n   1: pin = {}\n",
            crate::job::hcl_string(value)
        );
        let json = format!(
            "{{\"snippet\":{{\"code\":{}}}}}",
            serde_json::to_string(&format!("pin = {}", crate::job::hcl_string(value))).unwrap()
        );
        for log in [human, json] {
            let out = text(&m.redact(log.as_bytes()));
            assert!(!out.contains("s3cr") && !out.contains("not-a-number"), "{out}");
        }
    }

    #[test]
    fn multi_line_values_are_masked_whole_and_line_by_line() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEF\nab\n-----END KEY-----\n";
        let mut m = Masker::new();
        assert_eq!(m.add_secret("key", &secret(key)), Learned::Masked { short_lines: 1 });
        assert_eq!(text(&m.redact(format!("[{key}]").as_bytes())), "[***]");
        // Printed one line at a time, or re-indented: each line long enough is masked.
        let out = text(&m.redact(b"  MIIEvQIBADANBgkq\r\n  hkiG9w0BAQEF\n"));
        assert_eq!(out, "  ***\r\n  ***\n");
        // In JSON, the whole value is one line.
        let json = serde_json::to_string(key).unwrap();
        assert_eq!(text(&m.redact(json.as_bytes())), "\"***\"");
        let warning = Learned::Masked { short_lines: 1 }.warning("sensitive variable \"key\"").unwrap();
        assert!(warning.contains("1 line(s) shorter than 4 bytes"), "{warning}");
    }

    #[test]
    fn short_and_empty_values_are_reported_not_masked() {
        let mut m = Masker::new();
        assert_eq!(m.add_secret("pin", &secret("123")), Learned::TooShort { len: 3 });
        assert_eq!(m.add_secret("padded", &secret("  ab \n")), Learned::TooShort { len: 2 });
        assert_eq!(m.add_secret("empty", &secret("")), Learned::Empty);
        assert_eq!(m.add_secret("blank", &secret(" \n\t")), Learned::Empty);
        assert_eq!(m.add_secret("four", &secret("1234")), Learned::Masked { short_lines: 0 });
        assert_eq!(text(&m.redact(b"123 ab 1234")), "123 ab ***");
        let warning = Learned::TooShort { len: 3 }.warning("sensitive variable \"pin\"").unwrap();
        assert_eq!(
            warning,
            "sensitive variable \"pin\" is 3 byte(s) long, too short to mask in logs (values of 4 bytes or more are masked)"
        );
        assert_eq!(Learned::Empty.warning("x"), None);
        assert_eq!(Learned::Masked { short_lines: 0 }.warning("x"), None);
    }

    #[test]
    fn sensitive_variables_of_both_categories_are_learned_and_short_ones_named() {
        let var = |key: &str, value: &str, category: &str, sensitive: bool| JobVariable {
            key: key.into(),
            value: SecretString::new(value.into()),
            category: category.into(),
            hcl: false,
            sensitive,
        };
        let masker = SharedMasker::default();
        let warnings = masker.add_sensitive_variables(&[
            var("db_password", "tf-secret-1", "terraform", true),
            var("API_KEY", "env-secret-2", "env", true),
            var("pin", "123", "terraform", true),
            var("region", "eu-west-1", "terraform", false),
            var("EMPTY", "", "env", true),
        ]);
        assert_eq!(
            warnings,
            [
                "sensitive Terraform variable \"pin\" is 3 byte(s) long, too short to mask in logs (values of 4 bytes or more are masked)"
            ]
        );
        assert_eq!(masker.redact_str("tf-secret-1 env-secret-2 123 eu-west-1"), "*** *** 123 eu-west-1");
    }

    #[test]
    fn chunks_that_are_not_utf8_pass_through_and_are_masked() {
        let mut m = masker(&["sécret-ü"]);
        let value = "sécret-ü".as_bytes();
        // Split inside the two-byte characters, with invalid bytes around.
        let mut input = vec![0xff, 0xfe, b' '];
        input.extend_from_slice(value);
        input.extend_from_slice(&[0xc3, b' ', 0x80]);
        for i in 0..=input.len() {
            let out = stream(&mut m, &[&input[..i], &input[i..]]);
            assert_eq!(out, [&[0xff, 0xfe, b' '][..], b"***", &[0xc3, b' ', 0x80]].concat(), "split at {i}");
        }
    }

    #[test]
    fn a_secret_learned_mid_stream_masks_from_then_on() {
        let mut m = masker(&["first-secret"]);
        let mut out = m.push(b"first-secret then late-tok");
        // Nothing there could start a known secret, so "late-tok" went out before the token was
        // learned (as in the runner: a token is learned before anything can print it).
        assert_eq!(out, b"*** then late-tok");
        m.add_secret("late", &secret("late-token-value"));
        out = m.push(b"en-value and late-token-va");
        out.extend(m.push(b"lue and first-secret"));
        out.extend(m.finish());
        assert_eq!(text(&out), "en-value and *** and ***");
        // Learned while a part of it is held back (it started like a known secret).
        let mut m = masker(&["abcdefgh"]);
        assert_eq!(m.push(b"x abcd"), b"x ");
        m.add_secret("longer", &secret("abcdXYZW"));
        assert_eq!(stream(&mut m, &[b"XYZW y"]), b"*** y");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let mut m = masker(&["hunter2-very-secret"]);
        let _ = m.push(b"hunter2-ve");
        let shared = SharedMasker::default();
        shared.add_secret("sensitive variable \"db\"", &secret("hunter2-very-secret"));
        let shown = format!("{m:?} {m:#?} {shared:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("secret #0") && shown.contains("sensitive variable"), "{shown}");
    }

    /// A small deterministic generator (xorshift), so the property test needs no crate and
    /// repeats exactly.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn any_chunking_gives_what_masking_the_whole_log_gives() {
        let secrets = ["abab", "abcab", "bca-bca", "cab\"x\nyy", "aaaa", "ababababab"];
        let pieces: &[&[u8]] =
            &[b"a", b"b", b"c", b"-", b"ab", b"abc", b"bca", b"\"", b"\n", b"\\", b"x", b"yy", b"\xff", b" "];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let chosen: Vec<&str> = secrets.iter().copied().filter(|_| rng.below(3) > 0).collect();
            let mut input = Vec::new();
            for _ in 0..rng.below(40) {
                if rng.below(6) == 0 {
                    input.extend_from_slice(secrets[rng.below(secrets.len())].as_bytes());
                } else {
                    input.extend_from_slice(pieces[rng.below(pieces.len())]);
                }
            }
            let whole = masker(&chosen).redact(&input);
            let mut m = masker(&chosen);
            let mut out = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let end = (at + rng.below(6)).min(input.len());
                out.extend(m.push(&input[at..end]));
                at = end;
            }
            out.extend(m.finish());
            assert_eq!(text(&out), text(&whole), "round {round}: {:?} with {chosen:?}", text(&input));
            for s in &chosen {
                assert!(!out.windows(s.len()).any(|w| w == s.as_bytes()), "round {round}: {s:?} survived");
            }
        }
    }
}
