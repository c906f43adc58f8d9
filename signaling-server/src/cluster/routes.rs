//! Where this server sends a signal for a peer on another server: the recipient's owner, learnt from the
//! relay script's reply, so later signals are published straight to that server's channel (one `PUBLISH`
//! instead of a script). Order per sender holds as a session moves, because a route is only ever left
//! through a point every earlier signal has passed:
//! - the recipient moved to another server: its former owner passes what still reaches it on and tells us
//!   (`Moved`); our next signals for it wait here until that server answers our `Flush` (after passing on
//!   everything we sent before), then go through the script to the new owner;
//! - the recipient moves here: from the moment the takeover is sent (through the same ordered queue as our
//!   signals) our signals for it wait here until it is a member of its rooms here ([`Routes::arrived`]);
//! - the recipient left the room: forgotten on its `peer-left` (its former server drops what was already
//!   on the way); the last member here left the room: its routes are forgotten;
//! - its server stopped listening: the signal goes through the script again (which keeps it for a resume).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Op;
use crate::hub::Remote;

#[derive(Clone)]
pub enum Route {
    /// Published to `node`'s channel.
    Direct { sid: Arc<str>, node: Arc<str> },
    /// Kept until `node` answers our `Flush`.
    Draining { sid: Arc<str>, node: Arc<str> },
    /// Moving here: kept until it arrived.
    Here { sid: Arc<str> },
}

#[derive(Default)]
pub struct Routes {
    inner: Mutex<Inner>,
}

#[derive(Default)]
pub struct Inner {
    /// Room → peer → route.
    rooms: HashMap<Box<str>, HashMap<Box<str>, Route>>,
    /// Signals kept for sessions moving here, by session id.
    arriving: HashMap<Arc<str>, Vec<Remote>>,
    /// Signals kept for sessions whose former server has not answered our `Flush` yet, by session id.
    draining: HashMap<Arc<str>, Vec<Op>>,
}

impl Routes {
    /// Held while a signal is routed and queued, so routes change between two queued operations only.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    pub fn get(&self, room: &str, peer: &str) -> Option<&Route> {
        self.rooms.get(room)?.get(peer)
    }

    /// The script found `peer` of `room` as session `sid` on `node`: later signals go there, unless a
    /// route is already known (a newer one, or one being left in order).
    pub fn learn(&mut self, room: &str, peer: &str, sid: Arc<str>, node: Arc<str>) {
        self.rooms
            .entry(room.into())
            .or_default()
            .entry(peer.into())
            .or_insert(Route::Direct { sid, node });
    }

    /// `peer` left `room`.
    pub fn forget(&mut self, room: &str, peer: &str) {
        if let Some(peers) = self.rooms.get_mut(room)
            && matches!(peers.get(peer), Some(Route::Direct { .. }))
        {
            peers.remove(peer);
            if peers.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Nobody here is in `room` any more: its routes are not needed (those being left finish first).
    pub fn desert(&mut self, room: &str) {
        if let Some(peers) = self.rooms.get_mut(room) {
            peers.retain(|_, route| !matches!(route, Route::Direct { .. }));
            if peers.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// `sid` left the server these routes send it to: they drain. Returns the servers to ask for a `Flush`.
    pub fn moved(&mut self, sid: &str) -> Vec<Arc<str>> {
        let mut ask = Vec::new();
        for route in self.rooms.values_mut().flat_map(HashMap::values_mut) {
            if let Route::Direct { sid: s, node } = route
                && **s == *sid
            {
                if !ask.contains(node) {
                    ask.push(node.clone());
                }
                *route = Route::Draining {
                    sid: s.clone(),
                    node: node.clone(),
                };
            }
        }
        ask
    }

    /// Keeps a signal for a session whose former server has not answered our `Flush` yet.
    pub fn hold(&mut self, sid: &Arc<str>, relay: Op) {
        self.draining.entry(sid.clone()).or_default().push(relay);
    }

    /// Everything sent to `sid`'s former server was passed on: the signals kept meanwhile, to send
    /// through the script (as every later one).
    pub fn flushed(&mut self, sid: &str) -> Vec<Op> {
        self.retain(|route| !matches!(route, Route::Draining { sid: s, .. } if **s == *sid));
        self.draining.remove(sid).unwrap_or_default()
    }

    /// The server sent to stopped listening: ask the script again.
    pub fn unheard(&mut self, node: &str) {
        self.retain(|route| match route {
            Route::Direct { node: n, .. } | Route::Draining { node: n, .. } => **n != *node,
            Route::Here { .. } => true,
        });
    }

    /// Session `sid` (peer `peer`, in `rooms`) is being claimed by this server: signals for it wait.
    pub fn arriving(&mut self, sid: &Arc<str>, peer: &str, rooms: &[String]) {
        for room in rooms {
            self.rooms
                .entry(room.as_str().into())
                .or_default()
                .insert(peer.into(), Route::Here { sid: sid.clone() });
        }
        self.arriving.entry(sid.clone()).or_default();
    }

    /// Keeps a signal for a session moving here.
    pub fn keep(&mut self, sid: &Arc<str>, signal: Remote) {
        self.arriving.entry(sid.clone()).or_default().push(signal);
    }

    /// Session `sid` is here now (or its claim failed): the signals kept for it.
    pub fn arrived(&mut self, sid: &str) -> Vec<Remote> {
        self.retain(|route| !matches!(route, Route::Here { sid: s } if **s == *sid));
        self.arriving.remove(sid).unwrap_or_default()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Route) -> bool) {
        self.rooms.retain(|_, peers| {
            peers.retain(|_, route| keep(route));
            !peers.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(inner: &Inner, room: &str, peer: &str) -> Option<String> {
        match inner.get(room, peer)? {
            Route::Direct { node, .. } => Some(format!("direct {node}")),
            Route::Draining { node, .. } => Some(format!("draining {node}")),
            Route::Here { .. } => Some("here".into()),
        }
    }

    #[test]
    fn a_route_is_left_only_through_its_drain_or_arrival() {
        let mut routes = Inner::default();
        routes.learn("r", "p", "s1".into(), "a".into());
        routes.learn("r", "p", "s1".into(), "b".into());
        assert_eq!(direct(&routes, "r", "p").as_deref(), Some("direct a"));
        assert_eq!(routes.moved("s1"), vec![Arc::<str>::from("a")]);
        assert!(routes.moved("s1").is_empty(), "asked once");
        routes.forget("r", "p");
        routes.desert("r");
        assert_eq!(direct(&routes, "r", "p").as_deref(), Some("draining a"));
        assert!(routes.flushed("s1").is_empty());
        assert_eq!(direct(&routes, "r", "p"), None);

        routes.arriving(&"s2".into(), "q", &["r".into(), "t".into()]);
        routes.keep(
            &"s2".into(),
            Remote::PeerLeft {
                room: "r".into(),
                peer: "x".into(),
            },
        );
        assert_eq!(direct(&routes, "t", "q").as_deref(), Some("here"));
        assert_eq!(routes.arrived("s2").len(), 1);
        assert_eq!(direct(&routes, "t", "q"), None);
        assert!(routes.rooms.is_empty());

        routes.learn("u", "p", "s3".into(), "a".into());
        routes.desert("u");
        assert!(routes.rooms.is_empty());
    }
}
