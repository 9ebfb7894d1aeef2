//! `pitchgrade report`: certification program health (pass rates, coverage,
//! reviewer agreement, tier forecast) as text, JSON or CSV.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;

use super::program_args::ProgramArgs;
use crate::certify::reports::{self, ReportOptions};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Compute as of this instant (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
    /// Horizon of the tier forecast, in days.
    #[arg(long, default_value_t = 60)]
    pub forecast_days: u32,
    /// First attempts a rubric needs before it gets a healthy/unhealthy
    /// verdict [default: the program's `[calibration] min_sample`, 10 unless set].
    #[arg(long)]
    pub min_sample: Option<u32>,
    /// One partner firm's report (its reps only), as its partner admin sees it.
    #[arg(long, value_name = "FIRM")]
    pub firm: Option<String>,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Long-format CSV: section,subject,metric,value.
    #[arg(long)]
    pub csv: bool,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (program, repo) = args.program.open().await?;
    let now = args.at.unwrap_or_else(Utc::now);
    if let Some(firm) = &args.firm {
        if repo.get_firm(firm).await?.is_none() {
            anyhow::bail!("no firm {firm:?} in this database");
        }
    }
    let options = ReportOptions {
        forecast_days: args.forecast_days,
        min_sample: args.min_sample,
        firm: args.firm.clone(),
    };
    let report = reports::build(repo.as_ref(), &program, now, &options).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if args.csv {
        print!("{}", reports::to_csv(&report));
    } else {
        print!("{}", reports::to_text(&report));
    }
    Ok(ExitCode::SUCCESS)
}
