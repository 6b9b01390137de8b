//! `s3-connector templates ...`: each command a few lines over the management service.

use crate::args::TemplateCommand;
use crate::{print, BadInput, Done};
use connector_core::decode::DecodeLimits;
use connector_core::draft::{self, Draft, DraftError, DraftOptions};
use connector_core::manage::Management;

pub async fn run(service: &Management<'_>, command: TemplateCommand) -> anyhow::Result<Done> {
    match command {
        TemplateCommand::Put { file, output } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| BadInput(format!("reading {}: {e}", file.display())))?;
            let saved = service.put_template(&text, None).await.map_err(|e| match e {
                // Which file the fields are in.
                e @ connector_core::manage::ManageError::Invalid(_) => {
                    BadInput(format!("{}: {e}", file.display())).into()
                }
                other => anyhow::Error::new(other).context(file.display().to_string()),
            })?;
            if output.json {
                print::json(&saved)?;
            } else {
                println!("template {} saved (version {})", saved.template.id, saved.version);
            }
        }
        TemplateCommand::List { output } => {
            let templates = service.templates().await?;
            if output.json {
                print::json(&templates)?;
            } else if templates.is_empty() {
                println!("no templates yet: `s3-connector templates put FILE` (examples/ holds some)");
            } else {
                for t in &templates {
                    let template = &t.template;
                    println!(
                        "{:<24} v{:<4} {} -> {} ({} columns)",
                        template.id,
                        t.version,
                        template.format.kind,
                        template.record_type,
                        template.columns.len()
                    );
                }
            }
        }
        TemplateCommand::Show { template_id, version } => print::json(&service.template(&template_id, version).await?)?,
        TemplateCommand::Delete { template_id } => {
            service.delete_template(&template_id).await?;
            println!("template {template_id} deleted (its saved versions stay for the runs that name them)");
        }
        TemplateCommand::Draft { sample, connection, rows, id, output } => {
            let drafted = match connection {
                Some(connection) => service.draft_template(&connection, &sample, rows, id.as_deref()).await?,
                None => draft_from_file(&sample, rows, id, service.config.sync.read_limits().decode)?,
            };
            if output.json {
                print::json(&drafted)?;
            } else {
                // The template alone on stdout, ready for `templates put`; the rest for people.
                print::json(&drafted.template)?;
                for warning in &drafted.warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!(
                    "drafted from {} row(s) of {sample}: review it, save it to a file and `s3-connector templates put FILE`",
                    drafted.rows_sampled
                );
            }
        }
    }
    Ok(Done::Ok)
}

/// A draft from a local file, read as an object of a bucket would be (decompressed, decoded).
fn draft_from_file(path: &str, rows: usize, id: Option<String>, limits: DecodeLimits) -> anyhow::Result<Draft> {
    if !(1..=draft::MAX_ROWS).contains(&rows) {
        return Err(BadInput(format!("rows: must be 1 to {}", draft::MAX_ROWS)).into());
    }
    let file = std::fs::File::open(path).map_err(|e| BadInput(format!("reading {path}: {e}")))?;
    draft::draft(file, path, &DraftOptions { rows, id, limits }).map_err(|e| match e {
        // The file could not be read: not its content's fault.
        DraftError::Read(e) => anyhow::Error::new(e).context(format!("reading {path}")),
        e @ DraftError::InvalidId(_) => BadInput(e.to_string()).into(),
        other => BadInput(format!("{path}: {other}")).into(),
    })
}
