//! Pure core of s3-connector: no AWS crate, only the rules and narrow ports the adapters fill.
//!
//! - [`manage`]: connection management, the one service every surface calls (CLI, HTTP API);
//! - [`engine`]: one sync of one connection, its one entry point `Engine::run`;
//! - [`pipeline`], [`decode`], [`text_encoding`], [`parse`], [`mapping`], [`value`]: an object's bytes to
//!   typed records;
//! - [`events`]: what a finished run and a status change announce, through a publisher port;
//! - [`model`], [`template`], [`selection`], [`keys`]: what is stored, how files map, which objects
//!   a sync selects, bounded keys and record ids;
//! - [`ports`] (the engine's) and [`manage::ports`] (management's): what the adapters implement;
//! - [`access`], [`preview`], [`connections`], [`policies`], [`dispatch`], [`input`], [`retry`]: the
//!   access check, previews, connection input, IAM documents, the daily fan-out, JSON input,
//!   backoff;
//! - [`draft`]: a template drafted from a sample of a file (format, header, encoding, column types);
//! - [`sessions`]: dashboard sessions signed out before their token expired (a port);
//! - `memory`, `conformance` (feature `test-support`): the ports in memory, and the suites every
//!   implementation passes.
pub mod access;
// The store conformance suite and the in-memory fakes are for tests (this crate's, the DynamoDB
// store's, the benchmarks'), not for the product: like object_store's integration suite they stay
// out of the default build, and a Lambda built alone (`cargo build -p worker`) never compiles them.
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
pub mod connections;
pub mod decode;
pub mod dispatch;
pub mod draft;
pub mod engine;
pub mod events;
pub mod input;
pub mod intake;
pub mod keys;
pub mod manage;
pub mod mapping;
#[cfg(any(test, feature = "test-support"))] // see `conformance` above
pub mod memory;
pub mod model;
pub mod object_events;
pub mod parse;
pub mod pipeline;
pub mod policies;
pub mod ports;
pub mod preview;
pub mod regions;
pub mod rejects;
pub mod retry;
pub mod selection;
pub mod sessions;
pub mod template;
pub mod text_encoding;
pub mod value;
mod words;
