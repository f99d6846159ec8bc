//! A puppet realtime model: a WebSocket server on loopback that the test
//! drives one event at a time, recording every client event it receives.
//! Where the offline model plays a fixed part, the puppet lets a test feed
//! exact server event sequences and check the exact messages agentd sends.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Accepts connections from agentd.
pub struct Puppet {
    url: String,
    conns: mpsc::UnboundedReceiver<Conn>,
    listener: tokio::task::JoinHandle<()>,
}

impl Puppet {
    /// Listen on a free loopback port.
    pub async fn start() -> Puppet {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind puppet");
        let url = format!(
            "ws://{}/v1/realtime?model=puppet",
            listener.local_addr().expect("addr")
        );
        let (tx, conns) = mpsc::unbounded_channel();
        let listener = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                    let _ = tx.send(Conn {
                        ws,
                        received: Vec::new(),
                    });
                }
            }
        });
        Puppet {
            url,
            conns,
            listener,
        }
    }

    /// Close the listening socket: from now on connecting is refused.
    pub async fn stop_listening(&mut self) {
        self.listener.abort();
        // Awaiting the aborted task guarantees the listener has been dropped.
        let _ = (&mut self.listener).await;
    }

    /// The URL agentd connects to.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The next connection.
    pub async fn accept(&mut self) -> Conn {
        tokio::time::timeout(Duration::from_secs(10), self.conns.recv())
            .await
            .expect("agentd did not connect to the puppet")
            .expect("puppet listener ended")
    }
}

/// One connection from agentd.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    /// Every client event received so far.
    pub received: Vec<Value>,
}

impl Conn {
    /// Send a server event.
    pub async fn send(&mut self, ev: Value) {
        self.ws
            .send(Message::text(ev.to_string()))
            .await
            .expect("puppet send");
    }

    /// Send several server events in order.
    pub async fn send_all(&mut self, evs: impl IntoIterator<Item = Value>) {
        for ev in evs {
            self.send(ev).await;
        }
    }

    /// The next client event; panics after 10 s.
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no client event within 10 s; received so far:\n{:#?}",
                        self.received
                    )
                })
                .expect("agentd closed the connection")
                .expect("websocket error");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).expect("client sent JSON");
                self.received.push(v.clone());
                return v;
            }
        }
    }

    /// The next client event, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let ev = self.recv().await;
        assert_eq!(ev["type"], kind, "expected a {kind} client event, got {ev}");
        ev
    }

    /// Read until `n` pings have arrived (each is answered with a pong while reading).
    pub async fn pings(&mut self, n: usize) {
        let mut seen = 0;
        while seen < n {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await {
                Ok(Some(Ok(Message::Ping(_)))) => seen += 1,
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Ok(v) = serde_json::from_str(t.as_str()) {
                        self.received.push(v);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("connection ended after {seen} of {n} pings: {other:?}"),
                Err(_) => panic!("only {seen} of {n} pings within 10 s"),
            }
        }
    }

    /// Wait until the connection closes; the client events seen on the way are recorded.
    pub async fn closed(&mut self) {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Ok(v) = serde_json::from_str(t.as_str()) {
                        self.received.push(v);
                    }
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("the connection did not close"),
            }
        }
    }

    /// End the TCP connection without a WebSocket close handshake, as a crashed peer would.
    pub async fn kill(&mut self) {
        use tokio::io::AsyncWriteExt;
        let _ = self.ws.get_mut().shutdown().await;
    }
}

/// JSON equality that ignores the values (not the presence) of ids and timing
/// fields: what the reference captures can be compared on.
pub fn same_shape(ours: &Value, reference: &Value) -> bool {
    const VOLATILE: [&str; 6] = [
        "event_id",
        "call_id",
        "item_id",
        "response_id",
        "audio_end_ms",
        "id",
    ];
    match (ours, reference) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().all(|(k, v)| {
                    b.get(k)
                        .is_some_and(|w| VOLATILE.contains(&k.as_str()) || same_shape(v, w))
                })
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_shape(x, y))
        }
        _ => ours == reference,
    }
}

/// The reference client's events for a scenario in ../shared/protocol, if present.
pub fn reference_events(scenario: &str) -> Option<Vec<Value>> {
    let path = super::repo()
        .join("..")
        .join("shared")
        .join("protocol")
        .join(format!("{scenario}.client_events.jsonl"));
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["event"].clone())
            .filter(|e| e["type"] != "_handshake")
            .collect(),
    )
}
