//! Every write request turned into the application's write: the envelope
//! checked, the command built, the request hashed. ArticleService's RPCs
//! and the bulk import share it, so that a command sent either way is the
//! same request (a retry of one is a retry of the other).

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Status;

use super::convert;
use super::pb::article_edit::Edit;
use super::pb::import_command::Command as Arm;
use super::pb::{ArticleEdit, ImportCommand};
use super::status::invalid;
use crate::app::{ArticleRef, Write, WriteMeta};
use crate::domain::{ArticleRevision, Command, RevisedSection};

/// How an edit may name its article.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Naming {
    /// `article_id` is an id (the write RPCs).
    Id,
    /// `article_id` is an id or a slug (the bulk import, whose articles
    /// may have been created earlier in the same call).
    IdOrSlug,
}

/// The field name of a write in `ImportCommand`.
pub(super) fn arm_name(arm: &Arm) -> &'static str {
    match arm {
        Arm::CreateArticle(_) => "create_article",
        Arm::EditQuestion(_) => "edit_question",
        Arm::ChangeSlug(_) => "change_slug",
        Arm::EditQuickAnswer(_) => "edit_quick_answer",
        Arm::ReplaceKeyFacts(_) => "replace_key_facts",
        Arm::AddSection(_) => "add_section",
        Arm::EditSection(_) => "edit_section",
        Arm::RemoveSection(_) => "remove_section",
        Arm::MoveSection(_) => "move_section",
        Arm::AddSource(_) => "add_source",
        Arm::EditSource(_) => "edit_source",
        Arm::RemoveSource(_) => "remove_source",
        Arm::RedateArticle(_) => "redate_article",
        Arm::ReviewArticle(_) => "review_article",
        Arm::RevertArticle(_) => "revert_article",
        Arm::RetractArticle(_) => "retract_article",
        Arm::RestoreArticle(_) => "restore_article",
        Arm::ReviseArticle(_) => "revise_article",
        Arm::AddSlugAlias(_) => "add_slug_alias",
        Arm::ApplyChanges(_) => "apply_changes",
    }
}

/// The write one command of a bulk import asks for, by `actor`. With
/// origin claims, the request a retry is told by is the whole command
/// (docs/AUDIT.md, "Request hashes"), so that the same command with other
/// claims is another request.
pub(super) fn import_write(actor: &str, item: ImportCommand) -> Result<Write, Status> {
    let claimed = match &item.origin {
        None => None,
        Some(m) => {
            let claims = convert::origin_claims(m)
                .map_err(|(field, why)| invalid(&format!("origin.{field}"), why))?;
            Some((claims, digest(actor, "ImportCommand", &item)))
        }
    };
    let arm = item
        .command
        .ok_or_else(|| invalid("command", "name the write to import"))?;
    let mut write = write(actor, arm, Naming::IdOrSlug)?;
    if let Some((claims, request_digest)) = claimed {
        let meta = write.meta_mut();
        meta.origin = Some(Box::new(claims));
        meta.request_digest = request_digest;
    }
    Ok(write)
}

/// The write a request asks for, by `actor`.
pub(super) fn write(actor: &str, arm: Arm, naming: Naming) -> Result<Write, Status> {
    /// An edit: its envelope (the fields every edit carries), then its
    /// command, built from the message once the envelope is checked.
    macro_rules! edit {
        ($m:ident, $rpc:literal, $variant:ident) => {{
            let (article, expected_version, meta) = envelope(
                actor,
                $rpc,
                &$m,
                [
                    $m.article_id.as_str(),
                    $m.command_id.as_str(),
                    $m.reason.as_str(),
                ],
                $m.expected_version,
                naming,
            )?;
            Write::Edit {
                article,
                expected_version,
                meta,
                command: command(Arm::$variant($m), "")?,
            }
        }};
    }
    Ok(match arm {
        Arm::CreateArticle(m) => {
            let meta = WriteMeta {
                command_id: convert::command_id(&m.command_id)?,
                request_digest: digest(actor, "CreateArticle", &m),
                reason: m.reason,
                actor: actor.to_owned(),
                origin: None,
            };
            let draft = m
                .article
                .ok_or_else(|| invalid("article", "the article to create is required"))?;
            Write::Create {
                draft: convert::draft(draft),
                meta,
            }
        }
        Arm::EditQuestion(m) => edit!(m, "EditQuestion", EditQuestion),
        Arm::ChangeSlug(m) => edit!(m, "ChangeSlug", ChangeSlug),
        Arm::EditQuickAnswer(m) => edit!(m, "EditQuickAnswer", EditQuickAnswer),
        Arm::ReplaceKeyFacts(m) => edit!(m, "ReplaceKeyFacts", ReplaceKeyFacts),
        Arm::AddSection(m) => edit!(m, "AddSection", AddSection),
        Arm::EditSection(m) => edit!(m, "EditSection", EditSection),
        Arm::RemoveSection(m) => edit!(m, "RemoveSection", RemoveSection),
        Arm::MoveSection(m) => edit!(m, "MoveSection", MoveSection),
        Arm::AddSource(m) => edit!(m, "AddSource", AddSource),
        Arm::EditSource(m) => edit!(m, "EditSource", EditSource),
        Arm::RemoveSource(m) => edit!(m, "RemoveSource", RemoveSource),
        Arm::RedateArticle(m) => edit!(m, "RedateArticle", RedateArticle),
        Arm::ReviewArticle(m) => edit!(m, "ReviewArticle", ReviewArticle),
        Arm::RevertArticle(m) => edit!(m, "RevertArticle", RevertArticle),
        Arm::RetractArticle(m) => edit!(m, "RetractArticle", RetractArticle),
        Arm::RestoreArticle(m) => edit!(m, "RestoreArticle", RestoreArticle),
        Arm::AddSlugAlias(m) => edit!(m, "AddSlugAlias", AddSlugAlias),
        Arm::ReviseArticle(m) => edit!(m, "ReviseArticle", ReviseArticle),
        Arm::ApplyChanges(m) => edit!(m, "ApplyChanges", ApplyChanges),
    })
}

/// The command an edit's message asks for, its envelope aside; `at` is
/// the path of the message's fields in the request ("" or ending in `.`).
fn command(arm: Arm, at: &str) -> Result<Command, Status> {
    let field = |name: &str| format!("{at}{name}");
    Ok(match arm {
        Arm::CreateArticle(_) => {
            return Err(invalid(&field("create_article"), "is not an edit"));
        }
        Arm::EditQuestion(m) => Command::EditQuestion {
            question: m.question,
        },
        Arm::ChangeSlug(m) => Command::ChangeSlug { slug: m.slug },
        Arm::EditQuickAnswer(m) => Command::EditQuickAnswer {
            quick_answer: m.quick_answer,
        },
        Arm::ReplaceKeyFacts(m) => Command::ReplaceKeyFacts {
            key_facts: m.key_facts,
        },
        Arm::AddSection(m) => Command::AddSection {
            section: convert::section_draft(
                m.section
                    .ok_or_else(|| invalid(&field("section"), "the section to add is required"))?,
            ),
            after_section_id: m.after_section_id,
        },
        Arm::EditSection(m) => Command::EditSection {
            section_id: m.section_id,
            heading: m.heading,
            body: m.body,
        },
        Arm::RemoveSection(m) => Command::RemoveSection {
            section_id: m.section_id,
        },
        Arm::MoveSection(m) => Command::MoveSection {
            section_id: m.section_id,
            after_section_id: m.after_section_id,
        },
        Arm::AddSource(m) => Command::AddSource {
            source: convert::source_draft(
                m.source
                    .ok_or_else(|| invalid(&field("source"), "the source to add is required"))?,
            ),
        },
        Arm::EditSource(m) => Command::EditSource {
            source: convert::source_draft(m.source.ok_or_else(|| {
                invalid(&field("source"), "the source's new fields are required")
            })?),
        },
        Arm::RemoveSource(m) => Command::RemoveSource {
            source_id: m.source_id,
        },
        Arm::RedateArticle(m) => Command::RedateArticle {
            last_updated: m.last_updated,
        },
        Arm::ReviewArticle(_) => Command::ReviewArticle,
        Arm::RevertArticle(m) => Command::RevertArticle {
            to_version: m.to_version,
            target: None,
            last_updated: m.last_updated,
        },
        Arm::RetractArticle(_) => Command::RetractArticle,
        Arm::RestoreArticle(_) => Command::RestoreArticle,
        Arm::AddSlugAlias(m) => Command::AddSlugAlias { slug: m.slug },
        Arm::ReviseArticle(m) => Command::ReviseArticle(Box::new(ArticleRevision {
            question: m.question,
            quick_answer: m.quick_answer,
            key_facts: m.key_facts,
            sections: m
                .sections
                .into_iter()
                .map(|s| RevisedSection {
                    id: s.id,
                    heading: s.heading,
                    body: s.body,
                })
                .collect(),
            last_updated: m.last_updated,
            sources: m.sources.map(|list| {
                list.sources
                    .into_iter()
                    .map(convert::source_draft)
                    .collect()
            }),
        })),
        Arm::ApplyChanges(m) => Command::ApplyChanges(
            m.edits
                .into_iter()
                .enumerate()
                .map(|(i, edit)| part_edit(edit, &field(&format!("edits[{i}]"))))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// One edit of an `ApplyChangesRequest`, whose fields are at `at`: its
/// own request with the envelope left empty.
fn part_edit(edit: ArticleEdit, at: &str) -> Result<Command, Status> {
    macro_rules! bare {
        ($m:ident, $name:literal, $variant:ident) => {{
            let named = [
                ("article_id", !$m.article_id.is_empty()),
                ("expected_version", $m.expected_version != 0),
                ("command_id", !$m.command_id.is_empty()),
                ("reason", !$m.reason.is_empty()),
            ];
            if let Some((field, _)) = named.iter().find(|(_, set)| *set) {
                return Err(invalid(
                    &format!("{at}.{}.{field}", $name),
                    "leave it empty: the ApplyChangesRequest gives it",
                ));
            }
            command(Arm::$variant($m), &format!("{at}.{}.", $name))
        }};
    }
    match edit
        .edit
        .ok_or_else(|| invalid(at, "name the edit to make"))?
    {
        Edit::EditQuestion(m) => bare!(m, "edit_question", EditQuestion),
        Edit::ChangeSlug(m) => bare!(m, "change_slug", ChangeSlug),
        Edit::EditQuickAnswer(m) => bare!(m, "edit_quick_answer", EditQuickAnswer),
        Edit::ReplaceKeyFacts(m) => bare!(m, "replace_key_facts", ReplaceKeyFacts),
        Edit::AddSection(m) => bare!(m, "add_section", AddSection),
        Edit::EditSection(m) => bare!(m, "edit_section", EditSection),
        Edit::RemoveSection(m) => bare!(m, "remove_section", RemoveSection),
        Edit::MoveSection(m) => bare!(m, "move_section", MoveSection),
        Edit::AddSource(m) => bare!(m, "add_source", AddSource),
        Edit::EditSource(m) => bare!(m, "edit_source", EditSource),
        Edit::RemoveSource(m) => bare!(m, "remove_source", RemoveSource),
        Edit::RedateArticle(m) => bare!(m, "redate_article", RedateArticle),
    }
}

/// Checks the fields every edit carries: the article, the version the
/// edit was made on, the command id; hashes the request.
pub(super) fn envelope<M: Message>(
    actor: &str,
    rpc: &str,
    message: &M,
    [article_id, command_id, reason]: [&str; 3],
    expected_version: u64,
    naming: Naming,
) -> Result<(ArticleRef, u64, WriteMeta), Status> {
    let article = match naming {
        Naming::Id => ArticleRef::Id(convert::article_id("article_id", article_id)?),
        Naming::IdOrSlug if article_id.is_empty() => {
            return Err(invalid("article_id", "must not be empty"))
        }
        Naming::IdOrSlug => convert::loose_reference("article_id", article_id)?,
    };
    if expected_version == 0 {
        return Err(invalid(
            "expected_version",
            "must name the version the edit was made on (from 1)",
        ));
    }
    let meta = WriteMeta {
        command_id: convert::command_id(command_id)?,
        request_digest: digest(actor, rpc, message),
        reason: reason.to_owned(),
        actor: actor.to_owned(),
        origin: None,
    };
    Ok((article, expected_version, meta))
}

/// SHA-256 of the caller, the RPC's name and the request's bytes (prost
/// encodes one message one way), to tell a retry from a reuse of its
/// command id — by another request, or by another principal. The app
/// keys it with the log's request key before anything keeps it.
fn digest<M: Message>(actor: &str, rpc: &str, message: &M) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(actor.as_bytes());
    hasher.update([0]);
    hasher.update(rpc.as_bytes());
    hasher.update([0]);
    hasher.update(message.encode_to_vec());
    hasher.finalize().into()
}
