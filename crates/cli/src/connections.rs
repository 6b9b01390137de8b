//! `s3-connector connections ...`: each command a few lines over the management service.

use crate::args::ConnectionCommand;
use crate::{confirm, print, BadInput, Done};
use connector_core::connections::ConnectionInput;
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::setup::{event_forwarding, EventForwarding};
use connector_core::manage::Management;
use connector_core::model::{Connection, SyncMode};

pub async fn run(service: &Management<'_>, command: ConnectionCommand) -> anyhow::Result<Done> {
    match command {
        ConnectionCommand::Create {
            tenant,
            name,
            account_id,
            bucket,
            region,
            folder,
            folder_open,
            template,
            kms_key_arn,
            mode,
            object_event_bus_arn,
            output,
        } => {
            let input = ConnectionInput {
                tenant,
                name,
                account_id,
                template_id: template,
                kms_key_arn,
                mode: mode.into(),
                ..Default::default()
            }
            .located(bucket, region, folder, folder_open);
            let created = service.create(input).await?;
            if output.json {
                print::json(&created)?;
            } else {
                let c = &created.connection;
                println!("connection {} '{}' of tenant {} created ({})", c.id, c.name, c.tenant, c.status);
                println!("Ask the customer to create the IAM role {} with:", created.role_arn);
                println!("  external id: {}", c.external_id);
                match &created.permission_policy {
                    Some(policy) => println!("  permission policy:\n{}", serde_json::to_string_pretty(policy)?),
                    None => println!(
                        "  permission policy: once the customer fills {} on their set-up page (it names the bucket)",
                        c.open_fields.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                }
                println!("  custom trust policy:\n{}", serde_json::to_string_pretty(&created.trust_policy)?);
                let bus = object_event_bus_arn.as_deref().filter(|b| !b.is_empty());
                if let Some(forwarding) = event_forwarding(c, bus) {
                    print_event_forwarding(&forwarding)?;
                }
                if c.open_fields.is_empty() {
                    println!(
                        "Then: s3-connector connections preview {}; s3-connector connections activate {}",
                        c.id, c.id
                    );
                } else {
                    println!("Then: send the customer a set-up link (the dashboard's connection page, or POST /connections/{}/setup-link)", c.id);
                }
            }
        }
        ConnectionCommand::List { tenant, output } => {
            let connections = service.connections(tenant.as_deref()).await?;
            if output.json {
                print::json(&connections)?;
            } else if connections.is_empty() {
                match tenant {
                    Some(tenant) => println!("tenant {tenant} has no connections"),
                    None => println!("no connections yet: `s3-connector connections create --help`"),
                }
            } else {
                for c in &connections {
                    println!("{}", print::connection_line(c));
                }
            }
        }
        ConnectionCommand::AssignTenant { tenant, output } => {
            let done = service.assign_tenant(&tenant).await?;
            if output.json {
                print::json(&done)?;
            } else {
                for c in &done.assigned {
                    println!("{} '{}': now of tenant {}", c.id, c.name, done.tenant);
                }
                for refused in &done.refused {
                    println!("{} '{}': not moved: {}", refused.connection.id, refused.connection.name, refused.reason);
                }
                println!(
                    "{} connection(s) given tenant {}; {} left without a tenant",
                    done.assigned.len(),
                    done.tenant,
                    done.refused.len()
                );
            }
            // A connection left without a tenant is for the operator to settle (rename it).
            if !done.refused.is_empty() {
                return Ok(Done::Failed);
            }
        }
        ConnectionCommand::Show { connection_id, output } => {
            let shown = service.show(&connection_id, 5).await?;
            if output.json {
                return print::json(&shown).map(|()| Done::Ok);
            }
            let c = &shown.connection;
            println!("{} ({}) {}", c.name, c.id, c.status);
            println!("  tenant:    {}", print::tenant(c));
            println!("  bucket:    {} in {} (account {})", print::location(c), c.region, c.account_id);
            println!("  role:      {} (external id {})", shown.role_arn, c.external_id);
            println!("  template:  {}", c.template_id);
            if let Some(key) = &c.kms_key_arn {
                println!("  KMS key:   {key}");
            }
            println!("  last sync: {}", print::last_sync(c));
            if let (Some(lag), Some(newest)) = (shown.lag_seconds, c.sync.newest_imported) {
                println!(
                    "  lag:       {} (the newest file imported was modified {})",
                    print::duration(lag),
                    print::time(newest)
                );
            }
            if c.sync.consecutive_failures > 0 {
                println!("  failing:   the last {} run(s) failed", c.sync.consecutive_failures);
            }
            if let Some(reason) = c.pause_reason {
                let why = match reason {
                    connector_core::model::PauseReason::Operator => "by an operator".to_owned(),
                    connector_core::model::PauseReason::Failing => format!(
                        "after {} failed runs in a row (`connections resume {}` once the cause is fixed)",
                        c.sync.consecutive_failures, c.id
                    ),
                };
                println!("  paused:    {why}");
            }
            if c.sync.last_result.is_some() {
                println!("             {}", print::counts(&c.sync.last_counts));
            }
            if let Some(w) = c.sync.watermark {
                println!("  watermark: {}", print::time(w));
            }
            if let Some(since) = c.backfill_since {
                println!("  backfill:  the next sync decides again every object modified since {}", print::time(since));
            }
            if let Some(e) = &c.sync.last_error {
                println!("  last error: {e}");
            }
            if !shown.recent_runs.is_empty() {
                println!("  recent runs:");
                for r in &shown.recent_runs {
                    println!("    {}", print::run_line(r));
                }
            }
            if !shown.last_run_files.is_empty() {
                println!("  files of the last run:");
                for o in &shown.last_run_files {
                    print::outcome(o, "    ");
                }
            }
            // The count, then the newest failures not printed above with the last run's files.
            if c.failed_files > 0 || !shown.failed_files.is_empty() {
                println!(
                    "  failed files: {} (`s3-connector files {} --failed` lists them; `files retry` or `files dismiss`)",
                    c.failed_files, c.id
                );
            }
            let earlier: Vec<_> =
                shown.failed_files.iter().filter(|o| Some(&o.run_id) != c.sync.last_run_id.as_ref()).collect();
            if !earlier.is_empty() {
                println!("  failed in earlier runs, newest first:");
                for o in earlier {
                    print::outcome(o, "    ");
                }
            }
        }
        ConnectionCommand::Preview { connection_id, limit, sample, rows, output } => {
            let preview = service.preview(&connection_id, limit, sample.as_deref(), rows).await?;
            if output.json {
                return print::json(&preview).map(|()| Done::Ok);
            }
            print::access(&preview.access);
            let more = if preview.more { " (more follow)" } else { "" };
            println!(
                "the first {} objects{more}; + the next sync would import it, - it would not:",
                preview.objects.len()
            );
            for o in &preview.objects {
                println!(
                    "  {} {:>10} {}  {:<10} {}{}",
                    if o.would_select { "+" } else { "-" },
                    o.size,
                    o.last_modified.format("%Y-%m-%d %H:%M:%S"),
                    o.format,
                    o.key,
                    o.note.as_ref().map(|n| format!("  ({n})")).unwrap_or_default()
                );
            }
            if let Some(sample) = &preview.sample {
                println!("sample of {} ({} rows read):", sample.key, sample.rows_read);
                if let Some(e) = &sample.file_error {
                    println!("  the file would fail: {e}");
                }
                for row in &sample.rows {
                    println!("  {}", serde_json::to_string(row)?);
                }
                for e in &sample.row_errors {
                    println!("  {e}");
                }
            }
        }
        ConnectionCommand::Activate { connection_id, output } => {
            let activated = service.activate(&connection_id).await?;
            if output.json {
                return print::json(&activated).map(|()| Done::Ok);
            }
            print::access(&activated.access);
            let c = &activated.connection;
            println!("connection {} is {}; first import: {}", c.id, c.status, print::last_sync(c));
            if c.sync.last_result.is_some() {
                println!("  {}", print::counts(&c.sync.last_counts));
            }
        }
        ConnectionCommand::Reauth { connection_id, output } => {
            let activated = service.reauthenticate(&connection_id).await?;
            if output.json {
                return print::json(&activated).map(|()| Done::Ok);
            }
            print::access(&activated.access);
            let c = &activated.connection;
            println!("connection {} is {}; the next sync resumes from its watermark", c.id, c.status);
        }
        ConnectionCommand::Pause { connection_id, output } => {
            let c = service.pause(&connection_id).await?;
            status_changed(&c, output.json, "no sync starts until it is resumed")?;
        }
        ConnectionCommand::Resume { connection_id, output } => {
            let c = service.resume(&connection_id).await?;
            status_changed(&c, output.json, "the next sync goes on from its watermark")?;
        }
        ConnectionCommand::Rename { connection_id, name, output } => {
            let change = ConnectionChange { name: Some(name), ..ConnectionChange::default() };
            let c = service.edit(&connection_id, change).await?;
            edited(&c, output.json, &format!("is named '{}'", c.name))?;
        }
        ConnectionCommand::SetTemplate { connection_id, template_id, output } => {
            let change = ConnectionChange { template_id: Some(template_id), ..ConnectionChange::default() };
            let c = service.edit(&connection_id, change).await?;
            edited(&c, output.json, &format!("reads its files with template {} from the next sync on", c.template_id))?;
        }
        ConnectionCommand::SetOverlap { connection_id, hours, output } => {
            let hours = match hours.as_str() {
                "default" => None,
                h => Some(
                    h.parse::<u32>()
                        .map_err(|_| BadInput(format!("overlap: '{h}' is not a number of hours or 'default'")))?,
                ),
            };
            let change = ConnectionChange { overlap_hours: Some(hours), ..ConnectionChange::default() };
            let c = service.edit(&connection_id, change).await?;
            let said = match c.overlap_seconds {
                Some(s) => {
                    format!("has an overlap of {} hours: its syncs look that far before the watermark", s / 3600)
                }
                None => "has the deployment's overlap (S3C_OVERLAP_SECONDS)".to_owned(),
            };
            edited(&c, output.json, &said)?;
        }
        ConnectionCommand::SetMode { connection_id, mode, output } => {
            let change = ConnectionChange { mode: Some(mode.into()), ..ConnectionChange::default() };
            let c = service.edit(&connection_id, change).await?;
            let said = match c.mode {
                SyncMode::Scheduled => "is scheduled: its daily scan imports new objects",
                SyncMode::Events => {
                    "takes object events: new objects are imported within minutes of their events, and the daily scan imports what events missed"
                }
            };
            edited(&c, output.json, said)?;
        }
        ConnectionCommand::SetSchedule { connection_id, every, output } => {
            let every = match every.as_str() {
                "daily" => None,
                h => Some(
                    h.parse::<u32>()
                        .map_err(|_| BadInput(format!("schedule: '{h}' is not a number of hours or 'daily'")))?,
                ),
            };
            let change = ConnectionChange { scan_every_hours: Some(every), ..ConnectionChange::default() };
            let c = service.edit(&connection_id, change).await?;
            let said = match c.scan_every_hours {
                Some(hours) => format!("is scanned every {hours} hours"),
                None => "is scanned daily".to_owned(),
            };
            edited(&c, output.json, &said)?;
        }
        ConnectionCommand::Recount { connection_ids, all, output } => {
            let ids = match all {
                true => service.connections(None).await?.into_iter().map(|c| c.id).collect(),
                false => connection_ids,
            };
            let mut counted = Vec::with_capacity(ids.len());
            for id in ids {
                let c = service.recount_failures(&id).await?;
                if !output.json {
                    println!("{} '{}': {} failed file(s)", c.id, c.name, c.failed_files);
                }
                counted.push(c);
            }
            if output.json {
                print::json(&counted)?;
            }
        }
        ConnectionCommand::Delete { connection_id, purge_records, yes, output } => {
            let c = service.connection(&connection_id).await?;
            if !yes {
                let records = if purge_records { "deleted too" } else { "kept (--purge-records deletes them)" };
                let question = format!(
                    "Delete connection '{}' ({})? Its sync state, runs and import ledger go; its imported records \
                     are {records}. Type its name to confirm: ",
                    c.name, c.id
                );
                if !confirm(&question, &c.name)? {
                    return Err(BadInput("not deleted: the name typed was not the connection's".into()).into());
                }
            }
            let deleted = service.delete(&connection_id, purge_records).await?;
            if output.json {
                print::json(&deleted)?;
            } else if purge_records {
                println!("connection {} deleted with its {} records", deleted.id, deleted.records_purged);
            } else {
                let kept =
                    deleted.records_kept.map_or("its records are".to_owned(), |n| format!("its {n} records are"));
                println!(
                    "connection {} deleted; {kept} kept (s3-connector records {} reads them)",
                    deleted.id, deleted.id
                );
            }
        }
        ConnectionCommand::Runs { connection_id, limit, output } => {
            let runs = service.runs(&connection_id, limit.clamp(1, 100)).await?;
            if output.json {
                print::json(&serde_json::json!({ "runs": runs }))?;
            } else if runs.is_empty() {
                println!("no runs yet");
            } else {
                for r in &runs {
                    println!("{}", print::run_line(r));
                }
            }
        }
    }
    Ok(Done::Ok)
}

/// `--json`: `{"connection": ...}`, as the API answers.
fn status_changed(c: &Connection, json: bool, then: &str) -> anyhow::Result<()> {
    if json {
        return print::json(&serde_json::json!({ "connection": c }));
    }
    println!("connection {} is {}; {then}", c.id, c.status);
    Ok(())
}

fn edited(c: &Connection, json: bool, said: &str) -> anyhow::Result<()> {
    if json {
        return print::json(&serde_json::json!({ "connection": c }));
    }
    println!("connection {} {said}", c.id);
    Ok(())
}

/// What an events-mode connection's customer creates besides the role (the set-up page shows the same).
fn print_event_forwarding(forwarding: &EventForwarding) -> anyhow::Result<()> {
    let Some(bus) = &forwarding.bus_arn else {
        println!(
            "Events mode, but no event bus is known (S3C_OBJECT_EVENT_BUS_ARN or --object-event-bus-arn: the \
             stack's ObjectEventBusArn output): until then the daily scan alone imports its files."
        );
        return Ok(());
    };
    println!("For new files within minutes (events mode), the customer also:");
    println!("  - {}", forwarding.bucket_setting);
    match &forwarding.rule_pattern {
        Some(pattern) => println!(
            "  - creates a rule on their default event bus, targeting {bus} with the role below, with the event pattern:\n{}",
            serde_json::to_string_pretty(pattern)?
        ),
        None => println!(
            "  - creates a rule on their default event bus, targeting {bus}, once the bucket is filled in (the set-up page shows its pattern)"
        ),
    }
    println!("  - creates the IAM role {} for the rule, with the trust policy:", forwarding.role_name);
    println!("{}", serde_json::to_string_pretty(&forwarding.role_trust_policy)?);
    if let Some(policy) = &forwarding.role_permission_policy {
        println!("    and the permission policy:\n{}", serde_json::to_string_pretty(policy)?);
    }
    Ok(())
}
