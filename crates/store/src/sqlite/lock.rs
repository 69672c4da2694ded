//! The lock file that keeps a second process (or store) off a database file.

use crate::{Result, StoreError};
use std::fs::File;
use std::path::{Path, PathBuf};

/// An exclusive `flock` on `<db>.lock`, held for the life of the writer.
pub(super) struct LockFile {
    _file: File,
}

impl LockFile {
    pub(super) fn acquire(db: &Path) -> Result<LockFile> {
        let mut name = db.as_os_str().to_owned();
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
