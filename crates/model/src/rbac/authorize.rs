//! The RBAC decision, as a pure function of the roles and bindings: may this identity do this
//! verb on this resource?
//!
//! Semantics follow Kubernetes' RBAC authorizer:
//!
//! * members of [`GROUP_MASTERS`] may do everything;
//! * a `ClusterRoleBinding` grants its `ClusterRole` everywhere: in every namespace, across
//!   namespaces, and on cluster-scoped resources;
//! * a `RoleBinding` grants its `Role` (of its own namespace) or `ClusterRole` only for
//!   requests in its namespace;
//! * a rule matches when its verbs, API groups, resources and (if given) resource names all
//!   match; `*` matches anything, `executions/nodes` names a subresource, `*/nodes` that
//!   subresource of every resource; a rule with `resourceNames` never matches a request
//!   without a name (`create`, `list`, `watch`, `deletecollection`);
//! * subjects: `User` by username, `Group` by group, `ServiceAccount` by the username
//!   `system:serviceaccount:<namespace>:<name>` (the namespace defaults to the binding's);
//! * nothing matches: denied. A binding whose role does not exist grants nothing.

use super::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRefKind, Subject,
    SubjectKind,
};
use crate::actor::{UserInfo, GROUP_MASTERS};
use std::collections::HashMap;

/// The prefix of service account usernames.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The username of the service account `name` in `namespace`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// What a request asks to do, in RBAC terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// The verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or a PlanSpec verb (`approve`, `reject`, `cancel`, `retry`,
    /// `execute`, `bind`).
    pub verb: String,
    /// The API group (`planspec.io`; `""` for the core group).
    pub api_group: String,
    /// The resource, by plural (`executions`).
    pub resource: String,
    /// The subresource (`nodes`, `status`), or empty.
    pub subresource: String,
    /// The namespace; `None` for cluster-scoped resources and requests across namespaces.
    pub namespace: Option<String>,
    /// The object's name, when the request names one.
    pub name: Option<String>,
}

impl Attributes {
    /// `resource` or `resource/subresource`, as rules name it.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The outcome of [`RbacIndex::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; the text says by what (`group "system:masters"`,
    /// `RoleBinding "dev/alice-edit" of ClusterRole "edit"`).
    Allow(String),
    /// Denied: nothing grants it.
    Deny,
}

impl Decision {
    /// `true` for [`Decision::Allow`].
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }
}

/// The roles and bindings, indexed for decisions. Build it once per change of the RBAC
/// objects ([`RbacIndex::build`]); deciding reads it only.
#[derive(Debug, Clone, Default)]
pub struct RbacIndex {
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    /// RoleBindings by namespace.
    role_bindings: HashMap<String, Vec<IndexedBinding>>,
    cluster_role_bindings: Vec<IndexedBinding>,
}

#[derive(Debug, Clone)]
struct IndexedBinding {
    name: String,
    namespace: String,
    subjects: Vec<Subject>,
    role_kind: RoleRefKind,
    role_name: String,
}

impl RbacIndex {
    /// Indexes the objects (namespaced ones without a namespace are skipped).
    pub fn build(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> RbacIndex {
        let mut index = RbacIndex::default();
        for role in roles {
            if let Some(ns) = &role.metadata.namespace {
                index.roles.insert(
                    (ns.to_string(), role.metadata.name.to_string()),
                    role.rules.clone(),
                );
            }
        }
        for role in cluster_roles {
            index
                .cluster_roles
                .insert(role.metadata.name.to_string(), role.rules.clone());
        }
        for binding in role_bindings {
            let Some(ns) = &binding.metadata.namespace else {
                continue;
            };
            index
                .role_bindings
                .entry(ns.to_string())
                .or_default()
                .push(IndexedBinding {
                    name: binding.metadata.name.to_string(),
                    namespace: ns.to_string(),
                    subjects: binding.subjects.clone(),
                    role_kind: binding.role_ref.kind,
                    role_name: binding.role_ref.name.clone(),
                });
        }
        for binding in cluster_role_bindings {
            index.cluster_role_bindings.push(IndexedBinding {
                name: binding.metadata.name.to_string(),
                namespace: String::new(),
                subjects: binding.subjects.clone(),
                role_kind: binding.role_ref.kind,
                role_name: binding.role_ref.name.clone(),
            });
        }
        for bindings in index.role_bindings.values_mut() {
            bindings.sort_by(|a, b| a.name.cmp(&b.name));
        }
        index
            .cluster_role_bindings
            .sort_by(|a, b| a.name.cmp(&b.name));
        index
    }

    /// May `user` do what `attributes` describe?
    pub fn authorize(&self, user: &UserInfo, attributes: &Attributes) -> Decision {
        if user.in_group(GROUP_MASTERS) {
            return Decision::Allow(format!("group {GROUP_MASTERS:?}"));
        }
        for binding in &self.cluster_role_bindings {
            if binding.role_kind != RoleRefKind::ClusterRole
                || !binds(binding, user, "")
                || !self.rules_allow(self.cluster_roles.get(&binding.role_name), attributes)
            {
                continue;
            }
            return Decision::Allow(format!(
                "ClusterRoleBinding {:?} of ClusterRole {:?}",
                binding.name, binding.role_name
            ));
        }
        let Some(namespace) = attributes.namespace.as_deref() else {
            return Decision::Deny;
        };
        for binding in self.role_bindings.get(namespace).into_iter().flatten() {
            if !binds(binding, user, namespace) {
                continue;
            }
            let rules = match binding.role_kind {
                RoleRefKind::Role => self
                    .roles
                    .get(&(namespace.to_owned(), binding.role_name.clone())),
                RoleRefKind::ClusterRole => self.cluster_roles.get(&binding.role_name),
            };
            if self.rules_allow(rules, attributes) {
                let kind = match binding.role_kind {
                    RoleRefKind::Role => "Role",
                    RoleRefKind::ClusterRole => "ClusterRole",
                };
                return Decision::Allow(format!(
                    "RoleBinding \"{}/{}\" of {kind} {:?}",
                    binding.namespace, binding.name, binding.role_name
                ));
            }
        }
        Decision::Deny
    }

    /// The rules of the role a binding refers to (`Role`s in `namespace`), if it exists.
    pub fn role_rules(
        &self,
        kind: RoleRefKind,
        namespace: &str,
        name: &str,
    ) -> Option<&[PolicyRule]> {
        match kind {
            RoleRefKind::Role => self
                .roles
                .get(&(namespace.to_owned(), name.to_owned()))
                .map(Vec::as_slice),
            RoleRefKind::ClusterRole => self.cluster_roles.get(name).map(Vec::as_slice),
        }
    }

    /// Every rule that applies to `user` in `namespace` (`None`: cluster-wide, i.e. only what
    /// ClusterRoleBindings grant). Does not special-case [`GROUP_MASTERS`].
    pub fn rules_for(&self, user: &UserInfo, namespace: Option<&str>) -> Vec<&PolicyRule> {
        let mut rules = Vec::new();
        for binding in &self.cluster_role_bindings {
            if binding.role_kind == RoleRefKind::ClusterRole && binds(binding, user, "") {
                rules.extend(
                    self.cluster_roles
                        .get(&binding.role_name)
                        .into_iter()
                        .flatten(),
                );
            }
        }
        let Some(namespace) = namespace else {
            return rules;
        };
        for binding in self.role_bindings.get(namespace).into_iter().flatten() {
            if binds(binding, user, namespace) {
                rules.extend(
                    self.role_rules(binding.role_kind, namespace, &binding.role_name)
                        .into_iter()
                        .flatten(),
                );
            }
        }
        rules
    }

    fn rules_allow(&self, rules: Option<&Vec<PolicyRule>>, attributes: &Attributes) -> bool {
        rules
            .into_iter()
            .flatten()
            .any(|rule| rule_allows(rule, attributes))
    }
}

/// Whether `binding` (in `namespace`, empty for a ClusterRoleBinding) names `user`.
fn binds(binding: &IndexedBinding, user: &UserInfo, namespace: &str) -> bool {
    binding
        .subjects
        .iter()
        .any(|s| subject_matches(s, user, namespace))
}

/// Whether `subject` of a binding in `namespace` is `user`.
pub fn subject_matches(subject: &Subject, user: &UserInfo, namespace: &str) -> bool {
    match subject.kind {
        SubjectKind::User => subject.name == user.username,
        SubjectKind::Group => user.in_group(&subject.name),
        SubjectKind::ServiceAccount => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.username == service_account_username(ns, &subject.name)
        }
    }
}

/// Whether `rule` allows `attributes` (verbs, API groups, resources, resource names).
pub fn rule_allows(rule: &PolicyRule, attributes: &Attributes) -> bool {
    let verb = rule.verbs.iter().any(|v| v == "*" || *v == attributes.verb);
    let group = rule
        .api_groups
        .iter()
        .any(|g| g == "*" || *g == attributes.api_group);
    verb && group && resource_matches(rule, attributes) && name_matches(rule, attributes)
}

fn resource_matches(rule: &PolicyRule, attributes: &Attributes) -> bool {
    let combined = attributes.combined_resource();
    rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!attributes.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attributes.subresource.as_str()))
    })
}

fn name_matches(rule: &PolicyRule, attributes: &Attributes) -> bool {
    if rule.resource_names.is_empty() {
        return true;
    }
    match attributes.name.as_deref() {
        Some(name) if !name.is_empty() => rule.resource_names.iter().any(|n| n == name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ObjectMeta;
    use crate::rbac::RoleRef;

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: crate::common::DnsLabel::new(name),
            namespace: ns.map(crate::common::DnsLabel::new),
            ..ObjectMeta::default()
        }
    }

    fn rule(verbs: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            api_groups: vec!["planspec.io".into()],
            resources: resources.iter().map(|s| s.to_string()).collect(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn subject(kind: SubjectKind, name: &str, ns: Option<&str>) -> Subject {
        Subject {
            kind,
            name: name.into(),
            namespace: ns.map(str::to_owned),
            api_group: None,
        }
    }

    fn role(ns: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
        Role {
            api_version: crate::API_VERSION.into(),
            kind: "Role".into(),
            metadata: meta(Some(ns), name),
            rules,
        }
    }

    fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
        ClusterRole {
            api_version: crate::API_VERSION.into(),
            kind: "ClusterRole".into(),
            metadata: meta(None, name),
            rules,
        }
    }

    fn role_binding(
        ns: &str,
        name: &str,
        subjects: Vec<Subject>,
        kind: RoleRefKind,
        role: &str,
    ) -> RoleBinding {
        RoleBinding {
            api_version: crate::API_VERSION.into(),
            kind: "RoleBinding".into(),
            metadata: meta(Some(ns), name),
            subjects,
            role_ref: RoleRef {
                api_group: None,
                kind,
                name: role.into(),
            },
        }
    }

    fn cluster_binding(name: &str, subjects: Vec<Subject>, role: &str) -> ClusterRoleBinding {
        ClusterRoleBinding {
            api_version: crate::API_VERSION.into(),
            kind: "ClusterRoleBinding".into(),
            metadata: meta(None, name),
            subjects,
            role_ref: RoleRef {
                api_group: None,
                kind: RoleRefKind::ClusterRole,
                name: role.into(),
            },
        }
    }

    fn attrs(verb: &str, resource: &str, ns: Option<&str>, name: Option<&str>) -> Attributes {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Attributes {
            verb: verb.into(),
            api_group: "planspec.io".into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: ns.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo::new(name, groups.iter().copied())
    }

    #[test]
    fn masters_pass_and_nothing_denies() {
        let index = RbacIndex::default();
        let a = attrs("delete", "plans", Some("default"), Some("x"));
        assert!(index
            .authorize(&user("root", &[GROUP_MASTERS]), &a)
            .allowed());
        assert_eq!(index.authorize(&user("bob", &[]), &a), Decision::Deny);
    }

    #[test]
    fn role_bindings_grant_only_in_their_namespace() {
        let index = RbacIndex::build(
            &[role(
                "dev",
                "canceller",
                vec![rule(&["cancel"], &["executions"], &[])],
            )],
            &[cluster_role(
                "viewer",
                vec![rule(&["get", "list"], &["*"], &[])],
            )],
            &[
                role_binding(
                    "dev",
                    "bob-cancel",
                    vec![subject(SubjectKind::User, "bob", None)],
                    RoleRefKind::Role,
                    "canceller",
                ),
                role_binding(
                    "dev",
                    "bob-view",
                    vec![subject(SubjectKind::User, "bob", None)],
                    RoleRefKind::ClusterRole,
                    "viewer",
                ),
            ],
            &[],
        );
        let bob = user("bob", &[]);
        assert!(index
            .authorize(&bob, &attrs("cancel", "executions", Some("dev"), Some("e")))
            .allowed());
        assert!(!index
            .authorize(
                &bob,
                &attrs("cancel", "executions", Some("prod"), Some("e"))
            )
            .allowed());
        assert!(!index
            .authorize(&bob, &attrs("retry", "executions", Some("dev"), Some("e")))
            .allowed());
        // A ClusterRole bound by a RoleBinding: only in that namespace, never across them.
        assert!(index
            .authorize(&bob, &attrs("list", "plans", Some("dev"), None))
            .allowed());
        assert!(!index
            .authorize(&bob, &attrs("list", "plans", None, None))
            .allowed());
        assert!(!index
            .authorize(&bob, &attrs("list", "plans", Some("prod"), None))
            .allowed());
        // Someone else gets nothing.
        assert!(!index
            .authorize(
                &user("carol", &[]),
                &attrs("cancel", "executions", Some("dev"), Some("e"))
            )
            .allowed());
    }

    #[test]
    fn cluster_role_bindings_grant_everywhere() {
        let index = RbacIndex::build(
            &[],
            &[cluster_role(
                "approver",
                vec![rule(&["approve", "reject"], &["gates"], &[])],
            )],
            &[],
            &[cluster_binding(
                "reviewers",
                vec![subject(SubjectKind::Group, "release", None)],
                "approver",
            )],
        );
        let alice = user("alice", &["release"]);
        for ns in ["a", "b"] {
            let d = index.authorize(&alice, &attrs("approve", "gates", Some(ns), Some("g")));
            assert_eq!(
                d,
                Decision::Allow(
                    "ClusterRoleBinding \"reviewers\" of ClusterRole \"approver\"".into()
                )
            );
        }
        assert!(!index
            .authorize(
                &user("bob", &[]),
                &attrs("approve", "gates", Some("a"), Some("g"))
            )
            .allowed());
    }

    #[test]
    fn subresources_names_and_wildcards() {
        let nodes = rule(&["update"], &["executions/nodes"], &[]);
        assert!(rule_allows(
            &nodes,
            &attrs("update", "executions/nodes", Some("d"), Some("e"))
        ));
        assert!(!rule_allows(
            &nodes,
            &attrs("update", "executions", Some("d"), Some("e"))
        ));
        let any_status = rule(&["get"], &["*/status"], &[]);
        assert!(rule_allows(
            &any_status,
            &attrs("get", "plans/status", None, Some("p"))
        ));
        assert!(!rule_allows(
            &any_status,
            &attrs("get", "plans", None, Some("p"))
        ));
        let all = rule(&["*"], &["*"], &[]);
        assert!(rule_allows(
            &all,
            &attrs("cancel", "executions", None, None)
        ));
        assert!(rule_allows(
            &all,
            &attrs("get", "executions/log", None, Some("e"))
        ));
        let named = rule(&["execute"], &["plans"], &["release"]);
        assert!(rule_allows(
            &named,
            &attrs("execute", "plans", Some("d"), Some("release"))
        ));
        assert!(!rule_allows(
            &named,
            &attrs("execute", "plans", Some("d"), Some("other"))
        ));
        assert!(!rule_allows(
            &named,
            &attrs("execute", "plans", Some("d"), None)
        ));
        let mut core = rule(&["get"], &["namespaces"], &[]);
        assert!(!rule_allows(
            &core,
            &Attributes {
                api_group: String::new(),
                ..attrs("get", "namespaces", None, Some("x"))
            }
        ));
        core.api_groups = vec![String::new()];
        assert!(rule_allows(
            &core,
            &Attributes {
                api_group: String::new(),
                ..attrs("get", "namespaces", None, Some("x"))
            }
        ));
    }

    #[test]
    fn service_accounts_and_missing_roles() {
        let index = RbacIndex::build(
            &[role(
                "ci",
                "runner",
                vec![rule(&["create"], &["executions"], &[])],
            )],
            &[],
            &[
                role_binding(
                    "ci",
                    "deployer-runs",
                    vec![subject(SubjectKind::ServiceAccount, "deployer", None)],
                    RoleRefKind::Role,
                    "runner",
                ),
                role_binding(
                    "ci",
                    "dangling",
                    vec![subject(SubjectKind::User, "bob", None)],
                    RoleRefKind::Role,
                    "missing",
                ),
            ],
            &[cluster_binding(
                "role-ref",
                vec![subject(SubjectKind::User, "bob", None)],
                "missing-too",
            )],
        );
        let sa = user(&service_account_username("ci", "deployer"), &[]);
        assert!(index
            .authorize(&sa, &attrs("create", "executions", Some("ci"), None))
            .allowed());
        let other_sa = user(&service_account_username("other", "deployer"), &[]);
        assert!(!index
            .authorize(&other_sa, &attrs("create", "executions", Some("ci"), None))
            .allowed());
        assert!(!index
            .authorize(
                &user("bob", &[]),
                &attrs("create", "executions", Some("ci"), None)
            )
            .allowed());
    }
}
