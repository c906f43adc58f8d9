//! Push for calls to devices that are offline (docs/protocol.md, "Push: ringing devices that are
//! offline"): registrations, `offline-members`, `ring`, `ring-cancel` and the decline that comes back
//! over HTTP. Registrations live in the [`store`]; pushes go out through [`send`].

pub mod gateway;
pub mod send;
pub mod store;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use chat_protocol::{
    OfflineMember, PUSH_RING_TTL_MS, PushKind, PushPayload, PushSubscription, ServerFrame,
};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::RequestError;
use crate::hub::{Hub, Remote};
use crate::metrics::Metrics;
use crate::session::Session;
use send::{Outcome, Sender, Vapid};
use store::{Owner, Refusal, RegisterLimits, Registration, RingRecord, Store};

/// How long a registration lives after it was last registered or used.
pub const REGISTRATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Most distinct devices one connection may register.
pub const MAX_DEVICES_PER_CONNECTION: usize = 4;
/// Most push requests of one connection waiting for the store or a push service at once.
pub const MAX_IN_FLIGHT: usize = 8;

/// Current Unix time in ms.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// SHA-256 in hex: how device secrets and decline tokens are kept.
fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a ring's decline token is kept as: bound to its call, so a token presented with another call
/// finds nothing (and stays valid for its own).
fn decline_hash(call: &str, token: &str) -> String {
    hash(&format!("{call} {token}"))
}

/// Push as configured: `None` until the store is open and the VAPID key loaded (with Redis that waits
/// for Redis), and always `None` without `--push`.
pub struct PushSlot {
    ready: OnceLock<Arc<Push>>,
}

impl PushSlot {
    pub fn get(&self) -> Option<&Arc<Push>> {
        self.ready.get()
    }

    /// Opens the store and loads (or creates) the VAPID key. Without Redis this is awaited at start (a
    /// store that cannot be opened stops the server); with Redis it retries in the background until Redis
    /// answers.
    pub async fn start(config: &Config, metrics: Arc<Metrics>) -> Result<Arc<PushSlot>, String> {
        let slot = Arc::new(PushSlot {
            ready: OnceLock::new(),
        });
        if !config.push {
            return Ok(slot);
        }
        let settings = Settings::from_config(config)?;
        match config.redis_url.clone() {
            None => {
                let store = Store::Sqlite(store::SqliteStore::open(&config.push_db).await?);
                let push = Push::new(store, settings, metrics).await?;
                tracing::info!(db = %config.push_db.display(), "push on (registrations in SQLite)");
                let _ = slot.ready.set(push);
            }
            Some(url) => {
                let waiting = slot.clone();
                tokio::spawn(async move {
                    let mut wait = Duration::from_millis(200);
                    loop {
                        let push = async {
                            let store = store::RedisStore::connect(&url, REGISTRATION_TTL).await?;
                            Push::new(Store::Redis(store), settings.clone(), metrics.clone()).await
                        };
                        match push.await {
                            Ok(push) => {
                                tracing::info!("push on (registrations in Redis)");
                                let _ = waiting.ready.set(push);
                                return;
                            }
                            Err(e) => tracing::warn!("push not ready: {e}; retrying in {wait:?}"),
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                });
            }
        }
        Ok(slot)
    }
}

/// What push needs from the configuration.
#[derive(Clone)]
struct Settings {
    subject: String,
    gateway: Option<reqwest::Url>,
    allow_private: bool,
    limits: RegisterLimits,
    rings_per_minute: u32,
}

impl Settings {
    fn from_config(config: &Config) -> Result<Settings, String> {
        let gateway = config
            .push_gateway_url
            .as_deref()
            .map(reqwest::Url::parse)
            .transpose()
            .map_err(|e| format!("--push-gateway-url: {e}"))?;
        Ok(Settings {
            subject: config.push_subject.clone(),
            gateway,
            allow_private: config.push_allow_private,
            limits: RegisterLimits {
                per_room: config.push_max_per_room,
                rooms_per_device: config.push_max_rooms_per_device,
                per_user: config.push_max_per_user,
            },
            rings_per_minute: config.push_rings_per_minute,
        })
    }
}

/// Push, ready to serve.
pub struct Push {
    store: Store,
    sender: Sender,
    settings: Settings,
    metrics: Arc<Metrics>,
}

impl Push {
    async fn new(
        store: Store,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Push>, String> {
        let stored = store.vapid_key(&Vapid::generate()).await?;
        let vapid = Vapid::from_stored(&stored, &settings.subject)?;
        let sender = Sender::new(vapid, settings.gateway.clone(), settings.allow_private)?;
        Ok(Arc::new(Push {
            store,
            sender,
            settings,
            metrics,
        }))
    }

    /// `welcome.push.vapid_key`.
    pub fn vapid_key(&self) -> &str {
        self.sender.vapid_key()
    }

    /// `push-register`: stores the registration and answers `push-registered`.
    pub async fn register(
        &self,
        hub: &Hub,
        session: &Arc<Session>,
        room: String,
        device: String,
        secret: &str,
        subscription: PushSubscription,
    ) -> Result<(), RequestError> {
        match send::check_subscription(
            &subscription,
            self.settings.allow_private,
            self.sender.has_gateway(),
        )
        .await
        {
            Err(malformed) => return Err(RequestError::BadRequest(malformed)),
            Ok(Err(refused)) => return Err(self.refused(refused)),
            Ok(Ok(())) => {}
        }
        let now = now_ms();
        let expires_at = now + ttl_ms();
        let registration = Registration {
            room,
            device,
            subscription,
            name: session.name.to_string(),
            peer: session.peer.to_string(),
            registered_at: now,
            expires_at,
        };
        let secret_hash = hash(secret);
        let owner = Owner {
            secret_hash: &secret_hash,
            user: &session.user,
        };
        let stored = self
            .store
            .register(&registration, &owner, self.settings.limits, now)
            .await
            .map_err(internal)?;
        if let Err(refusal) = stored {
            return Err(self.refused(refusal_text(refusal, self.settings.limits)));
        }
        hub.send(session, |seq| ServerFrame::PushRegistered {
            seq,
            room: registration.room,
            device: registration.device,
            expires_at,
        });
        Ok(())
    }

    /// `push-unregister`: answers `push-unregistered`.
    pub async fn unregister(
        &self,
        hub: &Hub,
        session: &Arc<Session>,
        device: String,
        secret: &str,
        room: Option<String>,
    ) -> Result<(), RequestError> {
        let secret_hash = hash(secret);
        let owner = Owner {
            secret_hash: &secret_hash,
            user: &session.user,
        };
        let removed = self
            .store
            .unregister(&device, &owner, room.as_deref())
            .await
            .map_err(internal)?;
        if let Err(refusal) = removed {
            return Err(self.refused(refusal_text(refusal, self.settings.limits)));
        }
        hub.send(session, |seq| ServerFrame::PushUnregistered {
            seq,
            device,
            room,
        });
        Ok(())
    }

    /// `offline-members`: the registrations of `room` whose session is not in it now.
    pub async fn offline_members(
        &self,
        hub: &Hub,
        session: &Arc<Session>,
        room: String,
    ) -> Result<(), RequestError> {
        let registrations = self
            .store
            .registrations(&room, now_ms())
            .await
            .map_err(internal)?;
        let mut live: HashSet<String> = hub.members_here(&room).into_iter().collect();
        if !registrations.is_empty() {
            live.extend(self.store.room_peers(&room).await.map_err(internal)?);
        }
        let members = registrations
            .into_iter()
            .filter(|r| !live.contains(&r.peer))
            .map(|r| OfflineMember {
                device: r.device,
                name: r.name,
                last_seen: r.registered_at,
            })
            .collect();
        hub.send(session, |seq| ServerFrame::OfflineMembers {
            seq,
            room,
            members,
        });
        Ok(())
    }

    /// `ring`: pushes a call to the device's registration in `room`, then answers `ringing`.
    pub async fn ring(
        &self,
        hub: &Hub,
        session: &Arc<Session>,
        room: String,
        device: String,
        call: String,
        media: Vec<String>,
    ) -> Result<(), RequestError> {
        let now = now_ms();
        let registration = self.registration(&room, &device, now).await?;
        let allowed = self
            .store
            .allow_ring(&device, self.settings.rings_per_minute, now)
            .await
            .map_err(internal)?;
        if !allowed {
            self.metrics.push("refused");
            return Err(self.refused(format!(
                "this device was rung {} times in the last minute; try again later",
                self.settings.rings_per_minute
            )));
        }
        let token = crate::hub::random_id().to_string();
        let ring = RingRecord {
            decline_hash: decline_hash(&call, &token),
            room,
            device,
            call,
            sid: session.id.to_string(),
            caller: session.name.to_string(),
            caller_peer: session.peer.to_string(),
            media,
            expires_at: now + PUSH_RING_TTL_MS,
        };
        self.store.put_ring(&ring, now).await.map_err(internal)?;
        let sent = self
            .push(&registration, payload(&ring, PushKind::Call, token))
            .await;
        hub.send(session, |seq| ServerFrame::Ringing {
            seq,
            room: ring.room,
            device: ring.device,
            call: ring.call,
            sent: u32::from(sent),
        });
        Ok(())
    }

    /// `ring-cancel`: the call that rang is over; pushes `call-ended` once per ring.
    pub async fn cancel(
        &self,
        session: &Arc<Session>,
        room: &str,
        device: &str,
        call: &str,
    ) -> Result<(), RequestError> {
        let now = now_ms();
        let ring = self
            .store
            .take_ring(&session.id, call, device, now)
            .await
            .map_err(internal)?
            .filter(|r| r.room == room)
            .ok_or_else(|| {
                self.refused("no ring of this call to this device is pending".to_owned())
            })?;
        let registration = self.registration(room, device, now).await?;
        self.push(
            &registration,
            payload(&ring, PushKind::CallEnded, String::new()),
        )
        .await;
        Ok(())
    }

    /// `POST /push/decline`: `true` when the token was valid for `call` (the caller hears of it).
    pub async fn decline(&self, hub: &Hub, call: &str, token: &str) -> Result<bool, String> {
        let hash = decline_hash(call, token);
        let Some(ring) = self.store.take_decline(&hash, now_ms()).await? else {
            return Ok(false);
        };
        hub.deliver(
            &ring.sid,
            Remote::RingDeclined {
                room: ring.room,
                device: ring.device,
                call: ring.call,
            },
        );
        Ok(true)
    }

    async fn registration(
        &self,
        room: &str,
        device: &str,
        now: u64,
    ) -> Result<Registration, RequestError> {
        self.store
            .registrations(room, now)
            .await
            .map_err(internal)?
            .into_iter()
            .find(|r| r.device == device)
            .ok_or_else(|| {
                self.refused("this device is not registered for push in this room".into())
            })
    }

    /// Sends one push; `true` when the push service accepted it. A subscription the service no longer
    /// knows is removed; one that was used is renewed.
    async fn push(&self, registration: &Registration, payload: PushPayload) -> bool {
        let outcome = self.sender.send(&registration.subscription, &payload).await;
        self.metrics.push(match outcome {
            Outcome::Sent => "sent",
            Outcome::Gone => "gone",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        });
        let (room, device) = (&registration.room, &registration.device);
        let kept = match outcome {
            Outcome::Sent => self.store.touch(room, device, now_ms() + ttl_ms()).await,
            Outcome::Gone => self.store.remove(room, device).await,
            Outcome::Failed | Outcome::Refused => Ok(()),
        };
        if let Err(e) = kept {
            tracing::warn!("push store: {e}");
        }
        outcome == Outcome::Sent
    }

    fn refused(&self, text: String) -> RequestError {
        RequestError::PushRefused(text)
    }
}

fn ttl_ms() -> u64 {
    u64::try_from(REGISTRATION_TTL.as_millis()).unwrap_or(u64::MAX)
}

fn payload(ring: &RingRecord, kind: PushKind, decline: String) -> PushPayload {
    PushPayload {
        v: 1,
        kind,
        room: ring.room.clone(),
        call: ring.call.clone(),
        caller: ring.caller.clone(),
        caller_peer: ring.caller_peer.clone(),
        media: ring.media.clone(),
        expires_at: ring.expires_at,
        decline,
    }
}

fn refusal_text(refusal: Refusal, limits: RegisterLimits) -> String {
    match refusal {
        Refusal::NotOwner => {
            "this device is registered with another secret (or by another user)".into()
        }
        Refusal::Limit("room") => format!(
            "this room already has {} devices registered for push",
            limits.per_room
        ),
        Refusal::Limit("device") => format!(
            "this device is already registered for push in {} rooms",
            limits.rooms_per_device
        ),
        Refusal::Limit(_) => format!(
            "your user already has {} push registrations",
            limits.per_user
        ),
    }
}

fn internal(e: String) -> RequestError {
    tracing::warn!("{e}");
    RequestError::Internal("push store unavailable; try again later")
}

/// Checks the fields of a push frame that do not need the store; errors are `bad_request`.
pub fn check_call(call: &str, media: &[String]) -> Result<(), RequestError> {
    if !chat_protocol::is_valid_room_name(call) {
        return Err(RequestError::BadRequest(
            "call ids are 1-64 characters of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    let known = media.iter().all(|m| m == "audio" || m == "video");
    let distinct = media.len() < 2 || media[0] != media[1];
    if media.len() > 2 || !known || !distinct {
        return Err(RequestError::BadRequest(
            "media is at most \"audio\" and \"video\", once each".into(),
        ));
    }
    Ok(())
}

pub fn check_device(device: &str, secret: Option<&str>) -> Result<(), RequestError> {
    if !chat_protocol::is_valid_device_id(device) {
        return Err(RequestError::BadRequest(
            "device ids are 8-128 characters of A-Z a-z 0-9 _ -".into(),
        ));
    }
    if let Some(secret) = secret
        && !chat_protocol::is_valid_device_secret(secret)
    {
        return Err(RequestError::BadRequest(
            "device secrets are 22-128 characters of base64url".into(),
        ));
    }
    Ok(())
}

/// A decline token as handed out (for the HTTP route's length check).
pub fn plausible_token(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .is_ok()
}
