//! How `planspec server` is configured: the store location (`--store sqlite:PATH`, by
//! default a file under the user's data directory) and the listen address (loopback unless
//! `--insecure-bind`). Pure functions of their inputs (the environment is an argument).

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// Where the resources are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file.
    Sqlite(PathBuf),
}

/// Parses `--store`: `sqlite:PATH` (also `sqlite://PATH`).
pub fn parse_store(value: &str) -> Result<StoreLocation, String> {
    let path = value
        .strip_prefix("sqlite://")
        .or_else(|| value.strip_prefix("sqlite:"));
    match path {
        Some(p) if !p.is_empty() => Ok(StoreLocation::Sqlite(PathBuf::from(p))),
        Some(_) => Err(format!("`{value}` names no file: use sqlite:PATH")),
        None => Err(format!(
            "unsupported store `{value}`: use sqlite:PATH (PostgreSQL is not supported yet)"
        )),
    }
}

/// The default store file: `$XDG_DATA_HOME/planspec/planspec.db`, else
/// `$HOME/.local/share/planspec/planspec.db`; `None` without either variable.
pub fn default_store_path(
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let base = match xdg_data_home.filter(|v| !v.is_empty()) {
        Some(xdg) if PathBuf::from(&xdg).is_absolute() => PathBuf::from(xdg),
        _ => {
            let home = home.filter(|h| !h.is_empty())?;
            PathBuf::from(home).join(".local").join("share")
        }
    };
    Some(base.join("planspec").join("planspec.db"))
}

/// Parses `--listen` (`127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`) and refuses an
/// address that is not loopback unless `insecure_bind`: the API speaks plain HTTP, so bearer
/// tokens would cross the network in clear text unless a TLS-terminating proxy is in front.
pub fn listen_address(value: &str, insecure_bind: bool) -> Result<SocketAddr, String> {
    let address = match value.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => match value.rsplit_once(':') {
            Some(("localhost", port)) => SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port.parse()
                    .map_err(|_| format!("invalid port in `{value}`"))?,
            ),
            _ => {
                return Err(format!(
                    "invalid listen address `{value}`: use HOST:PORT with an IP address, e.g. 127.0.0.1:8080"
                ))
            }
        },
    };
    if !address.ip().is_loopback() && !insecure_bind {
        return Err(format!(
            "refusing to listen on {address}: it is not a loopback address and the API speaks plain HTTP (tokens would cross the network in clear text); put a TLS-terminating proxy in front and pass --insecure-bind"
        ));
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations() {
        assert_eq!(
            parse_store("sqlite:/tmp/x.db").unwrap(),
            StoreLocation::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            parse_store("sqlite://rel/x.db").unwrap(),
            StoreLocation::Sqlite("rel/x.db".into())
        );
        assert!(parse_store("sqlite:").is_err());
        assert!(parse_store("postgres://db")
            .unwrap_err()
            .contains("unsupported"));
    }

    #[test]
    fn default_paths() {
        assert_eq!(
            default_store_path(Some("/data".into()), Some("/home/u".into())),
            Some(PathBuf::from("/data/planspec/planspec.db"))
        );
        // A relative XDG_DATA_HOME is ignored, as the spec says.
        assert_eq!(
            default_store_path(Some("rel".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/planspec/planspec.db"))
        );
        assert_eq!(
            default_store_path(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/planspec/planspec.db"))
        );
        assert_eq!(default_store_path(None, None), None);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_address("127.0.0.1:8080", false).unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert!(listen_address("[::1]:0", false).is_ok());
        assert_eq!(
            listen_address("localhost:9", false).unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(listen_address("0.0.0.0:8080", false)
            .unwrap_err()
            .contains("--insecure-bind"));
        assert!(listen_address("0.0.0.0:8080", true).is_ok());
        assert!(listen_address("example.com:80", true).is_err());
        assert!(listen_address("localhost:x", false).is_err());
    }
}
