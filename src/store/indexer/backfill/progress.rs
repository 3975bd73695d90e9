//! A backfill's stored cursor (`backfill:messages:<channel>`): how far it got, and
//! whether it finished or failed.

use serde::{Deserialize, Serialize};

/// A backfill's stored cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// The oldest message id fetched so far (the next page is before it).
    pub before: Option<String>,
    /// Messages fetched so far.
    pub fetched: u64,
    /// Pages fetched so far.
    pub pages: u64,
    /// The history's start (or the limit) was reached.
    pub done: bool,
    /// Why the last run gave up: its job failed on its last delivery and was
    /// dead-lettered. Cleared when a later run takes the channel up again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BackfillFailure>,
}

/// How a backfill run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillFailure {
    /// The handler's error, with its sources (what the dead letter records).
    pub message: String,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The run that failed (the id of its first job's envelope).
    pub run: String,
    /// Deliveries of the failing job (`runtime.max_deliveries`).
    pub attempts: u32,
}

/// Where a backfill stands, as the admin API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackfillState {
    /// Not finished (nothing stored yet, paging, or paused until the next job).
    Running,
    /// The history's start, or the limit, was reached.
    Done,
    /// The last run failed ([`BackfillProgress::error`]); a new request resumes it
    /// from the cursor.
    Failed,
}

impl BackfillState {
    /// `running`, `done` or `failed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

impl BackfillProgress {
    /// The cursor name of a channel's backfill.
    #[must_use]
    pub fn cursor_name(channel: &str) -> String {
        format!("backfill:messages:{channel}")
    }

    /// Where the backfill stands: failed while an error is recorded, else done or
    /// running.
    #[must_use]
    pub fn state(&self) -> BackfillState {
        if self.error.is_some() {
            BackfillState::Failed
        } else if self.done {
            BackfillState::Done
        } else {
            BackfillState::Running
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backfill_cursors_without_an_error_read_as_before() {
        // A cursor stored before failures were recorded.
        let old = r#"{"before":"7","fetched":100,"pages":1,"done":false}"#;
        let p: BackfillProgress = serde_json::from_str(old).unwrap();
        assert_eq!(p.state(), BackfillState::Running);
        assert_eq!(serde_json::to_string(&p).unwrap(), old);
        let failed = BackfillProgress {
            error: Some(BackfillFailure {
                message: "boom".into(),
                at_ms: 1,
                run: "r".into(),
                attempts: 5,
            }),
            ..p
        };
        assert_eq!(failed.state(), BackfillState::Failed);
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            serde_json::from_str::<BackfillProgress>(&text).unwrap(),
            failed
        );
        assert_eq!(
            serde_json::to_value(BackfillState::Failed).unwrap(),
            "failed"
        );
    }
}
