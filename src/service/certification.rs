//! Certification in a running service: which program file, and the
//! background loop that keeps certifications honest without anyone acting —
//! the sweep (reminders, expiries, paused rights, grades left without an
//! effect) and webhook delivery from the outbox.
//!
//! Every `serve` and `worker` process runs the loop; the sweep's database
//! lease lets only one of them work at a time, and outbox claims hide an event
//! from other deliverers while one posts it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::certify::program::RubricTracks;
use crate::certify::webhook::{Deliverer, WebhookConfig};
use crate::certify::{sweep, Program};
use crate::rubric::RubricCatalog;
use crate::store::{ObjectStore, Repo};

/// Where the certification program lives and where its events go.
#[derive(Debug, Clone, Args)]
pub struct CertificationArgs {
    /// The certification program (tracks, rights, retakes, tiers). Default:
    /// `config/program.toml` when it exists; without one the service grades
    /// but certifies nothing.
    #[arg(long, env = "PITCHGRADE_PROGRAM")]
    pub program: Option<PathBuf>,
    /// Receiver of certification events (signed with HMAC-SHA256, docs/webhooks.md).
    #[arg(long, env = "PITCHGRADE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Shared secret for webhook signatures (at least 16 bytes).
    #[arg(long, env = "PITCHGRADE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// Seconds between sweep passes.
    #[arg(long, default_value_t = 60)]
    pub sweep_seconds: u64,
}

const DEFAULT_PROGRAM: &str = "config/program.toml";

impl CertificationArgs {
    /// The program, checked against the installed rubrics; `None` only when no
    /// file was named and the default is absent.
    pub fn load(&self, rubrics: &RubricCatalog) -> anyhow::Result<Option<Arc<Program>>> {
        let path = match &self.program {
            Some(p) => p.clone(),
            // The program is the operator's configuration, not a shipped
            // file: a server started elsewhere without one certifies nothing
            // rather than quietly running the sample program.
            None if Path::new(DEFAULT_PROGRAM).exists() => PathBuf::from(DEFAULT_PROGRAM),
            None => {
                warn!("no certification program ({DEFAULT_PROGRAM} is absent): grades will not certify");
                return Ok(None);
            }
        };
        let catalog = RubricTracks::from_rubrics(rubrics);
        let program = Program::load(&path, Some(&catalog))
            .with_context(|| format!("loading the certification program {}", path.display()))?;
        Ok(Some(Arc::new(program)))
    }

    pub fn deliverer(&self) -> anyhow::Result<Option<Deliverer>> {
        match (&self.webhook_url, &self.webhook_secret) {
            (Some(url), Some(secret)) => Ok(Some(
                Deliverer::new(WebhookConfig::new(url.clone(), secret.clone()))
                    .context("configuring webhooks")?,
            )),
            (Some(_), None) => {
                anyhow::bail!("PITCHGRADE_WEBHOOK_URL needs PITCHGRADE_WEBHOOK_SECRET")
            }
            _ => Ok(None),
        }
    }
}

impl CertificationArgs {
    /// Loads the program and, when there is one, starts the sweep and webhook
    /// loop in the background until `shutdown`.
    pub fn start(
        &self,
        parts: &super::ServiceParts,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Option<Arc<Program>>> {
        let Some(program) = self.load(&parts.rubrics)? else {
            return Ok(None);
        };
        tokio::spawn(run_loop(
            Arc::clone(&parts.repo),
            Arc::clone(&parts.objects),
            Arc::clone(&program),
            self.deliverer()?,
            Duration::from_secs(self.sweep_seconds.max(1)),
            format!("{}-{}", hostname(), std::process::id()),
            shutdown.clone(),
        ));
        Ok(Some(program))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "pitchgrade".into())
}

/// Runs the sweep (with the retention policy) and webhook delivery until
/// `shutdown`.
pub async fn run_loop(
    repo: Arc<dyn Repo>,
    objects: Arc<dyn ObjectStore>,
    program: Arc<Program>,
    deliverer: Option<Deliverer>,
    every: Duration,
    owner: String,
    shutdown: CancellationToken,
) {
    loop {
        let now = Utc::now();
        match sweep::run(repo.as_ref(), &program, &owner, now).await {
            Ok(report) if report.ran => {
                info!(?report, "certification sweep");
                // Whoever won the sweep this turn also enforces retention:
                // one deleter at a time, and every deletion is idempotent.
                match crate::privacy::sweep(
                    repo.as_ref(),
                    objects.as_ref(),
                    &program.retention,
                    now,
                )
                .await
                {
                    Ok(r) if r == Default::default() => {}
                    Ok(r) => info!(?r, "retention"),
                    Err(e) => warn!(error = %e, "retention pass failed; will retry"),
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "certification sweep failed; will retry"),
        }
        if let Some(d) = &deliverer {
            if let Err(e) = d.deliver_due(repo.as_ref(), Utc::now()).await {
                warn!(error = %e, "webhook delivery failed; will retry");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
