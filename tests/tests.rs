//! The integration tests: one binary, each scenario against a real server
//! on 127.0.0.1:0 with a temporary data directory, over gRPC.

mod support;

mod audit;
mod auth;
mod backup;
mod bench;
mod blame;
mod cli_json;
mod cli_retry;
mod clocks;
mod cluster;
mod content_apart;
mod contention;
mod errors;
mod export;
mod faults;
mod health;
mod history;
mod hostile;
mod http_api;
mod idempotency;
mod import;
mod import_history;
mod limits;
mod lists;
mod merkle;
mod metrics;
mod origin_claims;
mod pages;
mod read_your_writes;
mod rebuild;
mod receipts;
mod redaction;
mod replicas;
mod restart;
mod review;
mod revise;
mod standard;
mod stream;
mod third_party;
mod tls;
mod walkthrough;
mod watch;
mod web;
mod witness;
