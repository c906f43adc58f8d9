//! Test peer for the app's end-to-end script: joins a room as "Ringer", waits for a peer named
//! `target`, rings every peer of that name (`invite`), then cancels after a moment, which the app must
//! show as an incoming call and then a missed call. Every one, as a caller's "Call room" does: an app
//! that has just restarted may be listed next to its previous session (one that ended without leaving
//! stays in the room for the server's resume grace). Prints how many it rang (`sessions=N`).
//! `ring <server ws url> <room> <target name> [call id]`; exits non-zero on timeout.

use std::collections::BTreeSet;
use std::time::Duration;

use chat_protocol::ServerFrame;
use p2pchat_core::signaling::{Client, ClientConfig, ClientEvent, parse_server_url};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, room, target, call) = match args.as_slice() {
        [url, room, target] => (url, room, target, "e2e-call-1"),
        [url, room, target, call] => (url, room, target, call.as_str()),
        _ => {
            eprintln!("usage: ring <server ws url> <room> <target name> [call id]");
            std::process::exit(2);
        }
    };
    let url = match parse_server_url(url) {
        Ok(url) => url,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(2);
        }
    };
    let (tx, mut rx) = mpsc::channel(64);
    let config = ClientConfig {
        url,
        name: "Ringer".into(),
        token: None,
        rooms: BTreeSet::from([room.clone()]),
    };
    let client = Client::spawn(config, tx);
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = rx.recv().await {
            match event {
                ClientEvent::Frame(ServerFrame::Joined { peers, .. }) => {
                    let named: Vec<String> = peers
                        .into_iter()
                        .filter(|p| &p.name == target)
                        .map(|p| p.peer)
                        .collect();
                    if !named.is_empty() {
                        return Some(named);
                    }
                }
                ClientEvent::Frame(ServerFrame::PeerJoined { peer, name, .. })
                    if &name == target =>
                {
                    return Some(vec![peer]);
                }
                _ => {}
            }
        }
        None
    })
    .await;
    let Ok(Some(peers)) = found else {
        eprintln!("ring: {target} never appeared in {room}");
        std::process::exit(1);
    };
    let send = |json: &str| {
        peers.iter().try_for_each(|peer| {
            let data = RawValue::from_string(json.to_owned()).map_err(|e| e.to_string())?;
            client.signal(room, peer, data).map_err(|e| e.to_string())
        })
    };
    let result = async {
        send(&format!(
            r#"{{"kind":"invite","call":"{call}","media":["audio","video"]}}"#
        ))?;
        println!("ring: invited {target}: sessions={}", peers.len());
        tokio::time::sleep(Duration::from_secs(2)).await;
        send(&format!(r#"{{"kind":"cancel","call":"{call}"}}"#))?;
        println!("ring: cancelled");
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok::<_, String>(())
    }
    .await;
    if let Err(err) = result {
        eprintln!("ring: {err}");
        std::process::exit(1);
    }
}
