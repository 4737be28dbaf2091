//! Where everything lives, derived from the three configured locations. No other module invents
//! a path.

use std::path::{Path, PathBuf};

/// The three configured locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Location a: journal mirror a, keyring copy a, derived state, TLS material.
    pub data: PathBuf,
    /// Location b: journal mirror b, keyring copy b.
    pub mirror: PathBuf,
    /// The master key file, outside both locations.
    pub key_file: PathBuf,
}

impl Paths {
    pub fn journal_a(&self) -> PathBuf {
        self.data.join("journal")
    }

    pub fn journal_b(&self) -> PathBuf {
        self.mirror.join("journal")
    }

    pub fn keyring_dirs(&self) -> [PathBuf; 2] {
        [self.data.join("keyring"), self.mirror.join("keyring")]
    }

    /// Attachment files, one directory in each location.
    pub fn blob_dirs(&self) -> [PathBuf; 2] {
        [self.data.join("blobs"), self.mirror.join("blobs")]
    }

    /// The audit log's journal and checkpoint file, one directory in each location.
    pub fn audit_dirs(&self) -> [PathBuf; 2] {
        [self.data.join("audit"), self.mirror.join("audit")]
    }

    /// The index of the audit log (rebuilt from it at will).
    pub fn audit_index(&self) -> PathBuf {
        self.data.join("audit-index.sqlite")
    }

    /// The audit signing key when none is configured: beside the master key, outside both
    /// locations.
    pub fn default_audit_key_file(&self) -> PathBuf {
        self.key_file.with_file_name("audit-signing.key")
    }

    /// Sealed tenant exports (`<export>.srx`, ciphertext only) and their scratch files.
    pub fn exports_dir(&self) -> PathBuf {
        self.data.join("exports")
    }

    /// The sealed archive of one export.
    pub fn export_file(&self, export: types::ExportId) -> PathBuf {
        self.exports_dir().join(format!("{export}.srx"))
    }

    pub fn state(&self) -> PathBuf {
        self.data.join("state.sqlite")
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data.join("tls")
    }

    pub fn lock_files(&self) -> [PathBuf; 2] {
        [
            self.data.join("strongroom.lock"),
            self.mirror.join("strongroom.lock"),
        ]
    }

    /// True when nothing has been initialised yet at these locations.
    pub fn is_fresh(&self) -> bool {
        let empty = |p: &Path| {
            std::fs::read_dir(p)
                .map(|mut d| d.next().is_none())
                .unwrap_or(true)
        };
        !keyring::Keyring::exists(&self.keyring_dirs())
            && empty(&self.journal_a())
            && empty(&self.journal_b())
    }
}
