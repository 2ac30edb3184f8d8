//! Announces document changes on the bus, so every node's caches drop what changed.
//!
//! Ports what `kzs_publish` does after each crossbar save: a `kapi_conf` `doc_created` / `doc_edited` /
//! `doc_deleted` message on the `configuration` exchange, routed `<event>.<database>.<type>.<id>`. A soft delete
//! is announced as `doc_deleted` with `Is-Soft-Deleted: true`. Publishing is best effort: the change is already
//! stored, so a bus failure is logged and the request still succeeds.

use kz_amqp::Bus;
use kz_amqp::kapi::conf::{DocChange, DocChangeKind};
use kz_amqp::kapi::{self, Flex, Routed};
use kz_data::Doc;
use serde_json::Value;
use tracing::{debug, warn};

use crate::Api;

/// The `App-Name` crossbar's messages carry.
pub const APP_NAME: &str = "crossbar";

/// Which change happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Edited,
    Deleted,
}

/// The change message for `doc` as stored in `database`.
pub fn message<K: DocChangeKind>(node: &str, database: &str, doc: &Doc) -> DocChange<K> {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
    let number = |k: &str| doc.get(k).and_then(Value::as_i64);
    let mut msg = DocChange::<K>::new(
        node,
        database,
        &text("pvt_type").unwrap_or_else(|| "undefined".into()),
        &text("_id").unwrap_or_default(),
    );
    msg.headers.app_name = APP_NAME.to_string();
    msg.rev = text("_rev");
    msg.account_id = text("pvt_account_id");
    // Kazoo 4.3 writes pvt_modified as Date-Created and pvt_created as Date-Modified; the wire keeps that.
    msg.date_created = number("pvt_modified").map(Flex::Value);
    msg.date_modified = number("pvt_created").map(Flex::Value);
    if doc.get("pvt_deleted") == Some(&Value::Bool(true)) {
        msg.is_soft_deleted = Some(Flex::Value(true));
    }
    msg
}

async fn send<M: Routed>(bus: &dyn Bus, msg: &M) {
    let key = msg.routing_key();
    match kapi::publish(bus, msg).await {
        Ok(()) => debug!(routing_key = %key, "doc change published"),
        Err(e) => warn!(routing_key = %key, error = %e, "doc change not published"),
    }
}

/// Publishes one change; never fails the caller.
pub async fn publish(bus: &dyn Bus, node: &str, change: Change, database: &str, doc: &Doc) {
    use kz_amqp::kapi::conf::{Created, Deleted, Edited};
    match change {
        Change::Created => send(bus, &message::<Created>(node, database, doc)).await,
        Change::Edited => send(bus, &message::<Edited>(node, database, doc)).await,
        Change::Deleted => send(bus, &message::<Deleted>(node, database, doc)).await,
    }
}

impl Api {
    /// Publishes a document change; a failure is logged, never returned.
    pub(crate) async fn publish(&self, change: Change, database: &str, doc: &Doc) {
        publish(self.ctx.bus.as_ref(), &self.ctx.node, change, database, doc).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kz_amqp::kapi::KapiMessage;
    use kz_amqp::kapi::conf::{Deleted, Edited};
    use serde_json::json;

    #[test]
    fn messages_carry_kazoos_fields_and_route() {
        let doc = json!({"_id": "abc", "_rev": "2-x", "pvt_type": "faxbox", "pvt_account_id": "acct",
                         "pvt_created": 63_000_000_000_i64, "pvt_modified": 63_000_000_100_i64})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let msg = message::<Edited>("faxd@n1", "faxes", &doc);
        msg.validate().expect("valid conf message");
        assert_eq!(msg.routing_key(), "doc_edited.faxes.faxbox.abc");
        let wire: Value = serde_json::from_slice(&msg.encode().expect("encode")).expect("json");
        assert_eq!(wire["Event-Category"], "configuration");
        assert_eq!(wire["Event-Name"], "doc_edited");
        assert_eq!(wire["App-Name"], "crossbar");
        assert_eq!(wire["ID"], "abc");
        assert_eq!(wire["Database"], "faxes");
        assert_eq!(wire["Type"], "faxbox");
        assert_eq!(wire["Rev"], "2-x");
        assert_eq!(wire["Account-ID"], "acct");
        assert_eq!(wire["Date-Created"], 63_000_000_100_i64);
        assert!(wire.get("Is-Soft-Deleted").is_none());

        let mut gone = doc.clone();
        gone.insert("pvt_deleted".into(), Value::Bool(true));
        let del = message::<Deleted>("faxd@n1", "account%2Fab%2Fcd%2Fef", &gone);
        assert_eq!(del.routing_key(), "doc_deleted.account%2Fab%2Fcd%2Fef.faxbox.abc");
        assert_eq!(del.is_soft_deleted, Some(Flex::Value(true)));
    }
}
