//! What the certification commands (`report`, `sweep`, `rep erase`) open: the
//! program file, checked against the rubrics, and the database it certifies
//! in (and, for those that delete recordings, the object store).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::certify::{Program, RubricTracks};
use crate::service::StorageArgs;
use crate::store::Repo;

#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// The database (`--database-url`) and object store (`--storage-url`);
    /// the embedded defaults are the ones `pitchgrade serve` makes.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The certification program file.
    #[arg(
        long,
        env = "PITCHGRADE_PROGRAM",
        default_value = "config/program.toml"
    )]
    pub program: PathBuf,
    /// Rubric folder to check the program's rubric ids against.
    #[arg(long)]
    pub rubrics: Option<PathBuf>,
}

impl ProgramArgs {
    /// The program (every problem in it is an error) and the database.
    pub async fn open(&self) -> anyhow::Result<(Program, Arc<dyn Repo>)> {
        let catalog = self
            .rubrics
            .as_deref()
            .map(|dir| RubricTracks::load_dir(&crate::install::shipped(dir)))
            .transpose()?;
        let path = crate::install::shipped(&self.program);
        let program = Program::load(&path, catalog.as_ref())
            .with_context(|| format!("loading the program {}", path.display()))?;
        let repo = self.storage.repo().await?;
        Ok((program, repo))
    }
}
