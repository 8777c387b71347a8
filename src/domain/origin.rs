//! Origin claims: what another system's history says of a revision that
//! is imported (`OriginClaims`), checked before a commit holds them.

use super::error::DomainError;
use super::event::{OriginClaims, SUPPRESSIBLE};
use super::validate::{Text, Violations};

/// The request field the claims come in.
const FIELD: &str = "origin";

/// Checks claims as an import gives them, every violation named by its
/// field (`origin.revision_id`, …).
pub(crate) fn check_origin_claims(claims: &OriginClaims) -> Result<(), DomainError> {
    let mut v = Violations::default();
    let field = |name: &str| format!("{FIELD}.{name}");
    v.text(&field("origin"), &claims.origin, Text::line(512));
    v.text(&field("revision_id"), &claims.revision_id, Text::line(128));
    v.text(
        &field("parent_revision_id"),
        &claims.parent_revision_id,
        Text::line(128).optional(),
    );
    v.text(&field("actor"), &claims.actor, Text::line(256).optional());
    v.text(
        &field("comment"),
        &claims.comment,
        Text::line(2048).optional(),
    );
    v.text(&field("kind"), &claims.kind, Text::line(128).optional());
    v.text(&field("format"), &claims.format, Text::line(64).optional());
    v.text(
        &field("license"),
        &claims.license,
        Text::line(128).optional(),
    );
    if claims.sha1.len() > 64 || !claims.sha1.bytes().all(|b| b.is_ascii_alphanumeric()) {
        v.push(
            field("sha1"),
            "must be at most 64 letters and digits, as the source writes its checksum",
        );
    }
    let mut last = None;
    for (i, part) in claims.suppressed.iter().enumerate() {
        let Some(at) = SUPPRESSIBLE.iter().position(|p| p == part) else {
            v.push(
                format!("{FIELD}.suppressed[{i}]"),
                format!("must be one of {}", SUPPRESSIBLE.join(", ")),
            );
            continue;
        };
        if last.is_some_and(|l| l >= at) {
            v.push(
                format!("{FIELD}.suppressed[{i}]"),
                format!("each part once, in the order {}", SUPPRESSIBLE.join(", ")),
            );
        }
        last = Some(at);
        let given = match part.as_str() {
            "actor" => !claims.actor.is_empty(),
            "comment" => !claims.comment.is_empty(),
            _ => false,
        };
        if given {
            v.push(
                field(part),
                format!("must be empty: the claims say the source suppressed the {part}"),
            );
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(v.into_inner()))
    }
}

/// What claims would be refused for, if anything (the first violation, as
/// `field: why`): for an importer, to skip a revision rather than stop.
pub(crate) fn origin_problem(claims: &OriginClaims) -> Option<String> {
    match check_origin_claims(claims) {
        Ok(()) => None,
        Err(DomainError::Invalid(violations)) => violations
            .into_iter()
            .next()
            .map(|v| format!("{}: {}", v.field, v.description)),
        Err(other) => Some(other.to_string()),
    }
}

/// The fields a refusal names, for tests.
#[cfg(test)]
fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Invalid(violations) => violations.into_iter().map(|v| v.field).collect(),
        other => panic!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> OriginClaims {
        OriginClaims {
            origin: "en.wikipedia.org/wiki/Tea".into(),
            revision_id: "1234567".into(),
            parent_revision_id: "1234500".into(),
            time: chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000),
            minor: true,
            suppressed: Vec::new(),
            actor: "Example editor".into(),
            comment: "copyedit".into(),
            sha1: "phoiac9h4m842xq45sp7s6u21eteeq1".into(),
            kind: "edit body".into(),
            format: "wikitext".into(),
            license: "CC BY-SA 4.0".into(),
        }
    }

    #[test]
    fn claims_as_a_source_gives_them_pass() {
        check_origin_claims(&claims()).unwrap();
        // A first revision, a suppressed user and comment, no checksum.
        check_origin_claims(&OriginClaims {
            parent_revision_id: String::new(),
            suppressed: vec!["actor".into(), "comment".into(), "text".into()],
            actor: String::new(),
            comment: String::new(),
            sha1: String::new(),
            ..claims()
        })
        .unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        let bad = OriginClaims {
            origin: String::new(),
            revision_id: "x".repeat(129),
            parent_revision_id: "a\nb".into(),
            comment: "c".repeat(2049),
            sha1: "not hex!".into(),
            suppressed: vec!["text".into(), "text".into(), "body".into()],
            kind: "k".repeat(129),
            format: "mark\ndown".into(),
            license: "l".repeat(129),
            ..claims()
        };
        assert_eq!(
            fields(check_origin_claims(&bad).unwrap_err()),
            [
                "origin.origin",
                "origin.revision_id",
                "origin.parent_revision_id",
                "origin.comment",
                "origin.kind",
                "origin.format",
                "origin.license",
                "origin.sha1",
                "origin.suppressed[1]",
                "origin.suppressed[2]",
            ]
        );
        // A part the source suppressed is not also given.
        let both = OriginClaims {
            suppressed: vec!["actor".into()],
            ..claims()
        };
        assert_eq!(
            fields(check_origin_claims(&both).unwrap_err()),
            ["origin.actor"]
        );
    }
}
