//! Just enough of the Kubernetes protobuf encoding to read a `Namespace`.
//!
//! kubectl's typed clients send core objects as protobuf (`kubectl create namespace` posts
//! `application/vnd.kubernetes.protobuf`, while accepting JSON back). The PlanSpec kinds are
//! always JSON, so the only object this server decodes from protobuf is a `v1` `Namespace`:
//! the `k8s\0` magic, a `runtime.Unknown` envelope (`typeMeta`, `raw`), and in `raw` the
//! namespace's metadata (`name`, `generateName`, `labels`, `annotations`, `finalizers`) and
//! `spec.finalizers`. Other fields are skipped.

use serde_json::{json, Map, Value};

/// The `Content-Type` of the Kubernetes protobuf encoding.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// A protobuf field: its number and its value.
enum Field<'a> {
    /// A varint (skipped: no field read here is one).
    Varint,
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.data.split_first().ok_or("truncated varint")?;
            self.data = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = tag >> 3;
        let field = match tag & 7 {
            0 => {
                self.varint()?;
                Field::Varint
            }
            1 => Field::Bytes(self.take(8)?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Field::Bytes(self.take(len)?)
            }
            5 => Field::Bytes(self.take(4)?),
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok(Some((number, field)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.data.len() < n {
            return Err("truncated field".into());
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
}

fn fields(data: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut reader = Reader { data };
    let mut out = Vec::new();
    while let Some(f) = reader.next()? {
        out.push(f);
    }
    Ok(out)
}

fn string(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8".to_owned())
}

fn map_entry(bytes: &[u8]) -> Result<(String, String), String> {
    let mut key = String::new();
    let mut value = String::new();
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = string(b)?,
            (2, Field::Bytes(b)) => value = string(b)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn metadata(bytes: &[u8]) -> Result<Value, String> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut finalizers = Vec::new();
    for (n, f) in fields(bytes)? {
        let Field::Bytes(b) = f else { continue };
        match n {
            1 => {
                meta.insert("name".into(), Value::String(string(b)?));
            }
            2 if !b.is_empty() => {
                meta.insert("generateName".into(), Value::String(string(b)?));
            }
            11 => {
                let (k, v) = map_entry(b)?;
                labels.insert(k, Value::String(v));
            }
            12 => {
                let (k, v) = map_entry(b)?;
                annotations.insert(k, Value::String(v));
            }
            14 => finalizers.push(Value::String(string(b)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

/// Decodes a protobuf-encoded `v1` `Namespace` into its JSON form.
pub fn decode_namespace(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic `k8s\\0`")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (n, f) in fields(type_meta)? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => api_version = string(b)?,
                        (2, Field::Bytes(b)) => kind = string(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            (3, Field::Bytes(b)) if !b.is_empty() => {
                return Err("compressed protobuf bodies are not supported".into())
            }
            _ => {}
        }
    }
    if (api_version.as_str(), kind.as_str()) != ("v1", "Namespace") {
        return Err(format!(
            "only v1 Namespace objects can be sent as protobuf (got {api_version} {kind}); send JSON"
        ));
    }
    let mut object = json!({"apiVersion": "v1", "kind": "Namespace"});
    for (n, f) in fields(raw)? {
        match (n, f) {
            (1, Field::Bytes(b)) => object["metadata"] = metadata(b)?,
            (2, Field::Bytes(b)) => {
                let mut finalizers = Vec::new();
                for (n, f) in fields(b)? {
                    if let (1, Field::Bytes(s)) = (n, f) {
                        finalizers.push(Value::String(string(s)?));
                    }
                }
                if !finalizers.is_empty() {
                    object["spec"] = json!({ "finalizers": finalizers });
                }
            }
            _ => {}
        }
    }
    Ok(object)
}

/// Decodes a protobuf-encoded `authorization.k8s.io/v1` `SelfSubjectAccessReview` (what
/// `kubectl auth can-i` sends) into its JSON form: `spec.resourceAttributes` (namespace, verb,
/// group, version, resource, subresource, name) or `spec.nonResourceAttributes` (path, verb).
pub fn decode_access_review(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf magic `k8s\\0`")?;
    let mut raw: &[u8] = &[];
    let mut kind = String::new();
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (n, f) in fields(type_meta)? {
                    if let (2, Field::Bytes(b)) = (n, f) {
                        kind = string(b)?;
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            (3, Field::Bytes(b)) if !b.is_empty() => {
                return Err("compressed protobuf bodies are not supported".into())
            }
            _ => {}
        }
    }
    if kind != "SelfSubjectAccessReview" {
        return Err(format!(
            "expected a SelfSubjectAccessReview, got {kind:?}; send JSON"
        ));
    }
    const RESOURCE: [&str; 7] = [
        "namespace",
        "verb",
        "group",
        "version",
        "resource",
        "subresource",
        "name",
    ];
    let mut spec = Map::new();
    for (n, f) in fields(raw)? {
        let (2, Field::Bytes(spec_bytes)) = (n, f) else {
            continue;
        };
        for (n, f) in fields(spec_bytes)? {
            let Field::Bytes(attrs) = f else { continue };
            let (key, names): (&str, &[&str]) = match n {
                1 => ("resourceAttributes", &RESOURCE),
                2 => ("nonResourceAttributes", &["path", "verb"]),
                _ => continue,
            };
            let mut out = Map::new();
            for (n, f) in fields(attrs)? {
                let Field::Bytes(b) = f else { continue };
                let index = usize::try_from(n).unwrap_or(usize::MAX);
                if let Some(name) = index.checked_sub(1).and_then(|i| names.get(i)) {
                    out.insert((*name).to_owned(), Value::String(string(b)?));
                }
            }
            spec.insert(key.to_owned(), Value::Object(out));
        }
    }
    Ok(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_what_kubectl_create_namespace_sends() {
        // The body `kubectl create namespace dev` sends, with a label and a varint field
        // (generation) that is skipped.
        let mut label = field(1, b"team");
        label.extend(field(2, b"a"));
        let mut meta = field(1, b"dev");
        meta.extend(field(2, b""));
        meta.extend([7 << 3, 5]);
        meta.extend(field(11, &label));
        let mut namespace = field(1, &meta);
        namespace.extend(field(2, &field(1, b"kubernetes")));
        namespace.extend(field(3, b""));
        let mut type_meta = field(1, b"v1");
        type_meta.extend(field(2, b"Namespace"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &namespace));
        body.extend(field(3, b""));
        body.extend(field(4, b""));
        assert_eq!(
            decode_namespace(&body).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "dev", "labels": {"team": "a"}},
                "spec": {"finalizers": ["kubernetes"]}
            })
        );
    }

    #[test]
    fn decodes_what_kubectl_auth_can_i_sends() {
        let mut attrs = field(1, b"dev");
        attrs.extend(field(2, b"cancel"));
        attrs.extend(field(3, b"planspec.io"));
        attrs.extend(field(5, b"executions"));
        attrs.extend(field(9, b"ignored"));
        let spec = field(1, &attrs);
        let mut review = field(1, b"");
        review.extend(field(2, &spec));
        let mut type_meta = field(1, b"authorization.k8s.io/v1");
        type_meta.extend(field(2, b"SelfSubjectAccessReview"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &review));
        assert_eq!(
            decode_access_review(&body).unwrap()["spec"],
            json!({"resourceAttributes": {"namespace": "dev", "verb": "cancel", "group": "planspec.io", "resource": "executions"}})
        );
        assert!(decode_access_review(b"{}").is_err());
        for n in 0..=255u8 {
            let _ = decode_access_review(&[b'k', b'8', b's', 0, n, n, n]);
        }
    }

    #[test]
    fn refuses_anything_else() {
        assert!(decode_namespace(b"{}").is_err());
        assert!(decode_namespace(b"k8s\0\x0a\x05").is_err());
        let mut type_meta = field(1, b"v1");
        type_meta.extend(field(2, b"Pod"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        assert!(decode_namespace(&body).unwrap_err().contains("Pod"));
        // Arbitrary bytes never panic.
        for n in 0..=255u8 {
            let _ = decode_namespace(&[b'k', b'8', b's', 0, n, n, n]);
        }
    }
}
