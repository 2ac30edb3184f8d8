//! Starts a node: its backends, its configuration and its root supervisor, and stops it in order.
//!
//! The root supervisor's children are one ordered list ([`children`]), each app exposing a single `child_spec`;
//! stopping the node stops them in reverse order, each within its deadline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kz_amqp::Bus;
use kz_config::Config;
use kz_core::supervisor::{ChildSpec, Intensity, Supervisor, SupervisorMsg, SupervisorSpec};
use kz_data::{Store, StoreError};
use ractor::{Actor, ActorRef};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::admin::{self, AdminContext};
use crate::bootstrap::{Bootstrap, BusBackend, StoreBackend};
use crate::maintenance::Maintenance;

/// How long a node waits for its store or broker at start before giving up.
const BACKEND_WAIT: Duration = Duration::from_secs(30);

/// A running node.
pub struct Node {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub config: Config,
    root: ActorRef<SupervisorMsg>,
    root_task: JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("store", &self.store.backend()).field("bus", &self.bus.backend()).finish()
    }
}

/// Opens the configured store, retrying while it is unreachable.
pub async fn open_store(boot: &Bootstrap) -> anyhow::Result<Arc<dyn Store>> {
    match boot.store.backend {
        StoreBackend::Embedded => {
            let dir = boot.data_dir.join("store");
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let store = kz_data::embedded::EmbeddedStore::open(&dir)
                .with_context(|| format!("cannot open the embedded store in {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        StoreBackend::Couchdb => {
            let started = tokio::time::Instant::now();
            loop {
                let attempt = async {
                    let store = kz_data::couch::CouchStore::connect(&boot.store.url).await?;
                    store.db_list().await?;
                    Ok::<_, StoreError>(store)
                }
                .await;
                match attempt {
                    Ok(store) => return Ok(Arc::new(store)),
                    Err(e) if started.elapsed() < BACKEND_WAIT => {
                        warn!(url = %redact(&boot.store.url), error = %e, "couchdb not ready, retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot reach CouchDB at {}", redact(&boot.store.url)));
                    }
                }
            }
        }
    }
}

/// Connects the configured bus, retrying while the broker is unreachable.
pub async fn open_bus(boot: &Bootstrap) -> anyhow::Result<Arc<dyn Bus>> {
    match boot.bus.backend {
        BusBackend::Local => Ok(Arc::new(kz_amqp::local::LocalBus::new())),
        BusBackend::Amqp => {
            let started = tokio::time::Instant::now();
            loop {
                match kz_amqp::amqp::AmqpBus::connect(&boot.bus.uri).await {
                    Ok(bus) => return Ok(Arc::new(bus)),
                    Err(e) if started.elapsed() < BACKEND_WAIT => {
                        warn!(uri = %redact(&boot.bus.uri), error = %e, "broker not ready, retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot reach the broker at {}", redact(&boot.bus.uri)));
                    }
                }
            }
        }
    }
}

/// A URL with its password hidden, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// What the root supervisor's children are built from.
pub struct Apps {
    pub registry: fax::registry::Registry,
    pub bus: Arc<dyn Bus>,
    pub api_listen: std::net::SocketAddr,
    pub api: Arc<crossbar::ApiContext>,
    pub smtp_listen: std::net::SocketAddr,
    pub smtp: Arc<fax::smtp::SmtpContext>,
    pub admin: Arc<AdminContext>,
}

/// The root supervisor's children, in start order (stopped in reverse): the faxbox registry first, since the
/// API and the email-to-fax server rely on it; the admin endpoint last, so `sup` answers once everything is up
/// and stops answering first.
pub fn children(apps: Apps) -> Vec<ChildSpec> {
    vec![
        fax::registry::child_spec(apps.registry, apps.bus),
        crossbar::child_spec(apps.api_listen, apps.api),
        fax::smtp::child_spec(apps.smtp_listen, apps.smtp),
        admin::child_spec(apps.admin),
    ]
}

/// Starts a node from its bootstrap configuration.
pub async fn start(boot: &Bootstrap) -> anyhow::Result<Node> {
    let store = open_store(boot).await?;
    let report = kz_data::design::refresh_views(store.as_ref()).await.context("cannot push design documents")?;
    info!(databases = report.databases, updated = report.written, "design documents up to date");

    let bus = open_bus(boot).await?;
    kz_amqp::kapi::declare_exchanges(bus.as_ref()).await.context("cannot declare exchanges")?;

    let config = Config::new(store.clone(), boot.node.clone(), boot.zone.clone());
    let fax = config.fax().await.context("cannot load system_config/fax")?;
    info!(default_smtp_domain = %fax.default_smtp_domain, "fax configuration loaded");

    let registry = fax::registry::Registry::new(store.clone(), config.clone());
    let admin = Arc::new(AdminContext {
        listen: boot.admin.listen,
        node: boot.node.clone(),
        store_backend: store.backend(),
        bus_backend: bus.backend(),
        maintenance: Maintenance::new(store.clone(), config.clone(), registry.clone()),
    });
    let api = Arc::new(crossbar::ApiContext {
        store: store.clone(),
        bus: bus.clone(),
        config: config.clone(),
        node: boot.node.clone(),
    });
    let smtp = Arc::new(fax::smtp::SmtpContext {
        store: store.clone(),
        bus: bus.clone(),
        config: config.clone(),
        lookup: Arc::new(registry.clone()),
        node: boot.node.clone(),
        hostname: boot.smtp_hostname(),
        converter: fax::converter::Converter::background().context("cannot start the conversion threads")?,
        facts: Default::default(),
    });
    let apps = Apps {
        registry,
        bus: bus.clone(),
        api_listen: boot.api.listen,
        api,
        smtp_listen: boot.smtp.listen,
        smtp,
        admin,
    };
    let spec = SupervisorSpec { children: children(apps), intensity: Intensity::default() };
    let (root, root_task) = Actor::spawn(Some("faxd_root".into()), Supervisor, spec)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("root supervisor failed to start")?;
    info!(node = %boot.node, store = store.backend(), bus = bus.backend(), "node started");
    Ok(Node { store, bus, config, root, root_task })
}

impl Node {
    /// Stops every app in reverse start order within `deadline`.
    pub async fn stop(self, deadline: Duration) {
        if self.root.stop_and_wait(Some("node stopping".into()), Some(deadline)).await.is_err() {
            warn!(?deadline, "root supervisor did not stop in time");
            self.root.kill();
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.root_task).await;
        info!("node stopped");
    }

    /// Resolves when the root supervisor has ended by itself (it gave up after too many restarts).
    pub async fn ended(&mut self) {
        let _ = (&mut self.root_task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(redact("http://127.0.0.1:5984"), "http://127.0.0.1:5984");
    }
}
