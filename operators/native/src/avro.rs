//! Avro binary decoding of one record type, field by field in the writer's order.
//!
//! Only the shapes the inventory event uses are decoded into values (string, long/int,
//! enum, unions of null/string/long); a few more can be skipped. Python builds the
//! layout from the writer schema and keeps any schema this cannot read on fastavro.

/// The event's fields, in `operators.events.PAYLOAD_FIELDS` order.
pub const SLOTS: usize = 19;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Str(&'a str),
    Long(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Branch {
    Null,
    Str,
    Long,
    Enum(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum Kind {
    Str,
    Long,
    Enum(Vec<String>),
    Union(Vec<Branch>),
    Bool,
    Float,
    Double,
    Bytes,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub slot: Option<usize>,
    pub kind: Kind,
}

/// Bytes that are not a record of the layout (fastavro then reads them, and says why).
#[derive(Debug)]
pub struct Malformed;

pub fn read_long(data: &[u8], pos: &mut usize) -> Result<i64, Malformed> {
    let mut n: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos).ok_or(Malformed)?;
        *pos += 1;
        if shift == 63 && b > 1 {
            return Err(Malformed);
        }
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(Malformed);
        }
    }
    Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
}

fn read_raw<'a>(data: &'a [u8], pos: &mut usize) -> Result<&'a [u8], Malformed> {
    let len = read_long(data, pos)?;
    let len = usize::try_from(len).map_err(|_| Malformed)?;
    let end = pos.checked_add(len).ok_or(Malformed)?;
    let out = data.get(*pos..end).ok_or(Malformed)?;
    *pos = end;
    Ok(out)
}

fn read_str<'a>(data: &'a [u8], pos: &mut usize) -> Result<&'a str, Malformed> {
    std::str::from_utf8(read_raw(data, pos)?).map_err(|_| Malformed)
}

fn skip(data: &[u8], pos: &mut usize, n: usize) -> Result<(), Malformed> {
    let end = pos.checked_add(n).ok_or(Malformed)?;
    if end > data.len() {
        return Err(Malformed);
    }
    *pos = end;
    Ok(())
}

fn read_symbol<'a>(
    symbols: &'a [String],
    data: &[u8],
    pos: &mut usize,
) -> Result<Val<'a>, Malformed> {
    let i = usize::try_from(read_long(data, pos)?).map_err(|_| Malformed)?;
    Ok(Val::Str(symbols.get(i).ok_or(Malformed)?.as_str()))
}

/// Decode one record at `pos` into `vals` (slots the writer lacks stay Null).
pub fn read_record<'a>(
    fields: &'a [Field],
    data: &'a [u8],
    pos: &mut usize,
    vals: &mut [Val<'a>; SLOTS],
) -> Result<(), Malformed> {
    *vals = [Val::Null; SLOTS];
    for field in fields {
        let val = match &field.kind {
            Kind::Str => Val::Str(read_str(data, pos)?),
            Kind::Long => Val::Long(read_long(data, pos)?),
            Kind::Enum(symbols) => read_symbol(symbols, data, pos)?,
            Kind::Union(branches) => {
                let i = usize::try_from(read_long(data, pos)?).map_err(|_| Malformed)?;
                match branches.get(i).ok_or(Malformed)? {
                    Branch::Null => Val::Null,
                    Branch::Str => Val::Str(read_str(data, pos)?),
                    Branch::Long => Val::Long(read_long(data, pos)?),
                    Branch::Enum(symbols) => read_symbol(symbols, data, pos)?,
                }
            }
            Kind::Bool => {
                skip(data, pos, 1)?;
                Val::Null
            }
            Kind::Float => {
                skip(data, pos, 4)?;
                Val::Null
            }
            Kind::Double => {
                skip(data, pos, 8)?;
                Val::Null
            }
            Kind::Bytes => {
                read_raw(data, pos)?;
                Val::Null
            }
        };
        if let Some(slot) = field.slot {
            vals[slot] = val;
        }
    }
    Ok(())
}
