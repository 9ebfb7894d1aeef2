//! Objects in an S3-compatible bucket (AWS, MinIO, Garage). Large files go up in
//! parts so memory stays bounded by one part, whatever the recording's size.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::{write_atomically, ObjectHead, ObjectKey, ObjectStore};
use crate::store::ObjectError;

/// Files above this go up as multipart uploads.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// S3 requires parts of at least 5 MiB (except the last); 8 MiB keeps a 1 GiB
/// recording to 128 parts, far below the 10 000 limit.
const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Where and how to reach the bucket. Unset fields fall back to the AWS SDK's
/// own chain (environment, profile, instance metadata), so plain AWS needs none.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Prepended to every key (`prefix/key`), letting installs share a bucket.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// MinIO and Garage want `endpoint/bucket/key` rather than virtual hosts.
    pub force_path_style: bool,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl S3Settings {
    /// Reads `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_S3_FORCE_PATH_STYLE` (default: on when a
    /// custom endpoint is set, since self-hosted stores rarely have wildcard DNS).
    pub fn from_env(bucket: &str, prefix: &str) -> S3Settings {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let endpoint = var("AWS_ENDPOINT_URL");
        let force_path_style = match var("AWS_S3_FORCE_PATH_STYLE").as_deref() {
            Some(v) => matches!(v, "1" | "true" | "TRUE" | "yes"),
            None => endpoint.is_some(),
        };
        S3Settings {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            region: var("AWS_REGION"),
            force_path_style,
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            endpoint,
        }
    }
}

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

fn s3_err<E: std::error::Error>(op: &'static str, key: &str) -> impl FnOnce(E) -> ObjectError {
    let key = key.to_string();
    move |e| ObjectError::S3 {
        op,
        key,
        message: DisplayErrorContext(&e).to_string(),
    }
}

impl S3Store {
    /// Builds the client and checks the bucket is reachable with these
    /// credentials, so a misconfigured deployment fails at start, not on the
    /// first upload.
    pub async fn connect(settings: S3Settings) -> Result<S3Store, ObjectError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader =
                loader.credentials_provider(Credentials::new(id, secret, None, None, "pitchgrade"));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            // Checksums only where S3 demands them: not every S3-compatible store
            // understands the newer trailing-checksum uploads.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let store = S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket,
            prefix: settings.prefix.trim_matches('/').to_string(),
        };
        store.check_bucket().await?;
        Ok(store)
    }

    async fn check_bucket(&self) -> Result<(), ObjectError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(s3_err("bucket check", &self.bucket))?;
        Ok(())
    }

    fn full_key(&self, key: &ObjectKey) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{}", self.prefix, key)
        }
    }

    async fn put_multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3_err("multipart start", key))?;
        let upload_id = upload.upload_id().ok_or_else(|| ObjectError::S3 {
            op: "multipart start",
            key: key.to_string(),
            message: "the store returned no upload id".into(),
        })?;
        match self.upload_parts(key, upload_id, path, size).await {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(drop)
                .map_err(s3_err("multipart completion", key)),
            Err(e) => {
                // Unfinished uploads hold storage until aborted.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        path: &Path,
        size: u64,
    ) -> Result<Vec<CompletedPart>, ObjectError> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let len = PART_SIZE.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(len))
                .build()
                .await
                .map_err(s3_err("reading a part", key))?;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(s3_err("part upload", key))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
            offset += len;
            number += 1;
        }
        Ok(parts)
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let key = self.full_key(key);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3_err("put", &key))?;
        Ok(())
    }

    async fn put_file(
        &self,
        key: &ObjectKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let key = self.full_key(key);
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(ObjectError::io(path))?;
        if !meta.is_file() {
            return Err(ObjectError::Invalid(format!(
                "{} is not a file",
                path.display()
            )));
        }
        if meta.len() > MULTIPART_THRESHOLD {
            return self
                .put_multipart(&key, path, meta.len(), content_type)
                .await;
        }
        let body = ByteStream::from_path(path)
            .await
            .map_err(s3_err("reading the file", &key))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(s3_err("put", &key))?;
        Ok(())
    }

    async fn get_to_file(
        &self,
        key: &ObjectKey,
        path: &Path,
        max_bytes: u64,
    ) -> Result<u64, ObjectError> {
        let full = self.full_key(key);
        let too_large = || ObjectError::TooLarge {
            key: key.to_string(),
            max_bytes,
        };
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => return Err(s3_err("get", &full)(e)),
        };
        if out
            .content_length
            .is_some_and(|n| u64::try_from(n).unwrap_or(u64::MAX) > max_bytes)
        {
            return Err(too_large());
        }
        let mut body = out.body;
        // The declared length is the server's word; the count is ours.
        let over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let over_in = over.clone();
        let written = write_atomically(path, |tmp| async move {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let mut written = 0u64;
            while let Some(chunk) = body.try_next().await.map_err(std::io::Error::other)? {
                written += chunk.len() as u64;
                if written > max_bytes {
                    over_in.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Err(std::io::Error::other("object over the size limit"));
                }
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            Ok(written)
        })
        .await;
        match written {
            Err(_) if over.load(std::sync::atomic::Ordering::Relaxed) => Err(too_large()),
            other => other,
        }
    }

    async fn copy(&self, from: &ObjectKey, to: &ObjectKey) -> Result<(), ObjectError> {
        let (src, dest) = (self.full_key(from), self.full_key(to));
        // Keys are plain `[A-Za-z0-9._-/]` (ObjectKey), so the copy source
        // needs no escaping.
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, src))
            .key(&dest)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                Err(ObjectError::NotFound(from.to_string()))
            }
            Err(e) => Err(s3_err("copy", &src)(e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let key = self.full_key(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(s3_err("delete", &key))?;
        Ok(())
    }

    async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        let key = self.full_key(key);
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(s3_err("head", &key)(e)),
        }
    }

    async fn head(&self, key: &ObjectKey, max: usize) -> Result<ObjectHead, ObjectError> {
        let full = self.full_key(key);
        let size = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(out) => u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                return Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => return Err(s3_err("head", &full)(e)),
        };
        // A range on an empty object is an error (416), and there is nothing to read.
        if size == 0 || max == 0 {
            return Ok(ObjectHead {
                size,
                first_bytes: Bytes::new(),
            });
        }
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .range(format!("bytes=0-{}", max - 1))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(ObjectError::NotFound(key.to_string()))
            }
            Err(e) => return Err(s3_err("ranged get", &full)(e)),
        };
        let mut body = out.body;
        let mut first = Vec::with_capacity(max.min(size as usize));
        // A server that ignores the range sends the whole object: stop at `max`.
        while let Some(chunk) = body.try_next().await.map_err(s3_err("ranged get", &full))? {
            let room = max - first.len();
            first.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if first.len() >= max {
                break;
            }
        }
        Ok(ObjectHead {
            size,
            first_bytes: Bytes::from(first),
        })
    }

    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: &str,
        expires: Duration,
    ) -> Result<url::Url, ObjectError> {
        let key = self.full_key(key);
        let config = PresigningConfig::expires_in(expires).map_err(s3_err("presign", &key))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(s3_err("presign", &key))?;
        url::Url::parse(request.uri()).map_err(|e| ObjectError::S3 {
            op: "presign",
            key,
            message: format!("the SDK produced an unparseable URL: {e}"),
        })
    }

    async fn health_check(&self) -> Result<(), ObjectError> {
        self.check_bucket().await
    }
}
