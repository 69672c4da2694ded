//! The routes of the keyed concurrency leases ([`crate::api::leases`]):
//! `GET /apis/planspec.io/v1alpha1/leases` (every namespace) and
//! `GET /apis/planspec.io/v1alpha1/namespaces/{ns}/leases`. Authorization is the ordinary
//! `list` on `leases` (in the namespace, or cluster-wide), checked by the authorization layer.

use super::routes::{json_response, status_response, App};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Route paths.
pub mod paths {
    /// Every namespace's leases.
    pub const LEASES: &str = "/apis/planspec.io/v1alpha1/leases";
    /// One namespace's leases.
    pub const NAMESPACED_LEASES: &str = "/apis/planspec.io/v1alpha1/namespaces/{ns}/leases";
}

/// The routes of this module with their methods (for the OpenAPI check).
pub const ROUTES: [(&str, &[&str]); 2] = [
    (paths::LEASES, &["get"]),
    (paths::NAMESPACED_LEASES, &["get"]),
];

/// The routes, to merge into the server's router.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route(paths::LEASES, get(all))
        .route(paths::NAMESPACED_LEASES, get(namespaced))
}

async fn all(State(app): State<Arc<App>>) -> Response {
    match app.api.leases(None).await {
        Ok(list) => json_response(200, &list, &[]),
        Err(status) => status_response(&status),
    }
}

async fn namespaced(State(app): State<Arc<App>>, Path(ns): Path<String>) -> Response {
    match app.api.leases(Some(&ns)).await {
        Ok(list) => json_response(200, &list, &[]),
        Err(status) => status_response(&status),
    }
}
