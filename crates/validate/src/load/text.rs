//! Small lexical helpers over the source text, used to sharpen the parser's spans
//! and to resume after a broken document.
//!
//! All positions are byte offsets; every function returns char boundaries when given
//! char boundaries, and never reads outside the text.

/// Whitespace between YAML tokens.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters that end an anchor, alias or shorthand tag.
fn ends_token(b: u8) -> bool {
    is_ws(b) || matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Skips whitespace and `#` comments from `pos`, not beyond `end`.
fn skip_ws_and_comments(bytes: &[u8], mut pos: usize, end: usize) -> usize {
    while pos < end {
        match bytes[pos] {
            b if is_ws(b) => pos += 1,
            b'#' => {
                while pos < end && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            _ => break,
        }
    }
    pos
}

/// End of the token starting at `pos` (an anchor `&a`, an alias `*a` or a tag `!t`).
fn token_end(bytes: &[u8], pos: usize, end: usize) -> usize {
    if bytes[pos..end].starts_with(b"!<") {
        // A verbatim tag runs to its closing `>`.
        return bytes[pos..end]
            .iter()
            .position(|&b| b == b'>')
            .map_or(end, |i| pos + i + 1);
    }
    let mut i = pos + 1;
    while i < end && !ends_token(bytes[i]) {
        i += 1;
    }
    i
}

/// Where a node's properties (`&anchor`, `!tag`) end inside `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Props {
    /// First byte of the node's content (`end` when there is none).
    pub content: usize,
    /// The tag token, if any.
    pub tag: Option<(usize, usize)>,
}

/// Skips the properties at the start of `text[start..end]`.
pub(super) fn props(text: &str, start: usize, end: usize) -> Props {
    let bytes = text.as_bytes();
    let end = end.min(bytes.len());
    let mut pos = start.min(end);
    let mut tag = None;
    loop {
        pos = skip_ws_and_comments(bytes, pos, end);
        if pos >= end || !matches!(bytes[pos], b'&' | b'!') {
            break;
        }
        let token = token_end(bytes, pos, end);
        if bytes[pos] == b'!' {
            tag = Some((pos, token));
        }
        pos = token;
    }
    Props {
        content: floor_boundary(text, pos),
        tag,
    }
}

/// The `|` or `>` header of a block scalar whose content starts at `content`, searched
/// from `from` (the end of the previous token): between them only indicators
/// (`:`, `-`, `?`), properties, whitespace and comments may appear.
pub(super) fn block_scalar_header(text: &str, from: usize, content: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let end = content.min(bytes.len());
    let mut pos = from.min(end);
    while pos < end {
        pos = skip_ws_and_comments(bytes, pos, end);
        if pos >= end {
            break;
        }
        match bytes[pos] {
            b'|' | b'>' => return Some(pos),
            b':' | b'-' | b'?' | b',' => pos += 1,
            b'&' | b'!' => pos = token_end(bytes, pos, end),
            _ => return None,
        }
    }
    None
}

/// `end` moved back over trailing whitespace, but not before `start`.
pub(super) fn trim_end(text: &str, start: usize, end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = end.min(bytes.len());
    while end > start && is_ws(bytes[end - 1]) {
        end -= 1;
    }
    end
}

/// Byte length of the character at `pos` (0 at the end of the text).
pub(super) fn char_len_at(text: &str, pos: usize) -> usize {
    text.get(pos..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, char::len_utf8)
}

/// The name of the alias `*name` starting at `pos`, if there is one.
pub(super) fn alias_name_at(text: &str, pos: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'*') {
        return None;
    }
    let end = token_end(bytes, pos, bytes.len());
    text.get(pos + 1..end).filter(|name| !name.is_empty())
}

/// Start of the line holding `pos`.
pub(super) fn line_start(text: &str, pos: usize) -> usize {
    let pos = pos.min(text.len());
    text.as_bytes()[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// Whether a line starting at `pos` is a document marker (`---` or `...` followed by
/// whitespace or the end of the text).
fn is_marker_line(bytes: &[u8], pos: usize) -> bool {
    let rest = &bytes[pos..];
    (rest.starts_with(b"---") || rest.starts_with(b"...")) && rest.get(3).is_none_or(|&b| is_ws(b))
}

/// The first document marker line starting at or after `from` (which must be a line start).
pub(super) fn next_marker_line(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = from;
    while pos < bytes.len() {
        if is_marker_line(bytes, pos) {
            return Some(pos);
        }
        pos = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)?;
    }
    None
}

fn floor_boundary(text: &str, mut pos: usize) -> usize {
    pos = pos.min(text.len());
    while pos > 0 && !text.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_skip_anchor_and_tag() {
        let t = "&a !!str  value";
        let p = props(t, 0, t.len());
        assert_eq!(&t[p.content..], "value");
        assert_eq!(p.tag.map(|(s, e)| &t[s..e]), Some("!!str"));

        let t = "!<tag:yaml.org,2002:str> x";
        let p = props(t, 0, t.len());
        assert_eq!(&t[p.content..], "x");
        assert_eq!(
            p.tag.map(|(s, e)| &t[s..e]),
            Some("!<tag:yaml.org,2002:str>")
        );

        let t = "&b # note\n  key: 1";
        assert_eq!(&t[props(t, 0, t.len()).content..], "key: 1");

        let t = "plain";
        assert_eq!(
            props(t, 0, t.len()),
            Props {
                content: 0,
                tag: None
            }
        );
    }

    #[test]
    fn block_scalar_headers() {
        let t = "k: |  # c\n  lit\n";
        assert_eq!(block_scalar_header(t, 1, 12), Some(3));
        let t = "- >-\n  x\n";
        assert_eq!(block_scalar_header(t, 0, 7), Some(2));
        let t = "k: x";
        assert_eq!(block_scalar_header(t, 1, 3), None);
    }

    #[test]
    fn markers_and_lines() {
        let t = "a: 1\n--- x\n...\n----\n---";
        assert_eq!(next_marker_line(t, 0), Some(5));
        assert_eq!(next_marker_line(t, 6 + 5), Some(11));
        assert_eq!(next_marker_line(t, 15), Some(20));
        assert_eq!(next_marker_line(t, 21), None);
        assert_eq!(line_start(t, 7), 5);
        assert_eq!(line_start(t, 0), 0);
        assert_eq!(trim_end("ab \n\n", 0, 5), 2);
        assert_eq!(alias_name_at("x: *base,", 3), Some("base"));
        assert_eq!(char_len_at("─", 0), 3);
        assert_eq!(char_len_at("─", 3), 0);
    }
}
