//! Where the JSON API's requests go: `POST /api/v1/{Service}/{Method}`
//! with the request message's JSON for every unary method of the API, and
//! the readable paths below, each a GET onto one method whose request
//! fields come from the path and the query string (by their proto or JSON
//! names).

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use serde_json::{Map, Value};

/// The API's package: only its services are served.
pub(crate) const PACKAGE: &str = "answerlog.v1";

/// A readable path onto a method: `{name}` segments are request fields
/// (`{ref}` is an article: the request's `id` or `slug` where it takes
/// either, else its `article_id`).
pub(crate) struct Alias {
    pub(crate) path: &'static str,
    pub(crate) method: &'static str,
    pub(crate) summary: &'static str,
}

pub(crate) const ALIASES: [Alias; 10] = [
    Alias {
        path: "/api/v1/answers",
        method: "AnswerService/ListAnswers",
        summary: "Published answers, a page at a time",
    },
    Alias {
        path: "/api/v1/answers/{ref}",
        method: "AnswerService/GetAnswer",
        summary: "An answer by id or slug: current, or as of a version or time",
    },
    Alias {
        path: "/api/v1/articles/{ref}/revisions",
        method: "AuditService/ListRevisions",
        summary: "An article's revisions: who, when, why",
    },
    Alias {
        path: "/api/v1/articles/{ref}/revisions/{version}",
        method: "AuditService/GetRevision",
        summary: "One commit of an article in full",
    },
    Alias {
        path: "/api/v1/articles/{ref}/diff",
        method: "AuditService/DiffVersions",
        summary: "What changed between two versions",
    },
    Alias {
        path: "/api/v1/articles/{ref}/attribution",
        method: "AuditService/GetAttribution",
        summary: "Blame: the commit that last changed each part",
    },
    Alias {
        path: "/api/v1/commits",
        method: "AuditService/ListCommits",
        summary: "Commits across articles in log order, filtered",
    },
    Alias {
        path: "/api/v1/freshness",
        method: "AuditService/GetFreshnessReport",
        summary: "Re-dates with no content change since the date was last set",
    },
    Alias {
        path: "/api/v1/checkpoint",
        method: "AuditService/GetCheckpoint",
        summary: "The latest signed checkpoint of the log's Merkle tree",
    },
    Alias {
        path: "/api/v1/consistency",
        method: "AuditService/GetConsistencyProof",
        summary: "RFC 6962's consistency proof between two tree sizes",
    },
];

/// The unary method `Service/Method` of the API, if there is one.
pub(crate) fn method(pool: &DescriptorPool, name: &str) -> Option<MethodDescriptor> {
    let (service, method) = name.split_once('/')?;
    pool.get_service_by_name(&format!("{PACKAGE}.{service}"))?
        .methods()
        .find(|m| m.name() == method && !m.is_client_streaming() && !m.is_server_streaming())
}

/// The alias `path` matches, with its path segments' values by name.
pub(crate) fn alias(path: &str) -> Option<(&'static Alias, Vec<(&'static str, String)>)> {
    let given: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ALIASES.iter().find_map(|alias| {
        let pattern: Vec<&str> = alias.path.split('/').collect();
        if pattern.len() != given.len() {
            return None;
        }
        let mut values = Vec::new();
        for (p, g) in pattern.iter().zip(&given) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !g.is_empty() => values.push((name, decode(g))),
                Some(_) => return None,
                None if p == g => {}
                None => return None,
            }
        }
        Some((alias, values))
    })
}

/// A path segment percent-decoded (a `+` stays a `+` in a path).
fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The request's JSON from the path's values and the query string: each
/// name a field of `input` (its proto or JSON name), each value typed as
/// the field is. `Err` names the parameter that is wrong.
pub(crate) fn request_json(
    input: &MessageDescriptor,
    path: &[(&'static str, String)],
    query: Option<&str>,
) -> Result<Value, (String, String)> {
    let mut object = Map::new();
    for (name, value) in path {
        if *name == "ref" {
            let field = if input.get_field_by_name("slug").is_none() {
                "articleId"
            } else if crate::domain::is_uuid_shaped(value) {
                "id"
            } else {
                "slug"
            };
            object.insert(field.to_owned(), Value::String(value.clone()));
            continue;
        }
        put(input, &mut object, name, value)?;
    }
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        put(input, &mut object, &name, &value)?;
    }
    Ok(Value::Object(object))
}

fn field_of(input: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    input
        .get_field_by_name(name)
        .or_else(|| input.get_field_by_json_name(name))
}

fn put(
    input: &MessageDescriptor,
    object: &mut Map<String, Value>,
    name: &str,
    text: &str,
) -> Result<(), (String, String)> {
    let wrong = |why: String| (name.to_owned(), why);
    let field = field_of(input, name)
        .ok_or_else(|| wrong(format!("is not a field of {}", input.name())))?;
    let value = match field.kind() {
        Kind::Bool => match text {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(wrong("must be true or false".into())),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::Number(
            text.parse::<i32>()
                .map_err(|_| wrong("must be a whole number of 32 bits".into()))?
                .into(),
        ),
        Kind::Uint32 | Kind::Fixed32 => Value::Number(
            text.parse::<u32>()
                .map_err(|_| wrong("must be a whole number of 32 bits, 0 or more".into()))?
                .into(),
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            text.parse::<i64>()
                .map_err(|_| wrong("must be a whole number".into()))?;
            Value::String(text.to_owned())
        }
        Kind::Uint64 | Kind::Fixed64 => {
            text.parse::<u64>()
                .map_err(|_| wrong("must be a whole number, 0 or more".into()))?;
            Value::String(text.to_owned())
        }
        Kind::Double | Kind::Float => serde_json::Number::from_f64(
            text.parse::<f64>()
                .map_err(|_| wrong("must be a number".into()))?,
        )
        .map(Value::Number)
        .ok_or_else(|| wrong("must be a finite number".into()))?,
        Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => {
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| wrong("must be an RFC 3339 time, e.g. 2026-12-05T10:00:00Z".into()))?;
            Value::String(text.to_owned())
        }
        Kind::Message(m) if !is_scalar_message(&m) => {
            return Err(wrong("is a message: send it in a POST's JSON body".into()))
        }
        // Strings, bytes (base64), enums (by name) and timestamps (RFC
        // 3339) as given: the JSON mapping's parser names what is wrong.
        _ => Value::String(text.to_owned()),
    };
    let key = field.json_name().to_owned();
    if field.is_list() {
        match object
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(items) => items.push(value),
            _ => return Err(wrong("is given twice".into())),
        }
    } else if object.insert(key, value).is_some() {
        return Err(wrong("is given twice".into()));
    }
    Ok(())
}

/// A message the JSON mapping writes as one string (a timestamp, a
/// duration).
pub(crate) fn is_scalar_message(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp" | "google.protobuf.Duration"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_names_a_unary_method_and_its_fields() {
        let pool = crate::grpc::descriptors();
        for alias in &ALIASES {
            let method = method(pool, alias.method).unwrap_or_else(|| panic!("{}", alias.method));
            let concrete = alias.path.replace(['{', '}'], "");
            let (found, values) = super::alias(&concrete).expect(alias.path);
            assert_eq!(found.path, alias.path);
            for (name, _) in values.iter().filter(|(n, _)| *n != "ref") {
                assert!(
                    field_of(&method.input(), name).is_some(),
                    "{}: {name}",
                    alias.path
                );
            }
        }
        assert!(
            method(pool, "AuditService/StreamEvents").is_none(),
            "streams are not served"
        );
    }

    #[test]
    fn a_query_is_typed_by_its_fields() {
        let pool = crate::grpc::descriptors();
        let input = method(pool, "AnswerService/GetAnswer").unwrap().input();
        let (_, path) = alias("/api/v1/answers/what-causes-jmt").unwrap();
        let json = request_json(&input, &path, Some("version=3&receipt=true")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"slug": "what-causes-jmt", "version": "3", "receipt": true})
        );
        assert_eq!(
            request_json(&input, &path, Some("receipt=maybe"))
                .unwrap_err()
                .0,
            "receipt"
        );
        assert_eq!(
            request_json(&input, &path, Some("colour=red"))
                .unwrap_err()
                .0,
            "colour"
        );
    }
}
