//! Measures publish-to-consume throughput of the in-process bus against RabbitMQ on the same machine.
//!
//! Both backends run the same workload, Kazoo-shaped: ~1 KB `fax.status` JSON messages published on a topic
//! exchange by 16 concurrent publishers, each awaiting its publisher confirm (so confirms pipeline), and
//! consumed with acks by one consumer with prefetch 100. The clock runs from the first publish to the last
//! ack. RabbitMQ is found through `FAXBOX_AMQP_URI` (default: the local test broker); when it cannot be
//! reached its row says so. Prints a Markdown table.
//!
//! Run: `cargo bench -p kz_amqp --bench bus` (`BUS_BENCH_MESSAGES` changes the message count).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kz_amqp::amqp::AmqpBus;
use kz_amqp::local::LocalBus;
use kz_amqp::{Bus, BusResult, ExchangeKind, Message, QueueOptions};
use serde_json::json;

const PUBLISHERS: usize = 16;
const PREFETCH: u16 = 100;
const DEFAULT_MESSAGES: usize = 50_000;
const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A Kazoo `fax.status` event padded with the usual envelope to about 1 KB.
fn payload(job: usize) -> Vec<u8> {
    let account = "4d5e6f708192a3b4c5d6e7f8091a2b3c";
    let body = json!({
        "Event-Category": "fax",
        "Event-Name": "status",
        "App-Name": "fax",
        "App-Version": "4.0.0",
        "Node": "faxbox@node1.example.net",
        "Server-ID": "anon-0123456789abcdef0123456789abcdef",
        "Msg-ID": kz_core::ids::new_id(),
        "Account-ID": account,
        "Job-ID": format!("{job:032x}"),
        "FaxBox-ID": "7a8b9c0d1e2f30415263748596a7b8c9",
        "Fax-State": "send",
        "Direction": "outgoing",
        "Status": "Sending page 2 of 3",
        "Page": 2,
        "Stage": "send",
        "Caller-ID-Number": "+14155550100",
        "Caller-ID-Name": "Faxbox Sales Department",
        "Callee-ID-Number": "+33155550199",
        "Callee-ID-Name": "Recipient Office",
        "Fax-Info": {
            "Fax-Success": false,
            "Fax-Result-Code": 0,
            "Fax-Result-Text": "OK",
            "Fax-ECM-Used": true,
            "Fax-Transferred-Pages": 1,
            "Fax-Total-Pages": 3,
            "Fax-Bad-Rows": 0,
            "Fax-Transfer-Rate": 14400,
            "Fax-Remote-Station-ID": "+33 1 55 55 01 99",
            "Fax-Local-Station-ID": "+1 415 555 0100",
            "Fax-Image-Resolution": "204x196",
            "Fax-Image-Size": 61245,
            "Fax-Encoding": "T.4 2-D",
            "Fax-Negotiated-T38": false,
        },
        "Custom-Channel-Vars": {
            "Account-ID": account,
            "Authorizing-Type": "device",
            "Application-Name": "fax",
            "Bridge-ID": "b1f0a2d3c4e5f60718293a4b5c6d7e8f",
            "Call-Interaction-ID": "63860000000-1a2b3c4d",
            "Global-Resource": true,
        },
        "Timestamp": 63_860_000_000_u64 + job as u64,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

struct Outcome {
    messages: usize,
    elapsed: Duration,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

/// Publishes `messages` through `bus` and waits until all are consumed and acked.
async fn run(bus: Arc<dyn Bus>, tag: &str, messages: usize) -> BusResult<Outcome> {
    let exchange = format!("bench.faxes.{tag}");
    bus.declare_exchange(&exchange, ExchangeKind::Topic).await?;
    let queue = bus.declare_queue(&format!("bench.status.{tag}"), QueueOptions::default()).await?;
    bus.bind(&queue, &exchange, "fax.status.#").await?;
    let mut stream = bus.consume(&queue, PREFETCH).await?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..64).map(payload).collect());

    let started = Instant::now();
    let consumer = tokio::spawn(async move {
        let mut seen = 0;
        while seen < messages {
            let Some(delivery) = stream.next().await else {
                break;
            };
            delivery.ack().await?;
            seen += 1;
        }
        BusResult::Ok(seen)
    });
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let bus = bus.clone();
        let exchange = exchange.clone();
        let bodies = bodies.clone();
        let share = messages / PUBLISHERS + usize::from(p < messages % PUBLISHERS);
        publishers.push(tokio::spawn(async move {
            for i in 0..share {
                let n = p * share + i;
                let key = format!("fax.status.4d5e6f708192a3b4c5d6e7f8091a2b3c.{n:032x}");
                bus.publish(&exchange, &key, Message::json(bodies[n % bodies.len()].clone())).await?;
            }
            BusResult::Ok(())
        }));
    }
    for publisher in publishers {
        publisher.await.map_err(|e| kz_amqp::BusError::Unavailable(e.to_string()))??;
    }
    let seen = consumer.await.map_err(|e| kz_amqp::BusError::Unavailable(e.to_string()))??;
    let elapsed = started.elapsed();
    bus.delete_queue(&queue).await?;
    Ok(Outcome { messages: seen, elapsed })
}

async fn local(messages: usize) -> BusResult<Outcome> {
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
    run(bus.clone(), "warmup", messages / 10).await?;
    run(bus, "local", messages).await
}

async fn rabbit(uri: &str, messages: usize) -> BusResult<Outcome> {
    let amqp = AmqpBus::connect(uri).await?;
    let bus: Arc<dyn Bus> = Arc::new(amqp.clone());
    let tag = &kz_core::ids::new_id()[..8];
    let warmup = run(bus.clone(), &format!("warmup-{tag}"), messages / 10).await;
    let outcome = match warmup {
        Ok(_) => run(bus, tag, messages).await,
        Err(e) => Err(e),
    };
    let _ = amqp.delete_exchange(&format!("bench.faxes.warmup-{tag}")).await;
    let _ = amqp.delete_exchange(&format!("bench.faxes.{tag}")).await;
    amqp.close().await;
    outcome
}

fn main() {
    let messages = std::env::var("BUS_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MESSAGES);
    let uri = std::env::var("FAXBOX_AMQP_URI").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_URI.into());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let (local, rabbit) = runtime.block_on(async {
        let local = local(messages).await;
        let rabbit = tokio::time::timeout(Duration::from_secs(45), rabbit(&uri, messages))
            .await
            .unwrap_or_else(|_| Err(kz_amqp::BusError::Unavailable("took longer than 45 s".into())));
        (local, rabbit)
    });

    println!("### Bus throughput: publish (awaiting confirms, {PUBLISHERS} publishers) -> consume + ack, ~1 KB JSON\n");
    println!("| backend | messages | seconds | msgs/s | vs RabbitMQ |");
    println!("|---|---:|---:|---:|---:|");
    let rabbit_rate = rabbit.as_ref().ok().map(Outcome::rate);
    for (name, outcome) in [("in-process (LocalBus)", &local), ("RabbitMQ (AmqpBus)", &rabbit)] {
        match outcome {
            Ok(o) => {
                let ratio = rabbit_rate.map_or("n/a".to_string(), |r| format!("{:.1}x", o.rate() / r));
                println!("| {name} | {} | {:.2} | {:.0} | {ratio} |", o.messages, o.elapsed.as_secs_f64(), o.rate());
            }
            Err(e) => println!("| {name} | {messages} | - | unavailable ({e}) | - |"),
        }
    }
    if let (Ok(l), Some(r)) = (&local, rabbit_rate) {
        let ratio = l.rate() / r;
        println!("\nin-process / RabbitMQ: {ratio:.1}x (target: at least 10x)");
    }
}
