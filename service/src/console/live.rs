//! The console's live feed: `GET /v1/operator/live`, Server-Sent Events.
//!
//! The emitter hands every completed batch's moments to [`Live::record`] after the view
//! applied them; a ticker ([`run`]) renders, at most every [`TICK`] and only when something
//! changed (or every [`HEARTBEAT`] for the clock), one `update`: the view's counts per area
//! at each level and its clock read under the view's lock (so they are what
//! `/v1/operator/areas` answers at that `as_of`), the arrivals since the last update (the
//! latest [`ARRIVALS_PER_UPDATE`]; how many more were left out is `arrivals_left_out`) and
//! the flow's last minutes. The update is rendered once and shared by every listener: the
//! cost does not grow with the moment rate, and a slow listener skips updates instead of
//! queueing them (each carries the whole counts).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use landfall_model::json::{area_text, rfc3339_us};
use landfall_model::{Level, Moment, MomentKind};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::http::AppState;
use crate::view::View;

use super::flow::Flow;

/// The shortest time between two updates.
pub const TICK: Duration = Duration::from_millis(250);
/// An update at least this often, with the view's clock, while listeners wait.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// The most arrivals an update lists (the latest).
pub const ARRIVALS_PER_UPDATE: usize = 50;
/// Minutes of flow an update carries (the last ones).
pub const FLOW_TAIL_MINUTES: u32 = 3;

/// Updates kept for a listener that lags (it skips to the latest beyond).
const CHANNEL: usize = 16;

/// The feed: arrivals since the last update and the rendered updates' channel.
pub struct Live {
    tx: broadcast::Sender<Arc<str>>,
    pending: Mutex<Pending>,
    /// The last update, sent first to a new listener.
    latest: Mutex<Option<Arc<str>>>,
}

#[derive(Default)]
struct Pending {
    arrivals: VecDeque<Value>,
    left_out: u64,
    changed: bool,
    seq: u64,
    last_sent: Option<Instant>,
}

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        let (tx, _) = broadcast::channel(CHANNEL);
        Live {
            tx,
            pending: Mutex::new(Pending::default()),
            latest: Mutex::new(None),
        }
    }

    /// A completed batch's moments (after the view applied them); `expired`: arrivals
    /// the view's clock expired with it.
    pub fn record(&self, moments: &[Moment], expired: usize) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if moments.is_empty() && expired == 0 {
            return;
        }
        p.changed = true;
        for m in moments.iter().filter(|m| m.kind == MomentKind::Arrival) {
            if p.arrivals.len() == ARRIVALS_PER_UPDATE {
                p.arrivals.pop_front();
                p.left_out += 1;
            }
            p.arrivals.push_back(arrival_json(m));
        }
    }

    /// Render an update if one is due (something changed, or the heartbeat), and send it.
    pub fn tick(&self, view: &Mutex<View>, flow: &Mutex<Flow>) -> Option<Arc<str>> {
        let (arrivals, left_out, seq) = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let heartbeat = p.last_sent.is_none_or(|t| t.elapsed() >= HEARTBEAT);
            if !p.changed && !heartbeat {
                return None;
            }
            p.changed = false;
            p.seq += 1;
            p.last_sent = Some(Instant::now());
            (
                std::mem::take(&mut p.arrivals),
                std::mem::take(&mut p.left_out),
                p.seq,
            )
        };
        let (counts, as_of, present) = {
            let view = view.lock().unwrap_or_else(|e| e.into_inner());
            let counts: serde_json::Map<String, Value> =
                [Level::Country, Level::Network, Level::Zone]
                    .into_iter()
                    .map(|level| {
                        let list: Vec<Value> = view
                            .counts(level)
                            .iter()
                            .map(|(a, n)| json!([area_text(a), n]))
                            .collect();
                        (level.as_str().to_owned(), Value::Array(list))
                    })
                    .collect();
            (counts, view.clock(), view.len())
        };
        let flow = flow
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tail(FLOW_TAIL_MINUTES);
        let update: Arc<str> = json!({
            "seq": seq,
            "as_of": rfc3339_us(as_of),
            "present": present,
            "counts": counts,
            "arrivals": Vec::from(arrivals),
            "arrivals_left_out": left_out,
            "flow": flow,
        })
        .to_string()
        .into();
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&update));
        let _ = self.tx.send(Arc::clone(&update));
        Some(update)
    }

    /// The last update and the ones after it.
    pub fn subscribe(&self) -> (Option<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let rx = self.tx.subscribe();
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        (latest, rx)
    }
}

/// An arrival as the feed lists it (the IMSI: the feed is the operator's).
pub fn arrival_json(m: &Moment) -> Value {
    json!({
        "level": m.level.as_str(),
        "area": area_text(&m.area),
        "imsi": m.imsi.as_str(),
        "home": m.home.map(|p| p.to_string()),
        "home_country": m.home_country.map(|c| c.to_string()),
        "at": rfc3339_us(m.at),
    })
}

/// The ticker: an update every [`TICK`] when due, until `stopped`.
pub async fn run(state: AppState, stopped: impl Fn() -> bool) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stopped() {
        every.tick().await;
        let (console, view) = (Arc::clone(&state.console), Arc::clone(&state.view));
        let _ = tokio::task::spawn_blocking(move || console.live.tick(&view, &console.flow)).await;
    }
}

/// `GET /v1/operator/live`.
pub async fn sse(State(s): State<AppState>) -> Response {
    let (latest, rx) = s.console.live.subscribe();
    let first = stream::iter(latest.map(|u| Ok::<_, Infallible>(event(&u))));
    let rest = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(u) => return Some((Ok::<_, Infallible>(event(&u)), rx)),
                // Each update carries the whole counts: the next one is enough.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(first.chain(rest))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn event(update: &str) -> Event {
    Event::default().event("update").data(update)
}
