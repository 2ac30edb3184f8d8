//! Supervises actors with Erlang's `one_for_one` policy, which ractor does not provide.
//!
//! Ports OTP's `supervisor` as Kazoo uses it (`fax_sup`: `one_for_one`, 5 restarts in 25 s): children are
//! started in the order given, each restarted on its own when it ends according to its [`Restart`] type, and when
//! more than `max_restarts` restarts happen within `period` the supervisor gives up: it stops its remaining
//! children and fails, so that its own supervisor decides. Stopping a supervisor stops its children in reverse
//! order, each within its shutdown deadline, after which the child is killed.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent};
use tokio::time::Instant;
use tracing::{info, warn};

/// When a child that ended is started again (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always restarted, whether it stopped normally or failed.
    Permanent,
    /// Restarted only when it failed; a normal stop is final.
    Transient,
    /// Never restarted.
    Temporary,
}

/// How many restarts a supervisor tolerates before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: usize,
    pub period: Duration,
}

impl Default for Intensity {
    /// Kazoo's `fax_sup` policy: 5 restarts in 25 s.
    fn default() -> Self {
        Intensity { max_restarts: 5, period: Duration::from_secs(25) }
    }
}

/// A boxed future that starts one child linked to the given supervisor and returns its cell.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// A function that starts a child under the given supervisor cell.
pub type StartFn = Arc<dyn Fn(ActorCell) -> StartFuture + Send + Sync>;

/// One child of a supervisor: how to start it, when to restart it, how long it may take to stop.
#[derive(Clone)]
pub struct ChildSpec {
    pub id: String,
    pub restart: Restart,
    /// How long an orderly stop may take before the child is killed.
    pub shutdown: Duration,
    pub start: StartFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish()
    }
}

impl ChildSpec {
    /// A child started by `start(supervisor_cell)`, which must spawn the actor linked to that cell
    /// (`Actor::spawn_linked(.., supervisor)`) and return its cell. The shutdown deadline defaults to 5 s.
    pub fn new<F, Fut>(id: impl Into<String>, restart: Restart, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        ChildSpec {
            id: id.into(),
            restart,
            shutdown: Duration::from_secs(5),
            start: Arc::new(move |sup| Box::pin(start(sup))),
        }
    }

    /// Sets the shutdown deadline.
    pub fn shutdown(mut self, deadline: Duration) -> Self {
        self.shutdown = deadline;
        self
    }
}

/// What a supervisor runs: an ordered child list and a restart intensity.
#[derive(Debug, Clone, Default)]
pub struct SupervisorSpec {
    pub children: Vec<ChildSpec>,
    pub intensity: Intensity,
}

/// Requests a running supervisor answers.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// The children in start order, with the id of the running actor (None when ended and not restarted).
    WhichChildren(RpcReplyPort<Vec<(String, Option<ractor::ActorId>)>>),
    /// How many restarts this supervisor has made since it started.
    RestartCount(RpcReplyPort<usize>),
}

/// The `one_for_one` supervisor actor. Spawn it with a [`SupervisorSpec`] as arguments.
#[derive(Debug, Default)]
pub struct Supervisor;

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
}

/// What a supervisor keeps while running.
pub struct SupervisorState {
    children: Vec<Child>,
    intensity: Intensity,
    recent_restarts: VecDeque<Instant>,
    total_restarts: usize,
}

impl Supervisor {
    /// Stops the running children in reverse start order, each within its deadline, killing it past that.
    async fn stop_children(children: &mut [Child]) {
        for child in children.iter_mut().rev() {
            if let Some(cell) = child.cell.take() {
                let deadline = child.spec.shutdown;
                if cell.stop_and_wait(Some("shutdown".into()), Some(deadline)).await.is_err() {
                    warn!(child = %child.spec.id, ?deadline, "child did not stop in time, killing it");
                    let _ = cell.kill_and_wait(Some(Duration::from_secs(1))).await;
                }
            }
        }
    }

    /// Records a restart and says whether the intensity limit still allows it.
    fn allow_restart(state: &mut SupervisorState) -> bool {
        let now = Instant::now();
        let period = state.intensity.period;
        while state.recent_restarts.front().is_some_and(|t| now.duration_since(*t) > period) {
            state.recent_restarts.pop_front();
        }
        state.recent_restarts.push_back(now);
        state.total_restarts += 1;
        state.recent_restarts.len() <= state.intensity.max_restarts
    }

    /// Handles the end of child `idx`; `failed` says whether it failed rather than stopped normally.
    async fn child_ended(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        idx: usize,
        failed: bool,
    ) -> Result<(), ActorProcessingErr> {
        state.children[idx].cell = None;
        let spec = state.children[idx].spec.clone();
        let restart = match spec.restart {
            Restart::Permanent => true,
            Restart::Transient => failed,
            Restart::Temporary => false,
        };
        if !restart {
            info!(child = %spec.id, failed, "child ended, not restarted");
            return Ok(());
        }
        loop {
            if !Self::allow_restart(state) {
                warn!(
                    child = %spec.id,
                    max_restarts = state.intensity.max_restarts,
                    period_s = state.intensity.period.as_secs_f64(),
                    "restart intensity reached, supervisor giving up"
                );
                Self::stop_children(&mut state.children).await;
                return Err(format!("restart intensity reached restarting {}", spec.id).into());
            }
            match (spec.start)(myself.get_cell()).await {
                Ok(cell) => {
                    info!(child = %spec.id, "child restarted");
                    state.children[idx].cell = Some(cell);
                    return Ok(());
                }
                Err(e) => warn!(child = %spec.id, error = %e, "child failed to restart"),
            }
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorSpec;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        spec: SupervisorSpec,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut children: Vec<Child> = Vec::with_capacity(spec.children.len());
        for child in spec.children {
            match (child.start)(myself.get_cell()).await {
                Ok(cell) => children.push(Child { spec: child, cell: Some(cell) }),
                Err(e) => {
                    warn!(child = %child.id, error = %e, "child failed to start, stopping those started");
                    Self::stop_children(&mut children).await;
                    return Err(format!("child {} failed to start: {e}", child.id).into());
                }
            }
        }
        Ok(SupervisorState { children, intensity: spec.intensity, recent_restarts: VecDeque::new(), total_restarts: 0 })
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        Self::stop_children(&mut state.children).await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::WhichChildren(reply) => {
                let list = state
                    .children
                    .iter()
                    .map(|c| (c.spec.id.clone(), c.cell.as_ref().map(|cell| cell.get_id())))
                    .collect();
                let _ = reply.send(list);
            }
            SupervisorMsg::RestartCount(reply) => {
                let _ = reply.send(state.total_restarts);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failed) = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => (cell, false),
            SupervisionEvent::ActorFailed(cell, _) => (cell, true),
            _ => return Ok(()),
        };
        let id = cell.get_id();
        let Some(idx) = state.children.iter().position(|c| c.cell.as_ref().is_some_and(|c| c.get_id() == id)) else {
            return Ok(());
        };
        Self::child_ended(&myself, state, idx, failed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A child that fails on `Fail`, stops on `Stop`, and records its start and stop in a shared log.
    struct Worker {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
        stop_delay: Duration,
    }

    enum WorkerMsg {
        Fail,
        Stop,
    }

    impl Actor for Worker {
        type Msg = WorkerMsg;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<WorkerMsg>, _: ()) -> Result<(), ActorProcessingErr> {
            self.log.lock().map_err(|e| e.to_string())?.push(format!("start {}", self.name));
            Ok(())
        }

        async fn post_stop(&self, _: ActorRef<WorkerMsg>, _: &mut ()) -> Result<(), ActorProcessingErr> {
            tokio::time::sleep(self.stop_delay).await;
            self.log.lock().map_err(|e| e.to_string())?.push(format!("stop {}", self.name));
            Ok(())
        }

        async fn handle(&self, me: ActorRef<WorkerMsg>, msg: WorkerMsg, _: &mut ()) -> Result<(), ActorProcessingErr> {
            match msg {
                WorkerMsg::Fail => Err("asked to fail".into()),
                WorkerMsg::Stop => {
                    me.stop(None);
                    Ok(())
                }
            }
        }
    }

    fn worker(
        name: &'static str,
        restart: Restart,
        log: &Arc<Mutex<Vec<String>>>,
        starts: &Arc<AtomicUsize>,
    ) -> ChildSpec {
        let log = log.clone();
        let starts = starts.clone();
        ChildSpec::new(name, restart, move |sup| {
            let log = log.clone();
            starts.fetch_add(1, Ordering::SeqCst);
            async move {
                let actor = Worker { name, log, stop_delay: Duration::ZERO };
                let (r, _) =
                    Actor::spawn_linked(Some(format!("test-{name}-{}", crate::ids::rand_hex(4))), actor, (), sup)
                        .await?;
                Ok(r.get_cell())
            }
        })
    }

    async fn child_ref(sup: &ActorRef<SupervisorMsg>, idx: usize) -> Option<ActorRef<WorkerMsg>> {
        let list = ractor::call!(sup, SupervisorMsg::WhichChildren).ok()?;
        let id = list.get(idx)?.1?;
        ractor::registry::registered()
            .into_iter()
            .filter_map(ractor::registry::where_is)
            .find(|cell| cell.get_id() == id)
            .map(ActorRef::from)
    }

    async fn wait_for<F: Fn() -> bool>(f: F) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let n = Arc::new(AtomicUsize::new(0));
        let spec = SupervisorSpec {
            children: vec![
                worker("a", Restart::Permanent, &log, &n),
                worker("b", Restart::Permanent, &log, &n),
                worker("c", Restart::Permanent, &log, &n),
            ],
            intensity: Intensity::default(),
        };
        let (sup, handle) = Actor::spawn(None, Supervisor, spec).await.expect("spawn");
        sup.stop_and_wait(None, Some(Duration::from_secs(5))).await.expect("stop");
        handle.await.expect("join");
        let log = log.lock().expect("log").clone();
        assert_eq!(log, ["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
    }

    #[tokio::test]
    async fn restarts_by_type() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (p, t, tmp) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let spec = SupervisorSpec {
            children: vec![
                worker("perm", Restart::Permanent, &log, &p),
                worker("trans", Restart::Transient, &log, &t),
                worker("temp", Restart::Temporary, &log, &tmp),
            ],
            intensity: Intensity::default(),
        };
        let (sup, _) = Actor::spawn(None, Supervisor, spec).await.expect("spawn");

        // A permanent child is restarted after a normal stop.
        child_ref(&sup, 0).await.expect("perm").send_message(WorkerMsg::Stop).expect("send");
        wait_for(|| p.load(Ordering::SeqCst) == 2).await;
        assert_eq!(p.load(Ordering::SeqCst), 2);

        // A transient child is restarted after a failure but not after a normal stop.
        child_ref(&sup, 1).await.expect("trans").send_message(WorkerMsg::Fail).expect("send");
        wait_for(|| t.load(Ordering::SeqCst) == 2).await;
        assert_eq!(t.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(50)).await;
        child_ref(&sup, 1).await.expect("trans again").send_message(WorkerMsg::Stop).expect("send");

        // A temporary child is never restarted.
        child_ref(&sup, 2).await.expect("temp").send_message(WorkerMsg::Fail).expect("send");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(t.load(Ordering::SeqCst), 2);
        assert_eq!(tmp.load(Ordering::SeqCst), 1);
        let children = ractor::call!(sup, SupervisorMsg::WhichChildren).expect("call");
        assert!(children[0].1.is_some());
        assert!(children[1].1.is_none(), "transient child stopped normally stays down");
        assert!(children[2].1.is_none(), "temporary child stays down");
        assert_eq!(ractor::call!(sup, SupervisorMsg::RestartCount).expect("call"), 2);
        sup.stop_and_wait(None, Some(Duration::from_secs(5))).await.expect("stop");
    }

    #[tokio::test]
    async fn gives_up_past_intensity() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let n = Arc::new(AtomicUsize::new(0));
        let other = Arc::new(AtomicUsize::new(0));
        let spec = SupervisorSpec {
            children: vec![
                worker("steady", Restart::Permanent, &log, &other),
                worker("flaky", Restart::Permanent, &log, &n),
            ],
            intensity: Intensity { max_restarts: 3, period: Duration::from_secs(10) },
        };
        let (sup, handle) = Actor::spawn(None, Supervisor, spec).await.expect("spawn");
        for round in 1..=4 {
            let child = child_ref(&sup, 1).await.expect("flaky running");
            child.send_message(WorkerMsg::Fail).expect("send");
            if round < 4 {
                wait_for(|| n.load(Ordering::SeqCst) == round + 1).await;
                assert_eq!(n.load(Ordering::SeqCst), round + 1, "restart {round}");
            }
        }
        // The fourth failure within the period exceeds 3 restarts: the supervisor stops everything and fails.
        tokio::time::timeout(Duration::from_secs(5), handle).await.expect("supervisor ended").expect("join");
        assert_eq!(n.load(Ordering::SeqCst), 4);
        let log = log.lock().expect("log").clone();
        assert!(log.contains(&"stop steady".to_string()), "{log:?}");
    }

    #[tokio::test]
    async fn slow_child_is_killed_at_its_deadline() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let slow_log = log.clone();
        let spec = SupervisorSpec {
            children: vec![
                ChildSpec::new("slow", Restart::Permanent, move |sup| {
                    let log = slow_log.clone();
                    async move {
                        let actor = Worker { name: "slow", log, stop_delay: Duration::from_secs(30) };
                        let (r, _) = Actor::spawn_linked(None, actor, (), sup).await?;
                        Ok(r.get_cell())
                    }
                })
                .shutdown(Duration::from_millis(100)),
            ],
            intensity: Intensity::default(),
        };
        let (sup, _) = Actor::spawn(None, Supervisor, spec).await.expect("spawn");
        let started = Instant::now();
        sup.stop_and_wait(None, Some(Duration::from_secs(10))).await.expect("stop");
        assert!(started.elapsed() < Duration::from_secs(5), "stop took {:?}", started.elapsed());
        assert!(!log.lock().expect("log").contains(&"stop slow".to_string()));
    }
}
