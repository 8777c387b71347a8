//! `answerlog tail`: prints the event stream, for people (or JSON Lines).

use super::client::{audit, status_error};
use super::show::article_id;
use super::{json, ServerArg};
use crate::grpc::pb::{stream_events_response, StreamEventsRequest};

pub(super) async fn tail(
    server: &ServerArg,
    from: u64,
    article: Option<&str>,
    count: Option<u64>,
    as_json: bool,
) -> anyhow::Result<()> {
    let article_ids = match article {
        Some(reference) => vec![article_id(server, reference).await?],
        None => Vec::new(),
    };
    let mut stream = audit(server)
        .await?
        .stream_events(StreamEventsRequest {
            from_position: from,
            article_ids,
            event_kinds: Vec::new(),
        })
        .await
        .map_err(status_error)?
        .into_inner();
    let mut printed = 0;
    while count.is_none_or(|n| printed < n) {
        let Some(message) = stream.message().await.map_err(status_error)? else {
            return Ok(());
        };
        match message.item {
            Some(stream_events_response::Item::Commit(c)) => {
                printed += 1;
                if as_json {
                    outln!("{}", json::to_json_line("answerlog.v1.Commit", &c)?)?;
                } else if let Some(r) = &c.revision {
                    let kinds: Vec<&str> = c.events.iter().map(|e| e.kind.as_str()).collect();
                    outln!(
                        "{:<8} {} v{:<4} {:<12} {:<32} {}",
                        r.global_position,
                        c.article_id,
                        r.version,
                        r.actor,
                        kinds.join(","),
                        r.reason
                    )?;
                }
            }
            Some(stream_events_response::Item::Heartbeat(h)) => {
                if as_json {
                    outln!("{}", json::to_json_line("answerlog.v1.Heartbeat", &h)?)?;
                } else {
                    noteln!("· idle at position {}", h.last_position);
                }
            }
            None => {}
        }
    }
    Ok(())
}
