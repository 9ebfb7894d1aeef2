//! `pitchgrade submit FILE --rubric ID --rep REP`: the service's command-line
//! client. Streams the recording to a server (`POST /v1/submissions`) with a
//! progress bar, then polls until the grade is in and prints it as `grade`
//! does. Exit 2 when the file or the attempt was refused or the submission
//! failed (the rep must act), 1 for anything else that went wrong.
//! `pitchgrade result ID` fetches a submission's grade later.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use futures_util::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;

use super::BAD_FILE;
use crate::score::{report, Grade};
use crate::service::api::error::ErrorBody;
use crate::service::api::views::{Status, SubmissionResponse};

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The recording to upload.
    pub file: PathBuf,
    /// Id of a rubric installed on the server.
    #[arg(long)]
    pub rubric: String,
    /// The rep the recording is for (a rep token may leave it out).
    #[arg(long)]
    pub rep: Option<String>,
    /// The pitchgrade server.
    #[arg(
        long,
        env = "PITCHGRADE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: url::Url,
    /// API token (rep or admin).
    #[arg(long, env = "PITCHGRADE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Makes a retried submit return the first submission instead of a second.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Print the submission id and exit once the upload is queued.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up waiting for the grade after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub wait_seconds: u64,
    /// Print the submission (with its grade) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Error codes that mean the rep must act: re-record or re-export the file,
/// or wait as the retake policy says, or pitch the scenario they were given.
const FILE_REFUSED: &[&str] = &[
    "not_audio",
    "unsupported_format",
    "empty_file",
    "too_large",
    "too_short",
    "too_long",
    "silent",
    "unreadable_recording",
    "retake_not_allowed",
    "wrong_scenario",
];

/// `pitchgrade result ID`: one submission's status and grade, as `submit`
/// prints them, for when `submit --no-wait` or `--wait-seconds` ran out.
#[derive(Debug, Args)]
pub struct ResultArgs {
    /// The submission id `submit` printed.
    pub id: uuid::Uuid,
    /// The pitchgrade server.
    #[arg(
        long,
        env = "PITCHGRADE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: url::Url,
    /// API token (the submission's rep, or staff).
    #[arg(long, env = "PITCHGRADE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Wait up to this many seconds for a grade still being made (0: answer now).
    #[arg(long, default_value_t = 0)]
    pub wait_seconds: u64,
    /// Print the submission (with its grade) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run_result(args: ResultArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("starting the HTTP client")?;
    let url = endpoint(&args.server, &format!("v1/submissions/{}", args.id))?;
    let response = client
        .get(url)
        .bearer_auth(&args.token)
        .send()
        .await
        .with_context(|| format!("asking {} for the submission", args.server))?;
    let status = response.status();
    if !status.is_success() {
        let (code, message) = error_of(response).await;
        bail!("the server answered {status} ({code}): {message}");
    }
    let mut current: SubmissionResponse =
        response.json().await.context("reading the submission")?;
    if args.wait_seconds > 0 && !current.status.is_final() {
        current = wait(
            &client,
            &args.server,
            &args.token,
            args.wait_seconds,
            current,
        )
        .await?;
    }
    if !args.json && !current.status.is_final() {
        println!(
            "submission {} is {}; ask again later",
            current.id,
            status_words(current.status)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let code = report_result(args.json, &format!("submission {}", args.id), &current)?;
    if !args.json && current.status == Status::Graded {
        print_rights(&client, &args.server, &args.token, &current).await;
    }
    Ok(code)
}

/// "queued", "processing", "needs review": the API's spelling, for people.
fn status_words(status: Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_else(|| format!("{status:?}"))
}

pub async fn run(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("starting the HTTP client")?;
    let submitted = match upload(&client, &args).await? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let what = args.file.display().to_string();
    if args.no_wait {
        report_result(args.json, &what, &submitted)?;
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait(
        &client,
        &args.server,
        &args.token,
        args.wait_seconds,
        submitted,
    )
    .await?;
    let code = report_result(args.json, &what, &done)?;
    if !args.json && done.status == Status::Graded {
        print_rights(&client, &args.server, &args.token, &done).await;
    }
    Ok(code)
}

/// After a grade, what the rep now holds: the certifications and rights the
/// program gives them (`GET /v1/reps/{rep}/rights`). Best effort: a server
/// without a program (503) or an older one says nothing more.
async fn print_rights(
    client: &reqwest::Client,
    server: &url::Url,
    token: &str,
    s: &SubmissionResponse,
) {
    let Ok(url) = endpoint(server, &format!("v1/reps/{}/rights", s.rep_id)) else {
        return;
    };
    // The worker certifies a pass just after writing the grade: give it a
    // moment rather than tell a rep who passed that they hold nothing.
    let passed = s.grade.as_ref().is_some_and(|g| g["decision"] == "pass");
    let mut shown = None;
    for _ in 0..20 {
        let Ok(response) = client.get(url.clone()).bearer_auth(token).send().await else {
            return;
        };
        if !response.status().is_success() {
            return;
        }
        let Ok(body) = response.json::<serde_json::Value>().await else {
            return;
        };
        let line = rights_line(&body);
        let certified = !line.starts_with("Certification: none");
        shown = Some(line);
        if certified || !passed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(line) = shown {
        println!("{line}");
    }
}

/// "Certification: sales (valid until 2027-12-02); rights: selling, …".
fn rights_line(body: &serde_json::Value) -> String {
    let certified: Vec<String> = body["certifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "valid")
        .map(|c| {
            let until = c["expires_at"]
                .as_str()
                .unwrap_or("")
                .get(..10)
                .unwrap_or("");
            format!(
                "{} (valid until {until})",
                c["track"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let rights: Vec<&str> = body["rights"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["right"].as_str())
        .collect();
    if certified.is_empty() {
        return "Certification: none yet; rights: none".to_string();
    }
    format!(
        "Certification: {}; rights: {}",
        certified.join(", "),
        if rights.is_empty() {
            "none".to_string()
        } else {
            rights.join(", ")
        }
    )
}

/// Streams the file as multipart, counting bytes into the progress bar.
/// `Err(exit code)` when the server refused the file.
async fn upload(
    client: &reqwest::Client,
    args: &SubmitArgs,
) -> anyhow::Result<Result<SubmissionResponse, ExitCode>> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("opening {}", args.file.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let counter = bar.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
        .inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
            .file_name(name);
    // Ids before the file, so the server refuses a wrong rubric or rep
    // before the upload, not after it.
    let mut form = reqwest::multipart::Form::new().text("rubric", args.rubric.clone());
    if let Some(rep) = &args.rep {
        form = form.text("rep", rep.clone());
    }
    let form = form.part("file", part);
    let mut request = client
        .post(endpoint(&args.server, "v1/submissions")?)
        .bearer_auth(&args.token)
        .multipart(form);
    if let Some(key) = &args.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("uploading to {}", args.server))?;
    let sent = bar.position();
    bar.finish_and_clear();
    let status = response.status();
    if status.is_success() {
        let submission: SubmissionResponse = response
            .json()
            .await
            .context("reading the server's answer")?;
        eprintln!(
            "uploaded {sent} bytes; submission {} {}",
            submission.id,
            if status == StatusCode::OK {
                "(already submitted with this idempotency key)"
            } else {
                "queued"
            }
        );
        return Ok(Ok(submission));
    }
    let (code, message) = error_of(response).await;
    if FILE_REFUSED.contains(&code.as_str()) {
        eprintln!("{}: {message}", args.file.display());
        return Ok(Err(ExitCode::from(BAD_FILE)));
    }
    bail!("the server refused the upload ({status}, {code}): {message}")
}

/// Polls until the submission is graded, needs review or failed.
async fn wait(
    client: &reqwest::Client,
    server: &url::Url,
    token: &str,
    wait_seconds: u64,
    submitted: SubmissionResponse,
) -> anyhow::Result<SubmissionResponse> {
    let url = endpoint(server, &format!("v1/submissions/{}", submitted.id))?;
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let deadline = Instant::now() + Duration::from_secs(wait_seconds);
    let mut pause = Duration::from_millis(500);
    let mut current = submitted;
    while !current.status.is_final() {
        spinner.set_message(format!("{:?}…", current.status).to_lowercase());
        if Instant::now() >= deadline {
            spinner.finish_and_clear();
            bail!(
                "no grade after {wait_seconds} s; the submission {id} is still {status} — \
                 check later with `pitchgrade result {id}`",
                id = current.id,
                status = status_words(current.status)
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
        let response = client
            .get(url.clone())
            .bearer_auth(token)
            .send()
            .await
            .context("asking for the grade")?;
        if !response.status().is_success() {
            let status = response.status();
            let (code, message) = error_of(response).await;
            // A restarting server answers 503 for a moment: keep waiting.
            if status.is_server_error() {
                continue;
            }
            spinner.finish_and_clear();
            bail!("the server answered {status} ({code}): {message}");
        }
        current = response.json().await.context("reading the submission")?;
    }
    spinner.finish_and_clear();
    Ok(current)
}

/// Prints a final submission; `what` names it in a failure line (the file,
/// or the submission id).
fn report_result(json: bool, what: &str, s: &SubmissionResponse) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
    }
    match s.status {
        Status::Failed => {
            eprintln!(
                "{what}: {}",
                s.failure_reason
                    .as_deref()
                    .unwrap_or("the submission failed")
            );
            Ok(ExitCode::from(BAD_FILE))
        }
        Status::Graded | Status::NeedsReview if !json => {
            let grade = s
                .grade
                .clone()
                .context("the server reports a grade but sent none")?;
            let grade: Grade =
                serde_json::from_value(grade).context("reading the grade the server sent")?;
            print!("{}", report::render(&grade));
            if s.status == Status::NeedsReview {
                println!("This grade is borderline: a reviewer will confirm it.");
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            if !json {
                println!("submission {} is {}", s.id, status_words(s.status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn endpoint(server: &url::Url, path: &str) -> anyhow::Result<url::Url> {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path)
        .with_context(|| format!("building a URL from {server}"))
}

async fn error_of(response: reqwest::Response) -> (String, String) {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => (body.error.code, body.error.message),
        // The body can be lost when the server closes a refused upload's
        // connection early; the status alone still says whose problem it is.
        Err(_) => {
            let code = match status.as_u16() {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                413 => "too_large",
                415 => "unsupported_format",
                _ => status.as_str(),
            };
            let message = match status.as_u16() {
                413 => "the recording is larger than the server accepts",
                415 => "the server cannot read this file as a recording",
                _ => status.canonical_reason().unwrap_or("unexpected answer"),
            };
            (code.to_string(), message.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rights_line;
    use serde_json::json;

    #[test]
    fn the_rights_line_names_valid_certifications_and_their_rights() {
        let body = json!({
            "rights": [{"right": "selling"}, {"right": "deal_registration"}],
            "certifications": [
                {"track": "sales", "status": "valid", "expires_at": "2027-12-02T10:00:00Z"},
                {"track": "technical", "status": "expired", "expires_at": "2026-01-01T00:00:00Z"}
            ]
        });
        assert_eq!(
            rights_line(&body),
            "Certification: sales (valid until 2027-12-02); rights: selling, deal_registration"
        );
        assert_eq!(
            rights_line(&json!({"rights": [], "certifications": []})),
            "Certification: none yet; rights: none"
        );
    }
}
