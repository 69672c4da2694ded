//! What identity adds to every write, whatever route it came by (create, replace, patch,
//! server-side apply, bulk apply):
//!
//! * an Execution's creator: `metadata.annotations["planspec.io/created-by"]` is set on create
//!   to the writing identity's username ([`SYSTEM_CONTROL_PLANE`] for the control plane's own
//!   writes), replacing any value the client sent, and kept as stored on every later write,
//!   so approvals can tell the creator from a reviewer; the identity's groups go, the same
//!   way, into `planspec.io/created-by-groups` (comma-separated);
//! * creating an Execution also needs `execute` on the Plan it runs (`plans/<spec.planRef>`,
//!   in the plan's namespace), and on every Plan its `Plan` nodes run at any depth, as
//!   Kubernetes' `bind` and `escalate` check the object a request points at, not only the
//!   one it writes;
//! * no client write may make an Execution a sub-plan child (the `planspec.io/parent-*`
//!   labels, an Execution controller owner): only the runtime creates children.
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
use planspec_runtime::driver::subplan;
use planspec_runtime::governance::CREATED_BY_GROUPS_ANNOTATION;
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
        refuse_parentage(&prepared, current)?;
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
                        namespace: Some(plan_namespace.clone()),
                        name: Some(plan.clone()),
                    };
                    self.require(user, &attributes).await?;
                    self.require_execute_tree(user, &plan_namespace, &plan)
                        .await?;
                }
                let creator = user.map_or(SYSTEM_CONTROL_PLANE, |u| u.username.as_str());
                let groups = user.map(|u| u.groups.join(",")).filter(|g| !g.is_empty());
                let prepared =
                    with_annotation(prepared, CREATED_BY_GROUPS_ANNOTATION, groups.as_deref());
                Ok(with_creator(prepared, Some(creator)))
            }
            Some(current) => {
                let stored = |key: &str| {
                    current
                        .pointer("/metadata/annotations")
                        .and_then(|a| a.get(key))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let prepared = with_annotation(
                    prepared,
                    CREATED_BY_GROUPS_ANNOTATION,
                    stored(CREATED_BY_GROUPS_ANNOTATION).as_deref(),
                );
                Ok(with_creator(
                    prepared,
                    stored(CREATED_BY_ANNOTATION).as_deref(),
                ))
            }
        }
    }
}

impl Api {
    /// `Ok` when `user` may `execute` every Plan the `Plan` nodes below the Plan
    /// `namespace/name` resolve to now, at any depth (sub-plans run with the root's creator,
    /// so running a wrapper must not lend its creator Plans they may not run). The runtime
    /// checks the tree it pins again at start (`subplan_forbidden`).
    async fn require_execute_tree(
        &self,
        user: Option<&UserInfo>,
        namespace: &str,
        name: &str,
    ) -> Result<(), Status> {
        if user.is_none() || self.authorizer().is_none() {
            return Ok(());
        }
        let key = planspec_store::ObjectKey::new("Plan", namespace, name.to_owned());
        let Some(root) = self
            .store()
            .get(&key)
            .await
            .map_err(Status::internal_error)?
        else {
            return Ok(());
        };
        let plans = subplan::tree_plans(&**self.store(), namespace, &root.object)
            .await
            .map_err(Status::internal_error)?;
        for (plan_namespace, plan) in plans {
            let attributes = Attributes {
                verb: "execute".into(),
                api_group: GROUP.into(),
                resource: "plans".into(),
                subresource: String::new(),
                namespace: Some(plan_namespace),
                name: Some(plan),
            };
            self.require(user, &attributes)
                .await
                .map_err(|mut status| {
                    status.message = format!(
                        "{} (plan {namespace}/{name} runs it as a sub-plan)",
                        status.message
                    );
                    status
                })?;
        }
        Ok(())
    }

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

/// The parent labels and Execution controller owner of an Execution: what makes it a
/// sub-plan child. Only the runtime writes them (straight to the store), so a client write
/// that sets them on create, or adds or changes them on update, is refused: a hand-made Execution
/// may not pose as a child and run its parent's pinned sub-plan.
fn refuse_parentage(prepared: &Value, current: Option<&Value>) -> Result<(), Status> {
    let claim = |o: &Value| {
        let labels: Vec<(String, Value)> = [
            subplan::PARENT_EXECUTION_LABEL,
            subplan::PARENT_NODE_LABEL,
            subplan::PARENT_ATTEMPT_LABEL,
        ]
        .iter()
        .filter_map(|l| {
            o.pointer("/metadata/labels")
                .and_then(|m| m.get(*l))
                .map(|v| ((*l).to_owned(), v.clone()))
        })
        .collect();
        (labels, subplan::controller_execution_owner(o).cloned())
    };
    let wanted = claim(prepared);
    // On update, what is kept may stay and may be removed (an orphaning delete drops the
    // owner); nothing may be added or changed.
    let (had_labels, had_owner) = current.map(claim).unwrap_or_default();
    let allowed = wanted.0.iter().all(|l| had_labels.contains(l))
        && wanted.1.is_none_or(|o| had_owner.as_ref() == Some(&o));
    if allowed {
        return Ok(());
    }
    let name = metadata_str(prepared, "name").unwrap_or_default();
    Err(Status::forbidden(
        ResourceType::Kind(Kind::Execution),
        &name,
        "only the runtime may make an execution a sub-plan child: the labels planspec.io/parent-execution, planspec.io/parent-node, planspec.io/parent-attempt and an Execution controller ownerReference cannot be set or changed by a client",
    ))
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
pub fn with_creator(object: Value, creator: Option<&str>) -> Value {
    with_annotation(object, CREATED_BY_ANNOTATION, creator)
}

/// `object` with the annotation `key` set to `value` (removed for `None`); an `annotations`
/// map left empty is removed.
fn with_annotation(mut object: Value, key: &str, value: Option<&str>) -> Value {
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
        match value {
            Some(c) => {
                map.insert(key.into(), Value::String(c.to_owned()));
            }
            None => {
                map.remove(key);
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
    fn only_the_runtime_makes_sub_plan_children() {
        let plain = json!({"metadata": {"name": "e", "labels": {"app": "x"}}});
        let child = json!({"metadata": {"name": "e",
            "labels": {"planspec.io/parent-execution": "p", "planspec.io/parent-node": "n"},
            "ownerReferences": [{"kind": "Execution", "name": "p", "uid": "u", "controller": true}]}});
        let owned = json!({"metadata": {"name": "e",
            "ownerReferences": [{"kind": "Execution", "name": "p", "uid": "u", "controller": true}]}});
        let labelled =
            json!({"metadata": {"name": "e", "labels": {"planspec.io/parent-node": "n"}}});
        // Creates: no parent labels, no Execution controller owner.
        assert!(refuse_parentage(&plain, None).is_ok());
        for forged in [&child, &owned, &labelled] {
            let refused = refuse_parentage(forged, None).expect_err("refused");
            assert_eq!(refused.code, 403);
        }
        // Updates: kept or removed, never added or changed.
        assert!(refuse_parentage(&child, Some(&child)).is_ok());
        assert!(refuse_parentage(&plain, Some(&child)).is_ok());
        assert!(refuse_parentage(&labelled, Some(&child)).is_ok());
        assert!(refuse_parentage(&child, Some(&labelled)).is_err());
        assert!(refuse_parentage(&labelled, Some(&plain)).is_err());
        let mut moved = child.clone();
        moved["metadata"]["labels"]["planspec.io/parent-node"] = json!("other");
        assert!(refuse_parentage(&moved, Some(&child)).is_err());
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
