//! Holds both bus backends to one contract: every body runs as `local::<name>` and `rabbitmq::<name>`.
//!
//! The bodies speak only `Arc<dyn Bus>`; each works under its own name prefix and deletes its queues (and,
//! on RabbitMQ, its exchanges) at the end. The RabbitMQ-only tests restart the broker mid-run and check
//! that no confirmed message is lost and that consumers resume by themselves.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kz_amqp::amqp::AmqpBus;
use kz_amqp::local::LocalBus;
use kz_amqp::rpc::{self, RpcClient};
use kz_amqp::{Bus, BusError, Delivery, DeliveryStream, ExchangeKind, Message, QueueOptions};
use serde_json::{Map, Value, json};
use tokio::sync::RwLock;

/// Long enough for any delivery that should come.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for a delivery that should not come.
const QUIET: Duration = Duration::from_millis(400);

/// The broker restart test holds this for writing; every other RabbitMQ test for reading.
static RABBIT: RwLock<()> = RwLock::const_new(());

enum Backend {
    Local(LocalBus),
    /// The bus under test and the other connection.
    Rabbit(AmqpBus, AmqpBus),
}

/// One test's buses and names.
struct Fx {
    backend: Backend,
    /// The bus under test.
    bus: Arc<dyn Bus>,
    /// A second connection to the same broker (another node).
    other: Arc<dyn Bus>,
    prefix: String,
    queues: Mutex<Vec<String>>,
    exchanges: Mutex<Vec<String>>,
}

fn prefix(test: &str) -> String {
    format!("t.{test}.{}", &kz_core::ids::new_id()[..8])
}

impl Fx {
    fn local(test: &str) -> Fx {
        let bus = LocalBus::new();
        let other = bus.new_connection();
        Fx {
            backend: Backend::Local(bus.clone()),
            bus: Arc::new(bus),
            other: Arc::new(other),
            prefix: prefix(test),
            queues: Mutex::default(),
            exchanges: Mutex::default(),
        }
    }

    async fn rabbit(test: &str) -> Fx {
        let bus = faxbox_tests::rabbit::require_rabbit().await;
        let other = faxbox_tests::rabbit::require_rabbit().await;
        Fx {
            backend: Backend::Rabbit(bus.clone(), other.clone()),
            bus: Arc::new(bus),
            other: Arc::new(other),
            prefix: prefix(test),
            queues: Mutex::default(),
            exchanges: Mutex::default(),
        }
    }

    /// Another connection to the broker under test.
    async fn connect(&self) -> Arc<dyn Bus> {
        match &self.backend {
            Backend::Local(bus) => Arc::new(bus.new_connection()),
            Backend::Rabbit(..) => Arc::new(faxbox_tests::rabbit::require_rabbit().await),
        }
    }

    /// The two RabbitMQ connections, for the RabbitMQ-only tests.
    fn rabbit_buses(&self) -> (&AmqpBus, &AmqpBus) {
        match &self.backend {
            Backend::Rabbit(bus, other) => (bus, other),
            Backend::Local(_) => panic!("a RabbitMQ-only test ran on the local bus"),
        }
    }

    fn name(&self, short: &str) -> String {
        format!("{}.{short}", self.prefix)
    }

    async fn exchange(&self, short: &str, kind: ExchangeKind) -> String {
        let name = self.name(short);
        self.bus.declare_exchange(&name, kind).await.expect("declare exchange");
        self.exchanges.lock().unwrap().push(name.clone());
        name
    }

    async fn queue(&self, short: &str) -> String {
        self.queue_with(short, QueueOptions::default()).await
    }

    async fn queue_with(&self, short: &str, opts: QueueOptions) -> String {
        let name = self.bus.declare_queue(&self.name(short), opts).await.expect("declare queue");
        self.queues.lock().unwrap().push(name.clone());
        name
    }

    async fn cleanup(self) {
        let queues = std::mem::take(&mut *self.queues.lock().unwrap());
        for queue in queues {
            self.bus.delete_queue(&queue).await.expect("delete queue");
        }
        if let Backend::Rabbit(bus, _) = &self.backend {
            let exchanges = std::mem::take(&mut *self.exchanges.lock().unwrap());
            for exchange in exchanges {
                bus.delete_exchange(&exchange).await.expect("delete exchange");
            }
        }
    }
}

fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.message.body).into_owned()
}

fn msg(body: &str) -> Message {
    Message::json(body.as_bytes().to_vec())
}

async fn recv(stream: &mut DeliveryStream) -> Delivery {
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(Some(d)) => d,
        Ok(None) => panic!("the delivery stream ended"),
        Err(_) => panic!("no delivery within {WAIT:?}"),
    }
}

async fn assert_quiet(stream: &mut DeliveryStream) {
    if let Ok(Some(d)) = tokio::time::timeout(QUIET, stream.next()).await {
        panic!("unexpected delivery {:?} (key {})", text(&d), d.routing_key);
    }
}

/// Takes exactly `n` messages from `queue` (acking them) and checks nothing else is waiting.
async fn drain(bus: &Arc<dyn Bus>, queue: &str, n: usize) -> Vec<String> {
    let mut stream = bus.consume(queue, 100).await.expect("consume");
    let mut got = Vec::new();
    for _ in 0..n {
        let d = recv(&mut stream).await;
        got.push(text(&d));
        d.ack().await.expect("ack");
    }
    assert_quiet(&mut stream).await;
    got.sort();
    got
}

/// Polls `queue_len` until it equals `expected` (RabbitMQ applies acks asynchronously).
async fn wait_len(bus: &Arc<dyn Bus>, queue: &str, expected: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let len = bus.queue_len(queue).await.expect("queue_len");
        if len == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "queue {queue} holds {len}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_gone(bus: &Arc<dyn Bus>, queue: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match bus.queue_len(queue).await {
            Err(BusError::NotFound(_)) => return,
            other => assert!(tokio::time::Instant::now() < deadline, "queue {queue} still there: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------------------
// The bodies.

async fn exchanges_of_each_kind_declare_idempotently(fx: &Fx) {
    let topic = fx.exchange("topic", ExchangeKind::Topic).await;
    let direct = fx.exchange("direct", ExchangeKind::Direct).await;
    let fanout = fx.exchange("fanout", ExchangeKind::Fanout).await;
    fx.bus.declare_exchange(&topic, ExchangeKind::Topic).await.expect("topic again");
    fx.bus.declare_exchange(&direct, ExchangeKind::Direct).await.expect("direct again");
    fx.other.declare_exchange(&fanout, ExchangeKind::Fanout).await.expect("fanout from another connection");
    let clash = fx.bus.declare_exchange(&topic, ExchangeKind::Fanout).await;
    assert!(matches!(clash, Err(BusError::Precondition(_))), "{clash:?}");
    let default = fx.bus.declare_exchange("", ExchangeKind::Direct).await;
    assert!(matches!(default, Err(BusError::Precondition(_))), "{default:?}");
    // The bus is still usable after the refusals.
    fx.bus.declare_exchange(&topic, ExchangeKind::Topic).await.expect("topic after refusal");
}

async fn direct_exchange_routes_by_exact_key(fx: &Fx) {
    let ex = fx.exchange("direct", ExchangeKind::Direct).await;
    let qa = fx.queue("a").await;
    let qb = fx.queue("b").await;
    fx.bus.bind(&qa, &ex, "fax.a").await.unwrap();
    fx.bus.bind(&qb, &ex, "fax.b").await.unwrap();
    fx.bus.bind(&qb, &ex, "fax.both").await.unwrap();
    fx.bus.bind(&qa, &ex, "fax.both").await.unwrap();
    for key in ["fax.a", "fax.b", "fax.both", "fax", "fax.*", "other"] {
        fx.bus.publish(&ex, key, msg(key)).await.unwrap();
    }
    assert_eq!(drain(&fx.bus, &qa, 2).await, strings(&["fax.a", "fax.both"]));
    assert_eq!(drain(&fx.bus, &qb, 2).await, strings(&["fax.b", "fax.both"]));
}

async fn fanout_exchange_routes_to_every_queue(fx: &Fx) {
    let ex = fx.exchange("fanout", ExchangeKind::Fanout).await;
    let qa = fx.queue("a").await;
    let qb = fx.queue("b").await;
    fx.bus.bind(&qa, &ex, "").await.unwrap();
    fx.bus.bind(&qb, &ex, "anything").await.unwrap();
    // Two bindings of one queue still give it one copy.
    fx.bus.bind(&qb, &ex, "else").await.unwrap();
    fx.bus.publish(&ex, "xmpp.push.jid", msg("one")).await.unwrap();
    fx.bus.publish(&ex, "", msg("two")).await.unwrap();
    assert_eq!(drain(&fx.bus, &qa, 2).await, strings(&["one", "two"]));
    assert_eq!(drain(&fx.bus, &qb, 2).await, strings(&["one", "two"]));
}

async fn topic_exchange_matches_star_and_hash(fx: &Fx) {
    let ex = fx.exchange("faxes", ExchangeKind::Topic).await;
    let status = fx.queue("status").await;
    let all_fax = fx.queue("allfax").await;
    let jobs = fx.queue("jobs").await;
    let everything = fx.queue("everything").await;
    fx.bus.bind(&status, &ex, "fax.status.*.*").await.unwrap();
    fx.bus.bind(&all_fax, &ex, "fax.#").await.unwrap();
    fx.bus.bind(&jobs, &ex, "*.start.job.*").await.unwrap();
    fx.bus.bind(&jobs, &ex, "#.job.#").await.unwrap();
    fx.bus.bind(&everything, &ex, "#").await.unwrap();
    let keys = [
        "fax",
        "fax.status.acc1.job1",
        "fax.status.acc1",
        "fax.start.job.j1",
        "fax.start.account.a1",
        "other.start.job.j2",
        "faxes.status.a.b",
    ];
    for key in keys {
        fx.bus.publish(&ex, key, msg(key)).await.unwrap();
    }
    assert_eq!(drain(&fx.bus, &status, 1).await, strings(&["fax.status.acc1.job1"]));
    assert_eq!(
        drain(&fx.bus, &all_fax, 5).await,
        strings(&["fax", "fax.status.acc1.job1", "fax.status.acc1", "fax.start.job.j1", "fax.start.account.a1"])
    );
    // Both bindings match fax.start.job.j1: one copy.
    assert_eq!(drain(&fx.bus, &jobs, 2).await, strings(&["fax.start.job.j1", "other.start.job.j2"]));
    assert_eq!(drain(&fx.bus, &everything, keys.len()).await, strings(&keys));
}

async fn unbind_stops_routing(fx: &Fx) {
    let ex = fx.exchange("topic", ExchangeKind::Topic).await;
    let q = fx.queue("q").await;
    fx.bus.bind(&q, &ex, "a.*").await.unwrap();
    fx.bus.bind(&q, &ex, "b.*").await.unwrap();
    fx.bus.publish(&ex, "a.1", msg("a1")).await.unwrap();
    fx.bus.unbind(&q, &ex, "a.*").await.unwrap();
    // Unbinding what is not bound is fine.
    fx.bus.unbind(&q, &ex, "c.*").await.unwrap();
    fx.bus.publish(&ex, "a.2", msg("a2")).await.unwrap();
    fx.bus.publish(&ex, "b.1", msg("b1")).await.unwrap();
    assert_eq!(drain(&fx.bus, &q, 2).await, strings(&["a1", "b1"]));
}

async fn default_exchange_routes_to_the_named_queue(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.other.publish("", &q, msg("direct to queue")).await.unwrap();
    let mut stream = fx.bus.consume(&q, 10).await.unwrap();
    let d = recv(&mut stream).await;
    assert_eq!(text(&d), "direct to queue");
    assert_eq!(d.exchange, "");
    assert_eq!(d.routing_key, q);
    assert!(!d.redelivered);
    d.ack().await.unwrap();
    let bind = fx.bus.bind(&q, "", "x").await;
    assert!(matches!(bind, Err(BusError::Precondition(_))), "{bind:?}");
}

async fn unroutable_publish_is_ok_and_goes_nowhere(fx: &Fx) {
    let ex = fx.exchange("lonely", ExchangeKind::Topic).await;
    let q = fx.queue("q").await;
    fx.bus.bind(&q, &ex, "bound.key").await.unwrap();
    fx.bus.publish(&ex, "nobody.listens", msg("lost")).await.expect("unroutable publish");
    fx.bus.publish("", &fx.name("no-such-queue"), msg("lost")).await.expect("publish to no queue");
    wait_len(&fx.bus, &q, 0).await;
    fx.bus.publish(&ex, "bound.key", msg("kept")).await.unwrap();
    assert_eq!(drain(&fx.bus, &q, 1).await, strings(&["kept"]));
}

async fn publish_to_a_missing_exchange_is_not_found(fx: &Fx) {
    let missing = fx.name("missing");
    let result = fx.bus.publish(&missing, "k", msg("x")).await;
    assert!(matches!(result, Err(BusError::NotFound(_))), "{result:?}");
    // Publishing still works afterwards.
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("after")).await.unwrap();
    assert_eq!(drain(&fx.bus, &q, 1).await, strings(&["after"]));
    let bind = fx.bus.bind(&q, &missing, "k").await;
    assert!(matches!(bind, Err(BusError::NotFound(_))), "{bind:?}");
}

async fn missing_queues_and_bad_names_are_reported(fx: &Fx) {
    let missing = fx.name("missing");
    assert!(matches!(fx.bus.consume(&missing, 1).await, Err(BusError::NotFound(_))));
    assert!(matches!(fx.bus.queue_len(&missing).await, Err(BusError::NotFound(_))));
    fx.bus.delete_queue(&missing).await.expect("deleting a missing queue is fine");
    let long = "k".repeat(256);
    assert!(matches!(fx.bus.declare_queue(&long, QueueOptions::default()).await, Err(BusError::Invalid(_))));
    let q = fx.queue("q").await;
    assert!(matches!(fx.bus.publish("", &long, msg("x")).await, Err(BusError::Invalid(_))));
    let other_opts = fx.bus.declare_queue(&q, QueueOptions::shared_durable()).await;
    assert!(matches!(other_opts, Err(BusError::Precondition(_))), "{other_opts:?}");
    assert_eq!(fx.bus.declare_queue(&q, QueueOptions::default()).await.unwrap(), q);
}

async fn competing_consumers_share_and_each_message_arrives_once(fx: &Fx) {
    const N: usize = 200;
    let q = fx.queue("shared").await;
    let a = fx.bus.consume(&q, 10).await.unwrap();
    let b = fx.other.consume(&q, 10).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let counts = Arc::new(Mutex::new([0usize; 2]));
    let mut tasks = Vec::new();
    for (index, mut stream) in [a, b].into_iter().enumerate() {
        let seen = seen.clone();
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
                seen.lock().unwrap().push(text(&d));
                counts.lock().unwrap()[index] += 1;
                d.ack().await.unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in 0..N {
        fx.bus.publish("", &q, msg(&format!("m{i}"))).await.unwrap();
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(seen, expected, "every message exactly once");
    let counts = *counts.lock().unwrap();
    assert!(counts[0] >= N / 10 && counts[1] >= N / 10, "each consumer gets a share: {counts:?}");
    wait_len(&fx.bus, &q, 0).await;
}

async fn ack_removes_the_message(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("once")).await.unwrap();
    let mut stream = fx.bus.consume(&q, 5).await.unwrap();
    let d = recv(&mut stream).await;
    d.ack().await.unwrap();
    drop(stream);
    wait_len(&fx.bus, &q, 0).await;
    let mut again = fx.other.consume(&q, 5).await.unwrap();
    assert_quiet(&mut again).await;
}

async fn nack_with_requeue_redelivers(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("retry me")).await.unwrap();
    let mut stream = fx.bus.consume(&q, 5).await.unwrap();
    let first = recv(&mut stream).await;
    assert!(!first.redelivered);
    first.nack(true).await.unwrap();
    let second = recv(&mut stream).await;
    assert_eq!(text(&second), "retry me");
    assert!(second.redelivered, "a requeued message comes back marked redelivered");
    second.ack().await.unwrap();
    assert_quiet(&mut stream).await;
}

async fn nack_without_requeue_drops(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("poison")).await.unwrap();
    fx.bus.publish("", &q, msg("fine")).await.unwrap();
    let mut stream = fx.bus.consume(&q, 5).await.unwrap();
    let first = recv(&mut stream).await;
    assert_eq!(text(&first), "poison");
    first.nack(false).await.unwrap();
    let second = recv(&mut stream).await;
    assert_eq!(text(&second), "fine");
    second.ack().await.unwrap();
    assert_quiet(&mut stream).await;
    wait_len(&fx.bus, &q, 0).await;
}

async fn dropped_stream_redelivers_to_the_next_consumer(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("unfinished")).await.unwrap();
    let mut first = fx.bus.consume(&q, 5).await.unwrap();
    let held = recv(&mut first).await;
    assert!(!held.redelivered);
    drop(first);
    let mut next = fx.other.consume(&q, 5).await.unwrap();
    let again = recv(&mut next).await;
    assert_eq!(text(&again), "unfinished");
    assert!(again.redelivered);
    // The first consumer is gone: its late ack changes nothing, and the message stays with the next one.
    held.ack().await.expect("a late ack is ignored");
    again.ack().await.unwrap();
    assert_quiet(&mut next).await;
    wait_len(&fx.bus, &q, 0).await;
}

async fn dropped_delivery_is_redelivered(fx: &Fx) {
    let q = fx.queue("q").await;
    fx.bus.publish("", &q, msg("forgotten")).await.unwrap();
    let mut stream = fx.bus.consume(&q, 1).await.unwrap();
    let d = recv(&mut stream).await;
    drop(d);
    let again = recv(&mut stream).await;
    assert_eq!(text(&again), "forgotten");
    assert!(again.redelivered);
    again.ack().await.unwrap();
}

async fn prefetch_limits_deliveries_in_flight(fx: &Fx) {
    let q = fx.queue("q").await;
    for i in 0..10 {
        fx.bus.publish("", &q, msg(&format!("m{i}"))).await.unwrap();
    }
    let mut stream = fx.bus.consume(&q, 3).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(recv(&mut stream).await);
    }
    assert_quiet(&mut stream).await;
    wait_len(&fx.bus, &q, 7).await;
    held.remove(0).ack().await.unwrap();
    let fourth = recv(&mut stream).await;
    assert_eq!(text(&fourth), "m3", "messages come in order");
    assert_quiet(&mut stream).await;
    fourth.ack().await.unwrap();
    for d in held {
        d.ack().await.unwrap();
    }
    let mut rest = Vec::new();
    for _ in 0..6 {
        let d = recv(&mut stream).await;
        rest.push(text(&d));
        d.ack().await.unwrap();
    }
    assert_eq!(rest, (4..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

async fn exclusive_server_named_queue_is_private(fx: &Fx) {
    let owner = fx.connect().await;
    let q = owner.declare_queue("", QueueOptions::exclusive()).await.unwrap();
    let q2 = owner.declare_queue("", QueueOptions::exclusive()).await.unwrap();
    assert!(!q.is_empty() && q != q2, "generated names are unique: {q} {q2}");
    let stolen = fx.bus.consume(&q, 1).await;
    assert!(matches!(stolen, Err(BusError::Precondition(_))), "{:?}", stolen.err());
    let redeclared = fx.bus.declare_queue(&q, QueueOptions::exclusive()).await;
    assert!(matches!(redeclared, Err(BusError::Precondition(_))), "{redeclared:?}");
    // Anyone may publish to it; only its owner consumes.
    fx.bus.publish("", &q, msg("private")).await.unwrap();
    let mut stream = owner.consume(&q, 1).await.unwrap();
    let d = recv(&mut stream).await;
    assert_eq!(text(&d), "private");
    d.ack().await.unwrap();
    drop(stream);
    drop(owner);
    wait_gone(&fx.bus, &q).await;
    wait_gone(&fx.bus, &q2).await;
}

async fn auto_delete_queue_goes_with_its_last_consumer(fx: &Fx) {
    let opts = QueueOptions { durable: false, exclusive: false, auto_delete: true };
    let q = fx.queue_with("auto", opts).await;
    let a = fx.bus.consume(&q, 1).await.unwrap();
    let b = fx.other.consume(&q, 1).await.unwrap();
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fx.bus.queue_len(&q).await.unwrap(), 0, "still there while a consumer remains");
    drop(b);
    wait_gone(&fx.bus, &q).await;
}

async fn delete_queue_ends_its_consumers(fx: &Fx) {
    let ex = fx.exchange("ex", ExchangeKind::Direct).await;
    let q = fx.queue("q").await;
    fx.bus.bind(&q, &ex, "k").await.unwrap();
    let mut stream = fx.other.consume(&q, 1).await.unwrap();
    fx.bus.delete_queue(&q).await.unwrap();
    match tokio::time::timeout(WAIT, stream.next()).await {
        Ok(None) => {}
        Ok(Some(d)) => panic!("unexpected delivery {}", text(&d)),
        Err(_) => panic!("the stream of a deleted queue did not end"),
    }
    assert!(matches!(fx.bus.queue_len(&q).await, Err(BusError::NotFound(_))));
    // Its bindings went with it: a queue of the same name starts unbound.
    let q = fx.queue("q").await;
    fx.bus.publish(&ex, "k", msg("x")).await.unwrap();
    wait_len(&fx.bus, &q, 0).await;
}

async fn queue_len_counts_waiting_messages(fx: &Fx) {
    let q = fx.queue("q").await;
    assert_eq!(fx.bus.queue_len(&q).await.unwrap(), 0);
    for i in 0..3 {
        fx.bus.publish("", &q, msg(&format!("m{i}"))).await.unwrap();
    }
    assert_eq!(fx.bus.queue_len(&q).await.unwrap(), 3);
    let mut stream = fx.bus.consume(&q, 1).await.unwrap();
    let d = recv(&mut stream).await;
    wait_len(&fx.bus, &q, 2).await;
    d.ack().await.unwrap();
}

async fn message_fields_survive_the_trip(fx: &Fx) {
    let q = fx.queue("q").await;
    let mut message = Message::json(&b"{\"Event-Name\":\"status\"}"[..]);
    message.correlation_id = Some("corr-1".into());
    message.reply_to = Some("reply.queue".into());
    message.headers = BTreeMap::from([("x-origin".to_string(), "fax".to_string())]);
    fx.bus.publish("", &q, message.clone()).await.unwrap();
    let bare = Message { body: "plain".into(), ..Message::default() };
    fx.bus.publish("", &q, bare).await.unwrap();
    let mut stream = fx.bus.consume(&q, 2).await.unwrap();
    let d = recv(&mut stream).await;
    assert_eq!(d.message, message);
    d.ack().await.unwrap();
    let d = recv(&mut stream).await;
    assert_eq!(d.message.content_type, "application/json", "an empty content type defaults to JSON");
    assert!(!d.message.persistent);
    assert_eq!(d.message.correlation_id, None);
    d.ack().await.unwrap();
}

async fn rpc_call_gets_the_reply_with_its_msg_id(fx: &Fx) {
    let ex = fx.exchange("requests", ExchangeKind::Topic).await;
    let requests = fx.queue("requests").await;
    fx.bus.bind(&requests, &ex, "fax.query.*").await.unwrap();
    let client = RpcClient::new(fx.bus.clone()).await.unwrap();
    assert!(!client.server_id().is_empty());
    let responder = fx.other.clone();
    let mut incoming = responder.consume(&requests, 10).await.unwrap();
    let answer = tokio::spawn(async move {
        let d = recv(&mut incoming).await;
        let request: Map<String, Value> = serde_json::from_slice(&d.message.body).unwrap();
        d.ack().await.unwrap();
        // A stray reply with another Msg-ID must not satisfy the call.
        let mut stray = request.clone();
        stray.insert("Msg-ID".into(), json!("0000"));
        let decoy = json!({"Status": "decoy"}).as_object().unwrap().clone();
        rpc::reply(responder.as_ref(), &stray, decoy).await.unwrap();
        let reply = json!({"Status": "done", "Job-ID": request["Job-ID"]}).as_object().unwrap().clone();
        rpc::reply(responder.as_ref(), &request, reply).await.unwrap();
        request
    });
    let payload = json!({"Job-ID": "job1", "Event-Name": "query_status"}).as_object().unwrap().clone();
    let reply = client.call(&ex, "fax.query.job1", payload, WAIT).await.expect("reply");
    let request = answer.await.unwrap();
    assert_eq!(request["Server-ID"], json!(client.server_id()));
    let msg_id = request["Msg-ID"].as_str().unwrap().to_string();
    assert!(kz_core::ids::is_id(&msg_id), "Msg-ID is 32 hex: {msg_id}");
    assert_eq!(reply["Msg-ID"], json!(msg_id));
    assert_eq!(reply["Status"], json!("done"));
    assert_eq!(reply["Job-ID"], json!("job1"));
    let no_server = json!({"Msg-ID": "x"}).as_object().unwrap().clone();
    let orphan = rpc::reply(fx.bus.as_ref(), &no_server, Map::new()).await;
    assert!(matches!(orphan, Err(BusError::Invalid(_))), "{orphan:?}");
}

async fn rpc_call_times_out_when_nobody_answers(fx: &Fx) {
    let ex = fx.exchange("void", ExchangeKind::Topic).await;
    let client = RpcClient::new(fx.bus.clone()).await.unwrap();
    let started = std::time::Instant::now();
    let result = client.call(&ex, "nobody.home", Map::new(), Duration::from_millis(300)).await;
    assert!(matches!(result, Err(BusError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn kazoo_exchanges_declare_with_kazoo_types(fx: &Fx) {
    kz_amqp::kapi::declare_exchanges(fx.bus.as_ref()).await.unwrap();
    kz_amqp::kapi::declare_exchanges(fx.other.as_ref()).await.unwrap();
    let clash = fx.bus.declare_exchange("faxes", ExchangeKind::Direct).await;
    assert!(matches!(clash, Err(BusError::Precondition(_))), "{clash:?}");
    let q = fx.queue("status").await;
    fx.bus.bind(&q, "faxes", "fax.status.#").await.unwrap();
    fx.bus.publish("faxes", "fax.status.acc.job", msg("status")).await.unwrap();
    assert_eq!(drain(&fx.bus, &q, 1).await, strings(&["status"]));
}

// ---------------------------------------------------------------------------------------------------------
// RabbitMQ only.

/// Publishes 2,000 persistent messages to a durable queue while another connection consumes and acks them,
/// restarts the broker midway, and checks that every message whose publish returned `Ok` arrived, through
/// the same delivery stream before and after the restart.
async fn broker_restart_loses_no_confirmed_message(fx: &Fx) {
    const N: usize = 2000;
    /// The publisher asks for the restart here ...
    const RESTART_AT: usize = 500;
    /// ... and waits here for it to be over, so a good part of the run is published after it.
    const RESUME_CHECK_AT: usize = 1500;
    let (publisher_bus, consumer_bus) = fx.rabbit_buses();
    let ex = fx.exchange("durable-ex", ExchangeKind::Direct).await;
    let q = fx.queue_with("durable", QueueOptions::shared_durable()).await;
    fx.bus.bind(&q, &ex, "job").await.unwrap();
    fx.other.declare_queue(&q, QueueOptions::shared_durable()).await.unwrap();

    let received = Arc::new(Mutex::new(HashSet::<usize>::new()));
    let mut stream = fx.other.consume(&q, 50).await.unwrap();
    let sink = received.clone();
    let consumer = tokio::spawn(async move {
        while let Some(d) = stream.next().await {
            let id: usize = text(&d).parse().expect("numeric id");
            d.ack().await.expect("ack");
            sink.lock().unwrap().insert(id);
        }
    });

    let (restart_tx, restart_rx) = tokio::sync::oneshot::channel::<()>();
    let mut restarter = tokio::spawn(async move {
        if restart_rx.await.is_ok() {
            tokio::task::spawn_blocking(faxbox_tests::rabbit::restart_rabbit).await.unwrap().expect("restart");
        }
    });

    let mut confirmed = Vec::new();
    let mut failures = 0;
    let mut restart_tx = Some(restart_tx);
    let mut restarted = false;
    for id in 0..N {
        if id == RESTART_AT
            && let Some(tx) = restart_tx.take()
        {
            let _ = tx.send(());
        }
        if id == RESUME_CHECK_AT {
            (&mut restarter).await.unwrap();
            restarted = true;
        }
        loop {
            match fx.bus.publish(&ex, "job", Message::json(id.to_string())).await {
                Ok(()) => {
                    confirmed.push(id);
                    break;
                }
                Err(e) => {
                    failures += 1;
                    assert!(failures < 20, "publish keeps failing: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    assert!(restarted);
    assert_eq!(confirmed.len(), N);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let missing: Vec<usize> = {
            let got = received.lock().unwrap();
            confirmed.iter().copied().filter(|id| !got.contains(id)).collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} confirmed messages never arrived (first: {:?})",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both connections went through the restart, and the one stream kept delivering after it.
    assert!(publisher_bus.reconnects() >= 1, "the publisher's connection was not restarted");
    assert!(consumer_bus.reconnects() >= 1, "the consumer's connection was not restarted");
    assert!(!consumer.is_finished(), "the consumer's stream ended");
    consumer.abort();
    wait_len(&fx.bus, &q, 0).await;
}

/// A publish made while the broker is down waits for it and succeeds once it is back.
async fn publish_during_an_outage_waits_for_the_broker(fx: &Fx) {
    let (publisher_bus, _) = fx.rabbit_buses();
    let q = fx.queue_with("durable", QueueOptions::shared_durable()).await;
    let mut stream = fx.other.consume(&q, 1).await.unwrap();
    let restart = tokio::task::spawn_blocking(faxbox_tests::rabbit::restart_rabbit);
    let deadline = tokio::time::Instant::now() + WAIT;
    while publisher_bus.is_connected() {
        assert!(tokio::time::Instant::now() < deadline, "the broker did not go down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fx.bus.publish("", &q, msg("through the outage")).await.expect("publish waits for the broker");
    restart.await.unwrap().expect("restart");
    let d = recv(&mut stream).await;
    assert_eq!(text(&d), "through the outage");
    d.ack().await.unwrap();
}

// ---------------------------------------------------------------------------------------------------------
// Instantiation.

macro_rules! conformance {
    (both: [$($both:ident),* $(,)?], rabbitmq_only: [$($rabbit:ident),* $(,)?] $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $both() {
                    let fx = super::Fx::local(stringify!($both));
                    super::$both(&fx).await;
                    fx.cleanup().await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $both() {
                    let _shared = super::RABBIT.read().await;
                    let fx = super::Fx::rabbit(stringify!($both)).await;
                    super::$both(&fx).await;
                    fx.cleanup().await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rabbit() {
                    let _alone = super::RABBIT.write().await;
                    let fx = super::Fx::rabbit(stringify!($rabbit)).await;
                    super::$rabbit(&fx).await;
                    fx.cleanup().await;
                }
            )*
        }
    };
}

conformance! {
    both: [
        exchanges_of_each_kind_declare_idempotently,
        direct_exchange_routes_by_exact_key,
        fanout_exchange_routes_to_every_queue,
        topic_exchange_matches_star_and_hash,
        unbind_stops_routing,
        default_exchange_routes_to_the_named_queue,
        unroutable_publish_is_ok_and_goes_nowhere,
        publish_to_a_missing_exchange_is_not_found,
        missing_queues_and_bad_names_are_reported,
        competing_consumers_share_and_each_message_arrives_once,
        ack_removes_the_message,
        nack_with_requeue_redelivers,
        nack_without_requeue_drops,
        dropped_stream_redelivers_to_the_next_consumer,
        dropped_delivery_is_redelivered,
        prefetch_limits_deliveries_in_flight,
        exclusive_server_named_queue_is_private,
        auto_delete_queue_goes_with_its_last_consumer,
        delete_queue_ends_its_consumers,
        queue_len_counts_waiting_messages,
        message_fields_survive_the_trip,
        rpc_call_gets_the_reply_with_its_msg_id,
        rpc_call_times_out_when_nobody_answers,
        kazoo_exchanges_declare_with_kazoo_types,
    ],
    rabbitmq_only: [
        broker_restart_loses_no_confirmed_message,
        publish_during_an_outage_waits_for_the_broker,
    ],
}
