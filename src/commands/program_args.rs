//! What the certification commands (`report`, `sweep`) open: the program
//! file, checked against the rubrics, and the database it certifies in.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::certify::{Program, RubricCatalog};
use crate::store::Repo;

#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// Database URL (sqlite://path or postgres://…); the embedded default
    /// is the one `pitchgrade serve` makes.
    #[arg(
        long = "database-url",
        alias = "database",
        env = "PITCHGRADE_DATABASE_URL",
        default_value = "sqlite://pitchgrade-data/pitchgrade.db"
    )]
    pub database: String,
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
            .map(RubricCatalog::load_dir)
            .transpose()?;
        let program = Program::load(&self.program, catalog.as_ref())
            .with_context(|| format!("loading the program {}", self.program.display()))?;
        let repo = crate::store::connect(&self.database)
            .await
            .context("opening the database")?;
        Ok((program, repo))
    }
}
