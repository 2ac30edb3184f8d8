//! Routes messages inside one process: the in-process backend of the [`Bus`] trait.
//!
//! It stands in for the RabbitMQ broker that Kazoo's `kz_amqp` talks to, with the same routing rules, so the
//! standalone node runs the cluster's code paths unchanged: topic, direct and fanout exchanges plus the
//! default exchange `""`; durable, exclusive and auto-delete queues; RabbitMQ's topic matching (`*` is one
//! word, `#` zero or more); competing consumers served round-robin within their prefetch; ack, nack with or
//! without requeue, and redelivery (`redelivered = true`) of whatever a consumer leaves unsettled.
//!
//! A [`LocalBus`] and its clones are one connection. [`LocalBus::new_connection`] opens another connection
//! to the same broker; exclusive queues belong to the connection that declared them, are consumable only
//! from it, and are deleted when its last handle (including its delivery streams) is dropped.
//!
//! Nothing is written to disk: `durable` and `persistent` are accepted and kept, but the broker lives as long
//! as the process. Queues are unbounded: memory is bounded by the callers, through prefetch on the consuming
//! side and by not publishing faster than they consume (Kazoo's apps publish requests and events, not
//! bulk data, and the store stays the source of truth for jobs).
//!
//! Locking: one lock per queue (its messages and consumers), one per exchange (its bindings) and two for the
//! name tables, all `std` locks held only for a few map operations and never across an `.await`. Lock order
//! is name tables, then exchange bindings, then a queue.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use futures::Stream;

use crate::bus::{Acker, Bus, BusError, BusResult, Delivery, DeliveryStream, ExchangeKind, Message, QueueOptions};

/// Longest exchange name, queue name or routing key, in bytes (AMQP's `shortstr`).
pub const MAX_NAME_LEN: usize = 255;

/// Prefix of generated queue names (`declare_queue("")`); `amq.` is reserved by RabbitMQ.
pub(crate) const GENERATED_QUEUE_PREFIX: &str = "anon-";

/// Content type given to messages published without one.
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// A name for a queue declared with an empty name: unique, and valid on RabbitMQ too.
pub(crate) fn generated_queue_name() -> String {
    format!("{GENERATED_QUEUE_PREFIX}{}", kz_core::ids::new_id())
}

/// Rejects names and keys AMQP cannot carry.
pub(crate) fn check_name(what: &str, name: &str) -> BusResult<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(BusError::Invalid(format!("{what} longer than {MAX_NAME_LEN} bytes ({} bytes)", name.len())));
    }
    Ok(())
}

/// Rejects declarations RabbitMQ refuses: the default exchange and the reserved `amq.` prefix.
fn check_declarable(what: &str, name: &str) -> BusResult<()> {
    if name.starts_with("amq.") {
        return Err(BusError::Precondition(format!("{what} name '{name}' uses the reserved prefix 'amq.'")));
    }
    Ok(())
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The in-process bus. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct LocalBus {
    conn: Arc<Connection>,
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus").field("connection", &self.conn.id).finish()
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalBus {
    /// A new, empty broker and a first connection to it.
    pub fn new() -> Self {
        let broker = Arc::new(Broker::default());
        LocalBus { conn: Arc::new(Connection { id: broker.next_id(), broker }) }
    }

    /// Another connection to the same broker, as a second node or a second AMQP connection would have:
    /// it shares exchanges and shared queues, but not this connection's exclusive queues.
    pub fn new_connection(&self) -> LocalBus {
        let broker = self.conn.broker.clone();
        LocalBus { conn: Arc::new(Connection { id: broker.next_id(), broker }) }
    }

    fn broker(&self) -> &Broker {
        &self.conn.broker
    }

    /// Finds a queue this connection may use (not another connection's exclusive queue).
    fn usable_queue(&self, name: &str) -> BusResult<Arc<Queue>> {
        let queue = read(&self.broker().queues)
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::NotFound(format!("queue '{name}'")))?;
        if queue.owner.is_some_and(|owner| owner != self.conn.id) {
            return Err(BusError::Precondition(format!("queue '{name}' is exclusive to another connection")));
        }
        Ok(queue)
    }

    fn exchange(&self, name: &str) -> BusResult<Arc<Exchange>> {
        read(&self.broker().exchanges)
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::NotFound(format!("exchange '{name}'")))
    }
}

/// One connection: owns the exclusive queues it declared.
struct Connection {
    id: u64,
    broker: Arc<Broker>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let owned: Vec<Arc<Queue>> =
            read(&self.broker.queues).values().filter(|q| q.owner == Some(self.id)).cloned().collect();
        for queue in owned {
            self.broker.delete_queue(&queue);
        }
    }
}

#[derive(Default)]
struct Broker {
    exchanges: RwLock<HashMap<String, Arc<Exchange>>>,
    queues: RwLock<HashMap<String, Arc<Queue>>>,
    ids: AtomicU64,
}

impl Broker {
    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Removes `queue` (if it is still the one under its name), its bindings, and ends its consumers.
    fn delete_queue(&self, queue: &Arc<Queue>) {
        {
            let mut queues = write(&self.queues);
            match queues.get(&queue.name) {
                Some(current) if Arc::ptr_eq(current, queue) => {
                    queues.remove(&queue.name);
                }
                _ => return,
            }
        }
        for exchange in read(&self.exchanges).values() {
            write(&exchange.bindings).remove_queue(queue);
        }
        let mut state = lock(&queue.state);
        state.deleted = true;
        state.ready.clear();
        for consumer in &mut state.consumers {
            consumer.buffer.clear();
            consumer.unacked.clear();
            if let Some(waker) = consumer.waker.take() {
                waker.wake();
            }
        }
    }
}

struct Exchange {
    kind: ExchangeKind,
    bindings: RwLock<Bindings>,
}

/// A compiled topic binding key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Literal(String),
    /// `*`: exactly one word.
    One,
    /// `#`: zero or more words.
    Any,
}

fn compile_topic(pattern: &str) -> Vec<Word> {
    let mut words = Vec::new();
    if pattern.is_empty() {
        return words;
    }
    for word in pattern.split('.') {
        let compiled = match word {
            "*" => Word::One,
            "#" => Word::Any,
            other => Word::Literal(other.to_string()),
        };
        // `#.#` matches what `#` matches; collapsing keeps matching linear in practice.
        if compiled == Word::Any && words.last() == Some(&Word::Any) {
            continue;
        }
        words.push(compiled);
    }
    words
}

/// The first word of `key` and the rest; `None` when no words are left. An empty routing key has zero
/// words, and `a..b` has an empty middle word, as in RabbitMQ.
fn next_word(key: Option<&str>) -> Option<(&str, Option<&str>)> {
    let key = key?;
    Some(match key.split_once('.') {
        Some((word, rest)) => (word, Some(rest)),
        None => (key, None),
    })
}

fn topic_matches_words(pattern: &[Word], key: Option<&str>) -> bool {
    match pattern.split_first() {
        None => key.is_none(),
        Some((Word::Any, rest)) => {
            if topic_matches_words(rest, key) {
                return true;
            }
            match next_word(key) {
                Some((_, tail)) => topic_matches_words(pattern, tail),
                None => false,
            }
        }
        Some((Word::One, rest)) => match next_word(key) {
            Some((_, tail)) => topic_matches_words(rest, tail),
            None => false,
        },
        Some((Word::Literal(literal), rest)) => match next_word(key) {
            Some((word, tail)) if word == literal => topic_matches_words(rest, tail),
            _ => false,
        },
    }
}

/// True when routing key `key` matches topic binding key `pattern`, with RabbitMQ's rules.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    topic_matches_words(&compile_topic(pattern), if key.is_empty() { None } else { Some(key) })
}

struct Binding {
    key: String,
    words: Vec<Word>,
    queue: Arc<Queue>,
}

#[derive(Default)]
struct Bindings {
    /// Direct exchanges: routing key to queues.
    direct: HashMap<String, Vec<Arc<Queue>>>,
    /// Topic and fanout exchanges.
    list: Vec<Binding>,
}

impl Bindings {
    fn add(&mut self, kind: ExchangeKind, key: &str, queue: &Arc<Queue>) {
        match kind {
            ExchangeKind::Direct => {
                let queues = self.direct.entry(key.to_string()).or_default();
                if !queues.iter().any(|q| Arc::ptr_eq(q, queue)) {
                    queues.push(queue.clone());
                }
            }
            ExchangeKind::Topic | ExchangeKind::Fanout => {
                if !self.list.iter().any(|b| b.key == key && Arc::ptr_eq(&b.queue, queue)) {
                    let words = if kind == ExchangeKind::Topic { compile_topic(key) } else { Vec::new() };
                    self.list.push(Binding { key: key.to_string(), words, queue: queue.clone() });
                }
            }
        }
    }

    fn remove(&mut self, key: &str, queue: &Arc<Queue>) {
        if let Some(queues) = self.direct.get_mut(key) {
            queues.retain(|q| !Arc::ptr_eq(q, queue));
            if queues.is_empty() {
                self.direct.remove(key);
            }
        }
        self.list.retain(|b| !(b.key == key && Arc::ptr_eq(&b.queue, queue)));
    }

    fn remove_queue(&mut self, queue: &Arc<Queue>) {
        self.direct.retain(|_, queues| {
            queues.retain(|q| !Arc::ptr_eq(q, queue));
            !queues.is_empty()
        });
        self.list.retain(|b| !Arc::ptr_eq(&b.queue, queue));
    }

    /// Calls `deliver` once for every queue `key` routes to, even when several bindings of a queue match.
    fn route(&self, kind: ExchangeKind, key: &str, mut deliver: impl FnMut(&Arc<Queue>)) {
        match kind {
            ExchangeKind::Direct => {
                for queue in self.direct.get(key).into_iter().flatten() {
                    deliver(queue);
                }
            }
            ExchangeKind::Topic | ExchangeKind::Fanout => {
                let key_words = if key.is_empty() { None } else { Some(key) };
                // The first match needs no bookkeeping; more than one allocates a short list to dedupe.
                let mut first: Option<&Arc<Queue>> = None;
                let mut more: Vec<&Arc<Queue>> = Vec::new();
                for binding in &self.list {
                    if kind == ExchangeKind::Topic && !topic_matches_words(&binding.words, key_words) {
                        continue;
                    }
                    let queue = &binding.queue;
                    let seen =
                        first.is_some_and(|f| Arc::ptr_eq(f, queue)) || more.iter().any(|q| Arc::ptr_eq(q, queue));
                    if seen {
                        continue;
                    }
                    if first.is_none() {
                        first = Some(queue);
                    } else {
                        more.push(queue);
                    }
                    deliver(queue);
                }
            }
        }
    }
}

/// A published message as queues hold it; shared by every queue it was routed to.
struct Envelope {
    exchange: String,
    routing_key: String,
    message: Message,
}

#[derive(Clone)]
struct Entry {
    envelope: Arc<Envelope>,
    redelivered: bool,
}

struct Queue {
    name: String,
    opts: QueueOptions,
    /// The connection an exclusive queue belongs to.
    owner: Option<u64>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    ready: VecDeque<Entry>,
    consumers: Vec<ConsumerState>,
    /// Round-robin cursor into `consumers`.
    cursor: usize,
    deleted: bool,
}

struct ConsumerState {
    id: u64,
    /// Most unsettled deliveries at once; 0 = no limit.
    prefetch: usize,
    /// Assigned to this consumer, not yet taken by its stream.
    buffer: VecDeque<Entry>,
    /// Taken by the stream, not yet acked or nacked, by delivery tag.
    unacked: HashMap<u64, Entry>,
    next_tag: u64,
    waker: Option<Waker>,
}

impl ConsumerState {
    fn has_credit(&self) -> bool {
        self.prefetch == 0 || self.buffer.len() + self.unacked.len() < self.prefetch
    }
}

impl QueueState {
    /// Hands ready messages to consumers with credit, round-robin.
    fn dispatch(&mut self) {
        while !self.ready.is_empty() && !self.consumers.is_empty() {
            let n = self.consumers.len();
            let Some(index) = (0..n).map(|i| (self.cursor + i) % n).find(|&i| self.consumers[i].has_credit()) else {
                break;
            };
            self.cursor = (index + 1) % n;
            let consumer = &mut self.consumers[index];
            if let Some(entry) = self.ready.pop_front() {
                consumer.buffer.push_back(entry);
            }
            if let Some(waker) = consumer.waker.take() {
                waker.wake();
            }
        }
    }

    fn consumer(&mut self, id: u64) -> Option<&mut ConsumerState> {
        self.consumers.iter_mut().find(|c| c.id == id)
    }
}

impl Queue {
    fn enqueue(&self, envelope: &Arc<Envelope>) {
        let mut state = lock(&self.state);
        if state.deleted {
            return;
        }
        state.ready.push_back(Entry { envelope: envelope.clone(), redelivered: false });
        state.dispatch();
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn declare_exchange(&self, name: &str, kind: ExchangeKind) -> BusResult<()> {
        check_name("exchange name", name)?;
        if name.is_empty() {
            return Err(BusError::Precondition("the default exchange cannot be declared".into()));
        }
        let mut exchanges = write(&self.broker().exchanges);
        if let Some(existing) = exchanges.get(name) {
            if existing.kind != kind {
                return Err(BusError::Precondition(format!(
                    "exchange '{name}' exists as {:?}, declared as {kind:?}",
                    existing.kind
                )));
            }
            return Ok(());
        }
        check_declarable("exchange", name)?;
        exchanges.insert(name.to_string(), Arc::new(Exchange { kind, bindings: RwLock::default() }));
        Ok(())
    }

    async fn declare_queue(&self, name: &str, opts: QueueOptions) -> BusResult<String> {
        check_name("queue name", name)?;
        check_declarable("queue", name)?;
        let name = if name.is_empty() { generated_queue_name() } else { name.to_string() };
        let mut queues = write(&self.broker().queues);
        if let Some(existing) = queues.get(&name) {
            if existing.owner.is_some_and(|owner| owner != self.conn.id) {
                return Err(BusError::Precondition(format!("queue '{name}' is exclusive to another connection")));
            }
            if existing.opts != opts {
                return Err(BusError::Precondition(format!(
                    "queue '{name}' exists with {:?}, declared with {opts:?}",
                    existing.opts
                )));
            }
            return Ok(name);
        }
        let owner = opts.exclusive.then_some(self.conn.id);
        let queue = Queue { name: name.clone(), opts, owner, state: Mutex::default() };
        queues.insert(name.clone(), Arc::new(queue));
        Ok(name)
    }

    async fn delete_queue(&self, name: &str) -> BusResult<()> {
        check_name("queue name", name)?;
        match self.usable_queue(name) {
            Ok(queue) => {
                self.broker().delete_queue(&queue);
                Ok(())
            }
            // Deleting a queue that is not there is not an error, as on RabbitMQ.
            Err(BusError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn bind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()> {
        check_name("routing key", routing_key)?;
        if exchange.is_empty() {
            return Err(BusError::Precondition("queues cannot be bound to the default exchange".into()));
        }
        let q = self.usable_queue(queue)?;
        let ex = self.exchange(exchange)?;
        write(&ex.bindings).add(ex.kind, routing_key, &q);
        Ok(())
    }

    async fn unbind(&self, queue: &str, exchange: &str, routing_key: &str) -> BusResult<()> {
        if exchange.is_empty() {
            return Err(BusError::Precondition("queues cannot be unbound from the default exchange".into()));
        }
        let q = self.usable_queue(queue)?;
        let ex = self.exchange(exchange)?;
        write(&ex.bindings).remove(routing_key, &q);
        Ok(())
    }

    async fn publish(&self, exchange: &str, routing_key: &str, mut message: Message) -> BusResult<()> {
        check_name("exchange name", exchange)?;
        check_name("routing key", routing_key)?;
        if message.content_type.is_empty() {
            message.content_type = DEFAULT_CONTENT_TYPE.to_string();
        }
        let broker = self.broker();
        if exchange.is_empty() {
            let queue = read(&broker.queues).get(routing_key).cloned();
            if let Some(queue) = queue {
                let envelope =
                    Arc::new(Envelope { exchange: String::new(), routing_key: routing_key.to_string(), message });
                queue.enqueue(&envelope);
            }
            return Ok(());
        }
        let ex = self.exchange(exchange)?;
        let envelope =
            Arc::new(Envelope { exchange: exchange.to_string(), routing_key: routing_key.to_string(), message });
        read(&ex.bindings).route(ex.kind, routing_key, |queue| queue.enqueue(&envelope));
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> BusResult<DeliveryStream> {
        let q = self.usable_queue(queue)?;
        let id = self.broker().next_id();
        {
            let mut state = lock(&q.state);
            if state.deleted {
                return Err(BusError::NotFound(format!("queue '{queue}'")));
            }
            state.consumers.push(ConsumerState {
                id,
                prefetch: usize::from(prefetch),
                buffer: VecDeque::new(),
                unacked: HashMap::new(),
                next_tag: 1,
                waker: None,
            });
            state.dispatch();
        }
        Ok(Box::pin(LocalConsumer { queue: q, id, conn: self.conn.clone() }))
    }

    async fn queue_len(&self, queue: &str) -> BusResult<u32> {
        let q = self.usable_queue(queue)?;
        let len = lock(&q.state).ready.len();
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }
}

/// The stream behind [`Bus::consume`]; dropping it cancels the consumer and requeues what it held.
struct LocalConsumer {
    queue: Arc<Queue>,
    id: u64,
    /// Keeps the connection (and so its exclusive queues) alive while the stream is.
    conn: Arc<Connection>,
}

impl Stream for LocalConsumer {
    type Item = Delivery;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let this = self.get_mut();
        let (entry, tag) = {
            let mut state = lock(&this.queue.state);
            if state.deleted {
                return Poll::Ready(None);
            }
            let Some(consumer) = state.consumer(this.id) else {
                return Poll::Ready(None);
            };
            match consumer.buffer.pop_front() {
                Some(entry) => {
                    let tag = consumer.next_tag;
                    consumer.next_tag += 1;
                    consumer.unacked.insert(tag, entry.clone());
                    (entry, tag)
                }
                None => {
                    if !consumer.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        consumer.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        };
        let envelope = &entry.envelope;
        let acker = LocalAcker { queue: this.queue.clone(), consumer: this.id, tag, settled: AtomicBool::new(false) };
        Poll::Ready(Some(Delivery::new(
            envelope.exchange.clone(),
            envelope.routing_key.clone(),
            envelope.message.clone(),
            entry.redelivered,
            Box::new(acker),
        )))
    }
}

impl Drop for LocalConsumer {
    fn drop(&mut self) {
        let auto_delete = {
            let mut state = lock(&self.queue.state);
            let Some(index) = state.consumers.iter().position(|c| c.id == self.id) else {
                return;
            };
            let consumer = state.consumers.remove(index);
            if state.cursor > index {
                state.cursor -= 1;
            }
            if state.cursor >= state.consumers.len() {
                state.cursor = 0;
            }
            // Unsettled deliveries go back first (oldest first, marked redelivered), then what the stream
            // never took, ahead of everything still waiting.
            let mut unacked: Vec<(u64, Entry)> = consumer.unacked.into_iter().collect();
            unacked.sort_unstable_by_key(|(tag, _)| *tag);
            let returned = unacked
                .into_iter()
                .map(|(_, entry)| Entry { redelivered: true, ..entry })
                .chain(consumer.buffer)
                .collect::<Vec<_>>();
            for entry in returned.into_iter().rev() {
                state.ready.push_front(entry);
            }
            state.dispatch();
            self.queue.opts.auto_delete && state.consumers.is_empty() && !state.deleted
        };
        if auto_delete {
            self.conn.broker.delete_queue(&self.queue);
        }
    }
}

/// Settles one delivery. Dropping it unsettled requeues the message at once, so a forgotten delivery
/// cannot hold a prefetch slot forever.
struct LocalAcker {
    queue: Arc<Queue>,
    consumer: u64,
    tag: u64,
    settled: AtomicBool,
}

impl std::fmt::Debug for LocalAcker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAcker").field("queue", &self.queue.name).field("tag", &self.tag).finish()
    }
}

impl LocalAcker {
    fn settle(&self, requeue: bool) {
        if self.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut state = lock(&self.queue.state);
        // Gone when the consumer was cancelled: the message was requeued then.
        let Some(entry) = state.consumer(self.consumer).and_then(|c| c.unacked.remove(&self.tag)) else {
            return;
        };
        if requeue && !state.deleted {
            state.ready.push_front(Entry { redelivered: true, ..entry });
        }
        state.dispatch();
    }
}

#[async_trait]
impl Acker for LocalAcker {
    async fn ack(&self) -> BusResult<()> {
        self.settle(false);
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> BusResult<()> {
        self.settle(requeue);
        Ok(())
    }
}

impl Drop for LocalAcker {
    fn drop(&mut self) {
        self.settle(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_matching_follows_rabbitmq() {
        let cases = [
            ("fax.#", "fax", true),
            ("fax.#", "fax.status.a.b", true),
            ("fax.#", "faxes", false),
            ("#", "", true),
            ("#", "a.b.c", true),
            ("*", "", false),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.c", false),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.b.d.c", true),
            ("a.#.c", "a.b.d", false),
            ("#.c", "c", true),
            ("#.#", "x", true),
            ("a.*", "a.", true),
            ("", "", true),
            ("", "a", false),
            ("a..b", "a..b", true),
            ("a.*.b", "a..b", true),
            ("fax.status.*.*", "fax.status.acc.job", true),
            ("fax.status.*.*", "fax.status.acc", false),
        ];
        for (pattern, key, expected) in cases {
            assert_eq!(topic_matches(pattern, key), expected, "pattern {pattern:?} key {key:?}");
        }
    }

    #[test]
    fn generated_names_are_unique_and_not_reserved() {
        let a = generated_queue_name();
        let b = generated_queue_name();
        assert_ne!(a, b);
        assert!(!a.starts_with("amq."));
        assert!(a.len() <= MAX_NAME_LEN);
    }
}
