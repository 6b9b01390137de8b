//! The custom resource that publishes roles/customer-role.yaml (crates/publisher), against moto's
//! S3: it is handed events/cloudformation/role-template-create.json, the request CloudFormation
//! sends, with its ResponseURL replaced by a pre-signed PUT of moto's (CloudFormation's is one of
//! S3's too), and the answer is read back from there. Every request gets an answer, a failure too.

mod common;

use common::local_aws::root;
use common::*;
use publisher::{handle, physical_id, Request, ROLE_TEMPLATE, ROLE_TEMPLATE_KEY};
use serde_json::{json, Value};
use std::time::Duration;

const SAMPLE: &str = include_str!("../events/cloudformation/role-template-create.json");

struct Stack {
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    /// Where CloudFormation's answers land, a key per request.
    answers: String,
}

impl Stack {
    async fn new() -> Stack {
        let aws = aws_at(&endpoint(), "testing", "testing").await;
        let s3 = aws.s3_own();
        let answers = unique("cfn-answers");
        s3.create_bucket().bucket(&answers).send().await.expect("creating the answers' bucket");
        Stack { s3, http: reqwest::Client::new(), answers }
    }

    async fn bucket(&self) -> String {
        let bucket = unique("role-template");
        self.s3.create_bucket().bucket(&bucket).send().await.expect("creating a bucket");
        bucket
    }

    /// The sample request as `request_type` for `bucket` (a physical id for an update or a
    /// delete), answered to a fresh pre-signed URL: the request and that answer's key.
    async fn request(&self, request_type: &str, properties: Value, physical: Option<&str>) -> (Request, String) {
        let key = unique("answer");
        let presigned = self
            .s3
            .put_object()
            .bucket(&self.answers)
            .key(&key)
            .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
            .await
            .expect("a pre-signed PUT");
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        event["RequestType"] = json!(request_type);
        event["ResponseURL"] = json!(presigned.uri());
        event["ResourceProperties"] = properties.clone();
        if let Some(physical) = physical {
            event["PhysicalResourceId"] = json!(physical);
        }
        if request_type == "Update" {
            event["OldResourceProperties"] = json!({ "Bucket": "old" });
        }
        (serde_json::from_value(event).expect("a custom resource request"), key)
    }

    /// Handles `request` and returns CloudFormation's answer as it arrived.
    async fn answered(&self, request: &Request, key: &str) -> Value {
        handle(&self.s3, &self.http, request).await.expect("answered");
        let object = self.s3.get_object().bucket(&self.answers).key(key).send().await.expect("the answer arrived");
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).expect("the answer is JSON")
    }

    async fn published(&self, bucket: &str) -> Option<String> {
        let object = self.s3.get_object().bucket(bucket).key(ROLE_TEMPLATE_KEY).send().await.ok()?;
        Some(String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
    }
}

fn properties(bucket: &str) -> Value {
    json!({ "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:publisher", "Bucket": bucket })
}

#[tokio::test]
async fn a_create_publishes_the_role_template_as_the_repository_has_it_and_answers_success() {
    needs!(Moto);
    let stack = Stack::new().await;
    let bucket = stack.bucket().await;
    let (request, key) = stack.request("Create", properties(&bucket), None).await;
    let answer = stack.answered(&request, &key).await;

    let in_repository = std::fs::read_to_string(root().join("roles/customer-role.yaml")).unwrap();
    assert_eq!(ROLE_TEMPLATE, in_repository);
    assert_eq!(stack.published(&bucket).await.as_deref(), Some(in_repository.as_str()));
    let sample: Value = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], format!("s3://{bucket}/customer-role.yaml"));
    assert_eq!(answer["RequestId"], sample["RequestId"]);
    assert_eq!(answer["StackId"], sample["StackId"]);
    assert_eq!(answer["LogicalResourceId"], "CustomerRoleTemplate");
    assert_eq!(answer["Data"], json!({ "Key": "customer-role.yaml" }));
}

#[tokio::test]
async fn an_update_into_another_bucket_publishes_there_and_the_delete_of_the_old_one_removes_it() {
    needs!(Moto);
    let stack = Stack::new().await;
    let (old, new) = (stack.bucket().await, stack.bucket().await);
    let (create, key) = stack.request("Create", properties(&old), None).await;
    assert_eq!(stack.answered(&create, &key).await["Status"], "SUCCESS");

    let (update, key) = stack.request("Update", properties(&new), Some(&physical_id(&old))).await;
    let answer = stack.answered(&update, &key).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], physical_id(&new), "a new id: CloudFormation deletes the old");
    assert!(stack.published(&new).await.is_some());

    // CloudFormation then deletes the old resource: the object goes, so the bucket can go too.
    let (delete, key) = stack.request("Delete", properties(&old), Some(&physical_id(&old))).await;
    let answer = stack.answered(&delete, &key).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(stack.published(&old).await, None);
    assert!(stack.published(&new).await.is_some(), "only the old bucket's object is deleted");
    stack.s3.delete_bucket().bucket(&old).send().await.expect("the emptied bucket can be deleted");

    // A delete that comes again, its bucket gone, still succeeds (a stack must be deletable).
    let (again, key) = stack.request("Delete", properties(&old), Some(&physical_id(&old))).await;
    assert_eq!(stack.answered(&again, &key).await["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_is_a_failure_with_its_reason_and_its_delete_succeeds() {
    needs!(Moto);
    let stack = Stack::new().await;
    let missing = unique("no-such-bucket");
    let (create, key) = stack.request("Create", properties(&missing), None).await;
    let answer = stack.answered(&create, &key).await;
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(reason.contains(&format!("PutObject s3://{missing}/customer-role.yaml")), "{reason}");
    assert!(reason.contains("NoSuchBucket"), "{reason}");
    // CloudFormation rolls the failed create back with a delete of the id it was given.
    let failed_id = answer["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(!failed_id.starts_with("s3://"), "{failed_id}");
    let (delete, key) = stack.request("Delete", properties(&missing), Some(&failed_id)).await;
    let answer = stack.answered(&delete, &key).await;
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], failed_id.as_str());
}

#[tokio::test]
async fn properties_without_a_bucket_are_a_failure_that_says_so() {
    needs!(Moto);
    let stack = Stack::new().await;
    let (create, key) = stack.request("Create", json!({ "ServiceToken": "x" }), None).await;
    let answer = stack.answered(&create, &key).await;
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(answer["Reason"].as_str().unwrap().contains("it needs Bucket"), "{answer}");
}

/// What template.yaml makes of it (read as CloudFormation reads it, tests/common/template.rs):
/// with `CustomerRoleTemplateUrl` empty, a bucket whose one public object is the template, the
/// publisher that may write only that object, and the api function's link to it; with the
/// parameter given, none of these and the parameter's URL.
#[test]
fn the_stack_publishes_the_role_template_where_only_that_object_is_public_unless_the_platform_hosts_it() {
    needs!(CfnLint);
    let t = common::template::template();
    let published = common::template::deployed(&t, &[]);
    let resources = &published["Resources"];
    let bucket = &resources["RoleTemplateBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    assert_eq!((&block["BlockPublicAcls"], &block["IgnorePublicAcls"]), (&json!(true), &json!(true)), "{block}");
    assert_eq!(bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced");
    assert!(!bucket["BucketEncryption"].is_null());
    // Versioned, the publisher's delete would leave the versions, and the stack could not delete
    // the bucket.
    assert!(bucket.get("VersioningConfiguration").is_none(), "{bucket}");

    // The only grants to anyone: reading the one object, over TLS.
    let object = json!({ "Fn::Sub": format!("${{RoleTemplateBucket.Arn}}/{ROLE_TEMPLATE_KEY}") });
    let public: Vec<Value> = common::template::all_statements(&published)
        .into_iter()
        .filter(|(_, s)| s["Principal"] == "*" || s["Principal"]["AWS"] == "*")
        .map(|(holder, s)| {
            assert_eq!(holder, "RoleTemplateBucketPolicy");
            s
        })
        .collect();
    let allowed: Vec<&Value> = public.iter().filter(|s| s["Effect"] == "Allow").collect();
    assert_eq!(allowed.len(), 1, "{public:?}");
    assert_eq!(common::template::actions(allowed[0]), ["s3:GetObject"]);
    assert_eq!(allowed[0]["Resource"], object);
    assert!(public.iter().any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"));

    // The publisher writes that object and nothing else; the resource hands it the bucket and
    // the function's version, so new code publishes again.
    let writes = common::template::statements(&published, "PublisherFunction");
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(common::template::actions(&writes[0]), ["s3:PutObject", "s3:DeleteObject"]);
    assert_eq!(writes[0]["Resource"], object);
    assert_eq!(resources["PublisherFunction"]["Metadata"]["BuildProperties"]["Binary"], "publisher");
    let custom = &resources["CustomerRoleTemplate"]["Properties"];
    assert_eq!(custom["ServiceToken"], json!({ "Fn::GetAtt": ["PublisherFunction", "Arn"] }));
    assert_eq!(custom["Bucket"], json!({ "Ref": "RoleTemplateBucket" }));
    assert_eq!(custom["PublisherVersion"], json!({ "Ref": "PublisherFunction.Version" }));
    let link = json!({ "Fn::Sub": "https://${RoleTemplateBucket.RegionalDomainName}/${CustomerRoleTemplate.Key}" });
    let api = &resources["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(api["S3C_ROLE_TEMPLATE_URL"], link);
    assert_eq!(published["Outputs"]["CustomerRoleTemplateUrl"]["Value"], link);

    // A platform that hosts the template itself: no bucket, no publisher, its URL.
    let url = "https://templates.example-platform.com.s3.amazonaws.com/customer-role.yaml";
    let hosted = common::template::deployed(&t, &[("CustomerRoleTemplateUrl", url)]);
    for id in ["RoleTemplateBucket", "RoleTemplateBucketPolicy", "PublisherFunction", "CustomerRoleTemplate"] {
        assert!(hosted["Resources"].get(id).is_none(), "{id}");
    }
    assert_eq!(
        hosted["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]["S3C_ROLE_TEMPLATE_URL"],
        url
    );
}
