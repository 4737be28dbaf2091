//! The benchmark build without promises (`cargo test -p strongroom --features
//! bench-without-promises`): it refuses any listen address but loopback before touching the
//! data directories, and announces itself at start. Default builds compile nothing here; their
//! side of the check is the unit test in `src/bench_build.rs`.
#![cfg(feature = "bench-without-promises")]

mod common;

use common::Layout;

#[test]
fn refuses_to_listen_beyond_loopback() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let layout = Layout::new();
        let (code, _out, err) = layout.run(&["serve", "--listen", addr]);
        assert_eq!(
            code, 2,
            "serve --listen {addr} should be refused; stderr: {err}"
        );
        assert!(
            err.contains("benchmark build") && err.contains("loopback"),
            "the refusal should say why; stderr: {err}"
        );
        assert!(
            !layout.data.exists() && !layout.key_file.exists(),
            "nothing may be initialised before the refusal"
        );
    }
}

#[test]
fn says_what_it_is_at_start() {
    let layout = Layout::new();
    let server = layout.serve();
    let warned = server
        .stdout
        .iter()
        .any(|l| l.contains("WARNING: benchmark build"));
    let stdout = server.stdout.join("\n");
    server.stop();
    assert!(
        warned,
        "the benchmark build must warn at start; stdout:\n{stdout}"
    );
}
