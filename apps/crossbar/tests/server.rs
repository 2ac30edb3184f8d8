//! Runs the REST API as the node does, under a supervisor: it answers on its port, a taken port fails its start
//! with a clear error, and stopping it closes the port.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use crossbar::server::{ApiServer, ApiServerArgs};
use kz_core::supervisor::{Intensity, Supervisor, SupervisorSpec};
use ractor::Actor;
use support::Harness;

#[tokio::test]
async fn serves_under_a_supervisor_and_refuses_a_taken_port() {
    let h = Harness::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let spec =
        SupervisorSpec { children: vec![crossbar::child_spec(listen, h.ctx.clone())], intensity: Intensity::default() };
    let (sup, task) = Actor::spawn(None, Supervisor, spec).await.expect("supervisor starts");

    let url = format!("http://{listen}/v2/accounts/{}", h.master_id);
    let resp = h.client.get(&url).header("X-Auth-Token", &h.master_token).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["data"]["id"], h.master_id.as_str());

    // A second server on the same port does not start, and says why.
    let taken = Actor::spawn(None, ApiServer, ApiServerArgs { listen, ctx: h.ctx.clone() }).await;
    let err = taken.err().map(|e| format!("{e:?}")).unwrap_or_default();
    assert!(err.contains("cannot listen on") && err.contains(&port.to_string()), "{err}");

    // Stopping the supervisor stops the server and frees the port.
    sup.stop_and_wait(Some("test over".into()), Some(Duration::from_secs(10))).await.expect("stops");
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    let after = h.client.get(&url).timeout(Duration::from_secs(2)).send().await;
    assert!(after.is_err(), "still answering after stop: {after:?}");
    std::net::TcpListener::bind(listen).expect("the port is free again");
}
