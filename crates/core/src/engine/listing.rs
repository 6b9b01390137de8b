//! What a run reads: the bucket (or folder) listed page by page, several prefixes at once, each
//! page's objects looked up in the ledger and put through the selection rule, keeping only what
//! is to be read (memory follows what is new, not the size of the bucket); then the objects due to
//! be tried again, whatever their place in the window; the keys object events named, looked at
//! one by one; then the run's order, oldest first.

use super::import::Ending;
use super::run::RunState;
use super::{access_stop, store_stop, Engine, Job, Stop};
use crate::model::{Connection, FileOutcome, ListCursor, NamedKey, ObjectMeta, Recheck};
use crate::ports::{LedgerEntry, ObjectSource, SourceErrorKind};
use crate::selection::{self, SelectionConfig};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use tracing::{info, warn};

/// Objects due to be tried again that one run takes on; the rest wait for the next run.
const MAX_RECHECKS_PER_RUN: usize = 1000;

/// Named keys looked at, and decided, at a time (one ledger read for them); of those, HEADs in
/// flight at once.
const NAMED_AT_ONCE: usize = 100;
const HEADS_IN_FLIGHT: usize = 16;

impl Engine<'_> {
    /// Lists what the run has still to list, a page per prefix at a time and several prefixes at
    /// once, then adds the objects due to be tried again and puts what is to be read in order.
    pub(super) async fn list(&self, job: &Job<'_>, state: &mut RunState) -> Result<(), Stop> {
        while !state.progress.listing.is_empty() {
            if state.hand_over_due() {
                return Err(Stop::HandOver);
            }
            self.list_pages(job, state).await?;
            state.progressed = true;
        }
        if !state.progress.rechecked {
            self.add_due_rechecks(job, state).await?;
        }
        self.add_named(job, state).await?;
        // Oldest first, ties by key, across every page and prefix.
        state.pending.make_contiguous().sort_by(selection::processing_order);
        info!(
            listed = state.progress.counts.objects_listed,
            to_import = state.pending.len(),
            selected = state.progress.counts.objects_selected,
            cutoff = %state.progress.cutoff,
            "listing complete"
        );
        Ok(())
    }

    /// One page of each of the first prefixes still to list, at once. The listing moves on only once
    /// its pages are listed, looked up and settled: a run that stops in between does not move the
    /// watermark past what it did not see.
    async fn list_pages(&self, job: &Job<'_>, state: &mut RunState) -> Result<(), Stop> {
        let cutoff = state.progress.cutoff;
        let take = self.config.list_concurrency.clamp(1, state.progress.listing.len());
        let cursors = &state.progress.listing[..take];
        let pages = futures::future::join_all(cursors.iter().map(|cursor| job.source.list_page(cursor))).await;
        let mut candidates = Vec::new();
        let mut listed_next = Vec::new();
        let mut failure = None;
        for (cursor, page) in cursors.iter().zip(pages) {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    // Listed again by the next attempt, from the same token.
                    failure.get_or_insert(e);
                    continue;
                }
            };
            state.progress.counts.objects_listed += page.objects.len() as u64;
            candidates.extend(page.objects.into_iter().filter(|o| o.last_modified >= cutoff));
            listed_next.extend(page.prefixes.into_iter().map(|p| ListCursor::new(Some(&p), false)));
            if let Some(token) = page.next_token {
                listed_next.push(ListCursor { token: Some(token), ..cursor.clone() });
            }
        }
        if let Some(e) = failure {
            return Err(access_stop(job.connection, e));
        }
        let keys: Vec<&str> = candidates.iter().map(|o| o.key.as_str()).collect();
        let recorded = self.store.ledger(&job.connection.id, &keys).await.map_err(store_stop)?;
        self.select(job, cutoff, candidates, recorded, state).await?;
        state.progress.listing.drain(..take);
        state.progress.listing.extend(listed_next);
        Ok(())
    }

    /// Applies the selection rule to candidates, given their ledger entries (`recorded`, read
    /// consistently by the caller): what to read joins the pending objects, what is settled
    /// without reading is recorded at once.
    async fn select(
        &self,
        job: &Job<'_>,
        cutoff: DateTime<Utc>,
        candidates: Vec<ObjectMeta>,
        mut recorded: HashMap<String, LedgerEntry>,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        // An operator's backfill: every object modified since then is decided again, as if asked
        // one by one.
        if let Some(since) = state.progress.backfill_since {
            for object in candidates.iter().filter(|o| o.last_modified >= since) {
                if let Some(entry) = recorded.get_mut(&object.key) {
                    entry.recheck = Some(Recheck::Operator { asked_at: since });
                }
            }
        }
        let selection = selection::select(candidates, cutoff, &recorded, job.template, &self.config.selection, now);
        state.progress.counts.objects_selected += (selection.import.len() + selection.settle.len()) as u64;
        for (object, status, reason, recheck) in selection.settle {
            let outcome = self.outcome(&object, Ending::settled(status, reason, recheck), job.run_id, 0);
            self.record(job.connection, &outcome, state).await?;
        }
        state.pending.extend(selection.import);
        Ok(())
    }

    /// Where the run's window starts: the watermark less the connection's overlap (90 days back on a
    /// first sync), and no later than an operator's backfill.
    pub(super) fn cutoff(&self, connection: &Connection, now: DateTime<Utc>) -> DateTime<Utc> {
        let selection = SelectionConfig {
            overlap: connection.overlap(self.config.selection.overlap),
            ..self.config.selection.clone()
        };
        let cutoff = selection::cutoff(connection.sync.watermark, now, &selection);
        connection.backfill_since.map_or(cutoff, |since| cutoff.min(since))
    }

    /// The keys object events named, a chunk at a time: each looked at (HEAD, the decoded key first
    /// and then as written) and the object under it now decided as a listing's would be, but
    /// whatever its LastModified. Events come late, twice and out of order: what is decided is the
    /// object's newest version, and the ledger says whether that version was imported already (by
    /// an event or a scan). A key with no object under it, or outside the connection's folder, is
    /// counted and left.
    async fn add_named(&self, job: &Job<'_>, state: &mut RunState) -> Result<(), Stop> {
        use futures::StreamExt;
        let folder = job.connection.folder.as_deref().unwrap_or("");
        while !state.progress.named.is_empty() {
            if state.hand_over_due() {
                return Err(Stop::HandOver);
            }
            let take = NAMED_AT_ONCE.min(state.progress.named.len());
            let mut asked = HashSet::new();
            let chunk: Vec<_> = state.progress.named[..take]
                .iter()
                .filter(|named| {
                    let under_folder = named.key.candidates().any(|key| key.starts_with(folder));
                    if !under_folder {
                        warn!(key = %named.key.first, "a named key outside the connection's folder; left");
                    }
                    under_folder && asked.insert(&named.key)
                })
                .cloned()
                .collect();
            // Made before they are streamed: a closure that makes them inside the stream is not
            // Send for every lifetime, as a Lambda's future must be.
            let lookups: Vec<_> = chunk.iter().map(|named| head_named(job.source, folder, named)).collect();
            let heads: Vec<_> = futures::stream::iter(lookups).buffered(HEADS_IN_FLIGHT).collect().await;
            // Each version once: one already on its way in this run (listed, or named before) is not
            // decided again (two reads of one version would import it twice). A newer version than
            // the one waiting takes its place (the older one's read would only fail its If-Match),
            // unless the older one is part-read: that one stays, to fail its read and record how
            // many of its rows were written, and the newer one's import removes those rows.
            // The version of each key waiting, read once a chunk (the queue may be a scan's, long).
            let waiting: HashMap<String, String> =
                state.pending.iter().map(|o| (o.key.clone(), o.etag.clone())).collect();
            let mut decided_now: HashSet<String> = HashSet::new();
            let mut superseded = Vec::new();
            let mut candidates = Vec::new();
            for (named, head) in chunk.iter().zip(heads) {
                let counts = &mut state.progress.counts;
                counts.objects_named += 1;
                let head = match head {
                    // One object the role may not look at fails alone, as its read would in a
                    // scan: it must not stop the run (and hand the batch back) again and again.
                    // HEAD answers have no body, so a 400 (SSE-C) reads as Other.
                    Err(e) if e.kind.object_only() || e.kind == SourceErrorKind::Other => {
                        warn!(key = %named.key.first, error = %e, "a named key that cannot be looked at; left to the scan");
                        counts.named_unreadable += 1;
                        continue;
                    }
                    head => head.map_err(|e| access_stop(job.connection, e))?,
                };
                let Some(object) = head else {
                    counts.named_not_found += 1;
                    continue;
                };
                if !decided_now.insert(object.key.clone()) {
                    continue;
                }
                let said = named.etag.as_deref().map(|e| e.trim_matches('"'));
                if said.is_some_and(|said| said != object.etag.trim_matches('"')) {
                    counts.named_replaced += 1;
                }
                match waiting.get(&object.key) {
                    Some(etag) if *etag == object.etag => continue,
                    Some(_) => {
                        let at = state.pending.iter().position(|o| o.key == object.key).expect("waiting");
                        let older = &state.pending[at];
                        info!(key = %older.key, older = %older.etag, newer = %object.etag, "a newer version named while an older one waits");
                        let part_read =
                            state.progress.file.as_ref().is_some_and(|f| f.key == older.key && f.etag == older.etag);
                        if part_read {
                            superseded.push((older.key.clone(), older.etag.clone(), object.etag.clone()));
                        } else {
                            state.pending.remove(at);
                        }
                    }
                    None => {}
                }
                candidates.push(object);
            }
            let keys: Vec<&str> = candidates.iter().map(|o| o.key.as_str()).collect();
            let recorded = self.store.ledger(&job.connection.id, &keys).await.map_err(store_stop)?;
            self.select(job, DateTime::<Utc>::MIN_UTC, candidates, recorded, state).await?;
            for (key, older, newer) in superseded {
                if let Some(newer) = state.pending.iter_mut().find(|o| o.key == key && o.etag == newer) {
                    newer.replaces.get_or_insert(older);
                }
            }
            state.progress.named.drain(..take);
            state.progressed = true;
        }
        Ok(())
    }

    /// Objects whose retry has come, or that an operator asked for, join the run even when the
    /// listing's window has passed them: a failed object is tried again without holding the
    /// watermark back. Each is decided again with its ledger entry, read consistently.
    async fn add_due_rechecks(&self, job: &Job<'_>, state: &mut RunState) -> Result<(), Stop> {
        let now = self.clock.now();
        let connection_id = &job.connection.id;
        // Best effort: the objects to try again wait for the next run rather than stop this one.
        let due = match self.store.due_rechecks(connection_id, now, MAX_RECHECKS_PER_RUN).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "could not read the objects to try again; the next run looks again");
                state.progress.rechecked = true;
                return Ok(());
            }
        };
        let listed: HashSet<&str> = state.pending.iter().map(|o| o.key.as_str()).collect();
        // The index lags its table: an entry this run (or another) has since replaced, or whose
        // retry is no longer due, is left alone.
        let keys: Vec<&str> = due.iter().map(|o| o.key.as_str()).collect();
        let current = self.store.ledger(connection_id, &keys).await.map_err(store_stop)?;
        let still_due = |o: &FileOutcome| {
            current.get(&o.key).is_some_and(|entry| {
                entry.etag == o.etag && matches!(&entry.recheck, Some(r) if r.due_at().is_some_and(|at| at <= now))
            })
        };
        let candidates: Vec<ObjectMeta> = due
            .into_iter()
            .filter(|o| !listed.contains(o.key.as_str()) && still_due(o))
            .map(|o| ObjectMeta {
                key: o.key,
                etag: o.etag,
                size: o.size,
                last_modified: o.last_modified,
                storage_class: None,
                attempts: 0,
                replaces: None,
            })
            .collect();
        if !candidates.is_empty() {
            info!(objects = candidates.len(), "objects due to be tried again");
            self.select(job, DateTime::<Utc>::MIN_UTC, candidates, current, state).await?;
        }
        state.progress.rechecked = true;
        Ok(())
    }
}

/// The object under a named key: under its first reading, or else its other one (within the
/// folder), or none.
async fn head_named(
    source: &dyn ObjectSource,
    folder: &str,
    named: &NamedKey,
) -> Result<Option<ObjectMeta>, crate::ports::SourceError> {
    for key in named.key.candidates().filter(|key| key.starts_with(folder)) {
        if let Some(object) = source.head(key).await? {
            return Ok(Some(object));
        }
    }
    Ok(None)
}
