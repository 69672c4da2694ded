//! JSON's UTF-16 surrogate-pair escapes (`"\ud83d\ude00"`, what Python's `json.dumps`
//! writes for any character outside the Basic Multilingual Plane) are valid JSON but not
//! valid YAML, whose escapes name code points (`\U0001F600`). For JSON input each pair is
//! rewritten to the YAML escape, and the two bytes saved are put back as spaces after the
//! string's closing quote, so every byte and character offset outside the string is
//! unchanged and spans still point at the original text.

/// The text with surrogate pairs rewritten, or `None` when there is nothing to rewrite
/// (including every input that does not look like JSON).
pub(super) fn rewrite(text: &str) -> Option<String> {
    let looks_like_json = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '[']);
    if !looks_like_json || !has_high_surrogate_escape(text) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut in_string, mut pad) = (0, false, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        if !in_string {
            in_string = b == b'"';
            let next = next_char_len(text, i);
            out.push_str(&text[i..i + next]);
            i += next;
            continue;
        }
        match b {
            b'"' => {
                out.push('"');
                out.extend(std::iter::repeat_n(' ', pad));
                pad = 0;
                in_string = false;
                i += 1;
            }
            b'\\' => match surrogate_pair(&text[i..]) {
                Some(c) => {
                    out.push_str(&format!("\\U{:08X}", c as u32));
                    pad += 2;
                    i += 12;
                }
                None => {
                    let next = 1 + text[i + 1..].chars().next().map_or(0, char::len_utf8);
                    out.push_str(&text[i..i + next]);
                    i += next;
                }
            },
            _ => {
                let next = next_char_len(text, i);
                out.push_str(&text[i..i + next]);
                i += next;
            }
        }
    }
    Some(out)
}

fn next_char_len(text: &str, i: usize) -> usize {
    text[i..].chars().next().map_or(1, char::len_utf8)
}

fn has_high_surrogate_escape(text: &str) -> bool {
    text.match_indices("\\u")
        .any(|(i, _)| hex4(&text[i + 2..]).is_some_and(|v| (0xD800..0xDC00).contains(&v)))
}

/// `\uD83D\uDE00` at the start of `s` as the character it encodes.
fn surrogate_pair(s: &str) -> Option<char> {
    let high = hex4(s.strip_prefix("\\u")?)?;
    let low = hex4(s.get(6..)?.strip_prefix("\\u")?)?;
    if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

fn hex4(s: &str) -> Option<u32> {
    let digits = s.get(..4)?;
    digits
        .chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| u32::from_str_radix(digits, 16).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_code_point_escapes_with_offsets_kept() {
        let text = r#"{"a": "x\ud83d\ude00y", "b": 1}"#;
        let out = rewrite(text).unwrap();
        assert_eq!(out, r#"{"a": "x\U0001F600y"  , "b": 1}"#);
        assert_eq!(out.len(), text.len());
        assert_eq!(out.find("\"b\""), text.find("\"b\""));
    }

    #[test]
    fn other_inputs_are_left_alone() {
        assert_eq!(rewrite("a: \"\\ud83d\\ude00\""), None); // YAML, not JSON
        assert_eq!(rewrite(r#"{"a": "\u00e9"}"#), None);
        let lone = r#"{"a": "\ud83d"}"#;
        assert_eq!(rewrite(lone).as_deref(), Some(lone)); // left for the parser to reject
        let escaped_quote = r#"["\"\ud83d\ude00"]"#;
        assert_eq!(rewrite(escaped_quote).unwrap(), r#"["\"\U0001F600"  ]"#);
    }
}
