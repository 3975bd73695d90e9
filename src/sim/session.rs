//! Gateway sessions: sequence numbers, the bounded replay buffer used by RESUME, and
//! the link to the connection currently serving the session (if any).
//!
//! A session outlives its connection for `session_ttl`, buffering dispatches, so a
//! client that resumes receives exactly what it missed, in order. Sequence numbers are
//! assigned and frames are handed to the connection under one lock, which is what
//! keeps the order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;

use super::payloads::dispatch_frame;

/// What a connection task is asked to do.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    /// Send this (uncompressed JSON) frame.
    Frame(Arc<str>),
    /// Send a close frame with this code and end the connection.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Send op 7 RECONNECT.
    Reconnect,
    /// Send op 9 `INVALID_SESSION` with this `d`.
    InvalidSession(bool),
    /// Stop answering heartbeats.
    StopHeartbeatAcks,
}

/// The connection currently attached to a session.
#[derive(Debug, Clone)]
pub(crate) struct ConnLink {
    pub(crate) id: u64,
    pub(crate) tx: UnboundedSender<ConnCmd>,
}

/// Why a RESUME was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResumeError {
    /// `seq` is older than the replay buffer or newer than the session.
    SeqOutOfRange,
}

#[derive(Debug)]
struct Inner {
    seq: u64,
    buffer: VecDeque<(u64, Arc<str>)>,
    conn: Option<ConnLink>,
    detached_at: Option<Instant>,
}

/// One gateway session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) tenant: usize,
    /// `[shard_id, shard_count]` from IDENTIFY (`None` = unsharded, i.e. `[0, 1]`).
    pub(crate) shard: Option<[u32; 2]>,
    pub(crate) intents: u64,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Session {
    /// A new session attached to `conn`.
    pub(crate) fn new(
        id: String,
        tenant: usize,
        shard: Option<[u32; 2]>,
        intents: u64,
        capacity: usize,
        conn: ConnLink,
    ) -> Self {
        Self {
            id,
            tenant,
            shard,
            intents,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                seq: 0,
                buffer: VecDeque::new(),
                conn: Some(conn),
                detached_at: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked while holding it; the
        // data (counters and a queue) stays consistent enough for an emulator.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether events of `guild` (or DMs, `None`) belong on this session's shard.
    pub(crate) fn receives(&self, guild: Option<u64>) -> bool {
        let [id, count] = self.shard.unwrap_or([0, 1]);
        match guild {
            Some(g) => (g >> 22) % u64::from(count.max(1)) == u64::from(id),
            None => id == 0,
        }
    }

    /// Assigns the next sequence number to a dispatch, buffers it and sends it to the
    /// attached connection, if any.
    pub(crate) fn push(&self, t: &str, d: &str) {
        let mut inner = self.lock();
        inner.seq += 1;
        let frame: Arc<str> = dispatch_frame(t, inner.seq, d).into();
        let seq = inner.seq;
        if inner.buffer.len() >= self.capacity {
            inner.buffer.pop_front();
        }
        inner.buffer.push_back((seq, Arc::clone(&frame)));
        if let Some(conn) = &inner.conn {
            // A closed channel means the connection is ending; it detaches itself.
            let _ = conn.tx.send(ConnCmd::Frame(frame));
        }
    }

    /// Attaches a resuming connection: replays every buffered dispatch after `seq`,
    /// then RESUMED; returns how many were replayed and whether another connection
    /// was attached (and is now closed). Fails if the buffer no longer holds
    /// everything after `seq`.
    pub(crate) fn resume(&self, conn: ConnLink, seq: u64) -> Result<(usize, bool), ResumeError> {
        let mut inner = self.lock();
        let oldest = inner.buffer.front().map_or(inner.seq + 1, |(s, _)| *s);
        if seq > inner.seq || seq + 1 < oldest {
            return Err(ResumeError::SeqOutOfRange);
        }
        let took_over = if let Some(old) = inner.conn.take() {
            // Discord ends the previous connection of a resumed session.
            let _ = old
                .tx
                .send(ConnCmd::Close(4000, "session resumed elsewhere".into()));
            true
        } else {
            false
        };
        let mut replayed = 0;
        for (s, frame) in &inner.buffer {
            if *s > seq {
                let _ = conn.tx.send(ConnCmd::Frame(Arc::clone(frame)));
                replayed += 1;
            }
        }
        inner.conn = Some(conn);
        inner.detached_at = None;
        drop(inner);
        self.push("RESUMED", "{}");
        Ok((replayed, took_over))
    }

    /// Detaches connection `conn_id` if it is the attached one; `true` if it was.
    pub(crate) fn detach(&self, conn_id: u64) -> bool {
        let mut inner = self.lock();
        if inner.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            inner.conn = None;
            inner.detached_at = Some(Instant::now());
            true
        } else {
            false
        }
    }

    /// Sends a command to the attached connection; `false` if none is attached.
    pub(crate) fn command(&self, cmd: ConnCmd) -> bool {
        self.lock()
            .conn
            .as_ref()
            .is_some_and(|c| c.tx.send(cmd).is_ok())
    }

    /// Whether the session has had no connection for at least `ttl`.
    pub(crate) fn expired(&self, now: Instant, ttl: std::time::Duration) -> bool {
        self.lock()
            .detached_at
            .is_some_and(|at| now.duration_since(at) >= ttl)
    }

    /// The last sequence number assigned.
    pub(crate) fn seq(&self) -> u64 {
        self.lock().seq
    }

    /// Whether a connection is attached.
    pub(crate) fn is_connected(&self) -> bool {
        self.lock().conn.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    fn frames(rx: &mut tokio::sync::mpsc::UnboundedReceiver<ConnCmd>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(cmd) = rx.try_recv() {
            if let ConnCmd::Frame(f) = cmd {
                out.push(f.to_string());
            }
        }
        out
    }

    #[test]
    fn resume_replays_missed_then_resumed() {
        let (tx, mut rx) = unbounded_channel();
        let s = Session::new("s".into(), 0, None, 0, 3, ConnLink { id: 1, tx });
        s.push("A", "{}");
        assert_eq!(frames(&mut rx).len(), 1);
        assert!(s.detach(1));
        assert!(!s.detach(1), "only the attached connection detaches");
        s.push("B", "{}");
        s.push("C", "{}");
        let (tx2, mut rx2) = unbounded_channel();
        assert_eq!(s.resume(ConnLink { id: 2, tx: tx2 }, 1), Ok((2, false)));
        let got = frames(&mut rx2);
        assert_eq!(got.len(), 3);
        assert!(got[0].contains("\"t\":\"B\",\"s\":2"));
        assert!(got[1].contains("\"t\":\"C\",\"s\":3"));
        assert!(got[2].contains("\"t\":\"RESUMED\",\"s\":4"));
    }

    #[test]
    fn resume_fails_when_buffer_overflowed() {
        let (tx, _rx) = unbounded_channel();
        let s = Session::new("s".into(), 0, None, 0, 2, ConnLink { id: 1, tx });
        for _ in 0..5 {
            s.push("A", "{}");
        }
        let (tx2, _rx2) = unbounded_channel();
        assert_eq!(
            s.resume(
                ConnLink {
                    id: 2,
                    tx: tx2.clone()
                },
                1
            ),
            Err(ResumeError::SeqOutOfRange)
        );
        assert_eq!(
            s.resume(
                ConnLink {
                    id: 2,
                    tx: tx2.clone()
                },
                9
            ),
            Err(ResumeError::SeqOutOfRange)
        );
        // Connection 1 is still attached: the resume takes the session over.
        assert_eq!(s.resume(ConnLink { id: 2, tx: tx2 }, 3), Ok((2, true)));
    }

    #[test]
    fn shard_routing_follows_discord_formula() {
        let (tx, _rx) = unbounded_channel();
        let s = Session::new("s".into(), 0, Some([1, 2]), 0, 2, ConnLink { id: 1, tx });
        assert!(s.receives(Some(1 << 22)));
        assert!(!s.receives(Some(2 << 22)));
        assert!(!s.receives(None));
    }
}
