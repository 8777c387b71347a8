//! answerlog: question-and-answer articles kept as an event-sourced history.
//!
//! Every change to an article is a commit appended to a durable log; read
//! models projected from that log serve the current answer, any past
//! version, and the revision history, over gRPC.
//!
//! # Layout
//!
//! - `domain`: articles, commands, events, `decide`/`apply`, validation,
//!   diffs. Plain Rust: no I/O, no clock, no tonic, sled or tokio.
//! - `codec`: the persisted encoding (`proto/answerlog/v1/events.proto`).
//! - `log`: the append seam both logs implement: the `Log` trait, its
//!   requests, answers and errors, and the one admission check.
//! - `store`: the only module that knows sled: the log, its indexes, the
//!   writer thread with group commit, the durable position.
//! - `jetstream`: the only module that knows NATS: the log on a JetStream
//!   stream, a replica's publisher and the follower that feeds its store.
//! - `projection`: read models as a pure fold of commits: state and commit
//!   in, changes out, through a view the store gives it (which writes the
//!   changes, and reads them back in `store/queries.rs`).
//! - `app`: the command pipeline (load, decide, append) and the queries.
//! - `grpc`: the gRPC edge, and the only module that knows the generated
//!   API types as a server does; tonic also serves in `server`, `web`,
//!   `accept` and `tls`, and `cli` is a tonic client.
//! - `web`: the JSON API and the web pages, through the gRPC services.
//! - `server`: `run(listener, shutdown)`, health, reflection, drain.
//! - `config`: the configuration file, environment and flags.
//! - `import`: the import format's parser.
//! - `principals`: the principals file, roles and token checks.
//! - `cli`: the command line.
//!
//! Dependencies point one way: `main → cli → server → web → grpc → app →
//! {store, jetstream} → projection → log → codec → domain`; `tidy.rs` (a
//! test) checks it (docs/ARCHITECTURE.md).

mod accept;
mod app;
mod cli;
mod codec;
mod config;
mod domain;
mod durable_file;
mod grpc;
pub mod history_import;
mod http1;
mod import;
mod jetstream;
mod key_rotation;
mod log;
mod metrics;
mod metrics_http;
mod principals;
mod process_stats;
mod projection;
mod request_key;
mod server;
mod signing;
mod store;
mod tlog;
mod tls;
mod verifier_key;
mod web;
mod witness;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod test_vectors;
#[cfg(test)]
mod tidy;

pub use app::{
    App, AppOptions, OpenError, Rebuilt, ReplicaRestored, Restored, TreeOptions, WitnessPolicy,
};
pub use cli::{init_tracing, sentence, Cli, Misbehaviour, ReaderGone};
pub use config::LogFormat;
pub use grpc::pb;
pub use jetstream::{
    JetStreamOptions, JoinError, LocalNatsConfig, LocalNatsServer, LogChoice, RestoreError,
};
pub use log::{Clock, StoreError, StreamBreak};
pub use metrics_http::serve_metrics;
pub use principals::{new_token, Principals, Role};
pub use server::{run, run_with_http, ServerOptions};
pub use store::{FaultPoint, Faults, FlushGate, StoreOptions};
pub use tls::{http_config, TlsError};
pub use witness::{
    generate_witness_key, serve_witness, witness_verifier_key, Witness, WitnessOptions,
};
