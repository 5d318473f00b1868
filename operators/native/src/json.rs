//! A snapshot's JSON, byte for byte what `orjson.dumps(snapshot.to_dict())` makes: the
//! change stream's line and the store's value (two dicts and two encodings per snapshot
//! in Python, a third of a replay's time).

use std::io::Write;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

const NAMES: [&str; 15] = [
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

/// Text a Python str holds, or None for one with lone surrogates (orjson refuses those).
fn text<'a>(v: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    v.downcast::<PyString>().ok()?.to_str().ok()
}

fn render(t: &Bound<'_, PyTuple>, newline: bool) -> Option<Vec<u8>> {
    if t.len() != NAMES.len() {
        return None;
    }
    let mut out = Vec::with_capacity(320);
    for i in 0..NAMES.len() {
        let v = t.get_item(i).ok()?;
        push_key(&mut out, i);
        match i {
            0 | 1 | 12 => push_str(&mut out, text(&v)?),
            13 => {
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
    render(snapshot, newline).map(|b| PyBytes::new(py, &b))
}
