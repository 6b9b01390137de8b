//! What a customer's set-up link may change of its one connection: the location fields the
//! platform left open (filled, and corrected, while the connection is pending; never the
//! platform's own values), and, on the platform's side, the links withdrawn.

use super::{FieldError, ManageError, Management};
use crate::connections::{fill_location, LocationInput};
use crate::model::{Connection, ConnectionStatus, NOT_FILLED_YET};
use crate::ports::StoreErrorKind;

/// `Invalid` naming each open field the customer has not filled yet: what preview, activation and
/// re-authentication answer before reading a bucket that is not known.
pub(super) fn require_location(connection: &Connection) -> Result<(), ManageError> {
    match connection.unfilled_fields() {
        [] => Ok(()),
        unfilled => Err(ManageError::Invalid(
            unfilled.iter().map(|field| FieldError::new(field.as_str(), NOT_FILLED_YET)).collect(),
        )),
    }
}

impl Management<'_> {
    /// Fills the connection's open location fields with the customer's `given` values, checked as a
    /// create checks them: only while it is pending (`Conflict` otherwise, also when it is activated
    /// meanwhile: the store's write is conditional), only the fields the platform left open
    /// (`Invalid` naming a field of the platform's). Filled once, they may be corrected while the
    /// connection stays pending.
    pub async fn set_location(&self, id: &str, given: LocationInput) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        let not_pending = |status: &dyn std::fmt::Display| {
            ManageError::Conflict(format!("connection is {status}, not pending: its location can no longer change"))
        };
        if connection.status != ConnectionStatus::Pending {
            return Err(not_pending(&connection.status));
        }
        if connection.open_fields.is_empty() {
            return Err(ManageError::Conflict(
                "the platform set the whole location of this connection: nothing is left to fill".into(),
            ));
        }
        let location = fill_location(&connection, given).map_err(|errors| {
            ManageError::Invalid(errors.into_iter().map(|e| FieldError::new(e.field, e.message)).collect())
        })?;
        self.admin.fill_location(id, &location, self.clock.now()).await.map_err(|e| match e.kind {
            StoreErrorKind::Conflict => not_pending(&"no longer pending"),
            _ => ManageError::Store(e),
        })?;
        self.connection(id).await
    }

    /// Withdraws every set-up link of the connection made so far (a link carries the generation it
    /// was made in, which this moves on); returns the new generation, for links made from now on.
    pub async fn withdraw_setup_links(&self, id: &str) -> Result<u64, ManageError> {
        self.connection(id).await?;
        self.admin.withdraw_setup_links(id).await.map_err(|e| match e.kind {
            StoreErrorKind::Conflict => ManageError::NotFound { what: "connection", id: id.to_owned() },
            _ => ManageError::Store(e),
        })
    }
}
