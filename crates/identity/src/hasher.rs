//! Argon2id off the async runtime, with bounded concurrency: at most `concurrency` hashes (each
//! `m_kib` of memory) run at once; others wait up to `wait` and are then refused as busy. Unknown
//! users are verified against a dummy hash of the same cost, so both take the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use credentials::HashParams;
use crypto::Zeroizing;
use tokio::sync::Semaphore;

use crate::{Error, Result};

/// The bounded Argon2id pool.
#[derive(Clone)]
pub struct Hasher {
    params: HashParams,
    slots: Arc<Semaphore>,
    wait: Duration,
    dummy: Arc<String>,
    evaluations: Arc<AtomicU64>,
}

impl Hasher {
    pub fn new(params: HashParams, concurrency: usize, wait: Duration) -> Hasher {
        let dummy = Arc::new(credentials::dummy_hash(&params));
        Hasher {
            params,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
            dummy,
            evaluations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Password verifications performed so far (real and dummy), for tests and metrics.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::SeqCst)
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| Error::Busy {
                retry_after_secs: self.wait.as_secs().max(1),
            })?
            .map_err(|_| Error::Busy {
                retry_after_secs: 1,
            })?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| Error::Credentials(format!("hashing task failed: {e}")))?;
        Ok(out)
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String> {
        let params = self.params;
        self.run(move || credentials::hash_password(&password, &params))
            .await?
            .map_err(Error::from)
    }

    /// Verifies `password` against `phc`, or against the dummy hash when there is none.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        phc: Option<Zeroizing<String>>,
    ) -> Result<bool> {
        let dummy = Arc::clone(&self.dummy);
        let evaluations = Arc::clone(&self.evaluations);
        let real = phc.is_some();
        let ok = self
            .run(move || {
                evaluations.fetch_add(1, Ordering::SeqCst);
                let target: &str = phc.as_deref().map_or(dummy.as_str(), |p| p.as_str());
                credentials::verify_password(&password, target)
            })
            .await??;
        Ok(ok && real)
    }

    /// [`Hasher::hash`] for the CLI (no runtime).
    pub fn hash_blocking(&self, password: &str) -> Result<String> {
        Ok(credentials::hash_password(password, &self.params)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood larger than the pool is refused as busy instead of queueing without bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_beyond_the_pool_is_refused_as_busy() {
        let hasher = Hasher::new(credentials::OWASP, 1, Duration::from_millis(1));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(
                    async move { h.verify(Zeroizing::new(format!("guess {i}")), None).await },
                )
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.expect("join") {
                Err(Error::Busy { retry_after_secs }) => {
                    assert!(retry_after_secs >= 1);
                    busy += 1;
                }
                Ok(false) => done += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(busy >= 1 && done >= 1, "busy {busy}, done {done}");
        assert_eq!(
            hasher.evaluations(),
            done,
            "refused attempts are not evaluated"
        );
    }
}
