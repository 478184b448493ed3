//! `*` (any run of characters, `:` included) and, for AWS, `?` (one character) wildcards.

/// Whether `text` matches `pattern`, where `*` matches any run of characters and, when
/// `question` is set, `?` matches exactly one.
pub(crate) fn matches(pattern: &str, text: &str, question: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == t[ti] || (question && *c == '?') => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn table() {
        let cases = [
            ("organization:acme:*", "organization:acme:workspace:prod", false, true),
            ("*:run_phase:plan", "organization:acme:run_phase:plan", false, true),
            ("*:run_phase:plan", "organization:acme:run_phase:apply", false, false),
            ("a*b*c", "aXbYc", false, true),
            ("a*b*c", "aXbY", false, false),
            ("a?c", "abc", true, true),
            ("a?c", "abc", false, false),
            ("", "", false, true),
            ("*", "", false, true),
            ("exact", "exact", false, true),
            ("exact", "Exact", false, false),
        ];
        for (p, t, q, want) in cases {
            assert_eq!(matches(p, t, q), want, "{p} {t}");
        }
    }
}
