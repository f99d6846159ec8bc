//! The offline model's side of calls: the provider's REST routes for call
//! control (`/v1/realtime/calls/{id}/accept|reject|refer|hangup`), WebRTC
//! (`/v1/realtime/calls`, multipart `sdp` + `session` or bare SDP with an
//! ephemeral key; `201` with the SDP answer and `Location` ending in the
//! call id), ephemeral keys (`/v1/realtime/client_secrets`), and the
//! sideband's `?call_id=`; plus what `agentctl call simulate` asks of it
//! (`POST /v1/sim/calls`: make a call, sign its `realtime.call.incoming`
//! webhook with the secret given and deliver it) and what tests read
//! (`GET /v1/sim/calls/{id}`: every request the call received).
//!
//! A call's record is this module's; a sideband connection holds a
//! receiver that tells it when the call ended (hung up or referred), so the
//! provider side closes the sideband as the real one does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The deterministic SDP answer the sim gives every offer.
pub const SDP_ANSWER: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=agentd-sim\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\n";

/// One call as the sim saw it.
#[derive(Debug, Clone, Serialize)]
pub struct SimCall {
    pub call_id: String,
    pub channel: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `incoming`, `accepted`, `rejected`, `referred`, `hung_up`.
    pub state: String,
    pub accepts: Vec<Value>,
    pub rejects: Vec<Value>,
    pub refers: Vec<String>,
    pub hangups: u32,
    /// Sideband connections opened.
    pub sidebands: u32,
    /// Every control request's `Authorization` header, as `Bearer <n chars>`:
    /// a test sees that a key was sent without the sim keeping it.
    pub authorization: Vec<String>,
    /// The session settings the call runs with (the accept's, or the offer's).
    pub session: Value,
    /// What the caller says once the sideband is up.
    pub say: Vec<String>,
    #[serde(skip)]
    ended: Option<Arc<watch::Sender<bool>>>,
}

/// Every call the sim knows.
#[derive(Default)]
pub struct SimCalls {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    calls: BTreeMap<String, SimCall>,
    secrets: BTreeMap<String, u64>,
}

/// What a sideband for a call starts with.
pub struct Sideband {
    pub session: Value,
    pub say: Vec<String>,
    pub ended: watch::Receiver<bool>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Reply {
    reply(
        status,
        json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

impl SimCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn new_call(
        &self,
        channel: &'static str,
        from: Option<String>,
        to: Option<String>,
        say: Vec<String>,
    ) -> String {
        let mut s = self.lock();
        s.next += 1;
        let id = format!("rtc_sim_{:04}", s.next);
        let (tx, _) = watch::channel(false);
        s.calls.insert(
            id.clone(),
            SimCall {
                call_id: id.clone(),
                channel,
                from,
                to,
                state: "incoming".into(),
                accepts: Vec::new(),
                rejects: Vec::new(),
                refers: Vec::new(),
                hangups: 0,
                sidebands: 0,
                authorization: Vec::new(),
                session: Value::Null,
                say,
                ended: Some(Arc::new(tx)),
            },
        );
        id
    }

    /// A sideband for `call_id`, when the call is live.
    pub fn sideband(&self, call_id: &str) -> Option<Sideband> {
        let mut s = self.lock();
        let c = s.calls.get_mut(call_id)?;
        if c.state != "accepted" {
            return None;
        }
        c.sidebands += 1;
        Some(Sideband {
            session: c.session.clone(),
            say: std::mem::take(&mut c.say),
            ended: c.ended.as_ref()?.subscribe(),
        })
    }

    fn end(c: &mut SimCall, state: &str) {
        c.state = state.to_string();
        if let Some(tx) = &c.ended {
            let _ = tx.send(true);
        }
    }

    /// A REST request (anything but a WebSocket upgrade).
    pub async fn handle(self: &Arc<Self>, req: Request<Incoming>) -> Reply {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| match v.strip_prefix("Bearer ") {
                Some(k) => format!("Bearer <{} chars>", k.len()),
                None => "other".to_string(),
            })
            .unwrap_or_else(|| "none".into());
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (&method, segments.as_slice()) {
            (&Method::POST, ["v1", "realtime", "calls", id, action]) => {
                self.control(id, action, &auth, &body)
            }
            (&Method::POST, ["v1", "realtime", "calls"]) => {
                self.offer(&auth, bearer.as_deref(), &content_type, &body)
            }
            (&Method::POST, ["v1", "realtime", "client_secrets"]) => self.client_secret(&body),
            (&Method::POST, ["v1", "sim", "calls"]) => self.simulate(&body).await,
            (&Method::GET, ["v1", "sim", "calls", id]) => match self.lock().calls.get(*id) {
                Some(c) => reply(StatusCode::OK, json!(c)),
                None => error(StatusCode::NOT_FOUND, "no such call"),
            },
            _ => error(
                StatusCode::NOT_FOUND,
                &format!("the sim serves no {method} {path}"),
            ),
        }
    }

    fn control(&self, id: &str, action: &str, auth: &str, body: &[u8]) -> Reply {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut s = self.lock();
        let Some(c) = s.calls.get_mut(id) else {
            return error(StatusCode::NOT_FOUND, &format!("no call `{id}`"));
        };
        c.authorization.push(auth.to_string());
        match action {
            "accept" => {
                if v["type"] != "realtime" || !v["model"].is_string() {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "accept needs `type: realtime` and `model`",
                    );
                }
                c.accepts.push(v.clone());
                if c.state != "incoming" {
                    return error(StatusCode::CONFLICT, &format!("call `{id}` is {}", c.state));
                }
                c.state = "accepted".into();
                c.session = v;
            }
            "reject" => {
                c.rejects.push(v);
                if c.state != "incoming" {
                    return error(StatusCode::CONFLICT, &format!("call `{id}` is {}", c.state));
                }
                c.state = "rejected".into();
            }
            "refer" => {
                let Some(target) = v["target_uri"].as_str() else {
                    return error(StatusCode::BAD_REQUEST, "refer needs `target_uri`");
                };
                c.refers.push(target.to_string());
                Self::end(c, "referred");
            }
            "hangup" => {
                c.hangups += 1;
                Self::end(c, "hung_up");
            }
            other => return error(StatusCode::NOT_FOUND, &format!("no call action `{other}`")),
        }
        reply(StatusCode::OK, json!({}))
    }

    fn offer(&self, auth: &str, bearer: Option<&str>, content_type: &str, body: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(body);
        let (sdp, session) = if content_type.starts_with("multipart/form-data") {
            let Some(boundary) = content_type.split("boundary=").nth(1) else {
                return error(StatusCode::BAD_REQUEST, "multipart without a boundary");
            };
            let parts = multipart_fields(&text, boundary.trim_matches('"'));
            let sdp = parts.get("sdp").cloned().unwrap_or_default();
            let session = parts
                .get("session")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            (sdp, session)
        } else if content_type.starts_with("application/sdp") {
            // A browser's own offer: its ephemeral key must be live (one key
            // may start several calls until it expires).
            let live = bearer.and_then(|k| self.lock().secrets.get(k).copied());
            match live {
                Some(expires) if expires > now() => {}
                Some(_) => return error(StatusCode::UNAUTHORIZED, "the ephemeral key has expired"),
                None => {
                    return error(
                        StatusCode::UNAUTHORIZED,
                        "bare SDP needs an ephemeral key from /v1/realtime/client_secrets",
                    );
                }
            }
            (text.into_owned(), Value::Null)
        } else {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send multipart sdp + session, or application/sdp",
            );
        };
        if !sdp.starts_with("v=") {
            return error(StatusCode::BAD_REQUEST, "the sdp part is not an SDP offer");
        }
        let id = self.new_call("webrtc", None, None, Vec::new());
        let mut s = self.lock();
        if let Some(c) = s.calls.get_mut(&id) {
            c.authorization.push(auth.to_string());
            c.state = "accepted".into();
            c.session = session;
        }
        let mut r = Response::new(Full::new(Bytes::from_static(SDP_ANSWER.as_bytes())));
        *r.status_mut() = StatusCode::CREATED;
        let h = r.headers_mut();
        h.insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/sdp"),
        );
        if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("/v1/realtime/calls/{id}")) {
            h.insert("location", v);
        }
        r
    }

    fn client_secret(&self, body: &[u8]) -> Reply {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let seconds = v["expires_after"]["seconds"].as_u64().unwrap_or(600);
        let mut s = self.lock();
        s.next += 1;
        let key = format!("ek_sim_{:04}", s.next);
        let expires_at = now() + seconds;
        s.secrets.insert(key.clone(), expires_at);
        reply(
            StatusCode::OK,
            json!({"value": key, "expires_at": expires_at, "session": v["session"]}),
        )
    }

    /// Make a SIP call and deliver its signed webhook (unless `deliver` is false).
    async fn simulate(&self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let (Some(to), Some(url), Some(secret)) = (
            v["to"].as_str(),
            v["webhook_url"].as_str(),
            v["secret"].as_str(),
        ) else {
            return error(StatusCode::BAD_REQUEST, "needs to, webhook_url and secret");
        };
        let from = v["from"].as_str().unwrap_or("+15555550123").to_string();
        let say: Vec<String> = v["say"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        let Ok(key) = crate::calls::signature::secret_key(secret) else {
            return error(StatusCode::BAD_REQUEST, "the secret is not whsec_ + base64");
        };
        let call_id = self.new_call("sip", Some(from.clone()), Some(to.to_string()), say);
        let event_id = format!("evt_{call_id}");
        let event = json!({
            "object": "event", "id": event_id, "type": "realtime.call.incoming", "created_at": now(),
            "data": {"call_id": call_id, "sip_headers": [
                {"name": "From", "value": format!("\"Caller\" <sip:{from}@sim.agentd.invalid>;tag=sim")},
                {"name": "To", "value": format!("sip:{to}@sip.agentd.invalid")},
                {"name": "Call-ID", "value": format!("{call_id}@sim")},
            ]}
        });
        let body = event.to_string();
        let webhook_id = format!("wh_{call_id}");
        let timestamp = now();
        let signature =
            crate::calls::signature::sign(&key, &webhook_id, timestamp, body.as_bytes());
        let mut out = json!({
            "call_id": call_id,
            "webhook": {"id": webhook_id, "timestamp": timestamp, "signature": signature, "body": body, "url": url},
        });
        if v["deliver"].as_bool() != Some(false) {
            let headers = [
                ("webhook-id", webhook_id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature.clone()),
            ];
            let ca = v["ca_file"].as_str().map(std::path::PathBuf::from);
            match crate::calls::rest::post_with(
                url,
                None,
                "application/json",
                body.into_bytes(),
                ca.as_deref(),
                &headers,
            )
            .await
            {
                Ok(r) => out["webhook_status"] = json!(r.status),
                Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("webhook delivery: {e}")),
            }
        }
        reply(StatusCode::OK, out)
    }
}

/// The text fields of a `multipart/form-data` body, by name.
fn multipart_fields(body: &str, boundary: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in body.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        out.insert(
            name.to_string(),
            value.strip_suffix("\r\n").unwrap_or(value).to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn multipart_fields_are_read_back() {
        let (ct, body) = crate::calls::rest::multipart(&[
            ("sdp", "application/sdp", "v=0\r\nx"),
            ("session", "application/json", "{}"),
        ]);
        let boundary = ct.split("boundary=").nth(1).unwrap();
        let f = super::multipart_fields(&String::from_utf8(body).unwrap(), boundary);
        assert_eq!(f["sdp"], "v=0\r\nx");
        assert_eq!(f["session"], "{}");
    }
}
