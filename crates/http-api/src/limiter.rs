//! Rate limits in fixed one-minute windows, counted with the engine's clock: per client IP on the
//! authentication routes ([`IpLimiter`]), and per IP, tenant and credential on every request
//! ([`RequestLimits`]). Memory is bounded: a table is cleared of finished windows when it grows
//! past its cap.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

const WINDOW_MS: i64 = 60_000;
const MAX_CLIENTS: usize = 100_000;

/// Fixed one-minute windows per client IP.
pub type IpLimiter = Limiter<IpAddr>;

/// Fixed one-minute windows per key.
pub struct Limiter<K> {
    per_minute: u32,
    windows: Mutex<HashMap<K, (i64, u32)>>,
}

/// The limits every request passes.
pub struct RequestLimits {
    pub ip: Limiter<IpAddr>,
    pub tenant: Limiter<types::TenantId>,
    /// Per session or token id.
    pub credential: Limiter<String>,
}

impl RequestLimits {
    pub fn new(ip: u32, tenant: u32, credential: u32) -> Self {
        Self {
            ip: Limiter::new(ip),
            tenant: Limiter::new(tenant),
            credential: Limiter::new(credential),
        }
    }
}

impl<K: Hash + Eq> Limiter<K> {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Ok, or the seconds to wait.
    pub fn check(&self, ip: K, now: i64) -> Result<(), u64> {
        let window = now - now.rem_euclid(WINDOW_MS);
        let mut map = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CLIENTS {
            map.retain(|_, (start, _)| *start == window);
        }
        let entry = map.entry(ip).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.per_minute {
            return Err(((window + WINDOW_MS - now) as u64).div_ceil(1000).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_ip_and_window() {
        let limiter = IpLimiter::new(3);
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert!(limiter.check(a, 1_000).is_ok());
        }
        assert_eq!(limiter.check(a, 1_000), Err(59));
        assert!(
            limiter.check(b, 1_000).is_ok(),
            "other IPs are not affected"
        );
        assert!(
            limiter.check(a, 60_000).is_ok(),
            "a new window starts afresh"
        );
    }
}
