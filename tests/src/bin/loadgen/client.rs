//! A load-tool client: a WebSocket with small buffers that has completed hello/welcome.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result, bail};
use chat_protocol::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
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
        Self::connect_from(url, name, None).await
    }

    /// Like [`LoadClient::connect`], from the local address `from` (another 127.0.0.x acts as another host
    /// for the server's per-address limits).
    pub async fn connect_from(url: &str, name: &str, from: Option<IpAddr>) -> Result<LoadClient> {
        let mut ws = open_socket(url, from).await?;
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

/// A WebSocket to `url` (ws://127.0.0.1:port/ws) with small buffers, from local address `from`.
pub async fn open_socket(url: &str, from: Option<IpAddr>) -> Result<Socket> {
    // Small buffers so thousands of clients fit in the tool's memory.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let Some(from) = from else {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .context("websocket connect")?;
        return Ok(ws);
    };
    let tcp = tcp_from(from, server_addr(url)?).await?;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(url, MaybeTlsStream::Plain(tcp), Some(config))
            .await
            .context("websocket handshake")?;
    Ok(ws)
}

/// A TCP connection to `server` from local address `from`.
pub async fn tcp_from(from: IpAddr, server: SocketAddr) -> Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_nodelay(true)?;
    socket.bind(SocketAddr::new(from, 0))?;
    Ok(socket.connect(server).await?)
}

/// `host:port` of a `ws://host:port/...` URL.
pub fn server_addr(url: &str) -> Result<SocketAddr> {
    let rest = url.strip_prefix("ws://").context("ws:// URL expected")?;
    let authority = rest.split('/').next().unwrap_or_default();
    authority.parse().context("ws://ip:port URL expected")
}
