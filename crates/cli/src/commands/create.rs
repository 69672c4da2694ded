//! `planspec create namespace NAME`.

use serde_json::json;

use crate::cli::{CreateArgs, CreateCommand};
use crate::client::Target;
use crate::error::{emit, Exit, Outcome};

use super::resources::server_error;

/// Creates what the subcommand names.
pub fn run(args: &CreateArgs) -> Outcome {
    match &args.what {
        CreateCommand::Namespace { client, name } => {
            let body = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": name },
            });
            super::resources::connect(client)
                .request(
                    "POST",
                    &Target::Namespace.collection(None),
                    "application/json",
                    Some(&body),
                )
                .map_err(server_error)?;
            emit(&format!("namespace/{name} created\n"))?;
            Ok(Exit::Success)
        }
    }
}
