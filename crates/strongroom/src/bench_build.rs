//! The benchmark builds, made only by `scripts/bench-records`: without promises (`--features
//! bench-without-promises`: record bodies and sealed fields are stored unencrypted, the journal
//! writes one mirror and attachments one location) and without audit (`--features
//! bench-without-audit`: no audit event is recorded), so that the benchmark can measure what
//! those promises (P9, P10, P16) cost. Such a binary must never hold real data: it listens only
//! on loopback and says what it is at start. A default build compiles [`ENABLED`] to `false` and
//! refuses nothing here.

use std::net::SocketAddr;

/// True in a benchmark build.
pub const ENABLED: bool = cfg!(any(
    feature = "bench-without-promises",
    feature = "bench-without-audit"
));

/// The warning printed (and logged) at start by a benchmark build.
pub const WARNING: &str = if cfg!(feature = "bench-without-promises") {
    "WARNING: benchmark build (bench-without-promises): record bodies and fields are NOT \
     encrypted at rest, the journal and attachments are NOT written to a second location; this \
     binary listens on loopback only and must never hold real data"
} else {
    "WARNING: benchmark build (bench-without-audit): security events are NOT recorded in the \
     audit log; this binary listens on loopback only and must never hold real data"
};

/// Refuses a listen address that is not loopback, when `benchmark_build` is true.
pub fn check_listen(addr: SocketAddr, benchmark_build: bool) -> Result<(), String> {
    if benchmark_build && !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {addr}: this is a benchmark build without some of its \
             promises (feature bench-without-promises or bench-without-audit); it listens only \
             on loopback (127.0.0.0/8 or ::1). Build without those features to serve anything \
             else"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_benchmark_build_refuses_addresses_beyond_loopback() {
        let cases: &[(&str, bool, bool)] = &[
            // (address, benchmark build, accepted)
            ("127.0.0.1:8443", true, true),
            ("127.0.0.2:0", true, true),
            ("[::1]:8443", true, true),
            ("0.0.0.0:8443", true, false),
            ("[::]:8443", true, false),
            ("192.168.1.10:8443", true, false),
            ("[::ffff:127.0.0.1]:8443", true, false),
            ("0.0.0.0:8443", false, true),
            ("192.168.1.10:8443", false, true),
            ("127.0.0.1:8443", false, true),
        ];
        for (addr, bench, accepted) in cases {
            let got = check_listen(addr.parse().expect("address"), *bench);
            assert_eq!(
                got.is_ok(),
                *accepted,
                "check_listen({addr}, benchmark build = {bench}) gave {got:?}"
            );
            if let Err(why) = got {
                assert!(why.contains("loopback"), "{why}");
            }
        }
    }

    #[test]
    fn this_build_knows_what_it_is() {
        assert_eq!(ENABLED, cfg!(feature = "bench-without-promises"));
    }
}
