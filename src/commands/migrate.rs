//! `pitchgrade migrate`: brings the database schema up to date and exits.
//!
//! Every process also migrates when it connects; running this first in a
//! deployment makes the upgrade an explicit step, before new workers start.

use std::process::ExitCode;

use clap::Args;

use crate::service::StorageArgs;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    args.storage.repo().await?;
    eprintln!("database schema is up to date");
    Ok(ExitCode::SUCCESS)
}
