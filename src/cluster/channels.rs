//! The Redis channel names of one namespace, exactly as
//! `@socket.io/redis-adapter` 8.x spells them.
//!
//! ```text
//! socket.io#/#                 broadcasts to the whole namespace (or to several rooms)
//! socket.io#/#room1#           a broadcast to exactly one room
//! socket.io#/#*                the pattern every node PSUBSCRIBEs to get both
//! socket.io-request#/#         requests: fetchSockets, socketsJoin, serverSideEmit, ...
//! socket.io-response#/#        answers to them
//! socket.io-response#/#Ab3x_9# answers meant for node `Ab3x_9` alone
//!                              (the Node option `publishOnSpecificResponseChannel`)
//! ```
//!
//! `socket.io` is the prefix (the Node option `key`), `/` the namespace.
//! Every node SUBSCRIBEs to the request channel, the response channel and
//! its own response channel, and PSUBSCRIBEs to the broadcast pattern. The
//! number of subscribers of the request channel (`PUBSUB NUMSUB`) is how a
//! node counts the servers that will answer a request.

use super::wire::BroadcastOpts;

/// The channel names of one namespace under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    /// The namespace, e.g. `/` or `/admin`: a subscriber maps each incoming
    /// channel back to it.
    pub nsp: String,
    /// `<prefix>#<nsp>#`: broadcasts; a room's channel appends `<room>#`.
    pub broadcast: String,
    /// `<prefix>-request#<nsp>#`.
    pub request: String,
    /// `<prefix>-response#<nsp>#`; one node's own appends `<uid>#`.
    pub response: String,
}

impl Channels {
    /// The channels of namespace `nsp` under `prefix` (Node's default prefix
    /// is `socket.io`).
    pub fn new(prefix: &str, nsp: &str) -> Channels {
        Channels {
            nsp: nsp.to_string(),
            broadcast: format!("{prefix}#{nsp}#"),
            request: format!("{prefix}-request#{nsp}#"),
            response: format!("{prefix}-response#{nsp}#"),
        }
    }

    /// `<prefix>#<nsp>#<room>#`: where a broadcast to `room` alone goes.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// `<prefix>-response#<nsp>#<uid>#`: node `uid`'s own response channel.
    pub fn response_for(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }

    /// The pattern to PSUBSCRIBE: the broadcast channel and every room
    /// channel under it. Glob characters in the namespace are escaped, so a
    /// namespace named `/a*` matches only itself (Node does not escape; its
    /// pattern is then wider, which it filters afterwards).
    pub fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.broadcast.len() + 1);
        for c in self.broadcast.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }

    /// Where a broadcast with these options is published: a room's own
    /// channel when it targets exactly one room (even with `except`),
    /// otherwise the namespace's. Node's rule, so that a node without a
    /// member of that room can drop the message before decoding it.
    pub fn for_broadcast(&self, opts: &BroadcastOpts) -> String {
        match opts.rooms.as_slice() {
            [room] => self.room(room),
            _ => self.broadcast.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_node_adapter() {
        let c = Channels::new("socket.io", "/");
        assert_eq!(c.broadcast, "socket.io#/#");
        assert_eq!(c.room("r1"), "socket.io#/#r1#");
        assert_eq!(c.pattern(), "socket.io#/#*");
        assert_eq!(c.request, "socket.io-request#/#");
        assert_eq!(c.response, "socket.io-response#/#");
        assert_eq!(c.response_for("Ab3x_9"), "socket.io-response#/#Ab3x_9#");
        let admin = Channels::new("app", "/adm*n");
        assert_eq!(admin.broadcast, "app#/adm*n#");
        assert_eq!(admin.pattern(), "app#/adm\\*n#*");
    }

    #[test]
    fn one_room_gets_its_own_channel() {
        let c = Channels::new("socket.io", "/");
        let opts = |rooms: &[&str], except: &[&str]| BroadcastOpts {
            rooms: rooms.iter().map(|s| s.to_string()).collect(),
            except: except.iter().map(|s| s.to_string()).collect(),
            ..BroadcastOpts::default()
        };
        assert_eq!(c.for_broadcast(&opts(&[], &[])), "socket.io#/#");
        assert_eq!(c.for_broadcast(&opts(&["a"], &["b"])), "socket.io#/#a#");
        assert_eq!(c.for_broadcast(&opts(&["a", "b"], &[])), "socket.io#/#");
    }
}
