//! The governance kinds are served like the plan-model kinds; `ClusterRole` and
//! `ClusterRoleBinding` are cluster-scoped (no namespace in their path or metadata) and the RBAC
//! kinds have top-level `rules` / `subjects` / `roleRef` and no status.

mod common;

use common::TestServer;
use serde_json::{json, Value};

const GROUP: &str = "/apis/planspec.io/v1alpha1";

fn cluster_role(name: &str, verbs: &[&str]) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ClusterRole", "metadata": {"name": name},
           "rules": [{"apiGroups": ["planspec.io"], "resources": ["plans"], "verbs": verbs}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_scoped_kinds_live_outside_namespaces() {
    let server = TestServer::start().await;
    let c = server.client();
    let created = c
        .post(
            &format!("{GROUP}/clusterroles"),
            &cluster_role("reader", &["get"]),
        )
        .await
        .expect(201)
        .json();
    assert!(created["metadata"].get("namespace").is_none(), "{created}");
    assert!(
        created.get("status").is_none(),
        "RBAC kinds have no status: {created}"
    );
    assert_eq!(created["rules"][0]["verbs"], json!(["get"]));

    let got = c
        .get(&format!("{GROUP}/clusterroles/reader"))
        .await
        .expect(200)
        .json();
    assert_eq!(got["metadata"]["uid"], created["metadata"]["uid"]);
    let list = c
        .get(&format!("{GROUP}/clusterroles"))
        .await
        .expect(200)
        .json();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert!(names.contains(&"reader"), "{names:?}");

    // Not inside a namespace, and no status subresource.
    c.get(&format!("{GROUP}/namespaces/default/clusterroles/reader"))
        .await
        .expect(404);
    c.post(
        &format!("{GROUP}/namespaces/default/clusterroles"),
        &cluster_role("other", &["get"]),
    )
    .await
    .expect(404);

    // A change to the rules is a change of the desired state: the generation moves.
    let mut changed = got.clone();
    changed["rules"][0]["verbs"] = json!(["get", "list"]);
    let updated = c
        .request(
            "PUT",
            &format!("{GROUP}/clusterroles/reader"),
            &[("content-type", "application/json")],
            serde_json::to_vec(&changed).unwrap(),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(updated["metadata"]["generation"], 2);

    // Bad shape is refused by admission like any kind.
    let bad = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ClusterRoleBinding",
                     "metadata": {"name": "b"}, "subjects": [{"kind": "Robot", "name": "r"}]});
    c.post(&format!("{GROUP}/clusterrolebindings"), &bad)
        .await
        .expect(422);

    c.request(
        "DELETE",
        &format!("{GROUP}/clusterroles/reader"),
        &[],
        Vec::new(),
    )
    .await
    .expect(200);
    c.get(&format!("{GROUP}/clusterroles/reader"))
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaced_governance_kinds_are_served_per_namespace() {
    let server = TestServer::start().await;
    let c = server.client();
    let role = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Role",
                      "metadata": {"name": "approver"},
                      "rules": [{"apiGroups": ["planspec.io"], "resources": ["gates"],
                                 "verbs": ["approve", "reject"]}]});
    let binding = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "RoleBinding",
                         "metadata": {"name": "ann-approves"},
                         "subjects": [{"kind": "User", "name": "ann"}],
                         "roleRef": {"kind": "Role", "name": "approver"}});
    let policy = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Policy",
                        "metadata": {"name": "p"},
                        "spec": {"rules": [{"name": "r", "when": "true", "verdict": "allow"}]}});
    for (plural, object) in [
        ("roles", &role),
        ("rolebindings", &binding),
        ("policies", &policy),
    ] {
        let created = c
            .post(&format!("{GROUP}/namespaces/default/{plural}"), object)
            .await
            .expect(201)
            .json();
        assert_eq!(created["metadata"]["namespace"], "default", "{plural}");
    }
    let all = c
        .get(&format!("{GROUP}/rolebindings"))
        .await
        .expect(200)
        .json();
    assert_eq!(all["items"][0]["roleRef"]["name"], "approver");
    let table = c
        .get_with(
            &format!("{GROUP}/namespaces/default/rolebindings"),
            &[("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(table["rows"][0]["cells"][1], "Role/approver", "{table}");
    let policy = c
        .get(&format!("{GROUP}/namespaces/default/policies/p"))
        .await
        .expect(200)
        .json();
    assert_eq!(policy["status"]["phase"], "Active");
}
