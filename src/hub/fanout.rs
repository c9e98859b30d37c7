//! Fan-out: from a broadcast to the frames written into every selected outlet.
//!
//! Each event is encoded **once per wire format** (all its targets share a
//! namespace, so one encoding per format fits them all; a logged one
//! carries its recovery offset), and the same bytes go to every target.
//! When several broadcasts waited in the hub's queue together (a burst, a
//! flood), each client gets all of its frames from the run in **one**
//! write, in order: a burst then costs one system call per client, not one
//! per client and event.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::acks::Collector;
use super::outlet::{self, ConnId, Outlet};
use super::{Broadcast, Hub, Member, Selection, SocketId};
use crate::wire::{Encoded, Outgoing, Wire};

/// One outlet, and the (event, format) pairs of a run it is to get.
type Writes<'a> = (&'a Arc<Outlet>, Vec<(usize, usize)>);

impl Hub {
    // ANCHOR: emit_run
    /// Writes a run of broadcasts (one or more, in the order they came;
    /// only the last may be volatile, see `apply_run`).
    pub(super) fn emit_run(&mut self, run: &[Broadcast]) {
        // The other servers of a cluster get each one too (not the ones
        // that came from them).
        run.iter().for_each(|broadcast| self.publish(broadcast));
        if let [broadcast] = run {
            return self.emit(broadcast, None);
        }
        let now = Instant::now();
        let offsets: Vec<Option<u64>> =
            run.iter().map(|b| self.recovery.as_mut().and_then(|recovery| recovery.log(b, now))).collect();
        // Each event's encodings, made when a target first needs them.
        let mut encoded: Vec<[Option<Encoded>; Wire::ALL.len()]> = run.iter().map(|_| Default::default()).collect();
        // Per outlet, which (event, format) it gets, in order.
        let mut writes: HashMap<ConnId, Writes<'_>> = HashMap::new();
        for (i, broadcast) in run.iter().enumerate() {
            for member in self.select(&broadcast.select) {
                let socket = &member.socket;
                socket.notify_outgoing(&broadcast.event);
                let (wire, nsp) = (socket.wire(), &broadcast.select.nsp);
                encoded[i][wire.index()]
                    .get_or_insert_with(|| Encoded::logged(wire, nsp, &broadcast.event, offsets[i]));
                let outlet = socket.outlet();
                writes.entry(outlet.id).or_insert_with(|| (outlet, Vec::new())).1.push((i, wire.index()));
            }
        }
        for (outlet, frames) in writes.into_values() {
            let frames: Vec<&Encoded> = frames.iter().filter_map(|&(i, format)| encoded[i][format].as_ref()).collect();
            outlet.push_all(&frames);
        }
    }
    // ANCHOR_END: emit_run

    // ANCHOR: select
    /// The ids of the sockets `select` names: those of its namespace in any
    /// of its rooms (all of them when it names none), minus those in any of
    /// its except rooms; each once, in no particular order.
    pub(super) fn select_ids(&self, select: &Selection) -> Vec<SocketId> {
        let rooms = self.rooms.get(&select.nsp);
        let in_room = |room: &String| rooms.and_then(|r| r.get(room)).into_iter().flatten();
        let except: HashSet<SocketId> = select.except.iter().flat_map(in_room).copied().collect();
        let mut ids: Vec<SocketId> = if select.rooms.is_empty() {
            self.members.iter().filter(|(_, m)| m.socket.namespace() == select.nsp).map(|(id, _)| *id).collect()
        } else if select.rooms.len() == 1 {
            in_room(&select.rooms[0]).copied().collect()
        } else {
            let union: HashSet<SocketId> = select.rooms.iter().flat_map(in_room).copied().collect();
            union.into_iter().collect()
        };
        ids.retain(|id| !except.contains(id));
        ids
    }
    // ANCHOR_END: select

    /// The members `select` names. (The common case, a whole namespace with
    /// nobody left out, walks the members once.)
    pub(super) fn select(&self, select: &Selection) -> Vec<&Member> {
        if select.rooms.is_empty() && select.except.is_empty() {
            return self.members.values().filter(|m| m.socket.namespace() == select.nsp).collect();
        }
        self.select_ids(select).iter().filter_map(|id| self.members.get(id)).collect()
    }

    // ANCHOR: emit
    /// Encodes `broadcast` at most once per wire format (with its offset
    /// when recovery logs it) and writes it into every selected outlet.
    /// (All selected members share one namespace, so one encoding per
    /// format fits them all.) With a collector, each socket is asked for an
    /// ack with an id of its own, so each gets its own encoding.
    pub(super) fn emit(&mut self, broadcast: &Broadcast, collector: Option<&Arc<Collector>>) {
        let offset = match (collector, self.recovery.as_mut()) {
            (None, Some(recovery)) => recovery.log(broadcast, Instant::now()),
            _ => None,
        };
        let volatile = broadcast.flags.volatile;
        let nsp = &broadcast.select.nsp;
        let mut encoded: [Option<Encoded>; Wire::ALL.len()] = Default::default();
        for member in self.select(&broadcast.select) {
            let socket = &member.socket;
            socket.notify_outgoing(&broadcast.event);
            match (collector, &broadcast.event) {
                (Some(collector), Outgoing::Event { name, data, .. }) => {
                    let collecting = collector.clone();
                    let sid = socket.sid().to_string();
                    let id = socket.expect_ack(Box::new(move |_socket, answer| {
                        if let Ok(answer) = answer {
                            collecting.answer(&sid, answer)
                        }
                    }));
                    let event = Outgoing::Event { name: name.clone(), data: data.clone(), ack: Some(id) };
                    // Counted before it is sent: the answer may come at once.
                    let asked = socket.clone();
                    collector.asked(socket.sid(), Box::new(move || drop(asked.forget_ack(id))));
                    if !push(socket.outlet(), &Encoded::of(socket.wire(), nsp, &event), volatile) {
                        collector.retract(socket.sid());
                    }
                }
                _ => {
                    let wire = socket.wire();
                    let frames = encoded[wire.index()]
                        .get_or_insert_with(|| Encoded::logged(wire, nsp, &broadcast.event, offset));
                    push(socket.outlet(), frames, volatile);
                }
            }
        }
    }
    // ANCHOR_END: emit
}

/// Writes `frames` into `outlet`, or (volatile) only if it can take them
/// now. True when they were taken.
pub(super) fn push(outlet: &Arc<Outlet>, frames: &Encoded, volatile: bool) -> bool {
    let pushed = if volatile { outlet.push_volatile(frames) } else { outlet.push(frames) };
    pushed == outlet::Pushed::Done
}
