//! Ringing for a native caller without the web UI (the headless peer): the web UI's call signals
//! (ui/src/lib/call/call.svelte.ts) — `invite` (naming the others it rings), `accept`, `decline`,
//! `cancel`, `hangup`, `join-call` with a call id — as a state machine that returns what to do, so the
//! rules are tested without a network; both run the cases of tests/vectors/ring.json. A call rings for
//! [`RING_TIMEOUT`] (the owner calls [`Ring::tick`] now and then), a second call while one rings or is on
//! is declined (busy). Call control goes only to the peers it concerns, as in the web UI:
//! a callee answers the caller and the others the invite names, and takes an `accept` only from them.
//! Media follows the participants: a peer who joined our call gets our camera and microphone, one who
//! left stops. A co-invitee's `accept` may overtake the caller's `invite` (they travel separately): it is
//! kept for [`EARLY_ACCEPT`] and counts, under the same rule, once we answer that call; one that comes
//! while the call rings us, or overtook the invite that made it ring, counts whenever we answer it.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use chat_protocol::SignalData;

/// Most people in one call (a full mesh), the web UI's cap too (generated into ui/src/lib/core.gen.ts).
pub const MAX_CALL_PEOPLE: usize = 6;

/// Most people in one call when the server moves calls above its mesh size to an SFU (the web UI's
/// `SFU_MAX_CALL_PEOPLE`, ui/src/lib/call/sfu-call.svelte.ts).
pub const SFU_MAX_CALL_PEOPLE: usize = 16;

/// How long an `accept` for a call we have not answered yet is kept.
pub const EARLY_ACCEPT: Duration = Duration::from_secs(5);

/// Most early accepts kept at once (a mesh's worth, twice); the oldest go first.
pub const MAX_EARLY_ACCEPTS: usize = 2 * MAX_CALL_PEOPLE;

/// How long the web UI rings (an unanswered call of ours ends "No answer.", one ringing us becomes a
/// missed call). The app's call log coalesces invites over twice this (`INVITE_WINDOW_MS`).
pub const RING_TIMEOUT: Duration = Duration::from_secs(30);

/// Where ringing stands, as the web UI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingPhase {
    Idle,
    /// Our call rings and nobody has accepted yet.
    Outgoing,
    /// A call rings us, unanswered.
    Incoming,
    Active,
}

/// What the owner must do after a step.
#[derive(Debug, Clone, PartialEq)]
pub enum RingAction {
    /// Send a call signal to a peer.
    Signal { to: String, data: SignalData },
    /// Negotiate media with `peer`, not sent yet (they are being rung).
    Prepare { peer: String },
    /// Start sending media to `peer` (they are in the call now).
    Connect { peer: String },
    /// Stop sending media to `peer`.
    Disconnect { peer: String, reason: String },
}

#[derive(Debug, Default)]
pub struct Ring {
    /// Answer every incoming call at once.
    pub auto_accept: bool,
    /// The server places calls above its mesh size on an SFU (`welcome.sfu`): a call holds
    /// [`SFU_MAX_CALL_PEOPLE`] instead of [`MAX_CALL_PEOPLE`].
    pub sfu: bool,
    call: Option<String>,
    mine: bool,
    /// Still ringing (our own call).
    invited: BTreeSet<String>,
    /// Whose `accept` we take: those we rang, or the caller and the others its invite named.
    expected: BTreeSet<String>,
    participants: BTreeSet<String>,
    /// A call ringing us that we have not answered (without auto-accept): (caller, call id, whose
    /// accept we would take). Calling that caller answers it, as for two people calling each other.
    ringing: Option<(String, String, BTreeSet<String>)>,
    /// When our call or the one ringing us started ringing.
    rang_at: Option<Instant>,
    /// Accepts for calls we are not in (yet): (peer, call id, when it came, whether that call was
    /// ringing us then), oldest first.
    early: VecDeque<(String, String, Instant, bool)>,
}

impl Ring {
    pub fn new(auto_accept: bool) -> Ring {
        Ring {
            auto_accept,
            ..Ring::default()
        }
    }

    pub fn in_call(&self) -> bool {
        self.call.is_some()
    }

    /// Most people in one of our calls, us included.
    fn cap(&self) -> usize {
        if self.sfu {
            SFU_MAX_CALL_PEOPLE
        } else {
            MAX_CALL_PEOPLE
        }
    }

    pub fn participants(&self) -> impl Iterator<Item = &String> {
        self.participants.iter()
    }

    /// The id of the call we are in (or place), if any.
    pub fn call_id(&self) -> Option<&str> {
        self.call.as_deref()
    }

    pub fn phase(&self) -> RingPhase {
        match (&self.call, &self.ringing) {
            (Some(_), _) if self.mine && self.participants.is_empty() => RingPhase::Outgoing,
            (Some(_), _) => RingPhase::Active,
            (None, Some(_)) => RingPhase::Incoming,
            (None, None) => RingPhase::Idle,
        }
    }

    /// Answers the call ringing us, if one does.
    pub fn accept(&mut self) -> Vec<RingAction> {
        match self.ringing.take() {
            Some((caller, call, expected)) => self.answer(&caller, &call, expected),
            None => Vec::new(),
        }
    }

    /// Declines the call ringing us: its caller and the others it rings take no accept from us for it.
    pub fn decline(&mut self) -> Vec<RingAction> {
        let Some((_, call, expected)) = self.ringing.take() else {
            return Vec::new();
        };
        expected
            .into_iter()
            .map(|to| RingAction::Signal {
                to,
                data: SignalData::Decline { call: call.clone() },
            })
            .collect()
    }

    /// Ends what rang for [`RING_TIMEOUT`] unanswered: our call nobody accepted ("No answer": whoever it
    /// rings is told), or a call ringing us (a missed call).
    pub fn tick(&mut self) -> Vec<RingAction> {
        if self.rang_at.is_none_or(|at| at.elapsed() < RING_TIMEOUT) {
            return Vec::new();
        }
        self.rang_at = None;
        if self.ringing.take().is_some() || self.phase() != RingPhase::Outgoing {
            return Vec::new();
        }
        self.hangup()
    }

    /// Rings `peers` with a new call (nothing if a call is on); each invite names the others rung.
    pub fn place(&mut self, peers: &[String]) -> Vec<RingAction> {
        if self.call.is_some() || peers.is_empty() {
            return Vec::new();
        }
        if let Some((caller, call, expected)) = self.ringing.take() {
            if peers.contains(&caller) {
                return self.answer(&caller, &call, expected);
            }
            self.ringing = Some((caller, call, expected));
        }
        let id = uuid::Uuid::now_v7().to_string();
        self.call = Some(id.clone());
        self.mine = true;
        self.rang_at = Some(Instant::now());
        self.invited = peers.iter().take(self.cap() - 1).cloned().collect();
        self.expected = self.invited.clone();
        // Media first: the invite follows the offer that carries it, so the callee's accept (and its
        // own renegotiation) cannot cross ours.
        let mut actions: Vec<RingAction> = self
            .invited
            .iter()
            .map(|peer| RingAction::Prepare { peer: peer.clone() })
            .collect();
        for to in &self.invited {
            let others: Vec<String> = self.invited.iter().filter(|p| *p != to).cloned().collect();
            actions.push(RingAction::Signal {
                to: to.clone(),
                data: SignalData::Invite {
                    call: id.clone(),
                    media: vec!["audio".into(), "video".into()],
                    peers: (!others.is_empty()).then_some(others),
                },
            });
        }
        actions
    }

    /// A call signal from `from`; `room` lists who is in the room now.
    pub fn on_signal(&mut self, from: &str, data: &SignalData, room: &[String]) -> Vec<RingAction> {
        let ours = |call: &str| self.call.as_deref() == Some(call);
        match data {
            SignalData::Invite { call, peers, .. } => {
                self.on_invite(from, call, peers.as_deref().unwrap_or_default(), room)
            }
            SignalData::Accept { call } if !ours(call) => {
                if room.iter().any(|p| p == from) {
                    self.keep_early(from, call);
                }
                Vec::new()
            }
            SignalData::Accept { .. } => {
                if !self.expected.contains(from) || self.full(from) {
                    return Vec::new();
                }
                self.invited.remove(from);
                self.connect(from)
            }
            SignalData::JoinCall { call } if ours(call) && room.iter().any(|p| p == from) => {
                let answer = if self.full(from) {
                    SignalData::Decline { call: call.clone() }
                } else {
                    SignalData::Accept { call: call.clone() }
                };
                let admitted = matches!(answer, SignalData::Accept { .. });
                let mut actions = vec![RingAction::Signal {
                    to: from.to_owned(),
                    data: answer,
                }];
                if admitted {
                    self.expected.insert(from.to_owned());
                    actions.extend(self.connect(from));
                }
                actions
            }
            SignalData::Decline { call } if ours(call) => {
                self.invited.remove(from);
                self.expected.remove(from);
                self.end_if_empty();
                Vec::new()
            }
            SignalData::Cancel { call }
                if self
                    .ringing
                    .as_ref()
                    .is_some_and(|(caller, ringing, _)| caller == from && ringing == call) =>
            {
                self.ringing = None; // a missed call
                Vec::new()
            }
            SignalData::Cancel { call } | SignalData::Hangup { call } if ours(call) => {
                self.expected.remove(from);
                let actions = self.disconnect(from, "hangup");
                self.end_if_empty();
                actions
            }
            _ => Vec::new(),
        }
    }

    /// We hang up: everyone in the call or still ringing is told.
    pub fn hangup(&mut self) -> Vec<RingAction> {
        let Some(call) = self.call.take() else {
            return Vec::new();
        };
        let mut actions: Vec<RingAction> = Vec::new();
        for to in std::mem::take(&mut self.participants) {
            actions.push(RingAction::Signal {
                to: to.clone(),
                data: SignalData::Hangup { call: call.clone() },
            });
            actions.push(RingAction::Disconnect {
                peer: to,
                reason: "hung up".into(),
            });
        }
        for to in std::mem::take(&mut self.invited) {
            actions.push(RingAction::Signal {
                to,
                data: SignalData::Cancel { call: call.clone() },
            });
        }
        self.reset();
        actions
    }

    /// The same person under a new peer id (their new signaling session, proven by their link): our
    /// call and its ringing know them by it from now on.
    pub fn rename(&mut self, from: &str, to: &str) {
        for set in [
            &mut self.invited,
            &mut self.expected,
            &mut self.participants,
        ] {
            if set.remove(from) {
                set.insert(to.to_owned());
            }
        }
        if let Some((caller, _, expected)) = &mut self.ringing {
            if caller == from {
                *caller = to.to_owned();
            }
            if expected.remove(from) {
                expected.insert(to.to_owned());
            }
        }
        for (peer, ..) in &mut self.early {
            if peer == from {
                *peer = to.to_owned();
            }
        }
    }

    /// `peer` left the room.
    pub fn peer_gone(&mut self, peer: &str) -> Vec<RingAction> {
        if self
            .ringing
            .as_ref()
            .is_some_and(|(caller, ..)| caller == peer)
        {
            self.ringing = None;
        }
        self.invited.remove(peer);
        self.expected.remove(peer);
        let actions = self.disconnect(peer, "left");
        self.end_if_empty();
        actions
    }

    fn on_invite(
        &mut self,
        from: &str,
        call: &str,
        others: &[String],
        room: &[String],
    ) -> Vec<RingAction> {
        // The others the caller rings, as far as they are in this room (never beyond the cap).
        let vouched = others
            .iter()
            .filter(|p| p.as_str() != from && room.contains(p))
            .take(self.cap() - 2)
            .cloned();
        let expected: BTreeSet<String> = std::iter::once(from.to_owned()).chain(vouched).collect();
        if let Some(ours) = &self.call {
            // Glare: we rang each other. The smaller call id wins on both sides.
            if self.mine && self.invited.contains(from) {
                if call >= ours.as_str() {
                    return Vec::new(); // our call wins: the other side takes it
                }
                let cancelled = ours.clone();
                let mut actions: Vec<RingAction> = self
                    .invited
                    .iter()
                    .filter(|p| p.as_str() != from)
                    .map(|to| RingAction::Signal {
                        to: to.clone(),
                        data: SignalData::Cancel {
                            call: cancelled.clone(),
                        },
                    })
                    .collect();
                self.invited.clear();
                self.mine = false;
                self.call = Some(call.to_owned());
                self.expected = expected;
                actions.extend(self.accept_signals(call));
                actions.extend(self.connect(from));
                actions.extend(self.connect_early(call));
                return actions;
            }
            if self.call.as_deref() == Some(call) {
                return Vec::new();
            }
        }
        if self
            .ringing
            .as_ref()
            .is_some_and(|(_, ringing, _)| ringing == call)
        {
            return Vec::new();
        }
        if !self.auto_accept && self.call.is_none() && self.ringing.is_none() {
            // It rings unanswered until we answer, or it times out.
            self.ringing = Some((from.to_owned(), call.to_owned(), expected));
            let now = Instant::now();
            self.rang_at = Some(now);
            // Accepts that overtook this invite count whenever we answer, as those that come while it
            // rings (the web UI takes them into its `known` at the invite).
            for (_, id, at, rang) in &mut self.early {
                if id == call && now - *at < EARLY_ACCEPT {
                    *rang = true;
                }
            }
            return Vec::new();
        }
        if self.call.is_some() || self.ringing.is_some() {
            return vec![RingAction::Signal {
                to: from.to_owned(),
                data: SignalData::Decline {
                    call: call.to_owned(),
                },
            }];
        }
        self.answer(from, call, expected)
    }

    /// Accepts `from`'s call `call`.
    fn answer(&mut self, from: &str, call: &str, expected: BTreeSet<String>) -> Vec<RingAction> {
        self.call = Some(call.to_owned());
        self.mine = false;
        self.ringing = None;
        self.rang_at = None;
        self.expected = expected;
        let mut actions = self.accept_signals(call);
        actions.extend(self.connect(from));
        actions.extend(self.connect_early(call));
        actions
    }

    /// Keeps `from`'s accept of a call we are not in, in case we answer that call soon (or, for the
    /// call ringing us, whenever we answer it, as the web UI does).
    fn keep_early(&mut self, from: &str, call: &str) {
        let now = Instant::now();
        let ringing = self.ringing.as_ref().map(|(_, id, _)| id.clone());
        self.early.retain(|(peer, id, at, rang)| {
            (now - *at < EARLY_ACCEPT || (*rang && ringing.as_ref() == Some(id)))
                && !(peer == from && id == call)
        });
        let rang = ringing.as_deref() == Some(call);
        self.early
            .push_back((from.to_owned(), call.to_owned(), now, rang));
        if self.early.len() > MAX_EARLY_ACCEPTS {
            self.early.pop_front();
        }
    }

    /// The call we just answered: the accepts that came before it count now, from those we expect
    /// (those of the last [`EARLY_ACCEPT`], and all that came while it rang us).
    fn connect_early(&mut self, call: &str) -> Vec<RingAction> {
        let now = Instant::now();
        let early = std::mem::take(&mut self.early);
        let mut actions = Vec::new();
        for (peer, id, at, rang) in early {
            if now - at >= EARLY_ACCEPT && !rang {
                continue;
            }
            if id != call {
                self.early.push_back((peer, id, at, rang));
            } else if self.expected.contains(&peer) && !self.full(&peer) {
                actions.extend(self.connect(&peer));
            }
        }
        actions
    }

    /// Our `accept`, to the caller and the others its invite named (they connect to us too).
    fn accept_signals(&self, call: &str) -> Vec<RingAction> {
        self.expected
            .iter()
            .map(|to| RingAction::Signal {
                to: to.clone(),
                data: SignalData::Accept {
                    call: call.to_owned(),
                },
            })
            .collect()
    }

    /// No room for `peer` in the call (it is at its cap).
    fn full(&self, peer: &str) -> bool {
        !self.participants.contains(peer) && self.participants.len() >= self.cap() - 1
    }

    fn connect(&mut self, peer: &str) -> Vec<RingAction> {
        if self.participants.insert(peer.to_owned()) {
            vec![RingAction::Connect {
                peer: peer.to_owned(),
            }]
        } else {
            Vec::new()
        }
    }

    fn disconnect(&mut self, peer: &str, reason: &str) -> Vec<RingAction> {
        if self.participants.remove(peer) {
            vec![RingAction::Disconnect {
                peer: peer.to_owned(),
                reason: reason.to_owned(),
            }]
        } else {
            Vec::new()
        }
    }

    /// The call is over once nobody is in it and nobody is still ringing.
    fn end_if_empty(&mut self) {
        if self.call.is_some() && self.participants.is_empty() && self.invited.is_empty() {
            self.reset();
        }
    }

    fn reset(&mut self) {
        self.ringing = None;
        self.rang_at = None;
        self.call = None;
        self.mine = false;
        self.invited.clear();
        self.expected.clear();
        self.participants.clear();
    }
}

#[cfg(test)]
impl Ring {
    /// As if `by` had passed since everything that rang or arrived.
    fn rewind(&mut self, by: Duration) {
        if let Some(at) = &mut self.rang_at {
            *at -= by;
        }
        for (_, _, at, _) in &mut self.early {
            *at -= by;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vectors::{cases, strings};

    /// The cases shared with the web UI's call (tests/vectors/ring.json): both ring, answer, time out,
    /// refuse when busy, resolve glare and take early accepts alike.
    #[test]
    fn follows_the_shared_vectors() {
        for case in cases(include_str!("../../tests/vectors/ring.json")) {
            let name = case["name"].as_str().unwrap();
            let mut ring = Ring::new(false);
            let mut room: Vec<String> = Vec::new();
            let mut ours = String::new();
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let here = format!("{name}, step {i}: {step}");
                if let Some(peers) = step.get("room") {
                    room = strings(peers);
                }
                let mut actions = Vec::new();
                if step.get("place").is_some() {
                    actions = ring.place(&room);
                    ours = ring.call_id().unwrap_or_default().to_owned();
                }
                if step.get("answer").is_some() {
                    actions = ring.accept();
                }
                if step.get("decline").is_some() {
                    actions = ring.decline();
                }
                if step.get("hangup").is_some() {
                    actions = ring.hangup();
                }
                if let Some(from) = step["from"].as_str() {
                    let signal = step["signal"]
                        .to_string()
                        .replace("\"ours\"", &json!(ours).to_string());
                    let signal: SignalData = serde_json::from_str(&signal).unwrap();
                    actions = ring.on_signal(from, &signal, &room);
                }
                if let Some(peer) = step["gone"].as_str() {
                    actions = ring.peer_gone(peer);
                }
                if let Some(ms) = step["wait_ms"].as_u64() {
                    ring.rewind(Duration::from_millis(ms));
                    actions = ring.tick();
                }
                if let Some(expected) = step.get("sent") {
                    let call = |c: &Value| {
                        if c == &json!(ours) {
                            json!("ours")
                        } else {
                            c.clone()
                        }
                    };
                    let mut sent: Vec<Value> = actions
                        .iter()
                        .filter_map(|a| match a {
                            RingAction::Signal { to, data } => {
                                Some((to, serde_json::to_value(data).unwrap()))
                            }
                            _ => None,
                        })
                        .map(|(to, data)| match data["kind"].as_str() {
                            Some("invite") => {
                                let mut peers = data["peers"].clone();
                                if let Some(list) = peers.as_array_mut() {
                                    list.sort_by_key(|p| p.to_string());
                                }
                                json!([to, "invite", call(&data["call"]), peers])
                            }
                            _ => json!([to, data["kind"], call(&data["call"])]),
                        })
                        .collect();
                    let mut expected = expected.as_array().unwrap().clone();
                    sent.sort_by_key(Value::to_string);
                    expected.sort_by_key(Value::to_string);
                    assert_eq!(sent, expected, "{here}");
                }
                if let Some(phase) = step["phase"].as_str() {
                    assert_eq!(
                        format!("{:?}", ring.phase()).to_lowercase(),
                        phase,
                        "{here}"
                    );
                }
                if let Some(participants) = step.get("participants") {
                    let now: Vec<String> = ring.participants().cloned().collect();
                    assert_eq!(now, strings(participants), "{here}");
                }
            }
        }
    }

    fn room(peers: &[&str]) -> Vec<String> {
        peers.iter().map(|p| (*p).to_owned()).collect()
    }

    fn invite_id(actions: &[RingAction]) -> String {
        actions
            .iter()
            .find_map(|a| match a {
                RingAction::Signal {
                    data: SignalData::Invite { call, .. },
                    ..
                } => Some(call.clone()),
                _ => None,
            })
            .expect("an invite")
    }

    #[test]
    fn an_accept_that_overtakes_its_invite_counts_once_the_call_is_answered() {
        let mut ring = Ring::new(true);
        let everyone = room(&["alice", "bob", "mallory"]);
        let accept = SignalData::Accept { call: "c1".into() };
        // Bob (named by the invite) and Mallory (not named) accept before Alice's invite reaches us.
        assert!(ring.on_signal("bob", &accept, &everyone).is_empty());
        assert!(ring.on_signal("mallory", &accept, &everyone).is_empty());
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: Some(room(&["bob"])),
        };
        let actions = ring.on_signal("alice", &invite, &everyone);
        let connected: Vec<&RingAction> = actions
            .iter()
            .filter(|a| matches!(a, RingAction::Connect { .. }))
            .collect();
        assert_eq!(
            connected,
            vec![
                &RingAction::Connect {
                    peer: "alice".into()
                },
                &RingAction::Connect { peer: "bob".into() }
            ]
        );
        assert_eq!(
            ring.participants().collect::<Vec<_>>(),
            vec!["alice", "bob"]
        );
    }

    #[test]
    fn an_early_accept_expires() {
        let mut ring = Ring::new(true);
        let everyone = room(&["alice", "bob"]);
        ring.on_signal("bob", &SignalData::Accept { call: "c1".into() }, &everyone);
        // As if it came EARLY_ACCEPT ago.
        ring.early[0].2 -= EARLY_ACCEPT;
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: Some(room(&["bob"])),
        };
        ring.on_signal("alice", &invite, &everyone);
        assert_eq!(ring.participants().collect::<Vec<_>>(), vec!["alice"]);
    }

    /// Answered late (after co-invitees accepted, longer ago than [`EARLY_ACCEPT`]), a call still
    /// connects us to everyone who accepted it while it rang, as the web UI does.
    #[test]
    fn a_late_answer_counts_every_accept_that_came_while_it_rang() {
        let mut ring = Ring::new(false);
        let everyone = room(&["alice", "bob", "carol"]);
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: Some(room(&["bob", "carol"])),
        };
        assert!(ring.on_signal("alice", &invite, &everyone).is_empty());
        ring.on_signal("bob", &SignalData::Accept { call: "c1".into() }, &everyone);
        ring.rewind(EARLY_ACCEPT * 3);
        ring.on_signal(
            "carol",
            &SignalData::Accept { call: "c1".into() },
            &everyone,
        );
        ring.rewind(EARLY_ACCEPT);
        ring.accept();
        assert_eq!(
            ring.participants().collect::<Vec<_>>(),
            vec!["alice", "bob", "carol"]
        );
    }

    /// A co-invitee's accept that overtook the invite of a call that then rings us counts whenever we
    /// answer it, as one that came while it rang (the web UI's `known`): answered late, we still connect
    /// to them (and, in an SFU call, give them our key).
    #[test]
    fn a_late_answer_counts_an_accept_that_overtook_the_invite() {
        let mut ring = Ring::new(false);
        let everyone = room(&["alice", "bob", "carol"]);
        ring.on_signal("bob", &SignalData::Accept { call: "c1".into() }, &everyone);
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: Some(room(&["bob", "carol"])),
        };
        assert!(ring.on_signal("alice", &invite, &everyone).is_empty());
        ring.rewind(EARLY_ACCEPT * 2);
        // Carol's accept meanwhile clears out expired early accepts (Bob's, were it not kept).
        ring.on_signal(
            "carol",
            &SignalData::Accept { call: "c1".into() },
            &everyone,
        );
        ring.rewind(EARLY_ACCEPT * 2);
        ring.accept();
        assert_eq!(
            ring.participants().collect::<Vec<_>>(),
            vec!["alice", "bob", "carol"]
        );
    }

    /// A participant's new signaling session (a new peer id) keeps them in the call: their hangup
    /// under the new id ends it.
    #[test]
    fn a_renamed_participant_stays_in_the_call() {
        let mut ring = Ring::new(true);
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: None,
        };
        ring.on_signal("alice", &invite, &room(&["alice"]));
        ring.rename("alice", "alice-2");
        assert_eq!(ring.participants().collect::<Vec<_>>(), vec!["alice-2"]);
        let hangup = SignalData::Hangup { call: "c1".into() };
        let actions = ring.on_signal("alice-2", &hangup, &room(&["alice-2"]));
        assert_eq!(
            actions,
            vec![RingAction::Disconnect {
                peer: "alice-2".into(),
                reason: "hangup".into()
            }]
        );
        assert!(!ring.in_call());
    }

    #[test]
    fn early_accepts_are_kept_only_from_the_room_and_a_flood_keeps_only_the_newest() {
        let accept = |call: &str| SignalData::Accept { call: call.into() };
        let invite = |call: &str, named: &str| SignalData::Invite {
            call: call.into(),
            media: vec![],
            peers: Some(room(&[named])),
        };
        let everyone = room(&["alice", "bob", "mallory"]);
        // Mallory accepts from outside the room, then enters it before the invite that names her.
        let mut ring = Ring::new(true);
        ring.on_signal("mallory", &accept("c0"), &room(&["alice", "bob"]));
        ring.on_signal("alice", &invite("c0", "mallory"), &everyone);
        assert_eq!(ring.participants().collect::<Vec<_>>(), vec!["alice"]);
        // Bob's accept for c1, then a flood of accepts for other calls pushes it out.
        let mut ring = Ring::new(true);
        ring.on_signal("bob", &accept("c1"), &everyone);
        for i in 1..=MAX_EARLY_ACCEPTS {
            ring.on_signal("bob", &accept(&format!("flood-{i}")), &everyone);
        }
        assert_eq!(ring.early.len(), MAX_EARLY_ACCEPTS);
        ring.on_signal("alice", &invite("c1", "bob"), &everyone);
        assert_eq!(ring.participants().collect::<Vec<_>>(), vec!["alice"]);
    }

    #[test]
    fn an_invited_peer_who_accepts_gets_our_media_and_a_stranger_does_not() {
        let mut ring = Ring::new(false);
        let id = invite_id(&ring.place(&room(&["bob"])));
        let accept = SignalData::Accept { call: id };
        assert!(
            ring.on_signal("mallory", &accept, &room(&["bob", "mallory"]))
                .is_empty()
        );
        assert_eq!(
            ring.on_signal("bob", &accept, &room(&["bob"])),
            vec![RingAction::Connect { peer: "bob".into() }]
        );
    }

    #[test]
    fn auto_accept_answers_the_caller_and_the_others_rung_and_connects_to_the_caller() {
        let mut ring = Ring::new(true);
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            // dave is not in the room: the caller cannot vouch for him.
            peers: Some(room(&["carol", "dave"])),
        };
        let actions = ring.on_signal("alice", &invite, &room(&["alice", "carol", "erin"]));
        assert!(actions.contains(&RingAction::Connect {
            peer: "alice".into()
        }));
        let accepts = actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    RingAction::Signal {
                        data: SignalData::Accept { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(accepts, 2);
        // carol (named by the invite) gets our media once she accepts; erin (only in the room) does not.
        let accept = SignalData::Accept { call: "c1".into() };
        let room_now = room(&["alice", "carol", "erin"]);
        assert!(ring.on_signal("erin", &accept, &room_now).is_empty());
        assert_eq!(
            ring.on_signal("carol", &accept, &room_now),
            vec![RingAction::Connect {
                peer: "carol".into()
            }]
        );
    }

    #[test]
    fn without_auto_accept_a_call_rings_unanswered_and_a_busy_one_is_declined() {
        let invite = |call: &str| SignalData::Invite {
            call: call.into(),
            media: vec![],
            peers: None,
        };
        let mut away = Ring::new(false);
        assert!(
            away.on_signal("alice", &invite("c1"), &room(&["alice"]))
                .is_empty()
        );
        assert!(!away.in_call());
        let mut busy = Ring::new(true);
        busy.on_signal("alice", &invite("c1"), &room(&["alice", "bob"]));
        assert_eq!(
            busy.on_signal("bob", &invite("c2"), &room(&["alice", "bob"])),
            vec![RingAction::Signal {
                to: "bob".into(),
                data: SignalData::Decline { call: "c2".into() }
            }]
        );
    }

    #[test]
    fn calling_the_peer_whose_call_rings_answers_it_instead_of_ringing_back() {
        let mut ring = Ring::new(false);
        let invite = SignalData::Invite {
            call: "theirs".into(),
            media: vec![],
            peers: None,
        };
        assert!(
            ring.on_signal("alice", &invite, &room(&["alice"]))
                .is_empty()
        );
        let actions = ring.place(&room(&["alice"]));
        assert_eq!(
            actions,
            vec![
                RingAction::Signal {
                    to: "alice".into(),
                    data: SignalData::Accept {
                        call: "theirs".into()
                    }
                },
                RingAction::Connect {
                    peer: "alice".into()
                }
            ]
        );
        // A call that was cancelled (missed) is not answered: calling then rings anew.
        let mut missed = Ring::new(false);
        missed.on_signal("alice", &invite, &room(&["alice"]));
        missed.on_signal(
            "alice",
            &SignalData::Cancel {
                call: "theirs".into(),
            },
            &room(&["alice"]),
        );
        assert_eq!(invite_id(&missed.place(&room(&["alice"]))).len(), 36);
    }

    #[test]
    fn invites_name_the_others_rung() {
        let mut ring = Ring::new(false);
        let actions = ring.place(&room(&["bob", "carol"]));
        let to_bob = actions.iter().find_map(|a| match a {
            RingAction::Signal {
                to,
                data: SignalData::Invite { peers, .. },
            } if to == "bob" => Some(peers.clone()),
            _ => None,
        });
        assert_eq!(to_bob, Some(Some(room(&["carol"]))));
    }

    #[test]
    fn a_room_member_may_join_the_call_in_progress_until_it_is_full() {
        let mut ring = Ring::new(true);
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: None,
        };
        let everyone = room(&["a", "b", "c", "d", "e", "f", "g"]);
        ring.on_signal("a", &invite, &everyone);
        let join = SignalData::JoinCall { call: "c1".into() };
        assert!(ring.on_signal("stranger", &join, &everyone).is_empty());
        for peer in ["b", "c", "d", "e"] {
            let actions = ring.on_signal(peer, &join, &everyone);
            assert!(
                actions.contains(&RingAction::Connect { peer: peer.into() }),
                "{peer}: {actions:?}"
            );
        }
        assert_eq!(ring.participants().count(), MAX_CALL_PEOPLE - 1);
        assert_eq!(
            ring.on_signal("f", &join, &everyone),
            vec![RingAction::Signal {
                to: "f".into(),
                data: SignalData::Decline { call: "c1".into() }
            }]
        );
    }

    #[test]
    fn with_an_sfu_a_call_holds_sixteen_and_rings_fifteen_others() {
        let everyone: Vec<String> = (1..=20).map(|i| format!("p{i:02}")).collect();
        let mut ring = Ring::new(true);
        ring.sfu = true;
        let invite = SignalData::Invite {
            call: "c1".into(),
            media: vec![],
            peers: None,
        };
        ring.on_signal("p01", &invite, &everyone);
        let join = SignalData::JoinCall { call: "c1".into() };
        for peer in &everyone[1..SFU_MAX_CALL_PEOPLE - 1] {
            let actions = ring.on_signal(peer, &join, &everyone);
            assert!(
                actions.contains(&RingAction::Connect { peer: peer.clone() }),
                "{peer}: {actions:?}"
            );
        }
        assert_eq!(ring.participants().count(), SFU_MAX_CALL_PEOPLE - 1);
        let late = &everyone[SFU_MAX_CALL_PEOPLE - 1];
        assert_eq!(
            ring.on_signal(late, &join, &everyone),
            vec![RingAction::Signal {
                to: late.clone(),
                data: SignalData::Decline { call: "c1".into() }
            }]
        );

        let mut caller = Ring::new(false);
        caller.sfu = true;
        caller.place(&everyone[1..]);
        assert_eq!(caller.invited.len(), SFU_MAX_CALL_PEOPLE - 1);
    }

    #[test]
    fn glare_resolves_to_the_smaller_call_id_on_both_sides() {
        let mut a = Ring::new(false);
        let mut b = Ring::new(false);
        let ida = invite_id(&a.place(&room(&["b"])));
        let idb = invite_id(&b.place(&room(&["a"])));
        let to_a = a.on_signal(
            "b",
            &SignalData::Invite {
                call: idb.clone(),
                media: vec![],
                peers: None,
            },
            &room(&["b"]),
        );
        let to_b = b.on_signal(
            "a",
            &SignalData::Invite {
                call: ida.clone(),
                media: vec![],
                peers: None,
            },
            &room(&["a"]),
        );
        let (loser, winner_actions) = if ida < idb {
            (to_a, to_b)
        } else {
            (to_b, to_a)
        };
        assert!(loser.is_empty(), "the winner keeps ringing: {loser:?}");
        assert!(
            winner_actions
                .iter()
                .any(|a| matches!(a, RingAction::Connect { .. }))
        );
    }

    #[test]
    fn hangup_from_the_last_participant_ends_the_call() {
        let mut ring = Ring::new(true);
        ring.on_signal(
            "alice",
            &SignalData::Invite {
                call: "c1".into(),
                media: vec![],
                peers: None,
            },
            &room(&["alice"]),
        );
        let actions = ring.on_signal(
            "alice",
            &SignalData::Hangup { call: "c1".into() },
            &room(&["alice"]),
        );
        assert_eq!(
            actions,
            vec![RingAction::Disconnect {
                peer: "alice".into(),
                reason: "hangup".into()
            }]
        );
        assert!(!ring.in_call());
    }
}
