//! The token file: users, service accounts and groups, each identity with the SHA-256 hashes
//! of its bearer tokens. No plaintext token is ever stored.
//!
//! ```yaml
//! users:
//!   - name: alice
//!     groups: [release-managers]
//!     tokenHashes: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
//! serviceAccounts:
//!   - namespace: ci
//!     name: deployer            # username system:serviceaccount:ci:deployer
//!     tokenHashes: ["sha256:…"]
//! groups:
//!   - name: approvers
//!     members: [alice, "system:serviceaccount:ci:deployer"]
//! ```
//!
//! A token is 256 random bits (see [`generate_token`]), so a fast hash is the right one: no
//! password-style stretching is needed when guessing a preimage is already a 2^256 search.
//! `printf %s "$TOKEN" | sha256sum` computes the hash of a token made elsewhere.

use planspec_model::actor::{UserInfo, GROUP_AUTHENTICATED};
use planspec_model::rbac::authorize::service_account_username;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use subtle::ConstantTimeEq;

/// The prefix of the tokens PlanSpec generates.
pub const TOKEN_PREFIX: &str = "pst_";
/// The prefix of a token hash in the file.
pub const HASH_PREFIX: &str = "sha256:";
/// The group of every service account.
pub const GROUP_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// Why a token file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// The text is not YAML of the expected shape.
    #[error("{0}")]
    Parse(String),
    /// The content breaks a rule (duplicate hash, reserved name …).
    #[error("{0}")]
    Invalid(String),
}

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    users: Vec<UserDoc>,
    #[serde(default)]
    service_accounts: Vec<ServiceAccountDoc>,
    #[serde(default)]
    groups: Vec<GroupDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserDoc {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    token_hashes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceAccountDoc {
    namespace: String,
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    token_hashes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupDoc {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

/// A token file, read and checked: who each token hash belongs to.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<([u8; 32], UserInfo)>,
}

impl TokenTable {
    /// Reads the file's JSON value (the YAML, loaded).
    pub fn from_value(value: serde_json::Value) -> Result<TokenTable, TokenFileError> {
        let doc: FileDoc = if value.is_null() {
            FileDoc::default()
        } else {
            serde_json::from_value(value).map_err(|e| TokenFileError::Parse(e.to_string()))?
        };
        let mut identities: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for user in doc.users {
            check_name("user", &user.name)?;
            if user.name.starts_with("system:") {
                return Err(TokenFileError::Invalid(format!(
                    "user {:?}: names starting with `system:` are reserved (service accounts go under serviceAccounts)",
                    user.name
                )));
            }
            identities.push((user.name, user.groups, user.token_hashes));
        }
        for sa in doc.service_accounts {
            check_name("service account namespace", &sa.namespace)?;
            check_name("service account", &sa.name)?;
            if sa.namespace.contains(':') || sa.name.contains(':') {
                return Err(TokenFileError::Invalid(format!(
                    "service account {}/{}: names may not contain `:`",
                    sa.namespace, sa.name
                )));
            }
            let mut groups = sa.groups;
            groups.push(GROUP_SERVICE_ACCOUNTS.to_owned());
            groups.push(format!("{GROUP_SERVICE_ACCOUNTS}:{}", sa.namespace));
            identities.push((
                service_account_username(&sa.namespace, &sa.name),
                groups,
                sa.token_hashes,
            ));
        }
        let mut names = BTreeSet::new();
        for (name, _, _) in &identities {
            if !names.insert(name.clone()) {
                return Err(TokenFileError::Invalid(format!(
                    "identity {name:?} is listed twice"
                )));
            }
        }
        for group in &doc.groups {
            check_name("group", &group.name)?;
            for member in &group.members {
                let Some(identity) = identities.iter_mut().find(|(n, _, _)| n == member) else {
                    return Err(TokenFileError::Invalid(format!(
                        "group {:?}: member {member:?} is not a user or service account of this file",
                        group.name
                    )));
                };
                identity.1.push(group.name.clone());
            }
        }
        let mut entries = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, mut groups, hashes) in identities {
            for g in &groups {
                check_name("group", g)?;
            }
            groups.push(GROUP_AUTHENTICATED.to_owned());
            let mut unique = BTreeSet::new();
            groups.retain(|g| unique.insert(g.clone()));
            let user = UserInfo::new(name.clone(), groups);
            for hash in hashes {
                let digest = parse_hash(&hash).ok_or_else(|| {
                    TokenFileError::Invalid(format!(
                        "{name:?}: token hash {hash:?} is not `sha256:` followed by 64 hex digits"
                    ))
                })?;
                if !seen.insert(digest) {
                    return Err(TokenFileError::Invalid(format!(
                        "{name:?}: a token hash appears twice in the file"
                    )));
                }
                entries.push((digest, user.clone()));
            }
        }
        Ok(TokenTable { entries })
    }

    /// A table of tokens held in memory. Names are not checked: an in-memory identity may use
    /// a reserved name (`local:…`).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = (&'a str, UserInfo)>) -> TokenTable {
        TokenTable {
            entries: tokens
                .into_iter()
                .map(|(token, user)| (Sha256::digest(token.as_bytes()).into(), user))
                .collect(),
        }
    }

    /// The identity `token` belongs to. Every entry is compared, in constant time, whatever
    /// matches: the time taken says nothing about which hash (if any) was close.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (hash, user) in &self.entries {
            if bool::from(hash.ct_eq(&digest)) {
                found = Some(user);
            }
        }
        found
    }

    /// How many tokens the table knows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` without tokens.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn check_name(what: &str, name: &str) -> Result<(), TokenFileError> {
    if name.trim().is_empty() || name.len() > 253 || name.chars().any(char::is_control) {
        return Err(TokenFileError::Invalid(format!(
            "{what} name {name:?} must be 1–253 printable characters"
        )));
    }
    Ok(())
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix(HASH_PREFIX)?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// `sha256:<hex>` of `token`, as the file stores it.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
    out.push_str(HASH_PREFIX);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A new token: [`TOKEN_PREFIX`] and 256 bits from the operating system's random source, in
/// hex.
pub fn generate_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut out = String::with_capacity(TOKEN_PREFIX.len() + 64);
    out.push_str(TOKEN_PREFIX);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    Ok(out)
}

/// The text of a token file with one user: `name` in `groups`, with the hash of `token`.
pub fn single_user_file(name: &str, groups: &[&str], token: &str) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let groups: Vec<String> = groups.iter().map(|g| quote(g)).collect();
    format!(
        "# PlanSpec API identities. Tokens are stored as SHA-256 hashes only (see docs/security.md).\n\
         # Add a user: generate a random token, then list `sha256:` + `printf %s \"$TOKEN\" | sha256sum`.\n\
         # The server re-reads this file when it changes.\n\
         users:\n  - name: {}\n    groups: [{}]\n    tokenHashes: [{}]\n\
         serviceAccounts: []\n\
         groups: []\n",
        quote(name),
        groups.join(", "),
        quote(&hash_token(token)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_users_service_accounts_and_groups() {
        let table = TokenTable::from_value(json!({
            "users": [{"name": "alice", "groups": ["dev"], "tokenHashes": [hash_token("a1"), hash_token("a2")]},
                      {"name": "bob", "tokenHashes": [hash_token("b")]}],
            "serviceAccounts": [{"namespace": "ci", "name": "deployer", "tokenHashes": [hash_token("s")]}],
            "groups": [{"name": "approvers", "members": ["bob", "system:serviceaccount:ci:deployer"]}]
        }))
        .unwrap();
        assert_eq!(table.len(), 4);
        let alice = table.lookup("a2").unwrap();
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.groups, vec!["dev", GROUP_AUTHENTICATED]);
        assert_eq!(table.lookup("a1"), Some(alice));
        let bob = table.lookup("b").unwrap();
        assert_eq!(bob.groups, vec!["approvers", GROUP_AUTHENTICATED]);
        let sa = table.lookup("s").unwrap();
        assert_eq!(sa.username, "system:serviceaccount:ci:deployer");
        assert!(sa.in_group("system:serviceaccounts:ci"));
        assert!(sa.in_group("approvers"));
        assert_eq!(table.lookup("nope"), None);
        assert_eq!(table.lookup(""), None);
    }

    #[test]
    fn refuses_bad_files() {
        let bad = [
            json!({"users": [{"name": "a", "tokenHashes": ["md5:x"]}]}),
            json!({"users": [{"name": "a", "tokenHashes": [hash_token("t")]}, {"name": "b", "tokenHashes": [hash_token("t")]}]}),
            json!({"users": [{"name": "a"}, {"name": "a"}]}),
            json!({"users": [{"name": "system:masters"}]}),
            json!({"users": [{"name": ""}]}),
            json!({"users": [{"name": "a", "password": "x"}]}),
            json!({"groups": [{"name": "g", "members": ["ghost"]}]}),
            json!({"serviceAccounts": [{"namespace": "a:b", "name": "c"}]}),
            json!({"users": "alice"}),
        ];
        for value in bad {
            assert!(TokenTable::from_value(value.clone()).is_err(), "{value}");
        }
        assert!(TokenTable::from_value(serde_json::Value::Null)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn generated_tokens_and_files() {
        let token = generate_token().unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(token, generate_token().unwrap());
        assert_eq!(
            hash_token("test"),
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let text = single_user_file("admin", &["system:masters"], &token);
        assert!(!text.contains(&token));
        let value = crate::http::yaml::parse(text.as_bytes()).unwrap().value;
        let table = TokenTable::from_value(value).unwrap();
        let admin = table.lookup(&token).unwrap();
        assert_eq!(admin.username, "admin");
        assert!(admin.in_group("system:masters"));
    }
}
