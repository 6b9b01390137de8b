//! AWS regions and their partitions: which regions a bucket may name, and the partition every ARN
//! of a region starts with. A leaf module, so the model (role ARNs) and connection input
//! (validation) both read it without importing each other.

/// AWS regions a bucket can live in (commercial, GovCloud, China, European Sovereign Cloud). New
/// regions are added here as AWS opens them.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The partition of a region, which every ARN of its resources starts with (`arn:<partition>:`):
/// China (`cn-*`) is `aws-cn`, GovCloud (`us-gov-*`) `aws-us-gov`, the European Sovereign Cloud
/// (`eusc-*`) `aws-eusc`, every other region of [`AWS_REGIONS`] `aws`; the same rules as the
/// partitions file the AWS SDKs resolve endpoints with. Every ARN we build takes it from here.
pub fn partition(region: &str) -> &'static str {
    const PARTITIONS: &[(&str, &str)] = &[("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("eusc-", "aws-eusc")];
    PARTITIONS.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}
