//! The subset of CEL that Google's workload identity attribute mappings and conditions use,
//! documented in docs/trust.md: string, bool and list literals; `assertion.<claim>`,
//! `attribute.<name>`, `google.subject` (also `x["key"]`); `==`, `!=`, `in`, `!`, `&&`, `||`,
//! `+` on strings, parentheses; the methods `startsWith`, `endsWith`, `contains`, `matches` (RE2
//! syntax), and `size()`. Anything else is refused with its position, never guessed.

use std::collections::BTreeMap;

/// The most memory one `matches()` pattern may compile to.
const MAX_REGEX_BYTES: usize = 256 * 1024;

use serde_json::Value;

/// A CEL value.
#[derive(Debug, Clone, PartialEq)]
pub enum CelValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer (from `size()` or a numeric claim).
    Int(i64),
    /// A list.
    List(Vec<CelValue>),
    /// A map (`assertion`, `attribute`, `google`, nested claims).
    Map(BTreeMap<String, CelValue>),
    /// JSON null.
    Null,
}

impl CelValue {
    /// From a JSON value.
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::String(s) => Self::Str(s.clone()),
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => n.as_i64().map_or(Self::Str(n.to_string()), Self::Int),
            Value::Array(a) => Self::List(a.iter().map(Self::from_json).collect()),
            Value::Object(o) => Self::Map(o.iter().map(|(k, v)| (k.clone(), Self::from_json(v))).collect()),
            Value::Null => Self::Null,
        }
    }

    /// As written in CEL.
    pub fn show(&self) -> String {
        match self {
            Self::Str(s) => format!("{s:?}"),
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::List(l) => format!("[{}]", l.iter().map(Self::show).collect::<Vec<_>>().join(", ")),
            Self::Map(_) => "{…}".to_owned(),
            Self::Null => "null".to_owned(),
        }
    }
}

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelError {
    /// Not in the subset, or not CEL.
    #[error("at character {at}: {message}")]
    Syntax {
        /// 0-based character offset.
        at: usize,
        /// What is wrong.
        message: String,
    },
    /// A runtime error (as Google reports: the condition then rejects the token).
    #[error("{0}")]
    Eval(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Int(i64),
    Ident(String),
    Sym(&'static str),
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, CelError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let syntax = |at: usize, m: &str| CelError::Syntax { at, message: m.to_owned() };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(syntax(start, "unterminated string")),
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        let e = chars.get(i + 1).ok_or_else(|| syntax(i, "unterminated escape"))?;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            '\\' | '"' | '\'' => *e,
                            _ => return Err(syntax(i, "unsupported escape")),
                        });
                        i += 2;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push((start, Tok::Str(s)));
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse().map_err(|_| syntax(start, "number out of range"))?;
            out.push((start, Tok::Int(n)));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((start, Tok::Ident(chars[start..i].iter().collect())));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let sym = match two.as_str() {
            "==" => Some("=="),
            "!=" => Some("!="),
            "&&" => Some("&&"),
            "||" => Some("||"),
            _ => None,
        };
        if let Some(s) = sym {
            out.push((start, Tok::Sym(s)));
            i += 2;
            continue;
        }
        let one = match c {
            '!' => "!",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            '.' => ".",
            '+' => "+",
            _ => return Err(syntax(start, &format!("`{c}` is not in the supported CEL subset"))),
        };
        out.push((start, Tok::Sym(one)));
        i += 1;
    }
    Ok(out)
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(CelValue),
    Ident(String),
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, String, Vec<Expr>),
    Not(Box<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
}

/// Limits that keep parsing and evaluating bounded (the recursion follows the nesting; a
/// fuzzed condition of 30 000 nested parentheses overflowed the stack). Real conditions use a
/// few dozen tokens and a few levels.
const MAX_TOKENS: usize = 1000;
const MAX_NESTING: usize = 32;

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }
    fn err<T>(&self, m: impl Into<String>) -> Result<T, CelError> {
        Err(CelError::Syntax { at: self.at(), message: m.into() })
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.peek() == Some(&Tok::Sym(sym(s))) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    /// Go one level deeper (parentheses, lists, `!`, indexes, call arguments), or refuse.
    fn deeper(&mut self) -> Result<(), CelError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(format!("the expression nests deeper than {MAX_NESTING} levels"));
        }
        Ok(())
    }
    fn expect(&mut self, s: &str) -> Result<(), CelError> {
        if self.eat(s) { Ok(()) } else { self.err(format!("expected `{s}`")) }
    }
    fn or(&mut self) -> Result<Expr, CelError> {
        let mut l = self.and()?;
        while self.eat("||") {
            l = Expr::Bin("||", Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, CelError> {
        let mut l = self.rel()?;
        while self.eat("&&") {
            l = Expr::Bin("&&", Box::new(l), Box::new(self.rel()?));
        }
        Ok(l)
    }
    fn rel(&mut self) -> Result<Expr, CelError> {
        let l = self.add()?;
        for op in ["==", "!="] {
            if self.eat(op) {
                return Ok(Expr::Bin(sym(op), Box::new(l), Box::new(self.add()?)));
            }
        }
        if self.peek() == Some(&Tok::Ident("in".into())) {
            self.pos += 1;
            return Ok(Expr::Bin("in", Box::new(l), Box::new(self.add()?)));
        }
        Ok(l)
    }
    fn add(&mut self) -> Result<Expr, CelError> {
        let mut l = self.unary()?;
        while self.eat("+") {
            l = Expr::Bin("+", Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, CelError> {
        if self.eat("!") {
            self.deeper()?;
            let e = Expr::Not(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.postfix()
    }
    fn postfix(&mut self) -> Result<Expr, CelError> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return self.err("expected a name after `.`");
                };
                self.pos += 1;
                if self.eat("(") {
                    let args = self.args(")")?;
                    e = Expr::Call(Box::new(e), name, args);
                } else {
                    e = Expr::Field(Box::new(e), name);
                }
            } else if self.eat("[") {
                self.deeper()?;
                let i = self.or()?;
                self.expect("]")?;
                self.depth -= 1;
                e = Expr::Index(Box::new(e), Box::new(i));
            } else {
                return Ok(e);
            }
        }
    }
    fn args(&mut self, close: &str) -> Result<Vec<Expr>, CelError> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Ok(out);
        }
        self.deeper()?;
        loop {
            out.push(self.or()?);
            if self.eat(close) {
                self.depth -= 1;
                return Ok(out);
            }
            self.expect(",")?;
        }
    }
    fn primary(&mut self) -> Result<Expr, CelError> {
        let Some(t) = self.peek().cloned() else { return self.err("unexpected end of expression") };
        self.pos += 1;
        match t {
            Tok::Str(s) => Ok(Expr::Lit(CelValue::Str(s))),
            Tok::Int(n) => Ok(Expr::Lit(CelValue::Int(n))),
            Tok::Ident(i) => match i.as_str() {
                "true" => Ok(Expr::Lit(CelValue::Bool(true))),
                "false" => Ok(Expr::Lit(CelValue::Bool(false))),
                "null" => Ok(Expr::Lit(CelValue::Null)),
                "size" if self.eat("(") => {
                    let mut a = self.args(")")?;
                    if a.len() != 1 {
                        return self.err("size() takes one argument");
                    }
                    Ok(Expr::Call(Box::new(a.remove(0)), "size".into(), Vec::new()))
                }
                _ => Ok(Expr::Ident(i)),
            },
            Tok::Sym("(") => {
                self.deeper()?;
                let e = self.or()?;
                self.expect(")")?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Sym("[") => Ok(Expr::List(self.args("]")?)),
            Tok::Sym(s) => {
                self.pos -= 1;
                self.err(format!("unexpected `{s}`"))
            }
        }
    }
}

fn sym(s: &str) -> &'static str {
    ["==", "!=", "&&", "||", "!", "(", ")", "[", "]", ",", ".", "+"]
        .into_iter()
        .find(|x| *x == s)
        .unwrap_or("?")
}

/// Parse an expression of the subset.
pub(crate) fn parse(src: &str) -> Result<Expr, CelError> {
    let toks = lex(src)?;
    if toks.len() > MAX_TOKENS {
        return Err(CelError::Syntax {
            at: toks.get(MAX_TOKENS).map_or(0, |t| t.0),
            message: format!(
                "the expression has {} tokens; tern explains expressions of at most {MAX_TOKENS}",
                toks.len()
            ),
        });
    }
    let mut p = Parser { toks, pos: 0, end: src.chars().count(), depth: 0 };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return p.err("unexpected text after the expression");
    }
    Ok(e)
}

/// Evaluate `src` with the root names in `env` (e.g. `assertion`).
pub fn evaluate(src: &str, env: &BTreeMap<String, CelValue>) -> Result<CelValue, CelError> {
    eval(&parse(src)?, env)
}

pub(crate) fn eval(e: &Expr, env: &BTreeMap<String, CelValue>) -> Result<CelValue, CelError> {
    let err = |m: String| Err(CelError::Eval(m));
    match e {
        Expr::Lit(v) => Ok(v.clone()),
        Expr::Ident(i) => {
            env.get(i).cloned().map_or_else(|| err(format!("undeclared reference to '{i}'")), Ok)
        }
        Expr::Field(base, name) => field(eval(base, env)?, name),
        Expr::Index(base, key) => match eval(key, env)? {
            CelValue::Str(k) => field(eval(base, env)?, &k),
            CelValue::Int(n) => match eval(base, env)? {
                CelValue::List(l) => usize::try_from(n)
                    .ok()
                    .and_then(|i| l.get(i).cloned())
                    .map_or_else(|| err(format!("index {n} out of range")), Ok),
                other => err(format!("cannot index {} with a number", other.show())),
            },
            other => err(format!("invalid index {}", other.show())),
        },
        Expr::List(items) => {
            Ok(CelValue::List(items.iter().map(|x| eval(x, env)).collect::<Result<_, _>>()?))
        }
        Expr::Not(x) => match eval(x, env)? {
            CelValue::Bool(b) => Ok(CelValue::Bool(!b)),
            other => err(format!("! needs a bool, got {}", other.show())),
        },
        Expr::Bin(op, l, r) => match *op {
            "&&" | "||" => {
                // CEL's commutative logic: a definite answer from either side wins over an error.
                let a = eval(l, env).and_then(as_bool);
                let b = eval(r, env).and_then(as_bool);
                let short = *op == "||";
                match (a, b) {
                    (Ok(x), _) if x == short => Ok(CelValue::Bool(short)),
                    (_, Ok(y)) if y == short => Ok(CelValue::Bool(short)),
                    (Ok(_), Ok(_)) => Ok(CelValue::Bool(!short)),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            "==" => Ok(CelValue::Bool(eval(l, env)? == eval(r, env)?)),
            "!=" => Ok(CelValue::Bool(eval(l, env)? != eval(r, env)?)),
            "in" => match eval(r, env)? {
                CelValue::List(items) => Ok(CelValue::Bool(items.contains(&eval(l, env)?))),
                CelValue::Map(m) => match eval(l, env)? {
                    CelValue::Str(k) => Ok(CelValue::Bool(m.contains_key(&k))),
                    _ => Ok(CelValue::Bool(false)),
                },
                other => err(format!("`in` needs a list or map, got {}", other.show())),
            },
            "+" => match (eval(l, env)?, eval(r, env)?) {
                (CelValue::Str(a), CelValue::Str(b)) => Ok(CelValue::Str(a + &b)),
                (CelValue::Int(a), CelValue::Int(b)) => Ok(CelValue::Int(a.saturating_add(b))),
                (CelValue::List(mut a), CelValue::List(b)) => {
                    a.extend(b);
                    Ok(CelValue::List(a))
                }
                (a, b) => err(format!("no such overload: {} + {}", a.show(), b.show())),
            },
            other => err(format!("operator {other}")),
        },
        Expr::Call(target, name, args) => {
            let t = eval(target, env)?;
            let a: Vec<CelValue> = args.iter().map(|x| eval(x, env)).collect::<Result<_, _>>()?;
            match (name.as_str(), &t, a.as_slice()) {
                ("startsWith", CelValue::Str(s), [CelValue::Str(p)]) => {
                    Ok(CelValue::Bool(s.starts_with(p.as_str())))
                }
                ("endsWith", CelValue::Str(s), [CelValue::Str(p)]) => {
                    Ok(CelValue::Bool(s.ends_with(p.as_str())))
                }
                ("contains", CelValue::Str(s), [CelValue::Str(p)]) => {
                    Ok(CelValue::Bool(s.contains(p.as_str())))
                }
                // Bounded like RE2's (what Google evaluates with): a pasted condition must not be
                // a way to make the checker compile a huge automaton.
                ("matches", CelValue::Str(s), [CelValue::Str(p)]) => regex::RegexBuilder::new(p)
                    .size_limit(MAX_REGEX_BYTES)
                    .dfa_size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map(|re| CelValue::Bool(re.is_match(s)))
                    .map_err(|e| CelError::Eval(format!("invalid regular expression {p:?}: {e}"))),
                ("size", CelValue::Str(s), []) => {
                    Ok(CelValue::Int(i64::try_from(s.chars().count()).unwrap_or(i64::MAX)))
                }
                ("size", CelValue::List(l), []) => {
                    Ok(CelValue::Int(i64::try_from(l.len()).unwrap_or(i64::MAX)))
                }
                ("size", CelValue::Map(m), []) => {
                    Ok(CelValue::Int(i64::try_from(m.len()).unwrap_or(i64::MAX)))
                }
                _ => err(format!(
                    "`{name}` on {} is not in the supported subset (startsWith, endsWith, contains, matches on strings; size())",
                    t.show()
                )),
            }
        }
    }
}

fn field(v: CelValue, name: &str) -> Result<CelValue, CelError> {
    match v {
        CelValue::Map(m) => {
            m.get(name).cloned().ok_or_else(|| CelError::Eval(format!("no such key: {name}")))
        }
        other => Err(CelError::Eval(format!("cannot select {name} from {}", other.show()))),
    }
}

fn as_bool(v: CelValue) -> Result<bool, CelError> {
    match v {
        CelValue::Bool(b) => Ok(b),
        other => Err(CelError::Eval(format!("expected a bool, got {}", other.show()))),
    }
}

/// The top-level `&&` terms of an expression, as source-like text and parsed.
pub(crate) fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Bin("&&", l, r) => {
            let mut v = conjuncts(l);
            v.extend(conjuncts(r));
            v
        }
        other => vec![other],
    }
}

/// Source-like text of an expression.
pub(crate) fn show(e: &Expr) -> String {
    match e {
        Expr::Lit(v) => v.show(),
        Expr::Ident(i) => i.clone(),
        Expr::Field(b, n) => format!("{}.{n}", show(b)),
        Expr::Index(b, k) => format!("{}[{}]", show(b), show(k)),
        Expr::Call(t, n, a) => {
            format!("{}.{n}({})", show(t), a.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        Expr::Not(x) => format!("!{}", show(x)),
        Expr::Bin(op, l, r) => format!("{} {op} {}", show(l), show(r)),
        Expr::List(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, CelValue> {
        let claims = serde_json::json!({"sub": "organization:acme:workspace:prod", "terraform_run_phase": "plan", "n": 3});
        BTreeMap::from([("assertion".to_owned(), CelValue::from_json(&claims))])
    }

    #[test]
    fn deep_or_huge_expressions_are_refused_not_a_stack_overflow() {
        // Found by the `explain` fuzz target: 30 000 nested parentheses overflowed the stack.
        for deep in ["(".repeat(30_000) + "1" + &")".repeat(30_000), "!".repeat(30_000) + "true"] {
            let e = evaluate(&deep, &env()).unwrap_err();
            assert!(e.to_string().contains("tokens") || e.to_string().contains("nests deeper"), "{e}");
        }
        let nested = "(".repeat(33) + "1" + &")".repeat(33);
        assert!(evaluate(&nested, &env()).unwrap_err().to_string().contains("nests deeper than 32"));
        assert_eq!(evaluate(&("(".repeat(32) + "1" + &")".repeat(32)), &env()).unwrap(), CelValue::Int(1));
        let long = vec!["1"; 600].join(" + ");
        assert!(evaluate(&long, &env()).unwrap_err().to_string().contains("at most 1000"));
    }

    #[test]
    fn a_pattern_that_compiles_to_a_huge_automaton_is_refused() {
        // 110 of these took 22 s of CPU on a web page's check before the bound.
        let e = evaluate(r"assertion.sub.matches('\\w{1,2000}')", &env()).unwrap_err().to_string();
        assert!(e.contains("invalid regular expression") && e.contains("size limit"), "{e}");
        let ok = evaluate(r"assertion.sub.matches('^organization:[a-z]{1,64}:')", &env()).unwrap();
        assert_eq!(ok, CelValue::Bool(true));
    }

    #[test]
    fn table() {
        let ok: &[(&str, CelValue)] = &[
            ("assertion.sub", CelValue::Str("organization:acme:workspace:prod".into())),
            ("assertion.sub.startsWith('organization:acme:')", CelValue::Bool(true)),
            ("assertion['terraform_run_phase'] == \"plan\" && !(assertion.n == 4)", CelValue::Bool(true)),
            ("assertion.terraform_run_phase in ['apply', 'plan']", CelValue::Bool(true)),
            ("assertion.sub.matches('^organization:acme:.*$') || false", CelValue::Bool(true)),
            ("assertion.terraform_run_phase + ':' + assertion.sub.size().toString", CelValue::Null),
            ("size(assertion.sub) == 32", CelValue::Bool(true)),
            ("assertion.missing == 'x' || true", CelValue::Bool(true)),
        ];
        for (src, want) in ok {
            let got = evaluate(src, &env());
            if *want == CelValue::Null {
                assert!(got.is_err(), "{src}: {got:?}");
            } else {
                assert_eq!(got.as_ref(), Ok(want), "{src}");
            }
        }
        for bad in ["assertion.sub ==", "assertion.sub > 'a'", "'unterminated", "a = b", "f(x)"] {
            assert!(evaluate(bad, &env()).is_err(), "{bad}");
        }
        assert_eq!(
            evaluate("assertion.missing == 'x'", &env()),
            Err(CelError::Eval("no such key: missing".into()))
        );
    }
}
