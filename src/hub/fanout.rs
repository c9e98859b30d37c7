//! Fan-out: from a broadcast to the frames written into every target's outlet.
//!
//! Each event is encoded **once per wire format** (all its targets share a
//! namespace, so one encoding per format fits them all), and the same bytes
//! go to every target. When several broadcasts waited in the hub's queue
//! together (a burst, a flood), each client gets all of its frames from the
//! run in **one** write, in order: the cost of a burst is then one system
//! call per client, not one per client and event.

use std::collections::HashMap;
use std::sync::Arc;

use super::outlet::{ConnId, Outlet};
use super::{Hub, Member, Target};
use crate::wire::{Encoded, Outgoing, Wire};

/// One outlet, and the (event, format) pairs of a run it is to get.
type Writes<'a> = (&'a Arc<Outlet>, Vec<(usize, usize)>);

impl Hub {
    // ANCHOR: emit_run
    /// Writes a run of broadcasts (one or more, in the order they came).
    pub(super) fn emit_run(&self, run: &[(Target, Outgoing)]) {
        if let [(target, event)] = run {
            return self.emit(target, event);
        }
        // Each event's encodings, made when a target first needs them.
        let mut encoded: Vec<[Option<Encoded>; Wire::ALL.len()]> = run.iter().map(|_| Default::default()).collect();
        // Per outlet, which (event, format) it gets, in order.
        let mut writes: HashMap<ConnId, Writes<'_>> = HashMap::new();
        for (i, (target, event)) in run.iter().enumerate() {
            for member in self.targets(target) {
                let format = member.wire.index();
                encoded[i][format].get_or_insert_with(|| Encoded::of(member.wire, &member.nsp, event));
                writes.entry(member.outlet.id).or_insert_with(|| (&member.outlet, Vec::new())).1.push((i, format));
            }
        }
        for (outlet, frames) in writes.into_values() {
            let frames: Vec<&Encoded> = frames.iter().filter_map(|&(i, format)| encoded[i][format].as_ref()).collect();
            outlet.push_all(&frames);
        }
    }
    // ANCHOR_END: emit_run

    // ANCHOR: emit
    /// One broadcast: encoded at most once per wire format, written into
    /// every targeted outlet.
    fn emit(&self, target: &Target, event: &Outgoing) {
        let mut encoded: [Option<Encoded>; Wire::ALL.len()] = Default::default();
        for member in self.targets(target) {
            let frames =
                encoded[member.wire.index()].get_or_insert_with(|| Encoded::of(member.wire, &member.nsp, event));
            member.outlet.push(frames);
        }
    }
    // ANCHOR_END: emit

    /// The members `target` names.
    fn targets<'a>(&'a self, target: &'a Target) -> Box<dyn Iterator<Item = &'a Member> + 'a> {
        match target {
            Target::All { except, nsp } => Box::new(
                self.members
                    .iter()
                    .filter(move |(id, (member, _))| Some(**id) != *except && member.nsp == *nsp)
                    .map(|(_, (member, _))| member),
            ),
            Target::Room { room, except, nsp } => {
                let ids = self.rooms.get(nsp).and_then(|rooms| rooms.get(room));
                Box::new(
                    ids.into_iter()
                        .flatten()
                        .filter(move |id| Some(**id) != *except)
                        .filter_map(|id| self.members.get(id).map(|(member, _)| member)),
                )
            }
            Target::One(id) => Box::new(self.members.get(id).map(|(member, _)| member).into_iter()),
        }
    }
}
