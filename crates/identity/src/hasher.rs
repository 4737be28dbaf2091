//! Argon2id off the async runtime, with bounded concurrency and bounded memory: at most
//! `concurrency` hashes run at once, each in one of `concurrency` preallocated workspaces of
//! `m_kib` (reused, wiped after each use), so the hashing memory is `concurrency × m_kib` however
//! many requests arrive; others wait up to `wait` and are then refused as busy. Unknown users are
//! verified against a dummy hash of the same cost, so both take the same time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credentials::{HashParams, Workspace};
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
    /// Idle workspaces; at most one per slot ever exists.
    workspaces: Arc<Mutex<Vec<Workspace>>>,
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
            workspaces: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Password verifications performed so far (real and dummy), for tests and metrics.
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::SeqCst)
    }

    /// Runs `f` with a workspace on the blocking pool, holding a slot until it has finished.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Workspace) -> T + Send + 'static,
    ) -> Result<T> {
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| Error::Busy {
                retry_after_secs: self.wait.as_secs().max(1),
            })?
            .map_err(|_| Error::Busy {
                retry_after_secs: 1,
            })?;
        let pool = Arc::clone(&self.workspaces);
        let params = self.params;
        let out = tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let mut ws = taken.unwrap_or_else(|| Workspace::new(&params));
            let out = f(&mut ws);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
            // The slot is released only once its workspace is back in the pool, even when the
            // request was cancelled meanwhile: never more workspaces than slots.
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
        self.run(move |ws| credentials::hash_password_in(&password, &params, ws))
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
            .run(move |ws| {
                evaluations.fetch_add(1, Ordering::SeqCst);
                let target: &str = phc.as_deref().map_or(dummy.as_str(), |p| p.as_str());
                credentials::verify_password_in(&password, target, ws)
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

#[cfg(test)]
mod workspace_tests {
    use super::*;

    /// However many hashes run, no more workspaces than slots are ever made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workspaces_never_outnumber_slots() {
        let params = HashParams {
            m_kib: 256,
            t: 1,
            p: 1,
        };
        let hasher = Hasher::new(params, 2, Duration::from_secs(30));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.verify(Zeroizing::new(format!("p{i}")), None).await })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.expect("join").expect("verify"));
        }
        let made = hasher
            .workspaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        assert!((1..=2).contains(&made), "{made} workspaces for 2 slots");
    }
}
