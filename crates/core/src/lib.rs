//! Pure core of s3-connector.
pub mod decode;
pub mod mapping;
pub mod model;
pub mod parse;
pub mod template;
