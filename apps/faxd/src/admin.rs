//! Serves the node's admin endpoint: health and the maintenance calls `sup` makes.
//!
//! Stands in for the Erlang distribution `sup` uses to reach a Kazoo node: `GET /health` says whether the node is
//! up and which backends it runs on; `POST /sup` with `{"module", "function", "args"}` runs one maintenance
//! function ([`crate::maintenance`]) and answers `{"ok": true, "reply": ...}` or `{"ok": false, "error", "code"}`.
//! It binds loopback by default: anyone who can reach it administers the node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kz_core::supervisor::{ChildSpec, Restart};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::maintenance::{MaintError, Maintenance};

/// What the admin endpoint needs: the maintenance functions and a few facts for `/health`.
#[derive(Clone, Debug)]
pub struct AdminContext {
    pub listen: SocketAddr,
    pub node: String,
    pub store_backend: &'static str,
    pub bus_backend: &'static str,
    pub maintenance: Maintenance,
}

#[derive(Debug, Deserialize)]
struct SupRequest {
    module: String,
    function: String,
    #[serde(default)]
    args: Vec<String>,
}

fn router(ctx: Arc<AdminContext>) -> Router {
    Router::new().route("/health", get(health)).route("/sup", post(sup)).with_state(ctx)
}

async fn health(State(ctx): State<Arc<AdminContext>>) -> (StatusCode, Json<Value>) {
    let store_ok = ctx.maintenance.store_reachable().await;
    let status = if store_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if store_ok { "ok" } else { "store_unavailable" },
        "node": ctx.node,
        "store": ctx.store_backend,
        "bus": ctx.bus_backend,
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, Json(body))
}

async fn sup(State(ctx): State<Arc<AdminContext>>, Json(req): Json<SupRequest>) -> (StatusCode, Json<Value>) {
    info!(module = %req.module, function = %req.function, args = req.args.len(), "sup call");
    match ctx.maintenance.run(&req.module, &req.function, &req.args).await {
        Ok(reply) => (StatusCode::OK, Json(json!({"ok": true, "reply": reply}))),
        Err(e) => {
            let status = match &e {
                MaintError::Unknown { .. } => StatusCode::NOT_FOUND,
                MaintError::Usage(_) | MaintError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
                MaintError::Store(kz_data::StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            warn!(module = %req.module, function = %req.function, error = %e, "sup call failed");
            (status, Json(json!({"ok": false, "code": e.code(), "error": e.to_string()})))
        }
    }
}

/// The admin endpoint as a supervised actor: it binds in `pre_start` (so a taken port fails the node's start
/// with a clear error) and drains in-flight requests when stopped.
#[derive(Debug)]
pub struct AdminServer;

pub struct AdminState {
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Actor for AdminServer {
    type Msg = ();
    type State = AdminState;
    type Arguments = Arc<AdminContext>;

    async fn pre_start(&self, _me: ActorRef<()>, ctx: Arc<AdminContext>) -> Result<AdminState, ActorProcessingErr> {
        let listener = tokio::net::TcpListener::bind(ctx.listen)
            .await
            .map_err(|e| format!("admin endpoint cannot listen on {}: {e}", ctx.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let app = router(ctx);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await;
            if let Err(e) = served {
                warn!(error = %e, "admin endpoint stopped with an error");
            }
        });
        info!(listen = %addr, "admin endpoint listening");
        Ok(AdminState { shutdown, task: Some(task) })
    }

    async fn post_stop(&self, _me: ActorRef<()>, state: &mut AdminState) -> Result<(), ActorProcessingErr> {
        state.shutdown.cancel();
        if let Some(task) = state.task.take()
            && tokio::time::timeout(Duration::from_secs(3), task).await.is_err()
        {
            warn!("admin endpoint did not drain in time");
        }
        Ok(())
    }

    async fn handle(&self, _me: ActorRef<()>, _msg: (), _state: &mut AdminState) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// The admin endpoint's place in the root supervisor.
pub fn child_spec(ctx: Arc<AdminContext>) -> ChildSpec {
    ChildSpec::new("admin", Restart::Permanent, move |sup| {
        let ctx = ctx.clone();
        async move {
            let (actor, _) = Actor::spawn_linked(Some("faxd_admin".into()), AdminServer, ctx, sup).await?;
            Ok(actor.get_cell())
        }
    })
    .shutdown(Duration::from_secs(4))
}
