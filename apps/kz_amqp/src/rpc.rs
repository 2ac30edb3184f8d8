//! Sends Kazoo requests and waits for their replies over the `targeted` exchange.
//!
//! It ports `kz_amqp_worker:call/3` and the `Server-ID` convention of `kz_api`: a caller owns an exclusive
//! queue bound to the `targeted` direct exchange under its own name, puts that name in the request's
//! `Server-ID` and a fresh `Msg-ID` beside it; whoever answers publishes to `targeted` with the request's
//! `Server-ID` as routing key and copies its `Msg-ID`, which is how the caller pairs the reply with its
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::bus::{Bus, BusError, BusResult, ExchangeKind, Message, QueueOptions};
use crate::kapi::TARGETED_EXCHANGE;

/// The JSON field naming the queue replies go to.
pub const SERVER_ID: &str = "Server-ID";

/// The JSON field pairing a reply with its request.
pub const MSG_ID: &str = "Msg-ID";

/// Replies awaited by `Msg-ID`.
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Map<String, Value>>>>>;

/// Prefetch of the reply queue: replies are handled at once, so this only bounds a burst.
const REPLY_PREFETCH: u16 = 100;

/// A request/reply client: one exclusive reply queue (its `Server-ID`) and a task pairing replies with
/// the calls waiting for them. Dropping it stops the task and deletes the queue.
pub struct RpcClient {
    bus: Arc<dyn Bus>,
    server_id: String,
    pending: Pending,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient").field("server_id", &self.server_id).finish()
    }
}

impl RpcClient {
    /// Declares the `targeted` exchange and a server-named exclusive queue bound to it under its own name,
    /// and starts listening for replies.
    pub async fn new(bus: Arc<dyn Bus>) -> BusResult<RpcClient> {
        bus.declare_exchange(TARGETED_EXCHANGE, ExchangeKind::Direct).await?;
        let server_id = bus.declare_queue("", QueueOptions::exclusive()).await?;
        bus.bind(&server_id, TARGETED_EXCHANGE, &server_id).await?;
        let mut replies = bus.consume(&server_id, REPLY_PREFETCH).await?;
        let pending: Pending = Arc::default();
        let waiting = pending.clone();
        let queue = server_id.clone();
        let listener = tokio::spawn(async move {
            while let Some(delivery) = replies.next().await {
                let reply = serde_json::from_slice::<Map<String, Value>>(&delivery.message.body);
                // A reply nobody can use is dropped: it has no one else to go to.
                if let Err(error) = delivery.ack().await {
                    debug!(%queue, %error, "reply not acked");
                }
                let reply = match reply {
                    Ok(reply) => reply,
                    Err(error) => {
                        warn!(%queue, %error, "reply is not a JSON object; dropped");
                        continue;
                    }
                };
                let Some(msg_id) = reply.get(MSG_ID).and_then(Value::as_str) else {
                    debug!(%queue, "reply without Msg-ID; dropped");
                    continue;
                };
                let waiter = waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(msg_id);
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(reply);
                    }
                    None => {
                        debug!(%queue, msg_id, "reply for no pending call (late or repeated); dropped")
                    }
                }
            }
            debug!(%queue, "reply queue closed");
        });
        Ok(RpcClient { bus, server_id, pending, listener })
    }

    /// The reply queue's name: the `Server-ID` this client puts in its requests.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Publishes `payload` to `exchange` with `routing_key`, adding `Server-ID` and a fresh `Msg-ID`, and
    /// returns the first reply carrying that `Msg-ID`, or [`BusError::Timeout`].
    pub async fn call(
        &self,
        exchange: &str,
        routing_key: &str,
        mut payload: Map<String, Value>,
        timeout: Duration,
    ) -> BusResult<Map<String, Value>> {
        let msg_id = kz_core::ids::new_id();
        payload.insert(SERVER_ID.into(), Value::String(self.server_id.clone()));
        payload.insert(MSG_ID.into(), Value::String(msg_id.clone()));
        let body = serde_json::to_vec(&payload).map_err(|e| BusError::Invalid(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(msg_id.clone(), tx);
        // Forgets the call however this function ends (error, timeout, or the caller giving up).
        let _forget = Forget { pending: &self.pending, msg_id: &msg_id };
        let waited = tokio::time::timeout(timeout, async {
            self.bus.publish(exchange, routing_key, Message::json(body)).await?;
            rx.await.map_err(|_| BusError::Unavailable("the reply listener stopped".into()))
        })
        .await;
        match waited {
            Ok(result) => result,
            Err(_) => Err(BusError::Timeout(timeout)),
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Map<String, Value>>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for RpcClient {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

struct Forget<'a> {
    pending: &'a Pending,
    msg_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(self.msg_id);
    }
}

/// Answers `request`: publishes `reply` to `targeted` with the request's `Server-ID` as routing key and
/// its `Msg-ID` copied in, as Kazoo's responders do.
pub async fn reply(bus: &dyn Bus, request: &Map<String, Value>, mut reply: Map<String, Value>) -> BusResult<()> {
    let server_id = request
        .get(SERVER_ID)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| BusError::Invalid("request has no Server-ID to reply to".into()))?;
    if let Some(msg_id) = request.get(MSG_ID) {
        reply.insert(MSG_ID.into(), msg_id.clone());
    }
    let body = serde_json::to_vec(&reply).map_err(|e| BusError::Invalid(e.to_string()))?;
    bus.publish(TARGETED_EXCHANGE, server_id, Message::json(body)).await
}
