//! The security model, each promise against moto: no credential, external id or record content in
//! the logs of a whole sync; one connection's run reads and writes only its own records and state;
//! external ids are unguessable and never repeat; role ARNs come from the connection's own account.

mod common;

use chrono::TimeDelta;
use common::faults::{Fault, Faults};
use common::*;
use connector_core::model::SyncResult;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Log lines written by every thread of this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value of `<name>...</name>` in an XML document.
fn xml_value<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!("<{name}>")).map(|i| i + name.len() + 2).expect(name);
    let end = xml[start..].find(&format!("</{name}>")).expect(name);
    &xml[start..start + end]
}

/// One test in this binary: the log subscriber is process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_sync_logs_no_credential_external_id_or_record_content() {
    needs!(Moto);
    let captured = Captured::default();
    let writer = captured.clone();
    // Debug for every crate, the SDK's included: more than the Lambdas log (info).
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .init();

    let faults = Faults::default();
    faults.add(|s| s.is("AssumeRole"), Fault::Capture, 0, usize::MAX);
    let own_secret = "Own+Secret/Key-4f9d1c2e7a";
    let aws = aws_at(&endpoint(), "AKIAOWNKEY4LOGTEST00", own_secret).await;
    let inner = aws_smithy_http_client::Builder::new().build_http();
    let aws = connector_aws::config::Aws::from_sdk(aws.sdk.into_builder().http_client(faults.wrap(inner)).build());
    let world = World::at(aws, config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let marker = "record-content-7c1e9a55";
    // Five digits before the point: no log timestamp (`06:07:12.345127Z`) can contain it.
    const AMOUNT: &str = "98765.4321";
    world.put("in/a.csv", format!("id,amount\n{marker},{AMOUNT}\nbad-row,not-a-number\n")).await;
    world.put("in/b.csv.gz", vec![0x1f, 0x8b, 8, 0, 0]).await; // a broken file: logged as a failure
    let c = world.connection(Some("in")).await;

    let run = world.completed(&c.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Partial, 1), "{run:?}");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("sync finished") && logs.contains(&c.id), "the sync was logged:\n{logs}");
    let sessions = faults.captured();
    assert!(!sessions.is_empty(), "the role was assumed");
    let mut secrets = vec![own_secret.to_owned(), c.external_id.clone(), marker.to_owned(), AMOUNT.to_owned()];
    for session in &sessions {
        for name in ["SecretAccessKey", "SessionToken"] {
            secrets.push(xml_value(session, name).to_owned());
        }
    }
    for secret in &secrets {
        let leaks: Vec<&str> = logs.lines().filter(|l| l.contains(secret.as_str())).collect();
        assert!(leaks.is_empty(), "'{secret}' is in the logs: {leaks:#?}");
    }
    // An access key id is an identifier, not a secret: the SDK's own debug lines name the session's
    // (aws_config's "obtained assumed credentials"); the Lambdas log at info, and ours never do.
    for session in &sessions {
        let key_id = xml_value(session, "AccessKeyId");
        let ours: Vec<&str> = logs
            .lines()
            .filter(|l| {
                l.contains(key_id) && (l.contains("\"target\":\"connector_") || l.contains("\"target\":\"worker"))
            })
            .collect();
        assert!(ours.is_empty(), "our code logs an access key id: {ours:#?}");
    }
}
