//! `s3-connector sync`: one connection in this process, as the worker Lambda runs it, or every
//! active connection as the daily dispatcher fans out, with the workers in this process.

use crate::args::Output;
use crate::{print, Done};
use connector_aws::Deployment;
use connector_core::dispatch::DispatchConfig;
use connector_core::engine::report::{SyncEnd, SyncReport};
use connector_core::manage::Management;

/// Exit codes: 0 the run finished (succeeded or partial) or another sync holds the connection; 1 it
/// failed or the connection needs re-authentication; 2 the connection cannot sync (paused, unknown).
pub async fn one(
    deployment: &Deployment,
    service: &Management<'_>,
    connection_id: &str,
    output: Output,
) -> anyhow::Result<Done> {
    // Refused before anything starts, with what to do first (the engine checks again when it runs).
    let connection = service.connection(connection_id).await?;
    service.check_syncable(&connection)?;
    let result = deployment.sync(connector_aws::SyncRequest::new(connection_id)).await;
    // A store error before or after the run ends here with its chain (a missing table is told so).
    if let Err(e @ connector_core::engine::SyncError::Store(_)) = result {
        return Err(e.into());
    }
    let report = SyncReport::new(connection_id, &result);
    if output.json {
        print::json(&report)?;
    } else {
        match &report.run {
            Some(run) => {
                println!("sync {}: {}", run.result, print::counts(&run.counts));
                if let Some(e) = &run.error {
                    println!("error: {e}");
                }
            }
            None => println!("sync {}: {}", report.outcome, report.detail.as_deref().unwrap_or_default()),
        }
    }
    Ok(match report.outcome {
        _ if report.failed() => Done::Failed,
        SyncEnd::NotSyncable | SyncEnd::ConnectionNotFound => Done::Refused,
        _ => Done::Ok,
    })
}

pub async fn all(deployment: &Deployment, concurrency: usize, output: Output) -> anyhow::Result<Done> {
    let schedule_run = format!("cli-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    // Every active connection, whether its schedule says it is due or not: the operator asked.
    let config = DispatchConfig { concurrency, every_connection: true, ..DispatchConfig::default() };
    let summary = deployment.dispatch(deployment, &schedule_run, &config).await?;
    if output.json {
        print::json(&summary)?;
    } else {
        let skipped: Vec<String> = summary.skipped.iter().map(|(why, n)| format!("{n} {why}")).collect();
        println!(
            "dispatch {}: {} connections, {} synced, {} failed{}",
            summary.schedule_run,
            summary.found,
            summary.invoked,
            summary.failed,
            if skipped.is_empty() { String::new() } else { format!(", skipped: {}", skipped.join(", ")) }
        );
        for (id, error) in &summary.failures {
            println!("  {id}: {error}");
        }
    }
    Ok(if summary.failed > 0 { Done::Failed } else { Done::Ok })
}
