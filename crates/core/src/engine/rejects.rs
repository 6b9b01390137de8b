//! A pass's rejects object ([`crate::rejects`]): taken up from the file's checkpoint, fed part by
//! part while the file is read ([`super::writer::upload_parts`]), then finished when the file ends
//! or staged when the pass hands over. The rejects object is a help, not the import: when it cannot
//! be written, the file is read and its rows written all the same, and its outcome says so; only a
//! transient failure (which a retry may cure) stops the invocation, as a store's does.
//!
//! Retries: an invocation may stop after it staged or finished and before its checkpoint or the
//! file's outcome is saved, and its retry goes on from the checkpoint before. So what a saved
//! checkpoint names is never written again: each staging object is named by the rows it ends at
//! (and left to the bucket's lifecycle rule), and a retry that finds its upload already completed
//! keeps the object the first attempt wrote (the same rows, read the same way).

use super::writer::upload_part;
use super::{Engine, Job, Stop};
use crate::model::{FileCheckpoint, ObjectMeta};
use crate::ports::{RejectsStore, StoreError, StoreErrorKind};
use crate::rejects::{closing, rejects_key, staging_key, RejectsFile, RejectsUpload};
use tracing::warn;

/// The rejects object of a file being read.
pub(super) struct PassRejects<'s> {
    pub store: &'s dyn RejectsStore,
    pub key: String,
    pub upload: RejectsUpload,
}

/// What a finished file's rejects came to: the object's key, or why there is none.
#[derive(Debug, Default)]
pub(super) struct RejectsEnd {
    pub key: Option<String>,
    pub failure: Option<String>,
}

/// A transient failure stops the invocation (its retry goes on from the checkpoint); any other
/// is kept in the upload, which gives up for this file.
fn give_up_unless_transient(upload: &mut RejectsUpload, e: StoreError) -> Result<(), Stop> {
    if e.kind == StoreErrorKind::Transient {
        return Err(Stop::Transient(format!("writing a rejects object: {e}")));
    }
    warn!(error = %e, "the rejects object cannot be written; the file is read on without it");
    upload.failed = Some(e.to_string());
    Ok(())
}

impl Engine<'_> {
    /// The rejects object of a writing pass over `object` and the file its rows go into, going on
    /// from the checkpoint's; none when the deployment has no rejects bucket.
    pub(super) async fn rejects_for<'s>(
        &'s self,
        job: &Job<'_>,
        object: &ObjectMeta,
        resume: Option<&FileCheckpoint>,
    ) -> Result<Option<(PassRejects<'s>, RejectsFile)>, Stop> {
        let Some(store) = self.rejects else { return Ok(None) };
        let key = rejects_key(&job.connection.id, &object.key, &object.etag, &job.template.format);
        let mut upload = resume.and_then(|f| f.rejects.clone()).unwrap_or_default();
        // A file begun before rejected rows were handed back (an upgrade, a bucket configured since):
        // its object would lack them.
        if resume.is_some_and(|f| f.rejects.is_none() && f.rows_rejected > 0) {
            upload.failed = Some("rows rejected before rejected rows were handed back are not in it".into());
        }
        let mut tail = Vec::new();
        if upload.failed.is_none() && upload.staged {
            match store.get(&staging_key(&key, upload.rows)).await {
                Ok(Some(staged)) => tail = staged,
                Ok(None) => upload.failed = Some("its staged rows were gone".into()),
                Err(e) => give_up_unless_transient(&mut upload, e)?,
            }
        }
        let file = RejectsFile::new(&job.template.format, upload.rows, upload.parts.len(), tail);
        Ok(Some((PassRejects { store, key, upload }, file)))
    }
}

impl PassRejects<'_> {
    /// At a hand-over: the rows after the last part wait in a staging object of their own for the
    /// next invocation. The state for the checkpoint.
    pub(super) async fn stage(mut self, tail: Vec<u8>, rows: u64) -> Result<RejectsUpload, Stop> {
        if self.upload.failed.is_some() {
            return Ok(self.upload);
        }
        self.upload.rows = rows;
        self.upload.staged = !tail.is_empty();
        if self.upload.staged {
            if let Err(e) = self.store.put(&staging_key(&self.key, rows), tail).await {
                give_up_unless_transient(&mut self.upload, e)?;
            }
        }
        Ok(self.upload)
    }

    /// When the file ends: the object written (whole, or its last part and the upload completed),
    /// if the file had rows rejected.
    pub(super) async fn finish(
        mut self,
        tail: Vec<u8>,
        rows: u64,
        format: &crate::template::Format,
    ) -> Result<RejectsEnd, Stop> {
        let rows = rows.max(self.upload.rows);
        if rows == 0 && self.upload.failed.is_none() {
            return Ok(RejectsEnd::default());
        }
        let (failure, transient) = match self.upload.failed.take() {
            Some(failure) => (failure, false),
            None => match self.write_last(tail, rows, format).await {
                Ok(()) => return Ok(RejectsEnd { key: Some(self.key), failure: None }),
                Err(e) => (e.to_string(), e.kind == StoreErrorKind::Transient),
            },
        };
        // An earlier attempt at this read may have finished the object (its upload is gone then):
        // the same rows, read the same way, so it is this read's.
        if let Ok(true) = self.store.exists(&self.key).await {
            return Ok(RejectsEnd { key: Some(self.key), failure: None });
        }
        if transient {
            return Err(Stop::Transient(format!("writing a rejects object: {failure}")));
        }
        warn!(error = %failure, "the rejects object could not be written");
        Ok(RejectsEnd { key: None, failure: Some(failure) })
    }

    /// The last bytes of the object: written whole, or as the last part of its upload.
    async fn write_last(
        &mut self,
        tail: Vec<u8>,
        rows: u64,
        format: &crate::template::Format,
    ) -> Result<(), StoreError> {
        let mut last = tail;
        last.extend_from_slice(closing(format, rows));
        match self.upload.upload_id.clone() {
            None => self.store.put(&self.key, last).await,
            Some(id) => {
                upload_part(self.store, &self.key, &mut self.upload, last).await?;
                self.store.complete_upload(&self.key, &id, &self.upload.parts).await
            }
        }
    }
}
