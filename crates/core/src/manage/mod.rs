//! Connection management: the one service every surface (CLI, HTTP API, dashboard) calls.

pub mod ports;
