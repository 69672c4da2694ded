//! `planspec-server` — the PlanSpec control plane's API server.
//!
//! The server speaks the Kubernetes API conventions so that stock `kubectl` and client-go work
//! against it: resources at `/apis/planspec.io/v1alpha1/namespaces/{ns}/{plural}/{name}`,
//! namespaces at `/api/v1/namespaces`, discovery, `Status` errors, server-side tables,
//! label/field selectors, merge and JSON patches, watch.
//!
//! # Shape
//!
//! Pure, I/O-free parts first — each a function of its inputs (the clock is an argument),
//! unit- and property-tested on their own:
//!
//! * [`resource`] — the served resource types ([`ResourceType`]: the six kinds and
//!   `Namespace`) with their group, version, plural, singular and short names;
//! * [`status`] — the Kubernetes `Status` error body and its constructors (404, 409, 422 with
//!   field causes from validation diagnostics, 410 `Expired`, …);
//! * [`discovery`] — `/api`, `/api/v1`, `/apis`, `/apis/planspec.io`,
//!   `/apis/planspec.io/v1alpha1`, `/version`;
//! * [`openapi`] — `/openapi/v3` and the group version documents (the generated schemas);
//! * [`table`] — `meta.k8s.io/v1` `Table` output with columns per kind and kubectl-style ages;
//! * [`patch`] — RFC 7386 merge patch and RFC 6902 JSON patch with limits and identity checks;
//! * [`ssa`] — server-side apply and `metadata.managedFields` (who owns which field);
//! * [`config`] — the store location and the listen address of `planspec server`.
//!
//! Label and field selector parsing lives in `planspec_model::selector`, shared with the
//! CLI and the store.
//!
//! Then the request semantics, over the `planspec_store::Store` trait but free of HTTP:
//!
//! * [`api`] — [`api::Api`]: get, list, create, update, patch, delete, watch; identity checks
//!   and server-owned metadata ([`api::object`]), admission through `planspec-validate`
//!   ([`api::admission`]), query parameters ([`api::params`]), watch streams over the store's
//!   change log ([`api::watch`]), the injected [`api::clock::Clock`].
//!
//! Identity, over the same store:
//!
//! * [`auth`] — authentication: the token file (SHA-256 hashes, reloaded when it changes), the
//!   bootstrap admin, dev mode, in-memory tokens (the embedded control plane's);
//! * [`authz`] — RBAC: the Role/ClusterRole/binding objects cached from the store's change
//!   log, the `403` Status, the default ClusterRoles.
//!
//! And the HTTP glue, which only parses requests, calls [`api::Api`] and encodes answers:
//!
//! * [`http`] — the axum router, content negotiation (JSON or `Table`), request size limits,
//!   streamed watches, the protobuf `Namespace` kubectl sends, YAML request bodies, the
//!   access log and request ids, graceful shutdown.
//!
//! Coming next, in this crate: `controllers/` — reconcilers (garbage collection by owner
//! references, status of Goals, Plans, Bindings), driven by the store's watch.
//!
//! Dependencies point inward: this crate may use `planspec-store`, `planspec-validate` and
//! `planspec-model`; none of them may use it.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod authz;
pub mod config;
pub mod control_plane;
pub mod controllers;
pub mod discovery;
pub mod http;
pub mod openapi;
pub mod patch;
pub mod providers;
pub mod resource;
pub mod ssa;
pub mod status;
pub mod table;

pub use resource::{ListMeta, ResourceType, GROUP, VERSION};
pub use status::{Reason, Status, StatusCause, StatusDetails};
