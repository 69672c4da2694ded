//! Fuzzes the whole validation pipeline: any bytes (read as lossy UTF-8) must validate
//! without panicking, in normal and strict mode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use planspec_validate::{validate, Options, SourceFile, SourceMap};

fuzz_target!(|data: &[u8]| {
    let (strict, data) = match data.split_first() {
        Some((&flag, rest)) => (flag & 1 == 1, rest),
        None => (false, data),
    };
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new(
        "fuzz.yaml",
        String::from_utf8_lossy(data).into_owned(),
    ));
    let options = Options {
        strict,
        ..Options::default()
    };
    let report = validate(sources, &options);
    for d in &report.diagnostics {
        if let Some(span) = d.span {
            let text = &report.sources.get(span.source).text;
            assert!(span.end as usize <= text.len(), "{d:?}");
        }
    }
});
