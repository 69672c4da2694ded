//! What identity adds to every write, whatever route it came by (create, replace, patch,
//! server-side apply, bulk apply):
//!
//! * an Execution's creator: `metadata.annotations["planspec.io/created-by"]` is set on create
//!   to the writing identity's username ([`SYSTEM_CONTROL_PLANE`] for the control plane's own
//!   writes), replacing any value the client sent, and kept as stored on every later write,
//!   so approvals can tell the creator from a reviewer;
//! * creating an Execution also needs `execute` on the Plan it runs (`plans/<spec.planRef>`,
//!   in the plan's namespace), as Kubernetes' `bind` and `escalate` check the object a
//!   request points at, not only the one it writes.
//!
//! * a Binding whose rules route work to a Provider resource (`target.provider:
//!   provider://NAME`) needs `bind` on `providers/<NAME>` for every Provider it starts to use
//!   (on create: all of them; on update: the ones the stored Binding did not already use).
//!
//! * privilege-escalation prevention on the RBAC kinds, as Kubernetes does it: a `Role`
//!   (`ClusterRole`) may only be written by someone who holds every permission it grants in
//!   its namespace (cluster-wide), or who has `escalate` on `roles` (`clusterroles`); a
//!   `RoleBinding` (`ClusterRoleBinding`) only by someone who holds every permission of the
//!   role it refers to in its namespace (cluster-wide), or who has `bind` on that role
//!   (`roles/<name>` or `clusterroles/<name>`). Binding a role that does not exist needs
//!   `bind`. Members of `system:masters` and the control plane's own writes (the default
//!   ClusterRoles) pass.
//!
//! [`Api::require`] is the check other admission steps can call.

use super::Api;
use crate::authz::{escalation_forbidden, rbac_forbidden, Rbac};
use crate::resource::{ResourceType, GROUP};
use crate::status::Status;
use planspec_model::actor::{UserInfo, CREATED_BY_ANNOTATION, SYSTEM_CONTROL_PLANE};
use planspec_model::binding::BindingTarget;
use planspec_model::rbac::authorize::Attributes;
use planspec_model::rbac::{PolicyRule, RoleRef, RoleRefKind};
use planspec_model::Kind;
use serde_json::{Map, Value};
use std::sync::Arc;

impl Api {
    /// Attaches the RBAC authorizer the write checks use (only the first call counts).
    /// Without one (an API used in-process, without HTTP), those checks pass.
    pub fn attach_authorizer(&self, rbac: Arc<Rbac>) {
        let _ = self.authorizer_cell().set(rbac);
    }

    /// The attached authorizer.
    pub fn authorizer(&self) -> Option<&Arc<Rbac>> {
        self.authorizer_cell().get()
    }

    /// `Ok` when `user` may do what `attributes` describe, or when there is no user (the
    /// control plane's own work) or no authorizer; else the `403` Status.
    pub async fn require(
        &self,
        user: Option<&UserInfo>,
        attributes: &Attributes,
    ) -> Result<(), Status> {
        match (user, self.authorizer()) {
            (Some(user), Some(rbac)) => rbac.require(user, attributes).await,
            _ => Ok(()),
        }
    }

    /// `Ok` when `user` may `verb` the resource `resource` (by plural, in `planspec.io`) named
    /// `name` in `namespace`; see [`Api::require`].
    pub async fn require_verb(
        &self,
        user: Option<&UserInfo>,
        verb: &str,
        resource: ResourceType,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<(), Status> {
        let attributes = Attributes {
            verb: verb.to_owned(),
            api_group: resource.group().to_owned(),
            resource: resource.plural().to_owned(),
            subresource: String::new(),
            namespace: (resource.namespaced() && !namespace.is_empty())
                .then(|| namespace.to_owned()),
            name: name.filter(|n| !n.is_empty()).map(str::to_owned),
        };
        self.require(user, &attributes).await
    }

    /// Applies the module's rules to `prepared` (an object of `resource` about to be admitted;
    /// `current` is the stored one on an update).
    pub(crate) async fn govern_write(
        &self,
        resource: ResourceType,
        prepared: Value,
        user: Option<&UserInfo>,
        current: Option<&Value>,
    ) -> Result<Value, Status> {
        if let ResourceType::Kind(
            kind @ (Kind::Role | Kind::ClusterRole | Kind::RoleBinding | Kind::ClusterRoleBinding),
        ) = resource
        {
            self.prevent_escalation(kind, &prepared, user).await?;
            return Ok(prepared);
        }
        if resource == ResourceType::Kind(Kind::Binding) {
            let namespace = metadata_str(&prepared, "namespace").unwrap_or_default();
            let before = current.map(provider_targets).unwrap_or_default();
            for provider in provider_targets(&prepared) {
                if before.contains(&provider) {
                    continue;
                }
                let attributes = Attributes {
                    verb: "bind".into(),
                    api_group: GROUP.into(),
                    resource: "providers".into(),
                    subresource: String::new(),
                    namespace: Some(namespace.clone()),
                    name: Some(provider),
                };
                self.require(user, &attributes).await?;
            }
            return Ok(prepared);
        }
        if resource != ResourceType::Kind(Kind::Execution) {
            return Ok(prepared);
        }
        match current {
            None => {
                let namespace = metadata_str(&prepared, "namespace").unwrap_or_default();
                let plan_namespace = prepared
                    .pointer("/spec/planRef/namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace.as_str())
                    .to_owned();
                let plan = prepared
                    .pointer("/spec/planRef/name")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(plan) = plan.filter(|p| !p.is_empty()) {
                    let attributes = Attributes {
                        verb: "execute".into(),
                        api_group: GROUP.into(),
                        resource: "plans".into(),
                        subresource: String::new(),
                        namespace: Some(plan_namespace),
                        name: Some(plan),
                    };
                    self.require(user, &attributes).await?;
                }
                let creator = user.map_or(SYSTEM_CONTROL_PLANE, |u| u.username.as_str());
                Ok(with_creator(prepared, Some(creator)))
            }
            Some(current) => {
                let stored = current
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(CREATED_BY_ANNOTATION))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(with_creator(prepared, stored.as_deref()))
            }
        }
    }
}

impl Api {
    /// `Ok` when `user` may write the RBAC object `object` (of `kind`) without granting
    /// permissions they do not hold; see the module documentation.
    async fn prevent_escalation(
        &self,
        kind: Kind,
        object: &Value,
        user: Option<&UserInfo>,
    ) -> Result<(), Status> {
        let (Some(user), Some(rbac)) = (user, self.authorizer()) else {
            return Ok(());
        };
        let name = metadata_str(object, "name").unwrap_or_default();
        let namespace = match kind {
            Kind::Role | Kind::RoleBinding => {
                metadata_str(object, "namespace").filter(|n| !n.is_empty())
            }
            _ => None,
        };
        let plural = match kind {
            Kind::Role => "roles",
            Kind::ClusterRole => "clusterroles",
            Kind::RoleBinding => "rolebindings",
            _ => "clusterrolebindings",
        };
        let attributes = |verb: &str, resource: &str, name: &str| Attributes {
            verb: verb.into(),
            api_group: GROUP.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.clone(),
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
        };
        if matches!(kind, Kind::Role | Kind::ClusterRole) {
            let rules: Vec<PolicyRule> = object
                .get("rules")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| Status::bad_request(format!("rules: {e}")))?
                .unwrap_or_default();
            let missing = rbac.not_covered(user, namespace.as_deref(), &rules).await;
            if missing.is_empty()
                || rbac
                    .authorize(user, &attributes("escalate", plural, &name))
                    .await
                    .allowed()
            {
                return Ok(());
            }
            return Err(escalation_forbidden(user, plural, &name, &missing));
        }
        let role_ref: RoleRef = object
            .get("roleRef")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Status::bad_request(format!("roleRef: {e}")))?
            .ok_or_else(|| Status::bad_request("roleRef is required"))?;
        let (role_kind, role_plural) = match role_ref.kind {
            RoleRefKind::Role => ("Role", "roles"),
            RoleRefKind::ClusterRole => ("ClusterRole", "clusterroles"),
        };
        let role_namespace = namespace.as_deref().unwrap_or_default();
        let role_rules = rbac
            .role_rules(role_ref.kind, role_namespace, &role_ref.name)
            .await;
        let role_exists = role_rules.is_some();
        let missing = match role_rules {
            Some(rules) => rbac.not_covered(user, namespace.as_deref(), &rules).await,
            None => Vec::new(),
        };
        if (role_exists && missing.is_empty())
            || rbac
                .authorize(user, &attributes("bind", role_plural, &role_ref.name))
                .await
                .allowed()
        {
            return Ok(());
        }
        if !role_exists {
            return Err(rbac_forbidden(
                plural,
                &name,
                format!(
                    "user {:?} cannot bind {role_kind} {:?}: it does not exist (binding it needs \"bind\" on \"{role_plural}/{}\")",
                    user.username, role_ref.name, role_ref.name
                ),
            ));
        }
        Err(escalation_forbidden(user, plural, &name, &missing))
    }
}

/// The names of the Provider resources a Binding's rules target (`provider://NAME`, read as
/// the runtime reads it: [`planspec_runtime::provider::resource::provider_target`]).
pub fn provider_targets(binding: &Value) -> std::collections::BTreeSet<String> {
    binding
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|rule| rule.get("target").cloned())
        .filter_map(|t| serde_json::from_value::<BindingTarget>(t).ok())
        .filter_map(|t| planspec_runtime::provider::resource::provider_target(&t)?.ok())
        .collect()
}

fn metadata_str(object: &Value, field: &str) -> Option<String> {
    object
        .pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `object` with the creator annotation set to `creator` (removed for `None`); an
/// `annotations` map left empty is removed.
pub fn with_creator(mut object: Value, creator: Option<&str>) -> Value {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return object;
    };
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(map) = annotations.as_object_mut() {
        match creator {
            Some(c) => {
                map.insert(CREATED_BY_ANNOTATION.into(), Value::String(c.to_owned()));
            }
            None => {
                map.remove(CREATED_BY_ANNOTATION);
            }
        }
        if map.is_empty() {
            meta.remove("annotations");
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_targets_are_the_provider_uris() {
        let b = json!({"spec": {"rules": [
            {"target": {"provider": "provider://deployer"}},
            {"target": {"provider": "exec://sh"}},
            {"target": {"provider": "Provider://signer/"}},
            {"target": {"provider": "provider://"}},
        ]}});
        let names: Vec<String> = provider_targets(&b).into_iter().collect();
        assert_eq!(names, vec!["deployer", "signer"]);
        assert!(provider_targets(&json!({})).is_empty());
    }

    #[test]
    fn the_creator_annotation_is_set_and_removed() {
        let o = json!({"metadata": {"name": "e", "annotations": {"planspec.io/created-by": "mallory", "x": "y"}}});
        let set = with_creator(o.clone(), Some("alice"));
        assert_eq!(
            set["metadata"]["annotations"],
            json!({"planspec.io/created-by": "alice", "x": "y"})
        );
        let removed = with_creator(o, None);
        assert_eq!(removed["metadata"]["annotations"], json!({"x": "y"}));
        let bare = with_creator(
            json!({"metadata": {"name": "e", "annotations": {"planspec.io/created-by": "m"}}}),
            None,
        );
        assert!(bare["metadata"].get("annotations").is_none());
        assert_eq!(with_creator(json!(1), Some("a")), json!(1));
    }
}
