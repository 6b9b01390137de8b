//! Writing records: lanes by record id, each one BatchWriteItem of up to 25 at a time.

use super::WRITE_BATCH;
use crate::mapping::Record;
use crate::ports::{RecordBatch, RecordSink, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

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
