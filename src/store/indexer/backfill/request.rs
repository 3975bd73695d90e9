//! What a backfill job carries: the request (channel, limit) and, on a run's
//! continuation, the run it continues.

use serde::{Deserialize, Serialize};

use crate::model::{Job, JobPayload};

/// What a backfill job asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRequest {
    /// The channel to page.
    pub channel: String,
    /// At most this many messages (`None`: the whole history).
    #[serde(default)]
    pub limit: Option<u64>,
}

impl BackfillRequest {
    /// The job that starts (or resumes) this backfill: for the `backfill` handler
    /// only, with this request as its payload. Publish it on the tenant's inbox
    /// (`Envelope::new(ns, tenant, Payload::Event(Event::Job(job)))`) or fire it
    /// from a schedule with the same payload. The run it starts is named by the
    /// job's envelope id.
    #[must_use]
    pub fn job(&self) -> Job {
        self.job_with(None)
    }

    /// The job that continues run `run` in a fresh handler run: the same request,
    /// and the run's id, so the continuation holds the run's lease.
    pub(super) fn continuation(&self, run: &str) -> Job {
        self.job_with(Some(run))
    }

    fn job_with(&self, run: Option<&str>) -> Job {
        let mut payload = serde_json::json!({
            "channel": self.channel,
            "limit": self.limit,
        });
        if let Some(run) = run {
            payload["run"] = run.into();
        }
        Job {
            schedule: "backfill".to_owned(),
            slot_ms: 0,
            handler: Some("backfill".to_owned()),
            payload: JobPayload::Json(payload),
            recovered: false,
        }
    }
}

/// A backfill job's payload as the handler reads it.
#[derive(Debug, Deserialize)]
pub(super) struct JobRequest {
    channel: String,
    #[serde(default)]
    limit: Option<u64>,
    /// The run a continuation continues; absent on a run's first job.
    #[serde(default)]
    run: Option<String>,
}

impl JobRequest {
    /// The job's request, if `job` is a backfill job (jobs for other handlers carry
    /// no channel).
    pub(super) fn parse(job: &Job) -> Option<Self> {
        let JobPayload::Json(payload) = &job.payload else {
            return None;
        };
        serde_json::from_value(payload.clone()).ok()
    }

    /// The request and the run: the one it continues, else `first_job` (this job's
    /// envelope id) starts one.
    pub(super) fn into_parts(self, first_job: String) -> (BackfillRequest, String) {
        (
            BackfillRequest {
                channel: self.channel,
                limit: self.limit,
            },
            self.run.unwrap_or(first_job),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backfill_continuation_carries_its_run() {
        let request = BackfillRequest {
            channel: "42".into(),
            limit: Some(120),
        };
        let first = JobRequest::parse(&request.job()).unwrap();
        assert_eq!(
            first.into_parts("env-1".into()),
            (request.clone(), "env-1".to_owned())
        );
        let next = JobRequest::parse(&request.continuation("env-1")).unwrap();
        assert_eq!(
            next.into_parts("env-2".into()),
            (request, "env-1".to_owned())
        );
        // A schedule's payload, without a limit.
        let job = Job {
            payload: JobPayload::Json(serde_json::json!({ "channel": "7" })),
            ..BackfillRequest {
                channel: String::new(),
                limit: None,
            }
            .job()
        };
        let (r, _) = JobRequest::parse(&job).unwrap().into_parts("e".into());
        assert_eq!((r.channel.as_str(), r.limit), ("7", None));
        // Another handler's job.
        let other = Job {
            payload: JobPayload::Json(serde_json::json!({ "city": "Lyon" })),
            ..job
        };
        assert!(JobRequest::parse(&other).is_none());
    }
}
