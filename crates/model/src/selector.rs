//! Label and field selector strings, as in the `labelSelector=` and `fieldSelector=` query
//! parameters of the Kubernetes API (and `kubectl get -l … --field-selector …`).
//!
//! * [`Selector`] — a label selector: `env=prod`, `tier!=db`, `env in (prod,stage)`,
//!   `env notin (dev)`, `canary`, `!canary`, `replicas>2`; comma means AND. The grammar, the
//!   tokenisation (longest-match operators, `in`/`notin` keywords that are ordinary words where
//!   a value or key is expected), the normalisation (keys sorted, set values sorted and
//!   de-duplicated, `==` read as `=`) and the validation (keys are qualified names, values are
//!   label values, `>`/`<` need integers) follow `k8s.io/apimachinery/pkg/labels`.
//!   `!=` and `notin` match objects *without* the label too, as in Kubernetes.
//! * [`FieldSelector`] — `metadata.name=x,status.phase!=Failed`: only `=`, `==`, `!=`, comma
//!   AND, `\,` `\=` `\\` escapes in values (`k8s.io/apimachinery/pkg/fields`). Which fields are
//!   supported is up to the caller ([`FieldSelector::parse_supported`]).
//!
//! Errors ([`SelectorError`]) carry the byte offset of the offending token and say what was
//! expected. Parsing never panics, whatever the input.

use crate::common::{LabelKey, LabelValue};
use crate::meta::{LabelSelector, LabelSelectorRequirement, Labels, SelectorOperator};
use std::fmt;
use std::str::FromStr;

/// Maximum length of a label value and of the name part of a label key.
pub const MAX_LABEL_VALUE_LENGTH: usize = 63;
/// Maximum length of the DNS-subdomain prefix of a label key.
pub const MAX_LABEL_KEY_PREFIX_LENGTH: usize = 253;

/// An error in a label or field selector string.
///
/// Every variant has the byte offset (`position`, 0-based) of the token it is about; it is `0`
/// for errors of values that were not parsed from a string (e.g. [`Requirement::new`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A token that does not fit the grammar where it stands.
    #[error("unexpected {found} at position {position} of the selector: expected {expected}")]
    Unexpected {
        /// Byte offset of the token.
        position: usize,
        /// The token as the user wrote it, quoted (`` `=` ``), or `end of selector`.
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A label key that is not a qualified name.
    #[error("invalid label key `{key}` at position {position}: {reason}")]
    InvalidKey {
        /// Byte offset of the key.
        position: usize,
        /// The key as written.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value that is not a valid label value.
    #[error("invalid value `{value}` for label `{key}` at position {position}: {reason}")]
    InvalidValue {
        /// Byte offset of the value (of the `(` of a set, for a set).
        position: usize,
        /// The label key the value is compared with.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `>` or `<` with a value that is not an integer.
    #[error("`{key}{operator}{value}` at position {position}: `>` and `<` compare integers; write e.g. `{key}{operator}3`")]
    NotAnInteger {
        /// Byte offset of the value.
        position: usize,
        /// The label key.
        key: String,
        /// `>` or `<`.
        operator: &'static str,
        /// The value as written.
        value: String,
    },
    /// A requirement whose values do not fit its operator (only from [`Requirement::new`]; the
    /// parser cannot produce such a requirement).
    #[error("requirement on label `{key}`: {reason}")]
    InvalidValues {
        /// Byte offset (always 0: such requirements are built, not parsed).
        position: usize,
        /// The label key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field selector term without `=`, `==` or `!=`.
    #[error("field selector term `{term}` at position {position} has no operator: write `field=value`, `field==value` or `field!=value`")]
    MissingOperator {
        /// Byte offset of the term.
        position: usize,
        /// The term as written.
        term: String,
    },
    /// A field selector term whose field name is empty or holds characters no field has.
    #[error("invalid field `{field}` at position {position} of the field selector: a field is a dotted path such as `metadata.name` or `status.phase`")]
    InvalidField {
        /// Byte offset of the field name.
        position: usize,
        /// The field name as written.
        field: String,
    },
    /// A backslash in a field selector value that escapes nothing it may escape.
    #[error("invalid escape `{sequence}` at position {position} of the field selector: only `\\\\`, `\\,` and `\\=` are escapes")]
    InvalidEscape {
        /// Byte offset of the backslash.
        position: usize,
        /// The sequence as written (`\x`, or a lone `\` at the end).
        sequence: String,
    },
    /// A `,` or `=` inside a field selector value that is not escaped.
    #[error("unescaped `{character}` at position {position} of the field selector value: write `\\{character}` to match it literally")]
    UnescapedCharacter {
        /// Byte offset of the character.
        position: usize,
        /// `,` or `=`.
        character: char,
    },
    /// A field the caller does not support for this kind of object.
    #[error("field selector on `{field}` (at position {position}) is not supported; supported fields: {}", supported.join(", "))]
    UnsupportedField {
        /// Byte offset of the field name.
        position: usize,
        /// The field name.
        field: String,
        /// The fields that are supported.
        supported: Vec<String>,
    },
}

impl SelectorError {
    /// Byte offset (0-based) of the token the error is about.
    pub fn position(&self) -> usize {
        match self {
            SelectorError::Unexpected { position, .. }
            | SelectorError::InvalidKey { position, .. }
            | SelectorError::InvalidValue { position, .. }
            | SelectorError::NotAnInteger { position, .. }
            | SelectorError::InvalidValues { position, .. }
            | SelectorError::MissingOperator { position, .. }
            | SelectorError::InvalidField { position, .. }
            | SelectorError::InvalidEscape { position, .. }
            | SelectorError::UnescapedCharacter { position, .. }
            | SelectorError::UnsupportedField { position, .. } => *position,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of keys and values
// ---------------------------------------------------------------------------------------------

/// Checks a label key: a qualified name (`[prefix/]name`, the name 1–63 characters of
/// `A-Z a-z 0-9 - _ .` starting and ending alphanumeric; the optional prefix a DNS subdomain of
/// at most 253 characters). The error says what to change.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => {
            return Err(
                "a key has at most one `/`, between an optional DNS prefix and the name (e.g. `planspec.io/goal`)"
                    .to_owned(),
            )
        }
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before `/` is empty (e.g. `planspec.io/goal`)".to_owned());
        }
        if prefix.len() > MAX_LABEL_KEY_PREFIX_LENGTH {
            return Err(format!(
                "the prefix before `/` is longer than {MAX_LABEL_KEY_PREFIX_LENGTH} characters"
            ));
        }
        if !is_dns_subdomain(prefix) {
            return Err("the prefix before `/` must be a DNS subdomain: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (e.g. `planspec.io`)".to_owned());
        }
    }
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.len() > MAX_LABEL_VALUE_LENGTH {
        return Err(format!(
            "the name is longer than {MAX_LABEL_VALUE_LENGTH} characters"
        ));
    }
    if !is_label_word(name) {
        return Err("the name must consist of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit (e.g. `app`, `my.key`, `123-abc`)".to_owned());
    }
    Ok(())
}

/// Checks a label value: empty, or 1–63 characters of `A-Z a-z 0-9 - _ .` starting and ending
/// with a letter or digit. The error says what to change.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL_VALUE_LENGTH {
        return Err(format!(
            "a label value is at most {MAX_LABEL_VALUE_LENGTH} characters"
        ));
    }
    if !value.is_empty() && !is_label_word(value) {
        return Err("a label value must be empty or consist of letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit (e.g. `prod`, `v1.2`, `my_value`)".to_owned());
    }
    Ok(())
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, non-empty.
fn is_label_word(s: &str) -> bool {
    let b = s.as_bytes();
    let end = |c: &u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && end(&b[0])
        && end(&b[b.len() - 1])
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain (without the length check): dot-separated DNS labels.
fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty() && ok(&b[0]) && ok(&b[b.len() - 1]) && b.iter().all(|c| ok(c) || *c == b'-')
    })
}

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

/// The operator of a label selector [`Requirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value` or `key==value`: the label is present with this value.
    Equals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label is present and is an integer greater than the value.
    GreaterThan,
    /// `key<3`: the label is present and is an integer less than the value.
    LessThan,
}

impl Operator {
    /// The operator as written between key and value (`=`, ` in `, …; empty for the unary ones).
    fn infix(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => "",
        }
    }
}

/// One requirement of a label [`Selector`]: a key, an operator and its values.
///
/// Invariants (checked by [`Requirement::new`]): the key is a qualified name; every value is a
/// label value; `=`/`!=`/`>`/`<` have exactly one value (an integer for `>`/`<`); `in`/`notin`
/// have at least one, sorted and without duplicates; `exists`/`!` have none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: LabelKey,
    operator: Operator,
    values: Vec<LabelValue>,
}

impl Requirement {
    /// A checked requirement. Values of `in`/`notin` are sorted and de-duplicated.
    pub fn new<K, I, V>(key: K, operator: Operator, values: I) -> Result<Self, SelectorError>
    where
        K: Into<String>,
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        Requirement::checked(key.into(), operator, values, 0, 0)
    }

    /// `key=value`.
    pub fn equals(key: &str, value: &str) -> Result<Self, SelectorError> {
        Requirement::new(key, Operator::Equals, [value])
    }

    /// `key` (the label exists).
    pub fn exists(key: &str) -> Result<Self, SelectorError> {
        Requirement::new(key, Operator::Exists, [""; 0])
    }

    fn checked(
        key: String,
        operator: Operator,
        mut values: Vec<String>,
        key_position: usize,
        value_position: usize,
    ) -> Result<Self, SelectorError> {
        if let Err(reason) = validate_label_key(&key) {
            return Err(SelectorError::InvalidKey {
                position: key_position,
                key,
                reason,
            });
        }
        let count_error = match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                Some("`in` and `notin` need at least one value")
            }
            Operator::Equals | Operator::NotEquals if values.len() != 1 => {
                Some("`=`, `==` and `!=` need exactly one value")
            }
            Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
                Some("`>` and `<` need exactly one value")
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                Some("an existence requirement (`key`, `!key`) takes no values")
            }
            _ => None,
        };
        if let Some(reason) = count_error {
            return Err(SelectorError::InvalidValues {
                position: key_position,
                key,
                reason,
            });
        }
        for value in &values {
            if let Err(reason) = validate_label_value(value) {
                return Err(SelectorError::InvalidValue {
                    position: value_position,
                    key,
                    value: value.clone(),
                    reason,
                });
            }
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan)
            && values[0].parse::<i64>().is_err()
        {
            return Err(SelectorError::NotAnInteger {
                position: value_position,
                key,
                operator: operator.infix(),
                value: values.swap_remove(0),
            });
        }
        if matches!(operator, Operator::In | Operator::NotIn) {
            values.sort_unstable();
            values.dedup();
        }
        Ok(Requirement {
            key: LabelKey::new(key),
            operator,
            values: values.into_iter().map(LabelValue::new).collect(),
        })
    }

    /// The label key.
    pub fn key(&self) -> &LabelKey {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values: one for `=`, `!=`, `>`, `<`; a sorted set for `in`/`notin`; none otherwise.
    pub fn values(&self) -> &[LabelValue] {
        &self.values
    }

    /// `true` if `labels` satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_with(|key| labels.get(key).map(LabelValue::as_str))
    }

    /// `true` if the labels that `get` looks up satisfy the requirement (`get(key)` is the
    /// value of label `key`, `None` if the object has no such label).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let value = get(self.key.as_str());
        let listed = |v: &str| self.values.iter().any(|x| x.as_str() == v);
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Ok(want)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values[0].parse::<i64>(),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        f.write_str(self.operator.infix())?;
        match self.operator {
            Operator::Exists | Operator::DoesNotExist => Ok(()),
            Operator::In | Operator::NotIn => {
                f.write_str("(")?;
                for (i, v) in self.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(v)?;
                }
                f.write_str(")")
            }
            _ => f.write_str(&self.values[0]),
        }
    }
}

/// A label selector: requirements that must all hold. The empty selector matches everything.
///
/// Requirements are kept sorted by key (stably: requirements on one key stay in the order
/// written), so equal selectors compare equal and render identically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// A selector of these requirements (sorted by key).
    pub fn new(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    /// Parses a `labelSelector` string such as `env in (prod,stage),tier!=db,!canary`.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Parser::new(input).parse().map(Selector::new)
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Unwraps the requirements.
    pub fn into_requirements(self) -> Vec<Requirement> {
        self.requirements
    }

    /// `true` if the selector has no requirement (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// `true` if `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// `true` if the labels that `get` looks up satisfy every requirement (see
    /// [`Requirement::matches_with`]).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches_with(&get))
    }

    /// The selector as a [`LabelSelector`] (`matchLabels` for keys with a single `=`,
    /// `matchExpressions` for the rest). `None` if it uses `>` or `<`, which `LabelSelector`
    /// cannot express.
    pub fn to_label_selector(&self) -> Option<LabelSelector> {
        let mut out = LabelSelector::default();
        for r in &self.requirements {
            let (operator, values) = match r.operator {
                Operator::Equals => {
                    let single = self
                        .requirements
                        .iter()
                        .filter(|o| o.key == r.key && o.operator == Operator::Equals)
                        .count()
                        == 1;
                    if single {
                        out.match_labels.insert(r.key.clone(), r.values[0].clone());
                        continue;
                    }
                    (SelectorOperator::In, r.values.clone())
                }
                Operator::NotEquals => (SelectorOperator::NotIn, r.values.clone()),
                Operator::In => (SelectorOperator::In, r.values.clone()),
                Operator::NotIn => (SelectorOperator::NotIn, r.values.clone()),
                Operator::Exists => (SelectorOperator::Exists, Vec::new()),
                Operator::DoesNotExist => (SelectorOperator::DoesNotExist, Vec::new()),
                Operator::GreaterThan | Operator::LessThan => return None,
            };
            out.match_expressions.push(LabelSelectorRequirement {
                key: r.key.clone(),
                operator,
                values,
            });
        }
        Some(out)
    }

    /// The selector of a [`LabelSelector`] (as `metav1.LabelSelectorAsSelector` does), e.g. to
    /// print it as a string. Fails if a key or value is invalid or `values` do not fit an
    /// operator.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in &selector.match_labels {
            requirements.push(Requirement::new(
                k.as_str(),
                Operator::Equals,
                [v.as_str()],
            )?);
        }
        for e in &selector.match_expressions {
            let operator = match e.operator {
                SelectorOperator::In => Operator::In,
                SelectorOperator::NotIn => Operator::NotIn,
                SelectorOperator::Exists => Operator::Exists,
                SelectorOperator::DoesNotExist => Operator::DoesNotExist,
            };
            requirements.push(Requirement::new(
                e.key.as_str(),
                operator,
                e.values.iter().map(LabelValue::as_str),
            )?);
        }
        Ok(Selector::new(requirements))
    }
}

impl fmt::Display for Selector {
    /// The canonical string form, e.g. `env in (prod,stage),tier!=db`; it parses back to an
    /// equal selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, SelectorError> {
        Selector::parse(s)
    }
}

// --- Lexer -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    End,
    Identifier,
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Bang,
    GreaterThan,
    LessThan,
    Comma,
    OpenParen,
    CloseParen,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok,
    text: &'a str,
    position: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        if self.tok == Tok::End {
            "end of selector".to_owned()
        } else {
            format!("`{}`", self.text)
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn symbol(s: &str) -> Option<Tok> {
    Some(match s {
        "=" => Tok::Equals,
        "==" => Tok::DoubleEquals,
        "!=" => Tok::NotEquals,
        "!" => Tok::Bang,
        ">" => Tok::GreaterThan,
        "<" => Tok::LessThan,
        "," => Tok::Comma,
        "(" => Tok::OpenParen,
        ")" => Tok::CloseParen,
        _ => return None,
    })
}

/// Splits the input into tokens, as the Kubernetes lexer does: whitespace separates; runs of
/// special characters are cut at the longest operator; anything else up to whitespace or a
/// special character is a word (`in` and `notin` are keywords).
fn lex(input: &str) -> Vec<Token<'_>> {
    let b = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            tokens.push(Token {
                tok: Tok::End,
                text: "",
                position: input.len(),
            });
            return tokens;
        }
        let start = i;
        if is_special(b[i]) {
            // Longest match: extend while the longer run is still an operator.
            let mut end = i + 1;
            while end < b.len() && is_special(b[end]) && symbol(&input[start..=end]).is_some() {
                end += 1;
            }
            let text = &input[start..end];
            // Every single special character is a token, so `symbol` always succeeds here.
            let tok = symbol(text).unwrap_or(Tok::Identifier);
            tokens.push(Token {
                tok,
                text,
                position: start,
            });
            i = end;
        } else {
            while i < b.len() && !is_space(b[i]) && !is_special(b[i]) {
                i += 1;
            }
            let text = &input[start..i];
            let tok = match text {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Identifier,
            };
            tokens.push(Token {
                tok,
                text,
                position: start,
            });
        }
    }
}

// --- Parser ------------------------------------------------------------------------------------

const EXPECT_START: &str = "a label key, `!key`, or the end of the selector";
const EXPECT_AFTER_REQUIREMENT: &str =
    "`,` or the end of the selector (separate requirements with `,`)";
const EXPECT_AFTER_COMMA: &str = "a label key or `!key` after `,`";
const EXPECT_KEY: &str = "a label key";
const EXPECT_OPERATOR: &str = "an operator: `=`, `==`, `!=`, `in`, `notin`, `>` or `<`";
const EXPECT_OPEN: &str = "`(` to start the set of values, e.g. `env in (prod,stage)`";
const EXPECT_SET_START: &str = "a value, `,` or `)`";
const EXPECT_SET_NEXT: &str = "`,` or `)`";
const EXPECT_SET_ITEM: &str = "a value or `,`";
const EXPECT_VALUE: &str = "a value";

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            tokens: lex(input),
            at: 0,
        }
    }

    /// The next token; where keys and values are expected, `in`/`notin` are plain words.
    fn peek(&self) -> Token<'a> {
        let mut t = self.tokens[self.at.min(self.tokens.len() - 1)];
        if matches!(t.tok, Tok::In | Tok::NotIn) {
            t.tok = Tok::Identifier;
        }
        t
    }

    /// The next token as an operator (`in`/`notin` are keywords).
    fn next_raw(&mut self) -> Token<'a> {
        let t = self.tokens[self.at.min(self.tokens.len() - 1)];
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn next(&mut self) -> Token<'a> {
        let t = self.peek();
        self.next_raw();
        t
    }

    fn unexpected(t: Token<'_>, expected: &'static str) -> SelectorError {
        SelectorError::Unexpected {
            position: t.position,
            found: t.describe(),
            expected,
        }
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        let t = self.peek();
        match t.tok {
            Tok::End => return Ok(requirements),
            Tok::Identifier | Tok::Bang => {}
            _ => return Err(Self::unexpected(t, EXPECT_START)),
        }
        loop {
            requirements.push(self.requirement()?);
            let t = self.next();
            match t.tok {
                Tok::End => return Ok(requirements),
                Tok::Comma => {
                    let t = self.peek();
                    if !matches!(t.tok, Tok::Identifier | Tok::Bang) {
                        return Err(Self::unexpected(t, EXPECT_AFTER_COMMA));
                    }
                }
                _ => return Err(Self::unexpected(t, EXPECT_AFTER_REQUIREMENT)),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut t = self.next();
        let negated = t.tok == Tok::Bang;
        if negated {
            t = self.next();
        }
        if t.tok != Tok::Identifier {
            return Err(Self::unexpected(t, EXPECT_KEY));
        }
        let key = t.text.to_owned();
        let key_position = t.position;
        if let Err(reason) = validate_label_key(&key) {
            return Err(SelectorError::InvalidKey {
                position: key_position,
                key,
                reason,
            });
        }
        if negated {
            return Requirement::checked(
                key,
                Operator::DoesNotExist,
                Vec::new(),
                key_position,
                key_position,
            );
        }
        if matches!(self.peek().tok, Tok::End | Tok::Comma) {
            return Requirement::checked(
                key,
                Operator::Exists,
                Vec::new(),
                key_position,
                key_position,
            );
        }
        let op = self.next_raw();
        let operator = match op.tok {
            Tok::Equals | Tok::DoubleEquals => Operator::Equals,
            Tok::NotEquals => Operator::NotEquals,
            Tok::In => Operator::In,
            Tok::NotIn => Operator::NotIn,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            _ => return Err(Self::unexpected(op, EXPECT_OPERATOR)),
        };
        let (values, value_position) = match operator {
            Operator::In | Operator::NotIn => self.set()?,
            _ => self.exact_value()?,
        };
        Requirement::checked(key, operator, values, key_position, value_position)
    }

    /// `( … )` after `in`/`notin`. Empty items read as the empty value: `()` is `("")`,
    /// `(,a)` is `("", a)`.
    fn set(&mut self) -> Result<(Vec<String>, usize), SelectorError> {
        let open = self.next();
        if open.tok != Tok::OpenParen {
            return Err(Self::unexpected(open, EXPECT_OPEN));
        }
        let t = self.peek();
        match t.tok {
            Tok::CloseParen => {
                self.next();
                return Ok((vec![String::new()], open.position));
            }
            Tok::Identifier | Tok::Comma => {}
            _ => return Err(Self::unexpected(t, EXPECT_SET_START)),
        }
        let mut values: Vec<String> = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Identifier => {
                    values.push(t.text.to_owned());
                    let n = self.peek();
                    match n.tok {
                        Tok::Comma => {}
                        Tok::CloseParen => {
                            self.next();
                            return Ok((values, open.position));
                        }
                        _ => return Err(Self::unexpected(n, EXPECT_SET_NEXT)),
                    }
                }
                Tok::Comma => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    let n = self.peek();
                    match n.tok {
                        Tok::CloseParen => {
                            self.next();
                            values.push(String::new());
                            return Ok((values, open.position));
                        }
                        Tok::Comma => {
                            self.next();
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(Self::unexpected(t, EXPECT_SET_ITEM)),
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>`, `<`; nothing (end or `,`) is the empty value.
    fn exact_value(&mut self) -> Result<(Vec<String>, usize), SelectorError> {
        let t = self.peek();
        match t.tok {
            Tok::End | Tok::Comma => Ok((vec![String::new()], t.position)),
            Tok::Identifier => {
                self.next();
                Ok((vec![t.text.to_owned()], t.position))
            }
            _ => Err(Self::unexpected(t, EXPECT_VALUE)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// The operator of a [`FieldRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a [`FieldSelector`]: `field=value` or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field, a dotted path such as `metadata.name` or `status.phase`.
    pub field: String,
    /// `=` or `!=`.
    pub operator: FieldOperator,
    /// The value compared with, unescaped (may be empty).
    pub value: String,
}

impl FieldRequirement {
    /// `true` if `actual` (the field's value; `None` when the object lacks it, which reads as
    /// the empty string as in Kubernetes) satisfies the requirement.
    pub fn matches(&self, actual: Option<&str>) -> bool {
        let equal = actual.unwrap_or("") == self.value;
        equal == (self.operator == FieldOperator::Equals)
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.field)?;
        f.write_str(match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        })?;
        f.write_str(&escape_field_value(&self.value))
    }
}

/// A field selector: terms that must all hold, in the order written. The empty selector
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// A selector of these terms.
    pub fn new(requirements: Vec<FieldRequirement>) -> Self {
        FieldSelector { requirements }
    }

    /// Parses a `fieldSelector` string such as `metadata.name=x,status.phase!=Failed`.
    ///
    /// Terms are separated by `,` (empty terms are skipped); each is `field=value`,
    /// `field==value` or `field!=value`, split at the first operator. In values, `\,`, `\=` and
    /// `\\` stand for `,`, `=` and `\`; an unescaped `,` or `=` is an error. Whitespace around
    /// the field and the value is ignored (Kubernetes keeps it, which can only make a term
    /// match nothing).
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        Ok(FieldSelector {
            requirements: parse_fields(input)?.into_iter().map(|(r, _)| r).collect(),
        })
    }

    /// [`parse`](Self::parse), then rejects any field not in `supported` with
    /// [`SelectorError::UnsupportedField`] (naming the supported ones).
    pub fn parse_supported(input: &str, supported: &[&str]) -> Result<Self, SelectorError> {
        let terms = parse_fields(input)?;
        for (r, position) in &terms {
            if !supported.contains(&r.field.as_str()) {
                return Err(SelectorError::UnsupportedField {
                    position: *position,
                    field: r.field.clone(),
                    supported: supported.iter().map(|s| (*s).to_owned()).collect(),
                });
            }
        }
        Ok(FieldSelector {
            requirements: terms.into_iter().map(|(r, _)| r).collect(),
        })
    }

    /// The terms, in the order written.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Unwraps the terms.
    pub fn into_requirements(self) -> Vec<FieldRequirement> {
        self.requirements
    }

    /// `true` if the selector has no term (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// `true` if every term holds, where `get(field)` is the object's value of `field`
    /// (`None` when absent, which reads as the empty string).
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches(get(&r.field)))
    }
}

impl fmt::Display for FieldSelector {
    /// The string form; it parses back to an equal selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, SelectorError> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a field selector value.
pub fn escape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn is_space_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Trims whitespace; returns the trimmed text and its offset from the start of `s`.
fn trim_at(s: &str, offset: usize) -> (&str, usize) {
    let start = s.len() - s.trim_start_matches(is_space_char).len();
    (s[start..].trim_end_matches(is_space_char), offset + start)
}

fn parse_fields(input: &str) -> Result<Vec<(FieldRequirement, usize)>, SelectorError> {
    // Split at unescaped commas.
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push((&input[start..i], start));
            start = i + 1;
        }
    }
    terms.push((&input[start..], start));

    let mut out = Vec::new();
    for (term, offset) in terms {
        let (term, offset) = trim_at(term, offset);
        if term.is_empty() {
            continue;
        }
        // Split at the first operator; `!=` and `==` win over `=` at the same place.
        let split = term.char_indices().find_map(|(i, _)| {
            let rest = &term[i..];
            if rest.starts_with("!=") {
                Some((i, FieldOperator::NotEquals, 2))
            } else if rest.starts_with("==") {
                Some((i, FieldOperator::Equals, 2))
            } else if rest.starts_with('=') {
                Some((i, FieldOperator::Equals, 1))
            } else {
                None
            }
        });
        let Some((at, operator, len)) = split else {
            return Err(SelectorError::MissingOperator {
                position: offset,
                term: term.to_owned(),
            });
        };
        let (field, field_position) = trim_at(&term[..at], offset);
        let valid_field = !field.is_empty()
            && field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !valid_field {
            return Err(SelectorError::InvalidField {
                position: field_position,
                field: field.to_owned(),
            });
        }
        let (raw, value_position) = trim_at(&term[at + len..], offset + at + len);
        let value = unescape_field_value(raw, value_position)?;
        out.push((
            FieldRequirement {
                field: field.to_owned(),
                operator,
                value,
            },
            field_position,
        ));
    }
    Ok(out)
}

fn unescape_field_value(raw: &str, offset: usize) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | ',' | '='))) => out.push(e),
                Some((_, e)) => {
                    return Err(SelectorError::InvalidEscape {
                        position: offset + i,
                        sequence: format!("\\{e}"),
                    })
                }
                None => {
                    return Err(SelectorError::InvalidEscape {
                        position: offset + i,
                        sequence: "\\".to_owned(),
                    })
                }
            },
            ',' | '=' => {
                return Err(SelectorError::UnescapedCharacter {
                    position: offset + i,
                    character: c,
                })
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (LabelKey::from(*k), LabelValue::from(*v)))
            .collect()
    }

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        Requirement::new(key, op, values.iter().copied()).unwrap()
    }

    fn parse(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("`{s}` should parse: {e}"))
    }

    fn err(s: &str) -> SelectorError {
        Selector::parse(s).expect_err(s)
    }

    /// Inputs Kubernetes accepts (from `labels/selector_test.go`), with the canonical form.
    #[test]
    fn accepts_what_kubernetes_accepts() {
        let cases = [
            ("", ""),
            ("   ", ""),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("z=c,x=a,y=b", "x=a,y=b,z=c"),
            ("x!=a,y=b", "x!=a,y=b"),
            ("x=,z= ", "x=,z="),
            ("x= ,z= ", "x=,z="),
            ("!x", "!x"),
            ("x>1", "x>1"),
            ("x>1,z<5", "x>1,z<5"),
            ("x==a", "x=a"),
            ("x in (a)", "x in (a)"),
            ("x in (c,b,a,b)", "x in (a,b,c)"),
            ("x notin (a)", "x notin (a)"),
            ("x in ()", "x in ()"),
            ("x in (,)", "x in ()"),
            ("x in (,a)", "x in (,a)"),
            ("x in (a,)", "x in (,a)"),
            ("x in (a,,b)", "x in (,a,b)"),
            ("x,y", "x,y"),
            ("!x,!y", "!x,!y"),
            (" x ", "x"),
            ("x in(a) , y notin(b)", "x in (a),y notin (b)"),
            ("\tx\n=\ra", "x=a"),
            ("a-b.c/d.e_f=g", "a-b.c/d.e_f=g"),
            (
                "planspec.io/goal in (ship-login)",
                "planspec.io/goal in (ship-login)",
            ),
            ("in=notin", "in=notin"),
            ("in in (in,notin)", "in in (in,notin)"),
            ("notin", "notin"),
            ("!in", "!in"),
            ("x!=", "x!="),
            ("x=a,x=b", "x=a,x=b"),
            ("b,a=1,!c", "a=1,b,!c"),
        ];
        for (input, canonical) in cases {
            assert_eq!(parse(input).to_string(), canonical, "input `{input}`");
        }
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        let cases = [
            "x=a||y=b",
            "x==a==b",
            "!x=a",
            "x<a",
            "x>1.5",
            "x>",
            "x in (a",
            "x in a",
            "x in (a b)",
            "x=a b",
            "=a",
            ",",
            "x,",
            ",x",
            "x,,y",
            "a/b/c",
            "/a",
            "Ab.c/d",
            "x=a,b!",
            "x=(a)",
            "x in (a))",
            "-x",
            "x=-a",
            "x!a",
            "!",
            "!!x",
            "x in",
            "x notin ((a))",
            "(x)",
            "x=a=b",
        ];
        for input in cases {
            assert!(Selector::parse(input).is_err(), "`{input}` should fail");
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(
            err("x=a b"),
            SelectorError::Unexpected {
                position: 4,
                found: "`b`".into(),
                expected: EXPECT_AFTER_REQUIREMENT
            }
        );
        assert_eq!(
            err("x in a"),
            SelectorError::Unexpected {
                position: 5,
                found: "`a`".into(),
                expected: EXPECT_OPEN
            }
        );
        assert_eq!(
            err("x,"),
            SelectorError::Unexpected {
                position: 2,
                found: "end of selector".into(),
                expected: EXPECT_AFTER_COMMA
            }
        );
        assert_eq!(err("x b").position(), 2);
        let e = err("env=prod,Tier.io/x=y");
        assert!(
            matches!(e, SelectorError::InvalidKey { position: 9, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("DNS subdomain"), "{e}");
        let e = err("env=-prod");
        assert!(
            matches!(&e, SelectorError::InvalidValue { position: 4, value, .. } if value == "-prod"),
            "{e:?}"
        );
        let e = err("n>x");
        assert!(matches!(e, SelectorError::NotAnInteger { position: 2, .. }));
        assert_eq!(
            e.to_string(),
            "`n>x` at position 2: `>` and `<` compare integers; write e.g. `n>3`"
        );
        let e = err("a b");
        assert_eq!(
            e.to_string(),
            "unexpected `b` at position 2 of the selector: expected an operator: `=`, `==`, `!=`, `in`, `notin`, `>` or `<`"
        );
        let long = "a".repeat(64);
        assert!(err(&long).to_string().contains("longer than 63"));
        assert!(err(&format!("x={long}")).to_string().contains("at most 63"));
    }

    #[test]
    fn matching_follows_kubernetes() {
        let l = labels(&[("env", "prod"), ("tier", "web"), ("n", "5")]);
        let yes = [
            "",
            "env=prod",
            "env==prod",
            "env!=dev",
            "missing!=x",
            "env in (prod,stage)",
            "env notin (dev)",
            "missing notin (x)",
            "env",
            "!missing",
            "n>4",
            "n<6",
            "env=prod,tier=web",
        ];
        let no = [
            "env=dev",
            "env!=prod",
            "missing=x",
            "missing in (x)",
            "env notin (prod)",
            "missing",
            "!env",
            "n>5",
            "n<5",
            "env>1",
            "missing>1",
            "env=prod,tier=db",
            "missing=",
        ];
        for s in yes {
            assert!(parse(s).matches(&l), "`{s}` should match");
        }
        for s in no {
            assert!(!parse(s).matches(&l), "`{s}` should not match");
        }
        assert!(parse("x=").matches(&labels(&[("x", "")])));
        assert!(parse("x in ()").matches(&labels(&[("x", "")])));
        assert!(Selector::everything().matches(&Labels::new()));
    }

    #[test]
    fn requirement_new_checks_invariants() {
        assert!(Requirement::new("a", Operator::In, [""; 0]).is_err());
        assert!(Requirement::new("a", Operator::Equals, ["x", "y"]).is_err());
        assert!(Requirement::new("a", Operator::Exists, ["x"]).is_err());
        assert!(Requirement::new("a", Operator::GreaterThan, ["x"]).is_err());
        assert!(Requirement::new("a b", Operator::Exists, [""; 0]).is_err());
        let r = req("a", Operator::NotIn, &["b", "a", "b"]);
        assert_eq!(r.values(), &[LabelValue::from("a"), LabelValue::from("b")]);
        assert_eq!(r.to_string(), "a notin (a,b)");
        assert_eq!(Requirement::equals("k", "v").unwrap().to_string(), "k=v");
        assert_eq!(Requirement::exists("k").unwrap().to_string(), "k");
    }

    #[test]
    fn label_selector_conversions() {
        let s = parse("env=prod,tier in (web),!canary,x!=y,z notin (a),dup=a,dup=b,has");
        let ls = s.to_label_selector().unwrap();
        assert_eq!(ls.match_labels, labels(&[("env", "prod")]));
        let back = Selector::from_label_selector(&ls).unwrap();
        let cases = [
            labels(&[("env", "prod"), ("tier", "web"), ("has", "")]),
            labels(&[("env", "prod"), ("tier", "web"), ("has", ""), ("dup", "a")]),
            labels(&[("env", "prod"), ("tier", "web")]),
            labels(&[]),
        ];
        for l in &cases {
            assert_eq!(s.matches(l), ls.matches(l));
            assert_eq!(s.matches(l), back.matches(l));
        }
        assert!(parse("n>1").to_label_selector().is_none());
        let model: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"planspec.io/goal": "g"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}]
        }))
        .unwrap();
        assert_eq!(
            Selector::from_label_selector(&model).unwrap().to_string(),
            "env in (a,b),planspec.io/goal=g"
        );
    }

    #[test]
    fn validates_keys_and_values() {
        for ok in [
            "a",
            "A",
            "a.b",
            "a-b_c.d",
            "x/y",
            "a.b-c/D_e",
            "0",
            &"a".repeat(63),
        ] {
            assert!(validate_label_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "a/",
            "/a",
            "a/b/c",
            "A/b",
            "a_b/c",
            ".a/b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(validate_label_key(bad).is_err(), "{bad}");
        }
        assert!(validate_label_key(&format!("{}/a", "a".repeat(254))).is_err());
        for ok in ["", "a", "A-b_c.9"] {
            assert!(validate_label_value(ok).is_ok(), "{ok}");
        }
        for bad in [" ", "-", "a-", "a b", "é", &"a".repeat(64)] {
            assert!(validate_label_value(bad).is_err(), "{bad}");
        }
    }

    fn fields(s: &str) -> Vec<(String, FieldOperator, String)> {
        FieldSelector::parse(s)
            .unwrap_or_else(|e| panic!("`{s}`: {e}"))
            .into_requirements()
            .into_iter()
            .map(|r| (r.field, r.operator, r.value))
            .collect()
    }

    #[test]
    fn field_selectors() {
        use FieldOperator::*;
        let f = |a: &str, op, v: &str| (a.to_owned(), op, v.to_owned());
        assert_eq!(fields(""), vec![]);
        assert_eq!(fields(" , ,"), vec![]);
        assert_eq!(
            fields("metadata.name=x,metadata.namespace!=y,status.phase==Running"),
            vec![
                f("metadata.name", Equals, "x"),
                f("metadata.namespace", NotEquals, "y"),
                f("status.phase", Equals, "Running"),
            ]
        );
        assert_eq!(
            fields(" status.phase = Running "),
            vec![f("status.phase", Equals, "Running")]
        );
        assert_eq!(fields("status.phase="), vec![f("status.phase", Equals, "")]);
        assert_eq!(fields(r"a=x\,y\=z\\"), vec![f("a", Equals, r"x,y=z\")]);
    }

    #[test]
    fn field_selector_errors() {
        let e = FieldSelector::parse("metadata.name").unwrap_err();
        assert!(matches!(
            e,
            SelectorError::MissingOperator { position: 0, .. }
        ));
        let e = FieldSelector::parse("a=b, =c").unwrap_err();
        assert!(
            matches!(e, SelectorError::InvalidField { position: 5, .. }),
            "{e:?}"
        );
        let e = FieldSelector::parse("a=b=c").unwrap_err();
        assert_eq!(
            e,
            SelectorError::UnescapedCharacter {
                position: 3,
                character: '='
            }
        );
        let e = FieldSelector::parse(r"a=b\x").unwrap_err();
        assert!(matches!(
            e,
            SelectorError::InvalidEscape { position: 3, .. }
        ));
        let e = FieldSelector::parse(r"a=b\").unwrap_err();
        assert!(matches!(
            e,
            SelectorError::InvalidEscape { position: 3, .. }
        ));
        // `a!==b`: split at `!=`; the value `=b` has an unescaped `=`.
        assert!(FieldSelector::parse("a!==b").is_err());
        let supported = ["metadata.name", "metadata.namespace", "status.phase"];
        let e =
            FieldSelector::parse_supported("metadata.name=x, spec.foo=y", &supported).unwrap_err();
        assert!(
            matches!(&e, SelectorError::UnsupportedField { position: 17, field, .. } if field == "spec.foo")
        );
        assert_eq!(
            e.to_string(),
            "field selector on `spec.foo` (at position 17) is not supported; supported fields: metadata.name, metadata.namespace, status.phase"
        );
        assert!(FieldSelector::parse_supported("status.phase!=Failed", &supported).is_ok());
    }

    #[test]
    fn field_selector_matching_and_rendering() {
        let s = FieldSelector::parse(r"metadata.name=a\,b,status.phase!=Failed").unwrap();
        assert_eq!(s.to_string(), r"metadata.name=a\,b,status.phase!=Failed");
        let get = |phase: Option<&'static str>| {
            move |f: &str| match f {
                "metadata.name" => Some("a,b"),
                "status.phase" => phase,
                _ => None,
            }
        };
        assert!(s.matches_with(get(Some("Running"))));
        assert!(s.matches_with(get(None)));
        assert!(!s.matches_with(get(Some("Failed"))));
        assert!(FieldSelector::parse("status.phase=")
            .unwrap()
            .matches_with(|_| None));
        assert!(FieldSelector::default().matches_with(|_| None));
    }
}
