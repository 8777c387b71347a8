//! AdminService.ImportCommits: a stream of write requests in, an answer
//! per request out once its commands are durable; the first failure ends
//! the call with its status, naming the request and the command.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::{Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

use super::pb::{ImportCommitsRequest, ImportCommitsResponse, ImportResult};
use super::status::to_write_status;
use super::write::{arm_name, import_write};
use crate::app::Appended;
use crate::app::{App, AppError, Import};

/// The trailers naming the failed command of an import.
pub(crate) const FAILED_REQUEST: &str = "answerlog-import-request";
pub(crate) const FAILED_COMMAND: &str = "answerlog-import-command";

/// Runs one import until the client's stream ends, a command fails or the
/// server stops; answers go to `out`, and so does the failure.
pub(super) async fn run(
    app: Arc<App>,
    actor: String,
    mut inbound: Streaming<ImportCommitsRequest>,
    out: mpsc::Sender<Result<ImportCommitsResponse, Status>>,
) {
    let mut import = Importing {
        import: app.import(),
        labels: VecDeque::new(),
        answers: VecDeque::new(),
        sent: 0,
        out,
    };
    if let Err(status) = import.drive(&app, &actor, &mut inbound).await {
        if status.code() != tonic::Code::Cancelled {
            tracing::info!(error = %status.message(), code = ?status.code(), "an import ended");
        }
        let _ = import.out.send(Err(status)).await;
    }
}

struct Importing {
    import: Import,
    /// Which command each queued outcome answers, in order.
    labels: VecDeque<Label>,
    /// The requests not yet answered, in order.
    answers: VecDeque<Answer>,
    /// Commands answered to the client so far.
    sent: u64,
    out: mpsc::Sender<Result<ImportCommitsResponse, Status>>,
}

/// Where a command stood in the call.
struct Label {
    request: u64,
    command: usize,
    arm: &'static str,
}

struct Answer {
    /// Commands of the request that were queued.
    expected: usize,
    results: Vec<ImportResult>,
    /// Every command of the request is queued.
    sealed: bool,
}

impl Importing {
    async fn drive(
        &mut self,
        app: &App,
        actor: &str,
        inbound: &mut Streaming<ImportCommitsRequest>,
    ) -> Result<(), Status> {
        let mut stopping = app.stopping();
        let mut requests = 0u64;
        let mut open = true;
        loop {
            self.send_answered().await?;
            if !open && self.import.is_empty() {
                return Ok(());
            }
            if *stopping.borrow() {
                return Err(stopped());
            }
            tokio::select! {
                biased;
                _ = stopping.changed() => return Err(stopped()),
                () = self.import.ready(), if !self.import.is_empty() => {
                    let outcome = self.import.next().await;
                    self.record(outcome)?;
                }
                message = inbound.message(), if open => match message? {
                    None => open = false,
                    Some(request) => {
                        self.submit(actor, requests, request).await?;
                        requests += 1;
                    }
                },
            }
        }
    }

    /// Decides and queues every command of one request.
    async fn submit(
        &mut self,
        actor: &str,
        index: u64,
        request: ImportCommitsRequest,
    ) -> Result<(), Status> {
        self.answers.push_back(Answer {
            expected: 0,
            results: Vec::new(),
            sealed: false,
        });
        for (command, item) in request.commands.into_iter().enumerate() {
            let label = Label {
                request: index,
                command,
                arm: item.command.as_ref().map_or("command", arm_name),
            };
            let submitted = match import_write(actor, item) {
                Ok(w) => self.import.submit(w).await.map_err(to_write_status),
                Err(status) => Err(status),
            };
            match submitted {
                Ok(()) => {
                    self.labels.push_back(label);
                    if let Some(answer) = self.answers.back_mut() {
                        answer.expected += 1;
                    }
                }
                Err(status) => {
                    // Everything before this command must be durable
                    // before it is named as the first failure; an earlier
                    // one that fails is the first.
                    while let Some(outcome) = self.import.next().await {
                        self.record(Some(outcome))?;
                    }
                    self.send_answered().await?;
                    return Err(within(status, &label));
                }
            }
        }
        if let Some(answer) = self.answers.back_mut() {
            answer.sealed = true;
        }
        Ok(())
    }

    /// Files the oldest outcome with its request.
    fn record(&mut self, outcome: Option<Result<Appended, AppError>>) -> Result<(), Status> {
        let Some(outcome) = outcome else {
            return Ok(());
        };
        let label = self.labels.pop_front();
        match outcome {
            Ok(done) => {
                let open = self
                    .answers
                    .iter_mut()
                    .find(|a| a.results.len() < a.expected);
                if let Some(answer) = open {
                    answer.results.push(ImportResult {
                        article_id: done.article_id.to_string(),
                        version: done.version,
                        global_position: done.global_position,
                        duplicate: done.duplicate,
                    });
                }
                Ok(())
            }
            Err(e) => Err(match label {
                Some(label) => within(to_write_status(e), &label),
                None => to_write_status(e),
            }),
        }
    }

    /// Answers every request, oldest first, whose commands are all durable.
    async fn send_answered(&mut self) -> Result<(), Status> {
        while self
            .answers
            .front()
            .is_some_and(|a| a.sealed && a.results.len() == a.expected)
        {
            let Some(answer) = self.answers.pop_front() else {
                break;
            };
            self.sent += answer.results.len() as u64;
            let response = ImportCommitsResponse {
                results: answer.results,
                commands_done: self.sent,
            };
            self.out
                .send(Ok(response))
                .await
                .map_err(|_| Status::cancelled("the client went away"))?;
        }
        Ok(())
    }
}

fn stopped() -> Status {
    Status::unavailable(
        "the server is stopping; send the commands not yet answered again (their command ids make that a retry)",
    )
}

/// A command's status, naming where it stood in the call: the message says
/// which request and command, and the `BadRequest` fields get its path.
fn within(status: Status, label: &Label) -> Status {
    let path = format!("commands[{}].{}", label.command, label.arm);
    let details = status.get_error_details();
    let mut named = ErrorDetails::new();
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            named.add_bad_request_violation(format!("{path}.{}", v.field), v.description.clone());
        }
    }
    if let Some(info) = details.error_info() {
        named.set_error_info(
            info.reason.clone(),
            info.domain.clone(),
            info.metadata.clone(),
        );
    }
    let mut status = Status::with_error_details(
        status.code(),
        format!("request {}, {path}: {}", label.request, status.message()),
        named,
    );
    // For programs: which request (from 0) and which of its commands.
    let metadata = status.metadata_mut();
    metadata.insert(FAILED_REQUEST, label.request.into());
    metadata.insert(FAILED_COMMAND, (label.command as u64).into());
    status
}
