//! Content negotiation: which representation an `Accept` header asks for.
//!
//! kubectl asks for server-side tables with
//! `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;
//! client-go asks for `application/json` (or protobuf first, which this server does not
//! speak, then JSON). Media ranges are taken in the order given (quality values are not
//! weighed, as clients list their preference first).

use crate::status::Status;

/// The representation of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The object or list as JSON.
    Json,
    /// A `meta.k8s.io/v1` `Table`.
    Table,
}

/// The media types this server produces, for 406 messages.
pub const PRODUCED: [&str; 2] = [
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
];

/// The representation the `Accept` header asks for; 406 if it asks only for ones this
/// server cannot produce.
pub fn representation(accept: Option<&str>) -> Result<Representation, Status> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Representation::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = None;
        let mut g = None;
        let mut v = None;
        for p in parts {
            if let Some((k, val)) = p.split_once('=') {
                let val = val.trim().trim_matches('"');
                match k.trim() {
                    "as" => as_ = Some(val),
                    "g" => g = Some(val),
                    "v" => v = Some(val),
                    _ => {}
                }
            }
        }
        if !matches!(
            media.as_str(),
            "application/json" | "application/*" | "*/*" | "*"
        ) {
            continue;
        }
        match (as_, g, v) {
            (None, _, _) => return Ok(Representation::Json),
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) => return Ok(Representation::Table),
            _ => continue,
        }
    }
    Err(Status::not_acceptable(&PRODUCED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_tables_and_plain_json() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            representation(Some(kubectl)).unwrap(),
            Representation::Table
        );
        assert_eq!(
            representation(Some(
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ))
            .unwrap(),
            Representation::Json
        );
        assert_eq!(representation(None).unwrap(), Representation::Json);
        assert_eq!(representation(Some("*/*")).unwrap(), Representation::Json);
        assert_eq!(
            representation(Some(
                "application/vnd.kubernetes.protobuf, application/json"
            ))
            .unwrap(),
            Representation::Json
        );
        assert_eq!(
            representation(Some("application/json; charset=utf-8")).unwrap(),
            Representation::Json
        );
        assert_eq!(
            representation(Some("application/yaml")).unwrap_err().code,
            406
        );
        assert_eq!(
            representation(Some(
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
            ))
            .unwrap_err()
            .code,
            406
        );
    }
}
