//! The platform's data templates: listed, read (any saved version), saved as a new version after
//! validation, deleted while no connection uses them.

use super::{FieldError, ManageError, Management};
use crate::template::Template;
use serde::Serialize;

/// A template and its version number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionedTemplate {
    pub template: Template,
    pub version: u32,
}

impl Management<'_> {
    /// Every template's current version, by id.
    pub async fn templates(&self) -> Result<Vec<VersionedTemplate>, ManageError> {
        let templates = self.store.templates().await?;
        Ok(templates.into_iter().map(|(template, version)| VersionedTemplate { template, version }).collect())
    }

    /// A template's current version, or the saved `version`.
    pub async fn template(&self, id: &str, version: Option<u32>) -> Result<VersionedTemplate, ManageError> {
        let (template, version) = self.store.template(id, version).await?.ok_or_else(|| ManageError::NotFound {
            what: "template",
            id: version.map_or_else(|| id.to_owned(), |v| format!("{id}' version '{v}")),
        })?;
        Ok(VersionedTemplate { template, version })
    }

    /// Validates a template document (JSON) and saves it as the template's next version. With
    /// `expected_id` (the API's path), the document's id must be it.
    pub async fn put_template(
        &self,
        document: &str,
        expected_id: Option<&str>,
    ) -> Result<VersionedTemplate, ManageError> {
        let template = Template::from_json(document).map_err(|errors| {
            ManageError::Invalid(errors.0.into_iter().map(|e| FieldError::new(e.field, e.message)).collect())
        })?;
        if let Some(expected) = expected_id.filter(|id| *id != template.id) {
            return Err(ManageError::invalid("id", format!("the document's id '{}' is not '{expected}'", template.id)));
        }
        let version = self.store.put_template(&template).await.map_err(|e| {
            ManageError::conflict_or_store(e, || format!("template '{}' was saved meanwhile; try again", template.id))
        })?;
        Ok(VersionedTemplate { template, version })
    }

    /// Deletes a template, refused while a connection uses it.
    pub async fn delete_template(&self, id: &str) -> Result<(), ManageError> {
        self.template(id, None).await?;
        let users: Vec<String> =
            self.admin.connections().await?.into_iter().filter(|c| c.template_id == id).map(|c| c.name).collect();
        if !users.is_empty() {
            return Err(ManageError::Conflict(format!("template '{id}' is used by: {}", users.join(", "))));
        }
        Ok(self.store.delete_template(id).await?)
    }
}
