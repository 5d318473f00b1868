//! Validation of one decoded event: the rules of `operators/validation.py`, for the
//! events those rules accept. Whatever this does not accept (a rejection, or input it
//! cannot digest exactly, such as non-ASCII text) goes back to the Python reference,
//! which makes the rejection; so an accepted event here is exactly the Python one.

use crate::avro::{Val, SLOTS};
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use std::fmt::Write;

pub const EVENT_TYPES: [&str; 14] = [
    "RECEIPT",
    "ADJUSTMENT",
    "CYCLE_COUNT",
    "RESERVATION_CREATED",
    "RESERVATION_RELEASED",
    "PICK_CONFIRMED",
    "SHIPMENT_CONFIRMED",
    "TRANSFER_SHIPPED",
    "TRANSFER_RECEIVED",
    "RETURN_RECEIVED",
    "RETURN_DISPOSITIONED",
    "HOLD_PLACED",
    "HOLD_RELEASED",
    "BALANCE_SNAPSHOT",
];
pub const STATUSES: [&str; 3] = ["SELLABLE", "QUARANTINE", "DAMAGED"];
pub const DISPOSITIONS: [&str; 4] = ["RESTOCK", "REFURBISH", "DAMAGED", "SCRAP"];

const ADJUSTMENT: usize = 1;
const CYCLE_COUNT: usize = 2;
const RESERVATION_CREATED: usize = 3;
const RESERVATION_RELEASED: usize = 4;
const PICK_CONFIRMED: usize = 5;
const SHIPMENT_CONFIRMED: usize = 6;
pub const TRANSFER_SHIPPED: usize = 7;
const TRANSFER_RECEIVED: usize = 8;
const RETURN_DISPOSITIONED: usize = 10;
const BALANCE_SNAPSHOT: usize = 13;

// Slots, in PAYLOAD_FIELDS order.
pub const EVENT_ID: usize = 0;
pub const EVENT_TYPE: usize = 1;
pub const SKU: usize = 2;
pub const LOCATION: usize = 3;
pub const QUANTITY: usize = 4;
pub const UOM: usize = 5;
pub const OCCURRED_AT: usize = 6;
pub const SOURCE_SYSTEM: usize = 7;
pub const SOURCE_SEQUENCE: usize = 8;
/// The nullable strings, in slot order: correlation_id, source_ref, order_id, channel,
/// account_id, counterpart_location, reason (9..=15), then lot_id (18).
pub const OPTIONAL: [usize; 8] = [9, 10, 11, 12, 13, 14, 15, 18];
const ORDER_ID: usize = 2; // index into OPTIONAL
const CHANNEL: usize = 3;
const ACCOUNT_ID: usize = 4;
pub const COUNTERPART: usize = 5;
pub const DISPOSITION: usize = 16;
pub const STATUS: usize = 17;

const MAX_BASE_QTY: i128 = 1_000_000_000_000;
/// `operators.validation.MIN_OCCURRED_AT` / `MAX_OCCURRED_AT`: years 1 to 9999.
pub const MIN_OCCURRED_AT: i64 = -62_135_596_800_000;
pub const MAX_OCCURRED_AT: i64 = 253_402_300_799_999;
/// `operators.validation.MAX_KEY_BYTES`.
const MAX_KEY_BYTES: usize = 256;
/// `operators.validation.MAX_FIELD_BYTES`.
const MAX_FIELD_BYTES: usize = 1024;

/// An accepted event: borrowed text, indices into the enum lists.
pub struct Event<'a> {
    pub event_id: &'a str,
    pub event_type: usize,
    pub sku: &'a str,
    pub location: &'a str,
    pub quantity: i64,
    pub uom: &'a str,
    pub occurred_at: i64,
    pub source_system: &'a str,
    pub source_sequence: i64,
    pub base_qty: i64,
    pub optional: [Option<&'a str>; 8],
    pub disposition: Option<usize>,
    pub status: Option<usize>,
    pub id_hash: i64,
    pub digest: i64,
}

fn text<'a>(v: Val<'a>) -> Option<&'a str> {
    match v {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

/// `str.strip()` leaves nothing (ASCII: Python's whitespace includes \x1c..\x1f).
fn blank(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f))
}

/// A key part `key_problem` accepts (ASCII here, so C1 cannot occur): short enough, no
/// control character.
fn key_ok(s: &str) -> bool {
    s.len() <= MAX_KEY_BYTES && !s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

fn index_of(names: &[&str], s: &str) -> Option<usize> {
    names.iter().position(|n| *n == s)
}

/// The event the Python reference would accept, or None (the reference decides).
pub fn validate<'a>(
    v: &[Val<'a>; SLOTS],
    factor: impl Fn(&str, &str) -> Option<i64>,
    latest: i64,
) -> Option<Event<'a>> {
    // Every text is ASCII, so its repr (the digest's input) is computed exactly here.
    if v.iter().any(|x| matches!(x, Val::Str(s) if !s.is_ascii())) {
        return None;
    }
    // field_too_long, and any text longer than that, is the reference's to report
    if v.iter()
        .any(|x| matches!(x, Val::Str(s) if s.len() > MAX_FIELD_BYTES))
    {
        return None;
    }
    let event_id = text(v[EVENT_ID]).filter(|s| !s.is_empty())?;
    let event_type = index_of(&EVENT_TYPES, text(v[EVENT_TYPE])?)?;
    let occurred_at = match v[OCCURRED_AT] {
        Val::Long(t) if (MIN_OCCURRED_AT..=MAX_OCCURRED_AT.min(latest)).contains(&t) => t,
        _ => return None,
    };
    let source_sequence = match v[SOURCE_SEQUENCE] {
        Val::Null => 0,
        Val::Long(s) if s != i64::MIN => s,
        _ => return None,
    };
    let source_system = text(v[SOURCE_SYSTEM]).filter(|s| !s.is_empty())?;
    let mut optional = [None; 8];
    for (out, &slot) in optional.iter_mut().zip(OPTIONAL.iter()) {
        *out = match v[slot] {
            Val::Null => None,
            Val::Str(s) => Some(s).filter(|s| !s.is_empty()),
            Val::Long(_) => return None,
        };
    }
    optional[COUNTERPART] = optional[COUNTERPART].filter(|c| !blank(c));
    let status = match v[STATUS] {
        Val::Null => None,
        Val::Str(s) => Some(index_of(&STATUSES, s)?),
        Val::Long(_) => return None,
    };
    let disposition = text(v[DISPOSITION]).and_then(|s| index_of(&DISPOSITIONS, s));
    let sku = text(v[SKU]).filter(|s| !blank(s))?;
    let location = text(v[LOCATION]).filter(|s| !blank(s))?;
    let keys = [
        Some(sku),
        Some(location),
        optional[COUNTERPART],
        optional[ACCOUNT_ID],
    ];
    if !keys.iter().flatten().all(|k| key_ok(k)) {
        return None;
    }
    let uom = match v[UOM] {
        Val::Null => "EA",
        Val::Str(s) => s,
        Val::Long(_) => return None,
    };
    let f = if uom == "EA" { 1 } else { factor(sku, uom)? };
    let quantity = match v[QUANTITY] {
        Val::Long(q) => q,
        _ => return None,
    };
    let bad = match event_type {
        ADJUSTMENT => quantity == 0,
        CYCLE_COUNT | BALANCE_SNAPSHOT => quantity < 0,
        _ => quantity <= 0,
    };
    let base = i128::from(quantity) * i128::from(f);
    if bad || base.abs() > MAX_BASE_QTY {
        return None;
    }
    let needs_order = matches!(
        event_type,
        RESERVATION_CREATED | RESERVATION_RELEASED | PICK_CONFIRMED | SHIPMENT_CONFIRMED
    );
    if needs_order && optional[ORDER_ID].is_none() {
        return None;
    }
    if event_type == RESERVATION_CREATED && optional[CHANNEL].is_none() {
        return None;
    }
    if matches!(event_type, TRANSFER_SHIPPED | TRANSFER_RECEIVED) {
        match optional[COUNTERPART] {
            Some(c) if c != location => {}
            _ => return None,
        }
    }
    if event_type == RETURN_DISPOSITIONED && disposition.is_none() {
        return None;
    }
    let mut event = Event {
        event_id,
        event_type,
        sku,
        location,
        quantity,
        uom,
        occurred_at,
        source_system,
        source_sequence,
        base_qty: base as i64,
        optional,
        disposition,
        status,
        id_hash: stable_hash(event_id.as_bytes()),
        digest: 0,
    };
    event.digest = stable_hash(canonical_repr(&event).as_bytes());
    Some(event)
}

/// `operators.validation.stable_hash`: blake2b with an 8-byte digest, little-endian, signed.
pub fn stable_hash(bytes: &[u8]) -> i64 {
    let mut h = Blake2bVar::new(8).expect("8 is a valid blake2b size");
    h.update(bytes);
    let mut out = [0u8; 8];
    h.finalize_variable(&mut out).expect("8 bytes");
    i64::from_le_bytes(out)
}

/// Python's `repr` of an ASCII str.
fn repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        b'"'
    } else {
        b'\''
    };
    out.push(quote as char);
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b == quote => {
                out.push('\\');
                out.push(b as char);
            }
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\x{b:02x}");
            }
            _ => out.push(b as char),
        }
    }
    out.push(quote as char);
}

fn repr_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => repr_str(out, s),
        None => out.push_str("None"),
    }
}

/// `repr(tuple(map(fields.get, PAYLOAD_FIELDS)))`, what `payload_digest` hashes.
pub fn canonical_repr(e: &Event<'_>) -> String {
    let mut out = String::with_capacity(256);
    out.push('(');
    repr_str(&mut out, e.event_id);
    out.push_str(", ");
    repr_str(&mut out, EVENT_TYPES[e.event_type]);
    out.push_str(", ");
    repr_str(&mut out, e.sku);
    out.push_str(", ");
    repr_str(&mut out, e.location);
    let _ = write!(out, ", {}, ", e.quantity);
    repr_str(&mut out, e.uom);
    let _ = write!(out, ", {}, ", e.occurred_at);
    repr_str(&mut out, e.source_system);
    let _ = write!(out, ", {}", e.source_sequence);
    for s in &e.optional[..7] {
        out.push_str(", ");
        repr_opt(&mut out, *s);
    }
    out.push_str(", ");
    repr_opt(&mut out, e.disposition.map(|d| DISPOSITIONS[d]));
    out.push_str(", ");
    repr_opt(&mut out, e.status.map(|s| STATUSES[s]));
    out.push_str(", ");
    repr_opt(&mut out, e.optional[7]);
    out.push(')');
    out
}
