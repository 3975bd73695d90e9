//! The gateway (v10, JSON, optional `zstd-stream`): one task per WebSocket connection
//! handling HELLO, IDENTIFY, RESUME, heartbeats, faults and the dispatches queued to
//! its session.
//!
//! Close codes follow Discord's table: 4001 unknown opcode, 4002 decode error (bad
//! JSON, a binary frame, an unsupported `encoding`/`compress`), 4003 not authenticated,
//! 4004 authentication failed, 4005 already authenticated, 4008 rate limited (more
//! than `gateway_commands_per_minute`), 4009 session timed out (no heartbeat within
//! `heartbeat_timeout`; the session is dropped, so the client must IDENTIFY again),
//! 4010 invalid shard, 4012 invalid API version, 4013 invalid intents, 4014
//! disallowed intents. A client's close frame is echoed; a client closing with 1000 or
//! 1001 ends its session (a later RESUME gets op 9), any other code leaves it
//! resumable.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State as AxState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::Instant;

use super::compress::ZstdStream;
use super::config::intents;
use super::payloads::{self, Ready};
use super::server::App;
use super::session::{ConnCmd, ConnLink, Session};
use super::state::State;
use super::stats::bump;

/// Query parameters of the gateway URL.
#[derive(Debug, Deserialize)]
pub(crate) struct GatewayQuery {
    v: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

/// `GET /gateway`: upgrades to a WebSocket.
pub(crate) async fn upgrade(
    AxState(app): AxState<App>,
    Query(q): Query<GatewayQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let refusal = match (q.v.as_deref(), q.encoding.as_deref(), q.compress.as_deref()) {
        (Some(v), _, _) if v != "10" => Some((4012, "invalid API version")),
        (_, Some(e), _) if e != "json" => Some((4002, "only encoding=json is supported")),
        (_, _, Some(c)) if c != "zstd-stream" => Some((4002, "unsupported compression")),
        _ => None,
    };
    let zstd = q.compress.is_some();
    let tracked = app.tracker.clone();
    ws.on_upgrade(move |socket| {
        tracked.track_future(async move {
            if let Some((code, reason)) = refusal {
                close(socket, code, reason).await;
                return;
            }
            Conn::run(app, socket, zstd).await;
        })
    })
}

/// Sends a close frame, then waits briefly for the client's close so unread client
/// data does not turn the close into a TCP reset (not when shutting down).
async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    close_with(&mut socket, code, reason, true).await;
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &str, wait: bool) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() || !wait {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// How a connection ends.
enum End {
    /// We close, with this code and reason.
    Close(u16, String),
    /// The client closed: answer its close frame (RFC 6455 §5.5.1), then drop.
    Echo,
    /// The connection is gone.
    Drop,
}

struct Conn {
    state: Arc<State>,
    id: u64,
    tx: UnboundedSender<ConnCmd>,
    session: Option<Arc<Session>>,
    acks: bool,
    last_heartbeat: Instant,
    window_start: Instant,
    window_count: u32,
    zstd: Option<ZstdStream>,
}

impl Conn {
    async fn run(app: App, mut socket: WebSocket, zstd: bool) {
        let (tx, rx) = unbounded_channel();
        let zstd = match zstd.then(ZstdStream::new).transpose() {
            Ok(z) => z,
            Err(e) => {
                tracing::warn!(error = %e, "zstd encoder unavailable");
                close(socket, 4000, "compression unavailable").await;
                return;
            }
        };
        let now = Instant::now();
        let mut conn = Conn {
            state: Arc::clone(&app.state),
            id: app.state.next_conn_id(),
            tx,
            session: None,
            acks: true,
            last_heartbeat: now,
            window_start: now,
            window_count: 0,
            zstd,
        };
        let end = conn.serve(&app, &mut socket, rx).await;
        if let Some(s) = &conn.session
            && s.detach(conn.id)
        {
            conn.state.tenants[s.tenant].counters.session_detached();
        }
        conn.state.changed.notify_waiters();
        match end {
            End::Close(code, reason) => {
                let wait = !app.cancel.is_cancelled();
                tokio::select! {
                    () = close_with(&mut socket, code, &reason, wait) => {}
                    () = app.cancel.cancelled(), if wait => {}
                }
            }
            End::Echo => {
                // The WebSocket layer queued the echo of the client's close frame
                // when it read it; flushing sends it.
                use futures_util::SinkExt;
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.flush()).await;
            }
            End::Drop => drop(socket),
        }
    }

    async fn serve(
        &mut self,
        app: &App,
        socket: &mut WebSocket,
        mut rx: UnboundedReceiver<ConnCmd>,
    ) -> End {
        let interval = self.state.config.heartbeat_interval;
        let hello = json!({"op": 10, "d": {"heartbeat_interval": interval.as_millis() as u64},
            "s": null, "t": null});
        if self.send(socket, &hello.to_string()).await.is_err() {
            return End::Drop;
        }
        let timeout = self.state.config.effective_heartbeat_timeout();
        loop {
            let deadline = self.last_heartbeat + timeout;
            tokio::select! {
                () = app.cancel.cancelled() => return End::Close(1001, "shutting down".into()),
                () = tokio::time::sleep_until(deadline) => {
                    self.invalidate();
                    return End::Close(4009, "session timed out".into());
                }
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Text(text))) => match self.on_text(text.as_str()) {
                        Ok(Some(reply)) => {
                            if self.send(socket, &reply).await.is_err() {
                                return End::Drop;
                            }
                        }
                        Ok(None) => {}
                        Err((code, reason)) => {
                            if matches!(code, 4004 | 4007 | 4009..=4014) {
                                self.invalidate();
                            }
                            return End::Close(code, reason.into());
                        }
                    },
                    Some(Ok(Message::Binary(_))) => {
                        return End::Close(4002, "binary frames are not JSON".into());
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // Discord: closing with 1000 or 1001 ends the session; any
                        // other code leaves it resumable.
                        let code = frame.as_ref().map_or(1005, |f| f.code);
                        if matches!(code, 1000 | 1001) {
                            self.invalidate();
                        }
                        return End::Echo;
                    }
                    Some(Err(_)) | None => return End::Drop,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                },
                cmd = rx.recv() => {
                    let Some(mut cmd) = cmd else { return End::Drop };
                    loop {
                        match self.on_cmd(socket, cmd, &mut rx).await {
                            Ok(Some(next)) => cmd = next,
                            Ok(None) => break,
                            Err(end) => return end,
                        }
                    }
                }
            }
        }
    }

    /// Handles a command from the session or the fault injector; `Err` ends the
    /// connection. Consecutive frames are written as one batch and flushed once; a
    /// non-frame command met while batching is returned to be handled next.
    async fn on_cmd(
        &mut self,
        socket: &mut WebSocket,
        cmd: ConnCmd,
        rx: &mut UnboundedReceiver<ConnCmd>,
    ) -> Result<Option<ConnCmd>, End> {
        use futures_util::SinkExt;
        match cmd {
            ConnCmd::Frame(first) => {
                let mut next = Some(ConnCmd::Frame(first));
                let mut batched = 0;
                loop {
                    match next {
                        Some(ConnCmd::Frame(f)) => {
                            self.feed(socket, &f).await.map_err(|()| End::Drop)?;
                            batched += 1;
                            next = if batched < 256 {
                                rx.try_recv().ok()
                            } else {
                                None
                            };
                        }
                        other => {
                            socket.flush().await.map_err(|_| End::Drop)?;
                            return Ok(other);
                        }
                    }
                }
            }
            ConnCmd::Close(code, reason) => {
                if matches!(code, 4004 | 4007 | 4009..=4014) {
                    self.invalidate();
                }
                Err(End::Close(code, reason))
            }
            ConnCmd::Drop => Err(End::Drop),
            ConnCmd::Reconnect => {
                let f = json!({"op": 7, "d": null, "s": null, "t": null}).to_string();
                self.send(socket, &f).await.map_err(|()| End::Drop)?;
                Ok(None)
            }
            ConnCmd::InvalidSession(resumable) => {
                if !resumable {
                    self.invalidate();
                }
                let f = json!({"op": 9, "d": resumable, "s": null, "t": null}).to_string();
                self.send(socket, &f).await.map_err(|()| End::Drop)?;
                Ok(None)
            }
            ConnCmd::StopHeartbeatAcks => {
                self.acks = false;
                Ok(None)
            }
        }
    }

    /// Forgets the session (it can no longer be resumed).
    fn invalidate(&mut self) {
        if let Some(s) = self.session.take() {
            self.state.sessions.remove(&s.id);
        }
    }

    fn encode(&mut self, text: &str) -> Result<Message, ()> {
        match &mut self.zstd {
            Some(z) => z
                .compress(text.as_bytes())
                .map(|b| Message::Binary(b.into()))
                .map_err(|e| tracing::warn!(error = %e, "zstd compression failed")),
            None => Ok(Message::Text(text.into())),
        }
    }

    async fn send(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), ()> {
        let msg = self.encode(text)?;
        socket.send(msg).await.map_err(|_| ())
    }

    async fn feed(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), ()> {
        use futures_util::SinkExt;
        let msg = self.encode(text)?;
        socket.feed(msg).await.map_err(|_| ())
    }

    /// Handles one client payload: `Ok(Some(frame))` to answer at once, `Err` to close.
    fn on_text(&mut self, text: &str) -> Result<Option<String>, (u16, &'static str)> {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= Duration::from_secs(60) {
            self.window_start = now;
            self.window_count = 0;
        }
        self.window_count += 1;
        if self.window_count > self.state.config.gateway_commands_per_minute {
            return Err((4008, "rate limited"));
        }
        let payload: Value = serde_json::from_str(text).map_err(|_| (4002, "decode error"))?;
        let op = payload
            .get("op")
            .and_then(Value::as_u64)
            .ok_or((4002, "decode error"))?;
        let d = payload.get("d").unwrap_or(&Value::Null);
        match op {
            1 => {
                self.last_heartbeat = now;
                Ok(self
                    .acks
                    .then(|| r#"{"op":11,"d":null,"s":null,"t":null}"#.to_owned()))
            }
            2 => self.identify(d).map(|()| None),
            6 => Ok(self.resume(d)),
            3 | 4 | 8 | 31 if self.session.is_some() => Ok(None),
            3 | 4 | 8 | 31 => Err((4003, "not authenticated")),
            _ => Err((4001, "unknown opcode")),
        }
    }

    fn identify(&mut self, d: &Value) -> Result<(), (u16, &'static str)> {
        if self.session.is_some() {
            return Err((4005, "already authenticated"));
        }
        let decode = (4002, "decode error");
        let token = d.get("token").and_then(Value::as_str).ok_or(decode)?;
        let requested = d.get("intents").and_then(Value::as_u64).ok_or(decode)?;
        if !d.get("properties").is_some_and(Value::is_object) {
            return Err(decode);
        }
        let shard = match d.get("shard") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let s: [u32; 2] = serde_json::from_value(v.clone()).map_err(|_| decode)?;
                if s[1] == 0 || s[0] >= s[1] {
                    return Err((4010, "invalid shard"));
                }
                Some(s)
            }
        };
        let tenant_idx = self
            .state
            .tenant_by_token(token)
            .ok_or((4004, "authentication failed"))?;
        if requested & !intents::KNOWN != 0 {
            return Err((4013, "invalid intent(s)"));
        }
        let state = Arc::clone(&self.state);
        let tenant = &state.tenants[tenant_idx];
        if !tenant.allows(requested) {
            return Err((4014, "disallowed intent(s)"));
        }
        let session_id = format!("{:032x}", rand::random::<u128>());
        let session = Arc::new(Session::new(
            session_id.clone(),
            tenant_idx,
            shard,
            requested,
            state.config.replay_buffer,
            ConnLink {
                id: self.id,
                tx: self.tx.clone(),
            },
        ));
        let guilds: Vec<u64> = tenant
            .guilds
            .iter()
            .copied()
            .filter(|g| session.receives(Some(*g)))
            .collect();
        let ready = Ready {
            bot: &tenant.bot,
            guild_ids: &guilds,
            session_id: &session_id,
            resume_gateway_url: &state.gateway_url(),
            shard,
            application_id: tenant.application_id,
        };
        session.push("READY", &ready.to_json().to_string());
        let joined = payloads::snowflake_unix_ms(tenant.bot.id).max(payloads::DISCORD_EPOCH_MS);
        for g in &guilds {
            if let Some(cfg) = state.guilds.get(g) {
                let d = payloads::guild_create(cfg, &tenant.bot, joined);
                session.push("GUILD_CREATE", &d.to_string());
            }
        }
        bump(&tenant.counters.identifies);
        bump(&tenant.counters.connections);
        tenant.counters.session_attached();
        tracing::debug!(tenant = %tenant.name, ?shard, "gateway identified");
        state.sessions.insert(session_id, Arc::clone(&session));
        self.session = Some(session);
        state.changed.notify_waiters();
        Ok(())
    }

    /// RESUME: replays the missed dispatches, or answers `INVALID_SESSION` (`false`).
    fn resume(&mut self, d: &Value) -> Option<String> {
        let invalid = Some(r#"{"op":9,"d":false,"s":null,"t":null}"#.to_owned());
        if self.session.is_some() {
            return invalid;
        }
        let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
        let id = d
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let tenant = self.state.tenant_by_token(token);
        let session = self.state.sessions.get(id).map(|s| Arc::clone(s.value()));
        let Some(session) = session.filter(|s| Some(s.tenant) == tenant) else {
            return invalid;
        };
        let link = ConnLink {
            id: self.id,
            tx: self.tx.clone(),
        };
        let Ok((_, took_over)) = session.resume(link, seq) else {
            self.state.sessions.remove(id);
            return invalid;
        };
        let counters = &self.state.tenants[session.tenant].counters;
        if !took_over {
            counters.session_attached();
        }
        bump(&counters.resumes);
        bump(&counters.connections);
        tracing::debug!(tenant = %self.state.tenants[session.tenant].name, "gateway resumed");
        self.session = Some(session);
        self.state.changed.notify_waiters();
        None
    }
}
