//! Authorization: RBAC over the `Role`, `ClusterRole`, `RoleBinding` and `ClusterRoleBinding`
//! objects in the store.
//!
//! [`Rbac`] keeps those objects in memory, current with the store's change log (one task
//! follows it, as the controllers' informer does), and answers from an index built once per
//! change ([`planspec_model::rbac::authorize::RbacIndex`]), so a request costs no store read.
//! A decision that would deny first catches up with the change log: a RoleBinding that was
//! just created counts for the very next request (read-your-writes), and the common, allowed
//! path never waits.
//!
//! * [`defaults`] — the ClusterRoles created on first start (`cluster-admin`, `admin`, `edit`,
//!   `view`, `approver`, `executor`) and the bootstrap admin's ClusterRoleBinding;
//! * [`forbidden`] — the `403` Status, worded as Kubernetes words it.

pub mod defaults;

use crate::http::request_info::RequestInfo;
use crate::status::{Reason, Status, StatusDetails};
use planspec_model::actor::UserInfo;
use planspec_model::rbac::authorize::{Attributes, Decision, RbacIndex};
use planspec_model::rbac::escalation::compact_string;
use planspec_model::rbac::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRefKind,
};
use planspec_model::Kind;
use planspec_store::{ListQuery, ObjectKey, Store, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The kinds RBAC reads.
pub const RBAC_KINDS: [Kind; 4] = [
    Kind::Role,
    Kind::ClusterRole,
    Kind::RoleBinding,
    Kind::ClusterRoleBinding,
];

/// The RBAC authorizer; see the module documentation. Cheap to share (`Arc`).
pub struct Rbac {
    store: Arc<dyn Store>,
    index: RwLock<Arc<RbacIndex>>,
    cache: tokio::sync::Mutex<Cache>,
}

impl std::fmt::Debug for Rbac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rbac").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Cache {
    /// The revision the objects are current at.
    revision: i64,
    objects: BTreeMap<ObjectKey, Value>,
}

impl Rbac {
    /// Reads every RBAC object and starts following the store (inside a tokio runtime); the
    /// task ends when `shutdown` turns `true` or the value is dropped.
    pub async fn start(
        store: Arc<dyn Store>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Arc<Rbac>, StoreError> {
        let rbac = Arc::new(Rbac {
            store,
            index: RwLock::new(Arc::new(RbacIndex::default())),
            cache: tokio::sync::Mutex::new(Cache::default()),
        });
        {
            let mut cache = rbac.cache.lock().await;
            rbac.relist(&mut cache).await?;
        }
        tokio::spawn(follow(Arc::downgrade(&rbac), shutdown));
        Ok(rbac)
    }

    /// The decision for `user` and `attributes`, from the index as it is now.
    pub fn decide(&self, user: &UserInfo, attributes: &Attributes) -> Decision {
        self.current().authorize(user, attributes)
    }

    /// The decision, after catching up with the store when the index would deny.
    pub async fn authorize(&self, user: &UserInfo, attributes: &Attributes) -> Decision {
        let decision = self.decide(user, attributes);
        if decision.allowed() {
            return decision;
        }
        if let Err(e) = self.catch_up().await {
            eprintln!("planspec: rbac: reading changes failed: {e}");
        }
        self.decide(user, attributes)
    }

    /// `Ok` when allowed, else the `403` Status for the request.
    pub async fn require(&self, user: &UserInfo, attributes: &Attributes) -> Result<(), Status> {
        if self.authorize(user, attributes).await.allowed() {
            Ok(())
        } else {
            Err(forbidden(user, attributes))
        }
    }

    fn current(&self) -> Arc<RbacIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The permissions of `rules` that `user` does not hold in `namespace` (`None`:
    /// cluster-wide), after catching up with the store when some would be missing
    /// ([`RbacIndex::not_covered`]).
    pub async fn not_covered(
        &self,
        user: &UserInfo,
        namespace: Option<&str>,
        rules: &[PolicyRule],
    ) -> Vec<PolicyRule> {
        let missing = self.current().not_covered(user, namespace, rules);
        if missing.is_empty() {
            return missing;
        }
        if let Err(e) = self.catch_up().await {
            eprintln!("planspec: rbac: reading changes failed: {e}");
        }
        self.current().not_covered(user, namespace, rules)
    }

    /// The rules of the role a binding in `namespace` refers to, after catching up with the
    /// store when it is not known; `None` when it does not exist.
    pub async fn role_rules(
        &self,
        kind: RoleRefKind,
        namespace: &str,
        name: &str,
    ) -> Option<Vec<PolicyRule>> {
        if let Some(rules) = self.current().role_rules(kind, namespace, name) {
            return Some(rules.to_vec());
        }
        if let Err(e) = self.catch_up().await {
            eprintln!("planspec: rbac: reading changes failed: {e}");
        }
        self.current()
            .role_rules(kind, namespace, name)
            .map(<[PolicyRule]>::to_vec)
    }

    /// Applies the store's changes up to its current revision.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let mut cache = self.cache.lock().await;
        let target = self.store.current_revision().await?;
        let mut changed = false;
        while cache.revision < target {
            match self.store.changes_since(cache.revision, 1000).await {
                Ok(page) => {
                    if page.changes.is_empty() && page.revision <= cache.revision {
                        break;
                    }
                    for change in page.changes {
                        if !is_rbac_kind(&change.object.key.kind) {
                            continue;
                        }
                        changed = true;
                        match change.change_type {
                            planspec_store::ChangeType::Deleted => {
                                cache.objects.remove(&change.object.key);
                            }
                            _ => {
                                cache
                                    .objects
                                    .insert(change.object.key.clone(), change.object.object);
                            }
                        }
                    }
                    cache.revision = page.revision.max(cache.revision);
                }
                Err(StoreError::Compacted { .. }) => {
                    self.relist(&mut cache).await?;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        if changed {
            self.rebuild(&cache);
        }
        Ok(())
    }

    async fn relist(&self, cache: &mut Cache) -> Result<(), StoreError> {
        let revision = self.store.current_revision().await?;
        let mut objects = BTreeMap::new();
        for kind in RBAC_KINDS {
            let mut query = ListQuery::all(kind.as_str());
            query.limit = Some(1000);
            loop {
                let page = self.store.list(&query).await?;
                for item in page.items {
                    objects.insert(item.key, item.object);
                }
                match page.continue_after {
                    Some(after) => query.continue_after = Some(after),
                    None => break,
                }
            }
        }
        cache.revision = revision;
        cache.objects = objects;
        self.rebuild(cache);
        Ok(())
    }

    fn rebuild(&self, cache: &Cache) {
        let mut roles = Vec::new();
        let mut cluster_roles = Vec::new();
        let mut role_bindings = Vec::new();
        let mut cluster_role_bindings = Vec::new();
        for (key, object) in &cache.objects {
            let parsed = match key.kind.as_str() {
                "Role" => decode(object).map(|o| roles.push(o)),
                "ClusterRole" => decode(object).map(|o| cluster_roles.push(o)),
                "RoleBinding" => decode(object).map(|o| role_bindings.push(o)),
                "ClusterRoleBinding" => decode(object).map(|o| cluster_role_bindings.push(o)),
                _ => Ok(()),
            };
            if let Err(e) = parsed {
                eprintln!(
                    "planspec: rbac: ignoring {} {}/{}: {e}",
                    key.kind, key.namespace, key.name
                );
            }
        }
        let index: RbacIndex = build(
            &roles,
            &cluster_roles,
            &role_bindings,
            &cluster_role_bindings,
        );
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
    }
}

fn build(
    roles: &[Role],
    cluster_roles: &[ClusterRole],
    role_bindings: &[RoleBinding],
    cluster_role_bindings: &[ClusterRoleBinding],
) -> RbacIndex {
    RbacIndex::build(roles, cluster_roles, role_bindings, cluster_role_bindings)
}

fn decode<T: serde::de::DeserializeOwned>(object: &Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(object.clone())
}

fn is_rbac_kind(kind: &str) -> bool {
    RBAC_KINDS.iter().any(|k| k.as_str() == kind)
}

async fn follow(rbac: std::sync::Weak<Rbac>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut changed = match rbac.upgrade() {
        Some(r) => r.store.subscribe(),
        None => return,
    };
    loop {
        {
            let Some(rbac) = rbac.upgrade() else { return };
            if let Err(e) = rbac.catch_up().await {
                eprintln!("planspec: rbac: reading changes failed: {e}; retrying");
                drop(rbac);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return },
        }
    }
}

/// The `403` for `user` and `attributes`, as Kubernetes words it:
/// `executions.planspec.io "e" is forbidden: User "bob" cannot cancel resource "executions" in
/// API group "planspec.io" in the namespace "default"`.
pub fn forbidden(user: &UserInfo, attributes: &Attributes) -> Status {
    let resource = attributes.combined_resource();
    let qualified = if attributes.api_group.is_empty() {
        attributes.resource.clone()
    } else {
        format!("{}.{}", attributes.resource, attributes.api_group)
    };
    let subject = match attributes.name.as_deref() {
        Some(name) => format!("{qualified} {name:?}"),
        None => qualified,
    };
    let scope = match attributes.namespace.as_deref() {
        Some(ns) => format!(" in the namespace {ns:?}"),
        None => " at the cluster scope".to_owned(),
    };
    let message = format!(
        "{subject} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?}{scope}",
        user.username, attributes.verb, attributes.api_group
    );
    let mut status = Status::failure(403, Reason::Forbidden, message);
    status.details = Some(Box::new(StatusDetails {
        name: attributes.name.clone().unwrap_or_default(),
        group: attributes.api_group.clone(),
        kind: attributes.resource.clone(),
        ..StatusDetails::default()
    }));
    status
}

/// The `403` for writing the RBAC object `name` (of `plural`) in `namespace` (`None`:
/// cluster-scoped) because `user` does not hold `missing` (Kubernetes' wording:
/// `roles.planspec.io "x" is forbidden: user "bob" is attempting to grant RBAC permissions
/// not currently held: {APIGroups:["planspec.io"], Resources:["executions"], Verbs:["cancel"]}`).
pub fn escalation_forbidden(
    user: &UserInfo,
    plural: &str,
    name: &str,
    missing: &[PolicyRule],
) -> Status {
    let rules: Vec<String> = missing.iter().map(compact_string).collect();
    rbac_forbidden(
        plural,
        name,
        format!(
            "user {:?} is attempting to grant RBAC permissions not currently held: {}",
            user.username,
            rules.join("; ")
        ),
    )
}

/// The `403` for writing the RBAC object `name` (of `plural`, in `planspec.io`): `reason`
/// after `<plural>.planspec.io "<name>" is forbidden: `.
pub fn rbac_forbidden(plural: &str, name: &str, reason: String) -> Status {
    let group = crate::resource::GROUP;
    let message = format!("{plural}.{group} {name:?} is forbidden: {reason}");
    let mut status = Status::failure(403, Reason::Forbidden, message);
    status.details = Some(Box::new(StatusDetails {
        name: name.to_owned(),
        group: group.to_owned(),
        kind: plural.to_owned(),
        ..StatusDetails::default()
    }));
    status
}

/// The `403` for a request.
pub fn forbidden_request(user: &UserInfo, info: &RequestInfo) -> Status {
    forbidden(user, &info.attributes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_reads_like_kubernetes() {
        let bob = UserInfo::new("bob", ["system:authenticated"]);
        let status = forbidden(
            &bob,
            &Attributes {
                verb: "cancel".into(),
                api_group: "planspec.io".into(),
                resource: "executions".into(),
                subresource: String::new(),
                namespace: Some("default".into()),
                name: Some("e".into()),
            },
        );
        assert_eq!(status.code, 403);
        assert_eq!(
            status.message,
            "executions.planspec.io \"e\" is forbidden: User \"bob\" cannot cancel resource \"executions\" in API group \"planspec.io\" in the namespace \"default\""
        );
        let status = forbidden(
            &bob,
            &Attributes {
                verb: "list".into(),
                api_group: String::new(),
                resource: "namespaces".into(),
                subresource: String::new(),
                namespace: None,
                name: None,
            },
        );
        assert_eq!(
            status.message,
            "namespaces is forbidden: User \"bob\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        );
    }
}
