//! Converting the parser's character indices into byte offsets.
//!
//! `saphyr-parser` reports positions as *character* indices into its input; [`Span`]s
//! are *byte* offsets. For ASCII text the two are equal. Otherwise a checkpoint table
//! (the byte offset of every [`STRIDE`]th character) makes each conversion O(1): one
//! table lookup plus a walk over fewer than [`STRIDE`] characters.
//!
//! [`Span`]: crate::source::Span

/// Characters between two checkpoints.
const STRIDE: usize = 32;

/// Maps character indices of one text to byte offsets.
#[derive(Debug)]
pub(super) struct CharOffsets<'a> {
    text: &'a str,
    /// Byte offset of character `k * STRIDE`; empty when the text is ASCII.
    checkpoints: Vec<u32>,
    ascii: bool,
}

impl<'a> CharOffsets<'a> {
    /// Builds the table for `text` (nothing to build for ASCII text).
    pub(super) fn new(text: &'a str) -> Self {
        let ascii = text.is_ascii();
        let checkpoints = if ascii {
            Vec::new()
        } else {
            text.char_indices()
                .step_by(STRIDE)
                .map(|(i, _)| i as u32)
                .collect()
        };
        CharOffsets {
            text,
            checkpoints,
            ascii,
        }
    }

    /// The byte offset of character `index`, clamped to the end of the text.
    /// Always a char boundary.
    pub(super) fn byte(&self, index: usize) -> usize {
        if self.ascii {
            return index.min(self.text.len());
        }
        let Some(&checkpoint) = self.checkpoints.get(index / STRIDE) else {
            return self.text.len();
        };
        let start = checkpoint as usize;
        let rest = &self.text[start..];
        rest.char_indices()
            .nth(index % STRIDE)
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    /// Number of characters in `text[from..to]` (both char boundaries).
    pub(super) fn chars_between(&self, from: usize, to: usize) -> usize {
        if self.ascii {
            to.saturating_sub(from)
        } else {
            self.text.get(from..to).map_or(0, |s| s.chars().count())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_identity_and_clamped() {
        let o = CharOffsets::new("abc");
        assert_eq!(o.byte(0), 0);
        assert_eq!(o.byte(2), 2);
        assert_eq!(o.byte(99), 3);
    }

    #[test]
    fn non_ascii_matches_char_indices() {
        let text = "a─b: é\n# ──────────────────────────────────────── c\nxyz: 1\n".repeat(5);
        let o = CharOffsets::new(&text);
        for (k, (i, _)) in text.char_indices().enumerate() {
            assert_eq!(o.byte(k), i, "char {k}");
        }
        let n = text.chars().count();
        assert_eq!(o.byte(n), text.len());
        assert_eq!(o.byte(n + 100), text.len());
        assert_eq!(o.chars_between(0, text.len()), n);
    }
}
