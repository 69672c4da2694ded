//! The first start of `planspec server`: when the token file does not exist, create it with
//! one administrator — user [`BOOTSTRAP_ADMIN`] in `system:masters` — and write that user's
//! token, the only plaintext copy there will ever be, to `admin.token` beside it, readable by
//! its owner only (mode `0600`). The caller prints the file's path, never the token.

use super::token_file::{generate_token, single_user_file};
use planspec_model::actor::GROUP_MASTERS;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The bootstrap administrator's username.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// The name of the file holding the bootstrap administrator's token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The token file's name beside the store, by default.
pub const DEFAULT_TOKEN_FILE: &str = "tokens.yaml";

/// What [`ensure_token_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// The token file existed: nothing was done.
    Existing,
    /// The token file was created; the admin's token is in this file.
    Created {
        /// `admin.token`, beside the token file.
        admin_token: PathBuf,
    },
}

/// The default token file for a store file: `tokens.yaml` in the store's directory.
pub fn default_token_file(store: &Path) -> PathBuf {
    store
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(DEFAULT_TOKEN_FILE)
}

/// Creates `token_file` with the bootstrap admin if it does not exist; see the module
/// documentation. The token is written (and synced) before the token file appears, so a crash
/// in between leaves no file that names a token nobody has; the token file itself is
/// written to a temporary name and renamed into place.
pub fn ensure_token_file(token_file: &Path) -> std::io::Result<Bootstrap> {
    if token_file.exists() {
        return Ok(Bootstrap::Existing);
    }
    let dir = token_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let token = generate_token()?;
    let admin_token = dir.join(ADMIN_TOKEN_FILE);
    // A token file from an earlier bootstrap whose token file was removed is stale.
    match std::fs::remove_file(&admin_token) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    write_private(&admin_token, format!("{token}\n").as_bytes())?;
    let temporary = dir.join(format!(
        ".{}.tmp-{}",
        token_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| DEFAULT_TOKEN_FILE.into()),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temporary);
    write_private(
        &temporary,
        single_user_file(BOOTSTRAP_ADMIN, &[GROUP_MASTERS], &token).as_bytes(),
    )?;
    std::fs::rename(&temporary, token_file)?;
    Ok(Bootstrap::Created { admin_token })
}

/// Creates `path` (it must not exist) readable and writable by its owner only, writes
/// `content` and syncs it.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthConfig, Authenticator, Outcome};

    #[test]
    fn first_start_creates_an_admin_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("data").join("planspec.db");
        let file = default_token_file(&store);
        assert_eq!(file, dir.path().join("data").join("tokens.yaml"));
        let Bootstrap::Created { admin_token } = ensure_token_file(&file).unwrap() else {
            panic!("created")
        };
        assert_eq!(admin_token, dir.path().join("data").join("admin.token"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&admin_token)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let token = std::fs::read_to_string(&admin_token).unwrap();
        let token = token.trim();
        assert!(!std::fs::read_to_string(&file).unwrap().contains(token));
        let auth = Authenticator::start(&AuthConfig::token_file(&file)).unwrap();
        match auth.authenticate(Some(format!("Bearer {token}").as_bytes())) {
            Outcome::User(u) => {
                assert_eq!(u.username, BOOTSTRAP_ADMIN);
                assert!(u.in_group(GROUP_MASTERS));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ensure_token_file(&file).unwrap(), Bootstrap::Existing);
        assert_eq!(std::fs::read_to_string(&admin_token).unwrap().trim(), token);
    }
}
