//! `pitchgrade rep erase REP`: erase one rep, for an operator with access to
//! the database and the object store (the same as `DELETE /v1/reps/{rep}`).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::program_args::ProgramArgs;
use crate::privacy::{self, PrivacyError};

#[derive(Debug, Subcommand)]
pub enum RepCommand {
    /// Delete a rep's recordings and transcripts everywhere and replace their
    /// id by a pseudonym in every row (program reports still add up).
    Erase(EraseArgs),
}

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The rep id to erase.
    pub rep: String,
    /// Who asked, for the audit log (a ticket number, a name).
    #[arg(long, default_value = "cli")]
    pub requested_by: String,
    #[command(flatten)]
    pub program: ProgramArgs,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: RepCommand) -> anyhow::Result<ExitCode> {
    match command {
        RepCommand::Erase(args) => erase(args).await,
    }
}

async fn erase(args: EraseArgs) -> anyhow::Result<ExitCode> {
    let (program, repo) = args.program.open().await?;
    let objects = args.program.storage.objects().await?;
    let actor = format!("erasure:{}", args.requested_by);
    let done = match privacy::erase_rep(
        repo.as_ref(),
        objects.as_ref(),
        &program.retention,
        &args.rep,
        &actor,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(done) => done,
        Err(e @ PrivacyError::NoSuchRep(_)) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!(
            "erased: {} recordings ({} stored objects) and {} transcripts deleted; \
             the rep's rows are now named {}{}",
            done.recordings_deleted,
            done.objects_deleted,
            done.transcripts_deleted,
            done.pseudonym,
            if done.deactivated {
                " and off the coverage roster"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
