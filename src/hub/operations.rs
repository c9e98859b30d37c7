//! The server-side operations on a selection (`fetch_sockets`,
//! `sockets_join`, `sockets_leave`, `disconnect_sockets`, `all_rooms`…):
//! applied to this server's sockets by the hub, and asked of the other
//! servers of a cluster through `node`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::acks::Collector;
use super::io::REQUEST_TIMEOUT;
use super::node::{broadcast_request, Fetched, Waiting};
use super::{Answers, Broadcast, Hub, Selection, Socket};
use crate::cluster::{self, EventPacket, RequestKind};

/// The operations on selections (`fetch_sockets`, `sockets_join`, …): on
/// this server's sockets, and through the cluster on the others'.
impl Hub {
    pub(super) fn fetch(&mut self, select: Selection, others: usize, reply: Sender<Fetched>) {
        let local = self.select(&select).into_iter().map(|m| m.socket.clone()).collect();
        let nsp = select.nsp.clone();
        let remote = cluster::Selection { rooms: select.rooms, except: select.except };
        let kind = move |request_id| RequestKind::Fetch { request_id, select: remote };
        self.ask_others(&nsp, others, kind, Waiting::fetch(local, reply), REQUEST_TIMEOUT);
    }

    pub(super) fn add_rooms(&mut self, select: Selection, rooms: Vec<String>) {
        for id in self.select_ids(&select) {
            rooms.iter().for_each(|room| self.join(id, room.clone()));
        }
        self.tell_others(&select.nsp, RequestKind::Join { select: remote(&select), rooms });
    }

    pub(super) fn del_rooms(&mut self, select: Selection, rooms: Vec<String>) {
        for id in self.select_ids(&select) {
            rooms.iter().for_each(|room| self.leave(id, room));
        }
        self.tell_others(&select.nsp, RequestKind::Leave { select: remote(&select), rooms });
    }

    /// This server's selected sockets go back to the caller, who
    /// disconnects them (their handlers are the application's code).
    pub(super) fn disconnect(&mut self, select: Selection, close: bool, reply: Sender<Vec<Socket>>) {
        let sockets = self.select(&select).into_iter().map(|m| m.socket.clone()).collect();
        let _ = reply.send(sockets);
        self.tell_others(&select.nsp, RequestKind::Disconnect { select: remote(&select), close });
    }

    pub(super) fn server_side_emit(
        &mut self,
        nsp: &str,
        event: &str,
        data: &crate::wire::Payload,
        answers: Option<(usize, Answers)>,
    ) {
        let args = EventPacket::from_event(nsp, event, data).args;
        let name = event.to_string();
        match answers {
            None => {
                if self.node.is_none() {
                    log::debug!("server_side_emit {event:?} in {nsp:?}: no other servers");
                }
                self.tell_others(nsp, RequestKind::ServerSideEmit { request_id: None, name, args });
            }
            Some((others, callback)) => {
                let kind = move |id| RequestKind::ServerSideEmit { request_id: Some(id), name, args };
                self.ask_others(nsp, others, kind, Waiting::server_side_emit(callback), REQUEST_TIMEOUT);
            }
        }
    }

    pub(super) fn all_rooms(&mut self, nsp: &str, others: usize, reply: Sender<Vec<String>>) {
        let local = self.rooms.get(nsp).map(|rooms| rooms.keys().cloned().collect()).unwrap_or_default();
        let kind = |request_id| RequestKind::AllRooms { request_id };
        self.ask_others(nsp, others, kind, Waiting::rooms(local, reply), REQUEST_TIMEOUT);
    }

    /// A broadcast asking every selected client for an ack: this server's
    /// clients and, through the cluster, the others' (who have `timeout`).
    pub(super) fn emit_with_ack(
        &mut self,
        broadcast: Broadcast,
        collector: Arc<Collector>,
        others: usize,
        timeout: Duration,
    ) {
        let remote = if broadcast.flags.local || self.node.is_none() { 0 } else { others };
        collector.expect_nodes(remote);
        self.emit(&broadcast, Some(&collector));
        if let (true, Some(kind)) = (remote > 0, broadcast_request(&broadcast, timeout)) {
            let nsp = broadcast.select.nsp.clone();
            self.ask_others(&nsp, remote, kind, Waiting::broadcast(collector.clone()), timeout);
        }
        if collector.counted() {
            // Nobody to wait for: done, but not on this thread.
            self.timers.schedule(Instant::now(), Box::new(move || collector.finish()));
        }
    }

    /// A request that waits for no answer.
    fn tell_others(&self, nsp: &str, kind: RequestKind) {
        if let Some(node) = &self.node {
            node.cluster.request(nsp, kind);
        }
    }
}

fn remote(select: &Selection) -> cluster::Selection {
    cluster::Selection { rooms: select.rooms.clone(), except: select.except.clone() }
}
