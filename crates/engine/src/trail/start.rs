//! At start: the audit index brought up to the audit log, and the events the journal holds but
//! the log lacks written again.

use serde_json::Value;

use super::{AuditHeader, index_row};
use crate::{Engine, Result};

/// How far back from the last recorded source the start-up check looks for audit events that
/// never reached the audit log (concurrent acts may record out of order).
const RECOVERY_WINDOW: u64 = 4096;

/// Writes the audit events that main journal entries carry but the audit log lacks (a crash or
/// a failed audit location between the two writes), marked `recovered`.
pub(crate) fn recover_unaudited(
    engine: &Engine,
    applier: &crate::apply::Applier,
    report: &mut Vec<String>,
) -> Result<()> {
    let auditor = engine.auditor();
    let from = auditor
        .index
        .max_source()?
        .saturating_sub(RECOVERY_WINDOW)
        .max(1);
    // After retention the log starts later: events of entries older than the oldest one it
    // still records were removed, not lost, and are not written again.
    let trimmed = auditor
        .log
        .read_from(0)?
        .next()
        .transpose()?
        .is_some_and(|e| e.seq > 1);
    let from = if trimmed {
        from.max(auditor.index.min_source()?)
    } else {
        from
    };
    let mut recovered = 0u64;
    for entry in engine.journal().read_from(from)? {
        let entry = entry?;
        // An entry of a destroyed scope is shredded: its events went with the scope's keys.
        let Some((header, body)) = applier.decode_body(&entry.payload)? else {
            continue;
        };
        for mut event in body.audit {
            if auditor.index.has_event(&event.id)? {
                continue;
            }
            event.details.insert("recovered".into(), Value::Bool(true));
            engine.append_blocking(header.scope, event, entry.seq)?;
            recovered += 1;
        }
    }
    if recovered > 0 {
        report.push(format!(
            "wrote {recovered} audit event(s) that the journal held but the audit log lacked"
        ));
    }
    Ok(())
}

/// Brings the index up to the audit journal's head; rebuilds it when it belongs to another log.
pub(crate) fn catch_up_index(engine: &Engine, report: &mut Vec<String>) -> Result<()> {
    let auditor = engine.auditor();
    let (last, hash) = auditor.index.last()?;
    let head = auditor.log.head();
    let matches = last == 0
        || (last <= head.seq
            && auditor
                .log
                .read_from(last)?
                .next()
                .transpose()?
                .is_some_and(|e| e.seq == last && e.hash == hash));
    if !matches {
        report.push(format!(
            "audit index (at seq {last}) does not match the audit log (head {}); rebuilding it",
            head.seq
        ));
        auditor.index.reset()?;
    }
    let from = auditor.index.last()?.0 + 1;
    let mut rows = Vec::new();
    let mut position = None;
    for entry in auditor.log.read_from(from)? {
        let entry = entry?;
        if let Some((header, _)) = AuditHeader::decode(&entry.payload)
            && let Some(event) = engine.open_audit(&entry.payload)?
        {
            rows.push(index_row(entry.seq, header.source, header.tenant, &event));
        }
        position = Some((entry.seq, entry.hash));
        if rows.len() >= 512 {
            if let Some(p) = position {
                auditor.index.add(&rows, p)?;
            }
            rows.clear();
        }
    }
    if let Some(p) = position {
        auditor.index.add(&rows, p)?;
        report.push(format!("indexed the audit log up to seq {}", p.0));
    }
    Ok(())
}
