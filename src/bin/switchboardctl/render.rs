//! How `switchboardctl status` draws the runtime and the cluster: a tree with one
//! line per tenant, coloured when the output is a terminal.

use std::fmt::Write as _;

use switchboard::admin::{
    BacklogStatus, ClusterStatus, CommandsStatus, GroupStatus, RuntimeStatus, ScheduleStatus,
    TenantState, TenantStatus,
};
use switchboard::model::now_ms;

fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn human_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_owned()
    }
}

fn tenant_line(t: &TenantStatus, backlog: Option<&BacklogStatus>, color: bool) -> String {
    let (dot, code) = match t.state {
        TenantState::Running => ("●", "32"),
        TenantState::Starting | TenantState::Restarting => ("◌", "33"),
        TenantState::Standby => ("◇", "36"),
        TenantState::Failed => ("✖", "31"),
        TenantState::Stopped => ("○", "90"),
    };
    let mut line = format!("{} {:<22}", paint(color, code, dot), t.id);
    match (t.state, &t.reason) {
        (TenantState::Failed, Some(r)) => {
            line.push_str(&paint(color, "31", &format!("failed: {r}")));
            let _ = write!(line, "  restarts {}", t.restarts);
            return line;
        }
        (s, _) => {
            let _ = write!(line, "{:<10}", format!("{s:?}").to_lowercase());
        }
    }
    for s in &t.shards {
        let _ = write!(
            line,
            " shard {}/{} {} seq {} {}",
            s.id,
            s.total,
            s.state,
            s.seq,
            s.latency_ms
                .map_or_else(|| "-".to_owned(), |l| format!("{l}ms"))
        );
    }
    if let Some(r) = &t.rest {
        let _ = write!(
            line,
            " · rest {} buckets {}×429",
            r.buckets.len(),
            r.rate_limited
        );
    }
    if let Some(c) = &t.commands {
        line.push_str(&commands_part(c, now_ms(), color));
    }
    if let Some(holder) = &t.holder {
        let _ = write!(line, " · on {holder}");
    }
    let _ = write!(line, " · inbox {}", t.inbox);
    if let Some(b) = backlog {
        let _ = write!(line, " · lag {} · pending {}", b.lag, b.pending);
    }
    let _ = write!(line, " · restarts {}", t.restarts);
    // Handler panics are charged to the tenant; past its budget it is quarantined.
    if t.handler_panics > 0 {
        let _ = write!(line, " · panics {}", t.handler_panics);
    }
    if let Some(why) = &t.quarantined {
        line.push_str(&paint(color, "31", &format!(" · quarantined: {why}")));
    }
    line
}

/// One schedule of a tenant: its pattern, next and last run, how often it fired.
fn schedule_line(j: &ScheduleStatus, now_ms: u64, color: bool) -> String {
    let when = |at: Option<i64>, future: bool| {
        at.map_or_else(
            || "-".to_owned(),
            |at| {
                let at = u64::try_from(at).unwrap_or(0);
                if future {
                    format!("in {}", ago(at.saturating_sub(now_ms)))
                } else {
                    format!("{} ago", ago(now_ms.saturating_sub(at)))
                }
            },
        )
    };
    let mut line = format!(
        "⏱ {} \"{}\" {} · next {} · last {} · fired {}",
        j.name,
        j.cron,
        j.tz,
        when(j.next_run_unix_ms, true),
        when(j.last_run_unix_ms, false),
        j.fired
    );
    if j.fired_elsewhere > 0 {
        let _ = write!(line, " (elsewhere {})", j.fired_elsewhere);
    }
    if j.skipped > 0 {
        let _ = write!(line, " · skipped {}", j.skipped);
    }
    if let Some(e) = &j.error {
        line.push_str(&paint(color, "31", &format!(" · {e}")));
    }
    line
}

/// The application commands of a tenant: how many are registered, in how many
/// scopes, and when they were last seen registered (or why not).
fn commands_part(c: &CommandsStatus, now_ms: u64, color: bool) -> String {
    if let Some(e) = &c.error {
        return paint(color, "31", &format!(" · commands: {e}"));
    }
    if !c.synced {
        return " · commands registering".to_owned();
    }
    let scopes = if c.scopes == 1 {
        String::new()
    } else {
        format!(" in {} scopes", c.scopes)
    };
    let ago = c.synced_at_unix_ms.map_or_else(String::new, |at| {
        format!(", {} ago", ago(now_ms.saturating_sub(at)))
    });
    format!(" · commands {}{scopes}{ago}", c.registered)
}

/// A duration in its largest sensible unit (`45s`, `12m`, `3h`, `2d`).
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `status --cluster`: one line per node, then one per tenant with its holder.
pub(crate) fn render_cluster(c: &ClusterStatus) -> String {
    let mut out = format!(
        "cluster · {} nodes · {} tenants held · seen from {}\n",
        c.nodes.len(),
        c.tenants.len(),
        c.node
    );
    let _ = writeln!(
        out,
        "{:<20} {:<7} {:>9} {:>5} {:>8}  ADMIN",
        "NODE", "ROLE", "HEARTBEAT", "HELD", "STANDBY"
    );
    for n in &c.nodes {
        let r = &n.record;
        let _ = writeln!(
            out,
            "{:<20} {:<7} {:>7}ms {:>5} {:>8}  {}",
            r.id,
            r.role,
            n.heartbeat_age_ms,
            r.held.len(),
            r.standby,
            r.admin.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(out, "{:<28} HELD BY", "TENANT");
    for t in &c.tenants {
        let _ = writeln!(out, "{:<28} {}", t.id, t.holder);
    }
    out
}

pub(crate) fn render(s: &RuntimeStatus, color: bool) -> String {
    let mut out = format!(
        "{} {} · node {} · role {} · up {}\n",
        paint(color, "1", "switchboard"),
        s.version,
        s.node,
        s.role,
        human_duration(s.uptime_secs)
    );
    let _ = writeln!(
        out,
        "├─ bus {} · published {} · acked {} · waiting {} · retried {} · dead {}",
        s.bus.backend,
        human_count(s.bus.published),
        human_count(s.bus.acked),
        s.bus.waiting,
        s.bus.retried,
        s.bus.dead_lettered
    );
    if let Some(depth) = s.bus.dead_letter_depth {
        let lag: u64 = s.bus.backlog.iter().map(|b| b.lag).sum();
        let pending: u64 = s.bus.backlog.iter().map(|b| b.pending).sum();
        let _ = writeln!(
            out,
            "│  └─ backlog · lag {lag} · pending {pending} · dead-letter queue {depth}"
        );
    }
    let _ = writeln!(
        out,
        "├─ vault {} · {} leases",
        s.vault.backend, s.vault.leases
    );
    let _ = writeln!(out, "├─ tenants ({})", s.tenants.len());
    let now = now_ms();
    for (i, t) in s.tenants.iter().enumerate() {
        let branch = if i + 1 == s.tenants.len() {
            "└─"
        } else {
            "├─"
        };
        let backlog = s.bus.backlog.iter().find(|b| b.tenant == t.id);
        let _ = writeln!(out, "│  {branch} {}", tenant_line(t, backlog, color));
        for j in &t.schedules {
            let _ = writeln!(out, "│       {}", schedule_line(j, now, color));
        }
    }
    let last = if s.groups.is_empty() {
        "└─"
    } else {
        "├─"
    };
    match &s.workers {
        Some(w) => {
            let state = match (w.state.as_str(), &w.reason) {
                ("running", _) => paint(color, "32", "running"),
                (other, Some(r)) => paint(color, "31", &format!("{other}: {r}")),
                (other, None) => paint(color, "33", other),
            };
            let _ = writeln!(
                out,
                "{last} workers {state} · {} · busy {} · handled {} · failed {} · restarts {} (pool {}) · p99 {}",
                w.workers,
                w.busy,
                human_count(w.handled),
                w.failed,
                w.restarts,
                w.pool_restarts,
                w.p99_us.map_or_else(
                    || "-".to_owned(),
                    |us| format!("{:.1}ms", us as f64 / 1000.0)
                )
            );
        }
        None => {
            let _ = writeln!(out, "{last} workers (none on this node)");
        }
    }
    if !s.groups.is_empty() {
        let _ = writeln!(out, "└─ groups ({})", s.groups.len());
        for (i, g) in s.groups.iter().enumerate() {
            let branch = if i + 1 == s.groups.len() {
                "└─"
            } else {
                "├─"
            };
            let _ = writeln!(out, "   {branch} {}", group_line(g, color));
        }
    }
    out
}

/// One worker group: its pool here (or that another node runs it), its backlog
/// across the cluster, and what this node settled for it.
fn group_line(g: &GroupStatus, color: bool) -> String {
    let pool = match &g.workers {
        Some(w) if w.state == "running" => format!("{} workers · busy {}", w.workers, w.busy),
        Some(w) => paint(
            color,
            "31",
            &format!("pool {}: {}", w.state, w.reason.as_deref().unwrap_or("-")),
        ),
        None => "not run on this node".to_owned(),
    };
    let figure = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), human_count);
    let dead = if g.dead_lettered > 0 {
        paint(color, "33", &format!("dead {}", g.dead_lettered))
    } else {
        "dead 0".to_owned()
    };
    format!(
        "{} · {pool} · lag {} · pending {} · acked {} · retried {} · {dead}",
        paint(color, "1", &g.name),
        figure(g.lag),
        figure(g.pending),
        human_count(g.acked),
        g.retried,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shows_its_pool_backlog_and_outcomes() {
        let g: GroupStatus = serde_json::from_value(serde_json::json!({
            "name": "indexer", "workers": null, "lag": 120, "pending": 3,
            "acked": 40, "retried": 2, "dead_lettered": 1
        }))
        .unwrap();
        assert_eq!(
            group_line(&g, false),
            "indexer · not run on this node · lag 120 · pending 3 · acked 40 · retried 2 · dead 1"
        );
    }

    #[test]
    fn a_schedule_shows_next_and_last_run_and_its_firings() {
        let j: ScheduleStatus = serde_json::from_value(serde_json::json!({
            "name": "tick", "cron": "* * * * * *", "tz": "UTC", "missed": "once",
            "next_run_unix_ms": 10_000, "last_run_unix_ms": 4_000,
            "fired": 7, "fired_elsewhere": 3, "skipped": 1
        }))
        .unwrap();
        let line = schedule_line(&j, 6_000, false);
        assert_eq!(
            line,
            "⏱ tick \"* * * * * *\" UTC · next in 4s · last 2s ago · fired 7 (elsewhere 3) · skipped 1"
        );
    }

    #[test]
    fn a_quarantined_tenant_shows_its_panics_and_why() {
        let t: TenantStatus = serde_json::from_value(serde_json::json!({
            "id": "discord/goose", "state": "running", "reason": null, "restarts": 0,
            "shards": [], "rest": null, "inbox": 0, "handler_panics": 3,
            "quarantined": "its handlers panicked more than 2 times within 60 s"
        }))
        .unwrap();
        let line = tenant_line(&t, None, false);
        assert!(line.contains("panics 3"), "{line}");
        assert!(
            line.contains("quarantined: its handlers panicked more than 2 times"),
            "{line}"
        );
        // A status written before these fields existed still parses, and shows neither.
        let old: TenantStatus = serde_json::from_value(serde_json::json!({
            "id": "discord/duck", "state": "running", "reason": null, "restarts": 0,
            "shards": [], "rest": null, "inbox": 0
        }))
        .unwrap();
        let line = tenant_line(&old, None, false);
        assert!(
            !line.contains("panics") && !line.contains("quarantined") && !line.contains("commands"),
            "{line}"
        );
    }

    #[test]
    fn registered_commands_show_how_many_and_when() {
        let mut c = CommandsStatus {
            registered: 3,
            scopes: 1,
            synced: true,
            synced_at_unix_ms: Some(1_000),
            ..CommandsStatus::default()
        };
        assert_eq!(commands_part(&c, 13_000, false), " · commands 3, 12s ago");
        c.scopes = 2;
        assert_eq!(
            commands_part(&c, 1_000 + 7_200_000, false),
            " · commands 3 in 2 scopes, 2h ago"
        );
        c.synced = false;
        assert_eq!(commands_part(&c, 0, false), " · commands registering");
        c.error = Some("PUT commands: 400 Invalid Form Body".into());
        assert_eq!(
            commands_part(&c, 0, false),
            " · commands: PUT commands: 400 Invalid Form Body"
        );
        let t: TenantStatus = serde_json::from_value(serde_json::json!({
            "id": "discord/duck", "state": "running", "reason": null, "restarts": 0,
            "shards": [], "rest": null, "inbox": 0,
            "commands": {"registered": 1, "scopes": 1, "synced": true, "synced_at_unix_ms": 1}
        }))
        .unwrap();
        assert!(tenant_line(&t, None, false).contains(" · commands 1, "));
    }
}
