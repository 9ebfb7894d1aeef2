//! `pitchgrade token create|revoke`: API tokens from the command line, for an
//! operator with database access (the first tokens of a fresh install, or when
//! no admin token is at hand). The secret is printed once, alone on stdout.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use uuid::Uuid;

use crate::service::api::tokens::{issue, TokenRequest};
use crate::service::StorageArgs;
use crate::store::db::tokens::Role;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown once; only its hash is stored).
    Create(CreateArgs),
    /// Revoke a token by its id.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// rep (one rep's own submissions), partner_admin (one firm's reps),
    /// reviewer, enablement (read all) or admin.
    #[arg(long, value_parser = ["rep", "partner_admin", "reviewer", "enablement", "admin"])]
    pub role: String,
    /// The rep a rep token acts for.
    #[arg(long, required_if_eq("role", "rep"))]
    pub rep: Option<String>,
    /// The partner firm a partner_admin token (or a partner-side reviewer's)
    /// is confined to.
    #[arg(long, required_if_eq("role", "partner_admin"))]
    pub firm: Option<String>,
    /// A note for operators ("alice's laptop").
    #[arg(long)]
    pub label: Option<String>,
    /// The person the token acts as ("Rita"), shown in audit trails.
    #[arg(long)]
    pub name: Option<String>,
    /// How long the token works: `90d`, `12h`, or `never`.
    #[arg(long, default_value = "90d")]
    pub expires_in: String,
    /// Print id, role, rep and token as JSON instead of the bare token.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub id: Uuid,
    #[command(flatten)]
    pub storage: StorageArgs,
}

pub async fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create(args) => create(args).await,
        TokenCommand::Revoke(args) => {
            let repo = args.storage.repo().await?;
            if repo.revoke_token(args.id, chrono::Utc::now()).await? {
                eprintln!("token {} revoked", args.id);
                Ok(ExitCode::SUCCESS)
            } else {
                anyhow::bail!("no live token {}", args.id)
            }
        }
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let role: Role = args.role.parse()?;
    let repo = args.storage.repo().await?;
    let issued = issue(
        repo.as_ref(),
        &TokenRequest {
            role,
            rep: args.rep,
            firm: args.firm,
            label: args.label,
            name: args.name,
            expires_in: Some(args.expires_in),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message))
    .context("creating the token")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&issued)?);
    } else {
        println!("{}", issued.token);
    }
    let bound = match (&issued.rep_id, &issued.firm_id) {
        (Some(rep), _) => format!(" for rep {rep}"),
        (None, Some(firm)) => format!(" for firm {firm}"),
        (None, None) => String::new(),
    };
    eprintln!(
        "created {} token {}{bound}; the secret is shown only once",
        issued.role, issued.id
    );
    match issued.expires_at {
        Some(at) => eprintln!("it expires at {}", at.to_rfc3339()),
        None => eprintln!("it never expires"),
    }
    Ok(ExitCode::SUCCESS)
}
