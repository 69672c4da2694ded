//! Who is acting: the identity an authenticated request (or the runtime itself) carries.
//!
//! The API server's authentication puts a [`UserInfo`] on every request; authorization, the
//! audit log, Execution creators and journal entries read it from there.

use serde::{Deserialize, Serialize};

/// The name of the identity a request gets when the server runs in dev mode on loopback and no
/// token was sent.
pub const DEV_ANONYMOUS: &str = "system:anonymous-dev";
/// The identity of the control plane's own work (controllers, the runtime's drivers).
pub const SYSTEM_CONTROL_PLANE: &str = "system:planspec";
/// The group whose members pass every authorization check (the bootstrap admin is in it).
pub const GROUP_MASTERS: &str = "system:masters";
/// The group every authenticated identity is in.
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The annotation naming the user who created an Execution: set by the API server from the
/// authenticated identity (a value sent by a client is replaced), never changed afterwards.
pub const CREATED_BY_ANNOTATION: &str = "planspec.io/created-by";

/// An identity: a user, a service account or a system component, with its groups.
/// Serialised like Kubernetes' `UserInfo` (`username`, `groups`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// The name, unique among identities (`alice`, `system:serviceaccount:ci:deployer`).
    pub username: String,
    /// The groups it belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl UserInfo {
    /// An identity with these groups.
    pub fn new(
        username: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        UserInfo {
            username: username.into(),
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }

    /// The control plane's own identity, in [`GROUP_MASTERS`].
    pub fn control_plane() -> Self {
        UserInfo::new(SYSTEM_CONTROL_PLANE, [GROUP_MASTERS])
    }

    /// Whether the identity is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
