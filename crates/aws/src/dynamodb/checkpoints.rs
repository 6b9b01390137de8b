//! A handed-over run's checkpoint: JSON in pieces (an item holds at most 400 KB; a checkpoint's
//! pending objects may be more), named by the connection item (`checkpoint_generation`,
//! `checkpoint_pieces`), so a reader sees the old checkpoint or the new one, never a mix.

use super::item::{delete_keys, n, partition_keys, s};
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use aws_sdk_dynamodb::types::AttributeValue;
use connector_core::model::Checkpoint;
use connector_core::ports::StoreError;

/// Bytes of JSON a piece holds: well under DynamoDB's 400 KB an item.
const CHECKPOINT_PIECE: usize = 350 * 1024;

impl StateTable {
    /// The checkpoint the connection item names, if any.
    pub(super) async fn read_checkpoint(&self, connection_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        let Some(item) = self.get(keys::connection(connection_id), "reading the checkpoint").await? else {
            return Ok(None);
        };
        let (Some(AttributeValue::S(generation)), Some(AttributeValue::N(pieces))) =
            (item.get("checkpoint_generation"), item.get("checkpoint_pieces"))
        else {
            return Ok(None);
        };
        let pieces: usize = pieces.parse().map_err(|e| corrupt_item("checkpoint", e))?;
        let mut json = Vec::new();
        for i in 0..pieces {
            let piece = self
                .get(keys::checkpoint_piece(connection_id, generation, i), "reading the checkpoint")
                .await?
                .ok_or_else(|| corrupt_item("checkpoint", format!("piece {i} of {generation} is missing")))?;
            let Some(AttributeValue::B(bytes)) = piece.get("data") else {
                return Err(corrupt_item("checkpoint", "a piece has no data"));
            };
            json.extend_from_slice(bytes.as_ref());
        }
        serde_json::from_slice(&json).map(Some).map_err(|e| corrupt_item("checkpoint", e))
    }

    /// Saves the checkpoint under `owner`'s generation, then names it and lets the lease go in one
    /// conditional write (only if `owner` still holds the lease: `Conflict` otherwise).
    pub(super) async fn save_checkpoint_and_release(
        &self,
        connection_id: &str,
        owner: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(checkpoint).map_err(|e| corrupt_item("checkpoint", e))?;
        // The pieces go under this invocation's own name first; then one conditional write names them
        // and lets the lease go.
        let pieces: Vec<&[u8]> = json.chunks(CHECKPOINT_PIECE).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let mut item = keys::checkpoint_piece(connection_id, owner, i);
            item.insert("data".into(), AttributeValue::B(aws_smithy_types::Blob::new(*piece)));
            self.put(item, "saving the checkpoint").await?;
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression(
                "SET checkpoint_generation = :generation, checkpoint_pieces = :pieces REMOVE lease_owner, lease_until, lease_renewed",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":generation", s(owner))
            .expression_attribute_values(":pieces", n(pieces.len() as i64))
            .send()
            .await
            .map_err(|e| store_error("handing over", e))?;
        // Earlier checkpoints of the run are no longer named; a failure here leaves litter that the
        // run's end removes.
        if let Err(e) = self.delete_checkpoints(connection_id, Some(owner)).await {
            tracing::warn!(error = %e, "could not delete earlier checkpoints");
        }
        Ok(())
    }

    /// Deletes a connection's checkpoint pieces, but those of `keep`'s generation.
    pub(super) async fn delete_checkpoints(&self, connection_id: &str, keep: Option<&str>) -> Result<(), StoreError> {
        let pk = keys::connection_pk(connection_id);
        let found = partition_keys(&self.client, &self.table, pk, Some(keys::CHECKPOINT_PREFIX)).await?;
        let kept = keep.map(keys::checkpoint_generation_prefix);
        let stale = found
            .into_iter()
            .filter(|k| match (k.get("sk"), &kept) {
                (Some(AttributeValue::S(sk)), Some(kept)) => !sk.starts_with(kept.as_str()),
                _ => true,
            })
            .collect();
        delete_keys(&self.client, &self.table, stale).await
    }
}
