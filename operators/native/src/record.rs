//! The stored form of a ledger (the ledger store's values): its whole state, or what it
//! gained since a mark. Reading a whole record and the deltas written after it gives the
//! parts `to_state` had when the last delta was made, as `KeyLedger.extend_state` does
//! for the tuple forms. Why not pickle those tuples: building and pickling them for every
//! key an epoch touched was most of the flow's pause at each epoch end.
//!
//! Little-endian; `bytes` is a u32 length and the bytes; an optional long is a flag byte
//! and the long. A record starts with its kind (pickles start with 0x80):
//!
//!     whole: 1, sku, location, version, as_of?, seen_pruned_at, seen, blob, base
//!     delta: 2, version, as_of?, seen_pruned_at, seen tail, drop, keep, tail, 0 | 1 base
//!     base:  6 longs, orders (n, (order, qty)*), order accounts (n, (order, account)*),
//!            accounts (n, (account, qty)*)

use crate::fold::{Accounts, State};
use crate::ledger::{Ledger, Parts};

pub const WHOLE: u8 = 1;
pub const DELTA: u8 = 2;

/// Where a ledger's stored form stood: its history's and its seen ids' marks.
pub type Mark = ((i64, i64, i64), (i64, i64));

pub fn mark(l: &Ledger) -> Mark {
    (l.history.mark(), l.seen.mark())
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<i64>) {
    out.push(u8::from(v.is_some()));
    put_i64(out, v.unwrap_or(0));
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_base(out: &mut Vec<u8>, s: &State, accounts: &Accounts) {
    for v in s.quantities() {
        put_i64(out, v);
    }
    put_i64(out, s.orders.size() as i64);
    for (order, qty) in s.orders.iter() {
        put_bytes(out, order.as_bytes());
        put_i64(out, *qty);
    }
    put_i64(out, s.order_accounts.size() as i64);
    for (order, account) in s.order_accounts.iter() {
        put_bytes(out, order.as_bytes());
        put_bytes(out, account.as_bytes());
    }
    put_i64(out, accounts.len() as i64);
    for (account, qty) in accounts {
        put_bytes(out, account.as_bytes());
        put_i64(out, *qty);
    }
}

/// The whole stored form of `l` (`sku` and `location` as UTF-8, surrogates passed).
pub fn whole(l: &Ledger, sku: &[u8], location: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + l.history.blob.len() + 24 * l.seen.len());
    out.push(WHOLE);
    put_bytes(&mut out, sku);
    put_bytes(&mut out, location);
    put_i64(&mut out, l.version);
    put_opt(&mut out, l.as_of);
    put_i64(&mut out, l.seen_pruned_at);
    put_bytes(&mut out, &l.seen.state());
    put_bytes(&mut out, &l.history.blob);
    let (base, accounts) = l.history.base();
    put_base(&mut out, base, accounts);
    out
}

/// What `l`'s stored form gained since `mark` (None: it must be written whole).
pub fn delta(l: &Ledger, since: Mark) -> Option<Vec<u8>> {
    let (drop, keep, tail) = l.history.since(since.0)?;
    let seen = l.seen.since(since.1)?;
    let mut out = Vec::with_capacity(64 + tail.len() + seen.len());
    out.push(DELTA);
    put_i64(&mut out, l.version);
    put_opt(&mut out, l.as_of);
    put_i64(&mut out, l.seen_pruned_at);
    put_bytes(&mut out, &seen);
    put_i64(&mut out, drop);
    put_i64(&mut out, keep);
    put_bytes(&mut out, &tail);
    if drop != 0 {
        out.push(1);
        let (base, accounts) = l.history.base();
        put_base(&mut out, base, accounts);
    } else {
        out.push(0);
    }
    Some(out)
}

struct In<'a> {
    b: &'a [u8],
    at: usize,
}

const CUT: &str = "a stored ledger record is cut short";

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or_else(|| CUT.to_owned())?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn opt(&mut self) -> Result<Option<i64>, String> {
        let present = self.byte()?;
        let v = self.i64()?;
        Ok((present != 0).then_some(v))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4"));
        self.take(n as usize)
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| "a stored ledger record holds an id that is not UTF-8".to_owned())
    }

    fn count(&mut self) -> Result<usize, String> {
        usize::try_from(self.i64()?)
            .map_err(|_| "a stored ledger record has a negative count".to_owned())
    }

    fn base(&mut self) -> Result<(State, Accounts), String> {
        let mut q = [0; 6];
        for v in &mut q {
            *v = self.i64()?;
        }
        let mut s = State::of_quantities(q);
        for _ in 0..self.count()? {
            let order = self.text()?;
            s.orders.insert_mut(order, self.i64()?);
        }
        for _ in 0..self.count()? {
            let order = self.text()?;
            s.order_accounts.insert_mut(order, self.text()?);
        }
        let n = self.count()?;
        let mut accounts = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let account = self.text()?;
            accounts.push((account, self.i64()?));
        }
        Ok((s, accounts))
    }

    fn end(&self) -> Result<(), String> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err("a stored ledger record has trailing bytes".to_owned())
        }
    }
}

/// A whole record and the deltas written after it, oldest first, read as one state:
/// (sku, location, the rest).
pub fn read<'a>(
    records: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(Vec<u8>, Vec<u8>, Parts), String> {
    let mut records = records.into_iter();
    let mut r = In {
        b: records.next().ok_or("no stored ledger record")?,
        at: 0,
    };
    if r.byte()? != WHOLE {
        return Err("a key's stored records do not start with a whole state".to_owned());
    }
    let sku = r.bytes()?.to_vec();
    let location = r.bytes()?.to_vec();
    let (version, as_of, seen_pruned_at) = (r.i64()?, r.opt()?, r.i64()?);
    let (seen, blob) = (r.bytes()?.to_vec(), r.bytes()?.to_vec());
    let (base, accounts) = r.base()?;
    r.end()?;
    let mut p = Parts {
        version,
        as_of,
        seen_pruned_at,
        seen,
        blob,
        base,
        accounts,
    };
    for record in records {
        let mut r = In { b: record, at: 0 };
        if r.byte()? != DELTA {
            return Err("a whole state after the first of a key's stored records".to_owned());
        }
        p.version = r.i64()?;
        p.as_of = r.opt()?;
        p.seen_pruned_at = r.i64()?;
        p.seen.extend_from_slice(r.bytes()?);
        let (drop, keep) = (r.count()?, r.count()?);
        if drop.checked_add(keep).is_none_or(|end| end > p.blob.len()) {
            return Err("a stored delta does not fit the state before it".to_owned());
        }
        let tail = r.bytes()?;
        p.blob.truncate(drop + keep);
        p.blob.drain(..drop);
        p.blob.extend_from_slice(tail);
        if r.byte()? != 0 {
            (p.base, p.accounts) = r.base()?;
        }
        r.end()?;
    }
    Ok((sku, location, p))
}
