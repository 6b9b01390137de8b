//! Pure core of s3-connector.
pub mod conformance;
pub mod connections;
pub mod decode;
pub mod dispatch;
pub mod engine;
pub mod input;
pub mod keys;
pub mod mapping;
pub mod memory;
pub mod model;
pub mod parse;
pub mod policies;
pub mod ports;
pub mod preview;
pub mod retry;
pub mod selection;
pub mod template;
