//! One place that turns SDK errors into the core's error kinds. Classified by HTTP status as well as by
//! error code: some responses (moto's STS AccessDenied among them) carry no parsable code.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use connector_core::ports::{SourceError, SourceErrorKind, StoreError, StoreErrorKind};

/// Status and code of an SDK error, when the service answered.
fn status_and_code<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> (Option<u16>, Option<String>) {
    match e {
        SdkError::ServiceError(service) => {
            (Some(service.raw().status().as_u16()), service.err().code().map(str::to_owned))
        }
        SdkError::ResponseError(r) => (Some(r.raw().status().as_u16()), None),
        _ => (None, None),
    }
}

/// A one-line description keeping the service's code and message.
pub fn describe<E: ProvideErrorMetadata + std::error::Error>(e: &SdkError<E, HttpResponse>) -> String {
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match (service.err().code(), service.err().message()) {
                (Some(code), Some(message)) => format!("{code} (HTTP {status}): {message}"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                _ => format!("HTTP {status}"),
            }
        }
        SdkError::TimeoutError(_) => "request timed out".to_owned(),
        // The connector's error and its causes, down to the I/O error ("Connection refused", a DNS
        // failure), each once: some causes repeat their source's text in their own.
        SdkError::DispatchFailure(d) => {
            let mut message = "request not sent".to_owned();
            let mut cause = d.as_connector_error().map(|c| c as &dyn std::error::Error);
            while let Some(c) = cause {
                let text = c.to_string();
                if !message.contains(&text) {
                    message = format!("{message}: {text}");
                }
                cause = c.source();
            }
            message
        }
        other => format!("{other}"),
    }
}

fn is_transient(status: Option<u16>, code: Option<&str>, dispatch_or_timeout: bool) -> bool {
    const THROTTLING: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "TransactionInProgressException",
        // Another transaction was writing the same item (DynamoDB rejects the write rather than wait).
        "TransactionConflictException",
    ];
    dispatch_or_timeout || status.is_some_and(|s| s >= 500 || s == 429) || code.is_some_and(|c| THROTTLING.contains(&c))
}

fn is_dispatch_or_timeout<E, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_))
}

/// Classifies an S3 or STS error for the engine.
pub fn source_error<E>(context: String, e: SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (status, code) = status_and_code(&e);
    let kind = match (status, code.as_deref()) {
        (_, Some("NoSuchBucket")) => SourceErrorKind::NoSuchBucket,
        (_, Some("NoSuchKey" | "PreconditionFailed")) | (Some(412), _) => SourceErrorKind::ObjectGone,
        (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException"))
        | (Some(301), _) => SourceErrorKind::WrongRegion,
        (
            _,
            Some(
                "AccessDenied"
                | "AllAccessDisabled"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AccountProblem"
                | "InvalidClientTokenId"
                | "RegionDisabledException",
            ),
        )
        | (Some(403), _) => SourceErrorKind::AccessDenied,
        (status, code) if is_transient(status, code, is_dispatch_or_timeout(&e)) => SourceErrorKind::Transient,
        _ => SourceErrorKind::Other,
    };
    let message = format!("{context}: {}", describe(&e));
    SourceError { kind, message, source: Some(Box::new(e)) }
}

/// Classifies an error of reading one object (GetObject). A listing or an AssumeRole that is denied
/// means the connection is broken; a read that is denied means this object is, while the bucket
/// stays readable (real buckets answer 403 for one object among many). The message says why and
/// what fixes it.
pub fn object_error<E>(context: String, e: SdkError<E, HttpResponse>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (status, code) = status_and_code(&e);
    let service_message = match &e {
        SdkError::ServiceError(service) => service.err().message().unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let mut error = source_error(context, e);
    let kms = service_message.contains("KMS")
        || service_message.contains("kms:")
        || code.as_deref().is_some_and(|c| c.starts_with("KMS."));
    let why = match (status, code.as_deref()) {
        (_, Some("InvalidObjectState")) => Some((
            SourceErrorKind::ObjectArchived,
            "the object is in an archive tier (Glacier, Deep Archive or an Intelligent-Tiering archive tier): \
             restore it (or move it to an instant-access tier) and it is imported; it is tried again at the next syncs",
        )),
        (Some(400), Some("InvalidRequest" | "InvalidArgument"))
            if service_message.contains("Server Side Encryption") =>
        {
            Some((
                SourceErrorKind::ObjectUnsupported,
                "the object is encrypted with a customer-provided key (SSE-C), which the connector cannot read: \
             upload it again with SSE-S3 or SSE-KMS encryption",
            ))
        }
        (_, Some("KMS.DisabledException" | "KMS.KMSInvalidStateException" | "KMS.NotFoundException"))
        | (Some(403), _)
            if kms =>
        {
            Some((
                SourceErrorKind::ObjectDenied,
                "the role may not use the KMS key that encrypts the object: allow kms:Decrypt on that key to the role \
             (in its permission policy and in the key's policy; give the key's ARN when creating the connection)",
            ))
        }
        (Some(403), _) if error.kind == SourceErrorKind::AccessDenied => Some((
            SourceErrorKind::ObjectDenied,
            "the role may not read this object: it may belong to another account (set the bucket's Object \
             Ownership to 'bucket owner enforced'), or a bucket or role policy may deny this key",
        )),
        _ => None,
    };
    if let Some((kind, fix)) = why {
        error.kind = kind;
        error.message = format!("{}: {fix}", error.message);
    }
    error
}

/// Classifies a DynamoDB error for the engine.
pub fn store_error<E>(context: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (status, code) = status_and_code(&e);
    let kind = match code.as_deref() {
        Some("ConditionalCheckFailedException") => StoreErrorKind::Conflict,
        Some("TransactionCanceledException") if describe(&e).contains("ConditionalCheckFailed") => {
            StoreErrorKind::Conflict
        }
        // Cancelled for another transaction on one of its items, or throttled: worth a retry.
        Some("TransactionCanceledException")
            if ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"]
                .iter()
                .any(|reason| describe(&e).contains(reason)) =>
        {
            StoreErrorKind::Transient
        }
        code if is_transient(status, code, is_dispatch_or_timeout(&e)) => StoreErrorKind::Transient,
        Some("ValidationException") => StoreErrorKind::Rejected,
        _ => StoreErrorKind::Other,
    };
    StoreError { kind, message: format!("{context}: {}", describe(&e)), source: Some(Box::new(e)) }
}

/// An item that does not have the shape we wrote.
pub fn corrupt_item(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(StoreErrorKind::Other, format!("{context}: unexpected item shape: {e}"))
}
