//! A pass's rejects object ([`crate::rejects`]): taken up from the file's checkpoint, fed part by
//! part while the file is read ([`super::writer::upload_parts`]), then finished when the file ends
//! or staged when the pass hands over. The rejects object is a help, not the import: when it cannot
//! be written, the file is read and its rows written all the same, and its outcome says so.

use super::writer::upload_part;
use super::{Engine, Job};
use crate::model::{FileCheckpoint, ObjectMeta};
use crate::ports::RejectsStore;
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

impl Engine<'_> {
    /// The rejects object of a writing pass over `object` and the file its rows go into, going on
    /// from the checkpoint's; none when the deployment has no rejects bucket, or the object could
    /// not be written before.
    pub(super) async fn rejects_for<'s>(
        &'s self,
        job: &Job<'_>,
        object: &ObjectMeta,
        resume: Option<&FileCheckpoint>,
    ) -> Option<(PassRejects<'s>, RejectsFile)> {
        let store = self.rejects?;
        let key = rejects_key(&job.connection.id, &object.key, &object.etag, &job.template.format);
        let mut upload = resume.and_then(|f| f.rejects.clone()).unwrap_or_default();
        let mut tail = Vec::new();
        if upload.failed.is_none() && upload.staged {
            match store.get(&staging_key(&key)).await {
                Ok(Some(staged)) => tail = staged,
                Ok(None) => upload.failed = Some("its staged rows were gone".into()),
                Err(e) => upload.failed = Some(e.to_string()),
            }
        }
        let file = RejectsFile::new(&job.template.format, upload.rows, tail);
        Some((PassRejects { store, key, upload }, file))
    }
}

impl PassRejects<'_> {
    /// At a hand-over: the rows after the last part wait in the staging object for the next
    /// invocation. The state for the checkpoint.
    pub(super) async fn stage(mut self, tail: Vec<u8>, rows: u64) -> RejectsUpload {
        self.upload.rows = rows;
        if self.upload.failed.is_some() {
            return self.upload;
        }
        self.upload.staged = !tail.is_empty();
        if self.upload.staged {
            if let Err(e) = self.store.put(&staging_key(&self.key), tail).await {
                warn!(error = %e, "the rejects object's rows could not be staged; the file is read on without it");
                self.upload.failed = Some(e.to_string());
            }
        }
        self.upload
    }

    /// When the file ends: the object written (whole, or its last part and the upload completed),
    /// if the file had rows rejected.
    pub(super) async fn finish(mut self, tail: Vec<u8>, rows: u64, format: &crate::template::Format) -> RejectsEnd {
        if let Some(failure) = self.upload.failed.take() {
            return RejectsEnd { key: None, failure: Some(failure) };
        }
        if rows == 0 {
            return RejectsEnd::default();
        }
        let mut last = tail;
        last.extend_from_slice(closing(format, rows));
        let written = match self.upload.upload_id.clone() {
            None => self.store.put(&self.key, last).await,
            Some(id) => match upload_part(self.store, &self.key, &mut self.upload, last).await {
                Ok(()) => self.store.complete_upload(&self.key, &id, &self.upload.parts).await,
                Err(e) => Err(e),
            },
        };
        if self.upload.staged {
            // A leftover is harmless (the bucket's lifecycle rule expires it); nothing to stop for.
            if let Err(e) = self.store.delete(&staging_key(&self.key)).await {
                warn!(error = %e, "a staged rejects object was not removed");
            }
        }
        match written {
            Ok(()) => RejectsEnd { key: Some(self.key), failure: None },
            Err(e) => {
                warn!(error = %e, "the rejects object could not be written");
                RejectsEnd { key: None, failure: Some(e.to_string()) }
            }
        }
    }
}
