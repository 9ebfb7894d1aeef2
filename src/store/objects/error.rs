//! What the object-store half of the store fails with.

/// Every object-store failure, with the key or path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("unsupported storage URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("invalid object key {key:?}: {reason}")]
    BadKey { key: String, reason: &'static str },
    #[error("object {0} not found")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("S3 {op} of {key:?} failed: {message}")]
    S3 {
        op: &'static str,
        key: String,
        message: String,
    },
    #[error("{0} is not supported by this object store")]
    Unsupported(&'static str),
    #[error("object {key} is larger than {max_bytes} bytes")]
    TooLarge { key: String, max_bytes: u64 },
}

impl ObjectError {
    pub(crate) fn io(
        path: impl AsRef<std::path::Path>,
    ) -> impl FnOnce(std::io::Error) -> ObjectError {
        let path = path.as_ref().display().to_string();
        move |source| ObjectError::Io { path, source }
    }

    /// Whether the same call may succeed later. The disk or the S3 service
    /// failing may clear; a missing object, a bad key or a setting the store
    /// does not support will not.
    pub fn is_transient(&self) -> bool {
        match self {
            ObjectError::Io { .. } | ObjectError::S3 { .. } => true,
            ObjectError::BadUrl { .. }
            | ObjectError::BadKey { .. }
            | ObjectError::NotFound(_)
            | ObjectError::Invalid(_)
            | ObjectError::Unsupported(_)
            | ObjectError::TooLarge { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_object_or_a_bad_key_is_not_transient() {
        assert!(!ObjectError::NotFound("uploads/x".into()).is_transient());
        assert!(!ObjectError::BadKey {
            key: "../x".into(),
            reason: "dot segment"
        }
        .is_transient());
        assert!(ObjectError::S3 {
            op: "get",
            key: "uploads/x".into(),
            message: "503 Slow Down".into()
        }
        .is_transient());
    }
}
