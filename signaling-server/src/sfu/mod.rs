//! Calls above the mesh size through a Janus SFU (docs/protocol.md, "SFU calls"): `sfu-join` places the
//! call on an instance ([`placement`]: least loaded, kept in Redis when clustered), opens its videoroom
//! and gives the participant a token of its own ([`janus`]: Janus's `token_auth` plus the room's
//! `allowed` list); `sfu-leave`, leaving the room or the session ending takes the token back, and the
//! last one out destroys the videoroom. Each instance is checked every `--sfu-health-ms`; one that stops
//! answering is lost, and this server's participants of its calls get `sfu-lost`.

pub mod janus;
pub mod placement;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chat_protocol::{ServerFrame, SfuInfo};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::RequestError;
use crate::hub::{Departure, Hub, random_id};
use crate::metrics::Metrics;
use crate::session::Session;
use janus::{Janus, JanusError, RoomSpec};
use placement::{Candidate, Placements};

/// Failed health checks in a row after which an instance that answered before counts as lost.
const FAILURES_TO_LOSE: u32 = 2;
/// Least time a health check waits for Janus's answer, however short `--sfu-health-ms`: a Janus slow to
/// answer on a loaded host is not lost (a dead one refuses at once or stops answering for longer).
const MIN_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Health intervals after which the participants of a server that stopped refreshing its load counts
/// (it died) no longer weigh on placement.
const LOAD_TTL_CHECKS: u32 = 3;
/// Most `sfu-join`/`sfu-leave` of one connection under way at once.
pub const MAX_IN_FLIGHT: usize = 2;

struct Instance {
    janus: Janus,
    up: AtomicBool,
    failures: AtomicU32,
}

/// One session in one SFU call, as this server holds it.
struct Participant {
    session: Arc<Session>,
    call: String,
    instance: usize,
    janus_room: u64,
    secret: String,
    token: String,
}

pub struct Sfu {
    instances: Vec<Instance>,
    placements: Placements,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    mesh_size: u32,
    publishers: usize,
    health: Duration,
    /// By (session id, room): a session is in at most one SFU call per room.
    here: Mutex<HashMap<(Arc<str>, String), Participant>>,
}

impl Sfu {
    /// `None` without `--sfu-url`. Starts the health checks and follows the hub's departures until
    /// `shutdown`.
    pub fn start(
        config: &Config,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Option<Arc<Sfu>>, String> {
        if config.sfu_urls.is_empty() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("SFU HTTP client: {e}"))?;
        let secret = |s: &Option<String>| s.clone().unwrap_or_default();
        let instances = config
            .sfu_urls
            .iter()
            .zip(&config.sfu_admin_urls)
            .zip(&config.sfu_public_urls)
            .map(|((api, admin), public)| Instance {
                janus: Janus::new(
                    (api, admin, public),
                    http.clone(),
                    &secret(&config.sfu_api_secret),
                    &secret(&config.sfu_admin_secret),
                    config.sfu_room_admin_key.as_deref(),
                    config.sfu_record_dir.as_deref(),
                ),
                up: AtomicBool::new(false),
                failures: AtomicU32::new(0),
            })
            .collect();
        let placements = match &config.redis_url {
            // Refreshed every health interval: a server missing three in a row no longer counts.
            Some(url) => Placements::redis(url, config.sfu_health() * LOAD_TTL_CHECKS)?,
            None => Placements::local(),
        };
        let departures = hub
            .watch_departures()
            .ok_or("the hub's departures are already watched")?;
        let sfu = Arc::new(Sfu {
            instances,
            placements,
            hub,
            metrics,
            mesh_size: config.mesh_size,
            publishers: config.effective_room_capacity(),
            health: config.sfu_health(),
            here: Mutex::new(HashMap::new()),
        });
        for index in 0..sfu.instances.len() {
            tokio::spawn(sfu.clone().watch(index, shutdown.clone()));
        }
        if config.redis_url.is_some() {
            tokio::spawn(sfu.clone().report_load(shutdown.clone()));
        }
        tokio::spawn(sfu.clone().follow(departures, shutdown));
        tracing::info!(
            instances = sfu.instances.len(),
            mesh_size = sfu.mesh_size,
            "SFU on (Janus)"
        );
        Ok(Some(sfu))
    }

    /// `welcome.sfu`.
    pub fn info(&self) -> SfuInfo {
        SfuInfo {
            mesh_size: self.mesh_size,
        }
    }

    fn here(&self) -> MutexGuard<'_, HashMap<(Arc<str>, String), Participant>> {
        self.here
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `sfu-join`: places `session` (a member of `room`) in the call and answers `sfu`, or
    /// `sfu_unavailable`. Joining the same call again repeats the answer with the same token; joining
    /// another call of the room leaves the previous one.
    pub async fn join(
        &self,
        session: &Arc<Session>,
        room: String,
        call: String,
    ) -> Result<(), RequestError> {
        let key = (session.id.clone(), room.clone());
        let previous = self
            .here()
            .get(&key)
            .map(|p| (p.call.clone(), p.instance, self.answer(p, &room)));
        match previous {
            Some((same, index, answer)) if same == call => {
                // Asked again, perhaps because the client lost Janus before our health check noticed: the
                // same answer only if the instance answers now, else it is lost (everyone in its calls
                // here gets `sfu-lost`) and the call is placed afresh.
                let instance = &self.instances[index];
                if instance.janus.check(self.check_timeout()).await.is_ok() {
                    self.hub.send(session, answer);
                    return Ok(());
                }
                if instance.up.load(Ordering::Relaxed) {
                    self.lost(index).await;
                } else {
                    self.leave(&session.id, &room, Some(&call)).await;
                }
            }
            Some((other, ..)) => self.leave(&session.id, &room, Some(&other)).await,
            None => {}
        }
        let result = self.place(session, &room, &call).await;
        self.metrics.sfu_join(if result.is_ok() {
            "placed"
        } else {
            "unavailable"
        });
        let participant = result?;
        let answer = self.answer(&participant, &room);
        self.here().insert(key, participant);
        self.count();
        // It may have left the room while the call was being placed: then nobody would take it out.
        if !session.in_room(&room) || session.is_ended() {
            self.leave(&session.id, &room, None).await;
            return Ok(());
        }
        self.hub.send(session, answer);
        Ok(())
    }

    /// The `sfu` frame for `participant`.
    fn answer(
        &self,
        participant: &Participant,
        room: &str,
    ) -> impl FnOnce(u64) -> ServerFrame + use<> {
        let (room, call) = (room.to_owned(), participant.call.clone());
        let url = self.instances[participant.instance]
            .janus
            .public_url
            .clone();
        let (token, janus_room) = (participant.token.clone(), participant.janus_room);
        move |seq| ServerFrame::Sfu {
            seq,
            room,
            call,
            url,
            token,
            janus_room,
        }
    }

    /// Places the call and lets this participant in on Janus.
    async fn place(
        &self,
        session: &Arc<Session>,
        room: &str,
        call: &str,
    ) -> Result<Participant, RequestError> {
        let answering: Vec<&str> = self
            .instances
            .iter()
            .filter(|i| i.up.load(Ordering::Relaxed))
            .map(|i| i.janus.api_url.as_str())
            .collect();
        if answering.is_empty() {
            return Err(unavailable("no SFU answers"));
        }
        let (token, secret) = (random_id(), random_id());
        let candidate = Candidate {
            // Below 2^53: the browser reads it as a JavaScript number.
            janus_room: (rand::random::<u64>() >> 11).max(1),
            secret: &secret,
            token: &token,
        };
        let placed = self
            .placements
            .join(room, call, &session.id, &candidate, &answering)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("no SFU answers"))?;
        let participant = Participant {
            session: session.clone(),
            call: call.to_owned(),
            instance: self
                .instances
                .iter()
                .position(|i| i.janus.api_url == placed.instance)
                .unwrap_or(usize::MAX),
            janus_room: placed.janus_room,
            secret: placed.secret,
            token: placed.token,
        };
        // Another server placed it on an instance this one does not know (configurations differ).
        let Some(instance) = self.instances.get(participant.instance) else {
            self.undo(room, &participant).await;
            return Err(unavailable("the call's SFU is not configured here"));
        };
        let spec = RoomSpec {
            id: participant.janus_room,
            secret: &participant.secret,
            publishers: self.publishers,
            first_token: &participant.token,
        };
        let opened = async {
            instance.janus.add_token(&participant.token).await?;
            instance.janus.open_room(&spec).await
        };
        if let Err(e) = opened.await {
            self.undo(room, &participant).await;
            return Err(unavailable(e));
        }
        Ok(participant)
    }

    /// `sfu-leave` (with `call`: only that call), or `session` left `room` (any call): its token stops
    /// working and the last one out destroys the videoroom.
    pub async fn leave(&self, session: &str, room: &str, call: Option<&str>) {
        let key = (Arc::<str>::from(session), room.to_owned());
        let participant = {
            let mut here = self.here();
            if call.is_some_and(|c| here.get(&key).is_some_and(|p| p.call != c)) {
                return;
            }
            here.remove(&key)
        };
        let Some(participant) = participant else {
            return;
        };
        self.count();
        self.undo(room, &participant).await;
    }

    /// Takes `participant` out of its call's placement and off Janus (destroying the room if it was the
    /// last, and taking back the tokens of members whose session ended without leaving); failures are
    /// only logged (a lost Janus forgot everything anyway).
    async fn undo(&self, room: &str, participant: &Participant) {
        let left = match self
            .placements
            .leave(room, &participant.call, &participant.session.id)
            .await
        {
            Ok(left) => left,
            Err(e) => {
                tracing::warn!(%room, "sfu placement: {e}");
                None
            }
        };
        let Some(instance) = self.instances.get(participant.instance) else {
            return;
        };
        let janus = &instance.janus;
        let (id, secret) = (participant.janus_room, participant.secret.as_str());
        let (last, ended) = left.map_or((false, Vec::new()), |l| (l.last, l.ended_tokens));
        let result = async {
            if last {
                janus.destroy_room(id, secret).await?;
            } else {
                janus.disallow(id, secret, &participant.token).await?;
                for token in &ended {
                    janus.disallow(id, secret, token).await?;
                }
            }
            for token in ended.iter().chain([&participant.token]) {
                janus.remove_token(token).await?;
            }
            Ok::<(), JanusError>(())
        };
        if let Err(e) = result.await {
            tracing::debug!(%room, "sfu-leave on Janus: {e}");
        }
    }

    /// Takes departures from the hub: a session out of a room is out of its SFU call there; one that
    /// moved to another server is only forgotten here (it sends `sfu-join` there and keeps its token).
    async fn follow(
        self: Arc<Self>,
        mut departures: mpsc::UnboundedReceiver<Departure>,
        shutdown: CancellationToken,
    ) {
        loop {
            let departure = tokio::select! {
                () = shutdown.cancelled() => return,
                departure = departures.recv() => match departure {
                    Some(departure) => departure,
                    None => return,
                },
            };
            let key = (departure.session.clone(), departure.room.to_string());
            if departure.moved {
                if self.here().remove(&key).is_some() {
                    self.count();
                }
                continue;
            }
            if self.here().contains_key(&key) {
                let sfu = self.clone();
                tokio::spawn(async move {
                    sfu.leave(&departure.session, &departure.room, None).await;
                });
            }
        }
    }

    /// Checks instance `index` every health interval until `shutdown`.
    async fn watch(self: Arc<Self>, index: usize, shutdown: CancellationToken) {
        let instance = &self.instances[index];
        loop {
            let checked = instance.janus.check(self.check_timeout()).await;
            let was_up = instance.up.load(Ordering::Relaxed);
            match checked {
                Ok(()) => {
                    instance.failures.store(0, Ordering::Relaxed);
                    if !was_up {
                        tracing::info!(url = %instance.janus.api_url, "SFU answers");
                        instance.up.store(true, Ordering::Relaxed);
                        self.metrics.sfu_instances_up.inc();
                    }
                }
                Err(e) => {
                    let failures = instance.failures.fetch_add(1, Ordering::Relaxed) + 1;
                    let gone = matches!(e, JanusError::SessionLost) || failures >= FAILURES_TO_LOSE;
                    if was_up && gone {
                        tracing::warn!(url = %instance.janus.api_url, "SFU lost: {e}");
                        self.lost(index).await;
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.health) => {}
            }
        }
    }

    /// How long a health check waits: the interval, or [`MIN_CHECK_TIMEOUT`] if that is longer.
    fn check_timeout(&self) -> Duration {
        self.health.max(MIN_CHECK_TIMEOUT)
    }

    /// With Redis: every health interval until `shutdown`, tells the other servers how many of this
    /// server's participants each instance carries (then takes the counts back).
    async fn report_load(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.placements.refresh_load(&self.load()).await {
                tracing::warn!("sfu load: {e}");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.health) => {}
            }
        }
        if let Err(e) = self.placements.clear_load().await {
            tracing::debug!("sfu load: {e}");
        }
    }

    /// This server's participants per instance (by API URL).
    fn load(&self) -> HashMap<&str, usize> {
        let mut load = HashMap::new();
        for participant in self.here().values() {
            if let Some(instance) = self.instances.get(participant.instance) {
                *load.entry(instance.janus.api_url.as_str()).or_default() += 1;
            }
        }
        load
    }

    /// Instance `index` stopped answering: its calls' participants here get `sfu-lost` and the calls are
    /// forgotten (where they still sit on it), so the next `sfu-join` places them afresh.
    async fn lost(&self, index: usize) {
        let instance = &self.instances[index];
        // The health check and a repeated `sfu-join` may both find it gone: counted once.
        if instance.up.swap(false, Ordering::Relaxed) {
            self.metrics.sfu_instances_up.dec();
        }
        instance.janus.disconnect();
        let lost: Vec<((Arc<str>, String), Participant)> = {
            let mut here = self.here();
            let keys: Vec<_> = here
                .iter()
                .filter(|(_, p)| p.instance == index)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| here.remove(&k).map(|p| (k, p)))
                .collect()
        };
        self.count();
        let mut calls = HashSet::new();
        for ((_, room), participant) in lost {
            self.metrics.sfu_lost.inc();
            let call = participant.call.clone();
            self.hub
                .send(&participant.session, |seq| ServerFrame::SfuLost {
                    seq,
                    room: room.clone(),
                    call: call.clone(),
                });
            calls.insert((room, call, participant.janus_room));
        }
        for (room, call, janus_room) in calls {
            let forgotten = self
                .placements
                .lost(&room, &call, &instance.janus.api_url, janus_room)
                .await;
            if let Err(e) = forgotten {
                tracing::warn!(%room, "sfu placement: {e}");
            }
        }
    }

    /// Sets the gauges of calls and participants on this server.
    fn count(&self) {
        let here = self.here();
        let calls: HashSet<_> = here.iter().map(|((_, room), p)| (room, &p.call)).collect();
        self.metrics
            .sfu_calls
            .set(i64::try_from(calls.len()).unwrap_or(i64::MAX));
        self.metrics
            .sfu_participants
            .set(i64::try_from(here.len()).unwrap_or(i64::MAX));
    }
}

/// The refusal a client sees; what went wrong (which may name internal addresses) goes to the log only.
fn unavailable(reason: impl std::fmt::Display) -> RequestError {
    tracing::warn!("sfu-join refused: {reason}");
    RequestError::SfuUnavailable
}
