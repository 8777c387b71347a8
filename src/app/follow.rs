//! Following the log: every durable commit after a position, in order, read
//! from the log until the durable head and then from the live feed, with no
//! gap and no duplicate at the switch; on lag or a gap, back to the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};

use super::audit::Dates;
use super::stream_view::StreamView;
use super::{App, AppError};
use crate::domain::ArticleId;
use crate::log::Notice;

/// How many commits one catch-up read takes from the log at a time.
const CATCH_UP_CHUNK: u64 = 256;

/// What a follower is sent.
#[derive(Clone, Debug)]
pub(crate) enum StreamItem {
    Commit(StreamView),
    /// Nothing to send for a while: the last position scanned.
    Heartbeat {
        last_position: u64,
    },
}

/// Which commits a follower wants; empty lists admit everything.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamFilter {
    pub(crate) articles: Vec<ArticleId>,
    pub(crate) kinds: Vec<String>,
}

impl StreamFilter {
    fn admits(&self, article: ArticleId, kinds: &[&str]) -> bool {
        (self.articles.is_empty() || self.articles.contains(&article))
            && (self.kinds.is_empty() || kinds.iter().any(|k| self.kinds.iter().any(|w| w == k)))
    }
}

/// The merge of the log and the live feed, as a state: the last position
/// sent (or skipped by the filter). Pure, so that its orderings can be
/// scripted in tests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Follower {
    last: u64,
}

/// What to do with a position the live feed announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next position: take it.
    Take,
    /// At or below the last one taken: a duplicate.
    Skip,
    /// Past the next one: something was missed; read the log again.
    CatchUp,
}

impl Follower {
    pub(crate) fn new(after: u64) -> Self {
        Self { last: after }
    }

    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// The live feed announced `position`.
    pub(crate) fn live(&mut self, position: u64) -> Step {
        if position <= self.last {
            Step::Skip
        } else if position == self.last + 1 {
            self.last = position;
            Step::Take
        } else {
            Step::CatchUp
        }
    }

    /// `position` was read from the log (the log is read in order from
    /// `last + 1`); whether to take it.
    pub(crate) fn logged(&mut self, position: u64) -> bool {
        if position == self.last + 1 {
            self.last = position;
            true
        } else {
            false
        }
    }
}

/// What the follower sends at a time: the commits of one log read or of
/// one durable batch, in order, or a heartbeat. A batch a message makes
/// one channel hop and one wake-up a batch rather than a commit, and lets
/// the edge encode a run of responses into one write.
pub(crate) type StreamBatch = Vec<StreamItem>;

/// Batches a follower's channel holds: with a catch-up's chunks of
/// `CATCH_UP_CHUNK` commits, enough to keep the edge busy while the next
/// chunk is read, and a bound on what a slow subscriber holds in memory.
const BATCHES_QUEUED: usize = 4;

/// The follower's side of the channel: every send races the server's stop,
/// and keeps the clock for heartbeats.
struct Outbox<'a> {
    tx: &'a mpsc::Sender<Result<StreamBatch, AppError>>,
    stopping: watch::Receiver<bool>,
    heartbeat: Duration,
    /// When something was last sent.
    quiet_since: Instant,
}

/// The subscriber went away: not an error to report to anyone.
struct Gone;

impl From<Gone> for AppError {
    fn from(_: Gone) -> Self {
        AppError::Unavailable("the subscriber went away".into())
    }
}

fn stopped() -> AppError {
    AppError::Unavailable("the server is stopping; resume from the last position".into())
}

impl Outbox<'_> {
    async fn send(&mut self, batch: StreamBatch) -> Result<(), AppError> {
        if batch.is_empty() {
            return Ok(());
        }
        if *self.stopping.borrow() {
            return Err(stopped());
        }
        tokio::select! {
            sent = self.tx.send(Ok(batch)) => sent.map_err(|_| AppError::from(Gone))?,
            _ = self.stopping.changed() => return Err(stopped()),
        }
        self.quiet_since = Instant::now();
        Ok(())
    }

    async fn beat_if_quiet(&mut self, last_position: u64) -> Result<(), AppError> {
        if self.quiet_since.elapsed() >= self.heartbeat {
            self.send(vec![StreamItem::Heartbeat { last_position }])
                .await?;
        }
        Ok(())
    }
}

impl App {
    /// Follows the log after `after`, sending what `filter` admits on the
    /// returned channel until the receiver goes away or the server stops.
    pub(crate) fn follow(
        self: &Arc<Self>,
        after: u64,
        filter: StreamFilter,
        heartbeat: Duration,
    ) -> mpsc::Receiver<Result<StreamBatch, AppError>> {
        let (tx, rx) = mpsc::channel(BATCHES_QUEUED);
        // Subscribe before the first log read, so that nothing made durable
        // in between is missed.
        let live = self.store.subscribe();
        let app = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = app.run_follow(after, filter, heartbeat, live, &tx).await {
                // Tell the subscriber why the stream ends, unless it is gone
                // or the server is stopping (then the drain must not wait).
                let _ = tx.try_send(Err(e));
            }
        });
        rx
    }

    async fn run_follow(
        &self,
        after: u64,
        filter: StreamFilter,
        heartbeat: Duration,
        mut live: broadcast::Receiver<Arc<[Notice]>>,
        tx: &mpsc::Sender<Result<StreamBatch, AppError>>,
    ) -> Result<(), AppError> {
        let mut follower = Follower::new(after);
        let seat = self.followers.join(after);
        let mut out = Outbox {
            tx,
            stopping: self.stopping.subscribe(),
            heartbeat,
            quiet_since: Instant::now(),
        };
        let mut dates = Dates::default();
        'catch_up: loop {
            // From the log up to the durable head.
            loop {
                let head = self.durable();
                if follower.last() >= head {
                    break;
                }
                let end = head.min(follower.last() + CATCH_UP_CHUNK);
                let positions: Vec<u64> = (follower.last() + 1..=end).collect();
                let mut batch = StreamBatch::with_capacity(positions.len());
                for view in self.stream_views(&positions, &mut dates)? {
                    follower.logged(view.global_position());
                    if filter.admits(view.article_id(), &view.kinds()) {
                        batch.push(StreamItem::Commit(view.digested()));
                    }
                }
                seat.at(follower.last());
                if batch.is_empty() {
                    // A long run of filtered-out commits still shows life.
                    out.beat_if_quiet(follower.last()).await?;
                } else {
                    out.send(batch).await?;
                }
            }
            // Then live, until a gap or a lag sends us back to the log.
            loop {
                let beat_at = out.quiet_since + heartbeat;
                tokio::select! {
                    received = live.recv() => match received {
                        Ok(notices) => {
                            let mut wanted = Vec::new();
                            let mut gap = false;
                            for notice in notices.iter() {
                                match follower.live(notice.position) {
                                    Step::Skip => {}
                                    Step::CatchUp => {
                                        gap = true;
                                        break;
                                    }
                                    Step::Take if filter.admits(notice.article_id, &notice.kinds) => {
                                        wanted.push(notice.position);
                                    }
                                    Step::Take => {}
                                }
                            }
                            seat.at(follower.last());
                            // Durable (announced): all there, read at once.
                            let batch: StreamBatch = self
                                .stream_views(&wanted, &mut dates)?
                                .into_iter()
                                .map(|view| StreamItem::Commit(view.digested()))
                                .collect();
                            // What was taken before a gap goes first: the
                            // log is read again after it.
                            if batch.is_empty() {
                                out.beat_if_quiet(follower.last()).await?;
                            } else {
                                out.send(batch).await?;
                            }
                            if gap {
                                continue 'catch_up;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            self.stream_lags.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            continue 'catch_up;
                        }
                        Err(broadcast::error::RecvError::Closed) => return Err(stopped()),
                    },
                    _ = tokio::time::sleep_until(beat_at.into()) => {
                        out.send(vec![StreamItem::Heartbeat { last_position: follower.last() }]).await?;
                    }
                    _ = tx.closed() => return Err(Gone.into()),
                    _ = out.stopping.changed() => return Err(stopped()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a follower does, driven by a script: the log holds 1..=log_end
    /// at the start; `Live` announces positions (as the feed would, maybe
    /// before, during or after a log read, maybe twice); `Lag` is the feed
    /// saying it dropped some; `Append` makes more positions durable (in
    /// the log) without announcing them.
    #[derive(Clone, Copy, Debug)]
    enum Event {
        Live(u64),
        Lag,
        Append(u64),
    }

    fn run(start: u64, mut log_end: u64, script: &[Event]) -> Vec<u64> {
        let mut follower = Follower::new(start);
        let mut out = Vec::new();
        let catch_up = |follower: &mut Follower, out: &mut Vec<u64>, log_end: u64| {
            for position in follower.last() + 1..=log_end {
                if follower.logged(position) {
                    out.push(position);
                }
            }
        };
        catch_up(&mut follower, &mut out, log_end);
        for event in script {
            match *event {
                Event::Append(end) => log_end = log_end.max(end),
                Event::Lag => catch_up(&mut follower, &mut out, log_end),
                Event::Live(position) => {
                    log_end = log_end.max(position);
                    match follower.live(position) {
                        Step::Take => out.push(position),
                        Step::Skip => {}
                        Step::CatchUp => catch_up(&mut follower, &mut out, log_end),
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_switch_from_log_to_live_neither_skips_nor_repeats() {
        use Event::*;
        // Live items announced before and during the log read arrive again
        // after it: duplicates, skipped.
        let out = run(5, 9, &[Live(7), Live(8), Live(9), Live(10), Live(11)]);
        assert_eq!(out, (6..=11).collect::<Vec<_>>());
        // A gap in the feed (12 missed): back to the log, which has it.
        let out = run(5, 9, &[Live(10), Append(12), Live(13), Live(12), Live(14)]);
        assert_eq!(out, (6..=14).collect::<Vec<_>>());
        // The feed lagged (dropped 10..=20): the log fills in; late
        // announcements of what was already read are skipped.
        let out = run(
            0,
            3,
            &[Append(20), Lag, Live(15), Live(20), Live(21), Live(21)],
        );
        assert_eq!(out, (1..=21).collect::<Vec<_>>());
        // Starting past the head of the log: nothing from the log, all live.
        let out = run(9, 9, &[Live(10), Live(10), Live(11)]);
        assert_eq!(out, vec![10, 11]);
        // Announcements of positions at or before the start are ignored.
        let out = run(5, 5, &[Live(3), Live(5), Live(6)]);
        assert_eq!(out, vec![6]);
    }

    #[test]
    fn every_interleaving_of_a_small_script_yields_exactly_the_positions_after_the_start() {
        // Announce 4..=8 in every rotation, with a duplicate and a lag at
        // every place; the log holds 1..=3 at the start.
        let base: Vec<u64> = (4..=8).collect();
        for rotate in 0..base.len() {
            for lag_at in 0..=base.len() {
                let mut order = base.clone();
                order.rotate_left(rotate);
                let mut script: Vec<Event> = vec![Event::Append(8)];
                for (i, p) in order.iter().enumerate() {
                    if i == lag_at {
                        script.push(Event::Lag);
                    }
                    script.push(Event::Live(*p));
                    script.push(Event::Live(*p));
                }
                script.push(Event::Lag);
                let out = run(2, 3, &script);
                assert_eq!(out, (3..=8).collect::<Vec<_>>(), "{script:?}");
            }
        }
    }
}
