//! An S3 destination's settings: the bucket, the key prefix, the endpoint and the credentials
//! file, which is checked for its mode and never read.

use std::net::Ipv6Addr;
use std::path::Path;

use super::{Destination, refuse_foreign};
use crate::check::{Finding, check_private_file, error};

pub(super) fn check(d: &Destination, out: &mut Vec<Finding>) {
    refuse_foreign(d, &[(d.path.is_some(), "backup.destinations.path")], out);
    let name = &d.name;
    match &d.bucket {
        None => error(
            out,
            "backup.destinations.bucket",
            format!("destination `{name}`: missing; an s3 destination needs a bucket"),
        ),
        Some(bucket) if !is_bucket_name(bucket) => error(
            out,
            "backup.destinations.bucket",
            format!(
                "destination `{name}`: `{bucket}` is not an S3 bucket name (3 to 63 of a-z, 0-9, \
                 '.' and '-', starting and ending with a letter or digit, no \"..\", not an IP \
                 address)"
            ),
        ),
        Some(_) => {}
    }
    if let Some(prefix) = &d.prefix
        && !is_key_prefix(prefix)
    {
        error(
            out,
            "backup.destinations.prefix",
            format!(
                "destination `{name}`: `{prefix}` refused; use 1 to 512 printable ASCII \
                 characters without spaces, no leading '/', no \"..\""
            ),
        );
    }
    if let Some(endpoint) = &d.endpoint
        && !is_allowed_endpoint(endpoint)
    {
        error(
            out,
            "backup.destinations.endpoint",
            format!(
                "destination `{name}`: `{endpoint}` refused; use https://host[:port][/path], or \
                 http:// to 127.0.0.1, [::1] or localhost only"
            ),
        );
    }
    match &d.credentials_file {
        None => error(
            out,
            "backup.destinations.credentials_file",
            format!("destination `{name}`: missing; an s3 destination needs its credentials file"),
        ),
        Some(file) => check_credentials_file(name, file, out),
    }
}

/// The credentials file must exist, be a regular file, and be private; it is never read here.
fn check_credentials_file(name: &str, file: &Path, out: &mut Vec<Finding>) {
    let setting = "backup.destinations.credentials_file";
    match std::fs::metadata(file) {
        Err(e) => error(
            out,
            setting,
            format!(
                "destination `{name}`: {} can not be read: {e}",
                file.display()
            ),
        ),
        Ok(meta) if !meta.is_file() => error(
            out,
            setting,
            format!(
                "destination `{name}`: {} is not a regular file",
                file.display()
            ),
        ),
        Ok(_) => check_private_file(out, setting, file),
    }
}

/// S3's rules for bucket names (the ones that matter for path-style access).
fn is_bucket_name(bucket: &str) -> bool {
    let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && edge(bucket.bytes().next())
        && edge(bucket.bytes().last())
        && !bucket.contains("..")
        && bucket.parse::<std::net::Ipv4Addr>().is_err()
}

fn is_key_prefix(prefix: &str) -> bool {
    (1..=512).contains(&prefix.len())
        && prefix.bytes().all(|c| c.is_ascii_graphic())
        && !prefix.starts_with('/')
        && !prefix.contains("..")
}

/// Whether `url` is `https://host[:port][/path]`, or `http://` with a loopback host (127.0.0.1,
/// `[::1]`, localhost). No user info, query or fragment.
fn is_allowed_endpoint(url: &str) -> bool {
    if !url.bytes().all(|c| c.is_ascii_graphic()) || url.contains(['@', '?', '#']) {
        return false;
    }
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return false,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let Some(host) = endpoint_host(authority) else {
        return false;
    };
    https
        || host.eq_ignore_ascii_case("localhost")
        || host == "127.0.0.1"
        || host
            .parse::<Ipv6Addr>()
            .is_ok_and(|ip| ip == Ipv6Addr::LOCALHOST)
}

/// The host of `host[:port]` or `[v6][:port]`, when the host and the port are well formed.
fn endpoint_host(authority: &str) -> Option<&str> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            addr.parse::<Ipv6Addr>().ok()?;
            (addr, after)
        }
        None => {
            let (host, port) = authority.split_at(authority.find(':').unwrap_or(authority.len()));
            let label = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            if host.len() > 253 || !host.split('.').all(label) {
                return None;
            }
            (host, port)
        }
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        let ok = !digits.is_empty()
            && digits.bytes().all(|c| c.is_ascii_digit())
            && digits.parse::<u16>().is_ok_and(|p| p > 0);
        if !ok {
            return None;
        }
    }
    Some(host)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::super::tests::{backup_findings, s3, with_backup};
    use crate::Config;
    use crate::check::tests::errors;

    #[test]
    fn loopback_http_and_other_safe_endpoints_are_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for endpoint in [
            None,
            Some("https://s3.eu-west-1.amazonaws.com"),
            Some("https://minio.internal:9000/base/"),
            Some("https://10.0.0.5:9000"),
            Some("http://127.0.0.1:9000"),
            Some("http://[::1]:9000/"),
            Some("http://localhost:9000"),
            Some("http://LOCALHOST"),
        ] {
            let mut config = with_backup(dir.path());
            s3(&mut config).endpoint = endpoint.map(str::to_owned);
            assert_eq!(errors(&config), Vec::<&str>::new(), "endpoint {endpoint:?}");
        }
    }

    #[test]
    fn malformed_s3_settings_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bucket = "backup.destinations.bucket";
        for bad in [
            "ab",
            "Strongroom",
            "-backups",
            "backups-",
            "back..ups",
            "back_ups",
            "192.168.1.10",
            &"b".repeat(64),
        ] {
            assert_refused_with(dir.path(), bucket, bad, |c, v| s3(c).bucket = Some(v));
        }
        let prefix = "backup.destinations.prefix";
        for bad in [
            "",
            "/prod",
            "prod/../other",
            "..",
            "pro d",
            "prod\n",
            "prödukt",
        ] {
            assert_refused_with(dir.path(), prefix, bad, |c, v| s3(c).prefix = Some(v));
        }
        let endpoint = "backup.destinations.endpoint";
        for bad in [
            "http://s3.example.com",
            "http://10.0.0.5:9000",
            "http://127.0.0.2:9000",
            "http://127.0.0.1.evil.test/",
            "http://localhost@evil.test/",
            "https://user:pw@s3.example.com",
            "https://s3.example.com/?x=1",
            "ftp://s3.example.com",
            "s3.eu-west-1.amazonaws.com",
            "https://",
            "https://:9000",
            "https://s3.example.com:0",
            "https://s3.example.com:99999",
            "https://s3.example.com:+80",
            "https://s3.example.com:",
            "https://s3 .example.com",
            "https://[::1",
            "https://[nope]:9000",
            "http://::1:9000",
            "HTTPS://s3.example.com",
        ] {
            assert_refused_with(dir.path(), endpoint, bad, |c, v| s3(c).endpoint = Some(v));
        }
    }

    #[test]
    fn credentials_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = with_backup(dir.path());
        let file = dir.path().join("s3-eu-west.json");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let findings = backup_findings(&config);
        let f = findings
            .iter()
            .find(|f| f.setting == "backup.destinations.credentials_file")
            .expect("finding");
        assert!(f.message.contains("chmod 600"), "{f}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(errors(&config), Vec::<&str>::new());
    }

    fn assert_refused_with(dir: &Path, setting: &str, value: &str, edit: fn(&mut Config, String)) {
        let mut config = with_backup(dir);
        edit(&mut config, value.to_owned());
        let found = errors(&config);
        assert!(
            found.contains(&setting),
            "`{value}`: expected {setting}, got {found:?}"
        );
    }
}
