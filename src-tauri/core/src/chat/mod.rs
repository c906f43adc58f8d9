//! Chat over the data channel: the messages that travel on it (`wire`, shared with the web UI), the
//! delivery rules every client follows (`session`): client-made ids, an ack for every copy received,
//! duplicates dropped by id, and an outbox resent to each peer until that peer acks; and the per-peer
//! limit on what is received (`ratelimit`).

pub mod ratelimit;
pub mod seen;
pub mod session;
pub mod wire;

pub use ratelimit::{Admission, ChatRateLimit};
pub use session::{ChatSession, Received};
pub use wire::ChannelMessage;
