//! Runs the REST API as a supervised actor: it binds when started, serves until stopped, then drains.
//!
//! Stands in for crossbar's cowboy listener under `crossbar_sup`: the actor binds in `pre_start`, so a taken
//! port fails the node's start with a clear error instead of a server that never answers; stopping it stops
//! accepting and lets requests in flight finish (within a deadline).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kz_core::supervisor::{ChildSpec, Restart};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ApiContext;

/// How long requests in flight may take to finish once the server is stopped.
const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// The REST API server actor.
#[derive(Debug)]
pub struct ApiServer;

/// What the server actor is started with.
#[derive(Clone)]
pub struct ApiServerArgs {
    pub listen: SocketAddr,
    pub ctx: Arc<ApiContext>,
}

/// The running server: how to stop it and the task serving.
pub struct ApiServerState {
    /// The address actually bound (the port is chosen by the system when `listen` has port 0).
    pub local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

/// Messages the server answers.
#[derive(Debug)]
pub enum ApiServerMsg {
    /// The address it listens on.
    LocalAddr(ractor::RpcReplyPort<SocketAddr>),
}

impl Actor for ApiServer {
    type Msg = ApiServerMsg;
    type State = ApiServerState;
    type Arguments = ApiServerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<ApiServerMsg>,
        args: ApiServerArgs,
    ) -> Result<ApiServerState, ActorProcessingErr> {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("rest api cannot listen on {}: {e}", args.listen))?;
        let local_addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let app = crate::router(args.ctx);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await;
            if let Err(e) = served {
                warn!(error = %e, "rest api stopped with an error");
            }
        });
        info!(listen = %local_addr, "rest api listening");
        Ok(ApiServerState { local_addr, shutdown, task: Some(task) })
    }

    async fn post_stop(
        &self,
        _me: ActorRef<ApiServerMsg>,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        state.shutdown.cancel();
        if let Some(task) = state.task.take()
            && tokio::time::timeout(DRAIN_DEADLINE, task).await.is_err()
        {
            warn!("rest api did not drain in time");
        }
        info!("rest api stopped");
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<ApiServerMsg>,
        msg: ApiServerMsg,
        state: &mut ApiServerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ApiServerMsg::LocalAddr(reply) => {
                let _ = reply.send(state.local_addr);
            }
        }
        Ok(())
    }
}

/// The REST API's place in the node's root supervisor: it listens on `listen` (`[api] listen`).
pub fn child_spec(listen: SocketAddr, ctx: Arc<ApiContext>) -> ChildSpec {
    ChildSpec::new("crossbar", Restart::Permanent, move |sup| {
        let args = ApiServerArgs { listen, ctx: ctx.clone() };
        async move {
            let (actor, _) = Actor::spawn_linked(Some("crossbar".into()), ApiServer, args, sup).await?;
            Ok(actor.get_cell())
        }
    })
    .shutdown(DRAIN_DEADLINE + Duration::from_secs(1))
}
