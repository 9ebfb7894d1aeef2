//! Flags and environment for the HTTP API of `pitchgrade serve`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::ApiConfig;
use crate::service::http::ServerLimits;

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, env = "PITCHGRADE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Bootstrap admin token for a fresh install: create real tokens with it
    /// (`POST /v1/tokens` or `pitchgrade token create`), then unset it.
    #[arg(long, env = "PITCHGRADE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Shared secret that S3 event notifications send as a bearer token
    /// (MinIO webhook `auth_token`) to `POST /v1/events/s3`.
    #[arg(long, env = "PITCHGRADE_S3_EVENTS_TOKEN", hide_env_values = true)]
    pub s3_events_token: Option<String>,
    /// Largest recording accepted, in MiB.
    #[arg(long, env = "PITCHGRADE_MAX_UPLOAD_MB", default_value_t = 200)]
    pub max_upload_mb: u64,
    /// How long a presigned upload URL stays valid, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub presign_seconds: u64,
    /// Attempts a grading job gets (transient failures retry with backoff).
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "PITCHGRADE_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Seconds a request body may go without sending a byte before the
    /// request is dropped.
    #[arg(
        long,
        env = "PITCHGRADE_BODY_IDLE_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub body_idle_timeout_seconds: u64,
    /// Seconds a whole request may take, upload included (408 after it).
    #[arg(
        long,
        env = "PITCHGRADE_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 900
    )]
    pub request_timeout_seconds: u64,
    /// Connections served at once; further ones wait to be accepted.
    #[arg(long, env = "PITCHGRADE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Refuse at intake a recording shorter than this share of the rubric's
    /// lower timing limit (where timing earns nothing), before it costs the
    /// rep an attempt; 0 turns it off.
    #[arg(long, env = "PITCHGRADE_MIN_RECORDING_SHARE", default_value_t = 0.5)]
    pub min_recording_share: f64,
}

impl ApiArgs {
    pub fn config(&self) -> ApiConfig {
        ApiConfig {
            max_upload_bytes: self.max_upload_mb.saturating_mul(1024 * 1024),
            admin_token: self.admin_token.clone(),
            events_token: self.s3_events_token.clone(),
            presign_expiry: std::time::Duration::from_secs(
                self.presign_seconds.clamp(60, 7 * 24 * 3600),
            ),
            max_attempts: self.max_attempts.max(1),
            min_recording_share: self.min_recording_share.clamp(0.0, 1.0),
            ..ApiConfig::default()
        }
    }

    /// The server's timeouts and connection cap; zero would disable a
    /// timeout by accident, so each is at least a second.
    pub fn server_limits(&self) -> ServerLimits {
        let seconds = |s: u64| Duration::from_secs(s.max(1));
        ServerLimits {
            header_read: seconds(self.header_timeout_seconds),
            body_idle: seconds(self.body_idle_timeout_seconds),
            request: seconds(self.request_timeout_seconds),
            max_connections: self.max_connections.max(1),
        }
    }
}
