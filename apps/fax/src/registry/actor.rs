//! Flushes the registry cache when a faxbox, user or account document changes.
//!
//! Ports the invalidation half of Kazoo's `fax_cache` (a `kz_cache` with origin bindings on document changes):
//! the actor owns an exclusive queue bound on the `configuration` exchange for `doc_created`, `doc_edited`
//! and `doc_deleted` of documents typed `faxbox`, `user` and `account` in any database, and flushes the whole
//! cache on each message (changes are rare; lookups refill it). Lookups never wait for it: they read the shared
//! cache directly, and every entry expires within [`super::CACHE_TTL`] anyway, so a lost message, an outage of
//! the bus or a change nobody announced delays a change by at most that long.

use std::sync::Arc;

use futures::StreamExt;
use kz_amqp::kapi::conf::{self, DocCreated, DocDeleted, DocEdited};
use kz_amqp::kapi::{KapiMessage, peek_event};
use kz_amqp::{Bus, Delivery, ExchangeKind, QueueOptions};
use kz_core::supervisor::{ChildSpec, Restart};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::Registry;

/// The document types whose changes may change a lookup's answer.
pub const WATCHED_TYPES: &[&str] = &["faxbox", "user", "account"];

/// Deliveries in flight from the change queue.
const PREFETCH: u16 = 50;

/// The cache invalidation actor (stateless; see [`RegistryState`]).
#[derive(Debug, Default)]
pub struct RegistryActor;

/// What the actor needs: the registry whose cache it flushes and the bus it listens on.
#[derive(Clone)]
pub struct RegistryArgs {
    pub registry: Registry,
    pub bus: Arc<dyn Bus>,
}

/// Messages of the actor.
#[derive(Debug)]
pub enum RegistryMsg {
    /// A document-change message from the queue.
    Change(Box<Delivery>),
    /// The queue's delivery stream ended (the bus connection went away): the actor fails and is restarted.
    FeedEnded,
}

/// The registry, the queue the actor consumes and the task that forwards its deliveries.
pub struct RegistryState {
    registry: Registry,
    bus: Arc<dyn Bus>,
    queue: String,
    feed: JoinHandle<()>,
}

impl Actor for RegistryActor {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = RegistryArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RegistryMsg>,
        args: RegistryArgs,
    ) -> Result<RegistryState, ActorProcessingErr> {
        let bus = args.bus;
        bus.declare_exchange(conf::EXCHANGE, ExchangeKind::Topic).await?;
        let queue = bus.declare_queue("", QueueOptions::exclusive()).await?;
        for doc_type in WATCHED_TYPES {
            bus.bind(&queue, conf::EXCHANGE, &conf::binding(None, None, Some(doc_type), None)).await?;
        }
        let mut deliveries = bus.consume(&queue, PREFETCH).await?;
        // Changes made while nobody listened (first start, or a restart after the bus went away) are not known.
        args.registry.flush();
        let forward_to = myself.clone();
        let feed = tokio::spawn(async move {
            while let Some(delivery) = deliveries.next().await {
                if forward_to.cast(RegistryMsg::Change(Box::new(delivery))).is_err() {
                    return;
                }
            }
            let _ = forward_to.cast(RegistryMsg::FeedEnded);
        });
        info!(queue = %queue, "faxbox registry listening for document changes");
        Ok(RegistryState { registry: args.registry, bus, queue, feed })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RegistryMsg>,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        state.feed.abort();
        if let Err(e) = state.bus.delete_queue(&state.queue).await {
            debug!(queue = %state.queue, error = %e, "registry change queue already gone");
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<RegistryMsg>,
        message: RegistryMsg,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RegistryMsg::Change(delivery) => {
                describe(&delivery);
                state.registry.flush();
                if let Err(e) = delivery.ack().await {
                    warn!(error = %e, "could not ack a document change");
                }
                Ok(())
            }
            RegistryMsg::FeedEnded => Err("document change feed ended".into()),
        }
    }
}

/// Logs which change arrived; a message that does not decode still flushes (it was routed as a change).
fn describe(delivery: &Delivery) {
    let body = &delivery.message.body;
    let decoded = match peek_event(body).map(|(_, name)| name) {
        Ok(name) if name == DocCreated::EVENT_NAME => DocCreated::decode(body).map(|c| (c.database, c.doc_type, c.id)),
        Ok(name) if name == DocEdited::EVENT_NAME => DocEdited::decode(body).map(|c| (c.database, c.doc_type, c.id)),
        Ok(name) if name == DocDeleted::EVENT_NAME => DocDeleted::decode(body).map(|c| (c.database, c.doc_type, c.id)),
        Ok(name) => {
            debug!(event = %name, routing_key = %delivery.routing_key, "unexpected message on the change queue");
            return;
        }
        Err(e) => Err(e),
    };
    match decoded {
        Ok((db, doc_type, id)) => {
            debug!(db = %db, doc_type = ?doc_type, id = %id, "document changed, flushing lookups")
        }
        Err(e) => debug!(routing_key = %delivery.routing_key, error = %e, "undecodable document change, flushing"),
    }
}

/// The supervisor child running the [`RegistryActor`] for `registry` on `bus` (permanent: it is restarted
/// whenever it ends, for instance when the bus connection is lost).
pub fn child_spec(registry: Registry, bus: Arc<dyn Bus>) -> ChildSpec {
    ChildSpec::new("fax_registry", Restart::Permanent, move |supervisor| {
        let args = RegistryArgs { registry: registry.clone(), bus: bus.clone() };
        async move {
            let (actor, _) = Actor::spawn_linked(None, RegistryActor, args, supervisor).await?;
            Ok(actor.get_cell())
        }
    })
}
