//! Retention and erasure against real storage: SQLite and PostgreSQL with the
//! local folder, and PostgreSQL with Garage (S3). Recordings past their time
//! are deleted from the store with a tombstone left behind; transcripts go
//! when the certification they support has lapsed; an erased rep leaves
//! nothing in any table, any object or any log line, while program reports
//! still add up.

#[macro_use]
#[path = "common/stories.rs"]
mod stories;
#[path = "common/store.rs"]
#[allow(dead_code)]
mod harness;
#[path = "common/logs.rs"]
mod logs;
#[path = "common/certify.rs"]
mod seed;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use chrono::{DateTime, Months, TimeDelta, Utc};
use harness::{t0, TestDb};
use logs::Captured;
use pitchgrade::certify::{apply_decision, reports, Applied};
use pitchgrade::privacy::{self, PrivacyError, RetentionPolicy};
use pitchgrade::score::decide::Decision;
use pitchgrade::store::db::certification::{AuditFilter, CertFilter};
use pitchgrade::store::db::tokens::{NewToken, Role};
use pitchgrade::store::db::uploads::NewUpload;
use pitchgrade::store::{connect_objects, ObjectKey, ObjectStore, Repo};
use seed::*;
use uuid::Uuid;

/// The rep whose traces are hunted for: an e-mail address, as partner CRMs use.
const ANA: &str = "ana.lindqvist@northwind.example";
/// What ana said, to find in (and then not find in) the stored grade.
const SAID: &str = "our customers close the books in four days instead of nine";

struct Rig {
    db: TestDb,
    objects: Arc<dyn ObjectStore>,
    /// The local store's folder (walked to prove no file is left).
    folder: Option<tempfile::TempDir>,
}

impl Rig {
    fn repo(&self) -> &dyn Repo {
        self.db.repo.as_ref()
    }
}

async fn local(db: TestDb) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap();
    Rig {
        db,
        objects: connect_objects(url.as_str()).await.unwrap(),
        folder: Some(dir),
    }
}

async fn garage(db: TestDb) -> Rig {
    let bucket = std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap_or_else(|_| {
        panic!("the S3 stories need Garage: run `eval \"$(scripts/garage.sh)\"` first")
    });
    let url = format!("s3://{bucket}/privacy-{}", Uuid::now_v7().simple());
    Rig {
        db,
        objects: connect_objects(&url).await.unwrap(),
        folder: None,
    }
}

stories! {
    sqlite_local(rig = local(TestDb::sqlite().await).await) => &rig,
    postgres_local(rig = local(TestDb::postgres().await).await) => &rig,
    postgres_s3(rig = garage(TestDb::postgres().await).await) => &rig;
    [
        retention_deletes_recordings_and_transcripts_on_schedule,
        an_erased_rep_leaves_nothing_behind,
    ]
}

/// Log lines of this test binary, to prove none names an erased rep.
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=info,hyper=info,aws=info,h2=info")
            .with_ansi(false)
            .with_writer(captured.clone())
            .try_init();
        captured
    })
}

/// A graded submission of `rep` with its recording really stored (and,
/// with `via_upload`, the direct-upload object it was completed from), the
/// grade carrying a transcript and a quote, and its certification effect
/// applied at `at`. Jobs are claimed through the real queue.
async fn graded(
    rig: &Rig,
    rep: &str,
    decision: Decision,
    score: f64,
    at: DateTime<Utc>,
    via_upload: bool,
) -> (Uuid, Vec<String>) {
    let repo = rig.repo();
    let key = ObjectKey::new_recording(at);
    rig.objects
        .put(&key, Bytes::from_static(b"RIFF....WAVEfmt "), "audio/wav")
        .await
        .unwrap();
    let mut keys = vec![key.to_string()];
    let said = said_by(rep);
    let mut seeded = Seeded::new(rep, SALES, decision, score, at);
    seeded.grade["criteria"][0]["evidence"] =
        serde_json::json!([{"quote": said, "start": 1.0, "end": 4.0}]);
    seeded.grade["transcript"] =
        serde_json::to_value(pitchgrade::score::transcript_input::from_text(said)).unwrap();
    let id = seed_stored(
        repo,
        Seeded {
            object_key: key.to_string(),
            idempotency_key: Some(format!("{rep}-{}", at.timestamp_millis())),
            ..seeded
        },
    )
    .await;
    if via_upload {
        let upload_key = ObjectKey::new_upload(at);
        rig.objects
            .put(
                &upload_key,
                Bytes::from_static(b"RIFF....WAVEfmt "),
                "audio/wav",
            )
            .await
            .unwrap();
        let upload = repo
            .create_upload(
                &NewUpload {
                    rep_id: rep.into(),
                    rubric_id: SALES.into(),
                    object_key: upload_key.to_string(),
                    idempotency_key: None,
                    expires_at: at + TimeDelta::hours(1),
                },
                at,
            )
            .await
            .unwrap();
        repo.set_upload_submission(upload.id, id).await.unwrap();
        keys.push(upload_key.to_string());
    }
    let applied = apply_decision(repo, &program(), id, at).await.unwrap();
    assert!(
        matches!(
            (decision, &applied),
            (Decision::Borderline, Applied::QueuedForReview { .. })
                | (Decision::Pass | Decision::Fail, Applied::Decided { .. })
        ),
        "{applied:?}"
    );
    (id, keys)
}

/// What each rep said: ana's words are hunted for after her erasure, so the
/// others say other things.
fn said_by(rep: &str) -> &'static str {
    if rep == ANA {
        SAID
    } else {
        "we reconcile every bank line for you"
    }
}

async fn stored(rig: &Rig, key: &str) -> bool {
    rig.objects
        .exists(&ObjectKey::parse(key).unwrap())
        .await
        .unwrap()
}

async fn grade_of(rig: &Rig, id: Uuid) -> serde_json::Value {
    rig.repo()
        .get_submission(id)
        .await
        .unwrap()
        .unwrap()
        .grade
        .unwrap()
        .grade
}

fn months(from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
    from.checked_add_months(Months::new(n)).unwrap()
}

async fn setup(repo: &dyn Repo) {
    add_firm(repo, "northwind", Some("reseller"), t0()).await;
    add_rep(repo, ANA, "northwind", "sales", true, t0()).await;
    add_rep(repo, "ben", "northwind", "sales", true, t0()).await;
    add_rep(repo, "cy", "northwind", "sales", true, t0()).await;
}

async fn retention_deletes_recordings_and_transcripts_on_schedule(rig: &Rig) {
    let repo = rig.repo();
    setup(repo).await;
    let policy = RetentionPolicy::default();
    // ana passes (a certification for 12 months); cy fails; ben's grade waits
    // for a reviewer; a direct upload nobody completed.
    let (passed, passed_keys) = graded(rig, ANA, Decision::Pass, 88.0, t0(), true).await;
    let (failed, failed_keys) = graded(rig, "cy", Decision::Fail, 41.0, t0(), false).await;
    let (waiting, waiting_keys) = graded(rig, "ben", Decision::Borderline, 68.0, t0(), false).await;
    let orphan_key = ObjectKey::new_upload(t0());
    rig.objects
        .put(&orphan_key, Bytes::from_static(b"bytes"), "audio/wav")
        .await
        .unwrap();
    let orphan = repo
        .create_upload(
            &NewUpload {
                rep_id: "ben".into(),
                rubric_id: SALES.into(),
                object_key: orphan_key.to_string(),
                idempotency_key: None,
                expires_at: t0() + TimeDelta::hours(1),
            },
            t0(),
        )
        .await
        .unwrap();
    let before = grade_of(rig, passed).await;

    // Day 31: cy's transcript goes (it supports no certification); every
    // recording stays (90 days).
    let day31 = privacy::sweep(
        repo,
        rig.objects.as_ref(),
        &policy,
        t0() + TimeDelta::days(31),
    )
    .await
    .unwrap();
    assert_eq!(
        (day31.recordings_deleted, day31.transcripts_deleted),
        (0, 1)
    );
    let cy = repo.get_submission(failed).await.unwrap().unwrap();
    assert!(cy.submission.transcript_deleted_at.is_some());
    assert!(cy.submission.recording_deleted.is_none());
    let cy_grade = cy.grade.unwrap().grade;
    assert!(!cy_grade.to_string().contains(said_by("cy")), "{cy_grade}");
    assert_eq!(cy_grade["criteria"][0]["evidence"][0]["quote"], "");
    assert!(cy_grade.get("transcript").is_none());
    assert_eq!(cy_grade["score"], 41.0);
    assert_eq!(
        cy_grade["criteria"][0]["evidence"][0]["start"], 1.0,
        "times stay"
    );
    for key in failed_keys.iter().chain(&passed_keys) {
        assert!(stored(rig, key).await, "{key} kept until day 90");
    }

    // Day 91: the final grades' recordings go, with both copies of ana's;
    // ben's waits for a reviewer and stays; the orphan upload goes with its row.
    let at = t0() + TimeDelta::days(91);
    let day91 = privacy::sweep(repo, rig.objects.as_ref(), &policy, at)
        .await
        .unwrap();
    assert_eq!(day91.recordings_deleted, 3, "{day91:?}");
    assert_eq!(day91.errors, 0);
    for key in passed_keys.iter().chain(&failed_keys) {
        assert!(!stored(rig, key).await, "{key} deleted");
    }
    assert!(!stored(rig, orphan_key.as_str()).await);
    assert!(repo.get_upload(orphan.id).await.unwrap().is_none());
    for key in &waiting_keys {
        assert!(
            stored(rig, key).await,
            "a grade under review keeps its recording"
        );
    }
    let ana = repo.get_submission(passed).await.unwrap().unwrap();
    let tomb = ana
        .submission
        .recording_deleted
        .clone()
        .expect("a tombstone");
    assert_eq!((tomb.at, tomb.reason.as_str()), (at, "retention"));
    // Her certification is valid: her transcript and quotes stay.
    assert!(ana.submission.transcript_deleted_at.is_none());
    assert_eq!(ana.grade.unwrap().grade, before);
    assert!(repo
        .get_submission(waiting)
        .await
        .unwrap()
        .unwrap()
        .submission
        .recording_deleted
        .is_none());

    // Idempotent: the same pass again deletes nothing.
    let again = privacy::sweep(repo, rig.objects.as_ref(), &policy, at)
        .await
        .unwrap();
    assert_eq!(again, Default::default());

    // 30 days after her certification lapses, her transcript goes too; the
    // numbers, verdicts, rubric version and backends stay.
    let lapse = months(t0(), 12);
    let kept = privacy::sweep(
        repo,
        rig.objects.as_ref(),
        &policy,
        lapse + TimeDelta::days(29),
    )
    .await
    .unwrap();
    assert_eq!(kept.transcripts_deleted, 0, "29 days after the lapse");
    let gone = privacy::sweep(
        repo,
        rig.objects.as_ref(),
        &policy,
        lapse + TimeDelta::days(31),
    )
    .await
    .unwrap();
    assert_eq!(gone.transcripts_deleted, 1);
    let after = grade_of(rig, passed).await;
    assert!(!after.to_string().contains(SAID));
    for field in ["decision", "score", "pass_score", "rubric", "backends"] {
        assert_eq!(after[field], before[field], "{field} stays");
    }
    let verdicts = |g: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        g["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["verdict"].clone(), c["score"].clone()))
            .collect()
    };
    assert_eq!(verdicts(&after), verdicts(&before));

    let audited = repo
        .audit_log(&AuditFilter {
            action_prefix: Some("recording.deleted".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audited.len(), 2, "one entry per submission's recording");
}

/// Every text of every row of every table, for hunting an id.
async fn every_row(db: &TestDb) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for table in tables {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                .bind(&table)
                .fetch_all(&pool)
                .await
                .unwrap();
            let joined = columns
                .iter()
                .map(|c| {
                    format!(
                        "COALESCE(CASE WHEN typeof(\"{c}\") = 'blob' THEN hex(\"{c}\") \
                         ELSE CAST(\"{c}\" AS TEXT) END, '')"
                    )
                })
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT {joined} FROM \"{table}\""
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            out.extend(rows.into_iter().map(|r| (table.clone(), r)));
        }
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for table in tables {
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(t AS TEXT) FROM \"{table}\" t"
            )))
            .fetch_all(&pool)
            .await
            .unwrap();
            out.extend(rows.into_iter().map(|r| (table.clone(), r)));
        }
    }
    out
}

async fn an_erased_rep_leaves_nothing_behind(rig: &Rig) {
    let logs = logs();
    let repo = rig.repo();
    setup(repo).await;
    let p = program();
    // ana: certified a year ago and renewed since, a fail in between, a grade
    // a reviewer decided (their reason names her), a token and its session.
    let (first, mut keys) = graded(rig, ANA, Decision::Pass, 84.0, t0(), true).await;
    let (_, more) = graded(
        rig,
        ANA,
        Decision::Fail,
        50.0,
        t0() + TimeDelta::days(30),
        false,
    )
    .await;
    keys.extend(more);
    let (reviewed, more) = graded(
        rig,
        ANA,
        Decision::Borderline,
        68.0,
        months(t0(), 11),
        false,
    )
    .await;
    keys.extend(more);
    let review = repo.review_for(reviewed).await.unwrap().unwrap();
    let at = months(t0(), 11) + TimeDelta::hours(2);
    pitchgrade::certify::review::claim(repo, "rita", Some(review.id), None, at)
        .await
        .unwrap()
        .unwrap();
    pitchgrade::certify::review::decide(
        repo,
        &p,
        review.id,
        "rita",
        &pitchgrade::certify::review::ReviewInput {
            decision: Some(pitchgrade::certify::review::ReviewOutcome::Pass),
            criteria: vec![],
            reason: format!("{ANA} made the point in her own words"),
        },
        at,
    )
    .await
    .unwrap();
    graded(rig, "ben", Decision::Pass, 90.0, t0(), false).await;
    let token_hash = "ab".repeat(32);
    repo.create_token(
        &NewToken {
            token_hash: token_hash.clone(),
            role: Role::Rep,
            rep_id: Some(ANA.into()),
            firm_id: None,
            label: format!("{ANA}'s phone"),
            display_name: String::new(),
            expires_at: None,
        },
        at,
    )
    .await
    .unwrap();
    repo.create_session(&"cd".repeat(32), &token_hash, at, at + TimeDelta::hours(12))
        .await
        .unwrap();
    assert!(
        every_row(&rig.db)
            .await
            .iter()
            .any(|(_, r)| r.contains(ANA)),
        "the hunt finds her before the erasure"
    );
    let now = at + TimeDelta::days(1);
    let report_before = reports::build(repo, &p, now, &Default::default())
        .await
        .unwrap();
    let certs_before = repo
        .list_certifications(&CertFilter::default(), 100)
        .await
        .unwrap();

    let erased = privacy::erase_rep(
        repo,
        rig.objects.as_ref(),
        &RetentionPolicy::default(),
        ANA,
        "erasure:DSR-1",
        now,
    )
    .await
    .unwrap();
    assert_eq!(erased.recordings_deleted, 3, "{erased:?}");
    assert_eq!(erased.objects_deleted, keys.len());
    assert_eq!(erased.transcripts_deleted, 3);
    assert!(!erased.deactivated);

    // Nothing of her in any table, any object, any log line.
    let found: Vec<_> = every_row(&rig.db)
        .await
        .into_iter()
        .filter(|(_, r)| r.contains(ANA) || r.contains(SAID))
        .collect();
    assert!(found.is_empty(), "left behind: {found:#?}");
    for key in &keys {
        assert!(!stored(rig, key).await, "{key} still stored");
    }
    if let Some(dir) = &rig.folder {
        let mut left = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    left.push(path);
                }
            }
        }
        // ben's recording is all that is left.
        assert_eq!(left.len(), 1, "{left:?}");
    }
    let log_text = logs.text();
    assert!(!log_text.contains(ANA), "a log line names her");

    // Her token is revoked; reports still add up, under the pseudonym.
    assert!(repo.find_token(&token_hash).await.unwrap().is_none());
    let report_after = reports::build(repo, &p, now, &Default::default())
        .await
        .unwrap();
    assert_eq!(report_after.pass_rate, report_before.pass_rate);
    assert_eq!(report_after.coverage, report_before.coverage);
    assert_eq!(report_after.reviews, report_before.reviews);
    let certs_after = repo
        .list_certifications(&CertFilter::default(), 100)
        .await
        .unwrap();
    assert_eq!(certs_after.len(), certs_before.len());
    assert!(certs_after.iter().any(|c| c.rep_id == erased.pseudonym));
    let tomb = repo
        .get_submission(first)
        .await
        .unwrap()
        .unwrap()
        .submission
        .recording_deleted
        .expect("a tombstone");
    assert_eq!(tomb.reason, "erasure");
    let audit = repo
        .audit_log(&AuditFilter {
            action_prefix: Some("rep.erased".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "erasure:DSR-1");
    assert_eq!(audit[0].rep_id.as_deref(), Some(erased.pseudonym.as_str()));

    // Asked twice: nobody left to erase.
    let twice = privacy::erase_rep(
        repo,
        rig.objects.as_ref(),
        &RetentionPolicy::default(),
        ANA,
        "erasure:DSR-1",
        now,
    )
    .await;
    assert!(
        matches!(twice, Err(PrivacyError::NoSuchRep(_))),
        "{twice:?}"
    );
}
