//! Writing a file's records: from the parser's thread to the writers in batches ([`ToWriters`]),
//! then over lanes by record id, each one BatchWriteItem of up to 25 at a time.

use super::WRITE_BATCH;
use crate::mapping::Record;
use crate::pipeline::Emit;
use crate::ports::{RecordBatch, RecordSink, StoreError};
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
}

impl ToWriters {
    pub(super) fn new(
        write: bool,
        sender: mpsc::Sender<Vec<Record>>,
        handoff: usize,
        hand_over_at: Option<Instant>,
    ) -> ToWriters {
        let batch = Vec::with_capacity(handoff);
        ToWriters { write, sender: Some(sender), batch, handoff, since_check: 0, hand_over_at }
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
        self.since_check += 1;
        if self.since_check >= self.handoff {
            self.since_check = 0;
            if self.hand_over_at.is_some_and(|at| Instant::now() >= at) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn end(&mut self) {
        if !self.batch.is_empty() {
            let rest = std::mem::take(&mut self.batch);
            self.send(rest);
        }
        self.sender = None;
    }
}

/// Writes the records that arrive on `receiver` with `lanes` BatchWriteItems in flight. Records are
/// spread over the lanes by a hash of their id, and each lane writes one batch of up to 25 at a
/// time, in order: the rows of one primary key reach the table in file order, so the last one wins
/// whatever the concurrency. Returns the records written and the first write error; on an error the
/// writers stop, and dropping `receiver` stops its sender at its next send.
pub async fn write_in_lanes<'b>(
    sink: &dyn RecordSink,
    lanes: usize,
    mut receiver: mpsc::Receiver<Vec<Record>>,
    make_batch: impl Fn(Vec<Record>) -> RecordBatch<'b> + Send + Sync,
) -> (u64, Option<StoreError>) {
    let lanes = lanes.max(1);
    let written = AtomicU64::new(0);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..lanes).map(|_| mpsc::channel::<Vec<Record>>(1)).unzip();
    let split = async move {
        let mut buffers: Vec<Vec<Record>> = (0..lanes).map(|_| Vec::with_capacity(WRITE_BATCH)).collect();
        while let Some(records) = receiver.recv().await {
            for record in records {
                let lane = lane_of(&record.id, lanes);
                buffers[lane].push(record);
                if buffers[lane].len() == WRITE_BATCH {
                    let full = std::mem::replace(&mut buffers[lane], Vec::with_capacity(WRITE_BATCH));
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
