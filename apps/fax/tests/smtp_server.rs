//! Runs the email-to-fax server on TCP and checks what clients see at its edges: the session limit, the
//! ordered shutdown, and its start under a supervisor.

mod smtp_support;

use std::time::{Duration, Instant};

use fax::smtp::{Limits, Running, SmtpMsg, child_spec_with};
use kz_core::supervisor::{Intensity, Supervisor, SupervisorSpec};
use ractor::{Actor, ActorRef};
use serde_json::json;
use smtp_support::*;

const RCPT: &str = "+14155551212@a1b2c3d4.fax.test";

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

async fn greeted(addr: std::net::SocketAddr) -> Client {
    let mut c = Client::tcp(addr).await;
    assert_eq!(c.reply().await, "220 fax.test Kazoo Email to Fax Server");
    c
}

#[tokio::test]
async fn sessions_past_smtp_sessions_are_told_the_server_is_busy() {
    let world = World::new().await;
    world.set_fax("smtp_sessions", json!(2)).await;
    let server = Running::start(loopback(), world.ctx.clone(), Limits::default()).await.expect("start");
    let addr = server.local_addr();
    let mut a = greeted(addr).await;
    let mut b = greeted(addr).await;
    let mut c = Client::tcp(addr).await;
    assert_eq!(c.reply().await, "421 4.3.2 fax.test is too busy to accept mail right now");
    assert!(c.closed().await);
    a.expect("QUIT", "221 2.0.0 Bye").await;
    assert!(a.closed().await);
    // A place is free again.
    let mut d = greeted(addr).await;
    d.expect("NOOP", "250 2.0.0 Ok").await;
    b.expect("NOOP", "250 2.0.0 Ok").await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn shutdown_refuses_newcomers_ends_idle_sessions_and_finishes_transactions() {
    let world = World::new().await;
    let server = Running::start(loopback(), world.ctx.clone(), Limits::default()).await.expect("start");
    let addr = server.local_addr();

    let mut busy = greeted(addr).await;
    busy.envelope(SENDER, &[RCPT]).await;
    busy.expect("DATA", "354 enter mail, end with line containing only '.'").await;
    let message = wire_form(&fixture("pdf_and_jpeg.eml"));
    let (head, tail) = message.split_at(message.len() / 2);
    busy.send(head).await;
    let mut idle = greeted(addr).await;
    idle.expect("EHLO client.test", &ehlo()).await;

    let stopping = tokio::spawn(server.stop(Duration::from_secs(10)));
    assert_eq!(idle.reply().await, "421 4.3.2 service shutting down");
    assert!(idle.closed().await);
    let mut late = Client::tcp(addr).await;
    assert_eq!(late.reply().await, "421 4.3.2 service shutting down");
    assert!(late.closed().await);

    // The transaction under way completes and is answered; then the session ends too.
    busy.send(tail).await;
    let id = queued_id(&busy.reply().await);
    assert_eq!(busy.reply().await, "421 4.3.2 service shutting down");
    assert!(busy.closed().await);
    tokio::time::timeout(WAIT, stopping).await.expect("stopped in time").expect("stop task");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
    assert_eq!(world.jobs().await.len(), 1);
    assert_eq!(world.jobs().await[0]["_id"], json!(id));
}

#[tokio::test]
async fn sessions_still_running_at_the_deadline_are_cut_without_an_answer() {
    let world = World::new().await;
    let server = Running::start(loopback(), world.ctx.clone(), Limits::default()).await.expect("start");
    let addr = server.local_addr();
    let mut stuck = greeted(addr).await;
    stuck.envelope(SENDER, &[RCPT]).await;
    stuck.expect("DATA", "354 enter mail, end with line containing only '.'").await;
    stuck.send(b"Subject: never ends\r\n\r\nhalf a message\r\n").await;

    let started = Instant::now();
    server.stop(Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(stuck.line().await, None, "cut without a 250");
    assert!(world.jobs().await.is_empty());
}

#[tokio::test]
async fn the_supervised_server_listens_until_its_supervisor_stops() {
    let world = World::new().await;
    let limits = Limits { drain_deadline: Duration::from_secs(1), ..Limits::default() };
    let spec = SupervisorSpec {
        children: vec![child_spec_with(loopback(), world.ctx.clone(), limits.clone())],
        intensity: Intensity::default(),
    };
    let (sup, handle) = Actor::spawn(None, Supervisor, spec).await.expect("supervisor");
    let cell = ractor::registry::where_is("fax_smtp").expect("registered");
    let server: ActorRef<SmtpMsg> = cell.into();
    let addr = ractor::call!(server, SmtpMsg::LocalAddr).expect("local address");
    let mut c = greeted(addr).await;
    c.expect("HELO client.test", "250 fax.test").await;

    sup.stop_and_wait(None, Some(Duration::from_secs(10))).await.expect("supervisor stops");
    handle.await.expect("supervisor task");
    assert!(c.closed().await);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");

    // A port already taken fails the start with a clear error.
    let taken = tokio::net::TcpListener::bind(loopback()).await.expect("bind");
    let spec = SupervisorSpec {
        children: vec![child_spec_with(taken.local_addr().expect("addr"), world.ctx.clone(), limits)],
        intensity: Intensity::default(),
    };
    let failed = Actor::spawn(None, Supervisor, spec).await;
    let error = failed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("email-to-fax server cannot listen on"), "{error}");
}
