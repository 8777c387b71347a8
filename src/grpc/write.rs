//! Every write request turned into the application's write: the envelope
//! checked, the command built, the request hashed. ArticleService's RPCs
//! and the bulk import share it, so that a command sent either way is the
//! same request (a retry of one is a retry of the other).

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Status;

use super::convert;
use super::pb::import_command::Command as Arm;
use super::pb::ImportCommand;
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
        ($rpc:literal, $m:ident, $command:expr) => {{
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
                command: $command,
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
        Arm::EditQuestion(m) => edit!(
            "EditQuestion",
            m,
            Command::EditQuestion {
                question: m.question
            }
        ),
        Arm::ChangeSlug(m) => edit!("ChangeSlug", m, Command::ChangeSlug { slug: m.slug }),
        Arm::EditQuickAnswer(m) => edit!(
            "EditQuickAnswer",
            m,
            Command::EditQuickAnswer {
                quick_answer: m.quick_answer
            }
        ),
        Arm::ReplaceKeyFacts(m) => edit!(
            "ReplaceKeyFacts",
            m,
            Command::ReplaceKeyFacts {
                key_facts: m.key_facts
            }
        ),
        Arm::AddSection(m) => {
            if m.section.is_none() {
                return Err(invalid("section", "the section to add is required"));
            }
            edit!(
                "AddSection",
                m,
                Command::AddSection {
                    section: convert::section_draft(m.section.unwrap_or_default()),
                    after_section_id: m.after_section_id,
                }
            )
        }
        Arm::EditSection(m) => edit!(
            "EditSection",
            m,
            Command::EditSection {
                section_id: m.section_id,
                heading: m.heading,
                body: m.body,
            }
        ),
        Arm::RemoveSection(m) => edit!(
            "RemoveSection",
            m,
            Command::RemoveSection {
                section_id: m.section_id
            }
        ),
        Arm::MoveSection(m) => edit!(
            "MoveSection",
            m,
            Command::MoveSection {
                section_id: m.section_id,
                after_section_id: m.after_section_id,
            }
        ),
        Arm::AddSource(m) => {
            if m.source.is_none() {
                return Err(invalid("source", "the source to add is required"));
            }
            edit!(
                "AddSource",
                m,
                Command::AddSource {
                    source: convert::source_draft(m.source.unwrap_or_default())
                }
            )
        }
        Arm::EditSource(m) => {
            if m.source.is_none() {
                return Err(invalid("source", "the source's new fields are required"));
            }
            edit!(
                "EditSource",
                m,
                Command::EditSource {
                    source: convert::source_draft(m.source.unwrap_or_default())
                }
            )
        }
        Arm::RemoveSource(m) => edit!(
            "RemoveSource",
            m,
            Command::RemoveSource {
                source_id: m.source_id
            }
        ),
        Arm::RedateArticle(m) => edit!(
            "RedateArticle",
            m,
            Command::RedateArticle {
                last_updated: m.last_updated
            }
        ),
        Arm::ReviewArticle(m) => edit!("ReviewArticle", m, Command::ReviewArticle),
        Arm::RevertArticle(m) => edit!(
            "RevertArticle",
            m,
            Command::RevertArticle {
                to_version: m.to_version,
                target: None,
                last_updated: m.last_updated,
            }
        ),
        Arm::RetractArticle(m) => edit!("RetractArticle", m, Command::RetractArticle),
        Arm::RestoreArticle(m) => edit!("RestoreArticle", m, Command::RestoreArticle),
        Arm::AddSlugAlias(m) => edit!("AddSlugAlias", m, Command::AddSlugAlias { slug: m.slug }),
        Arm::ReviseArticle(m) => edit!(
            "ReviseArticle",
            m,
            Command::ReviseArticle(Box::new(ArticleRevision {
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
                sources: m.sources.map(|list| list
                    .sources
                    .into_iter()
                    .map(convert::source_draft)
                    .collect()),
            }))
        ),
    })
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
