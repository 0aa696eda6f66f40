//! `GET /apps/{id}/nodes`: every node of a cluster over a private
//! redis-server with its figures, a SIGKILLed one as not alive; one node
//! alone without a cluster.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::nodes::*;
use common::*;

#[tokio::test]
async fn the_nodes_endpoint_lists_every_node_and_a_dead_one_as_not_alive() {
    let Some(redis) = cluster_redis() else {
        return;
    };
    let (_n1, a1) = node(redis.port).await;
    let (mut n2, a2) = node(redis.port).await;
    let _c = subscriber(a2, "news", None).await;
    let _idle = connect(a2).await;

    let nodes =
        async |a: SocketAddr| get_json(a, "/apps/test-app/nodes", &[]).await["nodes"].clone();
    let listed = on_every(&[a1, a2], Duration::from_secs(10), async |a| {
        let list = nodes(a).await;
        list.as_array().is_some_and(|l| {
            l.len() == 2
                && l.iter().all(|n| n["alive"] == true)
                && l.iter()
                    .any(|n| n["connections"] == 2 && n["channels"] == 1)
        })
    })
    .await;
    assert!(listed, "both nodes list both: {}", nodes(a1).await);
    let first = nodes(a1).await;
    for node in first.as_array().unwrap() {
        for field in [
            "id",
            "alive",
            "started_at_ms",
            "last_beat_ms",
            "connections",
            "channels",
            "messages_per_second",
        ] {
            assert!(node.get(field).is_some(), "{field} in {node}");
        }
        assert!(node["messages_per_second"].is_f64(), "{node}");
    }

    // Unsigned: refused like the rest of the HTTP API.
    let (status, _) = http(a1, "GET", "/apps/test-app/nodes", None).await;
    assert_eq!(status, 401);

    n2.sigkill();
    let dead = eventually(Duration::from_secs(30), async || {
        let list = nodes(a1).await;
        list.as_array().is_some_and(|l| {
            l.len() == 2
                && l.iter().filter(|n| n["alive"] == true).count() == 1
                && l.iter()
                    .any(|n| n["alive"] == false && n["connections"] == 2)
        })
    })
    .await;
    assert!(
        dead,
        "the killed node is listed as not alive: {}",
        nodes(a1).await
    );
}

#[tokio::test]
async fn one_node_without_a_cluster_lists_itself() {
    let server = server().await;
    let addr = server.local_addr();
    let _c = connect(addr).await;
    let list = get_json(addr, "/apps/test-app/nodes", &[]).await;
    let nodes = list["nodes"].as_array().expect("a list");
    assert_eq!(nodes.len(), 1, "{list}");
    assert_eq!(nodes[0]["id"], server.node_id());
    assert_eq!(nodes[0]["alive"], true);
    assert_eq!(nodes[0]["connections"], 1);
}
