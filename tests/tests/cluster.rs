//! Whole-system tests of two faxd nodes sharing the CouchDB-compatible server and RabbitMQ, as a Kazoo cluster
//! runs.

use std::time::{Duration, Instant};

use faxbox_tests::couch_server::couch_url;
use faxbox_tests::node::FaxdNode;
use faxbox_tests::rabbit::{amqp_uri, require_rabbit};

fn cluster_extra(couch: &str) -> String {
    format!(
        "[store]\nbackend = \"couchdb\"\nurl = \"{couch}\"\n\n[bus]\nbackend = \"amqp\"\nuri = \"{}\"\n",
        amqp_uri()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_configuration_and_accounts() {
    require_rabbit().await;
    let couch = couch_url().await;
    let extra = cluster_extra(&couch);
    let (a, b) = tokio::task::spawn_blocking(move || {
        (FaxdNode::start("faxd@cluster-a", &extra), FaxdNode::start("faxd@cluster-b", &extra))
    })
    .await
    .expect("start nodes");

    tokio::task::spawn_blocking(move || {
        // A default set on one node is seen by the other within a second.
        a.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]);
        assert_eq!(b.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]), "fax.kazoo.io");
        a.sup_ok(&["kapps_config", "set_default", "fax", "default_smtp_domain", "cluster.example.com"]);
        let started = Instant::now();
        loop {
            let seen = b.sup_ok(&["kapps_config", "get", "fax", "default_smtp_domain"]);
            if seen == "cluster.example.com" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(1), "node b still sees {seen}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // A node-only setting stays on its node.
        a.sup_ok(&["kapps_config", "set", "fax", "max_outbound", "4"]);
        assert_eq!(a.sup_ok(&["kapps_config", "get", "fax", "max_outbound"]), "4");
        assert_eq!(b.sup_ok(&["kapps_config", "get", "fax", "max_outbound"]), "10");

        // An account created through one node is the master for both.
        let out = a.sup_ok(&[
            "--json",
            "crossbar_maintenance",
            "create_account",
            "Acme",
            "acme.example.com",
            "admin@acme.example.com",
            "pw",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let id = v["reply"]["value"]["account_id"].as_str().expect("account id").to_string();
        assert_eq!(b.sup_ok(&["kapps_util", "get_master_account_id"]), format!("{{ok, {id}}}"));
        let health = a.sup_ok(&["kapps_maintenance", "refresh_views"]);
        assert!(health.starts_with("refreshed views in"), "{health}");
    })
    .await
    .expect("cluster checks");
}
