//! How a resource's export line is kept in `resources.data` (since schema 10): without the head that repeats
//! the row's own columns (`{"kind":"resource","resource_type":…,"id":…,"display_name":…,`), which a read puts
//! back, and the rest compressed (LZ4) against `SKELETON`, the line format's own keys, so that what every line
//! spells the same way is not stored once per resource. A 100,000-person Pingboard sync keeps 545 bytes a person
//! instead of 1,410 (BENCHMARKS.md, session 15).
//!
//! The first byte says the form: `{` a whole line, as written before version 10 (and by `written.rs`), and
//! `PACKED` the compressed tail. Compressing is deterministic, so two syncs that read a resource alike store the
//! same bytes, which is what `Store::diff` compares.

use anyhow::{Context as _, Result, bail};

use super::Store;
use super::sql::{Param, Row, Value, args};
use crate::contract::model::Resource;
use crate::records;

/// The form of a line compressed against `SKELETON`. Another skeleton would be another form, with a byte of its
/// own: lines stored in this one must stay readable.
const PACKED: u8 = 1;

/// What a tail of `records::resource_line` spells whatever the source: the line format's keys and usual values
/// (`host-harness/README.md` documents the format). A resource's tail refers back into it wherever it repeats it.
/// Never change it: it is part of what `PACKED` means.
const SKELETON: &[u8] = br#""parent":null,"status":"enabled","user":{"emails":[{"address":"","primary":true}],"login":"","manager_id":null,"login_aliases":[],"employee_ids":[],"name":{"given_name":"","family_name":"","middle_names":[],"prefix":null,"suffix":null},"account_type":"human","title":"","department_ids":[],"location_ids":[],"start_date":"","time_zone":"","locale":"","nickname":null,"phone_numbers":[],"photo_url":""},"profile":{},"description":null,"created_at":"","updated_at":""}"#;

/// The head `records::resource_line` writes for these columns, through the same serializer.
fn head(resource_type: &str, id: &str, display_name: &str) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(r#"{{"kind":"resource","resource_type":{},"id":{},"display_name":{},"#, text(resource_type), text(id), text(display_name))
}

/// What is stored of `resource`'s export line.
pub fn of(resource: &Resource) -> Vec<u8> {
    pack(&records::resource_line(resource), &resource.id.resource_type, &resource.id.id, &resource.display_name)
}

/// What is stored of `line`, the export line of the resource with these columns.
fn pack(line: &str, resource_type: &str, id: &str, display_name: &str) -> Vec<u8> {
    match line.strip_prefix(head(resource_type, id, display_name).as_str()) {
        Some(tail) => {
            let mut packed = vec![PACKED];
            packed.extend_from_slice(&lz4_flex::block::compress_prepend_size_with_dict(tail.as_bytes(), SKELETON));
            packed
        }
        // A line of another shape (the error line `resource_line` writes when it cannot serialize) is kept whole.
        None => line.as_bytes().to_vec(),
    }
}

/// The export line of a resource row: its `data` as `of` kept it (or whole), and its columns.
pub fn line(resource_type: &str, id: &str, display_name: &str, data: &[u8]) -> Result<String> {
    match data.first() {
        Some(b'{') => Ok(std::str::from_utf8(data).context("the store holds a resource line that is not UTF-8")?.to_string()),
        Some(&PACKED) => {
            let damaged = || format!("the stored line of {resource_type} {id} is damaged");
            let size = data.get(1..5).map(|size| u32::from_le_bytes(size.try_into().unwrap_or_default()) as usize);
            let tail = lz4_flex::block::decompress_size_prepended_with_dict(&data[1..], SKELETON).with_context(damaged)?;
            // A body cut short can decode to a shorter tail: its length is the one stored before it.
            if Some(tail.len()) != size {
                bail!(damaged());
            }
            let mut line = head(resource_type, id, display_name);
            line.push_str(std::str::from_utf8(&tail).with_context(damaged)?);
            Ok(line)
        }
        _ => bail!("the stored line of {resource_type} {id} has a form this connector-harness does not know (a newer one wrote it?)"),
    }
}

/// The columns `line_of_row` reads, of `resources` as `r`.
pub const COLUMNS: &str = "r.resource_type, r.id, r.display_name, r.data";

/// The export line of a row `SELECT r.resource_type, r.id, r.display_name, r.data …` (`COLUMNS`).
pub fn line_of_row(row: &Row) -> Result<String> {
    line(row.text(0)?, row.text(1)?, row.text(2)?, row.bytes(3)?)
}

/// Rows `Store::pack_whole_lines` reads and rewrites per transaction.
const PACK_BATCH: i64 = 1000;

impl Store {
    /// Packs the resource lines stored whole before version 10, in key order, a batch per transaction. A row a
    /// sync rewrote meanwhile is left as that sync wrote it (the update asks for the bytes it read). Returns how
    /// many rows it packed.
    pub(super) fn pack_whole_lines(&self) -> Result<u64> {
        let mut after: Option<(i64, String, String)> = None;
        let mut packed = 0;
        loop {
            let (sync, resource_type, id) = after.clone().unwrap_or((i64::MIN, String::new(), String::new()));
            let rows = self.db.rows(
                &format!("SELECT r.sync_id, {COLUMNS} FROM resources r WHERE (r.sync_id, r.resource_type, r.id) > (?1, ?2, ?3) ORDER BY r.sync_id, r.resource_type, r.id LIMIT ?4"),
                args![sync, resource_type.as_str(), id.as_str(), PACK_BATCH],
            )?;
            let Some(last) = rows.last() else { break };
            after = Some((last.int(0)?, last.string(1)?, last.string(2)?));
            packed += self.db.transaction(|| {
                let mut count = 0;
                for row in &rows {
                    // Whole: text in SQLite, bytes in PostgreSQL (whose column version 10 made `BYTEA`).
                    let (whole, read) = match &row.0[4] {
                        Value::Text(text) => (text.as_str(), Param::Text(text)),
                        Value::Blob(bytes) if bytes.first() == Some(&b'{') => (std::str::from_utf8(bytes).context("the store holds a resource line that is not UTF-8")?, Param::Blob(bytes)),
                        _ => continue,
                    };
                    let (resource_type, id, display_name) = (row.text(1)?, row.text(2)?, row.text(3)?);
                    let data = pack(whole, resource_type, id, display_name);
                    count += self.db.execute(
                        "UPDATE resources SET data = ?5 WHERE sync_id = ?1 AND resource_type = ?2 AND id = ?3 AND data = ?4",
                        &[Param::Int(row.int(0)?), Param::Text(resource_type), Param::Text(id), read, Param::Blob(&data)],
                    )?;
                }
                Ok(count)
            })?;
        }
        if packed > 0 {
            tracing::info!(rows = packed, "packed the resource lines stored before schema 10");
        }
        Ok(packed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::{ResourceId, ResourceStatus, StatusKind};

    fn resource(display_name: &str) -> Resource {
        Resource {
            id: ResourceId { resource_type: "user".into(), id: "7".into() },
            display_name: display_name.into(),
            parent: None,
            status: ResourceStatus { kind: StatusKind::Enabled, detail: None },
            user: None,
            group: None,
            profile: r#"{"first_name":"Zoë","links":{"groups":["1","2"]}}"#.into(),
            description: None,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn a_line_is_kept_compressed_without_its_columns_and_read_back_byte_for_byte() {
        for name in ["Zoë \"Z\" \u{1f}", "", "A ™ name"] {
            let r = resource(name);
            let whole = records::resource_line(&r);
            let kept = of(&r);
            assert_eq!(kept[0], PACKED);
            assert!(kept.len() < whole.len() - name.len(), "{} bytes kept of {}", kept.len(), whole.len());
            assert_eq!(line("user", "7", name, &kept).unwrap(), whole);
            // Deterministic: the same line is the same bytes.
            assert_eq!(of(&r), kept);
        }
    }

    #[test]
    fn a_whole_line_reads_as_it_is_and_damage_is_said() {
        let whole = records::resource_line(&resource("Ada"));
        assert_eq!(line("user", "7", "Ada", whole.as_bytes()).unwrap(), whole);
        let mut damaged = of(&resource("Ada"));
        damaged.truncate(damaged.len() / 2);
        assert_eq!(line("user", "7", "Ada", &damaged).unwrap_err().to_string(), "the stored line of user 7 is damaged");
        assert!(line("user", "7", "Ada", &[9, 9]).unwrap_err().to_string().contains("a form this connector-harness does not know"));
    }
}
