//! Authentication and RBAC over HTTP, against a real server, store and runtime: tokens from a
//! token file (and its reload), 401 without one, a 403 `Forbidden` Status for each verb a
//! user lacks that turns into success once a Role grants it, Role versus ClusterRole scope,
//! `system:masters`, the Execution creator annotation, impersonation, whoami and can-i.

mod common;

use common::{Client, TestServer};
use planspec_runtime::{ProviderRegistry, Runtime, RuntimeOptions};
use planspec_server::auth::token_file::hash_token;
use planspec_server::auth::AuthConfig;
use planspec_server::controllers::{self, Controllers};
use planspec_server::http::ServerConfig;
use planspec_store::Store;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const G: &str = "/apis/planspec.io/v1alpha1";
const DEV: &str = "/apis/planspec.io/v1alpha1/namespaces/dev";
const PROD: &str = "/apis/planspec.io/v1alpha1/namespaces/prod";

const ADMIN: &str = "admin-token-0123456789";
const BOB: &str = "bob-token-0123456789";
const CAROL: &str = "carol-token-0123456789";

fn token_file(extra: &str) -> String {
    format!(
        "users:\n  - name: admin\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n  - name: bob\n    groups: [dev-team]\n    tokenHashes: [\"{}\"]\n{extra}",
        hash_token(ADMIN),
        hash_token(BOB)
    )
}

struct Env {
    server: TestServer,
    admin: Client,
    bob: Client,
    anonymous: Client,
    _runtime: Runtime,
    _controllers: Controllers,
}

async fn start() -> Env {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let file = dir.path().join("tokens.yaml");
    std::fs::write(&file, token_file("")).unwrap();
    let mut auth = AuthConfig::token_file(&file);
    auth.reload_interval = Duration::from_millis(100);
    let server = TestServer::start_in(
        dir,
        planspec_server::api::ApiOptions::default(),
        ServerConfig {
            auth,
            ..ServerConfig::default()
        },
    )
    .await;
    let data = server.dir.path().join("data");
    let runtime = Runtime::start(
        server.store.clone() as Arc<dyn Store>,
        ProviderRegistry::with_builtins().unwrap(),
        RuntimeOptions::new(&data),
    );
    server.api.attach_runtime(runtime.handle(), data);
    let controllers = Controllers::start(server.api.clone(), controllers::standard());
    let anonymous = server.client();
    let env = Env {
        admin: anonymous.with_token(ADMIN),
        bob: anonymous.with_token(BOB),
        anonymous,
        server,
        _runtime: runtime,
        _controllers: controllers,
    };
    for ns in ["dev", "prod"] {
        env.admin
            .post(
                "/api/v1/namespaces",
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await
            .expect(201);
        env.admin
            .post(&format!("{G}/namespaces/{ns}/plans"), &plan("p"))
            .await
            .expect(201);
        env.admin
            .post(
                &format!("{G}/namespaces/{ns}/bindings"),
                &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Binding", "metadata": {"name": "b"},
                        "spec": {"rules": [{"selector": {"matchLabels": {}},
                                            "target": {"provider": "exec://sh", "config": {"command": ["sleep", "30"]}}}]}}),
            )
            .await
            .expect(201);
    }
    env
}

fn plan(name: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Plan", "metadata": {"name": name},
    "spec": {"description": "d", "graph": {"nodes": [
        {"id": "wait", "kind": "Task"},
    ]}}})
}

fn execution(name: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Execution",
           "metadata": {"name": name, "annotations": {"planspec.io/created-by": "mallory"}},
           "spec": {"planRef": {"name": "p"}}})
}

/// A Role in `ns` granting `verbs` on `resources`, bound to the user bob.
async fn grant(env: &Env, ns: &str, name: &str, verbs: &[&str], resources: &[&str]) {
    env.admin
        .post(
            &format!("{G}/namespaces/{ns}/roles"),
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Role", "metadata": {"name": name},
                    "rules": [{"apiGroups": ["planspec.io"], "resources": resources, "verbs": verbs}]}),
        )
        .await
        .expect(201);
    env.admin
        .post(
            &format!("{G}/namespaces/{ns}/rolebindings"),
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "RoleBinding", "metadata": {"name": name},
                    "subjects": [{"kind": "User", "name": "bob"}],
                    "roleRef": {"kind": "Role", "name": name}}),
        )
        .await
        .expect(201);
}

fn assert_forbidden(reply: common::Reply, verb: &str, resource: &str, ns: &str) {
    let status = reply.expect(403).json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(status["code"], 403);
    let message = status["message"].as_str().unwrap();
    let want = format!(
        "User \"bob\" cannot {verb} resource \"{resource}\" in API group \"planspec.io\" in the namespace \"{ns}\""
    );
    assert!(message.contains(&want), "{message}\nwanted: {want}");
    assert_eq!(status["details"]["group"], "planspec.io");
}

async fn post_json(c: &Client, path: &str, body: Value) -> common::Reply {
    c.request(
        "POST",
        path,
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_are_401_and_health_stays_open() {
    let env = start().await;
    for client in [&env.anonymous, &env.anonymous.with_token("wrong")] {
        let status = client.get(&format!("{DEV}/plans")).await.expect(401).json();
        assert_eq!(status["reason"], "Unauthorized");
        assert_eq!(status["code"], 401);
        client.get("/apis").await.expect(401);
        client.get("/healthz").await.expect(200);
        client.get("/readyz").await.expect(200);
        client.get("/version").await.expect(200);
    }
    let reply = env
        .anonymous
        .get_with(
            &format!("{DEV}/plans"),
            &[("authorization", "Basic Ym9iOng=")],
        )
        .await;
    assert_eq!(reply.status, 401);
    // Authenticated users read discovery and OpenAPI without any role.
    env.bob.get("/apis").await.expect(200);
    env.bob.get("/openapi/v3").await.expect(200);
    // system:masters may do everything; the default roles and binding were created.
    env.admin
        .get(&format!("{G}/clusterroles/view"))
        .await
        .expect(200);
    let binding = env
        .admin
        .get(&format!("{G}/clusterrolebindings/bootstrap-admin"))
        .await
        .expect(200)
        .json();
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_verb_is_403_until_a_role_grants_it() {
    let env = start().await;
    let bob = &env.bob;
    // get, list, create, update, delete on plans.
    assert_forbidden(
        bob.get(&format!("{DEV}/plans/p")).await,
        "get",
        "plans",
        "dev",
    );
    assert_forbidden(
        bob.get(&format!("{DEV}/plans")).await,
        "list",
        "plans",
        "dev",
    );
    assert_forbidden(
        bob.post(&format!("{DEV}/plans"), &plan("q")).await,
        "create",
        "plans",
        "dev",
    );
    assert_forbidden(
        bob.put(&format!("{DEV}/plans/p"), &plan("p")).await,
        "update",
        "plans",
        "dev",
    );
    assert_forbidden(
        bob.delete(&format!("{DEV}/plans/p")).await,
        "delete",
        "plans",
        "dev",
    );
    grant(
        &env,
        "dev",
        "plans-rw",
        &["get", "list", "create", "update", "delete"],
        &["plans"],
    )
    .await;
    bob.get(&format!("{DEV}/plans/p")).await.expect(200);
    bob.get(&format!("{DEV}/plans")).await.expect(200);
    bob.post(&format!("{DEV}/plans"), &plan("q"))
        .await
        .expect(201);
    bob.put(&format!("{DEV}/plans/q"), &plan("q"))
        .await
        .expect(200);
    bob.delete(&format!("{DEV}/plans/q")).await.expect(200);

    // Creating an Execution needs `create` on executions and `execute` on the Plan.
    assert_forbidden(
        bob.post(&format!("{DEV}/executions"), &execution("run"))
            .await,
        "create",
        "executions",
        "dev",
    );
    grant(
        &env,
        "dev",
        "exec-create",
        &["create", "get", "update"],
        &["executions"],
    )
    .await;
    let denied = bob
        .post(&format!("{DEV}/executions"), &execution("run"))
        .await;
    let message = denied.json()["message"].as_str().unwrap().to_owned();
    assert_eq!(denied.status, 403, "{message}");
    assert!(
        message.starts_with(
            "plans.planspec.io \"p\" is forbidden: User \"bob\" cannot execute resource \"plans\""
        ),
        "{message}"
    );
    grant(&env, "dev", "plan-execute", &["execute"], &["plans"]).await;
    let created = bob
        .post(&format!("{DEV}/executions"), &execution("run"))
        .await
        .expect(201)
        .json();
    // The creator is who the token proves, whatever the client wrote, and stays so.
    assert_eq!(
        created["metadata"]["annotations"]["planspec.io/created-by"],
        "bob"
    );
    let mut changed = created.clone();
    changed["metadata"]["annotations"]["planspec.io/created-by"] = json!("mallory");
    changed["metadata"]["labels"] = json!({"x": "y"});
    changed["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let updated = bob
        .put(&format!("{DEV}/executions/run"), &changed)
        .await
        .expect(200)
        .json();
    assert_eq!(
        updated["metadata"]["annotations"]["planspec.io/created-by"],
        "bob"
    );
    assert_eq!(updated["metadata"]["labels"]["x"], "y");

    // cancel and retry.
    let cancel = format!("{DEV}/executions/run/cancel");
    let retry = format!("{DEV}/executions/run/retry");
    assert_forbidden(
        post_json(bob, &cancel, json!({})).await,
        "cancel",
        "executions",
        "dev",
    );
    assert_forbidden(
        post_json(bob, &retry, json!({})).await,
        "retry",
        "executions",
        "dev",
    );
    grant(
        &env,
        "dev",
        "exec-ops",
        &["cancel", "retry"],
        &["executions"],
    )
    .await;
    let cancelled = post_json(bob, &cancel, json!({"force": true})).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    let retried = post_json(bob, &retry, json!({})).await;
    assert_ne!(retried.status, 403, "{}", retried.json());
    assert_ne!(retried.status, 401);
    // The journal names the authenticated actor.
    let journal = env
        .admin
        .get(&format!("{DEV}/executions/run/journal"))
        .await
        .expect(200)
        .json();
    let text = journal.to_string();
    assert!(text.contains("\"bob\""), "{text}");

    // approve and reject on Gates bob reviews.
    for gate in ["g", "h"] {
        env.admin
            .post(
                &format!("{DEV}/gates"),
                &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Gate", "metadata": {"name": gate},
                        "spec": {"gateType": "approval", "targetRef": {"kind": "Plan", "name": "p"},
                                 "reviewers": ["bob"], "requiredApprovers": 1}}),
            )
            .await
            .expect(201);
    }
    let review = format!("{DEV}/gates/g/review");
    assert_forbidden(
        post_json(bob, &review, json!({"action": "approve"})).await,
        "approve",
        "gates",
        "dev",
    );
    assert_forbidden(
        post_json(bob, &review, json!({"action": "reject", "comment": "no"})).await,
        "reject",
        "gates",
        "dev",
    );
    grant(&env, "dev", "gate-reject", &["reject"], &["gates"]).await;
    // Rejecting is allowed now; approving still is not.
    let rejected = post_json(
        bob,
        &review,
        json!({"action": "reject", "comment": "not yet"}),
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.json());
    let review = format!("{DEV}/gates/h/review");
    assert_forbidden(
        post_json(bob, &review, json!({"action": "approve"})).await,
        "approve",
        "gates",
        "dev",
    );
    grant(&env, "dev", "gate-approve", &["approve"], &["gates"]).await;
    let approved = post_json(bob, &review, json!({"action": "approve"})).await;
    assert_eq!(approved.status, 200, "{}", approved.json());

    // bind: a Binding that routes work to a Provider resource needs `bind` on it.
    let uses_provider = json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Binding", "metadata": {"name": "to-deployer"},
        "spec": {"rules": [{"selector": {"matchLabels": {}}, "target": {"provider": "provider://deployer"}}]}});
    grant(&env, "dev", "bindings-create", &["create"], &["bindings"]).await;
    let denied = bob.post(&format!("{DEV}/bindings"), &uses_provider).await;
    let message = denied.json()["message"].as_str().unwrap().to_owned();
    assert_eq!(denied.status, 403, "{message}");
    assert!(
        message.starts_with("providers.planspec.io \"deployer\" is forbidden: User \"bob\" cannot bind resource \"providers\""),
        "{message}"
    );
    grant(&env, "dev", "provider-bind", &["bind"], &["providers"]).await;
    bob.post(&format!("{DEV}/bindings"), &uses_provider)
        .await
        .expect(201);

    // Nothing of this reaches another namespace.
    assert_forbidden(
        bob.get(&format!("{PROD}/plans/p")).await,
        "get",
        "plans",
        "prod",
    );
    assert_forbidden(
        post_json(
            bob,
            &format!("{PROD}/gates/g/review"),
            json!({"action": "approve"}),
        )
        .await,
        "approve",
        "gates",
        "prod",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_roles_by_role_binding_stay_in_the_namespace_and_by_cluster_binding_go_everywhere()
{
    let env = start().await;
    let bob = &env.bob;
    env.admin
        .post(
            &format!("{DEV}/rolebindings"),
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "RoleBinding", "metadata": {"name": "team-view"},
                    "subjects": [{"kind": "Group", "name": "dev-team"}],
                    "roleRef": {"kind": "ClusterRole", "name": "view"}}),
        )
        .await
        .expect(201);
    bob.get(&format!("{DEV}/plans/p")).await.expect(200);
    bob.get(&format!("{DEV}/plans")).await.expect(200);
    assert_forbidden(
        bob.get(&format!("{PROD}/plans/p")).await,
        "get",
        "plans",
        "prod",
    );
    // view grants no writes, and a list across namespaces needs a cluster-wide grant.
    assert_forbidden(
        bob.post(&format!("{DEV}/plans"), &plan("q")).await,
        "create",
        "plans",
        "dev",
    );
    let across = bob.get(&format!("{G}/plans")).await.expect(403).json();
    assert!(across["message"]
        .as_str()
        .unwrap()
        .contains("at the cluster scope"));

    env.admin
        .post(
            &format!("{G}/clusterrolebindings"),
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ClusterRoleBinding", "metadata": {"name": "bob-view"},
                    "subjects": [{"kind": "User", "name": "bob"}],
                    "roleRef": {"kind": "ClusterRole", "name": "view"}}),
        )
        .await
        .expect(201);
    bob.get(&format!("{PROD}/plans/p")).await.expect(200);
    bob.get(&format!("{G}/plans")).await.expect(200);
    // Deleting the binding takes the grant away again.
    env.admin
        .delete(&format!("{G}/clusterrolebindings/bob-view"))
        .await
        .expect(200);
    let mut gone = false;
    for _ in 0..50 {
        if bob.get(&format!("{PROD}/plans/p")).await.status == 403 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the deleted binding still grants");
    // RBAC objects are not for viewers.
    assert_forbidden(
        bob.get(&format!("{DEV}/roles")).await,
        "list",
        "roles",
        "dev",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_reloaded_when_it_changes() {
    let env = start().await;
    let carol = env.anonymous.with_token(CAROL);
    carol.get("/apis").await.expect(401);
    let file = env.server.dir.path().join("tokens.yaml");
    let extra = format!(
        "  - name: carol\n    groups: [\"system:masters\"]\n    tokenHashes: [\"{}\"]\n",
        hash_token(CAROL)
    );
    write_replacing(&file, &token_file(&extra));
    wait_for(&carol, 200).await;
    carol.get(&format!("{PROD}/plans/p")).await.expect(200);
    // A broken file leaves the tokens in force.
    write_replacing(&file, "users: [");
    tokio::time::sleep(Duration::from_millis(400)).await;
    carol.get("/apis").await.expect(200);
    // Removing carol revokes her token.
    write_replacing(&file, &token_file(""));
    wait_for(&carol, 401).await;
    env.bob.get("/apis").await.expect(200);
}

fn write_replacing(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

async fn wait_for(client: &Client, code: u16) {
    for _ in 0..100 {
        if client.get("/apis").await.status == code {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the token file was not reloaded (wanted {code})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_can_i_and_impersonation() {
    let env = start().await;
    let me = post_json(
        &env.bob,
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    )
    .await
    .expect(201)
    .json();
    assert_eq!(me["status"]["userInfo"]["username"], "bob");
    assert_eq!(
        me["status"]["userInfo"]["groups"],
        json!(["dev-team", "system:authenticated"])
    );
    let ask = |verb: &str, ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
               "spec": {"resourceAttributes": {"verb": verb, "group": "planspec.io", "resource": "executions", "namespace": ns}}})
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let no = post_json(&env.bob, path, ask("cancel", "dev"))
        .await
        .expect(201)
        .json();
    assert_eq!(no["status"]["allowed"], false);
    grant(&env, "dev", "canceller", &["cancel"], &["executions"]).await;
    let yes = post_json(&env.bob, path, ask("cancel", "dev"))
        .await
        .expect(201)
        .json();
    assert_eq!(yes["status"]["allowed"], true, "{yes}");
    assert!(yes["status"]["reason"]
        .as_str()
        .unwrap()
        .contains("RoleBinding \"dev/canceller\""));
    let elsewhere = post_json(&env.bob, path, ask("cancel", "prod"))
        .await
        .expect(201)
        .json();
    assert_eq!(elsewhere["status"]["allowed"], false);
    let admin = post_json(&env.admin, path, ask("delete", "prod"))
        .await
        .expect(201)
        .json();
    assert_eq!(admin["status"]["allowed"], true);

    // Impersonation needs the `impersonate` verb: bob may not, the admin may.
    let as_admin = env
        .bob
        .request(
            "GET",
            &format!("{PROD}/plans/p"),
            &[("impersonate-user", "admin")],
            Vec::new(),
        )
        .await
        .expect(403)
        .json();
    assert!(as_admin["message"]
        .as_str()
        .unwrap()
        .contains("cannot impersonate resource \"users\""));
    let reply = env
        .admin
        .request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &[
                ("impersonate-user", "bob"),
                ("impersonate-group", "dev-team"),
                ("content-type", "application/json"),
            ],
            b"{}".to_vec(),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(reply["status"]["userInfo"]["username"], "bob");
    env.admin
        .request(
            "GET",
            &format!("{PROD}/plans/p"),
            &[("impersonate-user", "bob")],
            Vec::new(),
        )
        .await
        .expect(403);
}

#[tokio::test]
async fn dev_mode_is_refused_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        planspec_store::SqliteStore::open(
            &dir.path().join("x.db"),
            planspec_store::SqliteOptions::default(),
        )
        .await
        .unwrap(),
    );
    let api = planspec_server::api::Api::new(
        store as Arc<dyn Store>,
        Arc::new(planspec_server::api::clock::SystemClock),
        planspec_server::api::ApiOptions::default(),
    );
    let config = ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        auth: AuthConfig::dev(),
        ..ServerConfig::default()
    };
    let error = planspec_server::http::Server::bind(&config, api)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("dev mode"), "{error}");
    assert!(error.contains("loopback"), "{error}");
}

fn role_json(name: &str, verbs: &[&str], resources: &[&str]) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Role", "metadata": {"name": name},
           "rules": [{"apiGroups": ["planspec.io"], "resources": resources, "verbs": verbs}]})
}

fn binding_json(name: &str, kind: &str, role: &str) -> Value {
    json!({"apiVersion": "planspec.io/v1alpha1", "kind": "RoleBinding", "metadata": {"name": name},
           "subjects": [{"kind": "User", "name": "bob"}],
           "roleRef": {"kind": kind, "name": role}})
}

fn assert_escalation(reply: common::Reply, want: &str) {
    let status = reply.expect(403).json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains(want), "{message}\nwanted: {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_objects_grant_only_what_their_writer_holds_or_may_escalate_or_bind() {
    let env = start().await;
    // bob may write Roles and RoleBindings in dev, and read Plans: nothing else.
    grant(
        &env,
        "dev",
        "rbac-writer",
        &["create", "update", "patch", "get"],
        &["roles", "rolebindings"],
    )
    .await;
    grant(&env, "dev", "plan-reader", &["get"], &["plans"]).await;
    let roles = format!("{DEV}/roles");
    let bindings = format!("{DEV}/rolebindings");

    // A Role granting what bob does not hold: refused, by every route.
    assert_escalation(
        env.bob.post(&roles, &role_json("wide", &["get", "cancel"], &["plans", "executions"])).await,
        "roles.planspec.io \"wide\" is forbidden: user \"bob\" is attempting to grant RBAC permissions not currently held: {APIGroups:[\"planspec.io\"], Resources:[\"plans\"], Verbs:[\"cancel\"]}; {APIGroups:[\"planspec.io\"], Resources:[\"executions\"], Verbs:[\"get\" \"cancel\"]}",
    );
    assert_escalation(
        env.bob
            .request(
                "PATCH",
                &format!("{roles}/wide?fieldManager=bob"),
                &[("content-type", "application/apply-patch+yaml")],
                role_json("wide", &["cancel"], &["executions"]).to_string().into_bytes(),
            )
            .await,
        "is attempting to grant RBAC permissions not currently held: {APIGroups:[\"planspec.io\"], Resources:[\"executions\"], Verbs:[\"cancel\"]}",
    );
    assert_escalation(
        env.bob
            .post(&roles, &role_json("all", &["get"], &["*"]))
            .await,
        "Resources:[\"*\"], Verbs:[\"get\"]",
    );
    // Binding the admin ClusterRole to himself: refused.
    assert_escalation(
        env.bob.post(&bindings, &binding_json("bob-admin", "ClusterRole", "admin")).await,
        "rolebindings.planspec.io \"bob-admin\" is forbidden: user \"bob\" is attempting to grant RBAC permissions not currently held: ",
    );
    // A role that does not exist cannot be bound without `bind`.
    assert_escalation(
        env.bob
            .post(&bindings, &binding_json("bob-later", "Role", "later"))
            .await,
        "cannot bind Role \"later\": it does not exist",
    );

    // What bob holds he may grant and bind; updating it to grant more is refused.
    env.bob
        .post(&roles, &role_json("narrow", &["get"], &["plans"]))
        .await
        .expect(201);
    env.bob
        .post(&bindings, &binding_json("bob-narrow", "Role", "narrow"))
        .await
        .expect(201);
    let mut narrow = env
        .bob
        .get(&format!("{roles}/narrow"))
        .await
        .expect(200)
        .json();
    narrow["rules"][0]["verbs"] = json!(["get", "delete"]);
    assert_escalation(
        env.bob.put(&format!("{roles}/narrow"), &narrow).await,
        "Resources:[\"plans\"], Verbs:[\"delete\"]}",
    );

    // With `escalate` on roles, the wider Role is allowed (binding admin still is not).
    grant(&env, "dev", "escalator", &["escalate"], &["roles"]).await;
    env.bob
        .post(
            &roles,
            &role_json("wide", &["get", "cancel"], &["plans", "executions"]),
        )
        .await
        .expect(201);
    assert_escalation(
        env.bob
            .post(
                &bindings,
                &binding_json("bob-admin", "ClusterRole", "admin"),
            )
            .await,
        "is attempting to grant RBAC permissions not currently held",
    );

    // With `bind` on clusterroles/admin (only that name), admin may be bound, edit not.
    env.admin
        .post(
            &roles,
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "Role", "metadata": {"name": "admin-binder"},
                    "rules": [{"apiGroups": ["planspec.io"], "resources": ["clusterroles"],
                               "resourceNames": ["admin"], "verbs": ["bind"]}]}),
        )
        .await
        .expect(201);
    env.admin
        .post(
            &bindings,
            &binding_json("admin-binder", "Role", "admin-binder"),
        )
        .await
        .expect(201);
    assert_escalation(
        env.bob
            .post(&bindings, &binding_json("bob-edit", "ClusterRole", "edit"))
            .await,
        "rolebindings.planspec.io \"bob-edit\" is forbidden",
    );
    env.bob
        .post(
            &bindings,
            &binding_json("bob-admin", "ClusterRole", "admin"),
        )
        .await
        .expect(201);
    // Now an admin of dev, bob may bind edit there, but not in prod.
    env.bob
        .post(&bindings, &binding_json("bob-edit", "ClusterRole", "edit"))
        .await
        .expect(201);
    assert_forbidden(
        env.bob
            .post(
                &format!("{PROD}/rolebindings"),
                &binding_json("bob-edit", "ClusterRole", "edit"),
            )
            .await,
        "create",
        "rolebindings",
        "prod",
    );
    // system:masters passes.
    env.admin
        .post(
            &format!("{PROD}/roles"),
            &role_json("anything", &["*"], &["*"]),
        )
        .await
        .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_listed_only_with_list_on_leases() {
    let env = start().await;
    let bob = &env.bob;
    assert_forbidden(
        bob.get(&format!("{DEV}/leases")).await,
        "list",
        "leases",
        "dev",
    );
    grant(&env, "dev", "lease-reader", &["list"], &["leases"]).await;
    let list = bob.get(&format!("{DEV}/leases")).await.expect(200).json();
    assert_eq!(list["kind"], "LeaseList");
    assert_eq!(list["items"], json!([]));
    assert_forbidden(
        bob.get(&format!("{PROD}/leases")).await,
        "list",
        "leases",
        "prod",
    );
    // Across namespaces needs a cluster-wide grant; the default `view` role has it.
    let all = bob.get(&format!("{G}/leases")).await.expect(403).json();
    assert_eq!(all["reason"], "Forbidden");
    env.admin
        .post(
            &format!("{G}/clusterrolebindings"),
            &json!({"apiVersion": "planspec.io/v1alpha1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": "bob-view"},
                    "subjects": [{"kind": "User", "name": "bob"}],
                    "roleRef": {"kind": "ClusterRole", "name": "view"}}),
        )
        .await
        .expect(201);
    bob.get(&format!("{G}/leases")).await.expect(200);
}
