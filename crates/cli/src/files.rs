//! `s3-connector files`, `reimport`, `backfill`, `records`: what runs left, and what operators use
//! to recover. Each is a few lines over the management service.

use crate::args::{FilesCommand, Output};
use crate::{print, BadInput, Done};
use connector_core::manage::recovery::{parse_since, AskedAgain, Dismissed, Refused};
use connector_core::manage::Management;
use connector_core::model::FileOutcome;
use serde::Serialize;

pub async fn files(
    service: &Management<'_>,
    action: Option<FilesCommand>,
    connection_id: Option<String>,
    failed: bool,
    output: Output,
) -> anyhow::Result<Done> {
    match action {
        Some(FilesCommand::Retry(keys)) => {
            let (id, selection, output) = keys.selection();
            return asked(&service.retry_files(&id, selection).await?, output);
        }
        Some(FilesCommand::Dismiss(keys)) => {
            let (id, selection, output) = keys.selection();
            return dismissed(&service.dismiss_files(&id, selection).await?, output);
        }
        None => {}
    }
    let connection_id = connection_id.ok_or_else(|| BadInput("a connection id is needed".into()))?;
    let mut outcomes = service.files(&connection_id).await?;
    if failed {
        outcomes.retain(FileOutcome::is_open_failure);
    }
    if output.json {
        print::json(&outcomes)?;
    } else if outcomes.is_empty() {
        println!("{}", if failed { "no failed objects" } else { "no objects decided yet" });
    } else {
        for o in &outcomes {
            print::outcome(o, "");
        }
    }
    Ok(Done::Ok)
}

pub async fn reimport(
    service: &Management<'_>,
    connection_id: &str,
    keys: Vec<String>,
    output: Output,
) -> anyhow::Result<Done> {
    asked(&service.reimport(connection_id, keys).await?, output)
}

pub async fn backfill(
    service: &Management<'_>,
    connection_id: &str,
    since: &str,
    output: Output,
) -> anyhow::Result<Done> {
    let connection = service.backfill(connection_id, parse_since(since)?).await?;
    if output.json {
        print::json(&serde_json::json!({ "connection": connection }))?;
    } else if let Some(since) = connection.backfill_since {
        println!("the next sync of {connection_id} decides again every object modified since {}", print::time(since));
    }
    Ok(Done::Ok)
}

pub async fn records(
    service: &Management<'_>,
    connection_id: &str,
    limit: usize,
    after: Option<&str>,
) -> anyhow::Result<Done> {
    print::json(&service.records_page(connection_id, limit, after).await?)?;
    Ok(Done::Ok)
}

/// What came of `files retry` or `reimport`. A key with nothing to decide again is a failure of the
/// command (exit 1), so a script notices a mistyped key.
fn asked(answer: &AskedAgain, output: Output) -> anyhow::Result<Done> {
    let done = format!("{} object(s) to be decided again by the next sync", answer.asked.len());
    keys_report(answer, &done, &answer.not_found, &answer.refused, output)
}

/// What came of `files dismiss`; exits 1 when a key was not dismissed, as `files retry` does.
fn dismissed(answer: &Dismissed, output: Output) -> anyhow::Result<Done> {
    let done = format!("{} failure(s) dismissed", answer.dismissed.len());
    keys_report(answer, &done, &answer.not_found, &answer.refused, output)
}

fn keys_report(
    answer: &impl Serialize,
    done: &str,
    not_found: &[String],
    refused: &[Refused],
    output: Output,
) -> anyhow::Result<Done> {
    if output.json {
        print::json(answer)?;
    } else {
        println!("{done}");
        for key in not_found {
            println!("  {key}: no recorded outcome (a sync has not met it; keys are whole keys, folder included)");
        }
        for refused in refused {
            println!("  {}: {}", refused.key, refused.reason);
        }
    }
    Ok(if not_found.is_empty() && refused.is_empty() { Done::Ok } else { Done::Failed })
}
