//! Authentication: who sent a request.
//!
//! * [`token_file`] — the token file (users, service accounts, groups; SHA-256 token hashes);
//! * [`bootstrap`] — the first start: a token file with one admin, its token in a `0600` file;
//! * [`Authenticator`] — `Authorization: Bearer <token>` → [`UserInfo`], the file re-read when
//!   it changes, tokens held in memory (the embedded control plane's), and dev mode (anonymous
//!   requests become [`DEV_ANONYMOUS`], only on a loopback address).
//!
//! A request with a token that matches nothing is refused (`401`) in every mode: a wrong token
//! is a mistake to report, never a reason to fall back to anonymous.

pub mod bootstrap;
pub mod token_file;

use planspec_model::actor::{UserInfo, DEV_ANONYMOUS, GROUP_AUTHENTICATED, GROUP_MASTERS};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};
use token_file::{TokenFileError, TokenTable};

/// How often the token file is checked for changes, by default.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The token file; re-read when it changes (checked every [`AuthConfig::reload_interval`]).
    pub token_file: Option<PathBuf>,
    /// Tokens known only in memory, with their identities (the embedded control plane of
    /// `planspec run` passes its generated token here).
    pub tokens: Vec<(String, UserInfo)>,
    /// Dev mode: requests without a token act as this identity. Only allowed when the server
    /// listens on a loopback address.
    pub anonymous: Option<UserInfo>,
    /// How often the token file is checked for changes.
    pub reload_interval: Duration,
}

impl AuthConfig {
    /// Dev mode: anonymous requests are [`AuthConfig::dev_user`]; no token file.
    pub fn dev() -> AuthConfig {
        AuthConfig {
            token_file: None,
            tokens: Vec::new(),
            anonymous: Some(AuthConfig::dev_user()),
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    /// Tokens from `path` only.
    pub fn token_file(path: impl Into<PathBuf>) -> AuthConfig {
        AuthConfig {
            token_file: Some(path.into()),
            tokens: Vec::new(),
            anonymous: None,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    /// One token held in memory, for `user`; nothing else is accepted.
    pub fn single_token(token: String, user: UserInfo) -> AuthConfig {
        AuthConfig {
            token_file: None,
            tokens: vec![(token, user)],
            anonymous: None,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
        }
    }

    /// The dev-mode identity: [`DEV_ANONYMOUS`] in [`GROUP_MASTERS`] and
    /// [`GROUP_AUTHENTICATED`].
    pub fn dev_user() -> UserInfo {
        UserInfo::new(DEV_ANONYMOUS, [GROUP_MASTERS, GROUP_AUTHENTICATED])
    }
}

impl Default for AuthConfig {
    /// Dev mode ([`AuthConfig::dev`]): what a server embedded in a test or tool on loopback
    /// gets; `planspec server` uses a token file unless given `--dev`.
    fn default() -> Self {
        AuthConfig::dev()
    }
}

/// Why authentication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token file could not be read.
    #[error("cannot read the token file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The token file is not valid.
    #[error("the token file {path} is invalid: {error}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        error: TokenFileError,
    },
}

/// What a request's credentials came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An identity.
    User(UserInfo),
    /// No credentials, and anonymous requests are not allowed.
    Missing,
    /// Credentials that match nothing (or are malformed); the text says which, without the
    /// token.
    Invalid(&'static str),
}

/// Turns credentials into identities; see the module documentation.
#[derive(Debug)]
pub struct Authenticator {
    file: Option<PathBuf>,
    table: RwLock<TokenTable>,
    memory: TokenTable,
    anonymous: Option<UserInfo>,
    stamp: RwLock<Option<FileStamp>>,
}

/// What tells a changed file from an unchanged one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

impl Authenticator {
    /// Reads the token file (if any) and, inside a tokio runtime, starts re-reading it when
    /// it changes. An unreadable or invalid file at start is an error; later, a bad version is
    /// reported on standard error and the previous tokens stay in force.
    pub fn start(config: &AuthConfig) -> Result<Arc<Authenticator>, AuthError> {
        let memory = memory_table(&config.tokens);
        let (table, stamp) = match &config.token_file {
            Some(path) => {
                let stamp = FileStamp::of(path).ok();
                (read_table(path)?, stamp)
            }
            None => (TokenTable::default(), None),
        };
        let authenticator = Arc::new(Authenticator {
            file: config.token_file.clone(),
            table: RwLock::new(table),
            memory,
            anonymous: config.anonymous.clone(),
            stamp: RwLock::new(stamp),
        });
        if authenticator.file.is_some() && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(watch_file(
                Arc::downgrade(&authenticator),
                config.reload_interval,
            ));
        }
        Ok(authenticator)
    }

    /// Whether anonymous requests are allowed (dev mode).
    pub fn allows_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// The identity of a request with this `Authorization` header value (`None`: no header).
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Outcome {
        let Some(value) = authorization else {
            return match &self.anonymous {
                Some(user) => Outcome::User(user.clone()),
                None => Outcome::Missing,
            };
        };
        let Some(token) = bearer_token(value) else {
            return Outcome::Invalid("the Authorization header is not `Bearer <token>`");
        };
        if let Some(user) = self.memory.lookup(token) {
            return Outcome::User(user.clone());
        }
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        match table.lookup(token) {
            Some(user) => Outcome::User(user.clone()),
            None => Outcome::Invalid("invalid bearer token"),
        }
    }

    /// Re-reads the token file if it changed since the last read; returns whether new tokens
    /// took effect. A file that cannot be read or is invalid leaves the current tokens.
    pub fn reload_if_changed(&self) -> Result<bool, AuthError> {
        let Some(path) = &self.file else {
            return Ok(false);
        };
        let stamp = FileStamp::of(path).map_err(|error| AuthError::Read {
            path: path.clone(),
            error,
        })?;
        if self
            .stamp
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            == Some(&stamp)
        {
            return Ok(false);
        }
        // Remember the stamp first: a bad file is reported once, not at every check.
        *self.stamp.write().unwrap_or_else(|e| e.into_inner()) = Some(stamp);
        let table = read_table(path)?;
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = table;
        Ok(true)
    }
}

async fn watch_file(authenticator: Weak<Authenticator>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(authenticator) = authenticator.upgrade() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || authenticator.reload_if_changed()).await;
        match result {
            Ok(Ok(true)) => eprintln!("planspec: token file changed: tokens reloaded"),
            Ok(Ok(false)) | Err(_) => {}
            Ok(Err(e)) => eprintln!("planspec: {e}; keeping the tokens read before"),
        }
    }
}

fn read_table(path: &Path) -> Result<TokenTable, AuthError> {
    let bytes = std::fs::read(path).map_err(|error| AuthError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let value = crate::http::yaml::parse(&bytes)
        .map(|body| body.value)
        .or_else(|status| {
            // An empty file (no document) is a file without identities.
            if bytes.iter().all(u8::is_ascii_whitespace) {
                Ok(serde_json::Value::Null)
            } else {
                Err(status)
            }
        })
        .map_err(|status| AuthError::Invalid {
            path: path.to_path_buf(),
            error: TokenFileError::Parse(
                status
                    .message
                    .replacen("the request body", "the file", 1)
                    .to_string(),
            ),
        })?;
    TokenTable::from_value(value).map_err(|error| AuthError::Invalid {
        path: path.to_path_buf(),
        error,
    })
}

fn memory_table(tokens: &[(String, UserInfo)]) -> TokenTable {
    TokenTable::from_tokens(
        tokens
            .iter()
            .map(|(token, user)| (token.as_str(), with_authenticated(user.clone()))),
    )
}

fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.in_group(GROUP_AUTHENTICATED) {
        user.groups.push(GROUP_AUTHENTICATED.to_owned());
    }
    user
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer_token(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"bearer  abc "), Some("abc"));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(&[0xff, 0xfe]), None);
    }

    #[test]
    fn modes() {
        let dev = Authenticator::start(&AuthConfig::dev()).unwrap();
        assert_eq!(
            dev.authenticate(None),
            Outcome::User(AuthConfig::dev_user())
        );
        assert!(matches!(
            dev.authenticate(Some(b"Bearer nope")),
            Outcome::Invalid(_)
        ));
        let user = UserInfo::new("local:me", [GROUP_MASTERS]);
        let single =
            Authenticator::start(&AuthConfig::single_token("secret".into(), user)).unwrap();
        assert_eq!(single.authenticate(None), Outcome::Missing);
        match single.authenticate(Some(b"Bearer secret")) {
            Outcome::User(u) => {
                assert_eq!(u.username, "local:me");
                assert!(u.in_group(GROUP_AUTHENTICATED));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            single.authenticate(Some(b"Bearer secreT")),
            Outcome::Invalid(_)
        ));
    }

    #[test]
    fn the_file_is_reloaded_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        std::fs::write(
            &path,
            token_file::single_user_file("alice", &["dev"], "one"),
        )
        .unwrap();
        let auth = Authenticator::start(&AuthConfig::token_file(&path)).unwrap();
        assert!(
            matches!(auth.authenticate(Some(b"Bearer one")), Outcome::User(u) if u.username == "alice")
        );
        assert!(!auth.reload_if_changed().unwrap());
        std::fs::write(
            &path,
            token_file::single_user_file("bob", &[], "two-longer"),
        )
        .unwrap();
        assert!(auth.reload_if_changed().unwrap());
        assert!(matches!(
            auth.authenticate(Some(b"Bearer one")),
            Outcome::Invalid(_)
        ));
        assert!(
            matches!(auth.authenticate(Some(b"Bearer two-longer")), Outcome::User(u) if u.username == "bob")
        );
        // A broken file keeps the tokens in force.
        std::fs::write(&path, "users: [").unwrap();
        assert!(auth.reload_if_changed().is_err());
        assert!(matches!(
            auth.authenticate(Some(b"Bearer two-longer")),
            Outcome::User(_)
        ));
        assert_eq!(auth.authenticate(None), Outcome::Missing);
    }
}
