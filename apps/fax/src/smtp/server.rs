//! Listens for SMTP connections: the accept loop, the session limit and the ordered shutdown.
//!
//! Ports the listener half of `gen_smtp_server` as `fax_smtp` starts it (`fax_sup`'s child): one task per
//! session, at most `smtp_sessions` of them. A semaphore holds that limit, because every session may hold a
//! message of up to `smtp_max_msg_size` in memory: past it, a client is told `421 4.3.2 ... too busy` and
//! disconnected rather than queued. Stopping is ordered: new connections get `421 4.3.2 service shutting down`,
//! sessions waiting for a command end at once, a transaction under way may finish until the deadline, and what
//! is left then is cut (its client never got a `250`, so it keeps the message and tries again). On start, jobs a
//! crash left `attaching files` are converted ([`crate::converter::recover`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kz_core::supervisor::{ChildSpec, Restart};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::reply::{self, Reply};
use super::{Limits, SmtpContext, session};

/// How long a refusal (busy, shutting down) may take to write before the connection is dropped.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A running email-to-fax listener.
pub struct Running {
    addr: SocketAddr,
    /// Asks sessions to end at their next command, and new connections to be refused.
    shutdown: CancellationToken,
    /// Ends every session and the accept loop now.
    kill: CancellationToken,
    sessions: TaskTracker,
    accept: JoinHandle<()>,
    converter: crate::converter::Converter,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish()
    }
}

impl Running {
    /// Binds `listen` and starts accepting. The session limit is `smtp_sessions` of the fax configuration.
    pub async fn start(listen: SocketAddr, ctx: Arc<SmtpContext>, limits: Limits) -> io::Result<Running> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let max_sessions = match ctx.config.fax().await {
            Ok(fax) => fax.smtp_sessions,
            Err(e) => {
                let default = kz_config::FaxConfig::default().smtp_sessions;
                warn!(error = %e, default, "fax configuration unreadable, smtp_sessions at its default");
                default
            }
        };
        // Jobs a crash left `attaching files` are queued for conversion now, beside the new ones.
        ctx.converter.start(ctx.clone());
        let recovering = ctx.clone();
        tokio::spawn(async move {
            match crate::converter::recover(&recovering).await {
                Ok(0) => {}
                Ok(found) => info!(found, "stranded email-to-fax jobs queued for conversion"),
                Err(e) => warn!(error = %e, "stranded email-to-fax jobs not looked for"),
            }
        });
        let converter = ctx.converter.clone();
        let shutdown = CancellationToken::new();
        let kill = CancellationToken::new();
        let sessions = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(AcceptLoop {
            listener,
            ctx,
            limits: Arc::new(limits),
            permits: Arc::new(Semaphore::new(max_sessions.max(1) as usize)),
            shutdown: shutdown.clone(),
            kill: kill.clone(),
            sessions: sessions.clone(),
        }));
        info!(listen = %addr, max_sessions, "email-to-fax server listening");
        Ok(Running { addr, shutdown, kill, sessions, accept, converter })
    }

    /// The address it listens on (the port chosen when binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops: refuses new connections, lets sessions finish until `deadline`, then cuts the rest.
    pub async fn stop(self, deadline: Duration) {
        self.shutdown.cancel();
        self.sessions.close();
        if tokio::time::timeout(deadline, self.sessions.wait()).await.is_err() {
            warn!(?deadline, left = self.sessions.len(), "smtp sessions cut at the shutdown deadline");
        }
        self.kill.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.sessions.wait()).await;
        let _ = self.accept.await;
        self.converter.stop();
        info!(listen = %self.addr, backlog = self.converter.backlog(), "email-to-fax server stopped");
    }
}

struct AcceptLoop {
    listener: TcpListener,
    ctx: Arc<SmtpContext>,
    limits: Arc<Limits>,
    permits: Arc<Semaphore>,
    shutdown: CancellationToken,
    kill: CancellationToken,
    sessions: TaskTracker,
}

async fn accept_loop(a: AcceptLoop) {
    loop {
        let accepted = tokio::select! {
            _ = a.kill.cancelled() => return,
            accepted = a.listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                warn!(error = %e, "smtp accept failed");
                tokio::select! {
                    _ = a.kill.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        if a.shutdown.is_cancelled() {
            a.sessions.spawn(refuse(stream, reply::shutting_down()));
            continue;
        }
        let Ok(permit) = a.permits.clone().try_acquire_owned() else {
            info!(peer = %peer, "smtp session refused: too many sessions");
            a.sessions.spawn(refuse(stream, reply::too_busy(&a.ctx.hostname)));
            continue;
        };
        let (ctx, limits, shutdown, kill) = (a.ctx.clone(), a.limits.clone(), a.shutdown.clone(), a.kill.clone());
        a.sessions.spawn(async move {
            let peer = peer.to_string();
            tokio::select! {
                _ = kill.cancelled() => {}
                _ = session::serve(stream, &peer, &ctx, &limits, &shutdown) => {}
            }
            drop(permit);
        });
    }
}

/// Writes one reply and closes the connection.
async fn refuse(mut stream: TcpStream, reply: Reply) {
    let write = async {
        stream.write_all(format!("{reply}\r\n").as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, write).await;
}

/// The email-to-fax server as a supervised actor: it binds in `pre_start` (a taken port fails the start with a
/// clear error) and drains its sessions when stopped.
#[derive(Debug)]
pub struct SmtpServer;

/// What the actor starts from.
#[derive(Clone)]
pub struct SmtpArgs {
    pub listen: SocketAddr,
    pub ctx: Arc<SmtpContext>,
    pub limits: Limits,
}

/// Requests the actor answers.
#[derive(Debug)]
pub enum SmtpMsg {
    /// The address it listens on.
    LocalAddr(RpcReplyPort<SocketAddr>),
}

pub struct SmtpState {
    running: Option<Running>,
    drain: Duration,
}

impl Actor for SmtpServer {
    type Msg = SmtpMsg;
    type State = SmtpState;
    type Arguments = SmtpArgs;

    async fn pre_start(&self, _me: ActorRef<SmtpMsg>, args: SmtpArgs) -> Result<SmtpState, ActorProcessingErr> {
        let drain = args.limits.drain_deadline;
        let running = Running::start(args.listen, args.ctx, args.limits)
            .await
            .map_err(|e| format!("email-to-fax server cannot listen on {}: {e}", args.listen))?;
        Ok(SmtpState { running: Some(running), drain })
    }

    async fn handle(
        &self,
        _me: ActorRef<SmtpMsg>,
        msg: SmtpMsg,
        state: &mut SmtpState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SmtpMsg::LocalAddr(reply) => {
                if let Some(running) = &state.running {
                    let _ = reply.send(running.local_addr());
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _me: ActorRef<SmtpMsg>, state: &mut SmtpState) -> Result<(), ActorProcessingErr> {
        if let Some(running) = state.running.take() {
            running.stop(state.drain).await;
        }
        Ok(())
    }
}

/// The email-to-fax server's place in a supervisor, with the default limits.
pub fn child_spec(listen: SocketAddr, ctx: Arc<SmtpContext>) -> ChildSpec {
    child_spec_with(listen, ctx, Limits::default())
}

/// The email-to-fax server's place in a supervisor. Its shutdown deadline leaves room for the session drain.
pub fn child_spec_with(listen: SocketAddr, ctx: Arc<SmtpContext>, limits: Limits) -> ChildSpec {
    let shutdown = limits.drain_deadline + Duration::from_secs(3);
    let args = SmtpArgs { listen, ctx, limits };
    ChildSpec::new("fax_smtp", Restart::Permanent, move |sup| {
        let args = args.clone();
        async move {
            let (actor, _) = Actor::spawn_linked(Some("fax_smtp".into()), SmtpServer, args, sup).await?;
            Ok(actor.get_cell())
        }
    })
    .shutdown(shutdown)
}
