//! Privilege-escalation prevention, as Kubernetes does it: a Role, ClusterRole or binding may
//! only grant what its writer already holds (unless the writer has `escalate` on the role
//! kind, or `bind` on the role a binding refers to — those checks are the server's).
//!
//! [`uncovered`] breaks the requested rules into single permissions (one API group, resource,
//! verb and — when the rule lists names — name each) and keeps those no rule the requester
//! holds covers:
//!
//! * a verb, API group or resource is covered by the same string or by `*`; a requested `*`
//!   is therefore covered only by a `*`;
//! * a requested subresource `plans/status` is also covered by `*/status`;
//! * a requested permission with a name is covered by a rule without `resourceNames` or one
//!   that lists that name; one without a name (all objects) only by a rule without
//!   `resourceNames`.
//!
//! [`RbacIndex::not_covered`] applies it to what a user holds in a namespace (a Role, a
//! RoleBinding) or cluster-wide (a ClusterRole, a ClusterRoleBinding).

use super::authorize::RbacIndex;
use super::PolicyRule;
use crate::actor::{UserInfo, GROUP_MASTERS};

/// One permission of a broken-down rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Permission<'a> {
    group: &'a str,
    resource: &'a str,
    name: Option<&'a str>,
    verb: &'a str,
}

fn permissions(rule: &PolicyRule) -> Vec<Permission<'_>> {
    let names: Vec<Option<&str>> = if rule.resource_names.is_empty() {
        vec![None]
    } else {
        rule.resource_names
            .iter()
            .map(|n| Some(n.as_str()))
            .collect()
    };
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for name in &names {
                for verb in &rule.verbs {
                    out.push(Permission {
                        group,
                        resource,
                        name: *name,
                        verb,
                    });
                }
            }
        }
    }
    out
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn covers(owner: &PolicyRule, wanted: &Permission<'_>) -> bool {
    let resource = has(&owner.resources, wanted.resource)
        || (wanted.resource.contains('/')
            && owner.resources.iter().any(|r| {
                r.strip_prefix('*')
                    .is_some_and(|sub| sub.starts_with('/') && wanted.resource.ends_with(sub))
            }));
    let name = owner.resource_names.is_empty()
        || wanted
            .name
            .is_some_and(|n| owner.resource_names.iter().any(|o| o == n));
    has(&owner.verbs, wanted.verb) && has(&owner.api_groups, wanted.group) && resource && name
}

/// The permissions of `requested` that no rule of `held` covers, as rules of one API group,
/// resource and (optionally) name each, with the verbs of the same group, resource and name
/// merged, in the order they were asked for. Empty: everything is covered.
pub fn uncovered(held: &[&PolicyRule], requested: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in requested {
        for wanted in permissions(rule) {
            if held.iter().any(|owner| covers(owner, &wanted)) {
                continue;
            }
            let same = out.iter_mut().find(|r| {
                r.api_groups[0] == wanted.group
                    && r.resources[0] == wanted.resource
                    && r.resource_names.first().map(String::as_str) == wanted.name
            });
            match same {
                Some(r) => {
                    if !r.verbs.iter().any(|v| v == wanted.verb) {
                        r.verbs.push(wanted.verb.to_owned());
                    }
                }
                None => out.push(PolicyRule {
                    verbs: vec![wanted.verb.to_owned()],
                    api_groups: vec![wanted.group.to_owned()],
                    resources: vec![wanted.resource.to_owned()],
                    resource_names: wanted.name.map(str::to_owned).into_iter().collect(),
                }),
            }
        }
    }
    out
}

impl RbacIndex {
    /// The permissions of `rules` that `user` does not hold in `namespace` (`None`:
    /// cluster-wide, what ClusterRoleBindings grant); see [`uncovered`]. Members of
    /// [`GROUP_MASTERS`] hold everything.
    pub fn not_covered(
        &self,
        user: &UserInfo,
        namespace: Option<&str>,
        rules: &[PolicyRule],
    ) -> Vec<PolicyRule> {
        if user.in_group(GROUP_MASTERS) {
            return Vec::new();
        }
        uncovered(&self.rules_for(user, namespace), rules)
    }
}

/// A rule as Kubernetes prints it in escalation errors:
/// `{APIGroups:["planspec.io"], Resources:["executions"], Verbs:["cancel"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", quoted.join(" "))
    };
    let mut parts = Vec::new();
    for (label, items) in [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ] {
        if !items.is_empty() {
            parts.push(format!("{label}:{}", list(items)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ObjectMeta;
    use crate::rbac::{
        ClusterRole, ClusterRoleBinding, RoleBinding, RoleRef, RoleRefKind, Subject, SubjectKind,
    };

    fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            resource_names: v(names),
        }
    }

    fn p(resources: &[&str], verbs: &[&str]) -> PolicyRule {
        rule(&["planspec.io"], resources, &[], verbs)
    }

    fn covered(held: &[PolicyRule], wanted: &PolicyRule) -> bool {
        let held: Vec<&PolicyRule> = held.iter().collect();
        uncovered(&held, std::slice::from_ref(wanted)).is_empty()
    }

    #[test]
    fn exact_and_partial_coverage() {
        let held = [p(&["plans"], &["get", "list"])];
        assert!(covered(&held, &p(&["plans"], &["get"])));
        assert!(
            covered(&held, &p(&[], &["get"])),
            "an empty rule grants nothing"
        );
        let missing = uncovered(
            &held.iter().collect::<Vec<_>>(),
            &[p(&["plans", "executions"], &["get", "delete", "cancel"])],
        );
        assert_eq!(
            missing,
            vec![
                p(&["plans"], &["delete", "cancel"]),
                p(&["executions"], &["get", "delete", "cancel"]),
            ]
        );
        assert!(!covered(&held, &rule(&[""], &["plans"], &[], &["get"])));
    }

    #[test]
    fn wildcards_are_covered_only_by_wildcards() {
        let star = [rule(&["*"], &["*"], &[], &["*"])];
        for wanted in [
            p(&["plans"], &["get"]),
            p(&["*"], &["*"]),
            rule(&["*"], &["executions/log"], &["x"], &["get"]),
        ] {
            assert!(covered(&star, &wanted), "{wanted:?}");
        }
        let many = [p(
            &["plans", "executions", "gates"],
            &["get", "list", "cancel"],
        )];
        assert!(!covered(&many, &p(&["plans"], &["*"])));
        assert!(!covered(&many, &p(&["*"], &["get"])));
        assert!(!covered(&many, &rule(&["*"], &["plans"], &[], &["get"])));
        let all_verbs = [p(&["plans"], &["*"])];
        assert!(covered(&all_verbs, &p(&["plans"], &["execute", "delete"])));
        assert!(!covered(&all_verbs, &p(&["plans/status"], &["get"])));
        let any_status = [p(&["*/status"], &["get"])];
        assert!(covered(&any_status, &p(&["plans/status"], &["get"])));
        assert!(covered(&any_status, &p(&["*/status"], &["get"])));
        assert!(!covered(&any_status, &p(&["plans"], &["get"])));
        assert!(!covered(&any_status, &p(&["*"], &["get"])));
    }

    #[test]
    fn resource_names_narrow_what_is_held() {
        let named = [rule(
            &["planspec.io"],
            &["plans"],
            &["a", "b"],
            &["execute"],
        )];
        assert!(covered(
            &named,
            &rule(&["planspec.io"], &["plans"], &["a"], &["execute"])
        ));
        assert!(covered(
            &named,
            &rule(&["planspec.io"], &["plans"], &["b", "a"], &["execute"])
        ));
        assert!(!covered(
            &named,
            &rule(&["planspec.io"], &["plans"], &["c"], &["execute"])
        ));
        assert!(
            !covered(&named, &p(&["plans"], &["execute"])),
            "a rule without names grants every object"
        );
        let unnamed = [p(&["plans"], &["execute"])];
        assert!(covered(
            &unnamed,
            &rule(&["planspec.io"], &["plans"], &["z"], &["execute"])
        ));
        let missing = uncovered(
            &named.iter().collect::<Vec<_>>(),
            &[rule(
                &["planspec.io"],
                &["plans"],
                &["a", "c"],
                &["execute", "get"],
            )],
        );
        assert_eq!(
            missing,
            vec![
                rule(&["planspec.io"], &["plans"], &["a"], &["get"]),
                rule(&["planspec.io"], &["plans"], &["c"], &["execute", "get"]),
            ]
        );
    }

    fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: crate::common::DnsLabel::new(name),
            namespace: ns.map(crate::common::DnsLabel::new),
            ..ObjectMeta::default()
        }
    }

    fn user_subject(name: &str) -> Vec<Subject> {
        vec![Subject {
            kind: SubjectKind::User,
            name: name.into(),
            namespace: None,
            api_group: None,
        }]
    }

    #[test]
    fn what_is_held_depends_on_the_scope() {
        let cluster_role = |name: &str, rules| ClusterRole {
            api_version: crate::API_VERSION.into(),
            kind: "ClusterRole".into(),
            metadata: meta(None, name),
            rules,
        };
        let index = RbacIndex::build(
            &[],
            &[
                cluster_role("canceller", vec![p(&["executions"], &["cancel"])]),
                cluster_role("viewer", vec![p(&["plans"], &["get"])]),
            ],
            &[RoleBinding {
                api_version: crate::API_VERSION.into(),
                kind: "RoleBinding".into(),
                metadata: meta(Some("dev"), "bob-cancel"),
                subjects: user_subject("bob"),
                role_ref: RoleRef {
                    api_group: None,
                    kind: RoleRefKind::ClusterRole,
                    name: "canceller".into(),
                },
            }],
            &[ClusterRoleBinding {
                api_version: crate::API_VERSION.into(),
                kind: "ClusterRoleBinding".into(),
                metadata: meta(None, "bob-view"),
                subjects: user_subject("bob"),
                role_ref: RoleRef {
                    api_group: None,
                    kind: RoleRefKind::ClusterRole,
                    name: "viewer".into(),
                },
            }],
        );
        let bob = UserInfo::new("bob", ["system:authenticated"]);
        let wanted = [p(&["executions"], &["cancel"]), p(&["plans"], &["get"])];
        assert!(index.not_covered(&bob, Some("dev"), &wanted).is_empty());
        assert_eq!(
            index.not_covered(&bob, Some("prod"), &wanted),
            vec![p(&["executions"], &["cancel"])]
        );
        assert_eq!(
            index.not_covered(&bob, None, &wanted),
            vec![p(&["executions"], &["cancel"])],
            "a RoleBinding grants nothing cluster-wide"
        );
        let carol = UserInfo::new("carol", ["system:authenticated"]);
        assert_eq!(index.not_covered(&carol, Some("dev"), &wanted).len(), 2);
        let root = UserInfo::new("root", [GROUP_MASTERS]);
        assert!(index
            .not_covered(&root, None, &[rule(&["*"], &["*"], &[], &["*"])])
            .is_empty());
    }

    #[test]
    fn rules_print_as_kubernetes_prints_them() {
        assert_eq!(
            compact_string(&p(&["executions"], &["cancel"])),
            r#"{APIGroups:["planspec.io"], Resources:["executions"], Verbs:["cancel"]}"#
        );
        assert_eq!(
            compact_string(&rule(&[""], &["namespaces"], &["a"], &["get", "list"])),
            r#"{APIGroups:[""], Resources:["namespaces"], ResourceNames:["a"], Verbs:["get" "list"]}"#
        );
    }
}
