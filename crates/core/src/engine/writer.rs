//! Writing a file's records: from the parser's thread to the writers in batches ([`ToWriters`]),
//! then over lanes by record id, each one put of as many records as the sink takes at a time
//! ([`RecordSink::max_batch`]: one BatchWriteItem of up to 25, for DynamoDB).

use crate::mapping::Record;
use crate::model::RowError;
use crate::pipeline::Emit;
use crate::ports::{RecordBatch, RecordSink, RejectsStore, StoreError};
use crate::rejects::{RawRow, RejectsFile, RejectsUpload};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;

/// The engine's end of the read pipeline: records in batches of `handoff` to the writers (when the
/// pass writes), and a look at the clock every `handoff` records, to stop for a hand-over.
pub(super) struct ToWriters {
    write: bool,
    /// Let go at the end of the read, so that the writers see the end of the records.
    sender: Option<mpsc::Sender<Vec<Record>>>,
    batch: Vec<Record>,
    handoff: usize,
    since_check: usize,
    hand_over_at: Option<Instant>,
    /// The rejects file, when the pass hands rejected rows back; let go when the uploader stops
    /// (the file is read on without it). What is left of it is the pass's to stage or finish.
    pub(super) rejects: Option<RejectsFile>,
    /// Where its full parts go (to [`upload_parts`]); let go at the end of the read, so that the
    /// uploader sees the end of the parts.
    pub(super) parts: Option<mpsc::Sender<Vec<u8>>>,
}

impl ToWriters {
    pub(super) fn new(
        write: bool,
        sender: mpsc::Sender<Vec<Record>>,
        handoff: usize,
        hand_over_at: Option<Instant>,
    ) -> ToWriters {
        let batch = Vec::with_capacity(handoff);
        ToWriters {
            write,
            sender: Some(sender),
            batch,
            handoff,
            since_check: 0,
            hand_over_at,
            rejects: None,
            parts: None,
        }
    }

    /// Counts a row read; every `handoff` rows, `Break` if the time to hand over has come.
    fn tick(&mut self) -> ControlFlow<()> {
        self.since_check += 1;
        if self.since_check >= self.handoff {
            self.since_check = 0;
            if self.hand_over_at.is_some_and(|at| Instant::now() >= at) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// Sends a batch; `false` once the writers have stopped (their error is reported).
    fn send(&mut self, batch: Vec<Record>) -> bool {
        self.sender.as_ref().is_some_and(|sender| sender.blocking_send(batch).is_ok())
    }
}

impl Emit for ToWriters {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        if self.write {
            self.batch.push(record);
            if self.batch.len() >= self.handoff {
                let full = std::mem::replace(&mut self.batch, Vec::with_capacity(self.handoff));
                if !self.send(full) {
                    return ControlFlow::Break(());
                }
            }
        }
        self.tick()
    }

    fn header(&mut self, names: &[String]) {
        if let Some(file) = &mut self.rejects {
            file.header(names);
        }
    }

    fn rejected(&mut self, error: &RowError, raw: RawRow<'_>) -> ControlFlow<()> {
        if let Some(file) = &mut self.rejects {
            file.add(error, raw);
            if let Some(part) = file.take_part() {
                if self.parts.as_ref().is_none_or(|parts| parts.blocking_send(part).is_err()) {
                    // The uploader stopped, saying why; the rows are read and counted on.
                    self.rejects = None;
                    self.parts = None;
                }
            }
        }
        // A file of rejected rows takes time too: it hands over as one of records does.
        self.tick()
    }

    fn end(&mut self) {
        if !self.batch.is_empty() {
            let rest = std::mem::take(&mut self.batch);
            self.send(rest);
        }
        self.sender = None;
        self.parts = None;
    }
}

/// Uploads the rejects parts that arrive on `parts` as parts of `upload` (started with the first),
/// until the parser lets go of its sender. An error stops it: a transient one is given back (the
/// invocation stops, and its retry goes on from the checkpoint), any other is kept in
/// `upload.failed` (the file is read on without its rejects object).
pub(super) async fn upload_parts(
    store: &dyn RejectsStore,
    key: &str,
    upload: &mut RejectsUpload,
    mut parts: mpsc::Receiver<Vec<u8>>,
) -> Option<StoreError> {
    while let Some(part) = parts.recv().await {
        if let Err(e) = upload_part(store, key, upload, part).await {
            if e.kind == crate::ports::StoreErrorKind::Transient {
                return Some(e);
            }
            upload.failed = Some(e.to_string());
            return None;
        }
    }
    None
}

/// Uploads one part of `upload`, starting it if need be.
pub(super) async fn upload_part(
    store: &dyn RejectsStore,
    key: &str,
    upload: &mut RejectsUpload,
    part: Vec<u8>,
) -> Result<(), StoreError> {
    let id = match &upload.upload_id {
        Some(id) => id.clone(),
        None => {
            let id = store.start_upload(key).await?;
            upload.upload_id = Some(id.clone());
            id
        }
    };
    let number = upload.parts.len() as i32 + 1;
    let etag = store.upload_part(key, &id, number, part).await?;
    upload.parts.push((number, etag));
    Ok(())
}

/// Writes the records that arrive on `receiver` with `lanes` puts in flight. Records are spread over
/// the lanes by a hash of their id, and each lane writes one batch of up to the sink's
/// [`RecordSink::max_batch`] at a time, in order: the rows of one primary key reach the table in
/// file order, so the last one wins whatever the concurrency. Returns the records written and the
/// first write error; on an error the writers stop, and dropping `receiver` stops its sender at its
/// next send.
pub async fn write_in_lanes<'b>(
    sink: &dyn RecordSink,
    lanes: usize,
    mut receiver: mpsc::Receiver<Vec<Record>>,
    make_batch: impl Fn(Vec<Record>) -> RecordBatch<'b> + Send + Sync,
) -> (u64, Option<StoreError>) {
    let lanes = lanes.max(1);
    let max_batch = sink.max_batch().max(1);
    let written = AtomicU64::new(0);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..lanes).map(|_| mpsc::channel::<Vec<Record>>(1)).unzip();
    let split = async move {
        let mut buffers: Vec<Vec<Record>> = (0..lanes).map(|_| Vec::with_capacity(max_batch)).collect();
        while let Some(records) = receiver.recv().await {
            for record in records {
                let lane = lane_of(&record.id, lanes);
                buffers[lane].push(record);
                if buffers[lane].len() == max_batch {
                    let full = std::mem::replace(&mut buffers[lane], Vec::with_capacity(max_batch));
                    if senders[lane].send(full).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        for (lane, rest) in buffers.into_iter().enumerate().filter(|(_, rest)| !rest.is_empty()) {
            if senders[lane].send(rest).await.is_err() {
                break;
            }
        }
        Ok(())
    };
    let (make_batch, written_ref) = (&make_batch, &written);
    let writers = futures::future::try_join_all(receivers.into_iter().map(|mut lane| async move {
        while let Some(records) = lane.recv().await {
            let n = records.len() as u64;
            sink.put(make_batch(records)).await?;
            written_ref.fetch_add(n, Ordering::Relaxed);
        }
        Ok::<(), StoreError>(())
    }));
    let result = futures::future::try_join(split, writers).await;
    (written.load(Ordering::Relaxed), result.err())
}

/// The write lane of a record id: a stable hash, so one key always goes the same lane.
fn lane_of(id: &str, lanes: usize) -> usize {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(id.as_bytes());
    (hasher.finish() % lanes as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectMeta;
    use crate::ports::StoreErrorKind;
    use crate::template::Template;
    use std::sync::Mutex;

    /// A sink that takes at most 7 records a put, and keeps the size of each batch it is given.
    #[derive(Default)]
    struct SevenAtATime(Mutex<Vec<usize>>);

    #[async_trait::async_trait]
    impl RecordSink for SevenAtATime {
        fn max_batch(&self) -> usize {
            7
        }
        async fn put(&self, batch: RecordBatch<'_>) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(batch.records.len());
            Ok(())
        }
        async fn remove_other_versions(&self, _: &str, _: &str, _: &str) -> Result<u64, StoreError> {
            Err(StoreError::new(StoreErrorKind::Other, "not used here"))
        }
    }

    /// The writers ask the sink how many records a put takes, and never give it more.
    #[tokio::test]
    async fn batches_are_as_large_as_the_sink_takes() {
        let template = Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string"}]}"#,
        )
        .unwrap();
        let object = ObjectMeta {
            key: "k".into(),
            etag: "e".into(),
            size: 0,
            last_modified: chrono::Utc::now(),
            storage_class: None,
            attempts: 0,
            replaces: None,
        };
        let sink = SevenAtATime::default();
        let (sender, receiver) = mpsc::channel(2);
        let records: Vec<Record> = (1..=100)
            .map(|row| Record { id: format!("k#e#{row}"), row, line: row + 1, values: vec![], extra: vec![] })
            .collect();
        sender.send(records).await.unwrap();
        drop(sender);
        let now = chrono::Utc::now();
        let make_batch = |records| RecordBatch {
            connection_id: "c",
            template: &template,
            object: &object,
            imported_at: now,
            records,
        };
        let (written, error) = write_in_lanes(&sink, 3, receiver, make_batch).await;
        assert_eq!((written, error.is_none()), (100, true));
        let sizes = sink.0.lock().unwrap().clone();
        assert!(sizes.iter().all(|&n| (1..=7).contains(&n)), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        // Three lanes: each sends full batches of 7 and at most one smaller one at the end.
        assert!(sizes.iter().filter(|&&n| n < 7).count() <= 3, "{sizes:?}");
    }
}
