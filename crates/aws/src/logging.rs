//! How the Lambda functions log: the variables of Lambda's advanced logging controls, read as the
//! runtime's own `lambda_runtime::tracing::init_default_subscriber` reads them, with two differences
//! that keep its documented promise ("`AWS_LAMBDA_LOG_LEVEL` takes precedence"):
//!
//! - `AWS_LAMBDA_LOG_LEVEL` (Lambda sets it from the function's ApplicationLogLevel under the JSON
//!   log format) is the most verbose level written. `RUST_LOG` still chooses per target below it
//!   (`info,aws_smithy_runtime=warn`), but cannot go past it: in the runtime's set-up `RUST_LOG=debug`
//!   wins over `AWS_LAMBDA_LOG_LEVEL=WARN`, and Lambda would then drop those lines anyway;
//! - `FATAL`, one of Lambda's levels, means errors only (tracing has no fatal level; the runtime's
//!   parse fails on it and falls back to INFO).
//!
//! Without `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG`'s directives, else INFO. `AWS_LAMBDA_LOG_FORMAT=JSON`
//! writes one JSON object per line (with the `level` Lambda filters on), anything else plain text;
//! no time (Lambda stamps each line) and no ANSI colours (CloudWatch shows them as escape codes).

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The logging variables of a function's environment (unset or empty: `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEnv {
    /// `AWS_LAMBDA_LOG_LEVEL`: TRACE, DEBUG, INFO, WARN, ERROR or FATAL.
    pub level: Option<String>,
    /// `RUST_LOG`: tracing directives.
    pub rust_log: Option<String>,
    /// `AWS_LAMBDA_LOG_FORMAT`: JSON or Text.
    pub format: Option<String>,
}

impl LogEnv {
    pub fn from_env() -> LogEnv {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        LogEnv { level: var("AWS_LAMBDA_LOG_LEVEL"), rust_log: var("RUST_LOG"), format: var("AWS_LAMBDA_LOG_FORMAT") }
    }

    /// The most verbose level written: `AWS_LAMBDA_LOG_LEVEL`'s, when it names one.
    pub fn ceiling(&self) -> Option<LevelFilter> {
        self.level.as_deref().and_then(lambda_level)
    }

    /// Whether lines are JSON objects (`AWS_LAMBDA_LOG_FORMAT=JSON`, any case).
    pub fn json(&self) -> bool {
        self.format.as_deref().is_some_and(|f| f.trim().eq_ignore_ascii_case("json"))
    }

    /// What decides which lines are written, for `subscriber`: `RUST_LOG`'s directives, or the
    /// ceiling's level (INFO without one) when `RUST_LOG` has no valid directive.
    fn filter(&self) -> EnvFilter {
        EnvFilter::builder()
            .with_default_directive(self.ceiling().unwrap_or(LevelFilter::INFO).into())
            .parse_lossy(self.rust_log.as_deref().unwrap_or_default())
    }
}

/// A level of Lambda's advanced logging controls as tracing's: FATAL is ERROR; anything tracing
/// reads as a level filter (`off`, `warn`, any case) as it reads it; `None` for anything else,
/// the empty string included (which tracing reads as ERROR).
pub fn lambda_level(value: &str) -> Option<LevelFilter> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.eq_ignore_ascii_case("fatal") {
        return Some(LevelFilter::ERROR);
    }
    value.parse().ok()
}

/// The subscriber of a function: `env` decides levels and format; lines go to `writer`.
pub fn subscriber<W>(env: &LogEnv, writer: W) -> tracing::Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let ceiling = env.ceiling().unwrap_or(LevelFilter::TRACE);
    let fmt =
        tracing_subscriber::fmt().with_writer(writer).with_ansi(false).without_time().with_env_filter(env.filter());
    if env.json() {
        fmt.json().finish().with(ceiling).into()
    } else {
        fmt.finish().with(ceiling).into()
    }
}

/// Tracing for the Lambda functions, from their environment, to stdout.
pub fn init_lambda_tracing() {
    subscriber(&LogEnv::from_env(), std::io::stdout).init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What a subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn env(level: Option<&str>, rust_log: Option<&str>, format: Option<&str>) -> LogEnv {
        LogEnv { level: level.map(Into::into), rust_log: rust_log.map(Into::into), format: format.map(Into::into) }
    }

    /// Logs one line per (target, level) through a subscriber of `env`; returns what it wrote.
    fn written(env: &LogEnv) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let dispatch = subscriber(env, move || writer.clone());
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::debug!(target: "aws_smithy_runtime", "sdk-debug");
            tracing::debug!(target: "connector_aws", "our-debug");
            tracing::info!(target: "aws_smithy_runtime", "sdk-info");
            tracing::info!(target: "connector_aws", "our-info");
            tracing::warn!(target: "connector_aws", "our-warn");
            tracing::error!(target: "connector_aws", "our-error");
        });
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        out
    }

    /// The messages `env` lets through, in order.
    fn messages(env: &LogEnv) -> Vec<&'static str> {
        let out = written(env);
        ["sdk-debug", "our-debug", "sdk-info", "our-info", "our-warn", "our-error"]
            .into_iter()
            .filter(|m| out.contains(m))
            .collect()
    }

    #[test]
    fn aws_lambda_log_level_then_rust_log_then_info() {
        let cases: &[(Option<&str>, Option<&str>, &[&str])] = &[
            (None, None, &["sdk-info", "our-info", "our-warn", "our-error"]),
            (Some("DEBUG"), None, &["sdk-debug", "our-debug", "sdk-info", "our-info", "our-warn", "our-error"]),
            (Some("warn"), None, &["our-warn", "our-error"]),
            (Some("FATAL"), None, &["our-error"]),
            // Not a level: as if unset.
            (Some("LOUD"), None, &["sdk-info", "our-info", "our-warn", "our-error"]),
            // RUST_LOG chooses per target...
            (None, Some("info,aws_smithy_runtime=warn"), &["our-info", "our-warn", "our-error"]),
            (None, Some("connector_aws=debug"), &["our-debug", "our-info", "our-warn", "our-error"]),
            (Some("INFO"), Some("info,aws_smithy_runtime=warn"), &["our-info", "our-warn", "our-error"]),
            // ...but never past AWS_LAMBDA_LOG_LEVEL.
            (Some("INFO"), Some("debug"), &["sdk-info", "our-info", "our-warn", "our-error"]),
            (Some("ERROR"), Some("connector_aws=debug"), &["our-error"]),
            // RUST_LOG with no valid directive: the level alone.
            (Some("WARN"), Some("connector_aws=loud"), &["our-warn", "our-error"]),
        ];
        for (level, rust_log, expected) in cases {
            let env = env(*level, *rust_log, None);
            assert_eq!(messages(&env), *expected, "AWS_LAMBDA_LOG_LEVEL={level:?} RUST_LOG={rust_log:?}");
        }
    }

    #[test]
    fn lambdas_levels_read_as_tracings() {
        let cases = [
            ("TRACE", Some(LevelFilter::TRACE)),
            ("DEBUG", Some(LevelFilter::DEBUG)),
            ("INFO", Some(LevelFilter::INFO)),
            ("WARN", Some(LevelFilter::WARN)),
            ("ERROR", Some(LevelFilter::ERROR)),
            ("FATAL", Some(LevelFilter::ERROR)),
            (" fatal ", Some(LevelFilter::ERROR)),
            ("off", Some(LevelFilter::OFF)),
            ("", None),
            ("verbose", None),
        ];
        for (value, expected) in cases {
            assert_eq!(lambda_level(value), expected, "{value:?}");
        }
    }

    #[test]
    fn json_under_the_json_log_format_plain_text_otherwise() {
        for format in ["JSON", "json"] {
            let out = written(&env(None, None, Some(format)));
            let lines: Vec<serde_json::Value> =
                out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
            assert_eq!(lines.len(), 4, "{out}");
            // Lambda's log-level filtering reads "level"; a line without one counts as INFO.
            assert_eq!(lines[0]["level"], "INFO", "{out}");
            assert_eq!(lines[0]["fields"]["message"], "sdk-info", "{out}");
            assert_eq!(lines[3]["level"], "ERROR", "{out}");
        }
        for format in [None, Some("Text"), Some("anything")] {
            let out = written(&env(None, None, format));
            assert_eq!(out.lines().count(), 4, "{out}");
            assert!(out.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()), "{out}");
            assert!(out.lines().next().unwrap().contains("INFO"), "{out}");
            assert!(!out.contains('\u{1b}'), "no ANSI escape codes: {out:?}");
        }
    }
}
