//! `answerlog audit …`: digests, verification, and queries across commits.

use anyhow::Context as _;

use super::client::{audit, status_error};
use super::format::{narrow, print_items, time, wide, Output, OutputArg};
use super::{json, ServerArg};
use crate::grpc::pb::{
    get_answer_request, get_attribution_request, ChangeStamp, GetAttributionRequest,
    GetCheckpointRequest, GetFreshnessReportRequest, GetFreshnessReportResponse,
    GetLogDigestRequest, ListCommitsRequest, VerifyLogRequest,
};

#[derive(Debug, clap::Subcommand)]
pub(super) enum AuditCommand {
    /// A signed digest of the log as it stands; keep it to check later.
    Digest {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// The latest checkpoint of the log's Merkle tree, printed as signed
    /// (a C2SP signed note: origin, tree size, root hash, signature): it
    /// covers every write acknowledged before the call.
    Checkpoint {
        /// Print the server's key for the checkpoints instead, as a C2SP
        /// verifier key (name+hexkeyid+base64key), the form auditors pin.
        #[arg(long, conflicts_with = "json")]
        vkey: bool,
        /// Wait for a checkpoint of the log through this position.
        #[arg(long, default_value_t = 0)]
        min_position: u64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// The continuous auditor: check each new checkpoint against the last
    /// one verified (the pinned key's signature, then RFC 6962
    /// consistency), keeping it in --state; exit 3 with the evidence on a
    /// fork, a rollback, a bad signature or a key not pinned.
    Watch(super::watch::WatchArgs),
    /// Prove that a digest kept from before (`audit digest --json`) lies
    /// on the log the server signs today: its log hash, extended by the
    /// commits since, gives the log hash a checkpoint signed by the pinned
    /// key carries.
    ProveDigest {
        /// The kept digest.
        file: std::path::PathBuf,
        /// The log's checkpoint key (C2SP verifier key), as `audit
        /// checkpoint --vkey` prints it.
        #[arg(long)]
        vkey: String,
        /// The only key the digest may be signed with (as `keys show`
        /// prints it) [default: the key it carries, self-asserted].
        #[arg(long)]
        digest_vkey: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Recompute the hash chains on the server (optionally against a digest).
    VerifyLog {
        /// A digest kept from `answerlog audit digest --json`.
        #[arg(long)]
        digest: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Re-dates that moved "Last updated" with no content change since the
    /// date was last set: of one article, or of the whole store.
    Freshness {
        /// One article (slug or id) [default: every article].
        reference: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Commits across articles, filtered.
    Commits {
        /// Only this actor's commits.
        #[arg(long)]
        actor: Option<String>,
        /// Only commits holding this event kind (repeatable).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Only commits recorded at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only commits recorded before this instant (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only commits of AI-assisted content that no one reviewed.
        #[arg(long)]
        unreviewed_ai: bool,
        /// Only versions whose displayed date is on or before this date.
        #[arg(long)]
        dated_on_or_before: Option<String>,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub(super) async fn blame(
    server: &ServerArg,
    reference: &str,
    version: Option<u64>,
    as_json: bool,
) -> anyhow::Result<()> {
    let r#ref = Some(match super::client::reference(reference) {
        get_answer_request::Ref::Id(id) => get_attribution_request::Ref::Id(id),
        get_answer_request::Ref::Slug(slug) => get_attribution_request::Ref::Slug(slug),
    });
    let report = audit(server)
        .await?
        .get_attribution(GetAttributionRequest {
            r#ref,
            version: version.unwrap_or(0),
            min_position: 0,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    if as_json {
        return json::print("answerlog.v1.GetAttributionResponse", &report);
    }
    outln!(
        "article {} as of version {}",
        report.article_id,
        report.version
    )?;
    let stamp = |s: &Option<ChangeStamp>| {
        s.as_ref()
            .map(|s| match s.origin_actor.as_str() {
                "" => format!("v{} {} ({})", s.version, s.actor, s.reason),
                claimed => format!(
                    "v{} by {claimed} (claimed; imported by {})",
                    s.version, s.actor
                ),
            })
            .unwrap_or_default()
    };
    for a in &report.attributions {
        let mut label: String = a
            .label
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(48)
            .collect();
        if label.len() < a.label.len() {
            label.push('…');
        }
        outln!(
            "{:<16} {:<50} introduced {:<36} last changed {}",
            a.element,
            label,
            stamp(&a.introduced),
            stamp(&a.last_changed)
        )?;
    }
    Ok(())
}

pub(super) async fn run(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Freshness {
            reference,
            json: as_json,
            server,
        } => {
            let article_id = match reference {
                Some(reference) => super::show::article_id(&server, &reference).await?,
                None => String::new(),
            };
            let mut client = audit(&server).await?;
            let mut all = GetFreshnessReportResponse::default();
            let mut page_token = String::new();
            loop {
                let page = client
                    .get_freshness_report(GetFreshnessReportRequest {
                        article_id: article_id.clone(),
                        page_token,
                        min_position: 0,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                all.redates.extend(page.redates);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            if as_json {
                return json::print("answerlog.v1.GetFreshnessReportResponse", &all);
            }
            outln!("{} re-dates without a content change", all.redates.len())?;
            for r in &all.redates {
                if let Some(rev) = &r.revision {
                    outln!(
                        "{} v{}: {} → {} by {} ({}); content unchanged since v{}",
                        r.slug,
                        rev.version,
                        r.previous_last_updated,
                        rev.last_updated,
                        rev.actor,
                        rev.reason,
                        r.dated_version
                    )?;
                }
            }
            Ok(())
        }
        AuditCommand::Digest {
            json: as_json,
            server,
        } => {
            let digest = log_digest(&mut audit(&server).await?).await?;
            if as_json {
                return json::print("answerlog.v1.LogDigest", &digest);
            }
            outln!(
                "position {} · log hash {} · signed by {}",
                digest.global_position,
                digest.log_hash,
                digest.key_id
            )?;
            Ok(())
        }
        AuditCommand::Checkpoint {
            vkey,
            min_position,
            json: as_json,
            server,
        } => {
            let checkpoint = audit(&server)
                .await?
                .get_checkpoint(GetCheckpointRequest { min_position })
                .await
                .map_err(status_error)?
                .into_inner();
            if vkey {
                outln!("{}", checkpoint.verifier_key)?;
            } else if as_json {
                json::print("answerlog.v1.GetCheckpointResponse", &checkpoint)?;
            } else {
                let note = String::from_utf8(checkpoint.note)
                    .context("the server's checkpoint is not UTF-8 text")?;
                out!("{note}")?;
            }
            Ok(())
        }
        AuditCommand::Watch(args) => super::watch::watch(args).await,
        AuditCommand::ProveDigest {
            file,
            vkey,
            digest_vkey,
            json: as_json,
            server,
        } => {
            super::prove_digest::prove_digest(
                &file,
                &vkey,
                digest_vkey.as_deref(),
                as_json,
                &server,
            )
            .await
        }
        AuditCommand::VerifyLog {
            digest,
            json: as_json,
            server,
        } => {
            let digest = match digest {
                Some(path) => Some(json::from_json(
                    "answerlog.v1.LogDigest",
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                        .trim(),
                )?),
                None => None,
            };
            let mut client = audit(&server).await?;
            let mut from = 1;
            let mut reached = false;
            loop {
                let v = client
                    .verify_log(VerifyLogRequest {
                        from_position: from,
                        max_commits: 0,
                        digest: digest.clone(),
                        min_position: 0,
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                if as_json {
                    json::print("answerlog.v1.VerifyLogResponse", &v)?;
                } else {
                    outln!(
                        "positions {}–{}: {}",
                        v.from_position,
                        v.through_position,
                        if v.log_ok {
                            "the log verifies"
                        } else {
                            "BROKEN"
                        }
                    )?;
                    if let Some(b) = &v.first_break {
                        outln!(
                            "first break at position {} (article {} version {}), {} chain: expected {} found {}: {}",
                            b.global_position, b.article_id, b.version, b.chain, b.expected_hash, b.found_hash, b.detail
                        )?;
                    }
                    if let Some(c) = &v.digest_check {
                        let verdict = if !c.signature_valid {
                            "REFUSED"
                        } else if c.matches {
                            "matches"
                        } else if c.reached {
                            "DOES NOT MATCH"
                        } else {
                            "not in this range"
                        };
                        outln!("digest: {verdict}: {}", c.detail)?;
                    }
                }
                if !v.ok {
                    match &v.digest_check {
                        Some(c) if v.log_ok => anyhow::bail!(
                            "the log verifies, but the digest {}: {}",
                            if c.signature_valid {
                                "does not match it"
                            } else {
                                "was refused"
                            },
                            c.detail
                        ),
                        _ => anyhow::bail!("the log does not verify"),
                    }
                }
                reached |= v.digest_check.as_ref().is_some_and(|c| c.reached);
                if v.next_position == 0 {
                    if digest.is_some() && !reached {
                        anyhow::bail!("the digest's position was never reached");
                    }
                    return Ok(());
                }
                from = v.next_position;
            }
        }
        AuditCommand::Commits {
            actor,
            kinds,
            since,
            until,
            unreviewed_ai,
            dated_on_or_before,
            output,
            server,
        } => {
            let format = output.format();
            let instant = |text: Option<String>, flag: &str| -> anyhow::Result<_> {
                text.map(|t| {
                    let t = chrono::DateTime::parse_from_rfc3339(&t)
                        .with_context(|| format!("{flag} {t:?} is not an RFC 3339 time"))?;
                    Ok(prost_types::Timestamp {
                        seconds: t.timestamp(),
                        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
                    })
                })
                .transpose()
            };
            let mut request = ListCommitsRequest {
                page_size: 1000,
                actor: actor.unwrap_or_default(),
                event_kinds: kinds,
                recorded_from: instant(since, "--since")?,
                recorded_before: instant(until, "--until")?,
                ai_assisted_unreviewed: unreviewed_ai,
                last_updated_on_or_before: dated_on_or_before.unwrap_or_default(),
                ..ListCommitsRequest::default()
            };
            let kinds = |c: &crate::grpc::pb::Commit| {
                c.events
                    .iter()
                    .map(|e| e.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut client = audit(&server).await?;
            let mut found = Vec::new();
            loop {
                let page = client
                    .list_commits(request.clone())
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for c in page.commits {
                    // Text and JSON lines go out as they come (a reader
                    // that stops early stops the pages); the rest print
                    // once all are in.
                    match format {
                        Output::Json => {
                            outln!("{}", json::to_json_line("answerlog.v1.Commit", &c)?)?
                        }
                        Output::Text => {
                            if let Some(r) = &c.revision {
                                outln!(
                                    "pos {:<8} {} v{:<4} {:<12} dated {} {:<32} {}",
                                    r.global_position,
                                    c.article_id,
                                    r.version,
                                    r.actor,
                                    r.last_updated,
                                    kinds(&c),
                                    r.reason
                                )?;
                            }
                        }
                        _ => found.push(c),
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            match format {
                Output::Json | Output::Text => Ok(()),
                _ => {
                    let columns = [
                        narrow("POSITION"),
                        narrow("ARTICLE"),
                        narrow("VERSION"),
                        narrow("RECORDED"),
                        narrow("ACTOR"),
                        narrow("DATED"),
                        narrow("EVENTS"),
                        narrow("REASON"),
                        wide("COMMAND ID"),
                        wide("HASH"),
                    ];
                    print_items(format, "answerlog.v1.Commit", &found, &columns, |c| {
                        let r = c.revision.clone().unwrap_or_default();
                        vec![
                            r.global_position.to_string(),
                            c.article_id.clone(),
                            r.version.to_string(),
                            time(r.recorded_at.as_ref()),
                            r.actor,
                            r.last_updated,
                            kinds(c),
                            r.reason,
                            c.command_id.clone(),
                            r.hash,
                        ]
                    })
                }
            }
        }
    }
}

/// The server's signed digest of its log as it stands now.
pub(super) async fn log_digest(
    client: &mut crate::grpc::pb::audit_service_client::AuditServiceClient<super::client::Authed>,
) -> anyhow::Result<crate::grpc::pb::LogDigest> {
    client
        .get_log_digest(GetLogDigestRequest { min_position: 0 })
        .await
        .map_err(status_error)?
        .into_inner()
        .digest
        .context("the server sent no digest")
}
