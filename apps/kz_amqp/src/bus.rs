//! Defines the `Bus` trait: the message-bus seam every app uses.
//!
//! It ports what Kazoo's `kz_amqp` gives its apps over RabbitMQ: exchanges (topic, direct, fanout), durable,
//! exclusive and shared (named) queues, bindings with topic wildcards, publishing with publisher confirms, and
//! consuming with ack / nack / requeue. Two backends honour it: [`crate::amqp::AmqpBus`] (RabbitMQ through
//! lapin, reconnecting by itself) and [`crate::local::LocalBus`] (in-process). One conformance suite
//! (`tests/tests/bus_conformance.rs`) runs the same bodies against both.
//!
//! Delivery is at least once: a message published with `Ok` is routed to every bound queue and stays there
//! until a consumer acks it; a nack with requeue, a dropped unacked delivery or a lost consumer connection puts
//! it back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// Exchange types, as AMQP 0-9-1 defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExchangeKind {
    /// Routing keys matched against binding patterns, `.`-separated words, `*` = one word, `#` = zero or more.
    Topic,
    /// Routing key equal to the binding key.
    Direct,
    /// Every bound queue, whatever the key.
    Fanout,
}

/// How a queue is declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// Survives a broker restart (with persistent messages).
    pub durable: bool,
    /// Owned by this connection: deleted when it closes; no other connection may consume it.
    pub exclusive: bool,
    /// Deleted when its last consumer goes away.
    pub auto_delete: bool,
}

impl QueueOptions {
    /// A durable queue shared by name across nodes (Kazoo's shared listeners).
    pub fn shared_durable() -> Self {
        QueueOptions { durable: true, exclusive: false, auto_delete: false }
    }
    /// A private, temporary queue (Kazoo's anonymous listener queues).
    pub fn exclusive() -> Self {
        QueueOptions { durable: false, exclusive: true, auto_delete: true }
    }
}

/// A message to publish. Kazoo's payload is a JSON object whose own fields carry its headers (`Server-ID`,
/// `Msg-ID` ...); AMQP properties here are transport details.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub body: Bytes,
    /// Defaults to `application/json` when empty.
    pub content_type: String,
    /// Survives a broker restart when routed to a durable queue.
    pub persistent: bool,
    pub correlation_id: Option<String>,
    pub reply_to: Option<String>,
    /// AMQP message headers (string values only).
    pub headers: BTreeMap<String, String>,
}

impl Message {
    /// A persistent JSON message.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Message { body: body.into(), content_type: "application/json".into(), persistent: true, ..Default::default() }
    }
}

/// A message received from a queue. It must be acked or nacked; dropping it without either returns it to the
/// queue (requeued) once the consumer goes away.
#[derive(Debug)]
pub struct Delivery {
    pub exchange: String,
    pub routing_key: String,
    pub message: Message,
    /// True when this message was delivered before and not acked.
    pub redelivered: bool,
    pub(crate) acker: Box<dyn Acker>,
}

impl Delivery {
    /// Builds a delivery; for backends.
    pub fn new(
        exchange: String,
        routing_key: String,
        message: Message,
        redelivered: bool,
        acker: Box<dyn Acker>,
    ) -> Self {
        Delivery { exchange, routing_key, message, redelivered, acker }
    }
    /// Confirms the message was handled: the broker forgets it.
    pub async fn ack(self) -> BusResult<()> {
        self.acker.ack().await
    }
    /// Rejects the message: back to the queue when `requeue`, else dropped (or dead-lettered by policy).
    pub async fn nack(self, requeue: bool) -> BusResult<()> {
        self.acker.nack(requeue).await
    }
}

/// How a backend settles a delivery.
#[async_trait]
pub trait Acker: Send + Sync + std::fmt::Debug {
    async fn ack(&self) -> BusResult<()>;
    async fn nack(&self, requeue: bool) -> BusResult<()>;
}

/// Errors of bus operations.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The exchange or queue does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Declared again with different options, or an exclusive queue used from elsewhere.
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// The broker refused or did not confirm a publish (a nack from the broker).
    #[error("publish not confirmed: {0}")]
    NotConfirmed(String),
    /// No connection to the broker right now; the operation may be retried.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// A request/reply call got no reply in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A message failed to decode or validate.
    #[error("invalid message: {0}")]
    Invalid(String),
}

pub type BusResult<T> = Result<T, BusError>;

/// A stream of deliveries from one queue.
pub type DeliveryStream = BoxStream<'static, Delivery>;

/// The message bus.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// A short name for logs and the health endpoint (`amqp`, `local`).
    fn backend(&self) -> &'static str;

    /// Declares an exchange (idempotent when the kind matches).
    async fn declare_exchange(&self, name: &str, kind: ExchangeKind) -> BusResult<()>;
    /// Declares a queue and returns its name; an empty `name` asks for a generated unique name.
    async fn declare_queue(&self, name: &str, opts: QueueOptions) -> BusResult<String>;
    async fn delete_queue(&self, name: &str) -> BusResult<()>;
    /// Binds `queue` to `exchange` with `routing_key` (a pattern on topic exchanges).
    async fn bind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()>;
    async fn unbind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()>;
    /// Publishes and returns once the broker confirmed it (routed to every bound queue, or dropped when none
    /// is bound). The empty exchange `""` is the default exchange: the routing key names the queue.
    async fn publish(&self, exchange: &str, routing_key: &str, message: Message) -> BusResult<()>;
    /// Starts consuming `queue` with at most `prefetch` unacked deliveries in flight.
    async fn consume(&self, queue: &str, prefetch: u16) -> BusResult<DeliveryStream>;
    /// Messages waiting in `queue` (not counting unacked deliveries).
    async fn queue_len(&self, queue: &str) -> BusResult<u32>;
}
