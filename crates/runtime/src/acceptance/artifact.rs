//! `artifact_exists`.

use std::io;

use planspec_model::plan::ArtifactExistsCriterion;
use tokio::io::AsyncReadExt;

use super::{compile, CriteriaContext};

/// How much of a file `contentMatch` searches.
pub(crate) const MAX_CONTENT: u64 = 16 * 1024 * 1024;

pub(super) async fn check(
    c: &ArtifactExistsCriterion,
    ctx: &CriteriaContext,
) -> Result<String, String> {
    if c.path.is_empty() {
        return Err("`path` is empty".into());
    }
    let regex = match &c.content_match {
        Some(p) => Some(compile("contentMatch", p.as_str())?),
        None => None,
    };
    let full = ctx.work_dir.join(&c.path);
    let meta = match tokio::fs::metadata(&full).await {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!("`{}` does not exist", c.path))
        }
        Err(e) => return Err(format!("cannot inspect `{}`: {e}", c.path)),
    };
    let Some(regex) = regex else {
        let what = if meta.is_dir() { "directory" } else { "file" };
        return Ok(format!("{what} `{}` exists", c.path));
    };
    if meta.is_dir() {
        return Err(format!(
            "`{}` is a directory; `contentMatch` needs a file",
            c.path
        ));
    }
    let file = tokio::fs::File::open(&full)
        .await
        .map_err(|e| format!("cannot open `{}`: {e}", c.path))?;
    let mut content = Vec::new();
    file.take(MAX_CONTENT)
        .read_to_end(&mut content)
        .await
        .map_err(|e| format!("cannot read `{}`: {e}", c.path))?;
    let partial = if meta.len() > MAX_CONTENT {
        " (only its first 16 MiB were searched)"
    } else {
        ""
    };
    if regex.is_match(&content) {
        Ok(format!(
            "`{}` matches `{}`{partial}",
            c.path,
            regex.as_str()
        ))
    } else {
        Err(format!(
            "`{}` does not match `{}`{partial}",
            c.path,
            regex.as_str()
        ))
    }
}
