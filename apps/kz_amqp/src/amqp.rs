//! Talks to RabbitMQ through lapin: the broker backend of the [`Bus`] trait, reconnecting by itself.
//!
//! It ports what Kazoo's `kz_amqp_connection` / `kz_amqp_channel` / `kz_amqp_assignments` do for its apps:
//! one connection per node, publisher confirms on a publishing channel, one channel per consumer with its
//! own `basic.qos`, and recovery when the broker goes away. While the connection is down, operations wait
//! (up to [`AmqpConfig::op_timeout`], then [`BusError::Unavailable`]); a supervisor task reconnects with
//! backoff (Kazoo's 0.5 s doubling to 5 s), re-declares every exchange, queue and binding declared through
//! this bus, and restarts every consumer so the [`DeliveryStream`]s the apps hold keep yielding.
//!
//! Guarantees: a publish that returned `Ok` was confirmed by the broker (a publish whose confirm was lost
//! with the connection is sent again, so a consumer may see it twice: delivery is at least once). Acks of
//! deliveries received on a connection that has since died are ignored, since the broker requeues those
//! messages itself. Queues declared with an empty name get a client-chosen unique name so that an exclusive
//! queue (a `Server-ID`) keeps its name across reconnections.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ErrorKind, Event};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::bus::{Acker, Bus, BusError, BusResult, Delivery, DeliveryStream, ExchangeKind, Message, QueueOptions};
use crate::local::{DEFAULT_CONTENT_TYPE, check_name, generated_queue_name};

/// Timeouts and backoff of an [`AmqpBus`].
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long an operation (publish, declare ...) waits for a live connection and the broker's answer
    /// before it fails with [`BusError::Unavailable`].
    pub op_timeout: Duration,
    /// First delay between reconnection attempts; doubled after each failure.
    pub reconnect_initial: Duration,
    /// Longest delay between reconnection attempts.
    pub reconnect_max: Duration,
    /// Shown in RabbitMQ's connection list.
    pub connection_name: String,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            connect_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(30),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(5),
            connection_name: "faxbox".into(),
        }
    }
}

/// How often the supervisor checks the connection state besides listening for its error events.
const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(500);
/// How often a re-declaration of an exclusive queue is retried while the broker still holds the old one.
const LOCKED_RETRIES: u32 = 10;
/// Retries of an operation that failed while the connection still looked healthy.
const FAULT_RETRIES: u32 = 5;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn short(what: &str, value: &str) -> BusResult<ShortString> {
    check_name(what, value)?;
    ShortString::try_new(value).map_err(|e| BusError::Invalid(format!("{what}: {e}")))
}

/// The RabbitMQ bus. Cheap to clone; clones share one connection, closed when the last clone and the last
/// delivery stream are dropped (or by [`AmqpBus::close`]).
#[derive(Clone)]
pub struct AmqpBus {
    shared: Arc<Shared>,
    guard: Arc<Guard>,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus").field("uri", &redact(&self.shared.uri)).finish()
    }
}

/// The URI without its password, for logs.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &uri[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &uri[..scheme + 3], &uri[at..])
        }
        _ => uri.to_string(),
    }
}

/// Closes the connection when the last handle goes away.
struct Guard {
    shutdown: CancellationToken,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What the supervisor, the operations and the consumer tasks share.
struct Shared {
    uri: String,
    cfg: AmqpConfig,
    /// The live connection, `None` while reconnecting.
    live: watch::Sender<Option<Arc<Live>>>,
    topology: Mutex<Topology>,
    shutdown: CancellationToken,
    generations: AtomicU64,
    reconnects: AtomicU64,
}

/// One connection and its shared channels.
struct Live {
    generation: u64,
    connection: Connection,
    /// The publishing channel (confirm mode), replaced when the broker closes it.
    publisher: Mutex<Option<Channel>>,
    publisher_open: tokio::sync::Mutex<()>,
    /// The channel for declarations; held while an operation runs, so a refused operation (which closes
    /// the channel) cannot fail another one.
    admin: tokio::sync::Mutex<Option<Channel>>,
    /// Cancelled once this connection is known to be dead.
    lost: CancellationToken,
}

/// Everything declared through this bus, re-declared after a reconnection.
#[derive(Debug, Clone, Default)]
struct Topology {
    exchanges: Vec<(String, ExchangeKind)>,
    queues: Vec<(String, QueueOptions)>,
    /// (queue, exchange, routing key)
    bindings: Vec<(String, String, String)>,
    /// Consumers this bus runs, per queue: an auto-delete queue is forgotten when its last one stops.
    consumers: HashMap<String, usize>,
}

impl Topology {
    fn forget_queue(&mut self, queue: &str) {
        self.queues.retain(|(name, _)| name != queue);
        self.bindings.retain(|(q, _, _)| q != queue);
    }
}

/// How an operation failed.
enum Fault {
    /// The broker refused it (a channel-level error): reported to the caller.
    Refused(BusError),
    /// The connection or the channel failed: retried, after a reconnection if needed.
    Transport(String),
}

fn soft_error(e: &lapin::Error) -> Option<AMQPSoftError> {
    match e.kind() {
        ErrorKind::ProtocolError(amqp) => match amqp.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}

fn classify(e: &lapin::Error) -> Fault {
    if let ErrorKind::ProtocolError(amqp) = e.kind()
        && let AMQPErrorKind::Soft(soft) = amqp.kind()
    {
        let text = amqp.get_message().to_string();
        return Fault::Refused(match soft {
            AMQPSoftError::NOTFOUND => BusError::NotFound(text),
            AMQPSoftError::PRECONDITIONFAILED | AMQPSoftError::RESOURCELOCKED | AMQPSoftError::ACCESSREFUSED => {
                BusError::Precondition(text)
            }
            AMQPSoftError::CONTENTTOOLARGE => BusError::Invalid(text),
            AMQPSoftError::NOROUTE | AMQPSoftError::NOCONSUMERS => BusError::NotConfirmed(text),
        });
    }
    Fault::Transport(e.to_string())
}

fn lapin_kind(kind: ExchangeKind) -> lapin::ExchangeKind {
    match kind {
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
    }
}

/// Kazoo declares its exchanges neither durable nor auto-delete; declaring them alike keeps the two
/// compatible on a shared broker.
fn exchange_options() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions { durable: false, auto_delete: false, ..ExchangeDeclareOptions::default() }
}

fn queue_options(opts: &QueueOptions) -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: false,
        durable: opts.durable,
        exclusive: opts.exclusive,
        auto_delete: opts.auto_delete,
        nowait: false,
    }
}

fn properties(message: &Message) -> BusResult<BasicProperties> {
    let content_type =
        if message.content_type.is_empty() { DEFAULT_CONTENT_TYPE } else { message.content_type.as_str() };
    let mut props = BasicProperties::default()
        .with_content_type(short("content type", content_type)?)
        .with_delivery_mode(if message.persistent { 2 } else { 1 });
    if let Some(id) = &message.correlation_id {
        props = props.with_correlation_id(short("correlation id", id)?);
    }
    if let Some(reply_to) = &message.reply_to {
        props = props.with_reply_to(short("reply-to", reply_to)?);
    }
    if !message.headers.is_empty() {
        let mut table = FieldTable::default();
        for (key, value) in &message.headers {
            table.insert(short("header name", key)?, AMQPValue::LongString(LongString::from(value.as_bytes())));
        }
        props = props.with_headers(table);
    }
    Ok(props)
}

fn header_text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        AMQPValue::LongInt(n) => Some(n.to_string()),
        AMQPValue::LongLongInt(n) => Some(n.to_string()),
        AMQPValue::ShortInt(n) => Some(n.to_string()),
        _ => None,
    }
}

fn to_delivery(delivery: lapin::message::Delivery) -> Delivery {
    let lapin::message::Delivery { exchange, routing_key, redelivered, properties, data, acker, .. } = delivery;
    let headers: BTreeMap<String, String> = properties
        .headers()
        .as_ref()
        .map(|table| {
            table.inner().iter().filter_map(|(k, v)| header_text(v).map(|text| (k.to_string(), text))).collect()
        })
        .unwrap_or_default();
    let message = Message {
        body: Bytes::from(data),
        content_type: properties.content_type().as_ref().map(ToString::to_string).unwrap_or_default(),
        persistent: *properties.delivery_mode() == Some(2),
        correlation_id: properties.correlation_id().as_ref().map(ToString::to_string),
        reply_to: properties.reply_to().as_ref().map(ToString::to_string),
        headers,
    };
    let acker = AmqpAcker { acker, settled: AtomicBool::new(false) };
    Delivery::new(exchange.to_string(), routing_key.to_string(), message, redelivered, Box::new(acker))
}

impl AmqpBus {
    /// Connects to `uri` (`amqp://user:pass@host:port/vhost`) with the default [`AmqpConfig`].
    pub async fn connect(uri: &str) -> BusResult<AmqpBus> {
        Self::connect_with(uri, AmqpConfig::default()).await
    }

    /// Connects to `uri`; fails with [`BusError::Unavailable`] when the first connection cannot be made.
    /// Later losses are recovered in the background.
    pub async fn connect_with(uri: &str, cfg: AmqpConfig) -> BusResult<AmqpBus> {
        let (live_tx, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            uri: uri.to_string(),
            cfg,
            live: live_tx,
            topology: Mutex::default(),
            shutdown: CancellationToken::new(),
            generations: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        let live = shared
            .establish()
            .await
            .map_err(|e| BusError::Unavailable(format!("cannot connect to {}: {e}", redact(&shared.uri))))?;
        info!(uri = %redact(&shared.uri), "amqp connected");
        shared.live.send_replace(Some(live.clone()));
        tokio::spawn(shared.clone().supervise(live));
        let guard = Arc::new(Guard { shutdown: shared.shutdown.clone() });
        Ok(AmqpBus { shared, guard })
    }

    /// Deletes an exchange and forgets it (maintenance and tests; apps never delete Kazoo's exchanges).
    pub async fn delete_exchange(&self, name: &str) -> BusResult<()> {
        let exchange = short("exchange name", name)?;
        {
            let mut topology = lock(&self.shared.topology);
            topology.exchanges.retain(|(n, _)| n != name);
            topology.bindings.retain(|(_, e, _)| e != name);
        }
        let result = self
            .shared
            .admin("delete exchange", |channel| {
                let exchange = exchange.clone();
                async move { channel.exchange_delete(exchange, lapin::options::ExchangeDeleteOptions::default()).await }
            })
            .await;
        match result {
            Ok(()) | Err(BusError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How many times the connection was lost and made again since [`AmqpBus::connect`].
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// True while a connection to the broker is up.
    pub fn is_connected(&self) -> bool {
        self.shared.live.borrow().as_ref().is_some_and(|live| !live.lost.is_cancelled())
    }

    /// Closes the connection now: consumers' streams end, waiting operations fail with `Unavailable`.
    pub async fn close(&self) {
        self.shared.shutdown.cancel();
        let live = self.shared.live.send_replace(None);
        if let Some(live) = live {
            let _ = tokio::time::timeout(Duration::from_secs(5), live.connection.close(200, "shutdown".into())).await;
        }
    }
}

impl Shared {
    /// Opens a connection and re-declares the recorded topology on it.
    async fn establish(&self) -> Result<Arc<Live>, String> {
        let props = ConnectionProperties::default().with_connection_name(self.cfg.connection_name.clone().into());
        let connection = tokio::time::timeout(self.cfg.connect_timeout, Connection::connect(&self.uri, props))
            .await
            .map_err(|_| format!("no connection within {:?}", self.cfg.connect_timeout))?
            .map_err(|e| e.to_string())?;
        let live = Arc::new(Live {
            generation: self.generations.fetch_add(1, Ordering::Relaxed) + 1,
            connection,
            publisher: Mutex::new(None),
            publisher_open: tokio::sync::Mutex::new(()),
            admin: tokio::sync::Mutex::new(None),
            lost: CancellationToken::new(),
        });
        self.restore(&live).await?;
        Ok(live)
    }

    /// Re-declares exchanges, queues and bindings. A refused declaration is logged and skipped; a
    /// transport failure fails the whole attempt (the supervisor retries).
    async fn restore(&self, live: &Live) -> Result<(), String> {
        let topology = lock(&self.topology).clone();
        let open = || async { live.connection.create_channel().await.map_err(|e| e.to_string()) };
        let mut channel = open().await?;
        for (name, kind) in &topology.exchanges {
            let result = channel
                .exchange_declare(name.as_str().into(), lapin_kind(*kind), exchange_options(), FieldTable::default())
                .await;
            if let Err(e) = result {
                let Fault::Refused(refused) = classify(&e) else {
                    return Err(e.to_string());
                };
                warn!(exchange = %name, error = %refused, "exchange not re-declared after reconnect");
                channel = open().await?;
            }
        }
        // Exclusive queues may still be held by the old connection until the broker notices it is gone:
        // those are retried in rounds, so one slow queue does not delay the others.
        let mut pending: Vec<&(String, QueueOptions)> = topology.queues.iter().collect();
        for round in 0..=LOCKED_RETRIES {
            let mut locked = Vec::new();
            for entry in pending {
                let (name, opts) = entry;
                let result =
                    channel.queue_declare(name.as_str().into(), queue_options(opts), FieldTable::default()).await;
                let Err(e) = result else { continue };
                let Fault::Refused(refused) = classify(&e) else {
                    return Err(e.to_string());
                };
                channel = open().await?;
                if soft_error(&e) == Some(AMQPSoftError::RESOURCELOCKED) && round < LOCKED_RETRIES {
                    locked.push(entry);
                } else {
                    warn!(queue = %name, error = %refused, "queue not re-declared after reconnect");
                }
            }
            if locked.is_empty() {
                break;
            }
            pending = locked;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for (queue, exchange, key) in &topology.bindings {
            let result = channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await;
            if let Err(e) = result {
                let Fault::Refused(refused) = classify(&e) else {
                    return Err(e.to_string());
                };
                warn!(%queue, %exchange, routing_key = %key, error = %refused, "binding not restored after reconnect");
                channel = open().await?;
            }
        }
        let _ = channel.close(200, "restored".into()).await;
        Ok(())
    }

    /// Watches the connection and replaces it, with backoff, whenever it dies.
    async fn supervise(self: Arc<Self>, mut live: Arc<Live>) {
        loop {
            self.wait_lost(&live).await;
            live.lost.cancel();
            self.live.send_replace(None);
            if self.shutdown.is_cancelled() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), live.connection.close(200, "shutdown".into())).await;
                debug!("amqp connection closed");
                return;
            }
            warn!(generation = live.generation, "amqp connection lost, reconnecting");
            drop(live);
            let mut delay = self.cfg.reconnect_initial;
            live = loop {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                match self.establish().await {
                    Ok(new) => break new,
                    Err(error) => {
                        debug!(%error, retry_in = ?delay, "amqp reconnect failed");
                        delay = (delay * 2).min(self.cfg.reconnect_max);
                    }
                }
            };
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            info!(generation = live.generation, "amqp connection restored");
            self.live.send_replace(Some(live.clone()));
        }
    }

    async fn wait_lost(&self, live: &Live) {
        let mut events = Box::pin(live.connection.events_listener());
        let mut events_open = true;
        let mut tick = tokio::time::interval(HEALTH_CHECK_EVERY);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = live.lost.cancelled() => return,
                event = events.next(), if events_open => match event {
                    Some(Event::Error(error)) => {
                        debug!(%error, "amqp connection error");
                        return;
                    }
                    Some(_) => {}
                    None => events_open = false,
                },
                _ = tick.tick() => {
                    if !live.connection.status().connected() {
                        return;
                    }
                }
            }
        }
    }

    /// The live connection, waiting for one until `deadline` (`None`: until shutdown).
    async fn wait_live(&self, deadline: Option<Instant>) -> BusResult<Arc<Live>> {
        let mut rx = self.live.subscribe();
        let wait = async {
            rx.wait_for(|live| live.as_ref().is_some_and(|l| !l.lost.is_cancelled())).await.ok().and_then(|v| v.clone())
        };
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        tokio::select! {
            _ = self.shutdown.cancelled() => Err(BusError::Unavailable("the bus is closed".into())),
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)) => {
                Err(BusError::Unavailable(format!("no connection to the broker for {:?}", self.cfg.op_timeout)))
            }
            live = wait => live.ok_or_else(|| BusError::Unavailable("the bus is closed".into())),
        }
    }

    /// Decides what follows a transport failure: wait for a reconnection when the connection is dead,
    /// retry a few times when only the channel failed.
    async fn after_fault(&self, live: &Live, error: &str, attempts: &mut u32, what: &str) -> BusResult<()> {
        *attempts += 1;
        if !live.connection.status().connected() {
            live.lost.cancel();
            return Ok(());
        }
        if *attempts >= FAULT_RETRIES {
            return Err(BusError::Unavailable(format!("{what}: {error}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }

    /// Runs one declaration-type operation on the admin channel, across reconnections.
    async fn admin<T, F, Fut>(&self, what: &str, op: F) -> BusResult<T>
    where
        F: Fn(Channel) -> Fut,
        Fut: Future<Output = lapin::Result<T>>,
    {
        let deadline = Instant::now() + self.cfg.op_timeout;
        let mut attempts = 0;
        loop {
            let live = self.wait_live(Some(deadline)).await?;
            let mut slot = live.admin.lock().await;
            let channel = match slot.as_ref().filter(|c| c.status().connected()) {
                Some(channel) => channel.clone(),
                None => match live.connection.create_channel().await {
                    Ok(channel) => {
                        *slot = Some(channel.clone());
                        channel
                    }
                    Err(e) => {
                        drop(slot);
                        self.after_fault(&live, &e.to_string(), &mut attempts, what).await?;
                        continue;
                    }
                },
            };
            let result = tokio::select! {
                result = op(channel) => Some(result),
                _ = live.lost.cancelled() => None,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(BusError::Unavailable(format!("{what}: no answer from the broker")));
                }
            };
            drop(slot);
            match result {
                None => continue,
                Some(Ok(value)) => return Ok(value),
                Some(Err(e)) => match classify(&e) {
                    Fault::Refused(refused) => return Err(refused),
                    Fault::Transport(error) => self.after_fault(&live, &error, &mut attempts, what).await?,
                },
            }
        }
    }

    async fn publish(&self, exchange: &str, routing_key: &str, message: &Message) -> BusResult<()> {
        let ex = short("exchange name", exchange)?;
        let key = short("routing key", routing_key)?;
        let props = properties(message)?;
        let deadline = Instant::now() + self.cfg.op_timeout;
        let mut attempts = 0;
        let mut refusals = 0;
        loop {
            let live = self.wait_live(Some(deadline)).await?;
            let channel = match live.publisher().await {
                Ok(channel) => channel,
                Err(e) => {
                    self.after_fault(&live, &e.to_string(), &mut attempts, "publish").await?;
                    continue;
                }
            };
            let attempt = async {
                channel
                    .basic_publish(
                        ex.clone(),
                        key.clone(),
                        BasicPublishOptions::default(),
                        &message.body,
                        props.clone(),
                    )
                    .await?
                    .await
            };
            let result = tokio::select! {
                result = attempt => Some(result),
                _ = live.lost.cancelled() => None,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(BusError::Unavailable(format!(
                        "publish to '{exchange}' not confirmed within {:?}", self.cfg.op_timeout
                    )));
                }
            };
            match result {
                // The connection died before the confirm: send again on the next one.
                None => continue,
                Some(Ok(confirmation)) if confirmation.is_ack() => return Ok(()),
                Some(Ok(confirmation)) if confirmation.is_nack() => {
                    return Err(BusError::NotConfirmed(format!(
                        "the broker nacked a publish to '{exchange}' with key '{routing_key}'"
                    )));
                }
                Some(Ok(_)) => {
                    return Err(BusError::NotConfirmed("confirms are off on the publishing channel".into()));
                }
                Some(Err(e)) => match classify(&e) {
                    // A refusal closes the shared publishing channel for every publish in flight on it:
                    // retry once on a fresh channel, so only the publish at fault reports it.
                    Fault::Refused(refused) => {
                        refusals += 1;
                        if refusals >= 2 {
                            return Err(refused);
                        }
                    }
                    Fault::Transport(error) => self.after_fault(&live, &error, &mut attempts, "publish").await?,
                },
            }
        }
    }

    /// Opens a channel with `basic.qos(prefetch)` and a consumer on `queue`.
    async fn open_consumer(
        &self,
        queue: &str,
        prefetch: u16,
        deadline: Option<Instant>,
    ) -> BusResult<(Arc<Live>, Channel, lapin::Consumer)> {
        let mut attempts = 0;
        let mut locked = 0;
        loop {
            let live = self.wait_live(deadline).await?;
            let attempt = async {
                let channel = live.connection.create_channel().await?;
                channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
                let consumer = channel
                    .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
                    .await?;
                Ok::<_, lapin::Error>((channel, consumer))
            };
            let result = tokio::select! {
                result = attempt => Some(result),
                _ = live.lost.cancelled() => None,
            };
            match result {
                None => continue,
                Some(Ok((channel, consumer))) => return Ok((live, channel, consumer)),
                Some(Err(e)) => match classify(&e) {
                    Fault::Refused(refused) => {
                        // After a reconnection the exclusive queue may still be held by the old connection.
                        if deadline.is_none()
                            && soft_error(&e) == Some(AMQPSoftError::RESOURCELOCKED)
                            && locked < LOCKED_RETRIES
                        {
                            locked += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                        return Err(refused);
                    }
                    Fault::Transport(error) => {
                        if deadline.is_none() {
                            // A restart waits as long as it takes; only the first start reports failures.
                            attempts = 0;
                        }
                        self.after_fault(&live, &error, &mut attempts, "consume").await?;
                    }
                },
            }
        }
    }

    /// Whether the queue of a consumer the broker cancelled was deleted. A broker that is stopping also cancels
    /// its consumers and, until it closes the connection, answers that its durable queues are not found ("home
    /// node ... is down or inaccessible"): that answer, or a connection lost meanwhile, means "not deleted", and
    /// a plain "not found" must hold on a second look.
    async fn queue_deleted(&self, live: &Live, queue: &str) -> bool {
        for look in 0..2 {
            if look > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if live.lost.is_cancelled() || !live.connection.status().connected() {
                live.lost.cancel();
                return false;
            }
            match self.queue_len(queue).await {
                Err(BusError::NotFound(text)) if !text.contains("down or inaccessible") => {}
                _ => return false,
            }
        }
        true
    }

    /// Forwards deliveries from the broker to the app's stream, restarting the consumer after every
    /// reconnection, until the app drops the stream, the queue is deleted, or the bus shuts down.
    async fn run_consumer(
        self: Arc<Self>,
        _guard: Arc<Guard>,
        queue: String,
        prefetch: u16,
        tx: mpsc::Sender<Delivery>,
        first: (Arc<Live>, Channel, lapin::Consumer),
    ) {
        enum End {
            Dropped,
            Lost,
            Stopped,
        }
        let mut current = Some(first);
        loop {
            let (live, channel, mut consumer) = match current.take() {
                Some(open) => open,
                None => {
                    let restart = tokio::select! {
                        result = self.open_consumer(&queue, prefetch, None) => result,
                        _ = tx.closed() => break,
                    };
                    match restart {
                        Ok(open) => {
                            info!(%queue, "amqp consumer resumed");
                            open
                        }
                        Err(error) => {
                            warn!(%queue, %error, "amqp consumer cannot resume; its stream ends");
                            break;
                        }
                    }
                }
            };
            let end = loop {
                tokio::select! {
                    biased;
                    _ = tx.closed() => break End::Dropped,
                    _ = self.shutdown.cancelled() => break End::Dropped,
                    _ = live.lost.cancelled() => break End::Lost,
                    next = consumer.next() => match next {
                        Some(Ok(delivery)) => {
                            if tx.send(to_delivery(delivery)).await.is_err() {
                                break End::Dropped;
                            }
                        }
                        Some(Err(error)) => {
                            debug!(%queue, %error, "amqp consumer failed");
                            break End::Stopped;
                        }
                        None => break End::Stopped,
                    },
                }
            };
            match end {
                End::Dropped => {
                    // Closing the channel returns its unacked deliveries to the queue.
                    let _ = channel.close(200, "consumer stopped".into()).await;
                    break;
                }
                End::Lost => continue,
                End::Stopped => {
                    drop(channel);
                    // Give the supervisor a moment to see a dying connection before deciding.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if live.lost.is_cancelled() || !live.connection.status().connected() {
                        live.lost.cancel();
                        continue;
                    }
                    // The broker cancelled the consumer: the queue is gone, or it is a transient fault.
                    if self.queue_deleted(&live, &queue).await {
                        debug!(%queue, "queue deleted; consumer stream ends");
                        break;
                    }
                    continue;
                }
            }
        }
        let mut topology = lock(&self.topology);
        let remaining = topology.consumers.get_mut(&queue).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        if remaining == Some(0) {
            topology.consumers.remove(&queue);
            let auto_delete = topology.queues.iter().any(|(name, opts)| name == &queue && opts.auto_delete);
            if auto_delete {
                topology.forget_queue(&queue);
            }
        }
    }

    async fn queue_len(&self, queue: &str) -> BusResult<u32> {
        let name = short("queue name", queue)?;
        let declared = self
            .admin("queue length", |channel| {
                let name = name.clone();
                async move {
                    let opts = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
                    channel.queue_declare(name, opts, FieldTable::default()).await
                }
            })
            .await?;
        Ok(declared.message_count())
    }
}

impl Live {
    /// The publishing channel, opened (in confirm mode) when missing or closed.
    async fn publisher(&self) -> lapin::Result<Channel> {
        if let Some(channel) = lock(&self.publisher).as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let _opening = self.publisher_open.lock().await;
        if let Some(channel) = lock(&self.publisher).as_ref().filter(|c| c.status().connected()) {
            return Ok(channel.clone());
        }
        let channel = self.connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *lock(&self.publisher) = Some(channel.clone());
        Ok(channel)
    }
}

#[async_trait]
impl Bus for AmqpBus {
    fn backend(&self) -> &'static str {
        "amqp"
    }

    async fn declare_exchange(&self, name: &str, kind: ExchangeKind) -> BusResult<()> {
        let exchange = short("exchange name", name)?;
        if name.is_empty() {
            return Err(BusError::Precondition("the default exchange cannot be declared".into()));
        }
        let recorded = {
            let mut topology = lock(&self.shared.topology);
            let known = topology.exchanges.iter().any(|(n, _)| n == name);
            if !known {
                topology.exchanges.push((name.to_string(), kind));
            }
            !known
        };
        let result = self
            .shared
            .admin("declare exchange", |channel| {
                let exchange = exchange.clone();
                async move {
                    channel
                        .exchange_declare(exchange, lapin_kind(kind), exchange_options(), FieldTable::default())
                        .await
                }
            })
            .await;
        if result.is_err() && recorded {
            lock(&self.shared.topology).exchanges.retain(|(n, _)| n != name);
        }
        result
    }

    async fn declare_queue(&self, name: &str, opts: QueueOptions) -> BusResult<String> {
        short("queue name", name)?;
        let name = if name.is_empty() { generated_queue_name() } else { name.to_string() };
        let queue = short("queue name", &name)?;
        let recorded = {
            let mut topology = lock(&self.shared.topology);
            let known = topology.queues.iter().any(|(n, _)| n == &name);
            if !known {
                topology.queues.push((name.clone(), opts.clone()));
            }
            !known
        };
        let declare_opts = queue_options(&opts);
        let result = self
            .shared
            .admin("declare queue", |channel| {
                let queue = queue.clone();
                async move { channel.queue_declare(queue, declare_opts, FieldTable::default()).await }
            })
            .await;
        match result {
            Ok(declared) => Ok(declared.name().to_string()),
            Err(e) => {
                if recorded {
                    lock(&self.shared.topology).forget_queue(&name);
                }
                Err(e)
            }
        }
    }

    async fn delete_queue(&self, name: &str) -> BusResult<()> {
        let queue = short("queue name", name)?;
        lock(&self.shared.topology).forget_queue(name);
        let result = self
            .shared
            .admin("delete queue", |channel| {
                let queue = queue.clone();
                async move { channel.queue_delete(queue, QueueDeleteOptions::default()).await }
            })
            .await;
        match result {
            Ok(_) | Err(BusError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn bind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()> {
        let q = short("queue name", queue)?;
        let ex = short("exchange name", exchange)?;
        let key = short("routing key", routing_key)?;
        if exchange.is_empty() {
            return Err(BusError::Precondition("queues cannot be bound to the default exchange".into()));
        }
        let binding = (queue.to_string(), exchange.to_string(), routing_key.to_string());
        let recorded = {
            let mut topology = lock(&self.shared.topology);
            let known = topology.bindings.contains(&binding);
            if !known {
                topology.bindings.push(binding.clone());
            }
            !known
        };
        let result = self
            .shared
            .admin("bind", |channel| {
                let (q, ex, key) = (q.clone(), ex.clone(), key.clone());
                async move { channel.queue_bind(q, ex, key, QueueBindOptions::default(), FieldTable::default()).await }
            })
            .await;
        if result.is_err() && recorded {
            lock(&self.shared.topology).bindings.retain(|b| b != &binding);
        }
        result
    }

    async fn unbind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()> {
        let q = short("queue name", queue)?;
        let ex = short("exchange name", exchange)?;
        let key = short("routing key", routing_key)?;
        if exchange.is_empty() {
            return Err(BusError::Precondition("queues cannot be unbound from the default exchange".into()));
        }
        lock(&self.shared.topology).bindings.retain(|(q, e, k)| !(q == queue && e == exchange && k == routing_key));
        self.shared
            .admin("unbind", |channel| {
                let (q, ex, key) = (q.clone(), ex.clone(), key.clone());
                async move { channel.queue_unbind(q, ex, key, FieldTable::default()).await }
            })
            .await
    }

    async fn publish(&self, exchange: &str, routing_key: &str, message: Message) -> BusResult<()> {
        self.shared.publish(exchange, routing_key, &message).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> BusResult<DeliveryStream> {
        short("queue name", queue)?;
        let deadline = Instant::now() + self.shared.cfg.op_timeout;
        let first = self.shared.open_consumer(queue, prefetch, Some(deadline)).await?;
        *lock(&self.shared.topology).consumers.entry(queue.to_string()).or_default() += 1;
        // The broker sends at most `prefetch` unacked deliveries (0: no limit), lapin buffers them: this
        // channel only hands them over.
        let capacity = if prefetch == 0 { 256 } else { usize::from(prefetch).min(1024) };
        let (tx, mut rx) = mpsc::channel(capacity);
        tokio::spawn(self.shared.clone().run_consumer(self.guard.clone(), queue.to_string(), prefetch, tx, first));
        Ok(Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx))))
    }

    async fn queue_len(&self, queue: &str) -> BusResult<u32> {
        self.shared.queue_len(queue).await
    }
}

/// Settles a delivery on the channel it came from. Once that channel or its connection is gone the broker
/// has requeued the message already, so settling it is a no-op. Dropped unsettled, it requeues the message.
#[derive(Debug)]
struct AmqpAcker {
    acker: lapin::Acker,
    settled: AtomicBool,
}

impl AmqpAcker {
    async fn settle(&self, requeue: Option<bool>) -> BusResult<()> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = match requeue {
            None => self.acker.ack(lapin::options::BasicAckOptions::default()).await,
            Some(requeue) => self.acker.nack(BasicNackOptions { multiple: false, requeue }).await,
        };
        match result {
            Ok(true) => Ok(()),
            Ok(false) => {
                debug!("delivery settled after its channel closed; the broker redelivers it");
                Ok(())
            }
            Err(error) => {
                debug!(%error, "delivery not settled; the broker redelivers it");
                Ok(())
            }
        }
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self) -> BusResult<()> {
        self.settle(None).await
    }

    async fn nack(&self, requeue: bool) -> BusResult<()> {
        self.settle(Some(requeue)).await
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        if self.settled.load(Ordering::Acquire) || !self.acker.usable() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let acker = self.acker.clone();
            runtime.spawn(async move {
                let _ = acker.nack(BasicNackOptions { multiple: false, requeue: true }).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password() {
        assert_eq!(redact("amqp://guest:secret@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
    }

    #[test]
    fn properties_carry_the_message_fields() {
        let mut message = Message::json(&b"{}"[..]);
        message.correlation_id = Some("c1".into());
        message.headers.insert("x-kind".into(), "fax".into());
        let props = properties(&message).expect("valid properties");
        assert_eq!(props.content_type().as_ref().map(ToString::to_string).as_deref(), Some("application/json"));
        assert_eq!(*props.delivery_mode(), Some(2));
        assert_eq!(props.correlation_id().as_ref().map(ToString::to_string).as_deref(), Some("c1"));
        assert!(props.headers().as_ref().is_some_and(|h| h.contains_key("x-kind")));
        let long = "k".repeat(300);
        assert!(matches!(short("routing key", &long), Err(BusError::Invalid(_))));
    }
}
