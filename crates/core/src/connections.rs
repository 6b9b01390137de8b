//! Creating a connection from an operator's input: validation and normalisation (pure), and the
//! names we generate. The random parts (id, external id) are passed in by the caller.

use crate::model::{Connection, ConnectionStatus, LocationField, SyncMode, SyncState};
pub use crate::regions::{partition, AWS_REGIONS};
use chrono::{DateTime, Utc};

/// What an operator gives to connect a bucket.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInput {
    /// The platform's id of the customer it belongs to ([`normalise_tenant`]).
    pub tenant: String,
    pub name: String,
    pub account_id: String,
    pub bucket: String,
    pub region: String,
    pub folder: Option<String>,
    pub template_id: String,
    /// The ARN of the KMS key the customer's objects are encrypted with (SSE-KMS), if any.
    pub kms_key_arn: Option<String>,
    /// The location fields left for the customer to fill on the set-up page; each must then be
    /// empty here (bucket, region) or absent (folder).
    pub open_fields: Vec<LocationField>,
    /// Scheduled unless given.
    pub mode: SyncMode,
}

impl ConnectionInput {
    /// The input with its location as the CLI and the API take it: a bucket or region left out
    /// (`None`) is left open for the customer, and so is the folder with `folder_open`.
    pub fn located(
        self,
        bucket: Option<String>,
        region: Option<String>,
        folder: Option<String>,
        folder_open: bool,
    ) -> Self {
        let open = [
            (LocationField::Bucket, bucket.is_none()),
            (LocationField::Region, region.is_none()),
            (LocationField::Folder, folder_open),
        ];
        ConnectionInput {
            bucket: bucket.unwrap_or_default(),
            region: region.unwrap_or_default(),
            folder,
            open_fields: open.into_iter().filter(|(_, open)| *open).map(|(field, _)| field).collect(),
            ..self
        }
    }
}

/// What the customer fills of a connection's open fields ([`fill_location`]); `None` is not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationInput {
    pub bucket: Option<String>,
    pub region: Option<String>,
    /// Empty or `/`: the whole bucket.
    pub folder: Option<String>,
}

/// Where a connection reads, checked: what [`fill_location`] gives the store to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    pub region: String,
    pub folder: Option<String>,
}

/// An input problem, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: &'static str,
    pub message: String,
}

/// The default prefix of the role names we generate; the worker's IAM policy may assume only roles
/// with the deployment's prefix (template.yaml's RolePrefix, passed as S3C_ROLE_PREFIX).
pub const ROLE_PREFIX: &str = "s3-connector-";

/// Whether `prefix` can start an IAM role name: 1-32 of the characters role names allow.
pub fn valid_role_prefix(prefix: &str) -> bool {
    (1..=32).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
}

/// Builds a pending connection whose role name is `role_prefix` + its id, or says which fields are wrong.
pub fn new_connection(
    input: ConnectionInput,
    id: String,
    external_id: String,
    role_prefix: &str,
    now: DateTime<Utc>,
) -> Result<Connection, Vec<InputError>> {
    let mut errors = Vec::new();
    let mut fail = |field, message: &str| errors.push(InputError { field, message: message.to_owned() });
    let tenant = match normalise_tenant(&input.tenant) {
        Ok(tenant) => tenant,
        Err(message) => {
            fail("tenant", message);
            String::new()
        }
    };
    let name = match normalise_name(&input.name) {
        Ok(name) => name,
        Err(message) => {
            fail("name", message);
            String::new()
        }
    };
    if input.account_id.len() != 12 || !input.account_id.bytes().all(|b| b.is_ascii_digit()) {
        fail("account_id", "must be the 12 digits of an AWS account id");
    }
    let mut open_fields = input.open_fields;
    open_fields.sort();
    open_fields.dedup();
    let given = |field| match field {
        LocationField::Bucket => !input.bucket.is_empty(),
        LocationField::Region => !input.region.is_empty(),
        LocationField::Folder => input.folder.is_some(),
    };
    for field in open_fields.iter().copied().filter(|f| given(*f)) {
        fail(field.as_str(), "is left open for the customer: give it, or leave it open, not both");
    }
    let (folder, kms_key_arn) = check_location(
        &input.bucket,
        &input.region,
        input.folder.as_deref(),
        input.kms_key_arn.as_deref(),
        &open_fields,
        &mut errors,
    );
    if input.template_id.trim().is_empty() {
        errors.push(InputError { field: "template", message: "is required".into() });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Connection {
        role_name: format!("{role_prefix}{id}").chars().take(64).collect(),
        id,
        tenant,
        name,
        account_id: input.account_id,
        bucket: input.bucket,
        region: input.region,
        folder,
        open_fields,
        location_filled_at: None,
        link_generation: 0,
        kms_key_arn,
        external_id,
        template_id: input.template_id.trim().to_owned(),
        status: ConnectionStatus::Pending,
        created_at: now,
        overlap_seconds: None,
        mode: input.mode,
        scan_every_hours: None,
        scan_owed: None,
        backfill_since: None,
        sync: SyncState::default(),
        failed_files: 0,
        pause_reason: None,
    })
}

/// Checks a location, but the fields in `open` (left for the customer): the bucket's and region's
/// names, the folder (normalised: None is the whole bucket) and the KMS key, which must be in the
/// region when the region is known. Pushes each fault; returns the folder and key normalised. The
/// one check of a create and of a customer's filling.
fn check_location(
    bucket: &str,
    region: &str,
    folder: Option<&str>,
    kms_key_arn: Option<&str>,
    open: &[LocationField],
    errors: &mut Vec<InputError>,
) -> (Option<String>, Option<String>) {
    let mut fail = |field, message: &str| errors.push(InputError { field, message: message.to_owned() });
    let checked = |field| !open.contains(&field);
    if checked(LocationField::Bucket) && !valid_bucket_name(bucket) {
        fail("bucket", "is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')");
    }
    if checked(LocationField::Region) && !valid_region(region) {
        fail("region", "is not an AWS region name like us-east-1");
    }
    let folder = match folder.map(normalise_folder) {
        None => None,
        Some(Ok(folder)) => folder,
        Some(Err(message)) => {
            fail("folder", message);
            None
        }
    };
    let region = valid_region(region).then_some(region);
    let kms_key_arn = match kms_key_arn.map(|arn| normalise_kms_key_arn(arn, region)) {
        None => None,
        Some(Ok(arn)) => Some(arn),
        Some(Err(message)) => {
            fail("kms_key_arn", &message);
            None
        }
    };
    (folder, kms_key_arn)
}

/// The location of `connection` with the customer's `given` fields in place of its open ones,
/// checked as a create checks it, or each fault. Only the fields the platform left open may be
/// given; an open bucket or region must be. An open folder not given is the whole bucket.
pub fn fill_location(connection: &Connection, given: LocationInput) -> Result<Location, Vec<InputError>> {
    let mut errors = Vec::new();
    let mut fail = |field: LocationField, message: &str| {
        errors.push(InputError { field: field.as_str(), message: message.to_owned() })
    };
    let values = [
        (LocationField::Bucket, given.bucket.as_deref(), connection.bucket.as_str()),
        (LocationField::Region, given.region.as_deref(), connection.region.as_str()),
    ];
    let kept = values.map(|(field, given, current)| match (connection.is_open(field), given.map(str::trim)) {
        (true, None | Some("")) => {
            fail(field, "is required");
            String::new()
        }
        (true, Some(value)) => value.to_owned(),
        (false, Some(value)) if value != current => {
            fail(field, "was set by the platform; only the fields it left open can be filled here");
            current.to_owned()
        }
        (false, _) => current.to_owned(),
    });
    let folder = match (connection.is_open(LocationField::Folder), given.folder) {
        (true, folder) => folder,
        (false, Some(folder)) if normalise_folder(&folder).ok().flatten() != connection.folder => {
            fail(LocationField::Folder, "was set by the platform; only the fields it left open can be filled here");
            connection.folder.clone()
        }
        (false, _) => connection.folder.clone(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let [bucket, region] = kept;
    let (folder, _) =
        check_location(&bucket, &region, folder.as_deref(), connection.kms_key_arn.as_deref(), &[], &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Location { bucket, region, folder })
}

/// The longest tenant id.
pub const MAX_TENANT_LEN: usize = 64;

/// What a tenant id must be, said once for every surface.
pub const TENANT_RULE: &str = "must be 1-64 characters of letters, digits, '.', '_', ':', '@' and '-'";

/// A tenant id, trimmed: 1-64 of `A-Z a-z 0-9 . _ : @ -`. No `#`, which separates the parts of
/// the store's keys, no `/`, which separates an API path's, and nothing that needs escaping in
/// either.
pub fn normalise_tenant(tenant: &str) -> Result<String, &'static str> {
    let tenant = tenant.trim();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:@-".contains(&b);
    if tenant.is_empty() || tenant.len() > MAX_TENANT_LEN || !tenant.bytes().all(allowed) {
        return Err(TENANT_RULE);
    }
    Ok(tenant.to_owned())
}

/// A connection name, trimmed: 1-100 characters without control characters.
pub fn normalise_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err("must be 1-100 characters without control characters");
    }
    Ok(name.to_owned())
}

/// `/a//b` -> `a/b/`; empty or `/` -> the whole bucket.
pub fn normalise_folder(folder: &str) -> Result<Option<String>, &'static str> {
    let parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err("must not contain '.' or '..' segments");
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let prefix = format!("{}/", parts.join("/"));
    if prefix.len() > 1024 {
        return Err("is longer than an S3 key may be");
    }
    Ok(Some(prefix))
}

/// A KMS key ARN, trimmed: `arn:<partition>:kms:<region>:<account>:key/<key id>`, in the bucket's
/// `region` (S3 encrypts an object with a key of its bucket's region) when that region is known.
/// An alias ARN is refused: the policy grants `kms:Decrypt` on its Resource, and a key is matched
/// by its key ARN, never by an alias's. Only letters, digits and '-' in the key id, so no IAM
/// wildcard (`*`, `?`) can widen the grant.
pub fn normalise_kms_key_arn(arn: &str, region: Option<&str>) -> Result<String, String> {
    let arn = arn.trim();
    let example = format!(
        "arn:{}:kms:{}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        partition(region.unwrap_or("us-east-1")),
        region.unwrap_or("us-east-1")
    );
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", arn_partition, "kms", arn_region, account, resource] = parts.as_slice() else {
        return Err(format!("must be the ARN of a KMS key, like {example}"));
    };
    if resource.starts_with("alias/") {
        return Err(format!(
            "is an alias ARN; give the ARN of the key itself, like {example} (kms:Decrypt is granted on a key ARN; \
             an alias ARN as the Resource grants nothing)"
        ));
    }
    let key_id = resource.strip_prefix("key/").unwrap_or_default();
    let well_formed = arn.len() <= 2048
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !key_id.is_empty()
        && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed {
        return Err(format!("must be the ARN of a KMS key, like {example}"));
    }
    if let Some(region) = region {
        if *arn_region != region || *arn_partition != partition(region) {
            return Err(format!(
                "must be a key in the bucket's region {region}, like {example}: S3 encrypts objects with a key of \
                 the bucket's region"
            ));
        }
    }
    Ok(arn.to_owned())
}

fn valid_bucket_name(b: &str) -> bool {
    let ok_chars = b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-');
    let edges = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && ok_chars
        && edges(b.bytes().next())
        && edges(b.bytes().last())
        && !b.contains("..")
        && !b.split('.').all(|p| p.parse::<u8>().is_ok())
}

fn valid_region(r: &str) -> bool {
    AWS_REGIONS.contains(&r)
}

/// Says, for people, what an access error means for this connection: which of account, role,
/// external id, bucket or region to check. The external id itself is never put in the message.
pub fn explain_access(connection: &Connection, error: &crate::ports::SourceError) -> String {
    use crate::ports::SourceErrorKind::*;
    let bucket = &connection.bucket;
    let place = format!("s3://{bucket}/{}", connection.folder.as_deref().unwrap_or(""));
    match error.kind {
        AccessDenied if error.message.starts_with("assuming role") => format!(
            "cannot assume role {}: check that the role exists in account {}, that its trust policy names our \
             principal, and that it requires this connection's external id ({})",
            connection.role_arn(),
            connection.account_id,
            error.message
        ),
        AccessDenied => format!(
            "the role may not read {place}, or bucket {bucket} is not owned by account {}: check the role's \
             permission policy and the bucket's account ({})",
            connection.account_id, error.message
        ),
        NoSuchBucket => format!("bucket {bucket} does not exist ({})", error.message),
        WrongRegion => format!("bucket {bucket} is not in region {} ({})", connection.region, error.message),
        _ => error.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ConnectionInput {
        ConnectionInput {
            tenant: "acme".into(),
            name: " Acme ".into(),
            account_id: "123456789012".into(),
            bucket: "acme-exports".into(),
            region: "eu-west-1".into(),
            folder: Some("/payments//daily".into()),
            template_id: "payments".into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
        }
    }

    #[test]
    fn access_errors_say_what_to_check() {
        use crate::ports::{SourceError, SourceErrorKind::*};
        let c = new_connection(input(), "c1".into(), "x".into(), ROLE_PREFIX, Utc::now()).unwrap();
        let cases = [
            (AccessDenied, "assuming role arn:...: AccessDenied (HTTP 403)", "cannot assume role arn:aws:iam::123456789012:role/s3-connector-c1: check that the role exists in account 123456789012, that its trust policy names our principal, and that it requires this connection's external id"),
            (AccessDenied, "listing bucket acme-exports: AccessDenied (HTTP 403)", "the role may not read s3://acme-exports/payments/daily/, or bucket acme-exports is not owned by account 123456789012"),
            (NoSuchBucket, "listing bucket acme-exports: NoSuchBucket (HTTP 404)", "bucket acme-exports does not exist"),
            (WrongRegion, "listing bucket acme-exports: PermanentRedirect (HTTP 301)", "bucket acme-exports is not in region eu-west-1"),
            (Transient, "listing bucket acme-exports: SlowDown (HTTP 503)", "listing bucket acme-exports: SlowDown (HTTP 503)"),
        ];
        for (kind, message, expected) in cases {
            let explained = explain_access(&c, &SourceError::new(kind, message));
            assert!(explained.starts_with(expected), "{kind:?}: {explained}");
            assert!(explained.contains(message), "the service's own message is kept: {explained}");
        }
    }

    #[test]
    fn valid_input_is_normalised() {
        let c = new_connection(input(), "c1".into(), "x".into(), ROLE_PREFIX, Utc::now()).unwrap();
        assert_eq!(
            (c.name.as_str(), c.folder.as_deref(), c.role_name.as_str()),
            ("Acme", Some("payments/daily/"), "s3-connector-c1")
        );
        assert_eq!(c.status, ConnectionStatus::Pending);
        assert_eq!(c.role_arn(), "arn:aws:iam::123456789012:role/s3-connector-c1");
    }

    #[test]
    fn each_region_has_its_partition() {
        let cases = [
            ("us-east-1", "aws"),
            ("ap-southeast-7", "aws"),
            ("mx-central-1", "aws"),
            ("il-central-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("eusc-de-east-1", "aws-eusc"),
        ];
        for (region, expected) in cases {
            assert_eq!(partition(region), expected, "{region}");
        }
        let others: Vec<&str> = AWS_REGIONS.iter().copied().filter(|r| partition(r) != "aws").collect();
        assert_eq!(
            others,
            ["cn-north-1", "cn-northwest-1", "eusc-de-east-1", "us-gov-east-1", "us-gov-west-1"],
            "a region added to AWS_REGIONS outside the aws partition needs its partition here"
        );
    }

    #[test]
    fn every_arn_of_a_connection_is_in_its_regions_partition() {
        let cases = [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("eusc-de-east-1", "aws-eusc"),
        ];
        for (region, partition) in cases {
            let c = new_connection(
                ConnectionInput { region: region.into(), ..input() },
                "c1".into(),
                "x".into(),
                ROLE_PREFIX,
                Utc::now(),
            )
            .unwrap();
            assert_eq!(c.role_arn(), format!("arn:{partition}:iam::123456789012:role/s3-connector-c1"), "{region}");
            let policy = crate::policies::permission_policy(&c);
            for statement in policy["Statement"].as_array().unwrap() {
                let resource = statement["Resource"].as_str().unwrap();
                assert!(resource.starts_with(&format!("arn:{partition}:s3:::acme-exports")), "{region}: {resource}");
            }
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, fn(&mut ConnectionInput))> = vec![
            ("tenant", |i| i.tenant = "".into()),
            ("tenant", |i| i.tenant = "acme#1".into()),
            ("tenant", |i| i.tenant = "acme/1".into()),
            ("tenant", |i| i.tenant = "a".repeat(65)),
            ("tenant", |i| i.tenant = "acmé".into()),
            ("name", |i| i.name = " ".into()),
            ("account_id", |i| i.account_id = "12345".into()),
            ("account_id", |i| i.account_id = "12345678901a".into()),
            ("bucket", |i| i.bucket = "Acme".into()),
            ("bucket", |i| i.bucket = "192.168.1.1".into()),
            ("bucket", |i| i.bucket = "ab".into()),
            ("region", |i| i.region = "europe".into()),
            ("region", |i| i.region = "eu-west-9".into()),
            ("folder", |i| i.folder = Some("a/../b".into())),
            ("template", |i| i.template_id = "".into()),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:alias/exports".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("1234abcd-12ab-34cd-56ef-1234567890ab".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:key/*".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:kms:eu-west-1:123456789012:key/".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:kms:eu-west-1:1234:key/1234abcd".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:kms:us-east-1:123456789012:key/1234abcd".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws-cn:kms:eu-west-1:123456789012:key/1234abcd".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some("arn:aws:s3:eu-west-1:123456789012:key/1234abcd".into())),
            ("kms_key_arn", |i| i.kms_key_arn = Some(String::new())),
        ];
        for (field, change) in cases {
            let mut i = input();
            change(&mut i);
            let errors = new_connection(i.clone(), "c".into(), "x".into(), ROLE_PREFIX, Utc::now()).unwrap_err();
            assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), vec![field], "{i:?}");
        }
    }

    #[test]
    fn a_kms_key_is_a_key_arn_in_the_buckets_region() {
        let key = "arn:aws-cn:kms:cn-north-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab";
        let padded = format!(" {key}\n");
        let cases: Vec<(&str, &str, Result<&str, &str>)> = vec![
            ("cn-north-1", key, Ok(key)),
            ("cn-north-1", &padded, Ok(key)),
            (
                "eu-west-1",
                "arn:aws:kms:eu-west-1:123456789012:alias/exports",
                Err("is an alias ARN; give the ARN of the key itself, like arn:aws:kms:eu-west-1:111122223333:key/"),
            ),
            ("eu-west-1", "exports", Err("must be the ARN of a KMS key, like arn:aws:kms:eu-west-1:")),
            ("eu-west-1", key, Err("must be a key in the bucket's region eu-west-1")),
        ];
        for (region, arn, expected) in cases {
            let got = normalise_kms_key_arn(arn, Some(region));
            match (&got, expected) {
                (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{region} {arn}"),
                (Err(got), Err(expected)) => assert!(got.starts_with(expected), "{region} {arn}: {got}"),
                _ => panic!("{region} {arn}: {got:?}, expected {expected:?}"),
            }
        }
        let c = new_connection(
            ConnectionInput { region: "cn-north-1".into(), kms_key_arn: Some(key.into()), ..input() },
            "c1".into(),
            "x".into(),
            ROLE_PREFIX,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(c.kms_key_arn.as_deref(), Some(key));
        let errors = new_connection(
            ConnectionInput { region: "mars-1".into(), kms_key_arn: Some(key.into()), ..input() },
            "c1".into(),
            "x".into(),
            ROLE_PREFIX,
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), ["region"], "one error for one mistake");
    }

    #[test]
    fn a_tenant_is_a_short_id_without_separators() {
        let cases = [
            ("acme", Ok("acme")),
            (" acme ", Ok("acme")),
            ("org:42@eu-1.prod_a", Ok("org:42@eu-1.prod_a")),
            (&"t".repeat(64), Ok(&"t".repeat(64)[..])),
            ("", Err(TENANT_RULE)),
            ("   ", Err(TENANT_RULE)),
            ("a#b", Err(TENANT_RULE)),
            ("a/b", Err(TENANT_RULE)),
            ("a b", Err(TENANT_RULE)),
            (&"t".repeat(65), Err(TENANT_RULE)),
        ];
        for (tenant, expected) in cases {
            assert_eq!(normalise_tenant(tenant).as_deref().map_err(|e| *e), expected, "{tenant:?}");
        }
        let c = new_connection(input(), "c1".into(), "x".into(), ROLE_PREFIX, Utc::now()).unwrap();
        assert_eq!(c.tenant, "acme");
    }

    #[test]
    fn empty_folder_means_the_whole_bucket() {
        assert_eq!(normalise_folder("/"), Ok(None));
        assert_eq!(normalise_folder("a"), Ok(Some("a/".into())));
    }
}
