//! `pitchgrade migrate`: brings the database schema up to date and exits; with
//! `--to-database-url` and `--to-storage-url`, also copies the whole install
//! (rows and recordings) into another one — how an embedded install (SQLite +
//! a local folder) moves to PostgreSQL + S3. See docs/deployment.md.
//!
//! Every process also migrates when it connects; running this first in a
//! deployment makes the upgrade an explicit step, before new workers start.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::service::StorageArgs;
use crate::store::connect_objects;
use crate::store::transfer::copy_install;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The install to migrate (and, with `--to-…`, to copy from).
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Copy everything into this PostgreSQL database (its schema is created).
    #[arg(long, requires = "to_storage_url")]
    pub to_database_url: Option<String>,
    /// …and every recording into this object store (`s3://bucket/prefix`).
    #[arg(long, requires = "to_database_url")]
    pub to_storage_url: Option<String>,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let (Some(to_db), Some(to_storage)) = (&args.to_database_url, &args.to_storage_url) else {
        args.storage.repo().await?;
        eprintln!("database schema is up to date");
        return Ok(ExitCode::SUCCESS);
    };
    let from_objects = args.storage.objects().await?;
    let to_objects = connect_objects(to_storage)
        .await
        .with_context(|| format!("opening the target object store {to_storage}"))?;
    let scratch = tempfile::tempdir().context("making a scratch folder")?;
    let report = copy_install(
        &args.storage.database_url,
        to_db,
        from_objects.as_ref(),
        to_objects.as_ref(),
        scratch.path(),
        &|line| eprintln!("{line}"),
    )
    .await
    .context("copying the install")?;

    println!("table\trows\twritten");
    for t in &report.tables {
        println!("{}\t{}\t{}", t.table, t.rows, t.inserted);
    }
    println!(
        "recordings: {} copied, {} already there, {} missing",
        report.objects_copied,
        report.objects_present,
        report.objects_missing.len()
    );
    for key in &report.objects_missing {
        eprintln!("missing from the source store: {key}");
    }
    Ok(ExitCode::SUCCESS)
}
