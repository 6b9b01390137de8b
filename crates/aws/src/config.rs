//! Settings from the environment and the one factory for SDK clients, so the endpoint override
//! (AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_S3 for S3 alone: moto, SeaweedFS) and path-style S3 are
//! decided in one place.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_s3::config::Region;
use chrono::TimeDelta;
use connector_core::connections::{valid_role_prefix, ROLE_PREFIX};
use connector_core::engine::SyncConfig;

/// Names of the tables and the sync's tunables, read from `S3C_*` environment variables.
#[derive(Debug, Clone)]
pub struct Settings {
    pub state_table: String,
    pub records_table: String,
    /// The principals customers' trust policies name (the stack's CustomerTrustPrincipals output,
    /// comma-separated); when empty, the caller's own identity (local use).
    pub trust_principals: Vec<String>,
    /// Prefix of the role names generated for new connections (`S3C_ROLE_PREFIX`): the deployment's
    /// RolePrefix, the only roles its worker may assume.
    pub role_prefix: String,
    /// The EventBridge bus run events go to (`S3C_EVENT_BUS`).
    pub event_bus: String,
    /// The ARN of the bus customers forward their buckets' object events to
    /// (`S3C_OBJECT_EVENT_BUS_ARN`, the stack's ObjectEventBus); None when the deployment has none.
    pub object_event_bus: Option<String>,
    /// The bucket files' rejected rows are handed back in (`S3C_REJECTS_BUCKET`, the stack's
    /// RejectsBucket); None: rejected rows are counted and the first recorded, and no file written.
    pub rejects_bucket: Option<String>,
    pub sync: SyncConfig,
    /// Keys per listing page (S3's maximum, 1,000, when unset).
    pub list_page_size: Option<i32>,
    /// How large objects are read: `S3C_GET_CHUNK_BYTES`, `S3C_GET_IN_FLIGHT` (1: one stream).
    pub read_ahead: ReadAhead,
    /// How long before the Lambda deadline the worker stops and hands over to its next invocation:
    /// time to finish the batch in hand, drain the writes in flight and save the checkpoint.
    pub hand_over_margin: std::time::Duration,
}

pub const DEFAULT_STATE_TABLE: &str = "s3-connector-state";
/// The account's default bus, as PutEvents names it.
pub const DEFAULT_EVENT_BUS: &str = "default";
pub const DEFAULT_RECORDS_TABLE: &str = "s3-connector-records";
pub const DEFAULT_HAND_OVER_MARGIN_SECONDS: u64 = 60;

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {message}")]
pub struct SettingsError {
    pub name: &'static str,
    pub message: String,
}

fn number<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, SettingsError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|e| SettingsError { name, message: format!("'{v}': {e}") }),
        Err(_) => Ok(None),
    }
}

impl Settings {
    /// Reads `S3C_STATE_TABLE`, `S3C_RECORDS_TABLE`, `S3C_TRUST_PRINCIPALS`, `S3C_ROLE_PREFIX`, `S3C_OVERLAP_SECONDS`,
    /// `S3C_INITIAL_LOOKBACK_SECONDS`, `S3C_MAX_OBJECT_BYTES`, `S3C_WRITE_CONCURRENCY`,
    /// `S3C_LIST_CONCURRENCY`, `S3C_LIST_PAGE_SIZE`, `S3C_LIST_FAN_OUT` (true/false),
    /// `S3C_HANDOFF_ROWS`, `S3C_HAND_OVER_MARGIN_SECONDS`, `S3C_GET_CHUNK_BYTES`, `S3C_GET_IN_FLIGHT`, `S3C_LEASE_SECONDS`, `S3C_MAX_RECORD_BYTES` and
    /// `S3C_MAX_EXPANSION_RATIO` (alias `S3C_MAX_GZIP_RATIO`), `S3C_MAX_PARQUET_ROW_GROUP_BYTES`,
    /// `S3C_MAX_PARQUET_FOOTER_BYTES`, `S3C_PAUSE_AFTER_FAILURES` (0: never), `S3C_EVENT_BUS` (default: the
    /// account's default bus), `S3C_OBJECT_EVENT_BUS_ARN` and `S3C_REJECTS_BUCKET` (optional).
    pub fn from_env() -> Result<Settings, SettingsError> {
        let mut sync = SyncConfig::default();
        if let Some(s) = number::<i64>("S3C_OVERLAP_SECONDS")? {
            sync.selection.overlap = TimeDelta::seconds(s);
        }
        if let Some(s) = number::<i64>("S3C_INITIAL_LOOKBACK_SECONDS")? {
            sync.selection.initial_lookback = TimeDelta::seconds(s);
        }
        if let Some(b) = number::<u64>("S3C_MAX_OBJECT_BYTES")? {
            sync.selection.max_object_bytes = b;
        }
        if let Some(n) = number::<usize>("S3C_WRITE_CONCURRENCY")? {
            sync.write_concurrency = n.clamp(1, 64);
        }
        if let Some(n) = number::<usize>("S3C_LIST_CONCURRENCY")? {
            sync.list_concurrency = n.clamp(1, 64);
        }
        if let Some(fan_out) = number::<bool>("S3C_LIST_FAN_OUT")? {
            sync.list_fan_out = fan_out;
        }
        if let Some(n) = number::<usize>("S3C_HANDOFF_ROWS")? {
            sync.handoff_rows = n.max(1);
        }
        if let Some(b) = number::<u64>("S3C_MAX_RECORD_BYTES")? {
            sync.parse_limits.max_record_bytes = b.max(1024);
        }
        // S3C_MAX_GZIP_RATIO: its name before zstd and bzip2 were read; the new name wins.
        if let Some(r) = number::<u64>("S3C_MAX_EXPANSION_RATIO")?.or(number::<u64>("S3C_MAX_GZIP_RATIO")?) {
            sync.decode_limits.max_expansion_ratio = r.max(2);
        }
        if let Some(b) = number::<u64>("S3C_MAX_PARQUET_ROW_GROUP_BYTES")? {
            sync.parquet_limits.max_row_group_bytes = b.max(1 << 20);
        }
        if let Some(b) = number::<u64>("S3C_MAX_PARQUET_FOOTER_BYTES")? {
            sync.parquet_limits.max_footer_bytes = b.max(64 * 1024);
        }
        if let Some(n) = number::<u32>("S3C_PAUSE_AFTER_FAILURES")? {
            sync.pause_after_failures = n;
        }
        if let Some(s) = number::<i64>("S3C_LEASE_SECONDS")? {
            // A lease must outlive an invocation (15 minutes) in Lambda; shorter ones are for tests.
            sync.lease_duration = TimeDelta::seconds(s.max(1));
        }
        let role_prefix = std::env::var("S3C_ROLE_PREFIX").unwrap_or_else(|_| ROLE_PREFIX.to_owned());
        if !valid_role_prefix(&role_prefix) {
            let message =
                format!("'{role_prefix}' must be 1-32 of the characters IAM role names allow ([A-Za-z0-9+=,.@_-])");
            return Err(SettingsError { name: "S3C_ROLE_PREFIX", message });
        }
        Ok(Settings {
            event_bus: std::env::var("S3C_EVENT_BUS")
                .ok()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_EVENT_BUS.into()),
            object_event_bus: std::env::var("S3C_OBJECT_EVENT_BUS_ARN").ok().filter(|b| !b.trim().is_empty()),
            rejects_bucket: std::env::var("S3C_REJECTS_BUCKET").ok().filter(|b| !b.trim().is_empty()),
            role_prefix,
            state_table: std::env::var("S3C_STATE_TABLE").unwrap_or_else(|_| DEFAULT_STATE_TABLE.into()),
            records_table: std::env::var("S3C_RECORDS_TABLE").unwrap_or_else(|_| DEFAULT_RECORDS_TABLE.into()),
            trust_principals: std::env::var("S3C_TRUST_PRINCIPALS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            sync,
            list_page_size: number::<i32>("S3C_LIST_PAGE_SIZE")?.map(|n| n.clamp(1, 1000)),
            read_ahead: {
                let default = ReadAhead::default();
                ReadAhead {
                    chunk_bytes: number::<u64>("S3C_GET_CHUNK_BYTES")?.unwrap_or(default.chunk_bytes).max(64 * 1024),
                    in_flight: number::<usize>("S3C_GET_IN_FLIGHT")?.unwrap_or(default.in_flight).clamp(1, 32),
                }
            },
            hand_over_margin: std::time::Duration::from_secs(
                number::<u64>("S3C_HAND_OVER_MARGIN_SECONDS")?.unwrap_or(DEFAULT_HAND_OVER_MARGIN_SECONDS),
            ),
        })
    }
}

/// The endpoint S3 clients built from `sdk` send to, by the SDK's own rule (aws-sdk-s3's
/// `From<&SdkConfig>`): an endpoint set in code wins; otherwise S3's own (`AWS_ENDPOINT_URL_S3`, or
/// `endpoint_url` in the profile's `services` section) before the shared `AWS_ENDPOINT_URL`; none
/// when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is set (aws-config's service config then answers
/// nothing). `None`: S3's real endpoints.
fn s3_endpoint(sdk: &SdkConfig) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("S3")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every field is set");
    sdk.service_config().and_then(|config| config.load_config(key)).or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// The shared SDK configuration and the clients built from it.
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
}

impl Aws {
    /// Loads the standard chain: credentials, region, and AWS_ENDPOINT_URL when set.
    pub async fn from_env() -> Aws {
        Aws { sdk: aws_config::defaults(BehaviorVersion::latest()).load().await }
    }

    pub fn from_sdk(sdk: SdkConfig) -> Aws {
        Aws { sdk }
    }

    /// An S3 endpoint override means a local emulator (moto, SeaweedFS), which needs path-style
    /// addressing: `bucket.localhost` does not resolve.
    fn s3_path_style(&self) -> bool {
        s3_endpoint(&self.sdk).is_some()
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        // More attempts than the default 3: a throttled table is worth waiting for.
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .retry_config(RetryConfig::standard().with_max_attempts(8))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Lambda, for the dispatcher's invocations. `AWS_ENDPOINT_URL_LAMBDA` points it elsewhere than
    /// the other services (`cargo lambda watch` locally, while moto serves the rest).
    /// EventBridge, for run events.
    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(&self.sdk)
    }

    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.sdk)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }

    /// An S3 client for a customer's bucket: their region, credentials from their role.
    pub fn s3(&self, region: &str, credentials: impl ProvideCredentials + 'static) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .force_path_style(self.s3_path_style())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// An S3 client with our own credentials (the publisher of the role template, the demo, tests
    /// that seed buckets).
    pub fn s3_own(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk).force_path_style(self.s3_path_style()).build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// How a large object is read: as ranged GETs of `chunk_bytes`, `in_flight` of them at once, so the
/// next chunks arrive while the parser works on this one, and a connection that breaks in the
/// middle costs one chunk fetched again, not the object. Memory: about `in_flight + 1` chunks.
/// An object no larger than a chunk, or `in_flight` below 2, is read as one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAhead {
    pub chunk_bytes: u64,
    pub in_flight: usize,
}

impl Default for ReadAhead {
    fn default() -> Self {
        ReadAhead { chunk_bytes: 4 * 1024 * 1024, in_flight: 4 }
    }
}

impl ReadAhead {
    /// One GetObject stream per object.
    pub const ONE_STREAM: ReadAhead = ReadAhead { chunk_bytes: u64::MAX, in_flight: 1 };
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
    use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
    use aws_types::origin::Origin;
    use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
    use std::sync::{Arc, Mutex};

    /// What aws-config's loader answers from the environment: `AWS_ENDPOINT_URL_S3` for S3's
    /// endpoint key (the SDK asks it with env `AWS_ENDPOINT_URL` and service id `S3`).
    #[derive(Debug)]
    struct ServiceEndpoints(Vec<(&'static str, &'static str)>);

    impl LoadServiceConfig for ServiceEndpoints {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            let (_, url) =
                self.0.iter().find(|(service, _)| key.env() == "AWS_ENDPOINT_URL" && key.service_id() == *service)?;
            Some(url.to_string())
        }
    }

    /// Records the URI of the first request and stops it before it is sent.
    #[derive(Debug, Default, Clone)]
    struct CaptureUri(Arc<Mutex<Option<String>>>);

    impl Intercept for CaptureUri {
        fn name(&self) -> &'static str {
            "CaptureUri"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            _: &mut ConfigBag,
        ) -> Result<(), aws_sdk_s3::error::BoxError> {
            *self.0.lock().unwrap() = Some(context.request().uri().to_owned());
            Err("captured; not sent".into())
        }
    }

    /// The URI of a ListObjectsV2 of `bucket` sent by `client`.
    async fn list_uri(client: aws_sdk_s3::Client, bucket: &str) -> String {
        let capture = CaptureUri::default();
        let config = client.config().to_builder().interceptor(capture.clone()).build();
        let _ = aws_sdk_s3::Client::from_conf(config).list_objects_v2().bucket(bucket).send().await;
        let uri = capture.0.lock().unwrap().clone();
        uri.expect("the request reached the transmit stage")
    }

    #[tokio::test]
    async fn s3_requests_are_path_style_whenever_the_s3_endpoint_is_overridden() {
        // (shared endpoint and where it came from, S3's own endpoint (AWS_ENDPOINT_URL_S3), expected URI)
        let cases: &[(Option<(&str, Origin)>, Option<&str>, &str)] = &[
            (None, None, "https://acme-exports.s3.us-east-1.amazonaws.com/?list-type=2"),
            (None, Some("http://s3.test:9000"), "http://s3.test:9000/acme-exports/?list-type=2"),
            (
                Some(("http://moto.test:5000", Origin::shared_environment_variable())),
                None,
                "http://moto.test:5000/acme-exports/?list-type=2",
            ),
            (
                Some(("http://moto.test:5000", Origin::shared_environment_variable())),
                Some("http://s3.test:9000"),
                "http://s3.test:9000/acme-exports/?list-type=2",
            ),
            // An endpoint set in code wins over the environment, for S3 too.
            (
                Some(("http://moto.test:5000", Origin::shared_config())),
                Some("http://s3.test:9000"),
                "http://moto.test:5000/acme-exports/?list-type=2",
            ),
        ];
        for (shared, s3, expected) in cases {
            let mut builder = SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                    aws_sdk_s3::config::Credentials::new("key", "secret", None, None, "test"),
                ))
                .service_config(ServiceEndpoints(s3.iter().map(|url| ("S3", *url)).collect()));
            if let Some((url, origin)) = shared {
                builder.insert_origin("endpoint_url", *origin);
                builder = builder.endpoint_url(*url);
            }
            let aws = Aws::from_sdk(builder.build());
            let case = format!("shared endpoint {shared:?}, S3 endpoint {s3:?}");
            let own = list_uri(aws.s3_own(), "acme-exports").await;
            assert!(own.starts_with(expected), "{case}: our own client sent {own}, expected {expected}");
            let credentials = aws_sdk_s3::config::Credentials::new("role", "secret", None, None, "test");
            let customer = list_uri(aws.s3("us-east-1", credentials), "acme-exports").await;
            assert!(customer.starts_with(expected), "{case}: a customer's client sent {customer}, expected {expected}");
        }
    }
}
