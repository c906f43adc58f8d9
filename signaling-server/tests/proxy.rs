//! Behind a reverse proxy or load balancer (`--trusted-proxy`): the per-address session limit counts the
//! client address the proxy forwards (`X-Forwarded-For`, `Forwarded`), and only from a trusted proxy;
//! from anyone else those headers are the client's own claim and are ignored.

mod common;

use common::{Client, expect_close, server};
use serde_json::json;
use signaling_server::RunningServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Opens `/ws` from 127.0.0.1 with the forwarding header `name: value` and says hello.
async fn hello_via(server: &RunningServer, name: &'static str, value: &str) -> Client {
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert(name, value.parse().expect("a header value"));
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    let mut client = Client::unwelcomed(ws);
    client
        .send(json!({"type": "hello", "v": 1, "name": value}))
        .await;
    client
}

async fn welcomed(mut client: Client) -> Client {
    client.expect("welcome").await;
    client
}

async fn refused(mut client: Client) {
    client.expect_error("too_many_sessions").await;
    assert_eq!(expect_close(&mut client.ws).await, CloseCode::Policy);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_session_limit_counts_the_forwarded_client() {
    let server = server(&[
        "--trusted-proxy",
        "127.0.0.0/8",
        "--max-sessions-per-ip",
        "1",
    ])
    .await;
    let _one = welcomed(hello_via(&server, "x-forwarded-for", "203.0.113.1").await).await;
    refused(hello_via(&server, "x-forwarded-for", "203.0.113.1").await).await;
    let _two = welcomed(hello_via(&server, "x-forwarded-for", "203.0.113.2").await).await;
    // What a client writes to the left of the address the proxy appended changes nothing.
    refused(hello_via(&server, "x-forwarded-for", "198.51.100.7, 203.0.113.2").await).await;
    let _three =
        welcomed(hello_via(&server, "forwarded", "for=\"[2001:db8::1]:4711\"").await).await;
    refused(hello_via(&server, "forwarded", "for=\"[2001:db8::2]:80\"").await).await;
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_address_are_ignored() {
    let server = server(&["--max-sessions-per-ip", "1"]).await;
    let _one = welcomed(hello_via(&server, "x-forwarded-for", "203.0.113.1").await).await;
    // Both come from 127.0.0.1, whatever they claim.
    refused(hello_via(&server, "x-forwarded-for", "203.0.113.2").await).await;
}
