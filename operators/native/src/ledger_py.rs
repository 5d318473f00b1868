//! Python face of the native ledger: `LedgerKit` (settings, the classes it builds, the
//! per-type counts for metrics) makes and restores `Ledger`s; a `Ledger` folds the
//! postings and keyed rejections of a batch, as `KeyLedger.on_batch` does. Rejections
//! are left to the shell as notes `(code, item)`, since they are rare and carry text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::check_enums;
use crate::fold::{Accounts, Map, Move, State, BALANCE_SNAPSHOT};

/// `operators.ledger.MAX_CORRELATION_IDS`.
const MAX_CORRELATION_IDS: usize = 32;
/// `operators.ledger.MAX_SOURCE_SYSTEMS`.
const MAX_SOURCE_SYSTEMS: usize = 32;

/// `operators.ledger._note`: a distinct non-empty value noted in order, the newest `cap` kept.
fn note_distinct<'py>(
    seen: &mut Vec<Bound<'py, PyAny>>,
    value: Bound<'py, PyAny>,
    cap: usize,
) -> PyResult<()> {
    if value.is_none() || !value.is_truthy()? {
        return Ok(());
    }
    for v in seen.iter() {
        if v.eq(&value)? {
            return Ok(());
        }
    }
    seen.push(value);
    if seen.len() > cap {
        seen.remove(0); // keep the newest: a snapshot stays small
    }
    Ok(())
}
/// `operators.changes.MAX_CAUSES`.
const MAX_CAUSES: usize = 256;

/// The note codes of a balance check and an anomaly check (after `ledger::Note`'s).
const BALANCE_CHECK: u8 = 7;
const ANOMALY_CHECK: u8 = 8;
/// A duplicate posting (the item itself): counted by event type and source system in Python.
const DUPLICATE_POSTING: u8 = 9;
use crate::ledger::{self, Outcome};
use crate::record::{self, Mark};
use crate::render;

/// See `Ledger::written`.
type Written = (Mark, usize, usize);
use crate::rules::EVENT_TYPES;

const TYPES: usize = EVENT_TYPES.len();

struct Kit {
    horizon_ms: i64,
    retention_ms: i64,
    snapshot_cls: PyObject,
    change_cls: PyObject,
    tuple_new: PyObject,
    event_types: Vec<PyObject>,
    statuses: Vec<PyObject>,
    dispositions: Vec<PyObject>,
    applied: [AtomicU64; TYPES],
    late: [AtomicU64; TYPES],
}

fn invalid(what: impl Into<String>) -> PyErr {
    PyValueError::new_err(what.into())
}

/// The code of an enum member, 1-based; 0 for None. Events carry the members themselves
/// (validation and the native decoder make them so, and they unpickle as themselves).
fn code_of(members: &[PyObject], v: &Bound<'_, PyAny>) -> PyResult<u8> {
    if v.is_none() {
        return Ok(0);
    }
    members
        .iter()
        .position(|m| m.is(v))
        .map(|i| i as u8 + 1)
        .ok_or_else(|| invalid(format!("not a member of the event enums: {v}")))
}

fn opt_text(v: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if v.is_none() {
        return Ok(None);
    }
    let s: String = v.extract()?;
    Ok((!s.is_empty()).then_some(s))
}

fn take(counts: &[AtomicU64; TYPES]) -> Vec<u64> {
    counts
        .iter()
        .map(|c| c.swap(0, Ordering::Relaxed))
        .collect()
}

/// Builds, restores and counts for the native ledgers of a flow.
#[pyclass(module = "operators._native", frozen)]
pub struct LedgerKit(Arc<Kit>);

#[pymethods]
impl LedgerKit {
    /// `classes`: (AvailabilitySnapshot, EventType, Status, Disposition members, Change).
    #[new]
    fn new(
        py: Python<'_>,
        horizon_ms: i64,
        retention_ms: i64,
        classes: (
            PyObject,
            Vec<PyObject>,
            Vec<PyObject>,
            Vec<PyObject>,
            PyObject,
        ),
    ) -> PyResult<Self> {
        let (snapshot_cls, event_types, statuses, dispositions, change_cls) = classes;
        check_enums(py, &event_types, &statuses, &dispositions)?;
        if horizon_ms < 0 || retention_ms < horizon_ms {
            return Err(invalid("need 0 <= horizon <= dedup retention"));
        }
        Ok(Self(Arc::new(Kit {
            horizon_ms,
            retention_ms,
            snapshot_cls,
            change_cls,
            tuple_new: py.get_type::<PyTuple>().getattr("__new__")?.unbind(),
            event_types,
            statuses,
            dispositions,
            applied: Default::default(),
            late: Default::default(),
        })))
    }

    /// An empty ledger of (sku, location).
    fn ledger(&self, sku: Py<PyString>, location: Py<PyString>) -> Ledger {
        let core = ledger::Ledger::new(self.0.horizon_ms, self.0.retention_ms);
        self.wrap(sku, location, core)
    }

    /// A ledger from its snapshot form (`KeyLedger.to_state`'s, or `Ledger.to_state`'s).
    fn restore(&self, state: &Bound<'_, PyTuple>) -> PyResult<Ledger> {
        if state.len() != 9 {
            return Err(invalid("a ledger state has 9 fields"));
        }
        let get = |i: usize| state.get_item(i);
        let parts = ledger::Parts {
            version: get(2)?.extract()?,
            as_of: get(3)?.extract()?,
            seen_pruned_at: get(4)?.extract()?,
            seen: get(5)?.downcast::<PyBytes>()?.as_bytes().to_vec(),
            blob: get(6)?.downcast::<PyBytes>()?.as_bytes().to_vec(),
            base: state_from(&get(7)?)?,
            accounts: get(8)?.extract()?,
        };
        let sku = get(0)?.downcast_into::<PyString>()?.unbind();
        let location = get(1)?.downcast_into::<PyString>()?.unbind();
        self.of_parts(sku, location, parts)
    }

    /// A ledger from its stored records: a whole one and the deltas `persist` made after
    /// it, oldest first. Its next `persist` extends them.
    fn restore_records(
        &self,
        py: Python<'_>,
        records: Vec<Bound<'_, PyBytes>>,
    ) -> PyResult<Ledger> {
        let (sku, location, parts) =
            record::read(records.iter().map(|r| r.as_bytes())).map_err(invalid)?;
        let whole = records[0].as_bytes().len();
        let deltas = records[1..].iter().map(|r| r.as_bytes().len()).sum();
        let mut ledger = self.of_parts(text_of(py, &sku)?, text_of(py, &location)?, parts)?;
        ledger.written = Some((record::mark(&ledger.core), whole, deltas));
        Ok(ledger)
    }

    /// Postings applied, and applied late, per event type since the last call.
    fn take_counts(&self) -> (Vec<u64>, Vec<u64>) {
        let k = &self.0;
        (take(&k.applied), take(&k.late))
    }
}

impl LedgerKit {
    /// The ledger of (sku, location) restored from `parts` (nothing known written yet).
    fn of_parts(
        &self,
        sku: Py<PyString>,
        location: Py<PyString>,
        parts: ledger::Parts,
    ) -> PyResult<Ledger> {
        let core = ledger::Ledger::restore(parts, self.0.horizon_ms, self.0.retention_ms)
            .map_err(invalid)?;
        Ok(self.wrap(sku, location, core))
    }

    fn wrap(&self, sku: Py<PyString>, location: Py<PyString>, core: ledger::Ledger) -> Ledger {
        Ledger {
            kit: self.0.clone(),
            sku,
            location,
            core,
            accounts_view: None,
            written: None,
        }
    }
}

/// A str's UTF-8, surrogates passed (an id is stored as whatever the event carried).
fn utf8_of(py: Python<'_>, s: &Py<PyString>) -> PyResult<Vec<u8>> {
    let s = s.bind(py);
    match s.to_str() {
        Ok(t) => Ok(t.as_bytes().to_vec()),
        Err(_) => s
            .call_method1("encode", ("utf-8", "surrogatepass"))?
            .extract(),
    }
}

fn text_of(py: Python<'_>, b: &[u8]) -> PyResult<Py<PyString>> {
    match std::str::from_utf8(b) {
        Ok(t) => Ok(PyString::new(py, t).unbind()),
        Err(_) => Ok(PyBytes::new(py, b)
            .call_method1("decode", ("utf-8", "surrogatepass"))?
            .downcast_into::<PyString>()?
            .unbind()),
    }
}

fn state_from(base: &Bound<'_, PyAny>) -> PyResult<State> {
    if base.is_none() {
        return Ok(State::default());
    }
    let t = base.downcast::<PyTuple>()?;
    if t.len() != 8 {
        return Err(invalid("a base state has 8 fields"));
    }
    let mut orders = Map::new_sync();
    for pair in t.get_item(6)?.call_method0("items")?.try_iter()? {
        let (k, v): (String, i64) = pair?.extract()?;
        orders.insert_mut(k, v);
    }
    let mut order_accounts = Map::new_sync();
    for pair in t.get_item(7)?.call_method0("items")?.try_iter()? {
        let (k, v): (String, String) = pair?.extract()?;
        order_accounts.insert_mut(k, v);
    }
    let mut q = [0; 6];
    for (i, v) in q.iter_mut().enumerate() {
        *v = t.get_item(i)?.extract()?;
    }
    Ok(State {
        orders,
        order_accounts,
        ..State::of_quantities(q)
    })
}

fn base_object<'py>(py: Python<'py>, s: &State) -> PyResult<Bound<'py, PyAny>> {
    if s.is_empty() {
        return Ok(py.None().into_bound(py));
    }
    let orders = PyDict::new(py);
    for (k, v) in s.orders.iter() {
        orders.set_item(k, v)?;
    }
    let accounts = PyDict::new(py);
    for (k, v) in s.order_accounts.iter() {
        accounts.set_item(k, v)?;
    }
    let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(8);
    for v in s.quantities() {
        items.push(v.into_pyobject(py)?.into_any());
    }
    items.push(orders.into_any());
    items.push(accounts.into_any());
    Ok(PyTuple::new(py, items)?.into_any())
}

fn accounts_object<'py>(py: Python<'py>, accounts: &Accounts) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, accounts.iter().map(|(a, q)| (a.as_str(), *q)))
}

/// The ledger of one (sku, location): see `operators.ledger.KeyLedger`.
#[pyclass(module = "operators._native")]
pub struct Ledger {
    kit: Arc<Kit>,
    sku: Py<PyString>,
    location: Py<PyString>,
    core: ledger::Ledger,
    /// The sorted accounts tuple snapshots carry, and `accounts_changes` when it was made.
    accounts_view: Option<(u64, Py<PyTuple>)>,
    /// Since `persist` last wrote: where the stored form stood, the size of the whole
    /// record the stored chain starts with, and of the deltas after it.
    written: Option<Written>,
}

impl Ledger {
    fn posting(&self, item: &Bound<'_, PyTuple>) -> PyResult<ledger::Posting> {
        let event = item.get_item(0)?;
        let e = event.downcast::<PyTuple>()?;
        let counterpart: bool = item.get_item(1)?.extract()?;
        let adopt: bool = item.len() > 2 && item.get_item(2)?.extract()?;
        let flagged: bool = item.len() > 3 && item.get_item(3)?.extract()?;
        let k = &self.kit;
        let event_type = code_of(&k.event_types, &e.get_item(1)?)?;
        if event_type == 0 {
            return Err(invalid("a posting without an event type"));
        }
        Ok(ledger::Posting {
            key: (
                e.get_item(6)?.extract()?,
                e.get_item(8)?.extract()?,
                e.get_item(0)?.extract()?,
            ),
            m: if event_type - 1 == BALANCE_SNAPSHOT {
                // no bucket changes and no order or account: the correlation id and the
                // source system ride in those slots, for its reconciliation (`Posting.move`)
                Move {
                    event_type: BALANCE_SNAPSHOT,
                    qty: e.get_item(9)?.extract()?,
                    order_id: opt_text(&e.get_item(10)?)?,
                    account_id: opt_text(&e.get_item(7)?)?,
                    status: code_of(&k.statuses, &e.get_item(18)?)?,
                    disposition: 0,
                    counterpart,
                    adopt,
                    flagged,
                }
            } else {
                Move {
                    event_type: event_type - 1,
                    qty: e.get_item(9)?.extract()?,
                    order_id: opt_text(&e.get_item(12)?)?,
                    account_id: opt_text(&e.get_item(14)?)?,
                    status: code_of(&k.statuses, &e.get_item(18)?)?,
                    disposition: code_of(&k.dispositions, &e.get_item(17)?)?,
                    counterpart,
                    adopt: false,
                    flagged,
                }
            },
            id_hash: e.get_item(20)?.extract()?,
            digest: e.get_item(21)?.extract()?,
        })
    }

    fn accounts_view<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let changes = self.core.accounts_changes;
        if let Some((at, view)) = &self.accounts_view {
            if *at == changes {
                return Ok(view.bind(py).clone());
            }
        }
        let view = accounts_object(py, &self.core.accounts_sorted())?;
        self.accounts_view = Some((changes, view.clone().unbind()));
        Ok(view)
    }

    /// `operators.changes.Change.of(before, snapshot, causes, at)`, with its JSON when `render`.
    #[allow(clippy::too_many_arguments)]
    fn change_object<'py>(
        &self,
        py: Python<'py>,
        before: [i64; 6],
        causes: &Bound<'py, PyList>,
        correlation: Bound<'py, PyTuple>,
        snapshot: Bound<'py, PyAny>,
        at: i64,
        render: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = &self.core;
        let after = c.head.quantities();
        let count = causes.len();
        let named = causes.get_slice(count.saturating_sub(MAX_CAUSES), count);
        let as_of = c.as_of.unwrap_or(0);
        let json = if render {
            let (sku, location) = (self.sku.bind(py), self.location.bind(py));
            let strs = |items: Vec<Bound<'py, PyAny>>| -> PyResult<Vec<Bound<'py, PyString>>> {
                Ok(items
                    .into_iter()
                    .map(|i| i.downcast_into::<PyString>())
                    .collect::<Result<_, _>>()?)
            };
            let named_items = strs(named.iter().collect())?;
            let correlation_items = strs(correlation.iter().collect())?;
            let (named_strs, correlation_strs) =
                (render::strs(&named_items), render::strs(&correlation_items));
            match (
                sku.to_str(),
                location.to_str(),
                named_strs,
                correlation_strs,
            ) {
                (Ok(sku), Ok(location), Some(causes), Some(correlation)) => {
                    let parts = render::ChangeParts {
                        sku,
                        location,
                        version: c.version,
                        before,
                        after,
                        causes,
                        cause_count: count as i64,
                        correlation,
                        as_of,
                        emitted_at: at,
                    };
                    render::change_parts(&parts, false)
                }
                _ => None, // text orjson refuses: the shell renders it (and reports it)
            }
        } else {
            None
        };
        let values: Vec<Bound<'py, PyAny>> = vec![
            self.sku.bind(py).clone().into_any(),
            self.location.bind(py).clone().into_any(),
            c.version.into_pyobject(py)?.into_any(),
            PyTuple::new(py, before)?.into_any(),
            PyTuple::new(py, after)?.into_any(),
            named.to_tuple().into_any(),
            count.into_pyobject(py)?.into_any(),
            correlation.into_any(),
            as_of.into_pyobject(py)?.into_any(),
            at.into_pyobject(py)?.into_any(),
            snapshot,
            json.map_or_else(
                || py.None().into_bound(py),
                |b| PyBytes::new(py, &b).into_any(),
            ),
        ];
        self.kit
            .tuple_new
            .bind(py)
            .call1((self.kit.change_cls.bind(py), PyTuple::new(py, values)?))
    }

    fn snapshot_object<'py>(
        &mut self,
        py: Python<'py>,
        correlation: Bound<'py, PyTuple>,
        sources: Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = &self.core;
        let h = &c.head;
        let last = c.history.last_key.as_ref().map_or("", |k| k.2.as_str());
        let on_hand = h.sellable + h.picked + h.quarantine + h.damaged;
        let available = (h.sellable - h.reserved).max(0);
        let ints = [
            h.sellable,
            h.reserved,
            h.picked,
            h.quarantine,
            h.damaged,
            h.in_transit,
            on_hand,
            available,
            c.version,
            c.as_of.unwrap_or(0),
        ];
        let mut values: Vec<Bound<'py, PyAny>> = Vec::with_capacity(16);
        values.push(self.sku.bind(py).clone().into_any());
        values.push(self.location.bind(py).clone().into_any());
        for v in ints {
            values.push(v.into_pyobject(py)?.into_any());
        }
        values.push(PyString::new(py, last).into_any());
        values.push(correlation.into_any());
        values.push(self.accounts_view(py)?.into_any());
        values.push(sources.into_any());
        self.kit
            .tuple_new
            .bind(py)
            .call1((self.kit.snapshot_cls.bind(py), PyTuple::new(py, values)?))
    }
}

#[pymethods]
impl Ledger {
    /// Fold a batch of postings and keyed rejections, in order. Returns the snapshot after
    /// it (None when nothing was applied) and the notes `(code, item)` the shell turns
    /// into rejections: 0 a keyed rejection seen first, 1 its duplicate, 2 its conflicting
    /// duplicate; 3 a conflicting duplicate posting, 4 beyond retention, 5 late beyond
    /// the horizon (applied), 6 overflow, 7 a balance check, 8 an anomaly check; and the
    /// event ids of the postings applied, in order (a change's causes). With `emitted_at`,
    /// the first is the batch's `operators.changes.Change` instead (carrying the snapshot),
    /// and with `render` its JSON too.
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (items, emitted_at=None, render=false))]
    fn on_batch<'py>(
        &mut self,
        py: Python<'py>,
        items: &Bound<'py, PyList>,
        emitted_at: Option<i64>,
        render: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyList>, Bound<'py, PyList>)> {
        let notes = PyList::empty(py);
        let causes = PyList::empty(py);
        let before = self.core.head.quantities();
        let mut applied = false;
        let mut correlation: Vec<Bound<'py, PyAny>> = Vec::new();
        let mut sources: Vec<Bound<'py, PyAny>> = Vec::new();
        for item in items.iter() {
            let Ok(t) = item.downcast::<PyTuple>() else {
                let note = self.core.on_rejection(
                    item.getattr("id_hash")?.extract()?,
                    item.getattr("digest")?.extract()?,
                    item.getattr("occurred_at")?.extract()?,
                );
                notes.append((note as u8, &item))?;
                continue;
            };
            let p = self.posting(t)?;
            let etype = p.m.event_type as usize;
            let mut note = None;
            match self.core.on_posting(p, &mut note).map_err(invalid)? {
                Outcome::Applied { late } => {
                    applied = true;
                    causes.append(t.get_item(0)?.downcast::<PyTuple>()?.get_item(0)?)?;
                    self.kit.applied[etype].fetch_add(1, Ordering::Relaxed);
                    if late {
                        self.kit.late[etype].fetch_add(1, Ordering::Relaxed);
                    }
                    let event = t.get_item(0)?.downcast_into::<PyTuple>()?;
                    note_distinct(&mut correlation, event.get_item(10)?, MAX_CORRELATION_IDS)?;
                    note_distinct(&mut sources, event.get_item(7)?, MAX_SOURCE_SYSTEMS)?;
                }
                Outcome::Duplicate => {
                    notes.append((DUPLICATE_POSTING, &item))?;
                }
                Outcome::NotApplied => {}
            }
            if let Some(n) = note {
                notes.append((n as u8, &item))?;
            }
            for c in self.core.checks.drain(..) {
                let check = (
                    c.event_id,
                    c.source,
                    c.correlation,
                    c.bucket,
                    c.reported,
                    c.computed,
                    c.as_of,
                    c.version,
                    c.adopted,
                );
                notes.append((BALANCE_CHECK, check))?;
            }
            for a in self.core.anomalies.drain(..) {
                let check = (
                    a.event_id,
                    a.event_type,
                    a.reason,
                    a.subject,
                    a.figure,
                    a.quantity,
                    a.before,
                    a.after,
                    a.as_of,
                    a.version,
                    a.cleared,
                );
                notes.append((ANOMALY_CHECK, check))?;
            }
        }
        if !applied {
            return Ok((py.None().into_bound(py), notes, causes));
        }
        self.core.compact();
        let correlation = PyTuple::new(py, correlation)?;
        let sources = PyTuple::new(py, sources)?;
        let snapshot = self.snapshot_object(py, correlation.clone(), sources)?;
        let Some(at) = emitted_at else {
            return Ok((snapshot, notes, causes));
        };
        let change = self.change_object(py, before, &causes, correlation, snapshot, at, render)?;
        Ok((change, notes, causes))
    }

    /// The snapshot now, with no correlation ids (as `KeyLedger.snapshot()`).
    fn snapshot<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.snapshot_object(py, PyTuple::empty(py), PyTuple::empty(py))
    }

    #[getter]
    fn retained(&self) -> usize {
        self.core.history.len()
    }

    #[getter]
    fn remembered_ids(&self) -> usize {
        self.core.seen.len()
    }

    /// The snapshot form, as `KeyLedger.to_state` makes it (base maps as dicts).
    fn to_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let c = &self.core;
        let (base, accounts) = c.history.base();
        let values: [Bound<'py, PyAny>; 9] = [
            self.sku.bind(py).clone().into_any(),
            self.location.bind(py).clone().into_any(),
            c.version.into_pyobject(py)?.into_any(),
            c.as_of.into_pyobject(py)?.into_any(),
            c.seen_pruned_at.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &c.seen.state()).into_any(),
            PyBytes::new(py, &c.history.blob).into_any(),
            base_object(py, base)?,
            accounts_object(py, accounts)?.into_any(),
        ];
        PyTuple::new(py, values)
    }

    fn mark(&self) -> Mark {
        record::mark(&self.core)
    }

    /// The key's next record for the ledger store, (whole?, bytes): a delta while the
    /// deltas since its last whole record stay within `deltas_per_whole` times that
    /// record's size, else its whole state. A call is a write: the next delta is from here.
    fn persist<'py>(
        &mut self,
        py: Python<'py>,
        deltas_per_whole: usize,
    ) -> PyResult<(bool, Bound<'py, PyBytes>)> {
        let now = record::mark(&self.core);
        if let Some((since, whole, deltas)) = self.written {
            if let Some(d) = record::delta(&self.core, since) {
                if deltas + d.len() <= deltas_per_whole * whole {
                    self.written = Some((now, whole, deltas + d.len()));
                    return Ok((false, PyBytes::new(py, &d)));
                }
            }
        }
        let w = record::whole(
            &self.core,
            &utf8_of(py, &self.sku)?,
            &utf8_of(py, &self.location)?,
        );
        self.written = Some((now, w.len(), 0));
        Ok((true, PyBytes::new(py, &w)))
    }

    /// What `to_state` changed since `mark`, for `KeyLedger.extend_state` (None: write it whole).
    fn delta_since<'py>(
        &self,
        py: Python<'py>,
        mark: Mark,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let c = &self.core;
        let (Some((drop, keep, tail)), Some(seen)) =
            (c.history.since(mark.0), c.seen.since(mark.1))
        else {
            return Ok(None);
        };
        let base = if drop != 0 {
            let (s, a) = c.history.base();
            PyTuple::new(
                py,
                [base_object(py, s)?, accounts_object(py, a)?.into_any()],
            )?
            .into_any()
        } else {
            py.None().into_bound(py)
        };
        let values: [Bound<'py, PyAny>; 8] = [
            c.version.into_pyobject(py)?.into_any(),
            c.as_of.into_pyobject(py)?.into_any(),
            c.seen_pruned_at.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &seen).into_any(),
            drop.into_pyobject(py)?.into_any(),
            keep.into_pyobject(py)?.into_any(),
            PyBytes::new(py, &tail).into_any(),
            base,
        ];
        Ok(Some(PyTuple::new(py, values)?))
    }
}
