//! `/api/v1/openapi.json`: the JSON API's OpenAPI 3.1 document, generated
//! from the compiled-in protobuf descriptors (the API's one definition),
//! never written by hand. Every unary method is a POST of its request
//! message's JSON; each alias a GET with its fields as parameters; every
//! message reachable from them a schema, as the protobuf JSON mapping
//! writes it (lowerCamelCase names, 64-bit integers as strings, RFC 3339
//! timestamps, enums by name).

use std::collections::BTreeMap;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use super::routes::{is_scalar_message, method, ALIASES, PACKAGE};

/// The document.
pub(crate) fn document(pool: &DescriptorPool) -> Value {
    let mut schemas = BTreeMap::new();
    let mut paths = Map::new();
    for service in pool.services().filter(|s| s.package_name() == PACKAGE) {
        for m in service.methods() {
            if m.is_client_streaming() || m.is_server_streaming() {
                continue;
            }
            reach(&m.input(), &mut schemas);
            reach(&m.output(), &mut schemas);
            let path = format!("/api/v1/{}/{}", service.name(), m.name());
            paths.insert(
                path,
                json!({"post": {
                    "operationId": format!("{}.{}", service.name(), m.name()),
                    "tags": [service.name()],
                    "summary": format!("{}.{} (proto/answerlog/v1/answerlog.proto)", service.name(), m.name()),
                    "requestBody": {
                        "required": false,
                        "content": {"application/json": {"schema": reference(&m.input())}},
                    },
                    "responses": responses(&m.output()),
                }}),
            );
        }
    }
    for alias in &ALIASES {
        let Some(m) = method(pool, alias.method) else {
            continue;
        };
        let input = m.input();
        let in_path: Vec<&str> = alias
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let mut parameters: Vec<Value> = in_path
            .iter()
            .map(|name| {
                let schema = input
                    .get_field_by_name(name)
                    .map_or_else(|| json!({"type": "string"}), |f| field_schema(&f));
                json!({"name": name, "in": "path", "required": true, "schema": schema,
                "description": match *name {
                    "ref" if input.get_field_by_name("slug").is_some() => "An article id or slug",
                    "ref" => "An article id",
                    _ => "",
                }})
            })
            .collect();
        for field in input.fields() {
            let covered = in_path.contains(&field.name())
                || (in_path.contains(&"ref")
                    && matches!(field.name(), "id" | "slug" | "article_id"));
            if covered || query_schema(&field).is_none() {
                continue;
            }
            parameters.push(json!({
                "name": field.json_name(), "in": "query", "required": false,
                "schema": query_schema(&field),
            }));
        }
        paths.insert(
            alias.path.to_owned(),
            json!({"get": {
                "operationId": alias.path.trim_start_matches("/api/v1/").replace(['/', '{', '}'], "_"),
                "tags": [m.parent_service().name()],
                "summary": alias.summary,
                "description": format!("{} as a GET: its request's fields from the path and the query.", alias.method),
                "parameters": parameters,
                "responses": responses(&m.output()),
            }}),
        );
    }
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}),
    );
    let mut components: Map<String, Value> = schemas
        .into_iter()
        .map(|(name, message)| (name, schema(&message)))
        .collect();
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "A refusal: the gRPC code's name, its message, and the details gRPC's BadRequest and ErrorInfo carry.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fieldViolations": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
                }},
                "errorInfo": {"type": "object", "properties": {
                    "reason": {"type": "string"}, "domain": {"type": "string"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                }},
            },
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "answerlog JSON API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The gRPC API (proto/answerlog/v1/answerlog.proto) as JSON over HTTP: the same rules, roles and limits, from the same services. Bodies are the protobuf JSON mapping of its messages.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

fn responses(output: &MessageDescriptor) -> Value {
    json!({
        "200": {"description": "OK", "content": {"application/json": {"schema": reference(output)}}},
        "default": {"description": "A refusal (docs: README, \"JSON API\")",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    })
}

fn reference(message: &MessageDescriptor) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", name(message))})
}

fn name(message: &MessageDescriptor) -> String {
    message
        .full_name()
        .strip_prefix(&format!("{PACKAGE}."))
        .unwrap_or(message.full_name())
        .to_owned()
}

/// Every message `message` holds, itself included, by schema name.
fn reach(message: &MessageDescriptor, out: &mut BTreeMap<String, MessageDescriptor>) {
    if is_scalar_message(message) || out.contains_key(&name(message)) {
        return;
    }
    out.insert(name(message), message.clone());
    for field in message.fields() {
        if let Kind::Message(inner) = field.kind() {
            if field.is_map() {
                if let Kind::Message(value) = inner.map_entry_value_field().kind() {
                    reach(&value, out);
                }
            } else {
                reach(&inner, out);
            }
        }
    }
}

fn schema(message: &MessageDescriptor) -> Value {
    let properties: Map<String, Value> = message
        .fields()
        .map(|f| (f.json_name().to_owned(), field_schema(&f)))
        .collect();
    // Unknown names are refused by the server; the proto names
    // (`article_id`) are taken as well as the JSON ones (`articleId`).
    json!({"type": "object", "properties": properties})
}

fn field_schema(field: &FieldDescriptor) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return json!({});
        };
        return json!({"type": "object",
                      "additionalProperties": kind_schema(&entry.map_entry_value_field().kind())});
    }
    let one = kind_schema(&field.kind());
    if field.is_list() {
        json!({"type": "array", "items": one})
    } else {
        one
    }
}

fn kind_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
        }
        // The JSON mapping writes 64-bit integers as strings and reads both.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"})
        }
        Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 0})
        }
        // The JSON mapping also writes "NaN", "Infinity" and "-Infinity".
        Kind::Double | Kind::Float => json!({"oneOf": [
            {"type": "number"},
            {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
        ]}),
        Kind::Enum(e) => {
            json!({"type": "string", "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>()})
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            json!({"type": "string", "format": "date-time"})
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
        }
        Kind::Message(m) => reference(m),
    }
}

/// The schema of a field given as a query parameter: scalars, lists of
/// them, timestamps; none for other messages.
fn query_schema(field: &FieldDescriptor) -> Option<Value> {
    match field.kind() {
        Kind::Message(m) if !is_scalar_message(&m) => None,
        _ if field.is_map() => None,
        _ => Some(field_schema(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unary_method_and_alias_is_a_path_and_every_reference_resolves() {
        let document = document(crate::grpc::descriptors());
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/v1/AnswerService/GetAnswer"));
        assert!(paths.contains_key("/api/v1/ArticleService/EditSection"));
        assert!(!paths.contains_key("/api/v1/AuditService/StreamEvents"));
        for alias in &ALIASES {
            assert!(paths.contains_key(alias.path), "{}", alias.path);
        }
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let text = document.to_string();
        for (at, _) in text.match_indices("#/components/schemas/") {
            let rest = &text[at + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced and not defined"
            );
        }
        assert_eq!(
            schemas["GetAnswerRequest"]["properties"]["version"]["pattern"],
            "^[0-9]+$"
        );
    }
}
