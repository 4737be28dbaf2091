//! An S3 service for the backups' end-to-end test: moto in server mode on 127.0.0.1, run by
//! `$TEST_S3_PYTHON` (`scripts/test` installs `moto[server]`, which brings boto3, in its venv),
//! one bucket made with boto3; and a TCP proxy in front of it that can be switched down (every
//! connection it holds closed, every new one accepted and closed at once) and up again.

use std::fs::File;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The region of the bucket and of the S3 destination.
pub const REGION: &str = "eu-west-1";

/// Upper bound for moto to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes a bucket with boto3: `script ENDPOINT BUCKET REGION`.
const MAKE_BUCKET: &str = r#"
import sys
import boto3
endpoint, bucket, region = sys.argv[1:4]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name=region,
    aws_access_key_id="testing",
    aws_secret_access_key="testing",
)
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
assert bucket in names, names
print("bucket", bucket)
"#;

/// The python that runs moto: `$TEST_S3_PYTHON`, else `python3` (which then needs moto too).
fn python() -> String {
    std::env::var("TEST_S3_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    python: String,
    pub port: u16,
    log: tempfile::NamedTempFile,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto on a free port of 127.0.0.1 and waits until it accepts connections.
    pub fn start() -> Moto {
        let python = python();
        let probe = Command::new(&python)
            .args(["-c", "import moto.server, boto3"])
            .output();
        assert!(
            probe.as_ref().is_ok_and(|o| o.status.success()),
            "`{python} -c 'import moto.server, boto3'` failed ({probe:?}): run `scripts/test`, \
             which installs moto[server] in its venv and sets TEST_S3_PYTHON"
        );
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            probe.local_addr().expect("addr").port()
        };
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let out = File::create(log.path()).expect("moto log");
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{python} -m moto.server`: {e}"));
        let mut moto = Moto {
            child,
            python,
            port,
            log,
        };
        moto.wait_listening();
        moto
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto exited ({status}) before listening on {addr}:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {addr} within {START_TIMEOUT:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its endpoint, straight (not through the proxy).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes `bucket` in [`REGION`] with boto3.
    pub fn create_bucket(&self, bucket: &str) {
        let out = Command::new(&self.python)
            .args(["-c", MAKE_BUCKET, &self.endpoint(), bucket, REGION])
            .output()
            .expect("run the boto3 script");
        assert!(
            out.status.success(),
            "making bucket {bucket} with boto3 failed:\n{}\nmoto:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.output()
        );
    }
}

#[derive(Default)]
struct ProxyState {
    down: bool,
    stopped: bool,
    /// Both ends of every connection passed on, to close them when switched down.
    held: Vec<TcpStream>,
}

/// A TCP proxy on 127.0.0.1 to one upstream port, with a switch.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                // Decided and registered under the lock, so that `down` misses no connection.
                let mut state = shared.lock().expect("proxy state");
                if state.stopped {
                    return;
                }
                if state.down {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                for end in [&client, &server] {
                    if let Ok(end) = end.try_clone() {
                        state.held.push(end);
                    }
                }
                drop(state);
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Proxy { port, state }
    }

    /// Closes every connection held; new ones are closed as soon as accepted.
    pub fn down(&self) {
        let mut state = self.state.lock().expect("proxy state");
        state.down = true;
        for end in state.held.drain(..) {
            let _ = end.shutdown(Shutdown::Both);
        }
    }

    /// Passes connections on again.
    pub fn up(&self) {
        self.state.lock().expect("proxy state").down = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
        if let Ok(mut state) = self.state.lock() {
            state.stopped = true;
        }
        // Wakes the accepting thread so that it sees `stopped` and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `from` to `to` on a thread of its own; at the end, half-closes `to`.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}
