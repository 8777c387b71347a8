//! Hostile input, generated: proptest makes requests for every RPC of the
//! API from its descriptors (random strings, huge ones among them, ids,
//! versions, dates, page tokens, nested messages and lists) and raw bytes
//! sent as request bodies. No call may panic the server or be answered
//! INTERNAL, UNKNOWN or DATA_LOSS; afterwards the log verifies and the
//! read models equal an offline rebuild. On sled and on a JetStream replica.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::VerifyLogRequest;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::Code;

use crate::support::{assert_read_models_equal_a_rebuild, create_article, Backend, TestServer};

/// Generated typed requests, and raw bodies.
const TYPED_CASES: u32 = 1500;
const RAW_CASES: u32 = 500;

/// Every method of the answerlog API.
fn methods() -> Vec<MethodDescriptor> {
    let pool = DescriptorPool::decode(answerlog::pb::FILE_DESCRIPTOR_SET).unwrap();
    pool.services()
        .filter(|s| s.full_name().starts_with("answerlog.v1."))
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .collect()
}

/// Makes values for fields, biased by what the field's name says it holds,
/// and now and then something far out of bounds.
struct Maker<'a> {
    rng: StdRng,
    known_ids: &'a [String],
}

impl Maker<'_> {
    fn text(&mut self, field: &str) -> String {
        let r = self.rng.random_range(0..100);
        if r < 2 {
            // Huge: past every limit, up to twice the request limit.
            let n = self.rng.random_range(300_000..2_100_000);
            return "x".repeat(n);
        }
        if r < 12 {
            let n = self.rng.random_range(0..300);
            return self.garbage(n);
        }
        let known = self.known_ids[self.rng.random_range(0..self.known_ids.len())].clone();
        match field {
            f if f.ends_with("id") || f.ends_with("ids") => match self.rng.random_range(0..4) {
                0 => known,
                1 => uuid::Uuid::now_v7().to_string(),
                2 => known.to_uppercase(),
                _ => format!("{known}-"),
            },
            "slug" => match self.rng.random_range(0..3) {
                0 => "what-causes-jmt".into(),
                1 => uuid::Uuid::now_v7().to_string(),
                _ => format!("slug-{}", self.rng.random::<u32>()),
            },
            f if f.contains("updated") || f.contains("accessed") || f == "date" => {
                match self.rng.random_range(0..4) {
                    0 => "2026-01-02".into(),
                    1 => "2026-02-30".into(),
                    2 => "9999-12-31".into(),
                    _ => format!(
                        "{}-{}-{}",
                        self.rng.random::<i16>(),
                        self.rng.random::<u8>(),
                        self.rng.random::<u8>()
                    ),
                }
            }
            "page_token" => match self.rng.random_range(0..3) {
                0 => "AAAAAAAAAAE".into(),
                1 => "%%%".into(),
                _ => self.garbage(24),
            },
            "url" => format!("https://example.org/{}", self.rng.random::<u32>()),
            "event_kinds" => {
                ["SectionEdited", "ArticleCreated", "Nope", ""][self.rng.random_range(0..4)].into()
            }
            _ => {
                let n = self.rng.random_range(0..80);
                self.garbage(n)
            }
        }
    }

    /// Any characters: control characters, combining marks, astral planes.
    fn garbage(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| match self.rng.random_range(0..6) {
                0 => char::from(self.rng.random_range(0u8..32)),
                1 => char::from_u32(self.rng.random_range(0x300..0x370)).unwrap_or('?'),
                2 => char::from_u32(self.rng.random_range(0x1F600..0x1F650)).unwrap_or('?'),
                _ => char::from(self.rng.random_range(32u8..127)),
            })
            .collect()
    }

    fn number(&mut self) -> u64 {
        match self.rng.random_range(0..6) {
            0 => 0,
            1 => 1,
            2 => self.rng.random_range(2..10),
            3 => u64::MAX,
            4 => i64::MAX as u64 + 1,
            _ => self.rng.random(),
        }
    }

    fn value(&mut self, field: &FieldDescriptor, depth: usize) -> Option<Value> {
        let name = field.name();
        Some(match field.kind() {
            Kind::String => Value::String(self.text(name)),
            Kind::Bytes => Value::Bytes(self.garbage(40).into_bytes().into()),
            Kind::Bool => Value::Bool(self.rng.random()),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(self.number()),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(self.number() as u32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(self.number() as i64),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Value::I32(match self.rng.random_range(0..4) {
                    0 => -1,
                    1 => i32::MAX,
                    _ => self.rng.random_range(0..300),
                })
            }
            Kind::Double => Value::F64(self.rng.random()),
            Kind::Float => Value::F32(self.rng.random()),
            Kind::Enum(e) => {
                Value::EnumNumber(self.rng.random_range(-1..e.values().len() as i32 + 2))
            }
            Kind::Message(m) => {
                if depth > 3 {
                    return None;
                }
                if m.full_name() == "google.protobuf.Timestamp" {
                    let mut t = DynamicMessage::new(m.clone());
                    t.set_field_by_name(
                        "seconds",
                        Value::I64(self.number() as i64 % 400_000_000_000),
                    );
                    t.set_field_by_name(
                        "nanos",
                        Value::I32(self.rng.random_range(-5..1_000_000_005)),
                    );
                    return Some(Value::Message(t));
                }
                Value::Message(self.message(&m, depth + 1))
            }
        })
    }

    fn message(&mut self, desc: &MessageDescriptor, depth: usize) -> DynamicMessage {
        let mut message = DynamicMessage::new(desc.clone());
        for field in desc.fields() {
            // Leave some fields out; of a oneof, the last one set wins.
            if self.rng.random_range(0..4) == 0 || field.is_map() {
                continue;
            }
            if field.is_list() {
                let n = if self.rng.random_range(0..50) == 0 {
                    self.rng.random_range(0..400)
                } else {
                    self.rng.random_range(0..4)
                };
                let items: Vec<Value> = (0..n).filter_map(|_| self.value(&field, depth)).collect();
                message.set_field(&field, Value::List(items));
            } else if let Some(value) = self.value(&field, depth) {
                message.set_field(&field, value);
            }
        }
        message
    }
}

/// Sends `body` to `method` as it is; the status code it got.
/// The status a call ended with (`Ok` for an answer).
async fn send(channel: Channel, method: &MethodDescriptor, body: Vec<u8>) -> tonic::Status {
    let path = PathAndQuery::try_from(format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
    if let Err(e) = grpc.ready().await {
        return tonic::Status::unavailable(e.to_string());
    }
    let mut request = tonic::Request::new(body);
    // Short: a wait for a far min_position is answered DEADLINE_EXCEEDED.
    request.set_timeout(std::time::Duration::from_millis(150));
    if method.is_server_streaming() {
        // The stream's first answer (or its status) is enough.
        match grpc
            .server_streaming(request, path, crate::support::RawCodec)
            .await
        {
            Ok(response) => {
                let mut stream = response.into_inner();
                match tokio::time::timeout(std::time::Duration::from_millis(200), stream.message())
                    .await
                {
                    Ok(Err(status)) => status,
                    _ => tonic::Status::ok(""),
                }
            }
            Err(status) => status,
        }
    } else {
        match grpc.unary(request, path, crate::support::RawCodec).await {
            Ok(_) => tonic::Status::ok(""),
            Err(status) => status,
        }
    }
}

fn forbidden(code: Code) -> bool {
    matches!(code, Code::Internal | Code::Unknown | Code::DataLoss)
}

mod sled {
    #[test]
    fn generated_requests_for_every_rpc_never_break_the_server() {
        super::generated_requests_never_break(super::Backend::Sled);
    }
}

mod jetstream {
    #[test]
    fn generated_requests_for_every_rpc_never_break_the_server() {
        super::generated_requests_never_break(super::Backend::JetStream);
    }
}

fn generated_requests_never_break(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start(backend));
    let channel = runtime.block_on(server.channel());
    let mut known_ids = Vec::new();
    for n in 0..3 {
        known_ids.push(runtime.block_on(create_article(&server, n)));
    }
    let methods = methods();
    assert!(methods.len() >= 30, "{} methods", methods.len());
    let codes = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let sent = AtomicUsize::new(0);

    // Typed requests: a method and a seed for the values of its fields.
    let mut runner = TestRunner::new(Config {
        cases: TYPED_CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(0..methods.len(), any::<u64>()), |(m, seed)| {
            let method = &methods[m];
            let mut maker = Maker {
                rng: StdRng::seed_from_u64(seed),
                known_ids: &known_ids,
            };
            let body = maker.message(&method.input(), 0).encode_to_vec();
            let status = runtime.block_on(send(channel.clone(), method, body));
            let code = status.code();
            sent.fetch_add(1, Ordering::Relaxed);
            *codes
                .lock()
                .unwrap()
                .entry(format!("{code:?}"))
                .or_insert(0) += 1;
            prop_assert!(
                !forbidden(code),
                "{} answered {code:?} (seed {seed}): {}",
                method.full_name(),
                status.message()
            );
            Ok(())
        })
        .unwrap();

    // Raw bytes as request bodies.
    let mut runner = TestRunner::new(Config {
        cases: RAW_CASES,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(
                0..methods.len(),
                prop::collection::vec(any::<u8>(), 0..4096),
            ),
            |(m, bytes)| {
                let method = &methods[m];
                let status = runtime.block_on(send(channel.clone(), method, bytes));
                let code = status.code();
                sent.fetch_add(1, Ordering::Relaxed);
                prop_assert!(
                    !forbidden(code),
                    "{} answered {code:?} to raw bytes: {}",
                    method.full_name(),
                    status.message()
                );
                Ok(())
            },
        )
        .unwrap();
    println!(
        "hostile input: {} generated requests to {} methods; status codes {:?}",
        sent.load(Ordering::Relaxed),
        methods.len(),
        codes.lock().unwrap()
    );

    // The store is whole: the log verifies, the read models equal a rebuild.
    let verified = runtime
        .block_on(AuditServiceClient::new(channel).verify_log(VerifyLogRequest::default()))
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    let dir = runtime.block_on(server.stop());
    runtime.block_on(assert_read_models_equal_a_rebuild(dir.path()));
}
