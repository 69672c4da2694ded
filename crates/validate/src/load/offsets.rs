//! Converting the parser's character indices into byte offsets.
//!
//! `saphyr-parser` reports positions as *character* indices into its input; [`Span`]s
//! are *byte* offsets. For ASCII text the two are equal. Otherwise a checkpoint table
//! (the byte offset of every [`STRIDE`]th character) makes each conversion O(1): one
//! table lookup plus a walk over fewer than [`STRIDE`] characters; and since the parser
//! mostly moves forward, the walk starts from the previous answer when that is closer.
//!
//! [`Span`]: crate::source::Span

use std::cell::Cell;

/// Characters between two checkpoints.
const STRIDE: usize = 32;

/// Maps character indices of one text to byte offsets.
#[derive(Debug)]
pub(super) struct CharOffsets<'a> {
    text: &'a str,
    /// Byte offset of character `k * STRIDE`; empty when the text is ASCII.
    checkpoints: Vec<u32>,
    ascii: bool,
    /// The previous answer: (character index, byte offset).
    last: Cell<(usize, usize)>,
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
            last: Cell::new((0, 0)),
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
        let (last_index, last_byte) = self.last.get();
        let (from_index, from_byte) =
            if last_index <= index && last_index >= index / STRIDE * STRIDE {
                (last_index, last_byte)
            } else {
                (index / STRIDE * STRIDE, checkpoint as usize)
            };
        let byte = self.text[from_byte..]
            .char_indices()
            .nth(index - from_index)
            .map_or(self.text.len(), |(i, _)| from_byte + i);
        self.last.set((index, byte));
        byte
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
        // Backwards and jumping around, too.
        let all: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for k in (0..all.len())
            .rev()
            .step_by(7)
            .chain((0..all.len()).step_by(13))
        {
            assert_eq!(o.byte(k), all[k], "char {k}");
        }
        let n = text.chars().count();
        assert_eq!(o.byte(n), text.len());
        assert_eq!(o.byte(n + 100), text.len());
        assert_eq!(o.chars_between(0, text.len()), n);
    }
}
