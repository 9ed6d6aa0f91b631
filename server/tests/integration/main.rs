//! Integration tests: the real server (in process on port 0, or the binary)
//! over real sockets. One test binary, so the suite links once.
//!
//! `connection_churn` and `stalled_client` stay separate binaries: they
//! measure this process's memory, which other tests would disturb.

mod common;

mod alerts;
mod backfill;
mod bad_feeds;
mod bin_frames;
mod binary;
mod bus_access;
mod candles;
mod chart_depth;
mod cluster;
mod cluster_alerts;
mod cluster_copies;
mod coinbase_level2;
mod connections;
mod control;
mod fanout;
mod hardening;
mod http_api;
mod loadgen;
mod market_time;
mod openapi;
mod providers;
mod push;
mod rates;
mod replay;
mod resume;
mod store;
mod ws_protocol;
