//! Origin claims through the real server (issue 16; docs/AUDIT.md,
//! "Commit hash v2"): an imported command carries what its source says of
//! the revision, which the commit ends with as an `OriginClaimed` event;
//! a command that changes nothing still makes a commit of its claims; the
//! claims count in the request a retry is told by; bad claims are refused
//! naming the field; and `answerlog redact --origin-claims` removes the
//! source's user, comment and checksum while the rest stays and every
//! export still verifies.

use answerlog::pb::admin_service_client::AdminServiceClient;
use answerlog::pb::import_command::Command as Arm;
use answerlog::pb::*;
use tonic::Code;

use crate::backend_tests;
use crate::support::{cid, export_verifies, Backend, TestServer};

backend_tests!(an_imported_commit_keeps_its_origin_claims_and_they_can_be_redacted);

/// Who the source says made the revision: what a redaction must remove.
const SOURCE_USER: &str = "Jane Importedname";

fn claims(revision: &str, parent: &str) -> OriginClaims {
    OriginClaims {
        origin: "en.wikipedia.org/wiki/Juvenile_dermatomyositis".into(),
        revision_id: revision.into(),
        parent_revision_id: parent.into(),
        // Whole microseconds: the hash covers them exactly.
        time: Some(prost_types::Timestamp {
            seconds: 1_300_000_000,
            nanos: 123_456_000,
        }),
        minor: parent.is_empty(),
        suppressed: Vec::new(),
        actor: SOURCE_USER.into(),
        comment: format!("revision {revision}: copyedit"),
        sha1: "phoiac9h4m842xq45sp7s6u21eteeq1".into(),
        // A first revision as claims made before these three existed; the
        // others say them (the hash covers them only then).
        kind: if parent.is_empty() { "" } else { "edit body" }.into(),
        format: if parent.is_empty() { "" } else { "markdown" }.into(),
        license: if parent.is_empty() {
            ""
        } else {
            "CC BY-SA 4.0"
        }
        .into(),
    }
}

fn edit(article: &str, expected_version: u64, text: &str, claims: OriginClaims) -> ImportCommand {
    ImportCommand {
        command: Some(Arm::EditQuickAnswer(EditQuickAnswerRequest {
            article_id: article.into(),
            expected_version,
            command_id: cid(),
            reason: "imported from the wiki".into(),
            quick_answer: text.into(),
        })),
        origin: Some(claims),
    }
}

/// One import call: its answers, or the status that ended it.
async fn import(
    server: &TestServer,
    commands: Vec<ImportCommand>,
) -> Result<Vec<ImportResult>, tonic::Status> {
    let mut stream = AdminServiceClient::new(server.channel().await)
        .import_commits(tokio_stream::iter(vec![ImportCommitsRequest { commands }]))
        .await?
        .into_inner();
    let mut results = Vec::new();
    while let Some(answer) = stream.message().await? {
        results.extend(answer.results);
    }
    Ok(results)
}

fn claimed(event: &Event) -> &OriginClaims {
    match &event.payload {
        Some(event::Payload::OriginClaimed(c)) => c,
        other => panic!("not an OriginClaimed: {other:?}"),
    }
}

async fn an_imported_commit_keeps_its_origin_claims_and_they_can_be_redacted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let id = server.import_example().await;
    let commands = vec![
        edit(&id, 1, "Imported quick answer.", claims("1002", "1001")),
        // The same text again: a null revision, kept as its claims alone.
        edit(&id, 2, "Imported quick answer.", claims("1003", "1002")),
    ];
    let results = import(&server, commands.clone()).await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.version).collect::<Vec<_>>(),
        [2, 3]
    );

    let edited = server.revision(&id, 2).await;
    let kinds: Vec<&str> = edited.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["QuickAnswerEdited", "OriginClaimed"]);
    assert_eq!(*claimed(&edited.events[1]), claims("1002", "1001"));
    let revision_of = edited.revision.as_ref().unwrap();
    assert_eq!(revision_of.reason, "imported from the wiki");
    assert_ne!(revision_of.actor, SOURCE_USER, "the actor is the importer");
    let null = server.revision(&id, 3).await;
    assert_eq!(null.events.len(), 1);
    assert_eq!(*claimed(&null.events[0]), claims("1003", "1002"));

    // Sent again: the originals. The same command ids with other claims
    // are other requests.
    let again = import(&server, commands.clone()).await.unwrap();
    assert!(again.iter().all(|r| r.duplicate), "{again:?}");
    let mut other = commands[0].clone();
    other.origin.as_mut().unwrap().comment = "another comment".into();
    let reused = import(&server, vec![other]).await.unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert!(
        reused
            .message()
            .contains("already used for a different request"),
        "{reused:?}"
    );

    // Bad claims are refused, naming the field; nothing is written.
    for (field, spoil) in [
        (
            "origin.revision_id",
            Box::new(|c: &mut OriginClaims| c.revision_id.clear())
                as Box<dyn Fn(&mut OriginClaims)>,
        ),
        (
            "origin.time",
            Box::new(|c: &mut OriginClaims| c.time.as_mut().unwrap().nanos = 1),
        ),
        (
            // Past what an export can write.
            "origin.time",
            Box::new(|c: &mut OriginClaims| {
                c.time = Some(prost_types::Timestamp {
                    seconds: 253_402_300_800,
                    nanos: 0,
                })
            }),
        ),
        (
            "origin.suppressed[0]",
            Box::new(|c: &mut OriginClaims| c.suppressed = vec!["body".into()]),
        ),
        (
            "origin.actor",
            Box::new(|c: &mut OriginClaims| c.suppressed = vec!["actor".into()]),
        ),
    ] {
        let mut bad = edit(&id, 3, "Never written.", claims("1004", "1003"));
        spoil(bad.origin.as_mut().unwrap());
        let refused = import(&server, vec![bad]).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {refused:?}"
        );
        assert!(refused.message().contains(field), "{field}: {refused:?}");
    }
    assert_eq!(server.revision(&id, 3).await.events.len(), 1);

    // The source's user goes; what the claims say of where and when stays.
    let redacted = server
        .cli(&[
            "redact",
            &id,
            "--version",
            "2",
            "--origin-claims",
            "--reason",
            "the user asked to be forgotten",
        ])
        .await;
    assert!(redacted.success, "{}", redacted.stderr);
    let after = server.revision(&id, 2).await;
    let kept = claimed(&after.events[1]);
    assert_eq!(
        (
            kept.actor.as_str(),
            kept.comment.as_str(),
            kept.sha1.as_str()
        ),
        ("[redacted]", "[redacted]", "[redacted]")
    );
    assert_eq!(
        (kept.origin.as_str(), kept.revision_id.as_str(), kept.time),
        (
            claims("1002", "1001").origin.as_str(),
            "1002",
            claims("1002", "1001").time
        )
    );
    assert_eq!(after.events[1].redaction.as_ref().unwrap().by_position, 4);
    assert!(after.events[0].redaction.is_none(), "the edit stays");
    // Salted: the redaction warns of nothing, and is itself a commit.
    assert!(!redacted.stderr.contains("warning"), "{}", redacted.stderr);
    let redaction = server.revision(&id, 4).await;
    assert_eq!(redaction.events[0].kind, "PayloadRedacted");
    assert_eq!(
        redaction.revision.unwrap().reason,
        "the user asked to be forgotten"
    );

    // A commit without claims has none to redact.
    let none = server
        .cli(&[
            "redact",
            &id,
            "--version",
            "1",
            "--origin-claims",
            "--reason",
            "nothing there",
        ])
        .await;
    assert!(!none.success);
    assert!(
        none.stderr.contains("holds no origin claims"),
        "{}",
        none.stderr
    );

    let export = export_verifies(&server).await;
    assert!(export.contains("\"originClaimed\""), "{export}");
    // The null revision's claims still name the user: only version 2's went.
    assert_eq!(export.matches(SOURCE_USER).count(), 1, "{export}");
    let log = server.verify_log().await;
    assert!(log.ok, "{log:?}");
    server.stop().await;
}
