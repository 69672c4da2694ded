//! Source files and byte spans into them.

/// Index of a [`SourceFile`] inside a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SourceId(pub u32);

/// A half-open byte range `start..end` inside one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Span {
            source,
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: u32,
    pub column: u32,
}

/// One input: a file, or standard input (named `<stdin>`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Name as shown to the user (the path as given on the command line).
    pub name: String,
    pub text: String,
    line_starts: Vec<u32>,
    /// Whether each line is pure ASCII, where a column is a byte difference. Without it a
    /// minified one-line JSON file with many findings would count characters quadratically.
    ascii_lines: Vec<bool>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0u32];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        let ascii_lines = text.split('\n').map(str::is_ascii).collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            ascii_lines,
        }
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = offset.min(self.text.len() as u32);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let end = floor_char_boundary(&self.text, offset as usize);
        let column = if self.ascii_lines.get(line).copied().unwrap_or(false) {
            (end - start) as u32 + 1
        } else {
            self.text[start..end].chars().count() as u32 + 1
        };
        LineCol {
            line: line as u32 + 1,
            column,
        }
    }

    /// Byte offset of a 0-based line and 0-based character column.
    pub fn offset_of(&self, line0: usize, col0: usize) -> usize {
        let Some(&start) = self.line_starts.get(line0) else {
            return self.text.len();
        };
        let start = start as usize;
        let rest = &self.text[start..];
        let within = rest
            .char_indices()
            .nth(col0)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        start + within
    }

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Every source file of one validation run.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, file: SourceFile) -> SourceId {
        self.files.push(file);
        SourceId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: SourceId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (SourceId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (SourceId(i as u32), f))
    }

    pub fn line_col(&self, span: Span) -> LineCol {
        self.get(span.source).line_col(span.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let f = SourceFile::new("x", "ab\n─c: d\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        let c = f.text.find('c').unwrap() as u32;
        assert_eq!(f.line_col(c), LineCol { line: 2, column: 2 });
        assert_eq!(f.offset_of(1, 1), c as usize);
    }
}
