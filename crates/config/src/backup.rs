//! The `[backup]` section (issue 6, promise P12: encrypted backups in several regions): where
//! backups go, how often they are taken and shipped, how long they are kept, and its part of
//! `config check`. The backups themselves are the `backup` crate's.
//!
//! An S3 destination names its credentials file; [`s3`] checks that file's mode and never reads
//! it (this crate holds no secrets).

mod s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Config;
use crate::check::{Finding, error, lexical_absolute, overlaps, warning};

/// Encrypted backups in several regions (P12). The section absent: backups are off.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// Jurisdictions backups may be kept in (`["EU"]`); every destination's `jurisdiction` must
    /// be one of them, exactly. Required as soon as there is a destination.
    pub allowed_jurisdictions: Vec<String>,
    /// Hours between two full backups (1 to 168).
    pub full_every_hours: u32,
    /// Minutes between two shipments of new journal and audit segments (1 to 1440): the RPO.
    pub ship_every_minutes: u32,
    /// Days a backup is kept at each destination (1 to 3650).
    pub retention_days: u32,
    /// Days of keyring generations kept at the destinations (1 to 30): a key destroyed here is
    /// gone from every destination after this long.
    pub keyring_history_days: u32,
    /// Days between two scheduled restore drills (at most 90); 0: no scheduled drill.
    pub drill_every_days: u32,
    /// Allows a single destination, or destinations sharing a region. For development only:
    /// P12 is not kept.
    pub development_single_destination: bool,
    /// `[[backup.destinations]]`: at least two, in different regions.
    pub destinations: Vec<Destination>,
}

impl Default for Backup {
    fn default() -> Self {
        Self {
            allowed_jurisdictions: Vec::new(),
            full_every_hours: 24,
            ship_every_minutes: 15,
            retention_days: 35,
            keyring_history_days: 7,
            drill_every_days: 7,
            development_single_destination: false,
            destinations: Vec::new(),
        }
    }
}

/// One place backups are written to (`[[backup.destinations]]`). Every destination receives
/// every backup, independently of the others.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Unique name, 1 to 40 characters of `a-z`, `0-9` and `-` (in events, metrics, commands).
    pub name: String,
    /// `"local"` (a directory) or `"s3"` (an S3-compatible bucket).
    pub kind: DestinationKind,
    /// Local only: the absolute directory backups are written under; outside both data
    /// locations and the master key's directory.
    pub path: Option<PathBuf>,
    /// S3 only, required: the bucket.
    pub bucket: Option<String>,
    /// S3 only: the key prefix inside the bucket (no leading `/`, no `..`).
    pub prefix: Option<String>,
    /// S3 only: the service's URL, `https://…` (or `http://` to 127.0.0.1, `[::1]` or
    /// localhost); absent: AWS.
    pub endpoint: Option<String>,
    /// Where the destination is (`"eu-west-1"`); no two destinations share one.
    pub region: String,
    /// The jurisdiction the destination is under (`"EU"`); one of
    /// `backup.allowed_jurisdictions`.
    pub jurisdiction: String,
    /// S3 only, required: a JSON file `{"access_key_id": "…", "secret_access_key": "…"}`
    /// (mode 0600). Never read by this crate.
    pub credentials_file: Option<PathBuf>,
}

/// What a destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    /// A directory (another disk, a mounted volume).
    Local,
    /// An S3-compatible object store.
    S3,
}

pub(crate) fn check(config: &Config, out: &mut Vec<Finding>) {
    let Some(backup) = &config.backup else {
        warning(
            out,
            "backup",
            "absent: backups are off, and promise P12 (encrypted backups in several regions) is \
             not kept until [backup] lists two destinations"
                .into(),
        );
        return;
    };
    check_schedule(backup, out);
    check_count(backup, out);
    check_names(backup, out);
    check_jurisdictions(backup, out);
    check_regions(backup, out);
    for d in &backup.destinations {
        match d.kind {
            DestinationKind::Local => check_local(config, d, out),
            DestinationKind::S3 => s3::check(d, out),
        }
    }
    check_local_overlaps(backup, out);
}

fn check_schedule(b: &Backup, out: &mut Vec<Finding>) {
    let ranges = [
        ("backup.full_every_hours", b.full_every_hours, 1, 168),
        ("backup.ship_every_minutes", b.ship_every_minutes, 1, 1_440),
        ("backup.retention_days", b.retention_days, 1, 3_650),
        ("backup.keyring_history_days", b.keyring_history_days, 1, 30),
        ("backup.drill_every_days", b.drill_every_days, 0, 90),
    ];
    for (setting, value, min, max) in ranges {
        if !(min..=max).contains(&value) {
            error(out, setting, format!("{value} is outside {min}..={max}"));
        }
    }
}

fn check_count(b: &Backup, out: &mut Vec<Finding>) {
    match (b.destinations.as_slice(), b.development_single_destination) {
        ([], _) => error(
            out,
            "backup.destinations",
            "none: list two [[backup.destinations]] in different regions, or remove [backup] to \
             turn backups off"
                .into(),
        ),
        ([only], false) => error(
            out,
            "backup.destinations",
            format!(
                "only `{}`: backups go to at least two destinations in different regions (P12); \
                 backup.development_single_destination = true allows one, for development only",
                only.name
            ),
        ),
        ([_], true) => warning(
            out,
            "backup.development_single_destination",
            "one destination, for development only: promise P12 (several regions) is not kept"
                .into(),
        ),
        (_, true) => warning(
            out,
            "backup.development_single_destination",
            "set: destinations may share a region, for development only".into(),
        ),
        (_, false) => {}
    }
}

fn check_names(b: &Backup, out: &mut Vec<Finding>) {
    let mut seen = Vec::new();
    for d in &b.destinations {
        let name = d.name.as_str();
        let well_formed = (1..=40).contains(&name.len())
            && name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !well_formed {
            error(
                out,
                "backup.destinations.name",
                format!("`{name}` is not 1 to 40 characters of a-z, 0-9 and '-'"),
            );
        } else if seen.contains(&name) {
            error(
                out,
                "backup.destinations.name",
                format!("`{name}` names two destinations; names are unique"),
            );
        }
        seen.push(name);
    }
}

fn check_jurisdictions(b: &Backup, out: &mut Vec<Finding>) {
    let allowed = &b.allowed_jurisdictions;
    if allowed.is_empty() && !b.destinations.is_empty() {
        error(
            out,
            "backup.allowed_jurisdictions",
            "empty: name the jurisdictions backups may be kept in (`[\"EU\"]`); every \
             destination's jurisdiction must be one of them"
                .into(),
        );
    }
    if allowed.iter().any(|j| j.trim().is_empty()) {
        error(
            out,
            "backup.allowed_jurisdictions",
            "holds an empty jurisdiction".into(),
        );
    }
    for d in &b.destinations {
        let j = &d.jurisdiction;
        if j.trim().is_empty() {
            error(
                out,
                "backup.destinations.jurisdiction",
                format!("destination `{}`: empty; say which law it is under", d.name),
            );
        } else if !allowed.is_empty() && !allowed.contains(j) {
            error(
                out,
                "backup.destinations.jurisdiction",
                format!(
                    "destination `{}`: `{j}` is not in backup.allowed_jurisdictions {allowed:?}",
                    d.name
                ),
            );
        }
    }
}

fn check_regions(b: &Backup, out: &mut Vec<Finding>) {
    let mut by_region: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for d in &b.destinations {
        let region = d.region.trim().to_ascii_lowercase();
        if region.is_empty() {
            error(
                out,
                "backup.destinations.region",
                format!(
                    "destination `{}`: empty; say where it is (`eu-west-1`)",
                    d.name
                ),
            );
        } else {
            by_region.entry(region).or_default().push(&d.name);
        }
    }
    if b.development_single_destination {
        return;
    }
    for (region, names) in by_region.iter().filter(|(_, names)| names.len() > 1) {
        error(
            out,
            "backup.destinations.region",
            format!(
                "destinations `{}` share region `{region}`; backups must be kept in several \
                 regions (P12)",
                names.join("`, `")
            ),
        );
    }
}

/// Fields a destination of the other kind may not set.
fn refuse_foreign(d: &Destination, fields: &[(bool, &'static str)], out: &mut Vec<Finding>) {
    let kind = match d.kind {
        DestinationKind::Local => "local",
        DestinationKind::S3 => "s3",
    };
    for &(set, setting) in fields {
        if !set {
            continue;
        }
        error(
            out,
            setting,
            format!(
                "destination `{}`: not allowed for kind \"{kind}\"; remove it",
                d.name
            ),
        );
    }
}

fn check_local(config: &Config, d: &Destination, out: &mut Vec<Finding>) {
    let foreign = [
        (d.bucket.is_some(), "backup.destinations.bucket"),
        (d.prefix.is_some(), "backup.destinations.prefix"),
        (d.endpoint.is_some(), "backup.destinations.endpoint"),
        (
            d.credentials_file.is_some(),
            "backup.destinations.credentials_file",
        ),
    ];
    refuse_foreign(d, &foreign, out);
    let Some(path) = &d.path else {
        error(
            out,
            "backup.destinations.path",
            format!(
                "destination `{}`: missing; a local destination needs an absolute directory",
                d.name
            ),
        );
        return;
    };
    if !path.is_absolute() {
        error(
            out,
            "backup.destinations.path",
            format!(
                "destination `{}`: {} is not an absolute path",
                d.name,
                path.display()
            ),
        );
        return;
    }
    let s = &config.storage;
    let key = lexical_absolute(&s.key_file);
    let key_dir = key.parent().unwrap_or(&key);
    let places: [(&Path, &str); 3] = [
        (&s.data, "storage.data"),
        (&s.mirror, "storage.mirror"),
        (key_dir, "the master key's directory"),
    ];
    for (place, name) in places {
        if overlaps(path, place) {
            error(
                out,
                "backup.destinations.path",
                format!(
                    "destination `{}`: {} overlaps {name} ({}); backups are kept apart from the \
                     data they protect and from the master key",
                    d.name,
                    path.display(),
                    place.display()
                ),
            );
        }
    }
}

fn check_local_overlaps(b: &Backup, out: &mut Vec<Finding>) {
    let locals: Vec<(&str, &Path)> = b
        .destinations
        .iter()
        .filter(|d| d.kind == DestinationKind::Local)
        .filter_map(|d| Some((d.name.as_str(), d.path.as_deref()?)))
        .collect();
    for (i, (first, first_path)) in locals.iter().enumerate() {
        for (second, second_path) in &locals[i + 1..] {
            if overlaps(first_path, second_path) {
                error(
                    out,
                    "backup.destinations.path",
                    format!(
                        "destinations `{first}` and `{second}` overlap ({} and {}); each \
                         destination is a place of its own",
                        first_path.display(),
                        second_path.display()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
