//! A snapshot rendered natively, byte for byte what the Python libraries make of
//! `snapshot.to_dict()`, or None where they would refuse (the caller falls back to them):
//!
//! - `snapshot_json`: `orjson.dumps`, the change stream's line and the store's value;
//! - `snapshot_avro`: `fastavro.schemaless_writer` under `schemas/availability_snapshot.avsc`,
//!   the snapshots topic's message.
//!
//! Why: in Python both walked dicts and the schema per snapshot, a large share of the flow's
//! time (docs/performance.md, "Settings").

use std::io::Write;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::fold::BUCKET_NAMES;

/// `AvailabilitySnapshot`'s fields: the JSON keys, and the Avro schema's fields in order.
const NAMES: [&str; 16] = [
    "sku",
    "location",
    "sellable",
    "reserved",
    "picked",
    "quarantine",
    "damaged",
    "in_transit",
    "on_hand",
    "available",
    "version",
    "as_of",
    "last_event_id",
    "correlation_ids",
    "accounts",
    "source_systems",
];

/// A JSON string as orjson writes it: only `"`, `\` and control characters escaped.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn push_key(out: &mut Vec<u8>, i: usize) {
    out.push(if i == 0 { b'{' } else { b',' });
    push_str(out, NAMES[i]);
    out.push(b':');
}

/// Text a Python str holds, or None for one with lone surrogates (orjson and fastavro
/// refuse those).
fn text<'a>(v: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    v.downcast::<PyString>().ok()?.to_str().ok()
}

fn json(t: &Bound<'_, PyTuple>, newline: bool) -> Option<Vec<u8>> {
    if t.len() != NAMES.len() {
        return None;
    }
    let mut out = Vec::with_capacity(320);
    for i in 0..NAMES.len() {
        let v = t.get_item(i).ok()?;
        push_key(&mut out, i);
        match i {
            0 | 1 | 12 => push_str(&mut out, text(&v)?),
            13 | 15 => {
                out.push(b'[');
                for (j, c) in v.downcast::<PyTuple>().ok()?.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    push_str(&mut out, text(&c)?);
                }
                out.push(b']');
            }
            14 => {
                out.push(b'{');
                for (j, pair) in v.downcast::<PyTuple>().ok()?.iter().enumerate() {
                    let (account, qty): (Bound<'_, PyAny>, i64) = pair.extract().ok()?;
                    if j > 0 {
                        out.push(b',');
                    }
                    push_str(&mut out, text(&account)?);
                    out.push(b':');
                    write!(out, "{qty}").ok()?;
                }
                out.push(b'}');
            }
            _ => {
                let n: i64 = v.extract().ok()?;
                write!(out, "{n}").ok()?;
            }
        }
    }
    out.push(b'}');
    if newline {
        out.push(b'\n');
    }
    Some(out)
}

/// `orjson.dumps(snapshot.to_dict())` (plus a newline if asked), or None when the
/// snapshot holds what that would not render the same (the caller encodes it then).
#[pyfunction]
#[pyo3(signature = (snapshot, newline=false))]
pub fn snapshot_json<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyTuple>,
    newline: bool,
) -> Option<Bound<'py, PyBytes>> {
    json(snapshot, newline).map(|b| PyBytes::new(py, &b))
}

/// A zigzag varint, as Avro writes `long` (and the lengths and block counts).
fn avro_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn avro_str(out: &mut Vec<u8>, s: &str) {
    avro_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

fn avro(t: &Bound<'_, PyTuple>, header: &[u8]) -> Option<Vec<u8>> {
    if t.len() != NAMES.len() {
        return None;
    }
    let mut out = Vec::with_capacity(header.len() + 160);
    out.extend_from_slice(header);
    for i in 0..NAMES.len() {
        let v = t.get_item(i).ok()?;
        match i {
            0 | 1 | 12 => avro_str(&mut out, text(&v)?),
            13 | 15 => {
                let ids = v.downcast::<PyTuple>().ok()?;
                if !ids.is_empty() {
                    avro_long(&mut out, ids.len() as i64);
                    for id in ids.iter() {
                        avro_str(&mut out, text(&id)?);
                    }
                }
                avro_long(&mut out, 0);
            }
            14 => {
                let pairs = v.downcast::<PyTuple>().ok()?;
                let mut seen: Vec<String> = Vec::with_capacity(pairs.len());
                if !pairs.is_empty() {
                    avro_long(&mut out, pairs.len() as i64);
                    for pair in pairs.iter() {
                        let (account, qty): (Bound<'_, PyAny>, i64) = pair.extract().ok()?;
                        let account = text(&account)?;
                        if seen.iter().any(|a| a == account) {
                            return None; // dict() would merge them
                        }
                        seen.push(account.to_owned());
                        avro_str(&mut out, account);
                        avro_long(&mut out, qty);
                    }
                }
                avro_long(&mut out, 0);
            }
            _ => avro_long(&mut out, v.extract().ok()?),
        }
    }
    Some(out)
}

/// `header` + the Avro body of `snapshot`, or None when the snapshot holds what
/// fastavro would not write the same (the caller encodes it with fastavro then).
#[pyfunction]
pub fn snapshot_avro<'py>(
    py: Python<'py>,
    snapshot: &Bound<'py, PyTuple>,
    header: &[u8],
) -> Option<Bound<'py, PyBytes>> {
    avro(snapshot, header).map(|b| PyBytes::new(py, &b))
}

/// `operators.changes.Change`'s fields (their JSON keys) and the buckets of its `before` and
/// `after` (`operators.changes.figures`).
const CHANGE_NAMES: [&str; 10] = [
    "sku",
    "location",
    "version",
    "before",
    "after",
    "cause_event_ids",
    "cause_count",
    "correlation_ids",
    "as_of",
    "emitted_at",
];
const DERIVED: [&str; 2] = ["on_hand", "available"];

/// The six quantities with on hand and available, or None where those leave int64.
fn push_figures(out: &mut Vec<u8>, q: [i64; 6]) -> Option<()> {
    let on_hand = i64::try_from(
        [q[0], q[2], q[3], q[4]]
            .map(i128::from)
            .iter()
            .sum::<i128>(),
    )
    .ok()?;
    let available = q[0].checked_sub(q[1])?.max(0);
    for (i, n) in q.iter().chain([on_hand, available].iter()).enumerate() {
        out.push(if i == 0 { b'{' } else { b',' });
        push_str(out, BUCKET_NAMES.get(i).unwrap_or_else(|| &DERIVED[i - 6]));
        out.push(b':');
        write!(out, "{n}").ok()?;
    }
    out.push(b'}');
    Some(())
}

/// A change's fields, as `change_parts` renders them.
pub struct ChangeParts<'a> {
    pub sku: &'a str,
    pub location: &'a str,
    pub version: i64,
    pub before: [i64; 6],
    pub after: [i64; 6],
    pub causes: Vec<&'a str>,
    pub cause_count: i64,
    pub correlation: Vec<&'a str>,
    pub as_of: i64,
    pub emitted_at: i64,
}

/// The strs of a tuple (owned handles; `strs` borrows them), or None for anything else.
fn texts<'py>(v: &Bound<'py, PyAny>) -> Option<Vec<Bound<'py, PyString>>> {
    v.downcast::<PyTuple>()
        .ok()?
        .iter()
        .map(|item| item.downcast_into::<PyString>().ok())
        .collect()
}

/// The text of each str, or None when one has a lone surrogate.
pub fn strs<'a>(items: &'a [Bound<'_, PyString>]) -> Option<Vec<&'a str>> {
    items.iter().map(|s| s.to_str().ok()).collect()
}

fn change(t: &Bound<'_, PyTuple>, newline: bool) -> Option<Vec<u8>> {
    if t.len() < CHANGE_NAMES.len() {
        return None; // (fields after them, the snapshot and the rendering, are not rendered)
    }
    let items: Vec<Bound<'_, PyAny>> = (0..CHANGE_NAMES.len())
        .map(|i| t.get_item(i).ok())
        .collect::<Option<_>>()?;
    let int = |i: usize| items[i].extract::<i64>().ok();
    let (causes, correlation) = (texts(&items[5])?, texts(&items[7])?);
    let parts = ChangeParts {
        sku: text(&items[0])?,
        location: text(&items[1])?,
        version: int(2)?,
        before: items[3].extract().ok()?,
        after: items[4].extract().ok()?,
        causes: strs(&causes)?,
        cause_count: int(6)?,
        correlation: strs(&correlation)?,
        as_of: int(8)?,
        emitted_at: int(9)?,
    };
    change_parts(&parts, newline)
}

/// `orjson.dumps(Change.to_dict())` of these parts, or None where on hand or available leave int64.
pub fn change_parts(c: &ChangeParts<'_>, newline: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(480);
    let key = |out: &mut Vec<u8>, i: usize| {
        out.push(if i == 0 { b'{' } else { b',' });
        push_str(out, CHANGE_NAMES[i]);
        out.push(b':');
    };
    let list = |out: &mut Vec<u8>, items: &[&str]| {
        out.push(b'[');
        for (j, s) in items.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            push_str(out, s);
        }
        out.push(b']');
    };
    key(&mut out, 0);
    push_str(&mut out, c.sku);
    key(&mut out, 1);
    push_str(&mut out, c.location);
    key(&mut out, 2);
    write!(out, "{}", c.version).ok()?;
    key(&mut out, 3);
    push_figures(&mut out, c.before)?;
    key(&mut out, 4);
    push_figures(&mut out, c.after)?;
    key(&mut out, 5);
    list(&mut out, &c.causes);
    key(&mut out, 6);
    write!(out, "{}", c.cause_count).ok()?;
    key(&mut out, 7);
    list(&mut out, &c.correlation);
    key(&mut out, 8);
    write!(out, "{}", c.as_of).ok()?;
    key(&mut out, 9);
    write!(out, "{}}}", c.emitted_at).ok()?;
    if newline {
        out.push(b'\n');
    }
    Some(out)
}

/// `orjson.dumps(change.to_dict())` (plus a newline if asked), or None when the change
/// holds what that would not render the same (the caller encodes it then).
#[pyfunction]
#[pyo3(signature = (change, newline=false))]
pub fn change_json<'py>(
    py: Python<'py>,
    change: &Bound<'py, PyTuple>,
    newline: bool,
) -> Option<Bound<'py, PyBytes>> {
    self::change(change, newline).map(|b| PyBytes::new(py, &b))
}
