//! The access check of preview, activation and re-authentication: can the connection's role do
//! what a sync does? Assuming the role and listing are checked by doing them (the caller does);
//! reading is checked on a sample of the listed objects, each read for its last byte (a ranged
//! GET), and each one's result is reported, so that the operator sees the objects a sync would
//! fail on before it does.
//!
//! **Which objects** ([`pick_sample`], pure): among the first [`SCAN_OBJECTS`] listed (five pages
//! of S3's listing; a folder's first, in key order), only files (no folder placeholders, no empty
//! objects, none in an archive storage class, whose answer is known without asking), and of them
//! up to [`SAMPLE_OBJECTS`]:
//! - the newest ones: what the next sync reads first, written by the customer's pipeline as it is
//!   now (its KMS key, its account);
//! - the rest spread evenly over the key order, first and last first: other sub-folders, other
//!   producers, older objects under another key or owner.
//!
//! **What passes** ([`AccessReport::refusal`]): the role read at least one object tried, or none
//! of the objects tried says the role may not read (denied, or an error we cannot place). An
//! object that is archived, encrypted with SSE-C or replaced since the listing says nothing about
//! the role: it is reported, and a sync skips or fails that object alone. So a role that may list
//! but not read (no s3:GetObject, no kms:Decrypt on the key every object uses) fails the check,
//! naming each object tried and why; one object it may not read among readable ones passes, and
//! the report shows it.

use crate::model::{Connection, ObjectMeta};
use crate::ports::{ObjectSource, SourceError, SourceErrorKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Objects read at most by one check.
pub const SAMPLE_OBJECTS: usize = 5;
/// Listed objects the sample is chosen from, at most.
pub const SCAN_OBJECTS: usize = 5_000;

/// What reading one sampled object gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessResult {
    /// Its last byte was read.
    Readable,
    /// The role may not read it (403: the role's or the bucket's policy, a KMS key it may not
    /// use, another account's object).
    Denied,
    /// In an archive tier without a restored copy (the read itself was allowed).
    Archived,
    /// Encrypted with a customer-provided key (SSE-C): no role can read it.
    Unsupported,
    /// Deleted or replaced since the listing: nothing learnt.
    Gone,
    /// Another error, which the check cannot place.
    Failed,
}

crate::words::words!(AccessResult {
    Readable => "readable",
    Denied => "denied",
    Archived => "archived",
    Unsupported => "unsupported",
    Gone => "gone",
    Failed => "failed",
});

impl AccessResult {
    /// Whether this result says the role cannot read what a sync reads.
    fn against_the_role(self) -> bool {
        matches!(self, AccessResult::Denied | AccessResult::Failed)
    }
}

/// One sampled object and what reading it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampledObject {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub result: AccessResult,
    /// Why it could not be read: S3's answer, its cause and its fix. None when readable.
    pub error: Option<String>,
}

/// What an access check found: how much of the listing it chose from, and each object it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessReport {
    /// Objects listed to choose the sample from (at most [`SCAN_OBJECTS`]).
    pub objects_listed: usize,
    /// Each object tried, in key order; empty when the folder holds no file.
    pub objects: Vec<SampledObject>,
}

impl AccessReport {
    /// The objects tried that could be read.
    pub fn readable(&self) -> usize {
        self.objects.iter().filter(|o| o.result == AccessResult::Readable).count()
    }

    /// Why the check fails, naming each object tried and why it could not be read; None when it
    /// passes (see the module's documentation).
    pub fn refusal(&self, connection: &Connection) -> Option<String> {
        if self.readable() > 0 || !self.objects.iter().any(|o| o.result.against_the_role()) {
            return None;
        }
        let place = format!("s3://{}/{}", connection.bucket, connection.folder.as_deref().unwrap_or(""));
        let each: Vec<String> = self
            .objects
            .iter()
            .map(|o| format!("{} ({})", o.key, o.error.as_deref().unwrap_or(o.result.as_str())))
            .collect();
        Some(format!(
            "the role may list {place} but read none of the {} objects tried: check that its permission policy \
             allows s3:GetObject on them, and kms:Decrypt on the KMS key that encrypts them (give the key's ARN \
             when creating the connection); {}",
            self.objects.len(),
            each.join("; ")
        ))
    }
}

/// Whether a listed object is worth reading for the check: a file with bytes, not archived.
fn is_candidate(object: &ObjectMeta) -> bool {
    object.size > 0
        && !object.key.ends_with('/')
        && !object.storage_class.as_deref().is_some_and(crate::selection::is_archive_class)
}

/// Chooses up to `n` objects of `listed` (in key order, as S3 lists them) to read; see the
/// module's documentation. Returned in key order.
pub fn pick_sample(listed: &[ObjectMeta], n: usize) -> Vec<ObjectMeta> {
    let candidates: Vec<&ObjectMeta> = listed.iter().filter(|o| is_candidate(o)).collect();
    if candidates.len() <= n {
        return candidates.into_iter().cloned().collect();
    }
    // The newest half (rounded up), ties broken by key...
    let mut by_age: Vec<usize> = (0..candidates.len()).collect();
    by_age.sort_by(|&a, &b| {
        (candidates[b].last_modified, &candidates[a].key).cmp(&(candidates[a].last_modified, &candidates[b].key))
    });
    let mut chosen = vec![false; candidates.len()];
    for &i in &by_age[..n.div_ceil(2)] {
        chosen[i] = true;
    }
    // ...then the rest spread evenly over the key order of the others, first and last first.
    let rest: Vec<usize> = (0..candidates.len()).filter(|&i| !chosen[i]).collect();
    let spread = n - n.div_ceil(2);
    for k in 0..spread {
        let at = if spread == 1 { 0 } else { k * (rest.len() - 1) / (spread - 1) };
        chosen[rest[at]] = true;
    }
    candidates.into_iter().zip(chosen).filter(|(_, c)| *c).map(|(o, _)| o.clone()).collect()
}

/// Reads the last byte of each object, all at once (there are [`SAMPLE_OBJECTS`] at most), and
/// reports each. An error that breaks access as a whole (the bucket gone, the wrong region) or a
/// transient one (throttling, after the SDK's retries) ends the check instead: the caller says what
/// to check, or to try again.
pub async fn read_sample(source: &dyn ObjectSource, sample: &[ObjectMeta]) -> Result<Vec<SampledObject>, SourceError> {
    futures::future::join_all(sample.iter().map(|object| read_one(source, object))).await.into_iter().collect()
}

async fn read_one(source: &dyn ObjectSource, object: &ObjectMeta) -> Result<SampledObject, SourceError> {
    let read = match source.open(object, object.size - 1).await {
        Ok(mut body) => tokio::io::copy(&mut body, &mut tokio::io::sink())
            .await
            .map(|_| ())
            .map_err(|e| SourceError::new(SourceErrorKind::Transient, format!("reading {}: {e}", object.key))),
        Err(e) => Err(e),
    };
    let (result, error) = match read {
        Ok(()) => (AccessResult::Readable, None),
        Err(e) => match e.kind {
            SourceErrorKind::ObjectDenied => (AccessResult::Denied, Some(e.message)),
            SourceErrorKind::ObjectArchived => (AccessResult::Archived, Some(e.message)),
            SourceErrorKind::ObjectUnsupported => (AccessResult::Unsupported, Some(e.message)),
            SourceErrorKind::ObjectGone => (AccessResult::Gone, Some(e.message)),
            SourceErrorKind::Other => (AccessResult::Failed, Some(e.message)),
            SourceErrorKind::AccessDenied
            | SourceErrorKind::NoSuchBucket
            | SourceErrorKind::WrongRegion
            | SourceErrorKind::Transient => return Err(e),
        },
    };
    let (key, size, last_modified) = (object.key.clone(), object.size, object.last_modified);
    Ok(SampledObject { key, size, last_modified, result, error })
}

/// The check over what was listed: picks the sample from the first [`SCAN_OBJECTS`] of `listed`
/// and reads it. Whether it passes is [`AccessReport::refusal`].
pub async fn check(source: &dyn ObjectSource, listed: &[ObjectMeta]) -> Result<AccessReport, SourceError> {
    let listed = &listed[..listed.len().min(SCAN_OBJECTS)];
    let sample = pick_sample(listed, SAMPLE_OBJECTS);
    Ok(AccessReport { objects_listed: listed.len(), objects: read_sample(source, &sample).await? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{new_connection, ConnectionInput};
    use crate::memory::MemoryBucket;
    use crate::ports::BucketAccess;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 0, minute, 0).unwrap()
    }

    fn meta(key: &str, minute: u32, size: u64, class: Option<&str>) -> ObjectMeta {
        let value = serde_json::json!({
            "key": key, "etag": "\"e\"", "size": size, "last_modified": at(minute), "storage_class": class,
        });
        serde_json::from_value(value).unwrap()
    }

    fn connection() -> Connection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: "acme".into(),
            account_id: "123456789012".into(),
            bucket: "acme-exports".into(),
            region: "eu-west-1".into(),
            folder: Some("in".into()),
            template_id: "t".into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
        };
        new_connection(input, "c1".into(), "x".into(), crate::connections::ROLE_PREFIX, at(0)).unwrap()
    }

    /// Ten files k0..k9 in key order, modified at these minutes.
    fn ten(minutes: [u32; 10]) -> Vec<ObjectMeta> {
        minutes.iter().enumerate().map(|(i, &m)| meta(&format!("in/k{i}.csv"), m, 10, None)).collect()
    }

    #[test]
    fn the_sample_is_the_newest_files_and_the_rest_spread_over_the_key_order() {
        let few = vec![
            meta("in/a.csv", 1, 10, None),
            meta("in/b/", 2, 0, None),
            meta("in/c.csv", 3, 0, None),
            meta("in/d.csv", 4, 10, Some("GLACIER")),
            meta("in/e.csv", 5, 10, Some("DEEP_ARCHIVE")),
            meta("in/f.csv", 6, 10, Some("STANDARD_IA")),
        ];
        let cases: Vec<(&str, Vec<ObjectMeta>, usize, Vec<&str>)> = vec![
            ("nothing listed", vec![], 5, vec![]),
            ("only files with bytes, not archived: every one when fewer than asked", few, 5, vec!["a", "f"]),
            (
                "newest three (k2, k4, k6), then the first and the last of the rest",
                ten([5, 1, 9, 2, 8, 3, 7, 4, 6, 0]),
                5,
                vec!["k0", "k2", "k4", "k6", "k9"],
            ),
            (
                "the newest are the first and the last: the spread takes the next ones",
                ten([9, 1, 1, 1, 1, 7, 1, 1, 1, 8]),
                5,
                vec!["k0", "k1", "k5", "k8", "k9"],
            ),
            ("a tie of times goes by key", ten([3; 10]), 5, vec!["k0", "k1", "k2", "k3", "k9"]),
            (
                "three spread: first, middle, last",
                ten([0, 0, 0, 0, 0, 0, 0, 9, 8, 7]),
                6,
                vec!["k0", "k3", "k6", "k7", "k8", "k9"],
            ),
            ("one", ten([0, 0, 0, 9, 0, 0, 0, 0, 0, 0]), 1, vec!["k3"]),
        ];
        for (case, listed, n, expected) in cases {
            let picked = pick_sample(&listed, n);
            let names: Vec<&str> =
                picked.iter().map(|o| o.key.trim_start_matches("in/").trim_end_matches(".csv")).collect();
            assert_eq!(names, expected, "{case}: {listed:?}");
        }
    }

    #[test]
    fn results_serialise_as_they_print() {
        for result in [
            AccessResult::Readable,
            AccessResult::Denied,
            AccessResult::Archived,
            AccessResult::Unsupported,
            AccessResult::Gone,
            AccessResult::Failed,
        ] {
            assert_eq!(serde_json::to_value(result).unwrap(), result.as_str());
        }
    }

    #[tokio::test]
    async fn the_check_reads_each_sampled_object_and_refuses_only_a_role_that_reads_none() {
        use AccessResult::*;
        use SourceErrorKind as K;
        // (case, objects with how each cannot be read, refused, the results)
        let cases: Vec<(&str, Vec<(&str, Option<K>)>, bool, Vec<AccessResult>)> = vec![
            ("every object readable", vec![("a", None), ("b", None)], false, vec![Readable, Readable]),
            (
                "one denied among readable ones: passes, and the report shows it",
                vec![("a", None), ("b-kms", Some(K::ObjectDenied)), ("c", None)],
                false,
                vec![Readable, Denied, Readable],
            ),
            (
                "none readable, each denied: refused",
                vec![("a", Some(K::ObjectDenied)), ("b", Some(K::ObjectDenied))],
                true,
                vec![Denied, Denied],
            ),
            (
                "none readable, an error we cannot place: refused",
                vec![("a", Some(K::Other)), ("b", Some(K::ObjectArchived))],
                true,
                vec![Failed, Archived],
            ),
            (
                "archived, SSE-C or replaced say nothing against the role: passes",
                vec![("a", Some(K::ObjectArchived)), ("b", Some(K::ObjectUnsupported)), ("c", Some(K::ObjectGone))],
                false,
                vec![Archived, Unsupported, Gone],
            ),
            ("an empty folder: nothing to read, passes", vec![], false, vec![]),
        ];
        let connection = connection();
        for (case, objects, refused, expected) in cases {
            let bucket = MemoryBucket::default();
            for (i, (name, unreadable)) in objects.iter().enumerate() {
                let key = format!("in/{name}.csv");
                bucket.put(&key, "\"e\"", at(i as u32), b"id\n1\n");
                if let Some(kind) = unreadable {
                    bucket.unreadable.lock().unwrap().insert(key, *kind);
                }
            }
            let source = bucket.connect(&connection).await.unwrap();
            let listed: Vec<ObjectMeta> = bucket.objects.lock().unwrap().values().map(|(m, _)| m.clone()).collect();
            let report = check(source.as_ref(), &listed).await.unwrap();
            let results: Vec<AccessResult> = report.objects.iter().map(|o| o.result).collect();
            assert_eq!(results, expected, "{case}");
            assert_eq!(report.objects_listed, objects.len(), "{case}");
            for o in &report.objects {
                assert_eq!(o.error.is_none(), o.result == Readable, "{case}: {o:?}");
            }
            let refusal = report.refusal(&connection);
            assert_eq!(refusal.is_some(), refused, "{case}: {refusal:?}");
            if let Some(message) = refusal {
                assert!(message.starts_with("the role may list s3://acme-exports/in/ but read none"), "{message}");
                for o in &report.objects {
                    assert!(message.contains(&format!("{} (reading {}: ", o.key, o.key)), "{case}: {message}");
                }
            }
        }
    }

    #[tokio::test]
    async fn an_error_of_the_whole_bucket_or_a_transient_one_ends_the_check() {
        for kind in [SourceErrorKind::Transient, SourceErrorKind::NoSuchBucket, SourceErrorKind::AccessDenied] {
            let bucket = MemoryBucket::default();
            bucket.put("in/a.csv", "\"e\"", at(1), b"id\n1\n");
            bucket.put("in/b.csv", "\"e\"", at(2), b"id\n1\n");
            bucket.unreadable.lock().unwrap().insert("in/b.csv".into(), kind);
            let source = bucket.connect(&connection()).await.unwrap();
            let listed: Vec<ObjectMeta> = bucket.objects.lock().unwrap().values().map(|(m, _)| m.clone()).collect();
            let error = check(source.as_ref(), &listed).await.unwrap_err();
            assert_eq!(error.kind, kind);
        }
    }
}
