//! One conformance suite for the S3 source (`connector_aws::s3`: `RoleAccess` assumes the role
//! through STS, `S3Source` lists and reads), run against two independent S3 implementations: moto
//! and SeaweedFS (`scripts/test.sh` starts both; SeaweedFS's endpoint is in
//! `S3C_TEST_SEAWEED_ENDPOINT`, and without it a plain `cargo test` skips the SeaweedFS run). STS
//! stays on moto in both runs; against SeaweedFS each service has its own endpoint
//! (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_STS`). What the suite proves of both is what the
//! engine relies on: listing pages and continuation tokens, folders fanned out with a delimiter,
//! ranged reads from an offset and fetched ahead, If-Match on a replaced object, and errors mapped
//! to the engine's kinds.
//!
//! Where the two differ (checked here, so a change in either shows):
//! - the order of a listing: S3 and moto list keys in the order of their UTF-8 bytes, so `in.csv`
//!   comes before `in/a.csv`; SeaweedFS walks its directories, listing all of `in/` before
//!   `in.csv`. The engine relies on no order (it sorts what it selects; tokens are opaque), only on
//!   every key listed once;
//! - reading an object of a missing bucket: S3 and moto answer NoSuchBucket, SeaweedFS NoSuchKey
//!   (so ObjectGone, not NoSuchBucket). Listing a missing bucket is NoSuchBucket on both, and a sync
//!   lists before it reads;
//! - an object made by a multipart upload: S3 and moto (through scripts/moto_server.py) stamp it
//!   with the upload's start, SeaweedFS with its completion.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use chrono::Utc;
use common::{aws_at, endpoint, needs, unique, ACCOUNT};
use connector_aws::config::Aws;
use connector_aws::s3::{ReadAhead, RoleAccess, S3Source};
use connector_core::connections::{new_connection, ConnectionInput, ROLE_PREFIX};
use connector_core::model::{Connection, ObjectMeta};
use connector_core::ports::{list_all, BucketAccess, ListCursor, ListPage, ObjectSource, SourceError, SourceErrorKind};
use futures::TryStreamExt;
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_source_conforms_on_moto() {
    needs!(Moto);
    check_s3_source(Backend::Moto, aws_at(&endpoint(), "testing", "testing").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_source_conforms_on_seaweedfs() {
    needs!(Moto);
    needs!(SeaweedFs);
    let seaweed = std::env::var("S3C_TEST_SEAWEED_ENDPOINT").unwrap();
    check_s3_source(Backend::SeaweedFs, aws_with_s3_at(&seaweed).await).await;
}

/// The suite: every check with its own bucket.
async fn check_s3_source(backend: Backend, aws: Aws) {
    let t = Target { backend, s3: aws.s3_own(), aws };
    listing_pages_and_continuation_tokens(&t).await;
    folders_fan_out_with_a_delimiter(&t).await;
    ranged_reads_from_an_offset_and_fetched_ahead(&t).await;
    an_object_replaced_after_listing_is_gone(&t).await;
    a_missing_key_is_gone_and_a_missing_bucket_is_named(&t).await;
    a_multipart_object_is_stamped_when_its_upload_began(&t).await;
    an_object_looked_at_is_as_listed_and_a_missing_one_is_none(&t).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Moto,
    SeaweedFs,
}

/// Our SDK configuration as a Lambda's environment would set it with `AWS_ENDPOINT_URL_S3` and
/// `AWS_ENDPOINT_URL_STS` and no shared `AWS_ENDPOINT_URL`: S3 at `s3`, STS on moto. Given a host
/// name, S3 works only if our clients choose path-style addressing from S3's own endpoint.
async fn aws_with_s3_at(s3: &str) -> Aws {
    let credentials = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    let environment = ServiceEndpoints { s3: s3.to_owned(), sts: endpoint(), rest: sdk.clone() };
    let mut sdk = sdk.into_builder().service_config(environment);
    sdk.set_endpoint_url(None);
    Aws::from_sdk(sdk.build())
}

/// The environment's service config (aws-config's) with `AWS_ENDPOINT_URL_S3` and
/// `AWS_ENDPOINT_URL_STS` set and `AWS_ENDPOINT_URL` not: the process's own environment is shared
/// by the tests running beside this one, so it is not changed.
#[derive(Debug)]
struct ServiceEndpoints {
    s3: String,
    sts: String,
    rest: aws_config::SdkConfig,
}

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        match (key.env(), key.service_id()) {
            ("AWS_ENDPOINT_URL", "S3") => Some(self.s3.clone()),
            ("AWS_ENDPOINT_URL", "STS") => Some(self.sts.clone()),
            ("AWS_ENDPOINT_URL", _) => None,
            _ => self.rest.service_config()?.load_config(key),
        }
    }
}

struct Target {
    backend: Backend,
    aws: Aws,
    /// Our own S3 client, for seeding buckets.
    s3: aws_sdk_s3::Client,
}

impl Target {
    async fn bucket(&self) -> String {
        let bucket = unique("conformance");
        self.s3.create_bucket().bucket(&bucket).send().await.expect("creating bucket");
        bucket
    }

    /// Puts an object and returns its ETag.
    async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> String {
        let out = self.s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body.to_vec())).send().await;
        out.unwrap_or_else(|e| panic!("{:?}: putting {key}: {e:?}", self.backend)).e_tag.unwrap()
    }

    fn connector(&self, page_size: Option<i32>, read_ahead: ReadAhead) -> RoleAccess {
        RoleAccess { aws: self.aws.clone(), page_size, read_ahead }
    }
}

/// A connection to `bucket` (its role is assumed through moto's STS).
fn connection(bucket: &str) -> Connection {
    let input = ConnectionInput {
        tenant: "acme".into(),
        name: unique("customer"),
        account_id: ACCOUNT.into(),
        bucket: bucket.into(),
        region: "us-east-1".into(),
        folder: None,
        template_id: "payments".into(),
        kms_key_arn: None,
        open_fields: Vec::new(),
        mode: Default::default(),
    };
    let id = connector_core::manage::connections::new_connection_id();
    new_connection(input, id, connector_core::manage::connections::new_external_id(), ROLE_PREFIX, Utc::now()).unwrap()
}

async fn connect<'a>(connector: &'a RoleAccess, bucket: &str) -> Box<dyn ObjectSource + 'a> {
    match connector.connect(&connection(bucket)).await {
        Ok(source) => source,
        Err(e) => panic!("connecting to {bucket}: {e:?}"),
    }
}

/// Bytes that differ at every offset near any other (a shifted or misplaced range shows).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every page of the listing at `cursor`, following its tokens.
async fn pages(source: &dyn ObjectSource, mut cursor: ListCursor) -> Result<Vec<ListPage>, SourceError> {
    let mut pages = Vec::new();
    loop {
        let page = source.list_page(&cursor).await?;
        cursor.token = page.next_token.clone();
        pages.push(page);
        if cursor.token.is_none() || pages.len() > 100 {
            return Ok(pages);
        }
    }
}

fn keys(objects: &[ObjectMeta]) -> Vec<&str> {
    objects.iter().map(|o| o.key.as_str()).collect()
}

async fn read(source: &dyn ObjectSource, object: &ObjectMeta, from: u64) -> Result<Vec<u8>, String> {
    let mut body = source.open(object, from).await.map_err(|e| format!("open: {e:?}"))?;
    let mut out = Vec::new();
    body.read_to_end(&mut out).await.map_err(|e| format!("read: {e}"))?;
    Ok(out)
}

async fn listing_pages_and_continuation_tokens(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    let before = Utc::now() - chrono::TimeDelta::seconds(5);
    // Keys in the order S3 lists them (UTF-8 bytes): a space, '+' and a non-ASCII letter included.
    let mut expected = vec!["in/a b+c é.csv".to_owned()];
    expected.extend((0..7).map(|i| format!("in/file-{i}.csv")));
    expected.push("in/sub/deep.csv".to_owned());
    let mut etags = std::collections::HashMap::new();
    for (i, key) in expected.iter().enumerate() {
        let etag = t.put(&bucket, key, &pattern(100 + i, i as u64)).await;
        etags.insert(key.clone(), etag);
    }
    t.put(&bucket, "other/outside.csv", b"not listed").await;
    t.put(&bucket, "in.csv", b"not under in/ either").await;
    let after = Utc::now() + chrono::TimeDelta::seconds(5);

    let connector = t.connector(Some(2), ReadAhead::ONE_STREAM);
    let source = connect(&connector, &bucket).await;
    let walk = pages(source.as_ref(), ListCursor::new(Some("in/"), false)).await.unwrap();

    assert_eq!(walk.len(), 5, "{backend:?}: 9 keys in pages of 2: {walk:#?}");
    for (i, page) in walk.iter().enumerate() {
        let last = i == walk.len() - 1;
        assert_eq!(page.objects.len(), if last { 1 } else { 2 }, "{backend:?}: page {i}: {page:#?}");
        assert_eq!(page.next_token.is_some(), !last, "{backend:?}: page {i}'s token: {page:#?}");
        assert!(page.prefixes.is_empty(), "{backend:?}: no delimiter, no prefixes: {page:#?}");
    }
    let listed: Vec<ObjectMeta> = walk.iter().flat_map(|p| p.objects.clone()).collect();
    assert_eq!(keys(&listed), expected, "{backend:?}: every key under in/, once, in order");
    for (i, object) in listed.iter().enumerate() {
        assert_eq!(object.size, 100 + i as u64, "{backend:?}: size of {object:?}");
        assert_eq!(object.etag, etags[&object.key], "{backend:?}: the listing's ETag is PutObject's: {object:?}");
        assert!(before <= object.last_modified && object.last_modified <= after, "{backend:?}: {object:?}");
        assert_eq!(object.storage_class.as_deref(), Some("STANDARD"), "{backend:?}: {object:?}");
    }

    // A token outlives its session: a new one (a hand-over's next invocation) goes on from it.
    let token = walk[1].next_token.clone();
    let other = t.connector(Some(2), ReadAhead::ONE_STREAM);
    let resumed = connect(&other, &bucket).await;
    let cursor = ListCursor { prefix: "in/".into(), token, fan_out: false };
    let rest = pages(resumed.as_ref(), cursor).await.unwrap();
    let rest: Vec<ObjectMeta> = rest.into_iter().flat_map(|p| p.objects).collect();
    assert_eq!(keys(&rest), expected[4..].to_vec(), "{backend:?}: the listing resumed after page 2");

    // The whole bucket, through the preview's walk, at the default page size.
    let whole = t.connector(None, ReadAhead::ONE_STREAM);
    let whole = connect(&whole, &bucket).await;
    let all: Vec<ObjectMeta> = list_all(whole.as_ref(), None).try_collect().await.unwrap();
    let mut all_expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    match backend {
        // S3's order: UTF-8 bytes of the whole key, so `in.csv` ('.') before `in/` ('/').
        Backend::Moto => all_expected.insert(0, "in.csv"),
        // SeaweedFS walks directories: all of `in/` before `in.csv`. The engine relies on no order
        // (it sorts what it selects), only on every key listed once.
        Backend::SeaweedFs => all_expected.push("in.csv"),
    }
    all_expected.push("other/outside.csv");
    assert_eq!(keys(&all), all_expected, "{backend:?}: the whole bucket, every key once");
}

async fn folders_fan_out_with_a_delimiter(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    for key in ["in/a.csv", "in/b.csv", "in/c.csv", "in/2026/01/x.csv", "in/2026/02/y.csv", "in/other/z.csv"] {
        t.put(&bucket, key, key.as_bytes()).await;
    }
    t.put(&bucket, "in/empty/", b"").await; // a folder as the S3 console makes one
    t.put(&bucket, "in.csv", b"beside the folder").await;
    let connector = t.connector(Some(2), ReadAhead::ONE_STREAM);
    let source = connect(&connector, &bucket).await;

    let walk = pages(source.as_ref(), ListCursor::new(Some("in/"), true)).await.unwrap();
    // S3 counts keys and common prefixes together against MaxKeys.
    for (i, page) in walk.iter().enumerate() {
        let entries = page.objects.len() + page.prefixes.len();
        assert!((1..=2).contains(&entries), "{backend:?}: page {i} holds 1 or 2 entries: {walk:#?}");
    }
    let objects: Vec<ObjectMeta> = walk.iter().flat_map(|p| p.objects.clone()).collect();
    let prefixes: Vec<String> = walk.iter().flat_map(|p| p.prefixes.clone()).collect();
    assert_eq!(keys(&objects), ["in/a.csv", "in/b.csv", "in/c.csv"], "{backend:?}: this level's objects");
    assert_eq!(prefixes, ["in/2026/", "in/empty/", "in/other/"], "{backend:?}: this level's folders, once each");
    assert_eq!(walk.len(), 3, "{backend:?}: 6 entries in pages of 2: {walk:#?}");

    let year = pages(source.as_ref(), ListCursor::new(Some("in/2026/"), true)).await.unwrap();
    let year_objects: Vec<ObjectMeta> = year.iter().flat_map(|p| p.objects.clone()).collect();
    let year_prefixes: Vec<String> = year.iter().flat_map(|p| p.prefixes.clone()).collect();
    assert!(year_objects.is_empty(), "{backend:?}: {year:#?}");
    assert_eq!(year_prefixes, ["in/2026/01/", "in/2026/02/"], "{backend:?}");

    let month = pages(source.as_ref(), ListCursor::new(Some("in/2026/02/"), true)).await.unwrap();
    let month: Vec<ObjectMeta> = month.into_iter().flat_map(|p| p.objects).collect();
    assert_eq!(keys(&month), ["in/2026/02/y.csv"], "{backend:?}");

    let empty = pages(source.as_ref(), ListCursor::new(Some("in/empty/"), true)).await.unwrap();
    let empty: Vec<ObjectMeta> = empty.into_iter().flat_map(|p| p.objects).collect();
    // The placeholder itself is listed, under its own prefix; the selection rule skips it.
    assert_eq!(keys(&empty), ["in/empty/"], "{backend:?}: {empty:?}");
}

async fn ranged_reads_from_an_offset_and_fetched_ahead(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    const CHUNK: u64 = 16 * 1024;
    let bodies = [
        ("in/0-empty.csv", Vec::new()),
        ("in/1-small.csv", pattern(1_000, 1)),
        ("in/2-chunk-multiple.bin", pattern(4 * CHUNK as usize, 2)),
        ("in/3-large.bin", pattern(200_003, 3)),
    ];
    for (key, body) in &bodies {
        t.put(&bucket, key, body).await;
    }
    let read_aheads = [
        ReadAhead::ONE_STREAM,
        ReadAhead { chunk_bytes: CHUNK, in_flight: 2 },
        ReadAhead { chunk_bytes: CHUNK, in_flight: 4 },
    ];
    for read_ahead in read_aheads {
        let connector = t.connector(None, read_ahead);
        let source = connect(&connector, &bucket).await;
        let listed: Vec<ObjectMeta> = list_all(source.as_ref(), Some("in/")).try_collect().await.unwrap();
        assert_eq!(listed.len(), bodies.len(), "{backend:?}: {listed:?}");
        for (object, (_, body)) in listed.iter().zip(&bodies) {
            let size = body.len() as u64;
            let offsets = [0, 1, 999, CHUNK - 1, CHUNK, CHUNK + 1, 100_001, size.saturating_sub(1)];
            for from in offsets.into_iter().filter(|&from| from == 0 || from < size) {
                let got = read(source.as_ref(), object, from).await;
                let case = format!("{backend:?}, {read_ahead:?}: {} from {from}", object.key);
                let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(got.len(), (size - from) as usize, "{case}: length");
                assert!(got == body[from as usize..], "{case}: the bytes from the offset on");
            }
        }
    }
}

async fn an_object_replaced_after_listing_is_gone(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    t.put(&bucket, "in/a-replaced.bin", &pattern(100_000, 4)).await;
    t.put(&bucket, "in/b-replaced-while-read.bin", &pattern(200_000, 5)).await;
    let chunked = ReadAhead { chunk_bytes: 16 * 1024, in_flight: 2 };
    let connector = t.connector(None, chunked);
    let source = connect(&connector, &bucket).await;
    let listed: Vec<ObjectMeta> = list_all(source.as_ref(), Some("in/")).try_collect().await.unwrap();
    let (replaced, while_read) = (&listed[0], &listed[1]);
    assert_eq!(replaced.key, "in/a-replaced.bin", "{backend:?}: {listed:?}");

    let new_etag = t.put(&bucket, "in/a-replaced.bin", &pattern(100_000, 6)).await;
    assert_ne!(new_etag, replaced.etag, "{backend:?}: new bytes, new ETag");
    let one_stream = t.connector(None, ReadAhead::ONE_STREAM);
    let one_stream = connect(&one_stream, &bucket).await;
    for (name, source) in [("one stream", &one_stream), ("ranged", &source)] {
        for from in [0, 100, 50_000] {
            match source.open(replaced, from).await {
                Err(e) => assert_eq!(e.kind, SourceErrorKind::ObjectGone, "{backend:?}, {name}, from {from}: {e:?}"),
                Ok(_) => panic!("{backend:?}, {name}, from {from}: the replaced object was opened"),
            }
        }
    }

    // Replaced between two chunks: the read fails rather than mixing two versions.
    let mut body = source.open(while_read, 0).await.unwrap();
    let mut first = vec![0; 1000];
    body.read_exact(&mut first).await.unwrap();
    t.put(&bucket, "in/b-replaced-while-read.bin", &pattern(200_000, 7)).await;
    let mut rest = Vec::new();
    let error = body.read_to_end(&mut rest).await.expect_err("a chunk of the new version was refused");
    assert!(error.to_string().contains("in/b-replaced-while-read.bin"), "{backend:?}: {error}");
}

/// S3 stamps an object made by a multipart upload with the upload's start, so an upload that began
/// before a sync's window and completes after it is older than the window when it appears: the case
/// the overlap (and, for events-mode connections, the object's event) is there for. moto does it
/// through scripts/moto_server.py; SeaweedFS stamps the completion (a difference noted above).
async fn a_multipart_object_is_stamped_when_its_upload_began(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    let key = "in/late-upload.csv";
    let started = t.s3.create_multipart_upload().bucket(&bucket).key(key).send().await.unwrap();
    let upload_id = started.upload_id().unwrap();
    let began = Utc::now();
    // LastModified has whole seconds: complete in a later second than the start's.
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let part =
        t.s3.upload_part()
            .bucket(&bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(1)
            .body(ByteStream::from_static(b"id,amount\n1,2\n"))
            .send()
            .await
            .unwrap();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();
    let completing = Utc::now();
    t.s3.complete_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    let head = t.s3.head_object().bucket(&bucket).key(key).send().await.unwrap();
    let stamped = head.last_modified().unwrap().secs();
    match backend {
        Backend::Moto => {
            assert!(stamped <= began.timestamp(), "{backend:?}: stamped {stamped}, began {began}");
            assert!(stamped < completing.timestamp() - 1, "{backend:?}: stamped {stamped}, completed {completing}");
        }
        Backend::SeaweedFs => assert!(stamped >= completing.timestamp(), "{backend:?}: stamped {stamped}"),
    }
    let connector = t.connector(None, ReadAhead::ONE_STREAM);
    let source = connect(&connector, &bucket).await;
    let listed: Vec<ObjectMeta> = list_all(source.as_ref(), Some("in/")).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1, "{backend:?}");
    assert_eq!(listed[0].last_modified.timestamp(), stamped, "{backend:?}: the listing says the same");
}

/// What an object event's import relies on: HEAD says what a listing says (the STANDARD class
/// too), of a key of S3's longest (1,024 bytes) or with a space and a `+`; a replaced object's new
/// ETag; `None` for a key that is not there, or no longer.
async fn an_object_looked_at_is_as_listed_and_a_missing_one_is_none(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    // In folders: SeaweedFS's filer refuses a path segment past 255 bytes, as a file system does.
    let folders = format!("{}/", "k".repeat(200)).repeat(4);
    let longest = format!("in/{folders}{}", "k".repeat(1_024 - 3 - folders.len()));
    assert_eq!(longest.len(), 1_024);
    for key in ["in/a b+c.csv", longest.as_str()] {
        t.put(&bucket, key, &pattern(3_000, 8)).await;
    }
    let connector = t.connector(None, ReadAhead::ONE_STREAM);
    let source = connect(&connector, &bucket).await;
    let listed: Vec<ObjectMeta> = list_all(source.as_ref(), Some("in/")).try_collect().await.unwrap();
    assert_eq!(listed.len(), 2, "{backend:?}");
    for object in &listed {
        let head = source.head(&object.key).await.unwrap_or_else(|e| panic!("{backend:?}: {e:?}"));
        assert_eq!(head.as_ref(), Some(object), "{backend:?}: {}", &object.key[..20.min(object.key.len())]);
    }
    let replaced = t.put(&bucket, "in/a b+c.csv", &pattern(3_000, 9)).await;
    let head = source.head("in/a b+c.csv").await.unwrap().expect("still there");
    assert_eq!(head.etag, replaced, "{backend:?}: the new version's");
    assert_eq!(source.head("in/a b c.csv").await.unwrap(), None, "{backend:?}: another key");
    t.s3.delete_object().bucket(&bucket).key("in/a b+c.csv").send().await.unwrap();
    assert_eq!(source.head("in/a b+c.csv").await.unwrap(), None, "{backend:?}: deleted");
}

async fn a_missing_key_is_gone_and_a_missing_bucket_is_named(t: &Target) {
    let backend = t.backend;
    let bucket = t.bucket().await;
    t.put(&bucket, "in/deleted.csv", &pattern(100_000, 8)).await;
    let connector = t.connector(None, ReadAhead::ONE_STREAM);
    let source = connect(&connector, &bucket).await;
    let listed: Vec<ObjectMeta> = list_all(source.as_ref(), None).try_collect().await.unwrap();
    let deleted = listed[0].clone();
    t.s3.delete_object().bucket(&bucket).key(&deleted.key).send().await.unwrap();
    let never = ObjectMeta { key: "in/never-written.csv".into(), ..deleted.clone() };
    for read_ahead in [ReadAhead::ONE_STREAM, ReadAhead { chunk_bytes: 16 * 1024, in_flight: 2 }] {
        let connector = t.connector(None, read_ahead);
        let source = connect(&connector, &bucket).await;
        for (name, object) in [("deleted after listing", &deleted), ("never written", &never)] {
            let case = format!("{backend:?}, {read_ahead:?}: {name}");
            match source.open(object, 0).await {
                Err(e) => assert_eq!(e.kind, SourceErrorKind::ObjectGone, "{case}: {e:?}"),
                Ok(_) => panic!("{case}: opened"),
            }
        }
    }

    let missing = unique("missing");
    let connector = t.connector(None, ReadAhead::ONE_STREAM);
    let source = connect(&connector, &missing).await;
    let listed = source.list_page(&ListCursor::new(None, false)).await;
    let e = listed.expect_err("a missing bucket cannot be listed");
    assert_eq!(e.kind, SourceErrorKind::NoSuchBucket, "{backend:?}: {e:?}");
    assert!(e.message.contains(&missing), "{backend:?}: the message names the bucket: {e}");
    let object = ObjectMeta {
        key: "in/a.csv".into(),
        etag: "\"0123456789abcdef0123456789abcdef\"".into(),
        size: 10,
        last_modified: Utc::now(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let e = source.open(&object, 0).await.err().expect("nothing to open in a missing bucket");
    match backend {
        Backend::Moto => assert_eq!(e.kind, SourceErrorKind::NoSuchBucket, "{backend:?}: {e:?}"),
        // SeaweedFS answers NoSuchKey (404) for an object of a missing bucket, where S3 answers
        // NoSuchBucket: the object counts as gone, not the connection as broken. It matters little:
        // the listing comes first and names the missing bucket (above), so a bucket deleted in the
        // middle of a run fails its remaining objects, and the next sync needs re-authentication.
        Backend::SeaweedFs => assert_eq!(e.kind, SourceErrorKind::ObjectGone, "{backend:?}: {e:?}"),
    }
}

/// A dropped connection or an unreachable endpoint is worth a retry, and its message says why
/// (not "request not sent: None").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_s3_is_transient_and_its_message_names_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let aws = aws_at(&format!("http://127.0.0.1:{closed}"), "testing", "testing").await;
    let credentials = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test");
    let source = S3Source {
        client: aws.s3("us-east-1", credentials),
        bucket: "unreachable".into(),
        owner: ACCOUNT.into(),
        page_size: None,
        read_ahead: ReadAhead::default(),
    };
    let e = source.list_page(&ListCursor::new(None, false)).await.expect_err("nothing listens there");
    assert_eq!(e.kind, SourceErrorKind::Transient, "{e:?}");
    assert!(e.message.contains("Connection refused"), "the message names the cause: {e}");
    assert!(e.message.starts_with("listing bucket unreachable: request not sent: "), "{e}");
}
