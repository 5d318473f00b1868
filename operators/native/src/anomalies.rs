//! `operators.anomalies.detect`: what is wrong with the books after one posting, from the
//! state before and after it. The Python function is the reference.

use crate::fold::{
    Move, State, BALANCE_SNAPSHOT, BUCKET_NAMES, PICK_CONFIRMED, RESERVATION_RELEASED,
    SHIPMENT_CONFIRMED,
};

// reason codes, in `operators.anomalies.Anomaly` order
pub const NEGATIVE_BUCKET: u8 = 0;
pub const UNKNOWN_ORDER: u8 = 1;
pub const OVER_RELEASE: u8 = 2;
pub const OVER_PICK: u8 = 3;
pub const OVER_SHIP: u8 = 4;
pub const OVERSOLD: u8 = 5;
pub const UNAUTHORIZED_SOURCE: u8 = 6;

/// `operators.anomalies.Finding`: reason code, subject, figure.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Finding {
    pub reason: u8,
    pub subject: String,
    pub figure: i64,
}

/// What the state before a move had that `detect` reads: its six quantities and the open
/// quantity of the move's order.
pub struct Before {
    pub quantities: [i64; 6],
    pub held: i64,
}

impl Before {
    pub fn of(s: &State, m: &Move) -> Self {
        Self {
            quantities: s.quantities(),
            held: m.order_id.as_deref().map_or(0, |o| s.open(o)),
        }
    }
}

fn finding(reason: u8, subject: &str, figure: i64) -> Finding {
    Finding {
        reason,
        subject: subject.to_owned(),
        figure,
    }
}

/// The anomalies of one posting, in reason order (one per reason).
pub fn detect(before: &Before, m: &Move, after: &State) -> Vec<Finding> {
    let mut out = Vec::new();
    if m.counterpart || (m.event_type == BALANCE_SNAPSHOT && !m.adopt) {
        flag(&mut out, m);
        return out;
    }
    let now = after.quantities();
    for ((name, was), now) in BUCKET_NAMES.iter().zip(before.quantities).zip(now) {
        if now < 0 && now < was {
            out.push(finding(NEGATIVE_BUCKET, name, now));
            break;
        }
    }
    let q = m.qty;
    let order = m.order_id.as_deref().filter(|o| !o.is_empty());
    match (m.event_type, order) {
        (RESERVATION_RELEASED | PICK_CONFIRMED, Some(order)) => {
            if before.held <= 0 {
                out.push(finding(UNKNOWN_ORDER, order, 0));
            } else if q > before.held {
                let reason = if m.event_type == RESERVATION_RELEASED {
                    OVER_RELEASE
                } else {
                    OVER_PICK
                };
                out.push(finding(reason, order, before.held));
            }
        }
        (SHIPMENT_CONFIRMED, _) => {
            let picked = before.quantities[2];
            if q > picked.max(0) {
                out.push(finding(OVER_SHIP, "picked", picked));
            }
        }
        _ => {}
    }
    let gap = |sellable: i64, reserved: i64| i128::from(reserved) - i128::from(sellable);
    let gap_after = gap(after.sellable, after.reserved);
    if gap_after > 0 && gap_after > gap(before.quantities[0], before.quantities[1]) {
        // available before its floor fits int64: `apply` keeps it so
        out.push(finding(
            OVERSOLD,
            "available",
            after.sellable - after.reserved,
        ));
    }
    flag(&mut out, m);
    out
}

/// The finding of a posting from a source the policy flags (always last: reason order).
fn flag(out: &mut Vec<Finding>, m: &Move) {
    if m.flagged {
        out.push(finding(UNAUTHORIZED_SOURCE, "source_system", 0));
    }
}
