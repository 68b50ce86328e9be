//! The request path, without threads or I/O: how a server takes, passes on, holds and
//! answers client and admin requests. The node's threads and the simulation drive the
//! same code; it returns the bodies to send and to whom, and the caller sends them.
//!
//! The leader takes a request (proposes it, starts a read, starts an admin change);
//! any other server passes it toward the leader, or holds it while an election is on.
//! A definite error (11) goes out only when nobody proposed the request and nobody
//! else holds a copy of it.
//!
//! Requests passed on to other servers leave in `forward` messages, each carrying all
//! those routed together to one server, in the order they were routed: under load
//! most requests reach a follower, and one message each was most of what the servers
//! sent. Nothing is held back to wait for company: with every client waiting for its
//! answer, a hold window measured slower (README, *Benchmark*).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::IteratorRandom;
use rand::SeedableRng;
use serde_json::Value;

use crate::kv::{Command, KvOp};
use crate::protocol::{self, code, ClientRef, Forward, Request};
#[cfg(test)]
use crate::raft::InjectedBug;
use crate::raft::{
    AdminError, AdminId, AdminOutcome, Config, ConfigChange, Entry, NodeId, Raft, ReadId, Snapshot,
};

/// A forwarded request stops after this many servers; the last one fails it.
const MAX_HOPS: u32 = 3;

/// A message body for the caller to send: to a client, or to another server.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: String,
    pub body: Value,
}

/// A client request held while its server's cluster elects a leader.
struct Parked {
    origin: ClientRef,
    request: Request,
    hops: u32,
    /// When it stops waiting and fails, on the core's clock.
    give_up_at: u64,
}

/// Committed entries and settled reads, taken from the core for the state machine.
#[derive(Debug, Default)]
pub struct Batch {
    /// A snapshot to load first: the entries follow it.
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
    /// Confirmed reads: who asked, for which key.
    pub ready: Vec<(ClientRef, Value)>,
    /// Reads the core can no longer confirm.
    pub aborted: Vec<ClientRef>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self.ready.is_empty()
            && self.aborted.is_empty()
    }
}

/// One server's requests in progress, next to its core.
pub struct Requests {
    /// Reads the core is confirming: who asked, and for which key.
    reads: HashMap<ReadId, (ClientRef, Value)>,
    next_read_id: ReadId,
    /// Admin requests the core is working on: who asked, and the type of the ok reply.
    admin: HashMap<AdminId, (ClientRef, &'static str)>,
    next_admin_id: AdminId,
    /// Every server that may ever be a member: init's node_ids.
    node_ids: Vec<NodeId>,
    parked: Vec<Parked>,
    /// How long a request may wait for an election to end before it fails: two
    /// elections at the timing in force (see `follow_timing`).
    park_for: u64,
    verbose: bool,
    /// Picks the voter a server outside the voters passes requests to.
    rng: StdRng,
    #[cfg(test)]
    bug: Option<InjectedBug>,
}

impl Requests {
    pub fn new(node_ids: Vec<NodeId>, config: &Config, verbose: bool, seed: u64) -> Self {
        Requests {
            reads: HashMap::new(),
            next_read_id: 0,
            admin: HashMap::new(),
            next_admin_id: 0,
            node_ids,
            parked: Vec::new(),
            // By default short of Maelstrom's 1 s client timeout, which grows with the
            // latency as the timing does.
            park_for: 2 * config.election_timeout_max,
            verbose,
            rng: StdRng::seed_from_u64(seed),
            #[cfg(test)]
            bug: config.injected_bug,
        }
    }

    #[cfg(test)]
    fn injected(&self, bug: InjectedBug) -> bool {
        self.bug == Some(bug)
    }
    #[cfg(not(test))]
    fn injected(&self, _bug: crate::raft::InjectedBug) -> bool {
        false
    }

    /// Client requests, in the order they came: straight from their clients (`hops` 0)
    /// or forwarded by a server. Those passed on to the same server go in one message.
    pub fn client_requests(
        &mut self,
        raft: &mut Raft,
        requests: impl IntoIterator<Item = Forward>,
        now: u64,
    ) -> Vec<Outgoing> {
        let mut routed = Routed::default();
        for Forward {
            origin,
            request,
            hops,
        } in requests
        {
            self.route(raft, origin, request, hops, None, now, &mut routed);
        }
        Self::release(routed)
    }

    /// What to send of what routing made: the bodies, and one forward message per
    /// server passed to.
    fn release(routed: Routed) -> Vec<Outgoing> {
        let Routed { mut out, forwards } = routed;
        out.extend(forward_messages(forwards));
        out
    }

    /// Requests wait as long as two elections may take ([`Raft::election_wait`]); when
    /// that grows while they wait (the timing followed slower round trips), so do their
    /// waits.
    pub fn follow_timing(&mut self, raft: &Raft) {
        let park_for = 2 * raft.election_wait();
        let longer = park_for.saturating_sub(self.park_for);
        self.park_for = park_for;
        for parked in &mut self.parked {
            parked.give_up_at += longer;
        }
    }

    /// When the held requests need routing again: now, if a leader is known; otherwise
    /// when the first of them gives up. None when none is held.
    pub fn parked_due(&self, raft: &Raft, now: u64) -> Option<u64> {
        let give_up = self.parked.iter().map(|p| p.give_up_at).min()?;
        Some(if raft.leader().is_some() {
            now
        } else {
            give_up
        })
    }

    /// Routes the held requests again: a leader is known, or their wait is over.
    pub fn route_parked(&mut self, raft: &mut Raft, now: u64) -> Vec<Outgoing> {
        let mut routed = Routed::default();
        for parked in std::mem::take(&mut self.parked) {
            let copies = if raft.leader().is_some()
                && self.injected(crate::raft::InjectedBug::ParkedRequestSentTwice)
            {
                2
            } else {
                1
            };
            for _ in 0..copies {
                self.route(
                    raft,
                    parked.origin.clone(),
                    parked.request.clone(),
                    parked.hops,
                    Some(parked.give_up_at),
                    now,
                    &mut routed,
                );
            }
        }
        Self::release(routed)
    }

    /// Answers the admin requests the core has settled.
    pub fn take_admin_answers(&mut self, raft: &mut Raft) -> Vec<Outgoing> {
        let mut out = Vec::new();
        for (id, outcome) in raft.take_admin_outcomes() {
            let Some((origin, ok_type)) = self.admin.remove(&id) else {
                continue;
            };
            let body = match outcome {
                AdminOutcome::Done => protocol::admin_ok(origin.msg_id, ok_type),
                AdminOutcome::Failed(error) => {
                    protocol::error(origin.msg_id, admin_error_code(&error), &error.to_string())
                }
                // The change may still commit under another leader: no definite answer.
                AdminOutcome::Unknown => continue,
            };
            out.push(Outgoing {
                to: origin.client,
                body,
            });
        }
        out
    }

    /// What the state machine has to do next, if anything: committed entries, and the
    /// reads the core confirmed or gave up, with who asked.
    pub fn take_batch(&mut self, raft: &mut Raft) -> Option<Batch> {
        let snapshot = raft.take_snapshot_to_apply();
        let entries = raft.take_committed();
        let reads = raft.take_reads();
        let batch = Batch {
            snapshot,
            entries,
            ready: (reads.ready.iter())
                .filter_map(|(id, _)| self.reads.remove(id))
                .collect(),
            aborted: (reads.aborted.iter())
                .filter_map(|id| self.reads.remove(id).map(|(origin, _)| origin))
                .collect(),
        };
        (!batch.is_empty()).then_some(batch)
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        raft: &mut Raft,
        origin: ClientRef,
        request: Request,
        hops: u32,
        give_up_at: Option<u64>,
        now: u64,
        routed: &mut Routed,
    ) {
        if self.serve(raft, &origin, &request, now, &mut routed.out) {
            return;
        }
        let me = raft.id().clone();
        self.follow_timing(raft);
        let give_up_at = give_up_at.unwrap_or(now + self.park_for);
        let voter = raft.voters().contains(&me);
        if raft.leader().is_none() && voter && now < give_up_at {
            // A voter without a leader is in an election, which usually ends within an
            // election timeout: hold the request (nobody else has it) rather than fail it.
            self.parked.push(Parked {
                origin,
                request,
                hops,
                give_up_at,
            });
            return;
        }
        let next_hop = match raft.leader() {
            Some(leader) if *leader != me => Some(leader.clone()),
            // A server outside the voters (not yet added, or removed) may never hear
            // from a leader; the voters it knows of likely have.
            _ if !voter => raft
                .voters()
                .iter()
                .filter(|v| **v != me)
                .choose(&mut self.rng)
                .cloned(),
            // A voter whose election outlasted the wait: fail rather than send the
            // request where a partition may swallow it.
            _ => None,
        };
        match next_hop {
            Some(leader) if hops < MAX_HOPS => {
                if self.verbose {
                    eprintln!(
                        "{me}: forwarding {}:{} to {leader}",
                        origin.client, origin.msg_id
                    );
                }
                if self.injected(crate::raft::InjectedBug::DefiniteErrorAfterForward) {
                    routed.out.push(no_leader(&origin));
                }
                let forward = Forward {
                    origin,
                    request,
                    hops: hops + 1,
                };
                routed.forwards.push((leader, forward));
            }
            _ => {
                // Nobody has proposed this request, and nobody else holds a copy of it:
                // failing it is definite and safe.
                if self.verbose {
                    eprintln!(
                        "{me}: no leader for {}:{}, failing it",
                        origin.client, origin.msg_id
                    );
                }
                routed.out.push(no_leader(&origin));
            }
        }
    }

    /// Takes the request if this server is a leader serving requests: proposes it,
    /// starts a read, or starts or answers an admin request. Returns false, with nothing
    /// changed, when the request must go elsewhere.
    fn serve(
        &mut self,
        raft: &mut Raft,
        origin: &ClientRef,
        request: &Request,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> bool {
        let op = match request {
            Request::Read { key } => {
                self.next_read_id += 1;
                let read = self.next_read_id;
                if raft.read_index(read, now).is_err() {
                    return false;
                }
                self.reads.insert(read, (origin.clone(), key.clone()));
                return true;
            }
            Request::Write { key, value } => KvOp::Write {
                key: key.clone(),
                value: value.clone(),
            },
            Request::Cas { key, from, to } => KvOp::Cas {
                key: key.clone(),
                from: from.clone(),
                to: to.clone(),
            },
            Request::ReadConfig => return read_config(raft, origin, out),
            Request::AddVoter { node } => {
                let change = Admin::Change(ConfigChange::AddVoter(node.clone()));
                return self.admin(raft, origin, request, node, change, now, out);
            }
            Request::AddNonVoter { node } => {
                let change = Admin::Change(ConfigChange::AddNonVoter(node.clone()));
                return self.admin(raft, origin, request, node, change, now, out);
            }
            Request::RemoveServer { node } => {
                let change = Admin::Change(ConfigChange::RemoveServer(node.clone()));
                return self.admin(raft, origin, request, node, change, now, out);
            }
            Request::TransferLeadership { node } => {
                let transfer = Admin::Transfer(node.clone());
                return self.admin(raft, origin, request, node, transfer, now, out);
            }
        };
        let is_write = matches!(op, KvOp::Write { .. });
        let command = Command {
            client: origin.client.clone(),
            msg_id: origin.msg_id,
            proposer: raft.id().clone(),
            op,
        };
        let proposed = raft.propose(command.encode()).is_ok();
        if proposed && is_write && self.injected(crate::raft::InjectedBug::AnswerBeforeCommit) {
            out.push(Outgoing {
                to: origin.client.clone(),
                body: protocol::write_ok(origin.msg_id),
            });
        }
        proposed
    }

    /// Starts an admin request about server `node` on the leader. The core answers
    /// later (see [`Requests::take_admin_answers`]), unless it refuses at once; a server
    /// that does not lead passes the request on. A server outside node_ids is refused by
    /// whoever sees it first.
    #[allow(clippy::too_many_arguments)]
    fn admin(
        &mut self,
        raft: &mut Raft,
        origin: &ClientRef,
        request: &Request,
        node: &NodeId,
        action: Admin,
        now: u64,
        out: &mut Vec<Outgoing>,
    ) -> bool {
        if !self.node_ids.contains(node) {
            let text = format!("unknown server {node:?}: not in init's node_ids");
            out.push(Outgoing {
                to: origin.client.clone(),
                body: protocol::error(origin.msg_id, code::MALFORMED_REQUEST, &text),
            });
            return true;
        }
        self.next_admin_id += 1;
        let id = self.next_admin_id;
        let started = match action {
            Admin::Change(change) => raft.change_config(id, change, now),
            Admin::Transfer(target) => raft.transfer_leadership(id, target, now),
        };
        match started {
            Ok(()) => {
                self.admin.insert(id, (origin.clone(), request.ok_type()));
            }
            Err(AdminError::NotLeader(_)) => return false,
            Err(refused) => out.push(Outgoing {
                to: origin.client.clone(),
                body: protocol::error(
                    origin.msg_id,
                    admin_error_code(&refused),
                    &refused.to_string(),
                ),
            }),
        }
        true
    }
}

/// What routing requests made: bodies to send, and the requests passed on to other
/// servers.
#[derive(Default)]
struct Routed {
    out: Vec<Outgoing>,
    forwards: Vec<(NodeId, Forward)>,
}

/// One `forward` message per server passed to, carrying its requests in the order they
/// were routed.
fn forward_messages(forwards: Vec<(NodeId, Forward)>) -> impl Iterator<Item = Outgoing> {
    let mut by_server: Vec<(NodeId, Vec<Forward>)> = Vec::new();
    for (to, forward) in forwards {
        match by_server.iter_mut().find(|(server, _)| *server == to) {
            Some((_, forwards)) => forwards.push(forward),
            None => by_server.push((to, vec![forward])),
        }
    }
    (by_server.into_iter()).map(|(to, forwards)| Outgoing {
        to,
        body: protocol::forward_body(&forwards),
    })
}

/// What an admin request asks of the core.
enum Admin {
    Change(ConfigChange),
    Transfer(NodeId),
}

/// Only a leader answers, so the answer is as fresh as this server can give.
fn read_config(raft: &Raft, origin: &ClientRef, out: &mut Vec<Outgoing>) -> bool {
    if raft.leader() != Some(raft.id()) {
        return false;
    }
    out.push(Outgoing {
        to: origin.client.clone(),
        body: protocol::read_config_ok(
            origin.msg_id,
            raft.id(),
            raft.term(),
            &raft.configuration(),
        ),
    });
    true
}

fn no_leader(origin: &ClientRef) -> Outgoing {
    Outgoing {
        to: origin.client.clone(),
        body: protocol::error(
            origin.msg_id,
            code::TEMPORARILY_UNAVAILABLE,
            "no leader known",
        ),
    }
}

/// Every refusal is definite: nothing changed. Most are worth retrying later.
fn admin_error_code(error: &AdminError) -> u64 {
    match error {
        AdminError::LastVoter => code::MALFORMED_REQUEST,
        _ => code::TEMPORARILY_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Inbound;
    use crate::raft::{Configuration, Message, Recovered};
    use serde_json::json;

    /// Server n1 of n0..n2, which knows no leader yet.
    fn server() -> (Raft, Requests) {
        let ids: Vec<NodeId> = ["n0", "n1", "n2"].map(String::from).to_vec();
        let config = Config::default();
        let bootstrap = Configuration::with_voters(ids.iter().cloned());
        let raft = Raft::new(
            "n1".into(),
            bootstrap,
            config.clone(),
            Recovered::default(),
            1,
            0,
        );
        (raft, Requests::new(ids, &config, false, 1))
    }

    /// A heartbeat from leader n0 in term 1.
    fn heartbeat() -> Message {
        Message::AppendEntries {
            term: 1,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
            read_seq: 0,
            sent_at: 0,
            election_timeout: 0,
        }
    }

    /// Server n1 of n0..n2, which has heard from leader n0 in term 1.
    fn follower() -> (Raft, Requests) {
        let (mut raft, requests) = server();
        raft.step(&"n0".to_string(), heartbeat(), 1);
        assert_eq!(raft.leader().map(String::as_str), Some("n0"));
        (raft, requests)
    }

    fn request(client: &str, msg_id: u64, hops: u32) -> Forward {
        Forward {
            origin: ClientRef {
                client: client.into(),
                msg_id,
            },
            request: if msg_id.is_multiple_of(2) {
                Request::Read { key: json!(msg_id) }
            } else {
                Request::Write {
                    key: json!(msg_id),
                    value: json!(1),
                }
            },
            hops,
        }
    }

    /// The requests one outgoing forward message carries, as the receiver reads them.
    fn carried(out: &Outgoing) -> Vec<Forward> {
        let line = protocol::envelope("n1", &out.to, out.body.clone());
        match protocol::parse(&line) {
            Ok(Inbound::Forward { forwards, .. }) => forwards,
            other => panic!("not a forward: {other:?}"),
        }
    }

    #[test]
    fn a_burst_at_a_follower_goes_to_the_leader_as_one_message_in_order() {
        let (mut raft, mut requests) = follower();
        let burst = vec![
            request("c1", 1, 0),
            request("c2", 2, 0),
            request("c1", 3, 0),
            request("c3", 4, 1),
        ];
        let out = requests.client_requests(&mut raft, burst.clone(), 2);
        assert_eq!(out.len(), 1, "one message for the whole burst: {out:?}");
        assert_eq!(out[0].to, "n0");
        let hopped: Vec<Forward> = (burst.into_iter())
            .map(|f| Forward {
                hops: f.hops + 1,
                ..f
            })
            .collect();
        assert_eq!(carried(&out[0]), hopped);
    }

    #[test]
    fn a_lone_request_leaves_at_once() {
        let (mut raft, mut requests) = follower();
        let out = requests.client_requests(&mut raft, [request("c1", 7, 0)], 2);
        assert_eq!(out.len(), 1);
        assert_eq!(carried(&out[0]), vec![request("c1", 7, 1)]);
        // Nothing is kept back to wait for company.
        assert_eq!(requests.parked_due(&raft, 2), None);
        assert!(requests.route_parked(&mut raft, 3).is_empty());
    }

    #[test]
    fn requests_out_of_hops_fail_and_the_rest_still_go_together() {
        let (mut raft, mut requests) = follower();
        let out = requests.client_requests(
            &mut raft,
            [
                request("c1", 1, 0),
                request("c2", 3, MAX_HOPS),
                request("c3", 5, 2),
            ],
            2,
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].to, "c2");
        assert_eq!(out[0].body["code"], json!(code::TEMPORARILY_UNAVAILABLE));
        assert_eq!(
            carried(&out[1]),
            vec![request("c1", 1, 1), request("c3", 5, 3)]
        );
    }

    #[test]
    fn requests_held_through_an_election_leave_together_once_a_leader_is_known() {
        let (mut raft, mut requests) = server();
        let held =
            requests.client_requests(&mut raft, [request("c1", 1, 0), request("c2", 2, 0)], 1);
        assert!(held.is_empty(), "no leader yet: held, not failed");
        raft.step(&"n0".to_string(), heartbeat(), 2);
        assert_eq!(requests.parked_due(&raft, 3), Some(3));
        let out = requests.route_parked(&mut raft, 3);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(
            carried(&out[0]),
            vec![request("c1", 1, 1), request("c2", 2, 1)]
        );
    }
}
