//! Dotenv files for `tern exec --env-file`: `NAME=value` lines, `export NAME=value`, `#`
//! comments, blank lines, single quotes (literal) and double quotes (with `\n`, `\t`, `\"`,
//! `\\` escapes). Errors name the line.

/// A line that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct DotenvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parse dotenv text into (name, value) pairs, in order; a later line wins for a repeated name.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |reason: &str| DotenvError { line: line_no, reason: reason.to_owned() };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((name, rest)) = line.split_once('=') else {
            return Err(err("expected NAME=value"));
        };
        let name = name.trim();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(err(&format!(
                "{name:?} is not a variable name (letters, digits and '_', not starting with a digit)"
            )));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let end = body.find('\'').ok_or_else(|| err("missing closing single quote"))?;
            trailing(&body[end + 1..]).map_err(|r| err(&r))?;
            body[..end].to_owned()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = body.char_indices();
            let mut closed = None;
            while let Some((pos, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(pos);
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('t') => value.push('\t'),
                        Some('r') => value.push('\r'),
                        Some(other @ ('"' | '\\' | '$')) => value.push(other),
                        Some(other) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => return Err(err("line ends inside an escape")),
                    },
                    other => value.push(other),
                }
            }
            let end = closed.ok_or_else(|| err("missing closing double quote"))?;
            trailing(&body[end + 1..]).map_err(|r| err(&r))?;
            value
        } else {
            // Unquoted: up to a " #" comment, trimmed.
            let cut = rest.find(" #").unwrap_or(rest.len());
            rest[..cut].trim_end().to_owned()
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

fn trailing(after: &str) -> Result<(), String> {
    let after = after.trim();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err(format!("unexpected {after:?} after the closing quote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let text = "\
# comment

TFC_AWS_PROVIDER_AUTH=true
export TFC_AWS_RUN_ROLE_ARN = arn:aws:iam::123456789012:role/x   # trailing comment
SINGLE='no $expansion # here'
DOUBLE=\"line\\nbreak \\\"quoted\\\" \\\\ done\"   # ok
EMPTY=
HASH=a#b
";
        let got = parse(text).unwrap();
        let want = [
            ("TFC_AWS_PROVIDER_AUTH", "true"),
            ("TFC_AWS_RUN_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
            ("SINGLE", "no $expansion # here"),
            ("DOUBLE", "line\nbreak \"quoted\" \\ done"),
            ("EMPTY", ""),
            ("HASH", "a#b"),
        ];
        assert_eq!(got, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, part) in [
            ("A=1\nnot a pair\n", 2, "expected NAME=value"),
            ("1A=x", 1, "is not a variable name"),
            ("A='open", 1, "missing closing single quote"),
            ("A=\"open", 1, "missing closing double quote"),
            ("A='x' y", 1, "after the closing quote"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.reason.contains(part), "{text:?}: {e}");
        }
    }
}
