use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::Severity;
use crate::check::tests::errors;

/// Two safe destinations under `dir`: an S3 bucket in eu-west-1 (credentials file mode 0600)
/// and a local directory in eu-central-1.
pub(super) fn with_backup(dir: &Path) -> Config {
    let credentials = dir.join("s3-eu-west.json");
    std::fs::write(&credentials, "{}").expect("write");
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Config {
        backup: Some(Backup {
            allowed_jurisdictions: vec!["EU".into()],
            destinations: vec![
                Destination {
                    name: "eu-west-s3".into(),
                    kind: DestinationKind::S3,
                    path: None,
                    bucket: Some("strongroom-backups".into()),
                    prefix: Some("prod".into()),
                    endpoint: Some("https://s3.eu-west-1.amazonaws.com".into()),
                    region: "eu-west-1".into(),
                    jurisdiction: "EU".into(),
                    credentials_file: Some(credentials),
                },
                Destination {
                    name: "eu-central-disk".into(),
                    kind: DestinationKind::Local,
                    path: Some(dir.join("backup-eu-central")),
                    bucket: None,
                    prefix: None,
                    endpoint: None,
                    region: "eu-central-1".into(),
                    jurisdiction: "EU".into(),
                    credentials_file: None,
                },
            ],
            ..Backup::default()
        }),
        ..Config::default()
    }
}

pub(super) fn backup(config: &mut Config) -> &mut Backup {
    config.backup.as_mut().expect("[backup]")
}

pub(super) fn s3(config: &mut Config) -> &mut Destination {
    &mut backup(config).destinations[0]
}

pub(super) fn local(config: &mut Config) -> &mut Destination {
    &mut backup(config).destinations[1]
}

/// A case of a refusal: its name, the edit of a safe config, the setting refused.
type Case = (&'static str, fn(&mut Config), &'static str);

/// The findings on `backup*` settings.
pub(super) fn backup_findings(config: &Config) -> Vec<Finding> {
    config
        .check()
        .into_iter()
        .filter(|f| f.setting.starts_with("backup"))
        .collect()
}

#[test]
fn two_safe_destinations_pass_and_no_section_warns_about_p12() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = with_backup(dir.path());
    assert_eq!(backup_findings(&config), Vec::new());
    assert_eq!(errors(&config), Vec::<&str>::new());

    let findings = backup_findings(&Config::default());
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Warning);
    assert_eq!(findings[0].setting, "backup");
    assert!(findings[0].message.contains("P12"), "{}", findings[0]);

    let mut config = with_backup(dir.path());
    backup(&mut config).drill_every_days = 0;
    assert_eq!(errors(&config), Vec::<&str>::new(), "no scheduled drill");
}

#[test]
fn one_destination_passes_only_with_the_development_flag_and_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = with_backup(dir.path());
    backup(&mut config).destinations.truncate(1);
    assert_eq!(errors(&config), ["backup.destinations"]);
    backup(&mut config).development_single_destination = true;
    assert_eq!(errors(&config), Vec::<&str>::new());
    let findings = backup_findings(&config);
    assert!(
        findings.iter().any(|f| f.severity == Severity::Warning
            && f.setting == "backup.development_single_destination"
            && f.message.contains("development")),
        "{findings:?}"
    );

    let mut config = with_backup(dir.path());
    local(&mut config).region = "eu-west-1".into();
    assert_eq!(errors(&config), ["backup.destinations.region"]);
    backup(&mut config).development_single_destination = true;
    assert_eq!(errors(&config), Vec::<&str>::new());
}

#[test]
fn unsafe_backup_settings_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[Case] = &[
        (
            "no destinations",
            |c| backup(c).destinations.clear(),
            "backup.destinations",
        ),
        (
            "one destination",
            |c| backup(c).destinations.truncate(1),
            "backup.destinations",
        ),
        (
            "no jurisdictions",
            |c| backup(c).allowed_jurisdictions.clear(),
            "backup.allowed_jurisdictions",
        ),
        (
            "empty allowed jurisdiction",
            |c| backup(c).allowed_jurisdictions.push(" ".into()),
            "backup.allowed_jurisdictions",
        ),
        (
            "jurisdiction not allowed",
            |c| s3(c).jurisdiction = "US".into(),
            "backup.destinations.jurisdiction",
        ),
        (
            "jurisdiction in another case",
            |c| local(c).jurisdiction = "eu".into(),
            "backup.destinations.jurisdiction",
        ),
        (
            "empty jurisdiction",
            |c| local(c).jurisdiction = String::new(),
            "backup.destinations.jurisdiction",
        ),
        (
            "same region",
            |c| local(c).region = "eu-west-1".into(),
            "backup.destinations.region",
        ),
        (
            "same region in another case",
            |c| local(c).region = " EU-WEST-1".into(),
            "backup.destinations.region",
        ),
        (
            "empty region",
            |c| s3(c).region = String::new(),
            "backup.destinations.region",
        ),
        (
            "same name",
            |c| local(c).name = "eu-west-s3".into(),
            "backup.destinations.name",
        ),
        (
            "upper-case name",
            |c| local(c).name = "EU-disk".into(),
            "backup.destinations.name",
        ),
        (
            "empty name",
            |c| local(c).name = String::new(),
            "backup.destinations.name",
        ),
        (
            "long name",
            |c| local(c).name = "a".repeat(41),
            "backup.destinations.name",
        ),
        (
            "name with a slash",
            |c| local(c).name = "eu/disk".into(),
            "backup.destinations.name",
        ),
        (
            "full too rare",
            |c| backup(c).full_every_hours = 169,
            "backup.full_every_hours",
        ),
        (
            "full never",
            |c| backup(c).full_every_hours = 0,
            "backup.full_every_hours",
        ),
        (
            "ship never",
            |c| backup(c).ship_every_minutes = 0,
            "backup.ship_every_minutes",
        ),
        (
            "ship too rare",
            |c| backup(c).ship_every_minutes = 1_441,
            "backup.ship_every_minutes",
        ),
        (
            "no retention",
            |c| backup(c).retention_days = 0,
            "backup.retention_days",
        ),
        (
            "retention too long",
            |c| backup(c).retention_days = 3_651,
            "backup.retention_days",
        ),
        (
            "no keyring history",
            |c| backup(c).keyring_history_days = 0,
            "backup.keyring_history_days",
        ),
        (
            "keyring history too long",
            |c| backup(c).keyring_history_days = 31,
            "backup.keyring_history_days",
        ),
        (
            "drill too rare",
            |c| backup(c).drill_every_days = 91,
            "backup.drill_every_days",
        ),
    ];
    assert_refused(dir.path(), cases);
}

#[test]
fn kind_specific_fields_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[Case] = &[
        (
            "local without path",
            |c| local(c).path = None,
            "backup.destinations.path",
        ),
        (
            "local relative path",
            |c| local(c).path = Some("backups".into()),
            "backup.destinations.path",
        ),
        (
            "local with bucket",
            |c| local(c).bucket = Some("strongroom-backups".into()),
            "backup.destinations.bucket",
        ),
        (
            "local with prefix",
            |c| local(c).prefix = Some("prod".into()),
            "backup.destinations.prefix",
        ),
        (
            "local with endpoint",
            |c| local(c).endpoint = Some("https://s3.example.com".into()),
            "backup.destinations.endpoint",
        ),
        (
            "local with credentials",
            |c| local(c).credentials_file = s3(c).credentials_file.clone(),
            "backup.destinations.credentials_file",
        ),
        (
            "s3 with path",
            |c| s3(c).path = Some("/mnt/backup".into()),
            "backup.destinations.path",
        ),
        (
            "s3 without bucket",
            |c| s3(c).bucket = None,
            "backup.destinations.bucket",
        ),
        (
            "s3 without credentials",
            |c| s3(c).credentials_file = None,
            "backup.destinations.credentials_file",
        ),
        (
            "missing credentials file",
            |c| s3(c).credentials_file = Some("/nonexistent/s3.json".into()),
            "backup.destinations.credentials_file",
        ),
        (
            "credentials file is a directory",
            |c| {
                let d = s3(c);
                d.credentials_file = d
                    .credentials_file
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf);
            },
            "backup.destinations.credentials_file",
        ),
        (
            "local in data",
            |c| local(c).path = Some(lexical_absolute(&c.storage.data).join("backup")),
            "backup.destinations.path",
        ),
        (
            "local holding the mirror",
            |c| {
                let mirror = lexical_absolute(&c.storage.mirror);
                local(c).path = mirror.parent().map(Path::to_path_buf);
            },
            "backup.destinations.path",
        ),
        (
            "local in the key's directory, dotted",
            |c| {
                c.storage.key_file = "/etc/strongroom/master.key".into();
                local(c).path = Some("/etc/x/../strongroom/backup".into());
            },
            "backup.destinations.path",
        ),
        (
            "two locals overlapping",
            |c| {
                let inner = local(c).path.as_ref().map(|p| p.join("inner"));
                let d = s3(c);
                (d.kind, d.path, d.bucket, d.prefix) = (DestinationKind::Local, inner, None, None);
                (d.endpoint, d.credentials_file) = (None, None);
            },
            "backup.destinations.path",
        ),
    ];
    assert_refused(dir.path(), cases);
}

#[test]
fn the_section_parses_from_toml_and_unknown_keys_are_refused() {
    let text = r#"
[backup]
allowed_jurisdictions = ["EU"]
ship_every_minutes = 5
drill_every_days = 0
[[backup.destinations]]
name = "eu-west-s3"
kind = "s3"
bucket = "strongroom-backups"
prefix = "prod"
endpoint = "https://s3.eu-west-1.amazonaws.com"
region = "eu-west-1"
jurisdiction = "EU"
credentials_file = "/etc/strongroom/s3-eu-west.json"
[[backup.destinations]]
name = "eu-central-disk"
kind = "local"
path = "/mnt/backup-eu-central"
region = "eu-central-1"
jurisdiction = "EU"
"#;
    let config: Config = toml::from_str(text).expect("parse");
    let expected = Backup {
        allowed_jurisdictions: vec!["EU".into()],
        full_every_hours: 24,
        ship_every_minutes: 5,
        retention_days: 35,
        keyring_history_days: 7,
        drill_every_days: 0,
        development_single_destination: false,
        destinations: vec![
            Destination {
                name: "eu-west-s3".into(),
                kind: DestinationKind::S3,
                path: None,
                bucket: Some("strongroom-backups".into()),
                prefix: Some("prod".into()),
                endpoint: Some("https://s3.eu-west-1.amazonaws.com".into()),
                region: "eu-west-1".into(),
                jurisdiction: "EU".into(),
                credentials_file: Some("/etc/strongroom/s3-eu-west.json".into()),
            },
            Destination {
                name: "eu-central-disk".into(),
                kind: DestinationKind::Local,
                path: Some("/mnt/backup-eu-central".into()),
                bucket: None,
                prefix: None,
                endpoint: None,
                region: "eu-central-1".into(),
                jurisdiction: "EU".into(),
                credentials_file: None,
            },
        ],
    };
    assert_eq!(config.backup, Some(expected));
    assert_eq!(toml::from_str::<Config>("").expect("parse").backup, None);

    let refused = [
        ("[backup]\nfull_every_days = 1\n", "full_every_days"),
        (
            "[[backup.destinations]]\nname = \"a\"\nkind = \"local\"\nregion = \"r\"\n\
             jurisdiction = \"EU\"\nurl = \"s3://b\"\n",
            "url",
        ),
        (
            "[[backup.destinations]]\nname = \"a\"\nkind = \"gcs\"\nregion = \"r\"\n\
             jurisdiction = \"EU\"\n",
            "gcs",
        ),
        (
            "[[backup.destinations]]\nname = \"a\"\nkind = \"local\"\njurisdiction = \"EU\"\n",
            "region",
        ),
    ];
    for (text, named) in refused {
        let err = toml::from_str::<Config>(text).expect_err(text);
        assert!(err.to_string().contains(named), "{text}: {err}");
    }
}

fn assert_refused(dir: &Path, cases: &[Case]) {
    for (name, edit, setting) in cases {
        let mut config = with_backup(dir);
        edit(&mut config);
        let found = errors(&config);
        assert!(
            found.contains(setting),
            "case {name}: expected {setting}, got {found:?}"
        );
    }
}
