//! What one peer's file offers may cost us (docs/files.md, "Limits"), with the web UI's numbers
//! (`crate::constants`, generated into its `core.gen.ts`) and its rules (ui/src/lib/files/limits.ts; both
//! run tests/vectors/file_limits.json): every offer takes a token from the peer's bucket (a burst of
//! [`FILE_OFFER_BURST`], then [`FILE_OFFERS_PER_SECOND`]); at most [`MAX_INCOMING_FILES_PER_PEER`] files
//! come in at once from one peer (one link) and [`MAX_INCOMING_FILES`] from everyone; up to
//! [`MAX_WAITING_FILE_OFFERS`] more of a peer wait their turn, and a freed place goes to the oldest
//! waiting offer that fits. Offers beyond are refused and never shown.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::oneshot;

use super::lock;
use crate::constants::{
    FILE_OFFER_BURST, FILE_OFFERS_PER_SECOND, MAX_INCOMING_FILES, MAX_INCOMING_FILES_PER_PEER,
    MAX_WAITING_FILE_OFFERS,
};

/// One peer's bucket, and its files coming in and waiting.
struct Peer {
    tokens: f64,
    at: Instant,
    running: usize,
    waiting: usize,
}

impl Peer {
    fn new(now: Instant) -> Peer {
        Peer {
            tokens: f64::from(FILE_OFFER_BURST),
            at: now,
            running: 0,
            waiting: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64()
            * f64::from(FILE_OFFERS_PER_SECOND);
        self.tokens = (self.tokens + earned).min(f64::from(FILE_OFFER_BURST));
        self.at = now;
    }

    /// Nothing of it is in use: it can be forgotten.
    fn idle(&self) -> bool {
        self.waiting == 0 && self.running == 0 && self.tokens >= f64::from(FILE_OFFER_BURST)
    }
}

/// An offer in line, oldest first.
struct Queued {
    link: u64,
    ticket: u64,
    start: oneshot::Sender<Place>,
}

#[derive(Default)]
struct State {
    peers: HashMap<u64, Peer>,
    queue: VecDeque<Queued>,
    running: usize,
    next_ticket: u64,
}

impl State {
    fn peer(&mut self, link: u64) -> &mut Peer {
        self.peers
            .entry(link)
            .or_insert_with(|| Peer::new(Instant::now()))
    }

    fn has_room(&self, link: u64) -> bool {
        let running = self.peers.get(&link).map_or(0, |p| p.running);
        running < MAX_INCOMING_FILES_PER_PEER && self.running < MAX_INCOMING_FILES
    }

    fn start(&mut self, link: u64) {
        self.peer(link).running += 1;
        self.running += 1;
    }

    /// Takes the oldest waiting offers that fit, in order; the caller hands them their places once
    /// the state is unlocked (a place nobody takes any more frees itself, which locks it).
    fn start_waiting(&mut self) -> Vec<(u64, oneshot::Sender<Place>)> {
        let mut started = Vec::new();
        let mut i = 0;
        while i < self.queue.len() && self.running < MAX_INCOMING_FILES {
            let link = self.queue[i].link;
            if !self.has_room(link) {
                i += 1;
                continue;
            }
            let Some(queued) = self.queue.remove(i) else {
                break;
            };
            self.peer(link).waiting -= 1;
            self.start(link);
            started.push((link, queued.start));
        }
        started
    }
}

type Shared = Arc<Mutex<State>>;

/// Hands places to the offers `start_waiting` took.
fn hand_out(state: &Shared, started: Vec<(u64, oneshot::Sender<Place>)>) {
    for (link, start) in started {
        let _ = start.send(Place {
            state: state.clone(),
            link,
        });
    }
}

/// The receiver's limits, shared by every link of a manager.
#[derive(Default)]
pub(crate) struct Limits {
    state: Shared,
    dropped: AtomicU64,
}

impl Limits {
    /// Whether link `link`'s peer may make another offer now (takes a token).
    pub(crate) fn take_offer(&self, link: u64, now: Instant) -> bool {
        let mut state = lock(&self.state);
        if state.peers.len() > 256 {
            state.peers.retain(|_, p| {
                p.refill(now);
                !p.idle()
            });
        }
        let peer = state.peers.entry(link).or_insert_with(|| Peer::new(now));
        peer.refill(now);
        if peer.tokens < 1.0 {
            return false;
        }
        peer.tokens -= 1.0;
        true
    }

    /// A new transfer from `link` gets a place now or joins the line; None when too many of its offers
    /// wait.
    pub(crate) fn wait(&self, link: u64) -> Option<Waiting> {
        let (start, place) = oneshot::channel();
        let mut state = lock(&self.state);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        if state.has_room(link) {
            state.start(link);
            drop(state);
            hand_out(&self.state, vec![(link, start)]);
        } else {
            if state.peer(link).waiting >= MAX_WAITING_FILE_OFFERS {
                return None;
            }
            state.peer(link).waiting += 1;
            state.queue.push_back(Queued {
                link,
                ticket,
                start,
            });
        }
        Some(Waiting {
            state: self.state.clone(),
            ticket,
            place,
        })
    }

    /// Counts an offer refused unseen; returns how many so far (for the log).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// An offer with its place or in line for one; leaving the line is dropping it.
pub(crate) struct Waiting {
    state: Shared,
    ticket: u64,
    place: oneshot::Receiver<Place>,
}

impl Waiting {
    /// Resolves with the place, once it is this offer's turn.
    pub(crate) async fn place(mut self) -> Place {
        // The sender lives in the line until it is used, and the line lives as long as we do.
        (&mut self.place)
            .await
            .expect("file limits dropped a waiting offer")
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(i) = state.queue.iter().position(|q| q.ticket == self.ticket) {
            let link = state.queue[i].link;
            state.queue.remove(i);
            state.peer(link).waiting -= 1;
        }
    }
}

/// A transfer's place among those coming in at once; freed when dropped, and given to the oldest
/// waiting offer that fits.
pub(crate) struct Place {
    state: Shared,
    link: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        let started = {
            let mut state = lock(&self.state);
            state.running -= 1;
            let peer = state.peer(self.link);
            peer.running -= 1;
            if peer.idle() {
                state.peers.remove(&self.link);
            }
            state.start_waiting()
        };
        hand_out(&self.state, started);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    enum Ticket {
        Started(#[allow(dead_code)] Place),
        Waiting(Pin<Box<dyn Future<Output = Place> + Send>>),
    }

    /// The place, if it is this offer's turn now.
    fn poll(waiting: &mut Pin<Box<dyn Future<Output = Place> + Send>>) -> Option<Place> {
        match waiting
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(place) => Some(place),
            Poll::Pending => None,
        }
    }

    /// The cases shared with the web UI's limits (tests/vectors/file_limits.json): a flood of offers
    /// becomes a few rows, and waiting offers get their place in order of arrival, on both sides alike.
    #[test]
    fn follows_the_shared_vectors() {
        for case in crate::vectors::cases(include_str!("../../../tests/vectors/file_limits.json")) {
            let name = case["name"].as_str().unwrap();
            let limits = Limits::default();
            let t0 = Instant::now();
            let mut now = t0;
            let mut links: Vec<String> = Vec::new();
            let mut link = |person: &str| -> u64 {
                if !links.iter().any(|p| p == person) {
                    links.push(person.to_owned());
                }
                links.iter().position(|p| p == person).unwrap() as u64
            };
            // In arrival order.
            let mut tickets: Vec<(String, Ticket)> = Vec::new();
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let here = format!("{name}, step {i}: {step}");
                if let Some(at) = step["at_ms"].as_u64() {
                    now = t0 + Duration::from_millis(at);
                }
                if let Some(person) = step["offers"].as_str() {
                    let link = link(person);
                    let count = step["count"].as_u64().unwrap();
                    let taken = (0..count).filter(|_| limits.take_offer(link, now)).count();
                    assert_eq!(taken as u64, step["taken"].as_u64().unwrap(), "{here}");
                }
                if let Some(person) = step["request"].as_str() {
                    let (gets, ticket) = match limits.wait(link(person)) {
                        None => ("refused", None),
                        Some(waiting) => {
                            let mut waiting: Pin<Box<dyn Future<Output = Place> + Send>> =
                                Box::pin(waiting.place());
                            match poll(&mut waiting) {
                                Some(place) => ("started", Some(Ticket::Started(place))),
                                None => ("waiting", Some(Ticket::Waiting(waiting))),
                            }
                        }
                    };
                    assert_eq!(gets, step["gets"].as_str().unwrap(), "{here}");
                    if let Some(ticket) = ticket {
                        tickets.push((step["as"].as_str().unwrap().to_owned(), ticket));
                    }
                }
                if let Some(released) = step["release"].as_str() {
                    tickets.retain(|(name, _)| name != released);
                    let mut started = Vec::new();
                    for (name, ticket) in &mut tickets {
                        if let Ticket::Waiting(waiting) = ticket
                            && let Some(place) = poll(waiting)
                        {
                            started.push(Value::from(name.as_str()));
                            *ticket = Ticket::Started(place);
                        }
                    }
                    assert_eq!(Value::from(started), step["started"], "{here}");
                }
            }
        }
    }
}
