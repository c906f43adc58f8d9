//! A load-tool client: a WebSocket with small buffers that has completed hello/welcome.

use anyhow::{Context, Result, bail};
use chat_protocol::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct LoadClient {
    pub ws: Socket,
    pub peer: String,
}

impl LoadClient {
    pub async fn connect(url: &str, name: &str) -> Result<LoadClient> {
        // Small buffers so thousands of clients fit in the tool's memory.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .context("websocket connect")?;
        let hello = serde_json::json!({"type": "hello", "v": 1, "name": name}).to_string();
        ws.send(Message::Text(hello.into())).await?;
        match next_frame(&mut ws).await? {
            ServerFrame::Welcome { peer, .. } => Ok(LoadClient { ws, peer }),
            other => bail!("expected welcome, got {other:?}"),
        }
    }

    /// Joins `room` and returns once `joined` arrived.
    pub async fn join(&mut self, room: &str) -> Result<()> {
        let join = serde_json::json!({"type": "join", "room": room}).to_string();
        self.ws.send(Message::Text(join.into())).await?;
        loop {
            match next_frame(&mut self.ws).await? {
                ServerFrame::Joined { .. } => return Ok(()),
                ServerFrame::Error { message, .. } => bail!("join refused: {message}"),
                _ => continue,
            }
        }
    }
}

/// The next protocol frame (control frames are skipped; pings are answered by the library).
pub async fn next_frame(ws: &mut Socket) -> Result<ServerFrame> {
    loop {
        match ws.next().await.context("server closed the connection")?? {
            Message::Text(text) => {
                return ServerFrame::parse(&text)
                    .map_err(|e| anyhow::anyhow!("bad frame from server: {}", e.message));
            }
            Message::Close(frame) => bail!("server closed: {frame:?}"),
            _ => continue,
        }
    }
}
