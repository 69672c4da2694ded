//! What the terminal can show: colour and Unicode, and the styles built on them.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::io::IsTerminal;

use owo_colors::{OwoColorize, Style};

use crate::cli::{ColorChoice, GlobalArgs};

/// The output stream a decision is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// How to draw on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// Emit ANSI colours.
    pub color: bool,
    /// Use Unicode symbols and box drawing (else ASCII).
    pub unicode: bool,
}

impl Term {
    /// Decides from the flags, the environment and whether `stream` is a terminal.
    pub fn detect(global: &GlobalArgs, stream: Stream) -> Term {
        let tty = stream.is_terminal();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                tty && env("NO_COLOR").is_none() && env("TERM").as_deref() != Some("dumb")
            }
        };
        let locale = env("LC_ALL")
            .or_else(|| env("LC_CTYPE"))
            .or_else(|| env("LANG"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        // Piped output is UTF-8 (our files are); a terminal must say it can show it.
        let unicode = !global.ascii
            && (!tty
                || locale.ends_with("utf-8")
                || locale.ends_with("utf8")
                || (cfg!(windows) && env("WT_SESSION").is_some()));
        Term { color, unicode }
    }

    /// A plain terminal: no colour, Unicode. Handy in tests.
    #[cfg(test)]
    pub fn plain() -> Term {
        Term {
            color: false,
            unicode: true,
        }
    }

    /// `text` in `style` when colour is on, else as is.
    pub fn paint(&self, text: impl Display, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    /// `unicode` or `ascii`, whichever this terminal can show.
    pub fn glyph(&self, unicode: &'static str, ascii: &'static str) -> &'static str {
        if self.unicode {
            unicode
        } else {
            ascii
        }
    }
}

/// The styles used across the outputs, so they stay consistent.
pub mod styles {
    use owo_colors::Style;

    pub fn error() -> Style {
        Style::new().red().bold()
    }
    pub fn warning() -> Style {
        Style::new().yellow().bold()
    }
    pub fn ok() -> Style {
        Style::new().green().bold()
    }
    pub fn strong() -> Style {
        Style::new().bold()
    }
    pub fn dim() -> Style {
        Style::new().dimmed()
    }
    pub fn accent() -> Style {
        Style::new().cyan()
    }
    pub fn gate() -> Style {
        Style::new().yellow()
    }
    pub fn group() -> Style {
        Style::new().blue()
    }
    pub fn external() -> Style {
        Style::new().magenta()
    }
}

/// Text from the inputs (messages, names, paths), safe to print: control characters
/// (`ESC`, `BEL`, a lone `CR`, C1 controls …) and bidirectional overrides become visible
/// escapes (`\x1b`, `\u202e`) so no input can drive the terminal or reorder what it
/// shows. Line feeds and tabs are kept; see [`escape_line`] for one-line fields.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_if(s, |c| c != '\n' && c != '\t' && is_unsafe(c))
}

/// Like [`escape`], but for a field that must stay on one line (a name, an id, a
/// path): line feeds and tabs are escaped too.
pub fn escape_line(s: &str) -> Cow<'_, str> {
    escape_if(s, is_unsafe)
}

/// A character no terminal output should carry as is: a control character (C0, DEL,
/// C1) or a bidirectional formatting character.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `c` as the escape [`escape`] writes for it: `\x1b` below U+0100, else `\u202e`
/// (the forms YAML double-quoted strings accept).
pub fn escape_char(c: char, out: &mut String) {
    let n = c as u32;
    let _ = if n < 0x100 {
        write!(out, "\\x{n:02x}")
    } else {
        write!(out, "\\u{n:04x}")
    };
}

fn escape_if(s: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            escape_char(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `1 file`, `2 files`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Width of `s` in terminal columns, assuming one column per character.
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` characters, marking the cut with `…` (or `...`).
pub fn truncate(s: &str, max: usize, unicode: bool) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let ellipsis = if unicode { "…" } else { "..." };
    let keep = max.saturating_sub(width(ellipsis));
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(ellipsis);
    out
}

/// `s` followed by spaces up to `columns` wide.
pub fn pad(s: &str, columns: usize) -> String {
    let mut out = s.to_string();
    for _ in width(s)..columns {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("abcdef", 10, true), "abcdef");
        assert_eq!(truncate("abcdef", 4, true), "abc…");
        assert_eq!(truncate("abcdef", 5, false), "ab...");
        assert_eq!(truncate("ééééé", 3, true), "éé…");
    }

    #[test]
    fn pads_and_pluralises() {
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcd", 2), "abcd");
        assert_eq!(plural(1, "file", "files"), "1 file");
        assert_eq!(plural(0, "file", "files"), "0 files");
    }

    #[test]
    fn escapes_control_and_bidi_characters() {
        assert_eq!(escape("plain `name`"), "plain `name`");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape("\u{1b}]0;pwned\u{7}\u{1b}[31mRED"),
            "\\x1b]0;pwned\\x07\\x1b[31mRED"
        );
        assert_eq!(escape("a\rb\u{9b}c\u{7f}"), "a\\x0db\\x9bc\\x7f");
        assert_eq!(escape("x\u{202e}y"), "x\\u202ey");
        assert_eq!(escape("two\nlines\tand a tab"), "two\nlines\tand a tab");
        assert_eq!(escape_line("two\nlines\t"), "two\\x0alines\\x09");
        assert_eq!(escape("émoji 😀 ok"), "émoji 😀 ok");
    }

    #[test]
    fn paints_only_with_colour() {
        let plain = Term::plain();
        assert_eq!(plain.paint("x", styles::error()), "x");
        let coloured = Term {
            color: true,
            unicode: true,
        };
        assert!(coloured.paint("x", styles::error()).contains("\x1b["));
    }
}
