//! Which server, credentials and namespace a client command uses.
//!
//! Each setting is taken from the first layer that has it:
//!
//! 1. the flags `--server`, `--token`, `-n/--namespace`;
//! 2. the context named by `--context` (a flag: it outranks the environment);
//! 3. the environment: `PLANSPEC_SERVER`, `PLANSPEC_TOKEN`, `PLANSPEC_NAMESPACE`;
//! 4. the context named by `PLANSPEC_CONTEXT`, else the config file's `current-context`;
//! 5. the defaults: `http://127.0.0.1:8080`, no token, namespace `default`.
//!
//! A context named by `--context` or `PLANSPEC_CONTEXT` must exist; a `current-context` that
//! names no context is ignored with a warning, so a stale file never locks a user out of the
//! flags and the environment.

use std::path::{Path, PathBuf};

use super::config::{
    default_config_path, permission_warning, read_token_file, ConfigError, ConfigFile, Context,
};
use crate::cli::{ClientArgs, ClientFlags};

/// The server when nothing else names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The namespace when nothing else names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// What the command line gave (layer 1, and the `--context` of layer 2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--server`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--context`.
    pub context: Option<String>,
    /// `-n/--namespace`.
    pub namespace: Option<String>,
}

/// What the environment gave (layer 3, and the `PLANSPEC_CONTEXT` of layer 4). Empty
/// values count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// `PLANSPEC_SERVER`.
    pub server: Option<String>,
    /// `PLANSPEC_TOKEN`.
    pub token: Option<String>,
    /// `PLANSPEC_CONTEXT`.
    pub context: Option<String>,
    /// `PLANSPEC_NAMESPACE`.
    pub namespace: Option<String>,
}

impl Env {
    /// This process's environment.
    pub fn from_process() -> Env {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Env {
            server: var("PLANSPEC_SERVER"),
            token: var("PLANSPEC_TOKEN"),
            context: var("PLANSPEC_CONTEXT"),
            namespace: var("PLANSPEC_NAMESPACE"),
        }
    }
}

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A flag.
    Flag,
    /// A context (by name).
    Context(String),
    /// An environment variable.
    Env,
    /// The default.
    Default,
}

/// The settings a client command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The API server's URL (no trailing slash).
    pub server: String,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// Where the token came from (`Default`: there is none).
    pub token_source: Source,
    /// The namespace to work in.
    pub namespace: String,
    /// The namespace when it was asked for explicitly (flag or environment): then documents
    /// naming another namespace are refused, as kubectl does.
    pub explicit_namespace: Option<String>,
    /// The context in use, if any.
    pub context: Option<String>,
    /// Warnings to show (an unusable current context …).
    pub warnings: Vec<String>,
}

/// Resolves the settings; see the module documentation. `config` is the config file's
/// content and path (`None`: no file could be located).
pub fn resolve(
    flags: &Flags,
    env: &Env,
    config: Option<(&ConfigFile, &Path)>,
) -> Result<Connection, ConfigError> {
    let mut warnings = Vec::new();
    let empty = ConfigFile::default();
    let (file, path) = config.unwrap_or((&empty, Path::new("(no config file)")));

    let flag_context = match &flags.context {
        Some(name) => Some(file.require(name, path)?),
        None => None,
    };
    let env_context = match (&env.context, &file.current_context) {
        (Some(name), _) => Some(file.require(name, path)?),
        (None, Some(name)) => match file.context(name) {
            Some(c) => Some(c),
            None => {
                warnings.push(format!(
                    "warning: current-context {name:?} in {} names no context; ignoring it",
                    path.display()
                ));
                None
            }
        },
        (None, None) => None,
    };

    // Layers, highest first.
    let mut layers = vec![Layer {
        source: Source::Flag,
        server: flags.server.as_deref(),
        token: flags.token.as_deref().map(TokenRef::Inline),
        namespace: flags.namespace.as_deref(),
    }];
    layers.extend(flag_context.map(context_layer));
    layers.push(Layer {
        source: Source::Env,
        server: env.server.as_deref(),
        token: env.token.as_deref().map(TokenRef::Inline),
        namespace: env.namespace.as_deref(),
    });
    layers.extend(env_context.map(context_layer));

    let server = layers
        .iter()
        .find_map(|l| l.server.filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_SERVER)
        .trim_end_matches('/')
        .to_owned();
    let (token, token_source) = match layers.iter().find_map(|l| {
        l.token
            .filter(|t| !t.is_empty())
            .map(|t| (t, l.source.clone()))
    }) {
        Some((TokenRef::Inline(t), source)) => (Some(t.to_owned()), source),
        Some((TokenRef::File(file), source)) => (Some(read_token_file(&expand(file))?), source),
        None => (None, Source::Default),
    };
    let namespace_layer = layers.iter().find_map(|l| {
        l.namespace
            .filter(|n| !n.is_empty())
            .map(|n| (n, &l.source))
    });
    let explicit_namespace = match namespace_layer {
        Some((n, Source::Flag | Source::Env)) => Some(n.to_owned()),
        _ => None,
    };
    let namespace = namespace_layer
        .map(|(n, _)| n.to_owned())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    Ok(Connection {
        server,
        token,
        token_source,
        namespace,
        explicit_namespace,
        context: flag_context.or(env_context).map(|c| c.name.clone()),
        warnings,
    })
}

/// Resolves the flags of a client command with this process's environment and the config
/// file (read only when it exists; warnings go to standard error).
pub fn resolve_args(flags: ClientFlags) -> Result<ClientArgs, ConfigError> {
    let env = Env::from_process();
    let path = default_config_path().ok();
    let file = match &path {
        Some(path) => {
            let file = ConfigFile::load(path)?;
            if !file.contexts.is_empty() {
                if let Some(warning) = permission_warning(path) {
                    eprintln!("{warning}");
                }
            }
            Some(file)
        }
        None => None,
    };
    let given = Flags {
        server: flags.server.clone(),
        token: flags.token.as_deref().map(|t| t.trim().to_owned()),
        context: flags.context.clone(),
        namespace: flags.namespace.clone(),
    };
    let config = match (&file, &path) {
        (Some(file), Some(path)) => Some((file, path.as_path())),
        _ => None,
    };
    let connection = resolve(&given, &env, config)?;
    for warning in &connection.warnings {
        eprintln!("{warning}");
    }
    Ok(ClientArgs {
        flags,
        server: connection.server,
        namespace: connection.explicit_namespace,
        token: connection.token,
        resolved_namespace: connection.namespace,
    })
}

/// A context's settings, its token read (from its `tokenFile` if it has one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedContext {
    /// The server's URL.
    pub server: Option<String>,
    /// The bearer token.
    pub token: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
}

/// The context `name` of the config file, for commands that do not take [`ClientArgs`]
/// (`planspec run --context NAME`).
pub fn named_context(name: &str) -> Result<NamedContext, ConfigError> {
    let path = default_config_path()?;
    let file = ConfigFile::load(&path)?;
    let context = file.require(name, &path)?;
    let token = match (&context.token, &context.token_file) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(file)) => Some(read_token_file(&expand(file))?),
        (None, None) => None,
    };
    Ok(NamedContext {
        server: context
            .server
            .as_deref()
            .map(|s| s.trim_end_matches('/').to_owned()),
        token,
        namespace: context.namespace.clone(),
    })
}

/// One layer of settings.
struct Layer<'a> {
    source: Source,
    server: Option<&'a str>,
    token: Option<TokenRef<'a>>,
    namespace: Option<&'a str>,
}

fn context_layer(c: &Context) -> Layer<'_> {
    Layer {
        source: Source::Context(c.name.clone()),
        server: c.server.as_deref(),
        token: c
            .token
            .as_deref()
            .map(TokenRef::Inline)
            .or_else(|| c.token_file.as_deref().map(TokenRef::File)),
        namespace: c.namespace.as_deref(),
    }
}

/// A token as a layer gives it: the value, or a file to read it from (read only when that
/// layer wins).
#[derive(Debug, Clone, Copy)]
enum TokenRef<'a> {
    Inline(&'a str),
    File(&'a Path),
}

impl TokenRef<'_> {
    fn is_empty(&self) -> bool {
        match self {
            TokenRef::Inline(t) => t.is_empty(),
            TokenRef::File(p) => p.as_os_str().is_empty(),
        }
    }
}

/// `~/x` → `$HOME/x`; other paths as they are.
fn expand(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> ConfigFile {
        ConfigFile::parse(
            "current-context: dev\ncontexts:\n\
             - name: dev\n  server: http://dev:1\n  token: dev-token\n  namespace: dev-ns\n\
             - name: prod\n  server: http://prod:2/\n  token: prod-token\n\
             - name: bare\n",
            Path::new("/c.yaml"),
        )
        .unwrap()
    }

    fn resolve_with(flags: Flags, env: Env) -> Result<Connection, ConfigError> {
        let file = file();
        resolve(&flags, &env, Some((&file, Path::new("/c.yaml"))))
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn current_context_over_defaults() {
        let c = resolve_with(Flags::default(), Env::default()).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            ("http://dev:1", Some("dev-token"), "dev-ns")
        );
        assert_eq!(c.context.as_deref(), Some("dev"));
        assert_eq!(c.explicit_namespace, None);
        assert_eq!(c.token_source, Source::Context("dev".into()));
    }

    #[test]
    fn environment_over_current_context() {
        let env = Env {
            server: s("http://env:3"),
            namespace: s("env-ns"),
            ..Env::default()
        };
        let c = resolve_with(Flags::default(), env).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            ("http://env:3", Some("dev-token"), "env-ns")
        );
        assert_eq!(c.explicit_namespace.as_deref(), Some("env-ns"));
        // PLANSPEC_CONTEXT picks another context at the same level.
        let env = Env {
            context: s("prod"),
            ..Env::default()
        };
        let c = resolve_with(Flags::default(), env).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            ("http://prod:2", Some("prod-token"), "default")
        );
    }

    #[test]
    fn flags_over_everything() {
        let env = Env {
            server: s("http://env:3"),
            token: s("env-token"),
            namespace: s("env-ns"),
            context: s("dev"),
        };
        // --context outranks the environment ...
        let flags = Flags {
            context: s("prod"),
            ..Flags::default()
        };
        let c = resolve_with(flags, env.clone()).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            ("http://prod:2", Some("prod-token"), "env-ns"),
            "prod has no namespace: the environment's applies"
        );
        // ... and the other flags outrank --context.
        let flags = Flags {
            server: s("http://flag:4"),
            token: s("flag-token"),
            namespace: s("flag-ns"),
            context: s("prod"),
        };
        let c = resolve_with(flags, env).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            ("http://flag:4", Some("flag-token"), "flag-ns")
        );
        assert_eq!(c.token_source, Source::Flag);
    }

    #[test]
    fn defaults_without_a_file() {
        let c = resolve(&Flags::default(), &Env::default(), None).unwrap();
        assert_eq!(
            (c.server.as_str(), c.token.as_deref(), c.namespace.as_str()),
            (DEFAULT_SERVER, None, DEFAULT_NAMESPACE)
        );
        let flags = Flags {
            context: s("dev"),
            ..Flags::default()
        };
        assert!(resolve(&flags, &Env::default(), None).is_err());
    }

    #[test]
    fn unknown_contexts() {
        let flags = Flags {
            context: s("nope"),
            ..Flags::default()
        };
        let error = resolve_with(flags, Env::default()).unwrap_err().to_string();
        assert!(
            error.contains("\"nope\"") && error.contains("dev, prod, bare"),
            "{error}"
        );
        let env = Env {
            context: s("nope"),
            ..Env::default()
        };
        assert!(resolve_with(Flags::default(), env).is_err());
        // A stale current-context only warns.
        let mut stale = file();
        stale.current_context = s("gone");
        let c = resolve(
            &Flags::default(),
            &Env::default(),
            Some((&stale, Path::new("/c.yaml"))),
        )
        .unwrap();
        assert_eq!(c.server, DEFAULT_SERVER);
        assert!(c.warnings[0].contains("gone"));
    }

    #[test]
    fn token_files_are_read_when_they_win() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "  file-token\n").unwrap();
        let mut file = file();
        file.upsert(Context {
            name: "f".into(),
            token_file: Some(token.clone()),
            ..Context::default()
        });
        file.upsert(Context {
            name: "missing".into(),
            token_file: Some(dir.path().join("nope")),
            ..Context::default()
        });
        let at = Path::new("/c.yaml");
        let flags = Flags {
            context: s("f"),
            ..Flags::default()
        };
        let c = resolve(&flags, &Env::default(), Some((&file, at))).unwrap();
        assert_eq!(c.token.as_deref(), Some("file-token"));
        // A --token flag wins, so the unreadable file is never read.
        let flags = Flags {
            context: s("missing"),
            token: s("t"),
            ..Flags::default()
        };
        assert!(resolve(&flags, &Env::default(), Some((&file, at))).is_ok());
        let flags = Flags {
            context: s("missing"),
            ..Flags::default()
        };
        let error = resolve(&flags, &Env::default(), Some((&file, at)))
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot read the token file"), "{error}");
    }
}
