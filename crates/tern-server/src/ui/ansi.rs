//! Terminal colours in run logs, for the web page: Terraform's output (and whatever a tenant's
//! configuration prints) as runs of text with a style, never as markup.
//!
//! The bytes go through a VT parser (`anstyle-parse`, the one clap already uses): colour and
//! weight escapes (SGR) become classes from a fixed set; every other escape, control character
//! and cursor move is dropped. The text stays text — the template and the page's script escape
//! it — so a log cannot inject HTML. Background colours are ignored on purpose: text drawn in
//! its own background colour would hide from the reader.

use anstyle_parse::{Params, Parser, Perform};

/// Text and the classes it is drawn with (`""`: plain). The classes come from a fixed set
/// (`t-b`, `t-d`, `t-i`, `t-u`, `t-red`, …): never from the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Styled {
    pub(crate) text: String,
    pub(crate) class: String,
}

/// A log's state between the pieces of it that arrive: the parser (an escape or a UTF-8
/// character may be cut between two pieces) and the current style.
#[derive(Default)]
pub(crate) struct Terminal {
    parser: Parser,
    sink: Sink,
}

impl Terminal {
    /// The styled text of `bytes`, which follow what this terminal was given before.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Styled> {
        for b in bytes {
            self.parser.advance(&mut self.sink, *b);
        }
        std::mem::take(&mut self.sink.out)
    }
}

/// A whole log (or its end) at once.
pub(crate) fn styled(bytes: &[u8]) -> Vec<Styled> {
    Terminal::default().feed(bytes)
}

/// The text of styled runs, without styles.
#[cfg(test)]
pub(crate) fn plain(runs: &[Styled]) -> String {
    runs.iter().map(|r| r.text.as_str()).collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Colour {
    #[default]
    Default,
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Gray,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Style {
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    fg: Colour,
}

impl Style {
    fn class(self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if self.bold {
            parts.push("t-b");
        }
        if self.dim {
            parts.push("t-d");
        }
        if self.italic {
            parts.push("t-i");
        }
        if self.underline {
            parts.push("t-u");
        }
        parts.push(match self.fg {
            Colour::Default => "",
            Colour::Red => "t-red",
            Colour::Green => "t-green",
            Colour::Yellow => "t-yellow",
            Colour::Blue => "t-blue",
            Colour::Magenta => "t-magenta",
            Colour::Cyan => "t-cyan",
            Colour::Gray => "t-gray",
        });
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    /// Black and white are drawn in the page's own text colour: on one of the two themes
    /// either would vanish.
    fn colour(code: u16) -> Colour {
        match code % 10 {
            1 => Colour::Red,
            2 => Colour::Green,
            3 => Colour::Yellow,
            4 => Colour::Blue,
            5 => Colour::Magenta,
            6 => Colour::Cyan,
            0 if code >= 90 => Colour::Gray,
            _ => Colour::Default,
        }
    }

    /// Select Graphic Rendition: the parameters of `ESC [ … m`.
    fn apply(&mut self, params: &Params) {
        if params.is_empty() {
            *self = Style::default();
            return;
        }
        let mut it = params.iter();
        while let Some(p) = it.next() {
            let code = p.first().copied().unwrap_or(0);
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                21 | 22 => {
                    self.bold = false;
                    self.dim = false;
                }
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 | 90..=97 => self.fg = Style::colour(code),
                39 => self.fg = Colour::Default,
                // 256 colours and true colour: `38;5;n` / `38;2;r;g;b` (or with colons, as
                // sub-parameters). Drawn in the default colour; their arguments are skipped.
                38 | 48 => {
                    if p.len() == 1 {
                        match it.next().and_then(|m| m.first().copied()) {
                            Some(5) => {
                                it.next();
                            }
                            Some(2) => {
                                it.next();
                                it.next();
                                it.next();
                            }
                            _ => {}
                        }
                    }
                    if code == 38 {
                        self.fg = Colour::Default;
                    }
                }
                _ => {} // backgrounds, blink, inverse, hidden, fonts: ignored
            }
        }
    }
}

/// Styled runs in one piece of a log at most: beyond, the rest of the piece is plain text (a
/// log that switches colour at every character would otherwise make a page of a million
/// elements for everyone who watches the run).
const MAX_RUNS: usize = 4096;

#[derive(Default)]
struct Sink {
    style: Style,
    /// `style.class()`, kept as the style changes.
    class: String,
    out: Vec<Styled>,
}

impl Sink {
    fn push(&mut self, c: char) {
        let class = if self.out.len() < MAX_RUNS { self.class.as_str() } else { "" };
        match self.out.last_mut() {
            Some(last) if last.class == class => last.text.push(c),
            _ => self.out.push(Styled { text: c.to_string(), class: class.to_owned() }),
        }
    }
}

impl Perform for Sink {
    fn print(&mut self, c: char) {
        // C1 controls arrive as characters when written in UTF-8; they are not text.
        if !c.is_control() {
            self.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' | b'\t' => self.push(char::from(byte)),
            _ => {} // carriage returns, bells, backspaces: nothing to draw
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: u8) {
        if action == b'm' && intermediates.is_empty() && !ignore {
            let was = self.style;
            self.style.apply(params);
            if self.style != was {
                self.class = self.style.class();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(bytes: &[u8]) -> Vec<(String, String)> {
        styled(bytes).into_iter().map(|s| (s.text, s.class)).collect()
    }

    #[test]
    fn terraform_colours_become_classes() {
        // What Terraform prints for a plan summary and a completed apply.
        let got =
            runs(b"\x1b[0m\x1b[1mPlan:\x1b[0m 1 to add\n\x1b[0m\x1b[1m\x1b[32mApply complete!\x1b[0m\n");
        assert_eq!(
            got,
            vec![
                ("Plan:".into(), "t-b".into()),
                (" 1 to add\n".into(), String::new()),
                ("Apply complete!".into(), "t-b t-green".into()),
                ("\n".into(), String::new()),
            ]
        );
    }

    #[test]
    fn controls_and_other_escapes_are_dropped() {
        let got = styled(b"a\r\n\x07b\x1b[2K\x1b[1;1Hc\x1b]0;title\x07d\x1bPq#0\x1b\\e\tf\xc2\x85g");
        assert_eq!(plain(&got), "a\nbcde\tfg");
        assert!(got.iter().all(|s| s.class.is_empty()), "{got:?}");
    }

    #[test]
    fn markup_stays_text() {
        let got = styled(b"\x1b[31m<script>alert(1)</script>\x1b[0m");
        assert_eq!(got, vec![Styled { text: "<script>alert(1)</script>".into(), class: "t-red".into() }]);
    }

    #[test]
    fn extended_colours_are_skipped_whole() {
        // 38;5;n and 38;2;r;g;b: the numbers after 38 are not read as their own codes (1: bold).
        assert_eq!(runs(b"\x1b[38;5;1mx"), vec![("x".into(), String::new())]);
        assert_eq!(runs(b"\x1b[38;2;1;4;3mx"), vec![("x".into(), String::new())]);
        assert_eq!(runs(b"\x1b[38:2::1:4:3;4mx"), vec![("x".into(), "t-u".into())]);
        // Backgrounds never draw, nor hide, text.
        assert_eq!(
            runs(b"\x1b[41;31mx\x1b[49;39my"),
            vec![("x".into(), "t-red".into()), ("y".into(), String::new())]
        );
        assert_eq!(
            runs(b"\x1b[90mx\x1b[97my\x1b[30mz"),
            vec![("x".into(), "t-gray".into()), ("yz".into(), String::new())]
        );
    }

    #[test]
    fn a_style_and_a_character_survive_a_cut() {
        let whole = "\x1b[1;33mWarning: ünïcode\x1b[0m done\n".as_bytes();
        for cut in 0..whole.len() {
            let mut t = Terminal::default();
            let mut got = t.feed(&whole[..cut]);
            got.extend(t.feed(&whole[cut..]));
            // Merge neighbours with one class (the cut may split a run in two).
            let mut merged: Vec<Styled> = Vec::new();
            for s in got {
                match merged.last_mut() {
                    Some(l) if l.class == s.class => l.text.push_str(&s.text),
                    _ => merged.push(s),
                }
            }
            assert_eq!(
                merged,
                vec![
                    Styled { text: "Warning: ünïcode".into(), class: "t-b t-yellow".into() },
                    Styled { text: " done\n".into(), class: String::new() },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_colour_at_every_character_makes_a_bounded_number_of_runs() {
        let mut log = Vec::new();
        for i in 0..20_000 {
            log.extend(format!("\x1b[3{}mx", 1 + i % 6).into_bytes());
        }
        let got = styled(&log);
        assert!(got.len() <= MAX_RUNS + 1, "{}", got.len());
        assert_eq!(plain(&got).len(), 20_000);
        assert!(got.last().is_some_and(|r| r.class.is_empty() && r.text.len() == 20_000 - MAX_RUNS));
    }

    #[test]
    fn an_escape_that_never_ends_holds_no_more_than_a_bound() {
        // An operating system command opened and never closed: swallowed, memory bounded by
        // the parser ("core": a fixed buffer), text after its end shown.
        let mut t = Terminal::default();
        let mut open = b"\x1b]0;".to_vec();
        open.extend(std::iter::repeat_n(b'x', 1 << 20));
        assert!(t.feed(&open).is_empty());
        assert_eq!(plain(&t.feed(b"\x07after")), "after");
    }
}
