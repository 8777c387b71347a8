//! Generates the protobuf code with protox (pure Rust: no system `protoc`).
//!
//! The persisted schema (`events.proto`) and the API (`answerlog.proto`) are
//! generated into separate directories, so that the storage codec and the
//! gRPC layer each include only their own messages.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");

    let all = protox::compile(
        ["answerlog/v1/answerlog.proto", "answerlog/v1/events.proto"],
        ["proto"],
    )?;
    std::fs::write(out.join("descriptor.bin"), all.encode_to_vec())?;

    let api_dir = out.join("api");
    std::fs::create_dir_all(&api_dir)?;
    let api = protox::compile(["answerlog/v1/answerlog.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .out_dir(&api_dir)
        // Undecodable request bytes are INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::grpc::codec::CheckedCodec")
        .build_server(true)
        .build_client(true)
        .compile_fds(api)?;

    let bench_dir = out.join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    let bench = protox::compile(["answerlog/bench/v1/echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .out_dir(&bench_dir)
        .build_server(true)
        .build_client(true)
        .compile_fds(bench)?;

    let events_dir = out.join("events");
    std::fs::create_dir_all(&events_dir)?;
    let events = protox::compile(["answerlog/v1/events.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .out_dir(&events_dir)
        .build_server(false)
        .build_client(false)
        .compile_fds(events)?;
    Ok(())
}
