//! `pitchgrade sweep [--at DATE] [--apply]`: what the certification sweep
//! would do at an instant — the reminders, expiries and paused rights it
//! would fire — so an operator can see the lifecycle without waiting for it.
//! A dry run by default; `--apply` runs one real pass now.

use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::Args;

use super::program_args::ProgramArgs;
use crate::certify::sweep::{self, SweepPreview};

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// The instant to sweep at (RFC 3339, or a date: 2027-03-01). Default now.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// Run one real pass (now only: a pass at a future instant would expire
    /// certifications early).
    #[arg(long)]
    pub apply: bool,
    #[arg(long)]
    pub json: bool,
}

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{s:?} is neither a date (2027-03-01) nor an RFC 3339 instant"))
}

pub async fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let (program, repo) = args.program.open().await?;
    let now = Utc::now();
    let at = args.at.unwrap_or(now);
    if args.apply {
        if at > now + chrono::TimeDelta::minutes(1) {
            bail!("--apply runs a real pass, which only makes sense now: leave out --at, or drop --apply for a dry run at {at}");
        }
        let owner = format!("cli:{}", std::process::id());
        let report = sweep::run(repo.as_ref(), &program, &owner, now).await?;
        // The retention policy is enforced by the same pass, as the service's
        // loop does; only a pass that held the sweep lease runs it.
        let retention = if report.ran {
            let objects = args.program.storage.objects().await?;
            Some(
                crate::privacy::sweep(repo.as_ref(), objects.as_ref(), &program.retention, now)
                    .await?,
            )
        } else {
            None
        };
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "sweep": report, "retention": retention })
                )?
            );
        } else if !report.ran {
            println!("another process holds the sweep lease; nothing done");
        } else {
            println!(
                "applied {} missing grade effects, {} expiries, {} reminders ({} errors)",
                report.reconciled, report.expired, report.reminders, report.errors
            );
            if let Some(r) = retention {
                println!(
                    "retention: deleted {} recordings and {} transcripts ({} errors)",
                    r.recordings_deleted, r.transcripts_deleted, r.errors
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let preview = sweep::preview(repo.as_ref(), &program, at).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&preview)?);
    } else {
        print!("{}", to_text(&preview));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per event: when, what, whose, and the event's own details.
pub fn to_text(p: &SweepPreview) -> String {
    let mut out = format!(
        "Sweep at {} (dry run: nothing written)\n",
        p.at.to_rfc3339()
    );
    if p.unapplied_grades > 0 {
        out.push_str(&format!(
            "{} grade(s) still need their certification effect; a real pass applies them first\n",
            p.unapplied_grades
        ));
    }
    if p.events.is_empty() {
        out.push_str("nothing would fire\n");
        return out;
    }
    for e in &p.events {
        let detail = detail(&e.payload);
        out.push_str(&format!(
            "{}  {:<24} {:<16} {}\n",
            e.occurred_at.format("%Y-%m-%d %H:%M"),
            e.kind,
            e.rep_id,
            detail
        ));
    }
    out
}

/// The payload's scalar fields that say what happened, as `key=value`
/// (one level into objects, such as an event's `data`); ids and the event's
/// own type and time are left out, as the line already says them.
fn detail(payload: &serde_json::Value) -> String {
    let mut out = Vec::new();
    collect(payload, "", &mut out);
    out.join(" ")
}

fn collect(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    let Some(map) = value.as_object() else {
        return;
    };
    for (k, v) in map {
        if matches!(
            k.as_str(),
            "id" | "type" | "rep_id" | "event_id" | "occurred_at" | "submission_id"
        ) || k.ends_with("_id") && k != "track_id"
        {
            continue;
        }
        match v {
            serde_json::Value::String(s) => out.push(format!("{k}={s}")),
            serde_json::Value::Number(n) => out.push(format!("{k}={n}")),
            serde_json::Value::Bool(b) => out.push(format!("{k}={b}")),
            serde_json::Value::Array(a) if a.iter().all(|x| x.is_string()) => out.push(format!(
                "{k}={}",
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            serde_json::Value::Object(_) if prefix.is_empty() => collect(v, k, out),
            _ => {}
        }
    }
}
