//! `pitchgrade worker`: grading workers only, for scaling out. Any number of
//! these processes, on any number of machines, share one PostgreSQL queue and
//! one S3 bucket; each job is claimed by exactly one of them at a time.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::service::certification::CertificationArgs;
use crate::service::{ServiceParts, StorageArgs, Worker, WorkerArgs};

#[derive(Debug, Args)]
pub struct WorkerCommandArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub certification: CertificationArgs,
}

pub async fn run(args: WorkerCommandArgs) -> anyhow::Result<ExitCode> {
    let parts = ServiceParts::connect(&args.storage, &args.worker.rubrics).await?;
    let pipeline = Arc::new(args.worker.pipeline()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let mut settings = args.worker.settings();
    settings.program = args.certification.start(&parts, &shutdown)?;
    let worker = Arc::new(Worker::new(parts, pipeline, settings));
    worker.run(shutdown).await;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM (what `docker stop` and systemd send) stops claiming new
/// jobs; the jobs in hand finish first.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    shutdown.cancel();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: no new jobs will be claimed");
    shutdown.cancel();
}
