//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test,
//! so stories never see each other's rows and can run in parallel.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use pitchgrade::store::db::{JobKind, NewJob, NewSubmission};
use pitchgrade::store::{connect_with, ConnectOptions, Repo};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The server every PostgreSQL test creates its database on (trust auth here).
fn admin_url() -> String {
    std::env::var("PITCHGRADE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub struct TestDb {
    pub repo: Arc<dyn Repo>,
    /// What other processes (a `pitchgrade worker` under test) connect to.
    #[allow(dead_code)] // not every suite starts other processes
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        Self::sqlite_with(ConnectOptions::default()).await
    }

    pub async fn postgres() -> TestDb {
        Self::postgres_with(ConnectOptions::default()).await
    }

    pub async fn sqlite_with(options: ConnectOptions) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("pitchgrade.db").display());
        let repo = connect_with(&url, options).await.expect("open SQLite");
        TestDb {
            repo,
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres_with(options: ConnectOptions) -> TestDb {
        let name = format!("pitchgrade_test_{}", uuid::Uuid::now_v7().simple());
        let admin = admin_url();
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {admin} is required for these tests ({e}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        });
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&admin).expect("admin URL");
        url.set_path(&name);
        let repo = connect_with(url.as_str(), options)
            .await
            .expect("open PostgreSQL");
        TestDb {
            repo,
            url: url.to_string(),
            _dir: None,
            pg_name: Some(name),
        }
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database even when the test panicked. Drop cannot be
    /// async, so a short-lived thread with its own runtime does it.
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A fixed start of time; stories move the clock by adding to it.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

pub fn new_submission(rep: &str, key: Option<&str>) -> NewSubmission {
    NewSubmission {
        rep_id: rep.to_string(),
        rubric_id: "discovery-call-v1".to_string(),
        object_key: format!("uploads/2026/01/{}", uuid::Uuid::now_v7()),
        content_type: "audio/mp4".to_string(),
        byte_size: 1_234_567,
        idempotency_key: key.map(str::to_string),
    }
}

pub fn grade_job(max_attempts: u32) -> NewJob {
    NewJob {
        kind: JobKind::Grade,
        max_attempts,
        run_at: t0(),
    }
}
