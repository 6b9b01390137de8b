//! A template drafted from an object of a connection's bucket: read as a preview's sample is,
//! failing as it fails.

use super::{fields, t, World};
use crate::decode::{compress, Compression};
use crate::manage::ManageError;
use crate::ports::SourceErrorKind;
use crate::template::{FieldType, FormatKind};

#[tokio::test]
async fn a_draft_reads_an_object_of_the_connections_bucket() {
    let w = World::new();
    let c = w.created("acme").await;
    let csv = b"id;amount;paid_on\na1;1.50;2026-11-02\na2;2;2026-11-03\n";
    w.bucket.put("in/payments-2026-11.csv.gz", "e1", t("09T00:00:00"), &compress(Compression::Gzip, csv));
    let drafted = w.service().draft_template(&c.id, "in/payments-2026-11.csv.gz", 1000, None).await.unwrap();
    let template = &drafted.template;
    assert_eq!(
        (template.id.as_str(), template.format.kind, template.format.delimiter),
        ("payments", FormatKind::Csv, Some(';'))
    );
    let types: Vec<_> = template.columns.iter().map(|c| c.field_type).collect();
    assert_eq!(types, [FieldType::String, FieldType::Decimal, FieldType::Date]);
    assert_eq!((drafted.rows_sampled, drafted.warnings.len()), (2, 0), "{drafted:?}");
    let one = w.service().draft_template(&c.id, "in/payments-2026-11.csv.gz", 1, Some("pay")).await.unwrap();
    assert_eq!((one.rows_sampled, one.template.id.as_str()), (1, "pay"));
}

#[tokio::test]
async fn a_draft_fails_as_a_preview_sample_does_and_names_what_is_wrong() {
    let w = World::new();
    let c = w.created("acme").await;
    w.bucket.put("in/empty.csv", "e1", t("09T00:00:00"), b"");
    w.bucket.put("in/a.csv", "e2", t("09T00:00:00"), b"id\n1\n");
    let service = w.service();
    let e = service.draft_template(&c.id, "a.csv", 1000, None).await.unwrap_err();
    assert_eq!(fields(&e), ["key"]);
    assert!(e.to_string().contains("no object 'a.csv'") && e.to_string().contains("'in/a.csv'"), "{e}");
    let e = service.draft_template(&c.id, "in/empty.csv", 1000, None).await.unwrap_err();
    assert_eq!(fields(&e), ["key"]);
    assert!(e.to_string().starts_with("key: 'in/empty.csv': the sample is empty"), "{e}");
    let e = service.draft_template(&c.id, "in/a.csv", 1000, Some("a b")).await.unwrap_err();
    assert_eq!(fields(&e), ["id"]);
    for rows in [0, crate::draft::MAX_ROWS + 1] {
        let e = service.draft_template(&c.id, "in/a.csv", rows, None).await.unwrap_err();
        assert_eq!(fields(&e), ["rows"]);
    }
    let e = service.draft_template("nope", "in/a.csv", 1000, None).await.unwrap_err();
    assert!(matches!(e, ManageError::NotFound { what: "connection", .. }), "{e:?}");
    *w.bucket.deny.lock().unwrap() = Some(SourceErrorKind::AccessDenied);
    let e = service.draft_template(&c.id, "in/a.csv", 1000, None).await.unwrap_err();
    assert!(matches!(e, ManageError::Access(_)), "{e:?}");
}
