//! Opening an export offline (`strongroom export open`): the header, the key from the
//! passphrase, every chunk, every tar member, and every digest of the manifest. Files are
//! written into a staging directory beside the target and moved into place only when all of it
//! matched; on any failure the staging directory is removed, so nothing is left behind.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crypto::Sha256;
use types::{AttachmentId, RecordId};

use crate::manifest::{self, Manifest};
use crate::passphrase;
use crate::sealed::{HEADER_LEN, Header, OpenReader};
use crate::{Error, Result};

/// What was opened.
#[derive(Debug)]
pub struct Opened {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Decrypts `file` with `passphrase`, checks everything, and writes the members under `to`
/// (which must not exist, or be an empty directory).
pub fn open_archive(file: &Path, passphrase: &str, to: &Path) -> Result<Opened> {
    let normalized = passphrase::normalize(passphrase)?;
    let target_busy = std::fs::read_dir(to).is_ok_and(|mut d| d.next().is_some());
    if target_busy || (to.exists() && !to.is_dir()) {
        return Err(Error::Target(format!(
            "{} exists and is not an empty directory; name a new one",
            to.display()
        )));
    }
    let input = std::fs::File::open(file).map_err(Error::io("opening the archive"))?;
    let mut input = io::BufReader::with_capacity(1 << 20, input);
    let mut head = [0u8; HEADER_LEN];
    input.read_exact(&mut head).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::io("reading the archive")(e),
    })?;
    let header = Header::decode(&head)?;
    let key = passphrase::derive_key(&normalized, &header.salt, header.kdf)?;
    let reader = OpenReader::new(input, Arc::new(key), header.export)?;
    let staging = staging_dir(to)?;
    match unpack(reader, &staging, &header) {
        Ok(manifest) => {
            if to.exists() {
                std::fs::remove_dir(to).map_err(Error::io("replacing the empty target"))?;
            }
            std::fs::rename(&staging, to).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staging);
                Error::io("moving the opened files into place")(e)
            })?;
            Ok(Opened {
                dir: to.to_owned(),
                manifest,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// A new directory beside `to`, named after it.
fn staging_dir(to: &Path) -> Result<PathBuf> {
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let mut tag = [0u8; 8];
    crypto::random_bytes(&mut tag);
    let dir = parent.join(format!(".{name}.partial-{}", crypto::hex(tag)));
    std::fs::create_dir_all(&dir).map_err(Error::io("creating the staging directory"))?;
    Ok(dir)
}

/// The error an `OpenReader` put inside the I/O errors the tar reader passed on.
fn reader_error(e: io::Error) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|c| c as _);
    while let Some(c) = cause {
        if let Some(ours) = c.downcast_ref::<Error>() {
            return match ours {
                Error::FirstChunk => Error::FirstChunk,
                Error::Chunk { index } => Error::Chunk { index: *index },
                Error::LastChunk { index } => Error::LastChunk { index: *index },
                Error::Truncated => Error::Truncated,
                other => Error::Format(other.to_string()),
            };
        }
        cause = c.source();
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::Format(format!("the archive's tar stream is not valid: {e}")),
    }
}

/// What a member is, from its path (anything else is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Manifest,
    Records,
    Attachment,
    Other,
}

fn kind_of(path: &str) -> Option<Kind> {
    match path {
        manifest::NAME => return Some(Kind::Manifest),
        "attachments.ndjson" | "users.ndjson" | "roles.ndjson" | "audit.ndjson" => {
            return Some(Kind::Other);
        }
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("collections/") {
        for (suffix, kind) in [
            (".schema.json", Kind::Other),
            (".ndjson", Kind::Records),
            (".csv", Kind::Other),
        ] {
            if let Some(name) = rest.strip_suffix(suffix)
                && records::schema::valid_name(name)
            {
                return Some(kind);
            }
        }
        return None;
    }
    let (record, attachment) = path.strip_prefix("attachments/")?.split_once('/')?;
    (record.parse::<RecordId>().is_ok() && attachment.parse::<AttachmentId>().is_ok())
        .then_some(Kind::Attachment)
}

/// What the members held, to compare with the manifest.
#[derive(Default)]
struct Seen {
    members: HashMap<String, (u64, String)>,
    records: Vec<(String, String)>,
    manifest: Option<Vec<u8>>,
}

fn unpack<R: Read>(reader: OpenReader<R>, dir: &Path, header: &Header) -> Result<Manifest> {
    let mut archive = tar::Archive::new(reader);
    let mut seen = Seen::default();
    for entry in archive.entries().map_err(reader_error)? {
        let entry = entry.map_err(reader_error)?;
        if seen.manifest.is_some() {
            return Err(Error::Mismatch("a member follows the manifest".into()));
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(Error::Mismatch("a member is not a regular file".into()));
        }
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| Error::Mismatch("a member's name is not UTF-8".into()))?;
        let kind = kind_of(&path).ok_or_else(|| {
            Error::Mismatch(format!(
                "unexpected member `{}`",
                path.chars().take(120).collect::<String>()
            ))
        })?;
        if seen.members.contains_key(&path) {
            return Err(Error::Mismatch(format!("member {path} appears twice")));
        }
        let (size, sha) = write_member(entry, dir, &path, &kind, &mut seen)?;
        if kind != Kind::Manifest {
            seen.members.insert(path, (size, crypto::hex(sha)));
        }
    }
    // Read to the end of the sealed stream: its last chunk must be the one sealed as last.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(reader_error)?;
    let bytes = seen
        .manifest
        .take()
        .ok_or_else(|| Error::Mismatch("the archive has no manifest".into()))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Mismatch(format!("the manifest is not valid: {e}")))?;
    check(&manifest, &seen, header)?;
    Ok(manifest)
}

/// Copies one member into `dir`, hashing it (and each record line of a collection's NDJSON).
fn write_member(
    entry: impl Read,
    dir: &Path,
    path: &str,
    kind: &Kind,
    seen: &mut Seen,
) -> Result<(u64, [u8; 32])> {
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("creating a directory"))?;
    }
    let mut out = io::BufWriter::new(
        std::fs::File::create(&target).map_err(Error::io("writing an opened file"))?,
    );
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut keep = Vec::new();
    let mut input = io::BufReader::with_capacity(1 << 16, entry);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line).map_err(reader_error)?;
        if n == 0 {
            break;
        }
        sha.update(&line);
        size += n as u64;
        out.write_all(&line)
            .map_err(Error::io("writing an opened file"))?;
        match kind {
            Kind::Records => seen.records.push(record_digest(&line)?),
            Kind::Manifest => keep.extend_from_slice(&line),
            _ => {}
        }
    }
    out.into_inner()
        .map_err(|e| Error::io("writing an opened file")(e.into_error()))?
        .sync_all()
        .map_err(Error::io("writing an opened file"))?;
    if *kind == Kind::Manifest {
        seen.manifest = Some(keep);
    }
    Ok((size, sha.finish()))
}

/// `(id, sha256)` of one NDJSON record line.
fn record_digest(line: &[u8]) -> Result<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let id: Id = serde_json::from_slice(text)
        .map_err(|_| Error::Mismatch("a record line is not a JSON record".into()))?;
    Ok((id.id, crypto::hex(crypto::sha256(text))))
}

/// Every member, record and attachment against the manifest.
fn check(manifest: &Manifest, seen: &Seen, header: &Header) -> Result<()> {
    let bad = |what: String| Err(Error::Mismatch(what));
    if manifest.format != manifest::FORMAT || manifest.version != manifest::VERSION {
        return bad("the manifest is not a Strongroom export manifest of version 1".into());
    }
    if manifest.export != header.export.to_string() {
        return bad("the manifest names another export than the file's header".into());
    }
    let listed: HashSet<&str> = manifest.members.iter().map(|m| m.path.as_str()).collect();
    if listed.len() != manifest.members.len() {
        return bad("the manifest lists a member twice".into());
    }
    for m in &manifest.members {
        match seen.members.get(&m.path) {
            None => return bad(format!("member {} is missing", m.path)),
            Some((size, sha)) if *size != m.size || *sha != m.sha256 => {
                return bad(format!("member {} differs from its digest", m.path));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.members.keys().find(|p| !listed.contains(p.as_str())) {
        return bad(format!("member {extra} is not in the manifest"));
    }
    let records: HashMap<&str, &str> = manifest
        .records
        .iter()
        .map(|r| (r.id.as_str(), r.sha256.as_str()))
        .collect();
    if records.len() != manifest.records.len() || seen.records.len() != records.len() {
        return bad(format!(
            "the manifest lists {} records, the collections hold {}",
            manifest.records.len(),
            seen.records.len()
        ));
    }
    let mut found = HashSet::new();
    for (id, sha) in &seen.records {
        if records.get(id.as_str()) != Some(&sha.as_str()) || !found.insert(id.as_str()) {
            return bad(format!("record {id} differs from its digest"));
        }
    }
    if manifest.attachments.len() as u64 != manifest.counts.attachments {
        return bad("the manifest's attachment count is wrong".into());
    }
    for a in &manifest.attachments {
        let path = format!("attachments/{}/{}", a.record, a.id);
        match seen.members.get(&path) {
            Some((size, sha)) if *size == a.size && *sha == a.sha256 => {}
            _ => return bad(format!("attachment {} differs from its digest", a.id)),
        }
    }
    let files = seen
        .members
        .keys()
        .filter(|p| p.starts_with("attachments/"))
        .count();
    if files != manifest.attachments.len() {
        return bad("an attachment file is not in the manifest's attachments".into());
    }
    Ok(())
}
