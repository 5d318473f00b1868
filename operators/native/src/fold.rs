//! The fold of `operators/fold.py`, in place: `apply` and `account_delta` of one move,
//! and the packed history entry of `operators/history.py` (same bytes).
//!
//! A state's order maps are persistent HAMTs (`rpds`), as the Python fold's are: a
//! checkpoint's copy of a state shares all of them, and a change copies one path. (Plain
//! maps copied whole at each checkpoint of a key with thousands of open orders were most
//! of the native fold's time.)

use rpds::HashTrieMapSync;

pub type Map<V> = HashTrieMapSync<String, V>;

const RECEIPT: u8 = 0;
const ADJUSTMENT: u8 = 1;
const CYCLE_COUNT: u8 = 2;
const RESERVATION_CREATED: u8 = 3;
pub const RESERVATION_RELEASED: u8 = 4;
pub const PICK_CONFIRMED: u8 = 5;
pub const SHIPMENT_CONFIRMED: u8 = 6;
const TRANSFER_SHIPPED: u8 = 7;
const TRANSFER_RECEIVED: u8 = 8;
const RETURN_RECEIVED: u8 = 9;
const RETURN_DISPOSITIONED: u8 = 10;
const HOLD_PLACED: u8 = 11;
const HOLD_RELEASED: u8 = 12;
pub const BALANCE_SNAPSHOT: u8 = 13;

// status codes: 0 none, then SELLABLE, QUARANTINE, DAMAGED; dispositions: 0 none, then
// RESTOCK, REFURBISH, DAMAGED, SCRAP (the orders of operators/history.py)
const QUARANTINE: u8 = 2;
const DAMAGED: u8 = 3;
const RESTOCK: u8 = 1;
const REFURBISH: u8 = 2;
const DISPOSED_DAMAGED: u8 = 3;
const COUNTERPART: u8 = 0x80;
// in the status nibble (statuses use its low two bits):
const FLAGGED: u8 = 0x04; // from a source the policy flags as not authoritative for it
const ADOPT: u8 = 0x08; // an adopted balance snapshot
const SELLABLE: u8 = 1;

pub type Accounts = Vec<(String, i64)>;

/// The six quantities' names, in `State::quantities` order.
pub const BUCKET_NAMES: [&str; 6] = [
    "sellable",
    "reserved",
    "picked",
    "quarantine",
    "damaged",
    "in_transit",
];

/// (occurred_at, source_sequence, event_id): the order of postings within a key.
pub type OrderKey = (i64, i64, String);

/// What the fold reads of a posting (`operators.fold.Move`); empty ids are none.
#[derive(Clone, Debug)]
pub struct Move {
    pub event_type: u8,
    pub qty: i64,
    pub order_id: Option<String>,
    pub account_id: Option<String>,
    pub status: u8,
    pub disposition: u8,
    pub counterpart: bool,
    /// A balance snapshot whose figure becomes the bucket's (the policy's `adopt`).
    pub adopt: bool,
    /// From a source the policy's `sources:` flag as not authoritative for it.
    pub flagged: bool,
}

/// `operators.fold.Buckets`.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct State {
    pub sellable: i64,
    pub reserved: i64,
    pub picked: i64,
    pub quarantine: i64,
    pub damaged: i64,
    pub in_transit: i64,
    pub orders: Map<i64>,
    pub order_accounts: Map<String>,
}

impl State {
    pub fn is_empty(&self) -> bool {
        *self == State::default()
    }

    /// The six quantities, in `operators.fold.Buckets` order (the order of the Python
    /// snapshot form's base and of the stored records').
    pub fn quantities(&self) -> [i64; 6] {
        [
            self.sellable,
            self.reserved,
            self.picked,
            self.quarantine,
            self.damaged,
            self.in_transit,
        ]
    }

    /// A state of these quantities (in `quantities` order) and no open orders.
    pub fn of_quantities(q: [i64; 6]) -> Self {
        let [sellable, reserved, picked, quarantine, damaged, in_transit] = q;
        Self {
            sellable,
            reserved,
            picked,
            quarantine,
            damaged,
            in_transit,
            ..Self::default()
        }
    }

    /// What a balance snapshot of `status` reports on: 0 (none) on hand, else the bucket
    /// (on hand fits int64: `apply` keeps it so).
    pub fn figure(&self, status: u8) -> i64 {
        match status {
            0 => self.sellable + self.picked + self.quarantine + self.damaged,
            QUARANTINE => self.quarantine,
            DAMAGED => self.damaged,
            _ => self.sellable,
        }
    }

    pub fn open(&self, order: &str) -> i64 {
        self.orders.get(order).copied().unwrap_or(0)
    }

    /// The order's open quantity becomes `remaining` (dropped at 0 or less).
    fn set_open(&mut self, order: &str, remaining: i64) {
        if remaining > 0 {
            self.orders.insert_mut(order.to_owned(), remaining);
        } else {
            self.orders.remove_mut(order);
        }
    }
}

/// Applying the move would take a figure beyond int64: a bucket, on hand, available
/// before its floor at zero, an order's open quantity or an account's net reservations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Overflow;

fn add(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

fn sub(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

/// Whether `delta` can be added to the accounts' net reservations.
pub fn check_account(accounts: &Accounts, delta: &Option<(String, i64)>) -> Result<(), Overflow> {
    if let Some((account, q)) = delta {
        if let Some((_, held)) = accounts.iter().find(|(a, _)| a == account) {
            add(*held, *q)?;
        }
    }
    Ok(())
}

/// `delta` added to the accounts' net reservations; on `Overflow` they are left as they were.
pub fn add_account(accounts: &mut Accounts, delta: Option<(String, i64)>) -> Result<(), Overflow> {
    if let Some((account, q)) = delta {
        match accounts.iter_mut().find(|(a, _)| *a == account) {
            Some(entry) => entry.1 = add(entry.1, q)?,
            None => accounts.push((account, q)),
        }
    }
    Ok(())
}

/// How a move changes an account's net reservations, given the state before it.
pub fn account_delta(s: &State, m: &Move) -> Option<(String, i64)> {
    if m.counterpart {
        return None;
    }
    match m.event_type {
        RESERVATION_CREATED => m.account_id.clone().map(|a| (a, m.qty)),
        RESERVATION_RELEASED => {
            let order = m.order_id.as_deref().unwrap_or("");
            let account = s.order_accounts.get(order)?;
            let released = m.qty.min(s.open(order));
            (released > 0).then(|| (account.clone(), -released))
        }
        _ => None,
    }
}

/// The state after one move (`operators.fold.apply`), in place; on `Overflow` the
/// state is left as it was. The six figures are worked out first, checked, and only
/// then written with the order change.
pub fn apply(s: &mut State, m: &Move) -> Result<(), Overflow> {
    let q = m.qty;
    let [mut sellable, mut reserved, mut picked, mut quarantine, mut damaged, mut in_transit] =
        s.quantities();
    let order = m.order_id.as_deref().unwrap_or("");
    // (the order's open quantity after the move, whether the move creates it)
    let mut order_change: Option<(i64, bool)> = None;
    if m.counterpart {
        in_transit = add(in_transit, q)?;
    } else {
        match m.event_type {
            RECEIPT | ADJUSTMENT => match m.status {
                QUARANTINE => quarantine = add(quarantine, q)?,
                DAMAGED => damaged = add(damaged, q)?,
                _ => sellable = add(sellable, q)?,
            },
            CYCLE_COUNT => sellable = q,
            RESERVATION_CREATED => {
                order_change = Some((add(s.open(order), q)?, true));
                reserved = add(reserved, q)?;
            }
            RESERVATION_RELEASED | PICK_CONFIRMED => {
                let open = s.open(order);
                let c = q.min(open);
                if c > 0 {
                    order_change = Some((open - c, false));
                    reserved = sub(reserved, c)?;
                }
                if m.event_type == PICK_CONFIRMED {
                    sellable = sub(sellable, q)?;
                    picked = add(picked, q)?;
                }
            }
            SHIPMENT_CONFIRMED => picked = sub(picked, q)?,
            TRANSFER_SHIPPED => sellable = sub(sellable, q)?,
            TRANSFER_RECEIVED => {
                sellable = add(sellable, q)?;
                in_transit = sub(in_transit, q)?;
            }
            RETURN_RECEIVED => quarantine = add(quarantine, q)?,
            RETURN_DISPOSITIONED => {
                quarantine = sub(quarantine, q)?;
                match m.disposition {
                    RESTOCK => sellable = add(sellable, q)?,
                    REFURBISH | DISPOSED_DAMAGED => damaged = add(damaged, q)?,
                    _ => {} // SCRAP leaves the building
                }
            }
            HOLD_PLACED => {
                sellable = sub(sellable, q)?;
                quarantine = add(quarantine, q)?;
            }
            HOLD_RELEASED => {
                sellable = add(sellable, q)?;
                quarantine = sub(quarantine, q)?;
            }
            BALANCE_SNAPSHOT if m.adopt => match m.status {
                // an adopted balance snapshot: its figure becomes the bucket's
                QUARANTINE => quarantine = q,
                DAMAGED => damaged = q,
                SELLABLE => sellable = q,
                _ => {
                    // on hand: the difference goes to sellable, as a count's does
                    let on_hand = [sellable, picked, quarantine, damaged]
                        .map(i128::from)
                        .iter()
                        .sum::<i128>();
                    let moved = i128::from(sellable) + i128::from(q) - on_hand;
                    sellable = i64::try_from(moved).map_err(|_| Overflow)?;
                }
            },
            _ => {} // BALANCE_SNAPSHOT: reconciliation input only
        }
    }
    // on hand, and available before it is floored at zero, must be figures too
    let on_hand = [sellable, picked, quarantine, damaged]
        .map(i128::from)
        .iter()
        .sum::<i128>();
    i64::try_from(on_hand).map_err(|_| Overflow)?;
    sub(sellable, reserved)?;
    if let Some((open, created)) = order_change {
        s.set_open(order, open);
        if created {
            if let Some(account) = &m.account_id {
                if s.order_accounts.get(order) != Some(account) {
                    s.order_accounts
                        .insert_mut(order.to_owned(), account.clone());
                }
            }
        } else if !s.orders.contains_key(order) {
            s.order_accounts.remove_mut(order);
        }
    }
    (s.sellable, s.reserved, s.picked) = (sellable, reserved, picked);
    (s.quarantine, s.damaged, s.in_transit) = (quarantine, damaged, in_transit);
    Ok(())
}

const HEAD: usize = 38; // struct "<qqqBBIII"

/// Append one packed entry (the bytes `operators.history.encode` makes).
pub fn encode(out: &mut Vec<u8>, key: &OrderKey, m: &Move) {
    let oid = m.order_id.as_deref().unwrap_or("").as_bytes();
    let acc = m.account_id.as_deref().unwrap_or("").as_bytes();
    out.extend_from_slice(&key.0.to_le_bytes());
    out.extend_from_slice(&key.1.to_le_bytes());
    out.extend_from_slice(&m.qty.to_le_bytes());
    out.push(m.event_type | if m.counterpart { COUNTERPART } else { 0 });
    let marks = if m.adopt { ADOPT } else { 0 } | if m.flagged { FLAGGED } else { 0 };
    out.push(m.status | marks | (m.disposition << 4));
    for part in [key.2.as_bytes(), oid, acc] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(key.2.as_bytes());
    out.extend_from_slice(oid);
    out.extend_from_slice(acc);
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize
}

fn text(b: &[u8]) -> Result<Option<String>, String> {
    if b.is_empty() {
        return Ok(None);
    }
    String::from_utf8(b.to_vec())
        .map(Some)
        .map_err(|_| "an entry's id is not UTF-8".to_owned())
}

/// One decoded entry: its key, its move, and its byte offset.
pub type Entry = (OrderKey, Move, usize);

/// Every entry from `offset` (an entry boundary) to the end.
pub fn decode(blob: &[u8], mut offset: usize) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    while offset < blob.len() {
        if offset + HEAD > blob.len() {
            return Err("a history entry is cut short".to_owned());
        }
        let at = offset;
        let (op, sub) = (blob[at + 24], blob[at + 25]);
        let lens = [
            u32_at(blob, at + 26),
            u32_at(blob, at + 30),
            u32_at(blob, at + 34),
        ];
        offset += HEAD;
        let mut parts = [None, None, None];
        for (part, n) in parts.iter_mut().zip(lens) {
            if offset + n > blob.len() {
                return Err("a history entry is cut short".to_owned());
            }
            *part = text(&blob[offset..offset + n])?;
            offset += n;
        }
        let [eid, oid, acc] = parts;
        let key = (
            i64_at(blob, at),
            i64_at(blob, at + 8),
            eid.unwrap_or_default(),
        );
        let m = Move {
            event_type: op & !COUNTERPART,
            qty: i64_at(blob, at + 16),
            order_id: oid,
            account_id: acc,
            status: sub & 0x03,
            disposition: sub >> 4,
            counterpart: op & COUNTERPART != 0,
            adopt: sub & ADOPT != 0,
            flagged: sub & FLAGGED != 0,
        };
        if m.event_type > 13 || m.status > 3 || m.disposition > 4 {
            return Err("a history entry has an unknown code".to_owned());
        }
        out.push((key, m, at));
    }
    Ok(out)
}
