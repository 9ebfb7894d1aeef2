//! Object keys: generated from the time and a random id, and validated when
//! read back from anywhere else, so no key can address outside the store's root.

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::store::ObjectError;

/// S3's own limit; also keeps local paths well under PATH_MAX.
const MAX_KEY_LEN: usize = 1024;

/// A key checked to be a plain relative path of safe segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// A fresh key for an upload: `uploads/{yyyy}/{mm}/{uuid v7}`. Time-ordered,
    /// so listing a bucket shows uploads by month, and unguessable.
    pub fn new_upload(now: DateTime<Utc>) -> ObjectKey {
        ObjectKey(format!(
            "uploads/{:04}/{:02}/{}",
            now.year(),
            now.month(),
            Uuid::now_v7()
        ))
    }

    /// A fresh key for a recording moved out of reach of the rep who sent it
    /// (a checked direct upload): `recordings/{yyyy}/{mm}/{uuid v7}`. No
    /// presigned URL is ever made for this prefix.
    pub fn new_recording(now: DateTime<Utc>) -> ObjectKey {
        ObjectKey(format!(
            "recordings/{:04}/{:02}/{}",
            now.year(),
            now.month(),
            Uuid::now_v7()
        ))
    }

    /// Accepts a stored key (say, from a submission row) after checking it:
    /// segments of `[A-Za-z0-9._-]`, no `.` or `..` segment, no empty segment,
    /// no leading slash. Anything else is refused, not repaired.
    pub fn parse(key: &str) -> Result<ObjectKey, ObjectError> {
        let bad = |reason| ObjectError::BadKey {
            key: key.chars().take(100).collect(),
            reason,
        };
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(bad("must be 1 to 1024 bytes"));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return Err(bad(
                    "empty path segment (leading, trailing or double slash)",
                ));
            }
            if segment == "." || segment == ".." {
                return Err(bad("relative path segment"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                return Err(bad(
                    "only letters, digits, '.', '_', '-' and '/' are allowed",
                ));
            }
        }
        Ok(ObjectKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let now = DateTime::parse_from_rfc3339("2026-03-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = ObjectKey::new_upload(now);
        let b = ObjectKey::new_upload(now);
        assert!(a.as_str().starts_with("uploads/2026/03/"), "{a}");
        assert_ne!(a, b);
        assert_eq!(ObjectKey::parse(a.as_str()).unwrap(), a);
    }
}
