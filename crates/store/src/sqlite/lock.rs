//! The lock file that keeps a second process (or store) off a database file.

use crate::{Result, StoreError};
use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive `flock` on `<db>.lock`, held for the life of the writer.
pub(super) struct LockFile {
    _file: File,
}

impl LockFile {
    /// Locks `<db>.lock`, where `<db>` is the database's canonical path: the same file
    /// reached through a symlink or another spelling (`dir/../s.db`) takes the same lock.
    /// (Two hard links to one file are two names; do not do that.)
    pub(super) fn acquire(db: &Path) -> Result<LockFile> {
        // The file must exist to be canonicalised; an empty file is a new SQLite database.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .append(true)
            .open(db)
            .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", db.display())))?;
        let canonical = std::fs::canonicalize(db).map_err(|e| {
            StoreError::Backend(format!("cannot resolve the path {}: {e}", db.display()))
        })?;
        let mut name = canonical.into_os_string();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                StoreError::Backend(format!("cannot open lock file {}: {e}", path.display()))
            })?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor we own; no memory is involved.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                return Err(StoreError::Backend(
                    if err.kind() == std::io::ErrorKind::WouldBlock {
                        format!(
                        "{} is in use by another planspec process (or another store in this one): {} is locked",
                        db.display(),
                        path.display()
                    )
                    } else {
                        format!("cannot lock {}: {err}", path.display())
                    },
                ));
            }
        }
        Ok(LockFile { _file: file })
    }
}
