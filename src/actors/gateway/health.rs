//! Health of a tenant's gateway, shared between the shard tasks (which write atomics)
//! and the handle (which reads a snapshot without an actor round trip).

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use twilight_gateway::ShardState;

use crate::actors::access::{AccessExit as GatewayExit, TenantState};
use crate::model::TenantId;

/// What a shard is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ShardStatus {
    /// Opening its first connection.
    Connecting,
    /// Connected, identifying (waiting for READY).
    Identifying,
    /// Identified with a live session.
    Ready,
    /// Resuming a session (replaying missed dispatches).
    Resuming,
    /// Between connections; it reconnects by itself.
    Disconnected,
    /// Closed for good by the gateway (a fatal close code).
    Failed,
    /// Closed by us (shutdown, lease lost).
    Stopped,
}

impl ShardStatus {
    const ALL: [Self; 7] = [
        Self::Connecting,
        Self::Identifying,
        Self::Ready,
        Self::Resuming,
        Self::Disconnected,
        Self::Failed,
        Self::Stopped,
    ];

    fn from_u8(v: u8) -> Self {
        Self::ALL
            .get(usize::from(v))
            .copied()
            .unwrap_or(Self::Connecting)
    }

    fn index(self) -> u8 {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0) as u8
    }

    fn from_shard(state: ShardState) -> Self {
        match state {
            ShardState::Active => Self::Ready,
            ShardState::Identifying => Self::Identifying,
            ShardState::Resuming => Self::Resuming,
            ShardState::Disconnected { .. } => Self::Disconnected,
            ShardState::FatallyClosed => Self::Failed,
        }
    }
}

/// One shard's health at a point in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardHealth {
    /// Shard id.
    pub id: u32,
    /// Shard count.
    pub total: u32,
    /// What it is doing.
    pub status: ShardStatus,
    /// Sequence number of the last dispatch of its session.
    pub last_sequence: Option<u64>,
    /// Last heartbeat round trip.
    pub latency: Option<Duration>,
    /// Connections opened after the first (the gateway closed the connection, sent
    /// RECONNECT or an invalid session, or the transport failed).
    pub reconnects: u64,
    /// Sessions resumed (RESUMED received).
    pub resumes: u64,
    /// Sessions started (READY received).
    pub identifies: u64,
    /// Dispatches received.
    pub events_in: u64,
    /// Events published on the bus.
    pub published: u64,
    /// Events not published: dropped by the tenant's `allow` lists, or wanted by
    /// none of its handlers (`GatewayArgs::interest`).
    pub filtered: u64,
    /// Dispatches twilight-model could not parse.
    pub parse_errors: u64,
    /// The last close code received, if any.
    pub last_close_code: Option<u16>,
}

/// A snapshot of a tenant's gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayHealth {
    /// The tenant.
    pub tenant: TenantId,
    /// Its state.
    pub state: TenantState,
    /// Its shards, by id.
    pub shards: Vec<ShardHealth>,
}

const NONE: u64 = u64::MAX;

/// Live counters of one shard.
#[derive(Debug)]
pub(crate) struct ShardCounters {
    pub(crate) id: u32,
    pub(crate) total: u32,
    status: AtomicU8,
    last_sequence: AtomicU64,
    latency_us: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) resumes: AtomicU64,
    pub(crate) identifies: AtomicU64,
    pub(crate) events_in: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    last_close: AtomicU32,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl ShardCounters {
    pub(crate) fn new(id: u32, total: u32) -> Self {
        Self {
            id,
            total,
            status: AtomicU8::new(ShardStatus::Connecting.index()),
            last_sequence: AtomicU64::new(NONE),
            latency_us: AtomicU64::new(NONE),
            connections: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            identifies: AtomicU64::new(0),
            events_in: AtomicU64::new(0),
            published: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            parse_errors: AtomicU64::new(0),
            last_close: AtomicU32::new(u32::MAX),
        }
    }

    pub(crate) fn set_status(&self, s: ShardStatus) {
        self.status.store(s.index(), Ordering::Relaxed);
    }

    /// Records what the shard reports after each message.
    pub(crate) fn observe<Q>(&self, shard: &twilight_gateway::Shard<Q>) {
        self.set_status(ShardStatus::from_shard(shard.state()));
        if let Some(s) = shard.session() {
            self.last_sequence.store(s.sequence(), Ordering::Relaxed);
        }
        if let Some(l) = shard.latency().recent().first() {
            let us = u64::try_from(l.as_micros()).unwrap_or(NONE - 1);
            self.latency_us.store(us, Ordering::Relaxed);
        }
    }

    pub(crate) fn closed(&self, code: Option<u16>) {
        self.last_close
            .store(code.map_or(u32::MAX, u32::from), Ordering::Relaxed);
    }

    fn snapshot(&self) -> ShardHealth {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let opt = |v: u64| (v != NONE).then_some(v);
        ShardHealth {
            id: self.id,
            total: self.total,
            status: ShardStatus::from_u8(self.status.load(Ordering::Relaxed)),
            last_sequence: opt(get(&self.last_sequence)),
            latency: opt(get(&self.latency_us)).map(Duration::from_micros),
            reconnects: get(&self.connections).saturating_sub(1),
            resumes: get(&self.resumes),
            identifies: get(&self.identifies),
            events_in: get(&self.events_in),
            published: get(&self.published),
            filtered: get(&self.filtered),
            parse_errors: get(&self.parse_errors),
            last_close_code: u16::try_from(self.last_close.load(Ordering::Relaxed)).ok(),
        }
    }
}

/// The shared health of one tenant's gateway.
#[derive(Debug)]
pub(crate) struct HealthCell {
    tenant: TenantId,
    state: RwLock<TenantState>,
    shards: RwLock<Vec<Arc<ShardCounters>>>,
    /// Why the actor stopped on its own (set just before it stops).
    exit: RwLock<Option<GatewayExit>>,
}

impl HealthCell {
    pub(crate) fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            state: RwLock::new(TenantState::Starting),
            shards: RwLock::new(Vec::new()),
            exit: RwLock::new(None),
        }
    }

    /// Records why the actor stops (the first reason wins).
    pub(crate) fn set_exit(&self, exit: GatewayExit) {
        let mut e = self.exit.write().unwrap_or_else(PoisonError::into_inner);
        if e.is_none() {
            *e = Some(exit);
        }
    }

    pub(crate) fn exit(&self) -> Option<GatewayExit> {
        self.exit
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_shards(&self, shards: Vec<Arc<ShardCounters>>) {
        *self.shards.write().unwrap_or_else(PoisonError::into_inner) = shards;
    }

    pub(crate) fn set_state(&self, state: TenantState) {
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Marks the tenant failed unless it already failed (the first reason wins).
    pub(crate) fn fail(&self, reason: String) {
        let mut s = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*s, TenantState::Failed(_)) {
            *s = TenantState::Failed(reason);
        }
    }

    pub(crate) fn state(&self) -> TenantState {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn snapshot(&self) -> GatewayHealth {
        GatewayHealth {
            tenant: self.tenant.clone(),
            state: self.state(),
            shards: self
                .shards
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|s| s.snapshot())
                .collect(),
        }
    }
}
