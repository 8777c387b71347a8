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
    // The commit `answerlog --version` names: git's, where the source is a
    // clone; "unknown" in a source tree without one.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ANSWERLOG_COMMIT={commit}");
    // Built again when HEAD moves: HEAD itself, the branch it names, and
    // packed-refs, wherever git keeps them (a worktree's `.git` is a file).
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let mut watched = vec![
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ];
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }

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
        // Undecodable request bytes are INVALID_ARGUMENT, not INTERNAL;
        // streamed messages go into buffers sized for streams.
        .codec_path("crate::grpc::codec::ApiCodec")
        // Written by hand, to send an answer's kept encoding: the same
        // message on the wire (src/grpc/answer_response.rs).
        .extern_path(
            ".answerlog.v1.GetAnswerResponse",
            "crate::grpc::answer_response::GetAnswerResponse",
        )
        // Written by hand, to send a commit made from its stored bytes:
        // the same message on the wire (src/grpc/stream_response.rs).
        .extern_path(
            ".answerlog.v1.StreamEventsResponse",
            "crate::grpc::stream_response::StreamEventsResponse",
        )
        .build_server(true)
        .build_client(true)
        .compile_fds(api)?;

    let bench_dir = out.join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    let bench = protox::compile(["answerlog/bench/v1/echo.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .out_dir(&bench_dir)
        // The server's codec, its stream buffers for the bare stream.
        .codec_path("crate::cli::bench::echo::EchoCodec")
        .build_server(true)
        .build_client(true)
        .compile_fds(bench)?;

    let events_dir = out.join("events");
    std::fs::create_dir_all(&events_dir)?;
    let events = protox::compile(["answerlog/v1/events.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .out_dir(&events_dir)
        // A commit's ids, hashes and salts decode as `Bytes`: from a
        // `Bytes` (the log's range reads hand records out as slices of
        // the chunk read), slices of it, no allocation or copy a field;
        // from a `&[u8]`, one of each, where a `Vec` took two (prost
        // decodes a bytes field by way of a `Bytes`). Reading the log (a
        // catch-up, a replay) decodes every commit.
        .bytes(".answerlog.v1.CommitRecord")
        .bytes(".answerlog.v1.RedactionRecord")
        .bytes(".answerlog.v1.CommitHeadRecord")
        .bytes(".answerlog.v1.CommitEventsRecord")
        .build_server(false)
        .build_client(false)
        .compile_fds(events)?;
    Ok(())
}
