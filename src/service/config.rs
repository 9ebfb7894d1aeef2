//! Flags and environment for the service commands, and the parts they connect.
//!
//! Every setting has a default that works on a fresh checkout (SQLite file and
//! a local folder under `pitchgrade-data/`), so `pitchgrade serve` needs no
//! configuration; the distributed shape only changes two URLs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::ingest::Limits;
use crate::pipeline::backends::{JudgeArgs, TranscriberArgs};
use crate::pipeline::Pipeline;
use crate::rubric::RubricCatalog;
use crate::store::{connect, connect_objects, ObjectStore, Repo};

use super::worker::WorkerSettings;

/// Where state lives. The URL schemes pick the backends.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Database: `sqlite://path/to/file.db` (embedded default) or `postgres://…`.
    #[arg(
        long,
        alias = "database",
        env = "PITCHGRADE_DATABASE_URL",
        default_value = "sqlite://pitchgrade-data/pitchgrade.db"
    )]
    pub database_url: String,
    /// Object store for recordings: `file:///abs/dir` or `s3://bucket/prefix`
    /// (S3 endpoint, region and keys from the AWS_* variables).
    /// Default: `pitchgrade-data/objects` under the working directory.
    #[arg(long, env = "PITCHGRADE_STORAGE_URL")]
    pub storage_url: Option<String>,
}

impl StorageArgs {
    pub async fn repo(&self) -> anyhow::Result<Arc<dyn Repo>> {
        connect(&self.database_url)
            .await
            .with_context(|| format!("opening the database {}", redacted(&self.database_url)))
    }

    pub async fn objects(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let url = match &self.storage_url {
            Some(url) => url.clone(),
            None => default_objects_url()?,
        };
        connect_objects(&url)
            .await
            .with_context(|| format!("opening the object store {url}"))
    }
}

fn default_objects_url() -> anyhow::Result<String> {
    let dir = std::env::current_dir()
        .context("reading the working directory")?
        .join("pitchgrade-data")
        .join("objects");
    url::Url::from_directory_path(&dir)
        .map(|u| u.to_string())
        .map_err(|()| anyhow::anyhow!("{} is not an absolute path", dir.display()))
}

fn redacted(url: &str) -> String {
    crate::store::db::redact(url)
}

/// How the grading workers run.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Folder of rubric files (`*.toml`); submissions name a rubric by its id.
    #[arg(long, env = "PITCHGRADE_RUBRICS", default_value = "rubrics")]
    pub rubrics: PathBuf,
    /// Concurrent grading jobs in this process.
    #[arg(long, env = "PITCHGRADE_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// How long a claimed job stays ours without a heartbeat before another
    /// worker may take it over (seconds).
    #[arg(long, env = "PITCHGRADE_LEASE_SECONDS", default_value_t = 60)]
    pub lease_seconds: u64,
    #[command(flatten)]
    pub transcriber: TranscriberArgs,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

impl WorkerArgs {
    pub fn settings(&self) -> WorkerSettings {
        // Through `with_lease`, so the heartbeat and the rescuer follow a
        // lease set on the command line (a 2 s lease with the default 20 s
        // heartbeat would expire under every job).
        WorkerSettings {
            concurrency: self.workers.max(1),
            ..WorkerSettings::default()
        }
        .with_lease(Duration::from_secs(self.lease_seconds.max(2)))
    }

    /// Loads the models once; every worker in the process shares them.
    pub fn pipeline(&self) -> anyhow::Result<Pipeline> {
        Ok(Pipeline {
            limits: Limits::default(),
            transcriber: self.transcriber.build()?,
            judge: self.judge.build()?,
        })
    }
}

/// Everything a serving or working process holds, connected.
#[derive(Clone)]
pub struct ServiceParts {
    pub repo: Arc<dyn Repo>,
    pub objects: Arc<dyn ObjectStore>,
    pub rubrics: Arc<RubricCatalog>,
    pub metrics: Arc<super::Metrics>,
}

impl ServiceParts {
    /// Loads the rubric folder: the one read of it a process makes, shared by
    /// intake, the workers and the certification program's checks.
    pub async fn connect(storage: &StorageArgs, rubrics: &Path) -> anyhow::Result<ServiceParts> {
        let rubrics = &crate::install::shipped(rubrics);
        let catalog = RubricCatalog::load_dir(rubrics)
            .with_context(|| format!("loading rubrics from {}", rubrics.display()))?;
        let repo = storage.repo().await?;
        // An edited rubric that kept a version already graded with stops the
        // start, where enablement sees it, not a rep's grade later.
        crate::rubric::history::check(repo.as_ref(), &catalog)
            .await
            .with_context(|| {
                format!(
                    "checking rubrics in {} against their history",
                    rubrics.display()
                )
            })?;
        Ok(ServiceParts {
            repo,
            objects: storage.objects().await?,
            rubrics: Arc::new(catalog),
            metrics: Arc::new(super::Metrics::new()),
        })
    }
}
