//! The resource envelope (`apiVersion`, `kind`, `metadata`, `spec`, `status`) and `List`.

use crate::kind::API_VERSION;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Defines a top-level resource struct for one kind.
macro_rules! resource {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $spec:ty, $status:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        #[schemars(deny_unknown_fields)]
        pub struct $name {
            /// API group and version; always `planspec.io/v1alpha1`.
            #[schemars(extend("const" = "planspec.io/v1alpha1"))]
            pub api_version: String,
            #[doc = concat!("Kind of the resource; always `", $kind, "`.")]
            #[schemars(extend("const" = $kind))]
            pub kind: String,
            /// Name, namespace, labels, annotations and server-owned fields.
            pub metadata: $crate::meta::ObjectMeta,
            /// Desired state, written by the user.
            pub spec: $spec,
            /// Observed state, written by the control plane. Ignored on write.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl $name {
            /// The kind of this resource type.
            pub const KIND: $crate::kind::Kind = $crate::kind::Kind::$name;

            /// A new resource with the right `apiVersion`/`kind` and no status.
            pub fn new(metadata: $crate::meta::ObjectMeta, spec: $spec) -> Self {
                Self {
                    api_version: $crate::kind::API_VERSION.to_owned(),
                    kind: $kind.to_owned(),
                    metadata,
                    spec,
                    status: None,
                }
            }
        }
    };
}

pub(crate) use resource;

/// A list of resources (`kind: List`), as written by `get -o yaml` or bundled in one document.
/// Each item is validated as a resource of its own `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct List {
    /// `planspec.io/v1alpha1`, or Kubernetes' `v1` as `kubectl get -o yaml` writes it; may be
    /// omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["planspec.io/v1alpha1", "v1"]))]
    pub api_version: Option<String>,
    /// Always `List`.
    #[schemars(extend("const" = "List"))]
    pub kind: String,
    /// List metadata such as `resourceVersion`, as servers write it; ignored on read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// The resources, each a full document with its own `apiVersion` and `kind`.
    pub items: Vec<Value>,
}

impl List {
    /// A list of the given items.
    pub fn new(items: Vec<Value>) -> Self {
        Self {
            api_version: Some(API_VERSION.to_owned()),
            kind: "List".to_owned(),
            metadata: None,
            items,
        }
    }
}
