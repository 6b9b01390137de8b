//! `s3-connector templates ...`: each command a few lines over the management service.

use crate::args::TemplateCommand;
use crate::{print, BadInput, Done};
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
    }
    Ok(Done::Ok)
}
