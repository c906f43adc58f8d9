//! What one peer's file offers may cost us (docs/files.md, "Limits"), with the web UI's numbers
//! (`crate::constants`, generated into its `core.gen.ts`): every offer takes a token from the peer's
//! bucket (a burst of [`FILE_OFFER_BURST`], then [`FILE_OFFERS_PER_SECOND`]); at most
//! [`MAX_INCOMING_FILES_PER_PEER`] files come in at once from one peer (one link) and
//! [`MAX_INCOMING_FILES`] from everyone; up to [`MAX_WAITING_FILE_OFFERS`] more of a peer wait their
//! turn, in arrival order (tokio's semaphores are fair). Offers beyond are refused and never shown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::lock;
use crate::constants::{
    FILE_OFFER_BURST, FILE_OFFERS_PER_SECOND, MAX_INCOMING_FILES, MAX_INCOMING_FILES_PER_PEER,
    MAX_WAITING_FILE_OFFERS,
};

/// One peer's bucket, waiting offers and places.
struct Peer {
    tokens: f64,
    at: Instant,
    waiting: usize,
    places: Arc<Semaphore>,
}

impl Peer {
    fn new(now: Instant) -> Peer {
        Peer {
            tokens: f64::from(FILE_OFFER_BURST),
            at: now,
            waiting: 0,
            places: Arc::new(Semaphore::new(MAX_INCOMING_FILES_PER_PEER)),
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
        self.waiting == 0
            && self.places.available_permits() == MAX_INCOMING_FILES_PER_PEER
            && self.tokens >= f64::from(FILE_OFFER_BURST)
    }
}

type Peers = Arc<Mutex<HashMap<u64, Peer>>>;

/// The receiver's limits, shared by every link of a manager.
pub(crate) struct Limits {
    peers: Peers,
    total: Arc<Semaphore>,
    dropped: AtomicU64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            peers: Peers::default(),
            total: Arc::new(Semaphore::new(MAX_INCOMING_FILES)),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Limits {
    /// Whether link `link`'s peer may make another offer now (takes a token).
    pub(crate) fn take_offer(&self, link: u64, now: Instant) -> bool {
        let mut peers = lock(&self.peers);
        if peers.len() > 256 {
            peers.retain(|_, p| {
                p.refill(now);
                !p.idle()
            });
        }
        let peer = peers.entry(link).or_insert_with(|| Peer::new(now));
        peer.refill(now);
        if peer.tokens < 1.0 {
            return false;
        }
        peer.tokens -= 1.0;
        true
    }

    /// A new transfer from `link` joins the line for a place; None when too many of its offers wait.
    pub(crate) fn wait(&self, link: u64) -> Option<Waiting> {
        let mut peers = lock(&self.peers);
        let peer = peers
            .entry(link)
            .or_insert_with(|| Peer::new(Instant::now()));
        if peer.waiting >= MAX_WAITING_FILE_OFFERS {
            return None;
        }
        peer.waiting += 1;
        Some(Waiting {
            peers: self.peers.clone(),
            link,
            places: peer.places.clone(),
            total: self.total.clone(),
        })
    }

    /// Counts an offer refused unseen; returns how many so far (for the log).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// An offer in line for a place; leaving the line (a place, or giving up) is dropping it.
pub(crate) struct Waiting {
    peers: Peers,
    link: u64,
    places: Arc<Semaphore>,
    total: Arc<Semaphore>,
}

impl Waiting {
    /// Resolves with a place: first one of the peer's, then one of everyone's.
    pub(crate) async fn place(&self) -> Place {
        let peer = self.places.clone().acquire_owned().await;
        let total = self.total.clone().acquire_owned().await;
        match (peer, total) {
            (Ok(peer), Ok(total)) => Place {
                _peer: peer,
                _total: total,
            },
            // The semaphores are never closed.
            _ => unreachable!("file limits closed"),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(peer) = lock(&self.peers).get_mut(&self.link) {
            peer.waiting = peer.waiting.saturating_sub(1);
        }
    }
}

/// A transfer's place among those coming in at once; freed when dropped.
pub(crate) struct Place {
    _peer: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A place if one comes within a moment.
    async fn place_soon(waiting: &Waiting) -> Option<Place> {
        tokio::time::timeout(Duration::from_millis(20), waiting.place())
            .await
            .ok()
    }

    #[test]
    fn a_flood_of_offers_gets_a_burst_then_a_trickle() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let taken = (0..5000).filter(|_| limits.take_offer(1, t0)).count();
        assert_eq!(taken, FILE_OFFER_BURST as usize, "5 000 offers at once");
        let later = t0 + Duration::from_secs(1);
        let taken = (0..5000).filter(|_| limits.take_offer(1, later)).count();
        assert_eq!(taken, FILE_OFFERS_PER_SECOND as usize, "one second later");
        assert!(
            limits.take_offer(2, later),
            "another peer has its own bucket"
        );
    }

    #[tokio::test]
    async fn a_peer_waits_beyond_its_places_and_is_refused_beyond_its_line() {
        let limits = Limits::default();
        let mut places = Vec::new();
        for _ in 0..MAX_INCOMING_FILES_PER_PEER {
            let waiting = limits.wait(1).unwrap();
            places.push(place_soon(&waiting).await.expect("a free place"));
        }
        let next = limits.wait(1).unwrap();
        assert!(
            place_soon(&next).await.is_none(),
            "the peer's places are taken"
        );
        let line: Vec<Waiting> = (1..MAX_WAITING_FILE_OFFERS)
            .map(|_| limits.wait(1).unwrap())
            .collect();
        assert!(limits.wait(1).is_none(), "too many of its offers wait");
        assert!(limits.wait(2).is_some(), "another peer's offers may wait");
        drop(line);
        places.pop();
        assert!(
            place_soon(&next).await.is_some(),
            "an ended transfer frees its place"
        );
    }

    #[tokio::test]
    async fn everyone_together_gets_at_most_the_overall_places() {
        let limits = Limits::default();
        let mut places = Vec::new();
        for link in 0.. {
            let waiting = limits.wait(link).unwrap();
            match place_soon(&waiting).await {
                Some(place) => places.push(place),
                None => break,
            }
        }
        assert_eq!(places.len(), MAX_INCOMING_FILES);
    }
}
