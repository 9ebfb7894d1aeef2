//! `pitchgrade serve`: the HTTP API, the web pages (reps, reviewers,
//! enablement; see docs/web.md) and a pool of grading workers in one process,
//! on one port — the embedded default. With no configuration it keeps its state in
//! `pitchgrade-data/` (SQLite + a folder of recordings) under the working
//! directory. `--workers 0` serves the API only, for a distributed deployment
//! whose grading runs in `pitchgrade worker` processes.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::worker::stop_on_signal;
use crate::service::api::{ApiArgs, ApiState};
use crate::service::certification::CertificationArgs;
use crate::service::{ServiceParts, StorageArgs, Worker, WorkerArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub certification: CertificationArgs,
    /// Mark the web pages' session cookie `Secure`: set this when the server
    /// is reached over HTTPS (behind a TLS proxy), so the cookie never travels
    /// in clear.
    #[arg(long, env = "PITCHGRADE_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let parts = ServiceParts::connect(&args.storage, &args.worker.rubrics).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let program = args.certification.start(&parts, &shutdown)?;

    let workers = if args.worker.workers > 0 {
        // Models load once, before the port opens: a server that is listening
        // can grade.
        let pipeline = Arc::new(args.worker.pipeline()?);
        let mut settings = args.worker.settings();
        settings.program = program.clone();
        let worker = Arc::new(Worker::new(parts.clone(), pipeline, settings));
        Some(tokio::spawn(worker.run(shutdown.clone())))
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(args.api.listen)
        .await
        .with_context(|| format!("listening on {}", args.api.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let mut config = args.api.config();
    config.program = program;
    if config.admin_token.is_none() {
        eprintln!(
            "no admin token configured: set PITCHGRADE_ADMIN_TOKEN, or create tokens with \
             `pitchgrade token create`"
        );
    }
    let app = crate::web::app(
        ApiState::new(parts, config),
        crate::web::WebOptions {
            secure_cookies: args.secure_cookies,
            // Its own judge: a replay on the page must not wait on a grading job.
            replay_judge: Some(Arc::from(args.worker.judge.build()?)),
        },
    );
    // Tests and scripts read this line to find the port of `--listen …:0`.
    eprintln!("pitchgrade listening on http://{address}");
    eprintln!("web pages: open http://{address}/ and sign in with an access token");
    crate::service::http::serve(listener, app, args.api.server_limits(), shutdown.clone()).await;
    shutdown.cancel();
    if let Some(workers) = workers {
        // The jobs in hand finish; the rest stay queued for the next start.
        let _ = workers.await;
    }
    Ok(ExitCode::SUCCESS)
}
