//! "Did you mean …?" suggestions.

/// Words longer than this get no suggestion (the comparison is quadratic in length).
const MAX_WORD: usize = 100;

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > MAX_WORD {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    let words = word.chars().count();
    candidates
        .into_iter()
        .filter_map(|c| {
            let chars = c.chars().count();
            let allowed = (chars.max(words) / 3).max(1);
            // The edit distance is at least the length difference: skip the hopeless ones cheaply.
            if chars.abs_diff(words) > allowed || c.len() > MAX_WORD {
                return None;
            }
            let distance = strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase());
            (distance <= allowed).then_some((distance, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `Some("did you mean `x`?")` when a close candidate exists.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The nearest DNS label to `text`: lowercase, runs of other characters become `-`.
pub fn dns_label(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    trimmed.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_are_made_safely() {
        assert_eq!(dns_label("My_Plan!"), "my-plan");
        assert_eq!(dns_label(&"é".repeat(100)), "");
        assert_eq!(dns_label(&"ab".repeat(40)).len(), 63);
    }

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(
            closest("implment", ["implement", "test"]),
            Some("implement")
        );
        assert_eq!(closest("Tsk", ["Task", "Gate"]), Some("Task"));
        assert_eq!(closest("zzzzzz", ["Task", "Gate"]), None);
    }
}
