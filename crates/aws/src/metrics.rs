//! CloudWatch metrics in the embedded metric format (EMF): one JSON document per line on stdout,
//! which Lambda sends to CloudWatch Logs, where CloudWatch makes metrics of it. No API call, no
//! `cloudwatch:PutMetricData` permission, nothing to flush in the background.
//!
//! Every metric has one dimension, `Deployment` (`S3C_DEPLOYMENT`, default `local`), in the
//! namespace `S3C_METRICS_NAMESPACE` (default `S3Connector`). Each distinct set of dimension values
//! is a custom metric CloudWatch bills by the month, so a dimension per connection would cost one
//! metric per connection per metric name; the connection and run are properties of the document
//! instead, to be found in CloudWatch Logs Insights.
//!
//! - the worker writes one document per run that finished or failed ([`Metrics::for_run`]); an
//!   invocation that handed over writes none: the finished run's counts are the run's totals, so
//!   counts written at each hand-over would be counted twice;
//! - the dispatcher writes one per invocation ([`Metrics::for_dispatch`]);
//! - the intake writes one per batch ([`Metrics::for_intake`]).
//!
//! The document is written with serde, not through a metrics crate: see [`Document`].

use chrono::{DateTime, Utc};
use connector_core::dispatch::DispatchSummary;
use connector_core::engine::report::SyncReport;
use connector_core::model::SyncResult;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Number;
use std::io::Write;

pub const DEFAULT_NAMESPACE: &str = "S3Connector";
pub const DEFAULT_DEPLOYMENT: &str = "local";
/// The one dimension of every metric.
pub const DIMENSION: &str = "Deployment";

/// CloudWatch's name of a metric's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    Seconds,
}

/// One value of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: Number,
}

impl Metric {
    fn count(name: &'static str, value: u64) -> Metric {
        Metric { name, unit: Unit::Count, value: value.into() }
    }
}

/// Where metrics go and what they are called: one per process, from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub namespace: String,
    /// The value of the `Deployment` dimension.
    pub deployment: String,
    /// The `level` each document carries, when the function's log level is above INFO: under the
    /// JSON log format Lambda drops application log lines below `AWS_LAMBDA_LOG_LEVEL`, and counts
    /// a line without a `level` as INFO, so at WARN it would drop every metric.
    pub level: Option<String>,
}

impl Metrics {
    pub fn new(namespace: &str, deployment: &str) -> Metrics {
        Metrics { namespace: namespace.to_owned(), deployment: deployment.to_owned(), level: None }
    }

    /// `S3C_METRICS_NAMESPACE`, `S3C_DEPLOYMENT` and `AWS_LAMBDA_LOG_LEVEL`.
    pub fn from_env() -> Metrics {
        let var = |name| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Metrics {
            namespace: var("S3C_METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            deployment: var("S3C_DEPLOYMENT").unwrap_or_else(|| DEFAULT_DEPLOYMENT.into()),
            level: var("AWS_LAMBDA_LOG_LEVEL").and_then(|level| level_above_info(&level)),
        }
    }

    /// The metrics of a run that finished or failed; `None` when the sync call finished none (it
    /// handed over, or did nothing). `events_not_published`: run events the bus refused.
    pub fn for_run(&self, report: &SyncReport, events_not_published: u64) -> Option<Document> {
        let run = report.run.as_ref()?;
        let c = &run.counts;
        let failed = matches!(run.result, SyncResult::Failed | SyncResult::NeedsReauth);
        let duration_ms = (run.finished_at - run.started_at).num_milliseconds().max(0) as u64;
        let mut metrics = vec![
            Metric::count("RowsImported", c.rows_imported),
            Metric::count("RowsRejected", c.rows_rejected),
            Metric::count("FilesImported", c.files_imported),
            Metric::count("FilesPartial", c.files_partial),
            Metric::count("FilesFailed", c.files_failed),
            Metric::count("FilesSkipped", c.files_skipped),
            Metric { name: "BytesRead", unit: Unit::Bytes, value: c.bytes_read.into() },
            Metric { name: "RunDurationMs", unit: Unit::Milliseconds, value: duration_ms.into() },
            Metric::count("RunsFailed", u64::from(failed)),
        ];
        // Lag: how far behind the bucket the connection is, as of the run's end.
        if let Some(newest) = run.newest_imported {
            let seconds = (run.finished_at - newest).num_milliseconds().max(0) as f64 / 1000.0;
            if let Some(value) = Number::from_f64(seconds) {
                metrics.push(Metric { name: "LagSeconds", unit: Unit::Seconds, value });
            }
        }
        metrics.push(Metric::count("EventsNotPublished", events_not_published));
        Some(self.document(
            run.finished_at,
            vec![
                ("ConnectionId", run.connection_id.clone()),
                ("RunId", run.run_id.clone()),
                ("Result", run.result.as_str().to_owned()),
            ],
            metrics,
        ))
    }

    /// The metrics of one dispatch: connections by status and the workers it started.
    pub fn for_dispatch(&self, summary: &DispatchSummary, at: DateTime<Utc>) -> Document {
        let s = &summary.by_status;
        let metrics = vec![
            Metric::count("ConnectionsActive", s.active),
            Metric::count("ConnectionsNeedingReauth", s.needs_reauth),
            Metric::count("ConnectionsPaused", s.paused),
            Metric::count("ConnectionsPending", s.pending),
            Metric::count("WorkersInvoked", summary.invoked),
        ];
        self.document(at, vec![("ScheduleRun", summary.schedule_run.clone())], metrics)
    }

    /// The intake's document for one batch: messages, events routed, dropped by reason, and the
    /// connections run, kept for later and failed.
    pub fn for_intake(&self, tally: &connector_core::intake::Tally, at: DateTime<Utc>) -> Document {
        let d = &tally.dropped;
        let metrics = vec![
            Metric::count("IntakeMessages", tally.messages),
            Metric::count("IntakeEventsRouted", tally.routed),
            Metric::count("IntakeEventsNoConnection", d.no_connection),
            Metric::count("IntakeEventsOutsideFolder", d.outside_folder),
            Metric::count("IntakeEventsWrongAccount", d.wrong_account),
            Metric::count("IntakeEventsScheduledConnection", d.scheduled),
            Metric::count("IntakeEventsDeletions", d.deletions),
            Metric::count("IntakeEventsOther", d.other_events + d.test_messages),
            Metric::count("IntakeMessagesUnreadable", d.unreadable),
            Metric::count("IntakeRuns", tally.runs),
            Metric::count("IntakeKeptForLater", tally.kept),
            Metric::count("IntakeMessagesFailed", tally.failed_messages),
        ];
        self.document(at, Vec::new(), metrics)
    }

    fn document(&self, at: DateTime<Utc>, properties: Vec<(&'static str, String)>, metrics: Vec<Metric>) -> Document {
        Document {
            timestamp_ms: at.timestamp_millis(),
            namespace: self.namespace.clone(),
            deployment: self.deployment.clone(),
            level: self.level.clone(),
            properties,
            metrics,
        }
    }

    /// Writes `document` to stdout as one line, in one write: a log line of another thread cannot
    /// land inside it (tracing writes each of its lines whole too). Not through tracing, whose JSON
    /// format would nest the document under "fields", where CloudWatch does not look for `_aws`.
    pub fn emit(&self, document: &Document) {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(document.line().as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %e, "writing metrics to stdout");
        }
    }
}

/// The `level` a metrics line carries for Lambda's log-level filter to keep it: the function's
/// own level when it is above INFO (WARN, ERROR, FATAL), none otherwise (it counts as INFO).
fn level_above_info(level: &str) -> Option<String> {
    let level = level.to_ascii_uppercase();
    matches!(level.as_str(), "WARN" | "ERROR" | "FATAL").then_some(level)
}

/// One EMF document (the specification: "Specification: Embedded metric format" in the CloudWatch
/// user guide): `_aws` with the time and one metric directive (the namespace, the one dimension set
/// `[["Deployment"]]`, each metric's name and unit), then at the top level the dimension's value,
/// the properties and each metric's value, a number.
///
/// Written with serde rather than a crate. `metrics_cloudwatch_embedded` 0.10 is a process-wide
/// recorder of the `metrics` facade: its gauges keep their value and are written again at every
/// flush (an invocation that handed over would repeat the last run's duration and lag), properties
/// stay from one invocation to the next, one recorder per process makes tests of the document need a
/// process each, and its Lambda layer serialises to an unlocked stdout in many writes. `metrique`
/// (awslabs) has the right model, a struct per unit of work, but brings 32 crates into the
/// workspace (metrics-util, quanta, crossbeam, its proc macros...) and Rust 1.91 for one line of
/// eleven numbers. The format itself is small, stable, and checked by our tests against the
/// specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub namespace: String,
    pub deployment: String,
    pub level: Option<String>,
    /// Strings, searchable in Logs Insights; never dimensions.
    pub properties: Vec<(&'static str, String)>,
    pub metrics: Vec<Metric>,
}

impl Document {
    /// The document as one line of JSON, newline included.
    pub fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a document of strings and numbers serialises");
        line.push('\n');
        line
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Aws<'a> {
            timestamp: i64,
            cloud_watch_metrics: [Directive<'a>; 1],
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Directive<'a> {
            namespace: &'a str,
            dimensions: [[&'static str; 1]; 1],
            metrics: Vec<Definition>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Definition {
            name: &'static str,
            unit: Unit,
        }
        let directive = Directive {
            namespace: &self.namespace,
            dimensions: [[DIMENSION]],
            metrics: self.metrics.iter().map(|m| Definition { name: m.name, unit: m.unit }).collect(),
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("_aws", &Aws { timestamp: self.timestamp_ms, cloud_watch_metrics: [directive] })?;
        map.serialize_entry(DIMENSION, &self.deployment)?;
        for (name, value) in &self.properties {
            map.serialize_entry(name, value)?;
        }
        for metric in &self.metrics {
            map.serialize_entry(metric.name, &metric.value)?;
        }
        if let Some(level) = &self.level {
            map.serialize_entry("level", level)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::dispatch::StatusCounts;
    use connector_core::engine::SyncOutcome;
    use connector_core::model::{RunCounts, SyncRun};
    use serde_json::{json, Value};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn run(result: SyncResult, newest_imported: Option<&str>) -> SyncRun {
        SyncRun {
            run_id: "run-1".into(),
            connection_id: "c-1".into(),
            path: connector_core::model::RunPath::Scan,
            template: None,
            backfill_since: None,
            started_at: t("2026-06-01T12:00:00Z"),
            finished_at: t("2026-06-01T12:01:02.500Z"),
            result,
            counts: RunCounts {
                objects_listed: 9,
                objects_selected: 8,
                files_imported: 5,
                files_partial: 1,
                files_failed: 1,
                files_skipped: 1,
                rows_read: 1_010,
                rows_imported: 1_000,
                rows_rejected: 7,
                rows_not_imported: 3,
                bytes_read: 123_456,
                ..RunCounts::default()
            },
            error: None,
            watermark_before: None,
            watermark_after: None,
            newest_imported: newest_imported.map(t),
            first_failures: Vec::new(),
        }
    }

    fn json_of(document: &Document) -> Value {
        let line = document.line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "one line: {line:?}");
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn a_finished_run_is_one_document_with_one_dimension_and_its_ids_as_properties() {
        let metrics = Metrics::new("S3Connector", "prod");
        let report =
            SyncReport::new("c-1", &Ok(SyncOutcome::Completed(run(SyncResult::Partial, Some("2026-06-01T11:00:00Z")))));
        let document = metrics.for_run(&report, 2).expect("a finished run has metrics");

        assert_eq!(
            json_of(&document),
            json!({
                "_aws": {
                    "Timestamp": 1_780_315_262_500_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "S3Connector",
                        "Dimensions": [["Deployment"]],
                        "Metrics": [
                            {"Name": "RowsImported", "Unit": "Count"},
                            {"Name": "RowsRejected", "Unit": "Count"},
                            {"Name": "FilesImported", "Unit": "Count"},
                            {"Name": "FilesPartial", "Unit": "Count"},
                            {"Name": "FilesFailed", "Unit": "Count"},
                            {"Name": "FilesSkipped", "Unit": "Count"},
                            {"Name": "BytesRead", "Unit": "Bytes"},
                            {"Name": "RunDurationMs", "Unit": "Milliseconds"},
                            {"Name": "RunsFailed", "Unit": "Count"},
                            {"Name": "LagSeconds", "Unit": "Seconds"},
                            {"Name": "EventsNotPublished", "Unit": "Count"},
                        ],
                    }],
                },
                "Deployment": "prod",
                "ConnectionId": "c-1",
                "RunId": "run-1",
                "Result": "partial",
                "RowsImported": 1000,
                "RowsRejected": 7,
                "FilesImported": 5,
                "FilesPartial": 1,
                "FilesFailed": 1,
                "FilesSkipped": 1,
                "BytesRead": 123456,
                "RunDurationMs": 62500,
                "RunsFailed": 0,
                "LagSeconds": 3662.5,
                "EventsNotPublished": 2,
            })
        );
    }

    #[test]
    fn a_failed_run_counts_once_and_a_run_that_imported_nothing_has_no_lag() {
        let metrics = Metrics::new("Ns", "local");
        for (result, failed) in [
            (SyncResult::Succeeded, 0),
            (SyncResult::Partial, 0),
            (SyncResult::Failed, 1),
            (SyncResult::NeedsReauth, 1),
        ] {
            let report = SyncReport::new("c-1", &Ok(SyncOutcome::Completed(run(result, None))));
            let document = metrics.for_run(&report, 0).unwrap();
            assert_eq!(document.metric("RunsFailed").map(|m| m.value.as_u64()), Some(Some(failed)), "{result:?}");
            assert_eq!(document.metric("LagSeconds"), None, "{result:?}: nothing imported, no lag");
        }
        // A run that failed on a transient error is reported (and retried by Lambda).
        let retryable = SyncReport::new(
            "c-1",
            &Err(connector_core::engine::SyncError::Retryable(Box::new(run(SyncResult::Failed, None)))),
        );
        assert_eq!(metrics.for_run(&retryable, 0).unwrap().metric("RunsFailed").unwrap().value.as_u64(), Some(1));
    }

    #[test]
    fn a_call_that_finished_no_run_writes_nothing() {
        let metrics = Metrics::new("Ns", "local");
        let handed_over =
            Ok(SyncOutcome::HandedOver { run_id: "run-1".into(), hand_overs: 0, counts: RunCounts::default() });
        let held = Ok(SyncOutcome::LeaseHeld { owner: "other".into(), until: t("2026-06-01T12:10:00Z") });
        let missing = Err(connector_core::engine::SyncError::ConnectionNotFound("c-9".into()));
        for outcome in [handed_over, held, missing] {
            assert_eq!(metrics.for_run(&SyncReport::new("c-1", &outcome), 0), None, "{outcome:?}");
        }
    }

    #[test]
    fn a_dispatch_counts_connections_by_status_and_the_workers_it_started() {
        let metrics = Metrics::new("S3Connector", "prod");
        let summary = DispatchSummary {
            schedule_run: "event-1".into(),
            found: 10,
            by_status: StatusCounts { active: 6, needs_reauth: 1, paused: 2, pending: 1 },
            invoked: 4,
            ..DispatchSummary::default()
        };
        let document = json_of(&metrics.for_dispatch(&summary, t("2026-06-01T00:00:00Z")));
        assert_eq!(document["_aws"]["Timestamp"], 1_780_272_000_000_i64);
        assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Deployment"]]));
        let names: Vec<&str> = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "ConnectionsActive",
                "ConnectionsNeedingReauth",
                "ConnectionsPaused",
                "ConnectionsPending",
                "WorkersInvoked"
            ]
        );
        let values: Vec<&Value> = names.iter().map(|n| &document[n]).collect();
        assert_eq!(values, [&json!(6), &json!(1), &json!(2), &json!(1), &json!(4)]);
        assert_eq!((&document["Deployment"], &document["ScheduleRun"]), (&json!("prod"), &json!("event-1")));
    }

    #[test]
    fn documents_carry_the_functions_level_only_above_info() {
        let cases = [
            ("WARN", Some("WARN")),
            ("error", Some("ERROR")),
            ("FATAL", Some("FATAL")),
            ("INFO", None),
            ("DEBUG", None),
            ("TRACE", None),
        ];
        for (level, expected) in cases {
            assert_eq!(level_above_info(level).as_deref(), expected, "{level}");
        }
        let metrics = Metrics { level: Some("WARN".into()), ..Metrics::new("Ns", "local") };
        let document = json_of(&metrics.for_dispatch(&DispatchSummary::default(), Utc::now()));
        assert_eq!(document["level"], "WARN");
        let quiet = json_of(&Metrics::new("Ns", "local").for_dispatch(&DispatchSummary::default(), Utc::now()));
        assert_eq!(quiet.get("level"), None, "{quiet}");
    }
}
