//! Destinations: where sets, keyring copies and attachment objects go, through `object_store`
//! (a local directory, or an S3-compatible service). Every destination is written on its own,
//! so one that is down holds up no other.
//!
//! Errors name the destination and the object, never a credential. S3 over plain HTTP is
//! accepted only for a loopback endpoint (a test's local server); the configuration check
//! refuses anything else before it gets here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig, WriteMultipart};

use crate::{Error, Result};

/// Objects larger than this go up in parts.
const MULTIPART_FROM: u64 = 16 * 1024 * 1024;
/// Size of one uploaded part.
const UPLOAD_PART: usize = 8 * 1024 * 1024;
/// Largest credentials file read.
const MAX_CREDENTIALS: u64 = 16 * 1024;

/// Where a destination keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory (created when missing).
    Local { path: PathBuf },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        prefix: Option<String>,
        /// `None`: AWS itself.
        endpoint: Option<String>,
        /// A private JSON file `{"access_key_id": …, "secret_access_key": …}`.
        credentials_file: PathBuf,
    },
}

/// A configured destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub region: String,
    pub jurisdiction: String,
    pub location: Location,
}

/// A destination ready for use.
#[derive(Clone)]
pub struct Destination {
    pub spec: Spec,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl Drop for Credentials {
    fn drop(&mut self) {
        crypto::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

fn read_credentials(name: &str, path: &Path) -> Result<Credentials> {
    use std::os::unix::fs::MetadataExt;
    let problem = |reason: String| Error::Destination {
        name: name.to_owned(),
        what: format!("credentials file {}", path.display()),
        reason,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| problem(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(problem("not a regular file".into()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(problem(format!(
            "mode {:04o}: it must be readable by its owner only (chmod 600)",
            meta.mode() & 0o7777
        )));
    }
    if meta.len() > MAX_CREDENTIALS {
        return Err(problem("too large".into()));
    }
    let bytes = crypto::Zeroizing::new(std::fs::read(path).map_err(|e| problem(e.to_string()))?);
    // The parser's message could quote the file; say only where it failed.
    serde_json::from_slice(&bytes).map_err(|e| {
        problem(format!(
            "not {{\"access_key_id\": …, \"secret_access_key\": …}} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Whether an endpoint URL names this machine (the only place plain HTTP is allowed).
fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or(endpoint);
    let host = rest.split('/').next().unwrap_or("");
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(host, "127.0.0.1" | "::1" | "localhost")
}

impl Destination {
    /// Connects (lazily: nothing is sent until the first request).
    pub fn open(spec: Spec) -> Result<Destination> {
        let fail = |what: &str, e: object_store::Error| Error::Destination {
            name: spec.name.clone(),
            what: what.to_owned(),
            reason: e.to_string(),
        };
        let store: Arc<dyn ObjectStore> = match &spec.location {
            Location::Local { path } => {
                std::fs::create_dir_all(path).map_err(|source| Error::Io {
                    what: format!("creating destination {} at {}", spec.name, path.display()),
                    source,
                })?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(path)
                        .map_err(|e| fail("opening the directory", e))?,
                )
            }
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                credentials_file,
            } => {
                let credentials = read_credentials(&spec.name, credentials_file)?;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&spec.region)
                    .with_access_key_id(&credentials.access_key_id)
                    .with_secret_access_key(&credentials.secret_access_key)
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(30),
                        ..RetryConfig::default()
                    })
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(Duration::from_secs(5))
                            .with_timeout(Duration::from_secs(300)),
                    );
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(is_loopback(endpoint));
                }
                let s3: Arc<dyn ObjectStore> =
                    Arc::new(builder.build().map_err(|e| fail("configuring S3", e))?);
                match prefix.as_deref().filter(|p| !p.is_empty()) {
                    Some(prefix) => Arc::new(PrefixStore::new(s3, prefix)),
                    None => s3,
                }
            }
        };
        Ok(Destination { spec, store })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    fn error(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Destination {
            name: self.spec.name.clone(),
            what: what.to_string(),
            reason: e.to_string(),
        }
    }

    /// Stores `bytes` at `key`.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&key.into(), PutPayload::from(bytes))
            .await
            .map(drop)
            .map_err(|e| self.error(format_args!("writing {key}"), e))
    }

    /// Stores the file at `path` as `key` (in parts when large); the object appears whole or
    /// not at all.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64> {
        let len = std::fs::metadata(path)
            .map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?
            .len();
        if len < MULTIPART_FROM {
            let bytes = tokio::fs::read(path).await.map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
            self.put_bytes(key, bytes).await?;
            return Ok(len);
        }
        let upload = self
            .store
            .put_multipart(&key.into())
            .await
            .map_err(|e| self.error(format_args!("starting to write {key}"), e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
        let mut buf = vec![0u8; UPLOAD_PART];
        loop {
            use tokio::io::AsyncReadExt;
            let n = file.read(&mut buf).await.map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(4).await {
                return Err(self.error(format_args!("writing {key}"), e));
            }
            writer.write(&buf[..n]);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.error(format_args!("writing {key}"), e))?;
        Ok(len)
    }

    /// Reads the object `key` into `out`, at most `max` bytes; returns the SHA-256 of what was
    /// read and its length.
    pub async fn get_into(
        &self,
        key: &str,
        max: u64,
        out: &mut impl Write,
    ) -> Result<([u8; 32], u64)> {
        let got = self
            .store
            .get(&key.into())
            .await
            .map_err(|e| self.error(format_args!("reading {key}"), e))?;
        if got.meta.size > max {
            return Err(self.error(
                format_args!("reading {key}"),
                format_args!("{} bytes, more than the {max} expected", got.meta.size),
            ));
        }
        let mut stream = got.into_stream();
        let mut hash = crypto::Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(format_args!("reading {key}"), e))?;
            len += chunk.len() as u64;
            if len > max {
                return Err(self.error(format_args!("reading {key}"), "longer than expected"));
            }
            hash.update(&chunk);
            out.write_all(&chunk).map_err(|source| Error::Io {
                what: format!("saving {key} from {}", self.spec.name),
                source,
            })?;
        }
        Ok((hash.finish(), len))
    }

    /// Reads a small object whole.
    pub async fn get_bytes(&self, key: &str, max: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.get_into(key, max, &mut out).await?;
        Ok(out)
    }

    /// Every object under `prefix`: `(key, size)`, sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .list_dated(prefix)
            .await?
            .into_iter()
            .map(|(key, size, _)| (key, size))
            .collect())
    }

    /// Every object under `prefix`: `(key, size, last modified in Unix ms)`, sorted by key.
    pub async fn list_dated(&self, prefix: &str) -> Result<Vec<(String, u64, i64)>> {
        let mut stream = self.store.list(Some(&prefix.into()));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| self.error(format_args!("listing {prefix}/"), e))?;
            out.push((
                meta.location.to_string(),
                meta.size,
                meta.last_modified.timestamp_millis(),
            ));
        }
        out.sort();
        Ok(out)
    }

    /// Makes what was written under `dir` durable: for a local directory, fsyncs every file in
    /// it, then it and its parents up to the destination (`object_store` renames files into
    /// place without syncing them); S3 acknowledges a write once it is stored, so nothing to do.
    pub async fn sync(&self, dir: &str) -> Result<()> {
        let Location::Local { path } = &self.spec.location else {
            return Ok(());
        };
        let (root, dir) = (path.clone(), path.join(dir));
        let name = self.spec.name.clone();
        tokio::task::spawn_blocking(move || sync_tree(&root, &dir))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
            .map_err(|source| Error::Io {
                what: format!("syncing destination {name}"),
                source,
            })
    }

    /// Removes the object `key` (gone already is fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&key.into()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(format_args!("removing {key}"), e)),
        }
    }
}

/// fsyncs every file directly in `dir`, then `dir` and its parents up to `root`.
fn sync_tree(root: &Path, dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::File::open(entry.path())?.sync_all()?;
        }
    }
    let mut at = Some(dir);
    while let Some(d) = at {
        std::fs::File::open(d)?.sync_all()?;
        if d == root {
            break;
        }
        at = d.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_this_machine_is_loopback() {
        for yes in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000/x",
            "http://localhost",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "http://127.0.0.1.evil.example:9000",
            "http://10.0.0.1",
            "http://localhost.example",
            "https://s3.eu-west-1.amazonaws.com",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
