//! The pull alternative to webhooks: a partner's Server-Sent Events feed.
//!
//! Each SSE event is an outbox event of the partner (`id` = the event id, `event` = its
//! type, `data` = the CloudEvent JSON). A client that reconnects with `Last-Event-ID`
//! gets, from the outbox, every event of the partner inserted after that one (not
//! cancelled, not expired), then the live events; without it, only live events. The live
//! part follows the outbox's broadcast of inserted events; a client too slow for the
//! broadcast's buffer catches up from the outbox, so nothing is skipped. The feed does
//! not change the webhook delivery state.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::now_us;
use crate::outbox::{FeedEvent, Outbox, OutboxError};

const PAGE: usize = 256;

/// The `Last-Event-ID` request header, if any.
pub fn last_event_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

struct Feed {
    outbox: Arc<Outbox>,
    partner: u32,
    last_seq: i64,
    live: broadcast::Receiver<Arc<FeedEvent>>,
    backlog: VecDeque<Arc<FeedEvent>>,
    replaying: bool,
}

async fn blocking<T: Send + 'static>(
    outbox: &Arc<Outbox>,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let ob = outbox.clone();
    tokio::task::spawn_blocking(move || f(&ob))
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))?
}

impl Feed {
    async fn next(&mut self) -> Option<Arc<FeedEvent>> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                self.last_seq = e.seq;
                return Some(e);
            }
            if self.replaying {
                let (p, after) = (self.partner, self.last_seq);
                match blocking(&self.outbox, move |o| {
                    o.feed_after(p, after, now_us(), PAGE)
                })
                .await
                {
                    Ok(page) if page.is_empty() => self.replaying = false,
                    Ok(page) => self.backlog.extend(page.into_iter().map(Arc::new)),
                    Err(e) => {
                        tracing::warn!(error = %e, partner = self.partner, "SSE replay failed");
                        return None;
                    }
                }
                continue;
            }
            match self.live.recv().await {
                Ok(e) => {
                    let live = e.expires_at_us.is_none_or(|x| x > now_us());
                    if e.partner == self.partner && e.seq > self.last_seq && live {
                        self.last_seq = e.seq;
                        return Some(e);
                    }
                }
                Err(RecvError::Lagged(_)) => self.replaying = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// A partner's events from after `last_event_id` (all retained ones if that id is not
/// known; only live ones if `None`), then live, as a stream. Ends if the outbox fails
/// (the client reconnects with its `Last-Event-ID`).
pub async fn event_stream(
    outbox: Arc<Outbox>,
    partner: u32,
    last_event_id: Option<String>,
) -> Result<impl Stream<Item = Arc<FeedEvent>> + Send, OutboxError> {
    // Subscribed before the start is read: nothing inserted in between is missed.
    let live = outbox.subscribe_feed();
    let (last_seq, replaying) = match last_event_id {
        Some(id) => {
            let seq = blocking(&outbox, move |o| o.seq_of(partner, &id)).await?;
            (seq.unwrap_or(0), true)
        }
        None => (blocking(&outbox, |o| o.max_seq()).await?, false),
    };
    let feed = Feed {
        outbox,
        partner,
        last_seq,
        live,
        backlog: VecDeque::new(),
        replaying,
    };
    Ok(stream::unfold(feed, |mut f| async move {
        f.next().await.map(|e| (e, f))
    }))
}

/// The SSE response of a partner's feed, for the service's route handler (which
/// authenticates the partner and reads [`last_event_id`] from the request).
pub async fn sse_response(
    outbox: Arc<Outbox>,
    partner: u32,
    last_event_id: Option<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + Send>, OutboxError> {
    let events = event_stream(outbox, partner, last_event_id).await?;
    let sse = events.map(|e| {
        Ok(Event::default()
            .id(e.event_id.as_str())
            .event(e.event_type.as_str())
            .data(String::from_utf8_lossy(&e.body)))
    });
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()))
}
