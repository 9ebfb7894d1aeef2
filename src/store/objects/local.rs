//! Objects as files under one directory. Writes go to a temporary file beside
//! the target and are renamed into place, so a reader never sees half an object
//! and a crash mid-write leaves the old object (or none), not a torn one.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{write_atomically, ObjectHead, ObjectKey, ObjectStore};
use crate::store::ObjectError;

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the store rooted at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<LocalStore, ObjectError> {
        let root = root.into();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(ObjectError::io(&root))?;
        let root = tokio::fs::canonicalize(&root)
            .await
            .map_err(ObjectError::io(&root))?;
        Ok(LocalStore { root })
    }

    /// `ObjectKey` admits only plain relative segments, so the join stays under root.
    fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        _content_type: &str,
    ) -> Result<(), ObjectError> {
        let len = bytes.len() as u64;
        write_atomically(&self.path_of(key), |tmp| async move {
            tokio::fs::write(tmp, &bytes).await.map(|()| len)
        })
        .await
        .map(drop)
    }

    async fn put_file(
        &self,
        key: &ObjectKey,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), ObjectError> {
        let src = path.to_path_buf();
        if !tokio::fs::metadata(&src)
            .await
            .map_err(ObjectError::io(&src))?
            .is_file()
        {
            return Err(ObjectError::Invalid(format!(
                "{} is not a file",
                src.display()
            )));
        }
        write_atomically(&self.path_of(key), |tmp| tokio::fs::copy(src, tmp))
            .await
            .map(drop)
    }

    async fn get_to_file(
        &self,
        key: &ObjectKey,
        path: &Path,
        max_bytes: u64,
    ) -> Result<u64, ObjectError> {
        let src = self.path_of(key);
        match tokio::fs::metadata(&src).await {
            Ok(m) if m.is_file() && m.len() > max_bytes => {
                return Err(ObjectError::TooLarge {
                    key: key.to_string(),
                    max_bytes,
                })
            }
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(ObjectError::NotFound(key.to_string())),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => return Err(ObjectError::io(&src)(e)),
        }
        // Only intake writes under the root, so the size just read holds.
        write_atomically(path, |tmp| tokio::fs::copy(src, tmp)).await
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), ObjectError> {
        let src = self.path_of(from);
        if !tokio::fs::try_exists(&src)
            .await
            .map_err(ObjectError::io(&src))?
        {
            return Err(ObjectError::NotFound(from.to_string()));
        }
        let dest = self.path_of(to);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(ObjectError::io(dir))?;
        }
        write_atomically(&dest, |tmp| tokio::fs::copy(src, tmp)).await?;
        Ok(())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(ObjectError::io(&path)(e)),
            _ => Ok(()),
        }
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        let path = self.path_of(key);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(ObjectError::io(&path)(e)),
        }
    }

    async fn head(&self, key: &ObjectKey, max: usize) -> Result<ObjectHead, ObjectError> {
        use tokio::io::AsyncReadExt;
        let path = self.path_of(key);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => return Err(ObjectError::io(&path)(e)),
        };
        let meta = file.metadata().await.map_err(ObjectError::io(&path))?;
        if !meta.is_file() {
            return Err(ObjectError::NotFound(key.to_string()));
        }
        let mut first = Vec::with_capacity(max.min(meta.len() as usize));
        file.take(max as u64)
            .read_to_end(&mut first)
            .await
            .map_err(ObjectError::io(&path))?;
        Ok(ObjectHead {
            size: meta.len(),
            first_bytes: Bytes::from(first),
        })
    }

    async fn presign_put(
        &self,
        _key: &ObjectKey,
        _content_type: &str,
        _expires: Duration,
    ) -> Result<url::Url, ObjectError> {
        // A local install has no second HTTP server to sign for; the API takes the
        // upload itself (multipart) instead.
        Err(ObjectError::Unsupported("presigned upload URLs"))
    }

    async fn health_check(&self) -> Result<(), ObjectError> {
        let meta = tokio::fs::metadata(&self.root)
            .await
            .map_err(ObjectError::io(&self.root))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(ObjectError::io(&self.root)(std::io::Error::new(
                ErrorKind::NotADirectory,
                "the store's root is not a directory",
            )))
        }
    }
}
