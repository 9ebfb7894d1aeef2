//! `stories!`: one set of stories, one test per story and backend.
//!
//! The conformance suites promise the same behaviour from every backend (SQLite
//! and PostgreSQL, local folder and S3), so each story is an `async fn` taking
//! the backend's handle and runs once per backend, in a module named after it.
//!
//! ```ignore
//! stories! {
//!     sqlite(db = TestDb::sqlite().await) => db.repo.clone(),
//!     postgres(db = TestDb::postgres().await) => db.repo.clone();
//!     [first_story, second_story]
//! }
//! ```
//!
//! `db` stays alive until the story ends: it owns the test database, which
//! goes away with it. The fixture expressions see the test file's own names.

macro_rules! stories {
    ($($backend:ident($guard:ident = $open:expr) => $subject:expr),+ ; $stories:tt $(;)?) => {
        $(stories!(@backend $backend($guard = $open) => $subject; $stories);)+
    };
    (@backend $backend:ident($guard:ident = $open:expr) => $subject:expr;
        [$($story:ident),+ $(,)?]) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let $guard = $open;
                    super::$story($subject).await;
                }
            )+
        }
    };
}
