//! The per-key ledger of `operators/ledger.py` (`KeyLedger`, `History`, `SeenIds`):
//! deduplicated, ordered, late-tolerant folding of one (sku, location), with the same
//! decisions, the same snapshot form (byte for byte) and the same deltas. The Python
//! classes are the reference; `tests/operators/test_native_ledger.py` holds this to them.

use std::collections::{HashMap, HashSet};

use crate::anomalies::{detect, Before};
use crate::fold::{
    account_delta, add_account, apply, check_account, decode, encode, Accounts, Move, OrderKey,
    Overflow, State, BALANCE_SNAPSHOT,
};

pub const CHECKPOINT_EVERY: usize = 32;
const SPLICES_KEPT: usize = 16;
const INDEX_FROM: usize = 48;
const HOUR_MS: i64 = 3_600_000;

/// Ids of events already seen: (id hash, payload digest, event time), in arrival order.
#[derive(Default)]
pub struct SeenIds {
    triples: Vec<[i64; 3]>,
    index: Option<HashMap<i64, usize>>,
    forgets: i64,
}

impl SeenIds {
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    pub fn digest_of(&mut self, id_hash: i64) -> Option<i64> {
        if self.index.is_none() {
            if self.triples.len() < INDEX_FROM {
                return self.triples.iter().find(|t| t[0] == id_hash).map(|t| t[1]);
            }
            self.index = Some(
                self.triples
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t[0], i))
                    .collect(),
            );
        }
        let i = *self.index.as_ref()?.get(&id_hash)?;
        Some(self.triples[i][1])
    }

    pub fn add(&mut self, id_hash: i64, digest: i64, occurred_at: i64) {
        if let Some(index) = &mut self.index {
            index.insert(id_hash, self.triples.len());
        }
        self.triples.push([id_hash, digest, occurred_at]);
    }

    fn forget_before(&mut self, cutoff: i64) {
        let before = self.triples.len();
        self.triples.retain(|t| t[2] >= cutoff);
        if self.triples.len() != before {
            self.index = None;
            self.forgets += 1;
        }
    }

    /// The marked form of `operators.dedup.SeenIds.mark`: (int64s stored, forgets).
    pub fn mark(&self) -> (i64, i64) {
        (3 * self.triples.len() as i64, self.forgets)
    }

    pub fn since(&self, (length, forgets): (i64, i64)) -> Option<Vec<u8>> {
        (forgets == self.forgets).then(|| Self::bytes(&self.triples[(length / 3) as usize..]))
    }

    pub fn bytes(triples: &[[i64; 3]]) -> Vec<u8> {
        triples
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    pub fn state(&self) -> Vec<u8> {
        Self::bytes(&self.triples)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, String> {
        if !b.len().is_multiple_of(24) {
            return Err("the seen ids are not whole triples".to_owned());
        }
        let v: Vec<i64> = b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Self {
            triples: v.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect(),
            index: None,
            forgets: 0,
        })
    }
}

/// The pseudo id a rejected payload of an id is remembered under, so the same rejection
/// re-sent is reported once (`operators.dedup.reported_key`).
pub fn reported_key(id_hash: i64, digest: i64) -> i64 {
    ((id_hash as u64) ^ (digest as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(17) as i64
}

/// (byte offset, state before the entry, accounts before it).
type Checkpoint = (usize, State, Accounts);

/// Retained postings in order, packed as `operators.history.History` packs them.
#[derive(Default)]
pub struct History {
    pub blob: Vec<u8>,
    times: Vec<i64>,
    checkpoints: Vec<Checkpoint>,
    pub last_key: Option<OrderKey>,
    dropped: i64,
    spliced: i64,
    splices: Vec<(i64, i64)>,
}

/// What must be re-folded: from entry `start`, from (state, accounts), these moves (at
/// their offsets once `splice` is in, with their keys).
pub struct Refold {
    start: usize,
    state: State,
    accounts: Accounts,
    moves: Vec<(Move, usize, OrderKey)>,
    splice: Option<Splice>,
}

/// A balance snapshot against the fold at its position (`operators.reconciliation.BalanceCheck`);
/// `bucket` is its status code (0: on hand).
pub struct Check {
    pub event_id: String,
    pub source: Option<String>,
    pub correlation: Option<String>,
    pub bucket: u8,
    pub reported: i64,
    pub computed: i64,
    pub as_of: i64,
    pub version: i64,
    pub adopted: bool,
}

impl Check {
    fn of(key: &OrderKey, m: &Move, state: &State, version: i64) -> Self {
        Self {
            event_id: key.2.clone(),
            source: m.account_id.clone(),
            correlation: m.order_id.clone(),
            bucket: m.status,
            reported: m.qty,
            computed: state.figure(m.status),
            as_of: key.0,
            version,
            adopted: m.adopt,
        }
    }
}

/// An anomaly of a posting (`operators.anomalies.AnomalyCheck`): found, changed, or
/// `cleared` when a re-fold no longer finds it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AnomalyCheck {
    pub event_id: String,
    pub event_type: u8,
    pub reason: u8,
    pub subject: String,
    pub figure: i64,
    pub quantity: i64,
    pub before: [i64; 6],
    pub after: [i64; 6],
    pub as_of: i64,
    pub version: i64,
    pub cleared: bool,
}

impl AnomalyCheck {
    /// Whether two checks say the same, whatever their versions.
    fn same(&self, other: &Self) -> bool {
        Self {
            version: other.version,
            ..self.clone()
        } == *other
    }
}

/// `detect`'s findings on one posting as the checks the ledger emits.
fn findings(
    key: &OrderKey,
    m: &Move,
    before: &Before,
    after: &State,
    version: i64,
) -> Vec<AnomalyCheck> {
    let found = detect(before, m, after);
    if found.is_empty() {
        return Vec::new();
    }
    let now = after.quantities();
    found
        .into_iter()
        .map(|f| AnomalyCheck {
            event_id: key.2.clone(),
            event_type: m.event_type,
            reason: f.reason,
            subject: f.subject,
            figure: f.figure,
            quantity: m.qty,
            before: before.quantities,
            after: now,
            as_of: key.0,
            version,
            cleared: false,
        })
        .collect()
}

/// (event_id, reason) -> the check last emitted for it.
type Flags = HashMap<(String, u8), AnomalyCheck>;

/// A late entry's bytes, where they go, and its time's place: what `History::commit`
/// writes once its re-fold has been found to fit.
pub struct Splice {
    at: usize,
    data: Vec<u8>,
    index: usize,
    time: i64,
}

impl History {
    fn new(base: State, accounts: Accounts) -> Self {
        Self {
            checkpoints: vec![(0, base, accounts)],
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether the next append starts a block (and so takes a checkpoint).
    fn wants_checkpoint(&self) -> bool {
        let n = self.times.len();
        n.is_multiple_of(CHECKPOINT_EVERY) && n / CHECKPOINT_EVERY == self.checkpoints.len()
    }

    /// `checkpoint`: the state and accounts before the entry, when `wants_checkpoint`.
    fn append(&mut self, key: OrderKey, m: &Move, checkpoint: Option<(State, Accounts)>) {
        if let Some((state, accounts)) = checkpoint {
            self.checkpoints.push((self.blob.len(), state, accounts));
        }
        encode(&mut self.blob, &key, m);
        self.times.push(key.0);
        self.last_key = Some(key);
    }

    /// What inserting a posting that sorts before the last one re-folds; nothing changes
    /// until `commit` takes the refold's splice.
    fn insert(&self, key: OrderKey, m: Move) -> Result<Refold, String> {
        let block = self.times.partition_point(|&t| t < key.0) / CHECKPOINT_EVERY;
        let (offset, state, accounts) = self.checkpoints[block].clone();
        let entries = decode(&self.blob, offset)?;
        let i = entries.partition_point(|(k, _, _)| *k <= key);
        let at = entries.get(i).map_or(self.blob.len(), |e| e.2);
        let mut data = Vec::new();
        encode(&mut data, &key, &m);
        let start = block * CHECKPOINT_EVERY;
        let mut moves: Vec<(Move, usize, OrderKey)> = Vec::with_capacity(entries.len() + 1);
        for (j, (k, mv, o)) in entries.into_iter().enumerate() {
            if j == i {
                moves.push((m.clone(), at, key.clone()));
            }
            moves.push((mv, if j >= i { o + data.len() } else { o }, k));
        }
        if moves.len() == i {
            moves.push((m, at, key.clone()));
        }
        let splice = Splice {
            at,
            data,
            index: start + i,
            time: key.0,
        };
        Ok(Refold {
            start,
            state,
            accounts,
            moves,
            splice: Some(splice),
        })
    }

    fn commit(&mut self, s: Splice) {
        self.blob.splice(s.at..s.at, s.data);
        self.spliced += 1;
        self.splices
            .push((self.spliced, s.at as i64 + self.dropped));
        if self.splices.len() > SPLICES_KEPT {
            self.splices.remove(0);
        }
        self.times.insert(s.index, s.time);
    }

    /// Everything from the base: what a restored key re-folds (and its times rebuilt).
    fn everything(&mut self) -> Result<Refold, String> {
        let (_, state, accounts) = self.checkpoints[0].clone();
        let entries = decode(&self.blob, 0)?;
        self.times = entries.iter().map(|(k, _, _)| k.0).collect();
        self.last_key = entries.last().map(|(k, _, _)| k.clone());
        Ok(Refold {
            start: 0,
            state,
            accounts,
            moves: entries.into_iter().map(|(k, m, o)| (m, o, k)).collect(),
            splice: None,
        })
    }

    /// Whether it dropped anything.
    fn compact(&mut self, cutoff: i64) -> bool {
        let blocks = self.times.partition_point(|&t| t < cutoff) / CHECKPOINT_EVERY;
        if blocks == 0 {
            return false;
        }
        let start = self.checkpoints[blocks].0;
        self.blob.drain(..start);
        self.dropped += start as i64;
        self.times.drain(..blocks * CHECKPOINT_EVERY);
        self.checkpoints.drain(..blocks);
        for c in &mut self.checkpoints {
            c.0 -= start;
        }
        true
    }

    pub fn mark(&self) -> (i64, i64, i64) {
        (self.dropped, self.blob.len() as i64, self.spliced)
    }

    /// (bytes dropped from the front since the mark, bytes kept after them, the rest).
    pub fn since(
        &self,
        (dropped, length, spliced): (i64, i64, i64),
    ) -> Option<(i64, i64, Vec<u8>)> {
        let mut changed = dropped + length;
        if spliced != self.spliced {
            let recent: Vec<i64> = self
                .splices
                .iter()
                .filter(|(n, _)| *n > spliced)
                .map(|(_, o)| *o)
                .collect();
            if (recent.len() as i64) < self.spliced - spliced {
                return None;
            }
            changed = recent.into_iter().fold(changed, i64::min);
        }
        let keep = changed - self.dropped;
        if keep < 0 {
            return None;
        }
        Some((
            self.dropped - dropped,
            keep,
            self.blob[keep as usize..].to_vec(),
        ))
    }

    pub fn base(&self) -> (&State, &Accounts) {
        let (_, s, a) = &self.checkpoints[0];
        (s, a)
    }
}

/// Why a posting or keyed rejection did not simply fold (the shell makes the rejection).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Note {
    NewRejection = 0,
    DuplicateRejection = 1,
    ConflictingRejection = 2,
    Conflicting = 3,
    BeyondRetention = 4,
    LateBeyondHorizon = 5,
    Overflow = 6,
}

/// A posting as the ledger reads it.
pub struct Posting {
    pub key: OrderKey,
    pub m: Move,
    pub id_hash: i64,
    pub digest: i64,
}

/// What one posting did: applied (late or not), a duplicate, or noted only.
#[derive(PartialEq, Eq)]
pub enum Outcome {
    Applied { late: bool },
    Duplicate,
    NotApplied,
}

/// A ledger's snapshot form (`KeyLedger.to_state`'s, less the key): what it is restored
/// from, the head, accounts and checkpoints being re-folded from the history.
pub struct Parts {
    pub version: i64,
    pub as_of: Option<i64>,
    pub seen_pruned_at: i64,
    /// The seen ids' (id hash, digest, event time) triples as little-endian int64s.
    pub seen: Vec<u8>,
    pub blob: Vec<u8>,
    pub base: State,
    pub accounts: Accounts,
}

pub struct Ledger {
    pub version: i64,
    pub as_of: Option<i64>,
    pub head: State,
    pub accounts: Accounts,
    /// Counts changes to `accounts`, so the shell can keep its sorted view until the next.
    pub accounts_changes: u64,
    pub seen: SeenIds,
    pub seen_pruned_at: i64,
    pub history: History,
    pub horizon_ms: i64,
    pub retention_ms: i64,
    /// Balance checks the last posting made, for the shell to take.
    pub checks: Vec<Check>,
    /// The anomalies of retained postings, as last emitted.
    pub flags: Flags,
    /// Anomalies the last posting found, changed or cleared, for the shell to take.
    pub anomalies: Vec<AnomalyCheck>,
}

impl Ledger {
    pub fn new(horizon_ms: i64, retention_ms: i64) -> Self {
        Self {
            version: 0,
            as_of: None,
            head: State::default(),
            accounts: Vec::new(),
            accounts_changes: 0,
            seen: SeenIds::default(),
            seen_pruned_at: 0,
            history: History::new(State::default(), Vec::new()),
            horizon_ms,
            retention_ms,
            checks: Vec::new(),
            flags: Flags::new(),
            anomalies: Vec::new(),
        }
    }

    /// Rebuilt from the snapshot form: the head, accounts and checkpoints re-folded.
    pub fn restore(p: Parts, horizon_ms: i64, retention_ms: i64) -> Result<Self, String> {
        let mut history = History::new(p.base, p.accounts);
        history.blob = p.blob;
        let mut ledger = Self {
            version: p.version,
            as_of: p.as_of,
            head: State::default(),
            accounts: Vec::new(),
            accounts_changes: 0,
            seen: SeenIds::from_bytes(&p.seen)?,
            seen_pruned_at: p.seen_pruned_at,
            history,
            horizon_ms,
            retention_ms,
            checks: Vec::new(),
            flags: Flags::new(),
            anomalies: Vec::new(),
        };
        let refold = ledger.history.everything()?;
        ledger
            .refold(refold)
            .map_err(|_| "a stored history folds beyond int64".to_owned())?;
        Ok(ledger)
    }

    /// The first digest seen with a keyed rejection's id decides it (see `_on_rejection`).
    pub fn on_rejection(&mut self, id_hash: i64, digest: i64, occurred_at: Option<i64>) -> Note {
        let at = occurred_at.or(self.as_of).unwrap_or(0);
        let first = self.seen.digest_of(id_hash);
        if first == Some(digest) || !self.first_report(id_hash, digest, at) {
            return Note::DuplicateRejection;
        }
        match first {
            None => Note::NewRejection,
            Some(_) => Note::ConflictingRejection,
        }
    }

    /// Whether this payload of an id has not been rejected before; then it is remembered
    /// under `reported_key`, not the id (only an accepted event makes its id seen, so a
    /// fixed or corrected re-send is applied), and a re-send of it is a duplicate.
    fn first_report(&mut self, id_hash: i64, digest: i64, at: i64) -> bool {
        let key = reported_key(id_hash, digest);
        if self.seen.digest_of(key).is_some() {
            return false;
        }
        self.seen.add(key, digest, at);
        true
    }

    /// One posting (see `KeyLedger._on_posting`); `note` gets its rejection, if any.
    pub fn on_posting(&mut self, p: Posting, note: &mut Option<Note>) -> Result<Outcome, String> {
        if let Some(first) = self.seen.digest_of(p.id_hash) {
            if first == p.digest || !self.first_report(p.id_hash, p.digest, p.key.0) {
                return Ok(Outcome::Duplicate);
            }
            *note = Some(Note::Conflicting);
            return Ok(Outcome::NotApplied);
        }
        let t = p.key.0;
        let (id_hash, digest) = (p.id_hash, p.digest);
        let beyond_horizon = self
            .as_of
            .is_some_and(|as_of| t < as_of.saturating_sub(self.horizon_ms));
        let (why, at) = match self.as_of {
            Some(as_of) if t < as_of.saturating_sub(self.retention_ms) => {
                (Note::BeyondRetention, as_of)
            }
            _ => match self.insert(p.key, p.m)? {
                Ok(late) => {
                    self.seen.add(id_hash, digest, t);
                    if beyond_horizon {
                        *note = Some(Note::LateBeyondHorizon);
                    }
                    return Ok(Outcome::Applied { late });
                }
                Err(Overflow) => (Note::Overflow, t),
            },
        };
        if !self.first_report(id_hash, digest, at) {
            return Ok(Outcome::Duplicate);
        }
        *note = Some(why);
        Ok(Outcome::NotApplied)
    }

    /// Apply one posting in order (Ok(true) when it arrived out of order), or nothing
    /// at all when it would take a figure beyond int64.
    fn insert(&mut self, key: OrderKey, m: Move) -> Result<Result<bool, Overflow>, String> {
        let t = key.0;
        let late = self
            .history
            .last_key
            .as_ref()
            .is_some_and(|last| key <= *last);
        if late {
            let refold = self.history.insert(key, m)?;
            if let Err(overflow) = self.refold(refold) {
                return Ok(Err(overflow));
            }
        } else {
            let delta = account_delta(&self.head, &m);
            if let Err(overflow) = check_account(&self.accounts, &delta) {
                return Ok(Err(overflow));
            }
            let checkpoint = self
                .history
                .wants_checkpoint()
                .then(|| (self.head.clone(), self.accounts.clone()));
            let before = Before::of(&self.head, &m);
            // a balance snapshot is checked against the head before it (which it changes if adopted)
            let check = (m.event_type == BALANCE_SNAPSHOT)
                .then(|| Check::of(&key, &m, &self.head, self.version + 1));
            if let Err(overflow) = apply(&mut self.head, &m) {
                return Ok(Err(overflow));
            }
            self.checks.extend(check);
            for check in findings(&key, &m, &before, &self.head, self.version + 1) {
                self.flags
                    .insert((check.event_id.clone(), check.reason), check.clone());
                self.anomalies.push(check);
            }
            self.history.append(key, &m, checkpoint);
            self.accounts_changes += u64::from(delta.is_some());
            add_account(&mut self.accounts, delta).expect("checked above");
        }
        self.version += 1;
        if self.as_of.is_none_or(|a| t > a) {
            self.as_of = Some(t);
        }
        Ok(Ok(late))
    }

    /// Re-fold `r` into the head, the accounts and the checkpoints after its start, and
    /// commit its splice; the balance snapshots from the spliced posting on are checked
    /// again. On `Overflow` nothing changes.
    fn refold(&mut self, r: Refold) -> Result<(), Overflow> {
        let Refold {
            start,
            mut state,
            mut accounts,
            moves,
            splice,
        } = r;
        let restore = splice.is_none();
        let after = splice.as_ref().map_or(0, |s| s.index - start);
        let version = self.version + 1;
        let mut checkpoints = Vec::new();
        let mut checks = Vec::new();
        let mut found = Vec::new();
        for (i, (m, offset, key)) in moves.iter().enumerate() {
            if i > 0 && (start + i) % CHECKPOINT_EVERY == 0 {
                checkpoints.push((*offset, state.clone(), accounts.clone()));
            }
            if i >= after && m.event_type == BALANCE_SNAPSHOT && !restore {
                checks.push(Check::of(key, m, &state, version));
            }
            add_account(&mut accounts, account_delta(&state, m))?;
            let before = (i >= after).then(|| Before::of(&state, m));
            apply(&mut state, m)?;
            if let Some(before) = before {
                found.extend(findings(key, m, &before, &state, version));
            }
        }
        self.checks.extend(checks);
        self.reflag(found, &moves[after..], restore);
        if let Some(splice) = splice {
            self.history.commit(splice);
        }
        self.accounts = accounts;
        self.accounts_changes += 1;
        let first = start / CHECKPOINT_EVERY + 1;
        self.history.checkpoints.truncate(first);
        self.history.checkpoints.extend(checkpoints);
        self.head = state;
        Ok(())
    }

    /// Take `found`, the anomalies of the `refolded` postings: those new or changed are
    /// emitted, and those no longer found are emitted `cleared` (a restore emits none).
    fn reflag(
        &mut self,
        found: Vec<AnomalyCheck>,
        refolded: &[(Move, usize, OrderKey)],
        restore: bool,
    ) {
        if restore {
            self.flags = found
                .into_iter()
                .map(|c| ((c.event_id.clone(), c.reason), c))
                .collect();
            return;
        }
        if !self.flags.is_empty() {
            let ids: HashSet<&str> = refolded.iter().map(|(_, _, k)| k.2.as_str()).collect();
            let kept: HashSet<(&str, u8)> = found
                .iter()
                .map(|c| (c.event_id.as_str(), c.reason))
                .collect();
            let mut gone: Vec<(String, u8)> = self
                .flags
                .keys()
                .filter(|(e, r)| ids.contains(e.as_str()) && !kept.contains(&(e.as_str(), *r)))
                .cloned()
                .collect();
            gone.sort();
            for flag in gone {
                let held = self.flags.remove(&flag).expect("listed above");
                self.anomalies.push(AnomalyCheck {
                    version: self.version + 1,
                    cleared: true,
                    ..held
                });
            }
        }
        for check in found {
            let flag = (check.event_id.clone(), check.reason);
            if self.flags.get(&flag).is_none_or(|held| !held.same(&check)) {
                self.flags.insert(flag, check.clone());
                self.anomalies.push(check);
            }
        }
    }

    /// After a batch that applied something: drop history older than the horizon (and
    /// the anomalies of what it drops), forget expired ids.
    pub fn compact(&mut self) {
        let as_of = self.as_of.expect("compacted after an applied posting");
        if self.history.compact(as_of.saturating_sub(self.horizon_ms)) && !self.flags.is_empty() {
            match self.history.times.first() {
                Some(&first) => self.flags.retain(|_, c| c.as_of >= first),
                None => self.flags.clear(),
            }
        }
        if as_of.saturating_sub(self.seen_pruned_at) > HOUR_MS.max(self.retention_ms / 64) {
            self.seen
                .forget_before(as_of.saturating_sub(self.retention_ms));
            self.seen_pruned_at = as_of;
        }
    }

    /// Net reservations per account, sorted, without zeros.
    pub fn accounts_sorted(&self) -> Accounts {
        let mut v: Accounts = self
            .accounts
            .iter()
            .filter(|(_, q)| *q != 0)
            .cloned()
            .collect();
        v.sort();
        v
    }
}
