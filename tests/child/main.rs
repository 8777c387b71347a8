//! Tests that run the real `answerlog` binary as a child process: killed
//! with SIGKILL at random points, serving from a tmpfs that fills up, and
//! configured by a file, the environment and flags at once.

mod config;
mod crash;
mod frames;
mod full_disk;
mod fuzz_http;
mod history_scale;
mod messages;
mod pipes;
mod redaction_crash;
mod served;
mod sync;
