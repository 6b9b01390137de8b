//! `s3-connector files`, `reimport`, `backfill`, `records`: what runs left, and what operators use
//! to recover. Each is a few lines over the management service.

use crate::args::{FilesCommand, Output};
use crate::{print, BadInput, Done};
use connector_core::manage::recovery::{parse_since, AskedAgain, RetrySelection};
use connector_core::manage::Management;
use connector_core::model::FileStatus;

pub async fn files(
    service: &Management<'_>,
    action: Option<FilesCommand>,
    connection_id: Option<String>,
    failed: bool,
    output: Output,
) -> anyhow::Result<Done> {
    if let Some(FilesCommand::Retry { connection_id, failed, keys, output }) = action {
        let selection = if failed { RetrySelection::Failed } else { RetrySelection::Keys(keys) };
        return asked(&service.retry_files(&connection_id, selection).await?, output);
    }
    let connection_id = connection_id.ok_or_else(|| BadInput("a connection id is needed".into()))?;
    let mut outcomes = service.files(&connection_id).await?;
    if failed {
        outcomes.retain(|o| o.status == FileStatus::Failed);
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
    if output.json {
        print::json(answer)?;
    } else {
        println!("{} object(s) to be decided again by the next sync", answer.asked.len());
        for key in &answer.not_found {
            println!("  {key}: no recorded outcome (a sync has not met it; keys are whole keys, folder included)");
        }
        for refused in &answer.refused {
            println!("  {}: {}", refused.key, refused.reason);
        }
    }
    Ok(if answer.not_found.is_empty() && answer.refused.is_empty() { Done::Ok } else { Done::Failed })
}
