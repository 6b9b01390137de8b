//! Pure core of s3-connector.
pub mod access;
// The store conformance suite and the in-memory fakes are for tests (this crate's, the DynamoDB
// store's, the benchmarks'), not for the product: like object_store's integration suite they stay
// out of the default build, and a Lambda built alone (`cargo build -p worker`) never compiles them.
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
pub mod connections;
pub mod decode;
pub mod dispatch;
pub mod engine;
pub mod input;
pub mod keys;
pub mod manage;
pub mod mapping;
#[cfg(any(test, feature = "test-support"))] // see `conformance` above
pub mod memory;
pub mod model;
pub mod parse;
pub mod pipeline;
pub mod policies;
pub mod ports;
pub mod preview;
pub mod retry;
pub mod selection;
pub mod template;
pub mod value;
