//! skuflow's native core, `operators._native`.
//!
//! `RecordDecoder` turns the Avro bodies of inventory events into the routed postings
//! the fold takes, doing in one pass what fastavro, `validate`, `route` and `group_of`
//! do in Python (where the decode alone took as long as a whole baseline flow). Records
//! it does not accept come back as fallbacks for the Python reference to handle, so the
//! outputs are those of the Python path, item for item.
//!
//! `LedgerKit` and `Ledger` fold those postings per key as `operators.ledger.KeyLedger`
//! does (`ledger.rs`, on the fold of `fold.rs`), which was most of a replay's time.

mod anomalies;
mod avro;
mod fold;
mod ledger;
mod ledger_py;
mod record;
mod render;
mod rules;

use std::collections::HashMap;

use avro::{read_record, Branch, Field, Kind, Val, SLOTS};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyString, PyTuple};
use rules::{validate, Event, COUNTERPART, DISPOSITIONS, EVENT_TYPES, STATUSES, TRANSFER_SHIPPED};

/// A writer field's shape: (kind, enum symbols); a union's branches are shapes too.
type Shape = (String, Option<Vec<String>>);
/// One writer field: (slot in PAYLOAD_FIELDS or -1, kind, enum symbols, union branches).
type FieldSpec = (i64, String, Option<Vec<String>>, Option<Vec<Shape>>);

fn unsupported(what: &str) -> PyErr {
    PyValueError::new_err(format!("unsupported Avro shape {what}"))
}

fn parse_branch((kind, symbols): Shape) -> PyResult<Branch> {
    Ok(match (kind.as_str(), symbols) {
        ("null", None) => Branch::Null,
        ("string", None) => Branch::Str,
        ("long" | "int", None) => Branch::Long,
        ("enum", Some(symbols)) => Branch::Enum(symbols),
        (other, _) => return Err(unsupported(other)),
    })
}

fn parse_kind(
    kind: &str,
    symbols: Option<Vec<String>>,
    branches: Option<Vec<Shape>>,
) -> PyResult<Kind> {
    Ok(match (kind, symbols, branches) {
        ("string", None, None) => Kind::Str,
        ("long" | "int", None, None) => Kind::Long,
        ("enum", Some(symbols), None) => Kind::Enum(symbols),
        ("union", None, Some(branches)) => Kind::Union(
            branches
                .into_iter()
                .map(parse_branch)
                .collect::<PyResult<_>>()?,
        ),
        ("boolean", None, None) => Kind::Bool,
        ("float", None, None) => Kind::Float,
        ("double", None, None) => Kind::Double,
        ("bytes", None, None) => Kind::Bytes,
        (other, _, _) => return Err(unsupported(other)),
    })
}

fn names_of(py: Python<'_>, members: &[PyObject]) -> PyResult<Vec<String>> {
    members
        .iter()
        .map(|m| m.bind(py).getattr("value")?.extract())
        .collect()
}

/// The Python enums' members must be the native core's codes, in order.
pub(crate) fn check_enums(
    py: Python<'_>,
    event_types: &[PyObject],
    statuses: &[PyObject],
    dispositions: &[PyObject],
) -> PyResult<()> {
    if names_of(py, event_types)? != EVENT_TYPES
        || names_of(py, statuses)? != STATUSES
        || names_of(py, dispositions)? != DISPOSITIONS
    {
        return Err(PyValueError::new_err(
            "the event enums differ from the native core's",
        ));
    }
    Ok(())
}

/// Decodes and validates the records of one writer schema (see the module docs).
#[pyclass(module = "operators._native", frozen)]
struct RecordDecoder {
    fields: Vec<Field>,
    factors: HashMap<String, HashMap<String, i64>>,
    event_cls: PyObject,
    posting_cls: PyObject,
    tuple_new: PyObject,
    event_types: Vec<PyObject>,
    statuses: Vec<PyObject>,
    dispositions: Vec<PyObject>,
    groups: Vec<Py<PyString>>,
}

impl RecordDecoder {
    fn factor(&self, sku: &str, uom: &str) -> Option<i64> {
        self.factors.get(sku)?.get(uom).copied()
    }

    fn opt<'py>(py: Python<'py>, s: Option<&str>) -> Bound<'py, PyAny> {
        match s {
            Some(s) => PyString::new(py, s).into_any(),
            None => py.None().into_bound(py),
        }
    }

    fn event_object<'py>(
        &self,
        py: Python<'py>,
        e: &Event<'_>,
        origin: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o = &e.optional;
        let none = || py.None().into_bound(py);
        let values: [Bound<'py, PyAny>; 24] = [
            PyString::new(py, e.event_id).into_any(),
            self.event_types[e.event_type].bind(py).clone(),
            PyString::new(py, e.sku).into_any(),
            PyString::new(py, e.location).into_any(),
            e.quantity.into_pyobject(py)?.into_any(),
            PyString::new(py, e.uom).into_any(),
            e.occurred_at.into_pyobject(py)?.into_any(),
            PyString::new(py, e.source_system).into_any(),
            e.source_sequence.into_pyobject(py)?.into_any(),
            e.base_qty.into_pyobject(py)?.into_any(),
            Self::opt(py, o[0]),
            Self::opt(py, o[1]),
            Self::opt(py, o[2]),
            Self::opt(py, o[3]),
            Self::opt(py, o[4]),
            Self::opt(py, o[5]),
            Self::opt(py, o[6]),
            e.disposition
                .map_or_else(none, |d| self.dispositions[d].bind(py).clone()),
            e.status
                .map_or_else(none, |s| self.statuses[s].bind(py).clone()),
            Self::opt(py, o[7]),
            e.id_hash.into_pyobject(py)?.into_any(),
            e.digest.into_pyobject(py)?.into_any(),
            PyString::new(py, origin).into_any(),
            none(), // original: a record decoded here is its payload
        ];
        self.tuple_new
            .bind(py)
            .call1((self.event_cls.bind(py), PyTuple::new(py, values)?))
    }

    /// `(group, (sku|location, Posting(event, counterpart, False, False)))`, as `route` and `group_of` make it.
    fn routed<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        sku: &str,
        location: &str,
        counterpart: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let key = key_of(sku, location);
        let group =
            self.groups[crc32fast::hash(key.as_bytes()) as usize % self.groups.len()].bind(py);
        let flag = PyBool::new(py, counterpart).to_owned().into_any();
        let no = PyBool::new(py, false).to_owned().into_any(); // adopt and flagged: the shell's to decide
        let posting = self.tuple_new.bind(py).call1((
            self.posting_cls.bind(py),
            PyTuple::new(py, [event.clone(), flag, no.clone(), no])?,
        ))?;
        let inner = PyTuple::new(py, [PyString::new(py, &key).into_any(), posting])?;
        PyTuple::new(py, [group.clone().into_any(), inner.into_any()])
    }
}

/// `operators.routing.key_of`: `sku|location`, `%` and `|` percent-escaped in each.
fn key_of(sku: &str, location: &str) -> String {
    let mut key = String::with_capacity(sku.len() + location.len() + 1);
    for (i, part) in [sku, location].into_iter().enumerate() {
        if i == 1 {
            key.push('|');
        }
        for c in part.chars() {
            match c {
                '%' => key.push_str("%25"),
                '|' => key.push_str("%7C"),
                _ => key.push(c),
            }
        }
    }
    key
}

#[pymethods]
impl RecordDecoder {
    /// `layout`: the writer's fields in order, each (slot in PAYLOAD_FIELDS or -1 to
    /// skip, kind, enum symbols, union branches as (kind, symbols)). `classes`: (InventoryEvent, Posting,
    /// EventType, Status, Disposition). `groups`: the key group names, by crc32 % len.
    #[new]
    fn new(
        py: Python<'_>,
        layout: Vec<FieldSpec>,
        factors: HashMap<(String, String), i64>,
        classes: (
            PyObject,
            PyObject,
            Vec<PyObject>,
            Vec<PyObject>,
            Vec<PyObject>,
        ),
        groups: Vec<Py<PyString>>,
    ) -> PyResult<Self> {
        let (event_cls, posting_cls, event_types, statuses, dispositions) = classes;
        check_enums(py, &event_types, &statuses, &dispositions)?;
        if groups.is_empty() {
            return Err(PyValueError::new_err("need at least one key group"));
        }
        let mut fields = Vec::with_capacity(layout.len());
        for (slot, kind, symbols, branches) in layout {
            let slot = match usize::try_from(slot) {
                Ok(s) if s < SLOTS => Some(s),
                Ok(s) => return Err(PyValueError::new_err(format!("slot {s} out of range"))),
                Err(_) => None,
            };
            fields.push(Field {
                slot,
                kind: parse_kind(&kind, symbols, branches)?,
            });
        }
        let mut by_sku: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for ((sku, uom), factor) in factors {
            by_sku.entry(sku).or_default().insert(uom, factor);
        }
        let tuple_new = py.get_type::<PyTuple>().getattr("__new__")?.unbind();
        Ok(Self {
            fields,
            factors: by_sku,
            event_cls,
            posting_cls,
            tuple_new,
            event_types,
            statuses,
            dispositions,
            groups,
        })
    }

    /// Decode `count` records from `data[start:]`, after skipping `skip` records there;
    /// `arrival` is `(latest, name, first)`: the newest `occurred_at` the clock allows (the
    /// future guard), and where the records were read: record n's origin is
    /// `name#(first + n)`, or `name` when `first` is None (a Kafka message).
    ///
    /// Returns `(items, fallbacks, end, decoded)`: the routed postings in input order; for
    /// each record left to the reference, `(position in items, record number, byte start)`;
    /// where decoding stopped, and how many records it read. Fewer than `count` when record
    /// number `decoded` did not decode (the reference reads on from `end`).
    #[allow(clippy::type_complexity)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
        start: usize,
        skip: usize,
        count: usize,
        arrival: (i64, String, Option<usize>),
    ) -> PyResult<(Bound<'py, PyList>, Vec<(usize, usize, usize)>, usize, usize)> {
        let (latest, name, first) = arrival;
        let items = PyList::empty(py);
        let mut fallbacks = Vec::new();
        let mut pos = start;
        let mut vals = [Val::Null; SLOTS];
        for _ in 0..skip {
            if read_record(&self.fields, data, &mut pos, &mut vals).is_err() {
                return Err(PyValueError::new_err("the records to skip do not decode"));
            }
        }
        for n in 0..count {
            let at = pos;
            if read_record(&self.fields, data, &mut pos, &mut vals).is_err() {
                return Ok((items, fallbacks, at, n));
            }
            match validate(&vals, |s, u| self.factor(s, u), latest) {
                None => fallbacks.push((items.len(), n, at)),
                Some(e) => {
                    let origin = match first {
                        Some(i) => format!("{name}#{}", i + n),
                        None => name.to_owned(),
                    };
                    let event = self.event_object(py, &e, &origin)?;
                    items.append(self.routed(py, &event, e.sku, e.location, false)?)?;
                    if e.event_type == TRANSFER_SHIPPED {
                        let to = e.optional[COUNTERPART].expect("validated");
                        items.append(self.routed(py, &event, e.sku, to, true)?)?;
                    }
                }
            }
        }
        Ok((items, fallbacks, pos, count))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RecordDecoder>()?;
    m.add_class::<ledger_py::LedgerKit>()?;
    m.add_class::<ledger_py::Ledger>()?;
    m.add_function(wrap_pyfunction!(render::snapshot_json, m)?)?;
    m.add_function(wrap_pyfunction!(render::snapshot_avro, m)?)?;
    m.add_function(wrap_pyfunction!(render::change_json, m)?)?;
    Ok(())
}
