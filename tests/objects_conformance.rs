//! One set of object-store stories, run against a local directory and a real
//! S3-compatible server (Garage, started by scripts/garage.sh).

#[macro_use]
#[path = "common/stories.rs"]
mod stories;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pitchgrade::store::objects::{LocalStore, ObjectKey, ObjectStore};
use pitchgrade::store::{connect_objects, ObjectError};
use sha2::{Digest, Sha256};

struct Target {
    store: Arc<dyn ObjectStore>,
    is_s3: bool,
    _dir: Option<tempfile::TempDir>,
}

async fn local() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path().join("objects")).unwrap();
    Target {
        store: connect_objects(url.as_str()).await.unwrap(),
        is_s3: false,
        _dir: Some(dir),
    }
}

async fn s3() -> Target {
    let bucket = std::env::var("PITCHGRADE_TEST_S3_BUCKET").unwrap_or_else(|_| {
        panic!(
            "S3 object-store tests need a real S3-compatible server: run \
             `eval \"$(scripts/garage.sh)\"` first (scripts/test.sh does), which sets \
             PITCHGRADE_TEST_S3_BUCKET and AWS_* variables"
        )
    });
    // A prefix per test keeps parallel tests apart in the one bucket.
    let url = format!("s3://{bucket}/test-{}", uuid::Uuid::now_v7().simple());
    Target {
        store: connect_objects(&url).await.unwrap(),
        is_s3: true,
        _dir: None,
    }
}

stories! {
    local(store = local().await) => store,
    s3(store = s3().await) => store;
    [
        put_get_exists_delete,
        put_replaces_an_object,
        large_file_round_trips_intact,
        presigned_put_accepts_a_plain_http_upload,
        head_reads_the_size_and_only_the_first_bytes,
        a_fetch_over_its_cap_is_refused_and_leaves_nothing,
        copy_makes_an_independent_object,
    ]
}

fn key() -> ObjectKey {
    ObjectKey::new_upload(chrono::Utc::now())
}

/// Deterministic, incompressible-looking bytes (xorshift), so a shifted or
/// truncated part cannot go unnoticed.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn read(store: &dyn ObjectStore, key: &ObjectKey, dir: &Path) -> Vec<u8> {
    let dest = dir.join(format!("got-{}", uuid::Uuid::now_v7()));
    let n = store.get_to_file(key, &dest, u64::MAX).await.unwrap();
    let bytes = std::fs::read(&dest).unwrap();
    assert_eq!(n, bytes.len() as u64);
    bytes
}

async fn put_get_exists_delete(t: Target) {
    let store = t.store.as_ref();
    let tmp = tempfile::tempdir().unwrap();
    let k = key();
    assert!(!store.exists(&k).await.unwrap());
    store
        .put(&k, Bytes::from_static(b"RIFF fake wav"), "audio/wav")
        .await
        .unwrap();
    assert!(store.exists(&k).await.unwrap());
    assert_eq!(read(store, &k, tmp.path()).await, b"RIFF fake wav");

    store.delete(&k).await.unwrap();
    assert!(!store.exists(&k).await.unwrap());
    store.delete(&k).await.unwrap();

    let dest = tmp.path().join("missing");
    let err = store.get_to_file(&k, &dest, u64::MAX).await.unwrap_err();
    assert!(matches!(err, ObjectError::NotFound(_)), "{err}");
    assert!(!dest.exists(), "a failed download left a file behind");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the first download's file remains"
    );
}

/// What the API sniffs a direct upload with: the size and a prefix, without
/// fetching the rest.
async fn head_reads_the_size_and_only_the_first_bytes(t: Target) {
    let store = t.store.as_ref();
    let tmp = tempfile::tempdir().unwrap();
    let k = key();
    let missing = store.head(&k, 64).await.unwrap_err();
    assert!(matches!(missing, ObjectError::NotFound(_)), "{missing}");

    let body = pattern(300_000);
    let path = tmp.path().join("body");
    std::fs::write(&path, &body).unwrap();
    store.put_file(&k, &path, "audio/wav").await.unwrap();
    let head = store.head(&k, 64).await.unwrap();
    assert_eq!(head.size, body.len() as u64);
    assert_eq!(&head.first_bytes[..], &body[..64]);

    let short = key();
    store
        .put(&short, Bytes::from_static(b"RIFF"), "audio/wav")
        .await
        .unwrap();
    let head = store.head(&short, 64).await.unwrap();
    assert_eq!((head.size, &head.first_bytes[..]), (4, &b"RIFF"[..]));

    let empty = key();
    store.put(&empty, Bytes::new(), "audio/wav").await.unwrap();
    let head = store.head(&empty, 64).await.unwrap();
    assert_eq!((head.size, head.first_bytes.len()), (0, 0));
}

async fn put_replaces_an_object(t: Target) {
    let tmp = tempfile::tempdir().unwrap();
    let k = key();
    t.store
        .put(&k, Bytes::from_static(b"first"), "audio/wav")
        .await
        .unwrap();
    t.store
        .put(&k, Bytes::from_static(b"second"), "audio/wav")
        .await
        .unwrap();
    assert_eq!(read(t.store.as_ref(), &k, tmp.path()).await, b"second");
}

async fn large_file_round_trips_intact(t: Target) {
    // Above the S3 multipart threshold (16 MiB) and not a multiple of the part size.
    let tmp = tempfile::tempdir().unwrap();
    let data = pattern(21 * 1024 * 1024 + 123);
    let src = tmp.path().join("pitch.m4a");
    std::fs::write(&src, &data).unwrap();
    let k = key();
    t.store.put_file(&k, &src, "audio/mp4").await.unwrap();
    let got = read(t.store.as_ref(), &k, tmp.path()).await;
    assert_eq!(got.len(), data.len());
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));

    let err = t
        .store
        .put_file(&key(), &tmp.path().join("no-such-file"), "audio/mp4")
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectError::Io { .. }), "{err}");
}

async fn presigned_put_accepts_a_plain_http_upload(t: Target) {
    let k = key();
    let presigned = t
        .store
        .presign_put(&k, "audio/mp4", Duration::from_secs(300))
        .await;
    if !t.is_s3 {
        assert!(
            matches!(presigned, Err(ObjectError::Unsupported(_))),
            "{presigned:?}"
        );
        return;
    }
    let url = presigned.unwrap();
    let body = pattern(64 * 1024);
    let response = reqwest::Client::new()
        .put(url.clone())
        .header("content-type", "audio/mp4")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(read(t.store.as_ref(), &k, tmp.path()).await, body);

    // The signature covers the key: the same URL cannot write anywhere else.
    let mut other = url.clone();
    other.set_path(&url.path().replace(k.as_str(), key().as_str()));
    let forged = reqwest::Client::new()
        .put(other)
        .header("content-type", "audio/mp4")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
}

#[test]
fn keys_that_could_escape_the_root_are_refused() {
    for bad in [
        "",
        "../etc/passwd",
        "uploads/../../etc/passwd",
        "/etc/passwd",
        "uploads//x",
        "uploads/x/",
        "./x",
        "uploads\\..\\x",
        "uploads/x y",
        "uploads/\0",
        "uploads/é",
    ] {
        assert!(
            matches!(ObjectKey::parse(bad), Err(ObjectError::BadKey { .. })),
            "{bad:?} was accepted"
        );
    }
    assert!(ObjectKey::parse(&"a".repeat(1025)).is_err());
    assert!(ObjectKey::parse("uploads/2026/01/0190-ab_c.d").is_ok());
}

#[tokio::test]
async fn local_objects_land_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).await.unwrap();
    let k = ObjectKey::parse("uploads/2026/01/abc").unwrap();
    store
        .put(&k, Bytes::from_static(b"x"), "audio/wav")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("uploads/2026/01/abc")).unwrap(),
        b"x"
    );
}

#[tokio::test]
async fn unknown_storage_urls_are_refused() {
    for url in ["ftp://host/x", "s3:///prefix", "not a url"] {
        assert!(
            matches!(connect_objects(url).await, Err(ObjectError::BadUrl { .. })),
            "{url} was accepted"
        );
    }
}

/// An object may grow behind our back (a bucket is writable by others): a
/// fetch is capped, and over the cap it fails without a partial file.
async fn a_fetch_over_its_cap_is_refused_and_leaves_nothing(t: Target) {
    let store = t.store.as_ref();
    let tmp = tempfile::tempdir().unwrap();
    let k = key();
    let body = pattern(200_000);
    store
        .put(&k, Bytes::from(body.clone()), "audio/wav")
        .await
        .unwrap();
    let dest = tmp.path().join("capped");
    let err = store.get_to_file(&k, &dest, 199_999).await.unwrap_err();
    assert!(
        matches!(
            err,
            ObjectError::TooLarge {
                max_bytes: 199_999,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
    // At the cap exactly it is fine.
    let n = store.get_to_file(&k, &dest, 200_000).await.unwrap();
    assert_eq!(n, 200_000);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

/// What a checked direct upload relies on: the copy keeps the bytes it was
/// made from, whatever later happens to the source.
async fn copy_makes_an_independent_object(t: Target) {
    let store = t.store.as_ref();
    let tmp = tempfile::tempdir().unwrap();
    let (from, to) = (key(), ObjectKey::new_recording(chrono::Utc::now()));
    let missing = store.copy(&from, &to).await.unwrap_err();
    assert!(matches!(missing, ObjectError::NotFound(_)), "{missing}");
    assert!(!store.exists(&to).await.unwrap());

    let original = pattern(70_000);
    store
        .put(&from, Bytes::from(original.clone()), "audio/wav")
        .await
        .unwrap();
    store.copy(&from, &to).await.unwrap();
    store
        .put(
            &from,
            Bytes::from_static(b"%PDF replaced"),
            "application/pdf",
        )
        .await
        .unwrap();
    assert_eq!(read(store, &to, tmp.path()).await, original);
    store.delete(&from).await.unwrap();
    assert_eq!(read(store, &to, tmp.path()).await, original);
}
