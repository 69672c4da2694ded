//! The client config file: named contexts (server, credentials, namespace) and the current
//! one, like kubectl's kubeconfig.
//!
//! ```yaml
//! current-context: prod
//! contexts:
//!   - name: prod
//!     server: https://planspec.example.com
//!     tokenFile: /home/alice/.config/planspec/prod.token
//!     namespace: releases
//!   - name: dev
//!     server: http://127.0.0.1:8080
//!     token: pst_…
//! ```
//!
//! Where: `$PLANSPEC_CONFIG`, else `$XDG_CONFIG_HOME/planspec/config.yaml`, else
//! `~/.config/planspec/config.yaml`. The file is written with mode `0600` (its directory
//! `0700`), atomically (a temporary file in the same directory, synced, renamed over the old
//! one), and re-written whole: comments are not kept. A file that does not parse is reported
//! with `file:line:column`.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "PLANSPEC_CONFIG";

/// Why the config file (or a token file it names) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The file is not a config file.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A context was asked for that the file does not have.
    #[error("no context named {name:?} in {} (known: {known})", path.display())]
    NoContext {
        /// The name asked for.
        name: String,
        /// The file.
        path: PathBuf,
        /// The names it has, comma-separated (or `none`).
        known: String,
    },
    /// A context is invalid (an empty name, both `token` and `tokenFile` …).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No place for the config file: none of `PLANSPEC_CONFIG`, `XDG_CONFIG_HOME`, `HOME`.
    #[error("cannot find a place for the config file: set PLANSPEC_CONFIG (or HOME)")]
    NoLocation,
}

/// One named context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Context {
    /// The context's name.
    pub name: String,
    /// The API server's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A bearer token, kept in this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the bearer token (read at each use; surrounding whitespace ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The namespace to work in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Context {
    /// How the context authenticates, for listings: `token`, `tokenFile` or `none`.
    pub fn auth_kind(&self) -> &'static str {
        match (&self.token, &self.token_file) {
            (Some(_), _) => "token",
            (None, Some(_)) => "tokenFile",
            (None, None) => "none",
        }
    }

    /// The context with its inline token replaced by `REDACTED`.
    pub fn redacted(&self) -> Context {
        Context {
            token: self.token.as_ref().map(|_| "REDACTED".to_owned()),
            ..self.clone()
        }
    }
}

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The context used when none is named.
    #[serde(
        rename = "current-context",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_context: Option<String>,
    /// The contexts, by name.
    #[serde(default)]
    pub contexts: Vec<Context>,
}

impl ConfigFile {
    /// The context called `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// The context called `name`, or [`ConfigError::NoContext`].
    pub fn require(&self, name: &str, path: &Path) -> Result<&Context, ConfigError> {
        self.context(name).ok_or_else(|| ConfigError::NoContext {
            name: name.to_owned(),
            path: path.to_owned(),
            known: if self.contexts.is_empty() {
                "none".to_owned()
            } else {
                self.contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Adds `context`, or replaces the one of the same name in place.
    pub fn upsert(&mut self, context: Context) {
        match self.contexts.iter_mut().find(|c| c.name == context.name) {
            Some(existing) => *existing = context,
            None => self.contexts.push(context),
        }
    }

    /// Removes the context called `name` (and unsets it as current); whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.contexts.len();
        self.contexts.retain(|c| c.name != name);
        if self.current_context.as_deref() == Some(name) {
            self.current_context = None;
        }
        self.contexts.len() != before
    }

    /// The file with every inline token replaced by `REDACTED`.
    pub fn redacted(&self) -> ConfigFile {
        ConfigFile {
            current_context: self.current_context.clone(),
            contexts: self.contexts.iter().map(Context::redacted).collect(),
        }
    }

    /// Parses the text of the file at `path`.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        let file: ConfigFile = serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: strip_location(&e.to_string()),
            }
        })?;
        file.check(path)?;
        Ok(file)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        for (i, context) in self.contexts.iter().enumerate() {
            if context.name.trim().is_empty() {
                return Err(invalid(format!("context {} has an empty name", i + 1)));
            }
            if self.contexts[..i].iter().any(|c| c.name == context.name) {
                return Err(invalid(format!(
                    "context {:?} is defined twice",
                    context.name
                )));
            }
            if context.token.is_some() && context.token_file.is_some() {
                return Err(invalid(format!(
                    "context {:?} has both token and tokenFile: keep one",
                    context.name
                )));
            }
        }
        Ok(())
    }

    /// Reads the file at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        match fs::read_to_string(path) {
            Ok(text) => ConfigFile::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(source) => Err(ConfigError::Io {
                path: path.to_owned(),
                what: "cannot read the config file",
                source,
            }),
        }
    }

    /// Writes the file at `path` atomically with mode `0600`, creating its directory
    /// (`0700`) if needed.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |what: &'static str| {
            move |source| ConfigError::Io {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let text = serde_yaml_ng::to_string(self).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.to_owned(),
            None => PathBuf::from("."),
        };
        create_private_dir(&dir).map_err(io("cannot create the config directory"))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.yaml".to_owned());
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, path)?;
            // The rename is durable once the directory is synced.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(io("cannot write the config file"))
    }
}

/// serde_yaml's message without its trailing `at line L column C` (shown as `file:L:C`).
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Where the config file is: `PLANSPEC_CONFIG`, else `XDG_CONFIG_HOME/planspec/config.yaml`,
/// else `HOME/.config/planspec/config.yaml` (the variables' values passed in).
pub fn config_path(
    planspec_config: Option<OsString>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = set(planspec_config) {
        return Ok(path);
    }
    // The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored.
    if let Some(dir) = set(xdg_config_home).filter(|d| d.is_absolute()) {
        return Ok(dir.join("planspec").join("config.yaml"));
    }
    set(home)
        .map(|home| home.join(".config").join("planspec").join("config.yaml"))
        .ok_or(ConfigError::NoLocation)
}

/// The config file's path from this process's environment.
pub fn default_config_path() -> Result<PathBuf, ConfigError> {
    config_path(
        std::env::var_os(CONFIG_ENV),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// A warning when the file at `path` can be read by others than its owner, or `None`.
#[cfg(unix)]
pub fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "warning: {} is accessible by others (mode {mode:04o}) and may hold tokens: run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// A warning when the file at `path` can be read by others than its owner, or `None`.
#[cfg(not(unix))]
pub fn permission_warning(_path: &Path) -> Option<String> {
    None
}

/// Reads a token file: its content without surrounding whitespace, which must not be empty.
pub fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        what: "cannot read the token file",
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            message: "the token file is empty".to_owned(),
        });
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PathBuf {
        PathBuf::from("/tmp/config.yaml")
    }

    #[test]
    fn parses_and_writes_back_the_same() {
        let text = "current-context: dev\ncontexts:\n- name: dev\n  server: http://127.0.0.1:8080\n  token: t1\n  namespace: team\n- name: prod\n  server: https://p\n  tokenFile: /x/t\n";
        let file = ConfigFile::parse(text, &path()).unwrap();
        assert_eq!(file.current_context.as_deref(), Some("dev"));
        assert_eq!(file.contexts[1].token_file, Some(PathBuf::from("/x/t")));
        assert_eq!(serde_yaml_ng::to_string(&file).unwrap(), text);
        assert_eq!(
            ConfigFile::parse("", &path()).unwrap(),
            ConfigFile::default()
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let error = ConfigFile::parse("contexts:\n  - name: dev\n    sever: http://x\n", &path())
            .unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("/tmp/config.yaml:3:5: "), "{text}");
        assert!(text.contains("unknown field `sever`"), "{text}");
        assert!(!text.contains(" at line "), "{text}");

        let error = ConfigFile::parse("contexts: [\n", &path()).unwrap_err();
        assert!(
            matches!(error, ConfigError::Parse { line: 2, .. }),
            "{error}"
        );
        let both = "contexts:\n- name: a\n  token: x\n  tokenFile: /y\n";
        assert!(ConfigFile::parse(both, &path())
            .unwrap_err()
            .to_string()
            .contains("both token and tokenFile"));
        let twice = "contexts:\n- name: a\n- name: a\n";
        assert!(ConfigFile::parse(twice, &path())
            .unwrap_err()
            .to_string()
            .contains("defined twice"));
    }

    #[test]
    fn the_path_follows_the_environment() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            config_path(os("/c.yaml"), os("/xdg"), os("/home/a")).unwrap(),
            PathBuf::from("/c.yaml")
        );
        assert_eq!(
            config_path(None, os("/xdg"), os("/home/a")).unwrap(),
            PathBuf::from("/xdg/planspec/config.yaml")
        );
        assert_eq!(
            config_path(os(""), os("relative"), os("/home/a")).unwrap(),
            PathBuf::from("/home/a/.config/planspec/config.yaml")
        );
        assert!(config_path(None, None, None).is_err());
    }

    #[test]
    fn saves_atomically_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.yaml");
        let mut file = ConfigFile::default();
        file.upsert(Context {
            name: "a".into(),
            token: Some("secret".into()),
            ..Context::default()
        });
        file.save(&path).unwrap();
        file.current_context = Some("a".into());
        file.save(&path).unwrap();
        assert_eq!(ConfigFile::load(&path).unwrap(), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert!(permission_warning(&path).is_none());
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(permission_warning(&path).unwrap().contains("chmod 600"));
        }
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("config.yaml")]);
        assert!(!file.redacted().contexts[0]
            .token
            .as_deref()
            .unwrap()
            .contains("secret"));
    }
}
