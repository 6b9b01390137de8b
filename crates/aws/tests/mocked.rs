//! Faults injected at the adapter level with aws-smithy-mocks: the SDK clients the adapters hold answer
//! from rules, so each failure mode (a 503 on one chunk, a body cut in the middle, throttling,
//! UnprocessedItems, every error code we classify) happens exactly where and as often as the test
//! says. Whole runs through the same faults against moto are in tests/faults.rs.

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_dynamodb::types::WriteRequest;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::body::SdkBody;
use chrono::{TimeZone, Utc};
use connector_aws::dynamodb::RecordsTable;
use connector_aws::errors::{source_error, store_error};
use connector_aws::s3::{ReadAhead, S3Source};
use connector_core::mapping::{Record, Value};
use connector_core::model::{ListCursor, ObjectMeta};
use connector_core::ports::{ObjectSource, RecordBatch, RecordSink, SourceErrorKind, StoreErrorKind};
use connector_core::template::Template;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;

const OWNER: &str = "123456789012";
const ETAG: &str = "\"v1\"";

fn object(size: u64) -> ObjectMeta {
    ObjectMeta {
        key: "in/payments.csv".into(),
        etag: ETAG.into(),
        size,
        last_modified: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    }
}

fn s3_source(client: aws_sdk_s3::Client, read_ahead: ReadAhead) -> S3Source {
    S3Source { client, bucket: "customer-bucket".into(), owner: OWNER.into(), page_size: None, read_ahead }
}

/// The request reads exactly the listed version of the object, of the connection's own account.
fn is_read_of(r: &aws_sdk_s3::operation::get_object::GetObjectInput, range: &str) -> bool {
    r.bucket() == Some("customer-bucket")
        && r.key() == Some("in/payments.csv")
        && r.expected_bucket_owner() == Some(OWNER)
        && r.if_match() == Some(ETAG)
        && r.range() == Some(range)
}

fn bytes(data: &'static [u8]) -> GetObjectOutput {
    GetObjectOutput::builder().body(ByteStream::from_static(data)).build()
}

/// A body that sends `first` and then fails, as a connection reset in the middle of an object does.
fn cut_after(first: &'static [u8]) -> GetObjectOutput {
    let frames = futures::stream::iter(vec![
        Ok(http_body::Frame::data(bytes::Bytes::from_static(first))),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer")),
    ]);
    let body = SdkBody::from_body_1_x(http_body_util::StreamBody::new(frames));
    GetObjectOutput::builder().body(ByteStream::new(body)).build()
}

/// A raw HTTP answer, which the SDK parses as it would the service's.
fn answer(status: u16, body: impl Into<String>) -> aws_smithy_runtime_api::http::Response {
    let status = aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("a valid status");
    aws_smithy_runtime_api::http::Response::new(status, SdkBody::from(body.into()))
}

fn s3_error(code: &str) -> String {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>"#)
}

async fn read_all(source: &S3Source, object: &ObjectMeta, from: u64) -> std::io::Result<Vec<u8>> {
    let mut reader = source.open(object, from).await.map_err(|e| std::io::Error::other(e.message))?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn a_chunk_that_fails_or_is_cut_is_fetched_again_and_every_byte_arrives_once_in_order() {
    let first = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=0-3"))
        .then_output(|| bytes(b"0123"));
    let middle = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=4-7"))
        .sequence()
        .http_status(503, Some(s3_error("SlowDown")))
        .http_status(500, Some(s3_error("InternalError")))
        .output(|| cut_after(b"45"))
        .output(|| bytes(b"4567"))
        .build();
    let last = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=8-9"))
        .then_output(|| bytes(b"89"));
    // The SDK's own retries are off: what is proven here is the adapter's per-chunk retry.
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &middle, &last], |c| c
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
    let source = s3_source(client, ReadAhead { chunk_bytes: 4, in_flight: 2 });

    assert_eq!(read_all(&source, &object(10), 0).await.unwrap(), b"0123456789");
    assert_eq!((first.num_calls(), middle.num_calls(), last.num_calls()), (1, 4, 1));
}

#[tokio::test]
async fn a_read_resumed_from_an_offset_asks_for_the_rest_only() {
    let rest = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=6-"))
        .then_output(|| bytes(b"6789"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rest]);
    let source = s3_source(client, ReadAhead { chunk_bytes: 4, in_flight: 2 });
    assert_eq!(read_all(&source, &object(10), 6).await.unwrap(), b"6789");
    assert_eq!(rest.num_calls(), 1);
}

#[tokio::test]
async fn what_no_retry_can_cure_fails_the_read_at_once() {
    // Access withdrawn between two chunks: not retried, and the error says why.
    let first = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=0-3"))
        .then_output(|| bytes(b"0123"));
    let denied = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=4-7"))
        .then_http_response(|| answer(403, s3_error("AccessDenied")));
    let last = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| is_read_of(r, "bytes=8-9"))
        .then_output(|| bytes(b"89"));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&first, &denied, &last]);
    let source = s3_source(client, ReadAhead { chunk_bytes: 4, in_flight: 2 });
    let error = read_all(&source, &object(10), 0).await.expect_err("denied");
    assert!(error.to_string().contains("AccessDenied"), "{error}");
    // The engine reads the kind back from the I/O error: this object fails alone, it is no
    // transport failure to retry.
    let kind = error.get_ref().and_then(|e| e.downcast_ref::<connector_core::ports::SourceError>()).map(|e| e.kind);
    assert_eq!(kind, Some(SourceErrorKind::ObjectDenied), "{error}");
    assert_eq!(denied.num_calls(), 1, "a denied chunk is not asked for again");

    // The object replaced after it was listed: its first request fails as ObjectGone.
    let replaced = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.if_match() == Some(ETAG))
        .then_http_response(|| answer(412, s3_error("PreconditionFailed")));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&replaced]);
    let source = s3_source(client, ReadAhead::default());
    let error = source.open(&object(10), 0).await.err().expect("replaced");
    assert_eq!(error.kind, SourceErrorKind::ObjectGone, "{}", error.message);
}

#[tokio::test]
async fn s3_and_sts_errors_are_classified_by_code_and_status() {
    use SourceErrorKind::*;
    let cases = [
        (403, "AccessDenied", AccessDenied),
        (403, "AllAccessDisabled", AccessDenied),
        (403, "SomethingNew", AccessDenied),
        (404, "NoSuchBucket", NoSuchBucket),
        (404, "NoSuchKey", ObjectGone),
        (301, "PermanentRedirect", WrongRegion),
        (400, "AuthorizationHeaderMalformed", WrongRegion),
        (503, "SlowDown", Transient),
        (500, "InternalError", Transient),
        (400, "InvalidArgument", Other),
    ];
    for (status, code, expected) in cases {
        let body = s3_error(code);
        let rule = mock!(aws_sdk_s3::Client::list_objects_v2).then_http_response(move || answer(status, body.clone()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
        let error =
            s3_source(client, ReadAhead::default()).list_page(&ListCursor::new(None, false)).await.expect_err(code);
        assert_eq!(error.kind, expected, "HTTP {status} {code}: {}", error.message);
        assert!(error.message.contains("listing bucket customer-bucket"), "{}", error.message);
    }
    // STS: a denied AssumeRole (wrong external id or trust policy) is access denied.
    let sts_denied = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>"#;
    let denied = mock!(aws_sdk_sts::Client::assume_role).then_http_response(move || answer(403, sts_denied));
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&denied]);
    let e =
        sts.assume_role().role_arn("arn:aws:iam::123456789012:role/r").role_session_name("s").send().await.unwrap_err();
    assert_eq!(source_error("assuming the role".into(), e).kind, AccessDenied);
}

#[tokio::test]
async fn a_listing_page_carries_every_field_and_asks_with_the_owner() {
    let page = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| {
            r.expected_bucket_owner() == Some(OWNER)
                && r.prefix() == Some("in/")
                && r.continuation_token() == Some("t1")
        })
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(
                    aws_sdk_s3::types::Object::builder()
                        .key("in/a b/ünï/../x.csv")
                        .e_tag(ETAG)
                        .size(42)
                        .last_modified(aws_smithy_types::DateTime::from_secs(1_790_000_000))
                        .storage_class(aws_sdk_s3::types::ObjectStorageClass::Glacier)
                        .build(),
                )
                .is_truncated(true)
                .next_continuation_token("t2")
                .build()
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&page]);
    let cursor = ListCursor { prefix: "in/".into(), token: Some("t1".into()), fan_out: false };
    let listed = s3_source(client, ReadAhead::default()).list_page(&cursor).await.unwrap();
    assert_eq!(listed.next_token.as_deref(), Some("t2"));
    let o = &listed.objects[0];
    assert_eq!((o.key.as_str(), o.etag.as_str(), o.size), ("in/a b/ünï/../x.csv", ETAG, 42));
    assert_eq!(o.last_modified.timestamp(), 1_790_000_000);
    assert_eq!(o.storage_class.as_deref(), Some("GLACIER"));
}

fn records(n: u64) -> Vec<Record> {
    (0..n)
        .map(|row| Record {
            id: format!("r{row:02}"),
            row,
            line: row + 2,
            values: vec![Some(Value::Int(row as i64))],
            extra: vec![],
        })
        .collect()
}

fn ids(requests: &[WriteRequest]) -> Vec<String> {
    requests.iter().filter_map(|w| w.put_request.as_ref()?.item.get("sk")?.as_s().ok().cloned()).collect()
}

#[tokio::test]
async fn throttling_and_unprocessed_items_are_retried_until_every_record_is_written() {
    // Each operation's items, as sent; the answer to one leaves its last ten unprocessed.
    let sent: Arc<Mutex<Vec<Vec<WriteRequest>>>> = Arc::default();
    let (record, answer) = (sent.clone(), sent.clone());
    let unprocessed_tail = move || {
        let last = answer.lock().unwrap().last().cloned().unwrap_or_default();
        let tail = last[last.len().saturating_sub(10)..].to_vec();
        BatchWriteItemOutput::builder().unprocessed_items("records", tail).build()
    };
    let batch_write = mock!(aws_sdk_dynamodb::Client::batch_write_item)
        .match_requests(move |r| {
            let items = r.request_items().and_then(|t| t.get("records")).cloned().unwrap_or_default();
            record.lock().unwrap().push(items);
            true
        })
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}"#.into()),
        )
        .output(unprocessed_tail.clone())
        .output(unprocessed_tail)
        .output(|| BatchWriteItemOutput::builder().set_unprocessed_items(Some(HashMap::new())).build())
        .build();
    // The production retry policy: throttling is retried by the SDK, UnprocessedItems by the writer.
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&batch_write], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(8)));
    let template = Template::from_json(
        r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "n", "field": "n", "type": "integer"}]}"#,
    )
    .unwrap();
    let object = object(100);
    let batch = RecordBatch {
        connection_id: "c1",
        template: &template,
        object: &object,
        imported_at: Utc::now(),
        records: records(25),
    };
    RecordsTable::new(client, "records").put(batch).await.expect("every record is written in the end");

    // The mock sees each operation's input once (the SDK's retry of the throttled attempt resends
    // the same input), and counts every answer it gave.
    assert_eq!(batch_write.num_calls(), 4, "throttled, retried, then the unprocessed twice");
    let sent = sent.lock().unwrap();
    let sizes: Vec<usize> = sent.iter().map(Vec::len).collect();
    assert_eq!(sizes, [25, 10, 10], "everything, then what was left unprocessed, twice");
    let everything: BTreeSet<String> = ids(&sent[0]).into_iter().collect();
    assert_eq!(everything, records(25).into_iter().map(|r| r.id).collect());
    assert_eq!(ids(&sent[2]), ids(&sent[0])[15..], "the unprocessed items are sent again, and only they");
}

#[tokio::test]
async fn dynamodb_errors_are_classified_by_code_and_status() {
    use StoreErrorKind::*;
    let cases = [
        (400, "ConditionalCheckFailedException", Conflict),
        (400, "ValidationException", Rejected),
        (400, "ProvisionedThroughputExceededException", Transient),
        (400, "ThrottlingException", Transient),
        (500, "InternalServerError", Transient),
        (400, "ResourceNotFoundException", Other),
    ];
    for (status, code, expected) in cases {
        let body = format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected"}}"#);
        let rule =
            mock!(aws_sdk_dynamodb::Client::update_item).then_http_response(move || answer(status, body.clone()));
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
        let e = client.update_item().table_name("state").send().await.unwrap_err();
        let error = store_error("taking the lease", e);
        assert_eq!(error.kind, expected, "HTTP {status} {code}: {}", error.message);
        assert!(error.message.starts_with("taking the lease: ") && error.message.contains(code), "{}", error.message);
    }
}

#[tokio::test]
async fn a_missing_table_is_told_apart_whatever_the_operation() {
    use connector_aws::dynamodb::tables::is_missing_table;
    let dynamodb_error =
        |code: &str| format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected"}}"#);
    let (not_found, conflict) =
        (dynamodb_error("ResourceNotFoundException"), dynamodb_error("ConditionalCheckFailedException"));
    let not_found_too = not_found.clone();
    let get = mock!(aws_sdk_dynamodb::Client::get_item).then_http_response(move || answer(400, not_found.clone()));
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .then_http_response(move || answer(400, not_found_too.clone()));
    let update = mock!(aws_sdk_dynamodb::Client::update_item).then_http_response(move || answer(400, conflict.clone()));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get, &transact, &update], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let e = client.get_item().table_name("state").send().await.unwrap_err();
    assert!(is_missing_table(&store_error("reading connection", e)));
    let e = client.transact_write_items().send().await.unwrap_err();
    assert!(is_missing_table(&store_error("saving template", e)));
    let e = client.update_item().table_name("state").send().await.unwrap_err();
    assert!(!is_missing_table(&store_error("taking the lease", e)));

    let no_bucket = s3_error("NoSuchBucket");
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_http_response(move || answer(404, no_bucket.clone()));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list]);
    let e = s3.list_objects_v2().bucket("customer-bucket").send().await.unwrap_err();
    assert!(!is_missing_table(&source_error("listing bucket customer-bucket".into(), e)), "not a table");
}

/// A read that S3 refuses for this object alone (the bodies AWS documents for each case) is an
/// error of that object, naming the cause and the fix; a listing refused the same way is the
/// connection's (needs_reauth).
#[tokio::test]
async fn an_object_s3_refuses_is_that_objects_error_with_its_cause() {
    use SourceErrorKind::*;
    let error = |code: &str, message: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"#
        )
    };
    let cases = [
        (
            403,
            error("AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/s3-connector-c1/s is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/k because no identity-based policy allows the kms:Decrypt action"),
            ObjectDenied,
            "KMS key",
        ),
        (403, error("AccessDenied", "Access Denied"), ObjectDenied, "another account"),
        (403, error("InvalidObjectState", "The operation is not valid for the object's access tier"), ObjectArchived, "restore it"),
        (
            400,
            error("InvalidRequest", "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."),
            ObjectUnsupported,
            "SSE-C",
        ),
        (412, error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold"), ObjectGone, ""),
        (503, error("SlowDown", "Please reduce your request rate."), Transient, ""),
    ];
    for (status, body, expected, says) in cases {
        let get_body = body.clone();
        let get = mock!(aws_sdk_s3::Client::get_object).then_http_response(move || answer(status, get_body.clone()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get], |c| c
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
        let e = s3_source(client, ReadAhead::default()).open(&object(10), 0).await.err().expect("refused");
        assert_eq!(e.kind, expected, "HTTP {status}: {}", e.message);
        assert!(e.message.contains(says), "HTTP {status}: {}", e.message);
        assert!(e.message.contains("reading s3://customer-bucket/"), "{}", e.message);
    }
    // The same 403 on the listing is the connection's.
    let list =
        mock!(aws_sdk_s3::Client::list_objects_v2).then_http_response(move || answer(403, s3_error("AccessDenied")));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list], |c| c
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()));
    let e = s3_source(client, ReadAhead::default()).list_page(&ListCursor::new(None, false)).await.expect_err("denied");
    assert_eq!(e.kind, AccessDenied);
}

#[tokio::test]
async fn trust_principals_are_the_settings_or_our_identity_and_a_failure_keeps_stss_error() {
    use aws_sdk_sts::operation::get_caller_identity::{GetCallerIdentityError, GetCallerIdentityOutput};
    use connector_aws::trust::StsPrincipals;
    use connector_core::manage::ports::TrustPrincipals;
    let arn = "arn:aws:iam::111122223333:role/s3-connector-api";
    let asked = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(move || GetCallerIdentityOutput::builder().arn(arn).build());
    let denied_body = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>"#;
    let denied = mock!(aws_sdk_sts::Client::get_caller_identity).then_http_response(move || answer(403, denied_body));

    // Configured (S3C_TRUST_PRINCIPALS): STS is not asked.
    let configured = vec!["arn:aws:iam::111122223333:role/worker".to_owned()];
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&asked]);
    let principals = StsPrincipals { sts, configured: configured.clone() };
    assert_eq!(principals.trust_principals().await.unwrap(), configured);
    assert_eq!(asked.num_calls(), 0, "the settings are enough");

    // Not configured: our own identity, as STS answers it.
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&asked]);
    let principals = StsPrincipals { sts, configured: vec![] };
    assert_eq!(principals.trust_principals().await.unwrap(), [arn]);
    assert_eq!(asked.num_calls(), 1);

    // STS refuses: the error says what to set, and keeps the SDK's error as its source.
    let sts = mock_client!(aws_sdk_sts, RuleMode::Sequential, [&denied], |c| c
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled()));
    let error = StsPrincipals { sts, configured: vec![] }.trust_principals().await.unwrap_err();
    assert!(error.message.contains("set S3C_TRUST_PRINCIPALS"), "{}", error.message);
    let source = std::error::Error::source(&error).expect("the SDK error is kept");
    let sdk = source
        .downcast_ref::<aws_smithy_runtime_api::client::result::SdkError<
            GetCallerIdentityError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >>()
        .expect("an SdkError of GetCallerIdentity, not a string");
    assert_eq!(sdk.raw_response().map(|r| r.status().as_u16()), Some(403));
}
