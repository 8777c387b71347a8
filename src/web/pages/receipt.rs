//! What the answer page's badge checks, in one JSON document at
//! `/a/{ref}/receipt?version=N`: the answer as the API serves it (the
//! protobuf JSON mapping, from which the browser computes its digest),
//! its receipt (a C2SP tlog-proof, as text), and the verifier key the
//! server offers — which the browser pins on first use and never takes
//! again on the server's word (docs/AUDIT.md, "Receipts"). Read with the
//! session, like the page; auditors' through InspectAnswer, so that a
//! retracted version has a badge too.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use prost_reflect::DynamicMessage;
use serde_json::{json, Value};

use super::{call, gateway, may, respond, Asked, Caller, Refusal, Web};
use crate::grpc::pb;
use crate::principals::Right;

pub(super) async fn json(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Response<Full<Bytes>> {
    match document(web, caller, asked, reference).await {
        Ok(document) => respond(StatusCode::OK, document.to_string(), "application/json"),
        Err(refusal) => respond(
            refusal.status,
            json!({ "error": refusal.message }).to_string(),
            "application/json",
        ),
    }
}

async fn document(
    web: &Web,
    caller: &Caller,
    asked: &Asked,
    reference: &str,
) -> Result<Value, Refusal> {
    let name = if may(caller, Right::Audit) {
        "AuditService/InspectAnswer"
    } else {
        "AnswerService/GetAnswer"
    };
    let method = super::super::routes::method(crate::grpc::descriptors(), name)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("no method {name}")))?;
    let mut request = json!({ "receipt": true });
    let by = if crate::domain::is_uuid_shaped(reference) {
        "id"
    } else {
        "slug"
    };
    request[by] = json!(reference);
    if let Some(version) = asked.version("version")? {
        request["version"] = json!(version.to_string());
    }
    let message = DynamicMessage::deserialize(method.input(), request)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let answered = gateway::call(
        &web.grpc,
        &method,
        &message,
        caller.authorization.as_ref(),
        None,
    )
    .await
    .map_err(|status| Refusal::from_status(&status))?;
    let mut answered = serde_json::to_value(&answered)
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let receipt = answered["receipt"]
        .as_str()
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            Refusal::new(StatusCode::BAD_GATEWAY, "the answer came without a receipt")
        })?;
    let checkpoint: pb::GetCheckpointResponse = call(
        web,
        caller,
        "/answerlog.v1.AuditService/GetCheckpoint",
        &pb::GetCheckpointRequest { min_position: 0 },
    )
    .await?;
    Ok(json!({
        "answer": answered["answer"].take(),
        "receipt": receipt,
        "verifierKey": checkpoint.verifier_key,
    }))
}
