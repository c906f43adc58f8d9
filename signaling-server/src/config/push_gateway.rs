//! Flags of `signaling-server push-gateway` (the push gateway itself is `push::gateway`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// What `signaling-server push-gateway` is asked for.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Address to listen on. Keep it private: the signaling server (`--push-gateway-url`) is its only client.
    #[arg(long, env = "PUSH_GATEWAY_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// FCM: the Firebase project's service-account key file (JSON, from the Firebase console).
    #[arg(long, env = "PUSH_GATEWAY_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,

    /// FCM API base URL.
    #[arg(
        long,
        env = "PUSH_GATEWAY_FCM_URL",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_url: String,

    /// APNs: the token-signing key (.p8) from the Apple developer account.
    #[arg(long, env = "PUSH_GATEWAY_APNS_KEY", requires_all = ["apns_key_id", "apns_team_id", "apns_topic"])]
    pub apns_key: Option<PathBuf>,

    /// APNs: the key's id.
    #[arg(long, env = "PUSH_GATEWAY_APNS_KEY_ID")]
    pub apns_key_id: Option<String>,

    /// APNs: the developer team id.
    #[arg(long, env = "PUSH_GATEWAY_APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,

    /// APNs: the app's bundle id (VoIP pushes go to `<bundle id>.voip`).
    #[arg(long, env = "PUSH_GATEWAY_APNS_TOPIC")]
    pub apns_topic: Option<String>,

    /// APNs API base URL (development builds: https://api.sandbox.push.apple.com).
    #[arg(
        long,
        env = "PUSH_GATEWAY_APNS_URL",
        default_value = "https://api.push.apple.com"
    )]
    pub apns_url: String,
}
