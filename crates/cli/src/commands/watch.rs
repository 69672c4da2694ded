//! `planspec watch KIND [NAME]`: the current objects as `ADDED` events, then every change.

use crate::cli::WatchArgs;
use crate::client::encode;
use crate::error::Outcome;

use super::get::{watch, with_query};
use super::resources::{connect, target};

/// Streams events until interrupted or the server ends the watch.
pub fn run(args: &WatchArgs) -> Outcome {
    let target = target(&args.kind, "watch")?;
    let client = connect(&args.client);
    let namespace = (!args.all_namespaces).then_some(args.client.ns());
    let mut query = vec!["watch=true".to_owned()];
    if let Some(selector) = &args.selector {
        query.push(format!("labelSelector={}", encode(selector)));
    }
    if let Some(name) = &args.name {
        query.push(format!(
            "fieldSelector={}",
            encode(&format!("metadata.name={name}"))
        ));
    }
    let path = with_query(&target.collection(namespace), &query);
    let show_namespace = args.all_namespaces && target.namespaced();
    watch(
        &client,
        &path,
        target,
        args.output,
        show_namespace,
        false,
        Vec::new(),
    )
}
