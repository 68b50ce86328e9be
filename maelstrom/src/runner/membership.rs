//! The membership nemesis (`--nemesis membership`): on its own schedule, next to the
//! one-fault-at-a-time nemesis, it changes the cluster's configuration through the
//! node's admin API, the way an operator would. Every gap (uniform in
//! [0, 2 x interval)) it
//!
//! 1. asks a random node for `read_config` (trying the others on an error or timeout),
//! 2. picks an action from the committed configuration ([`choose_action`]): it grows
//!    the voters to every node (some first as non-voters, promoted later), then shrinks
//!    them back to three, then grows again, re-adding the servers it removed; about one
//!    step in four hands the leadership to another voter instead,
//! 3. sends the request to a random node, member or not, and waits for the answer.
//!
//! Each request and its outcome becomes a `membership` line of nemesis.jsonl; none goes
//! to history.jsonl. Membership changes are not faults: nothing is undone at the end.
//! A node that answers read_config with error 10 (not supported) ends the nemesis for
//! the run after one line on stderr.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::client::ClientConn;
use super::journal::{Level, Source};
use super::recorder::{NemesisLog, RunState};
use crate::history::{MembershipChange, MembershipOutcome, NemesisEvent, NemesisKind};

/// How long one node has to answer read_config before the next one is asked.
const READ_CONFIG_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a change may take before its outcome is unknown.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a change in flight when the run ends may still take to answer.
const END_GRACE: Duration = Duration::from_secs(1);
/// How often a waiting request looks up to see whether the run is over.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The error code of a node that does not know a request type.
const NOT_SUPPORTED: i64 = 10;

/// About one step in four hands the leadership over instead of changing the members.
const TRANSFER_PROBABILITY: f64 = 0.25;
/// A node joining while growing is first added as a non-voter this often (and promoted
/// by a later step); otherwise it is added as a voter at once.
const NON_VOTER_FIRST_PROBABILITY: f64 = 0.5;
/// While shrinking, the leader itself is removed this often, besides the chance it has
/// as one random voter among the others.
const REMOVE_LEADER_PROBABILITY: f64 = 0.25;

/// The fewest voters the nemesis leaves: three, or every node of a smaller cluster.
pub fn min_voters(node_count: usize) -> usize {
    3.min(node_count).max(1)
}

/// A configuration as read_config reports its committed part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    pub leader: Option<String>,
    pub voters: Vec<String>,
    pub non_voters: Vec<String>,
}

/// Reads `leader` and `committed` out of a read_config_ok body.
pub fn parse_config(body: &Map<String, Value>) -> Result<ClusterConfig, String> {
    let names = |config: &Value, field: &str| -> Result<Vec<String>, String> {
        match config.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(String::from)
                        .ok_or_else(|| format!("committed.{field} holds {item}, not a node id"))
                })
                .collect(),
            Some(other) => Err(format!("committed.{field} is {other}, not a list")),
        }
    };
    let committed = body
        .get("committed")
        .filter(|committed| committed.is_object())
        .ok_or("no committed configuration")?;
    let voters = names(committed, "voters")?;
    if voters.is_empty() {
        return Err("the committed configuration has no voters".into());
    }
    Ok(ClusterConfig {
        leader: body.get("leader").and_then(Value::as_str).map(String::from),
        voters,
        non_voters: names(committed, "non_voters")?,
    })
}

/// Whether the nemesis is adding voters or removing them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Add servers that are not voters until every node is one.
    Grow,
    /// Remove voters until [`min_voters`] remain.
    Shrink,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AddVoter(String),
    AddNonVoter(String),
    RemoveServer(String),
    TransferLeadership(String),
}

impl Action {
    /// The request type, which is also the name in nemesis.jsonl and results.json.
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddVoter(_) => "add_voter",
            Action::AddNonVoter(_) => "add_non_voter",
            Action::RemoveServer(_) => "remove_server",
            Action::TransferLeadership(_) => "transfer_leadership",
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Action::AddVoter(node)
            | Action::AddNonVoter(node)
            | Action::RemoveServer(node)
            | Action::TransferLeadership(node) => node,
        }
    }
}

/// The next change for a cluster of `node_ids` whose committed configuration is
/// `config`, switching `phase` at the ends: grow until every node is a voter, shrink
/// until [`min_voters`] remain. `None` when there is nothing to do (a cluster of three
/// or fewer nodes, all voters, and no other voter to hand the leadership to).
pub fn choose_action(
    config: &ClusterConfig,
    node_ids: &[String],
    phase: &mut Phase,
    rng: &mut impl Rng,
) -> Option<Action> {
    let is_voter = |node: &String| config.voters.contains(node);
    let transfer_targets: Vec<&String> = config
        .voters
        .iter()
        .filter(|voter| Some(*voter) != config.leader.as_ref())
        .collect();
    let transfer = |rng: &mut _| {
        transfer_targets
            .choose(rng)
            .map(|node| Action::TransferLeadership((*node).clone()))
    };
    if rng.gen_bool(TRANSFER_PROBABILITY) {
        if let Some(action) = transfer(rng) {
            return Some(action);
        }
    }

    let joining: Vec<&String> = node_ids.iter().filter(|node| !is_voter(node)).collect();
    let floor = min_voters(node_ids.len());
    let can_shrink = config.voters.len() > floor;
    match *phase {
        Phase::Grow if joining.is_empty() => *phase = Phase::Shrink,
        Phase::Shrink if !can_shrink => *phase = Phase::Grow,
        _ => {}
    }
    match *phase {
        Phase::Grow if !joining.is_empty() => {
            let node = (*joining.choose(rng).expect("someone joins")).clone();
            if config.non_voters.contains(&node) || !rng.gen_bool(NON_VOTER_FIRST_PROBABILITY) {
                Some(Action::AddVoter(node))
            } else {
                Some(Action::AddNonVoter(node))
            }
        }
        Phase::Shrink if can_shrink => {
            let leader = config.leader.as_ref().filter(|leader| is_voter(leader));
            let node = match leader {
                Some(leader) if rng.gen_bool(REMOVE_LEADER_PROBABILITY) => leader,
                _ => config
                    .voters
                    .choose(rng)
                    .expect("more voters than the floor"),
            };
            Some(Action::RemoveServer(node.clone()))
        }
        _ => transfer(rng),
    }
}

/// The outcome of a change from its reply (`None`: no reply in time).
pub fn interpret_change(
    action: &str,
    reply: Option<&Map<String, Value>>,
) -> (MembershipOutcome, Option<(i64, String)>) {
    let Some(reply) = reply else {
        return (MembershipOutcome::Timeout, None);
    };
    let kind = reply.get("type").and_then(Value::as_str).unwrap_or("");
    if kind == format!("{action}_ok") {
        return (MembershipOutcome::Ok, None);
    }
    let error = if kind == "error" {
        (
            reply.get("code").and_then(Value::as_i64).unwrap_or(-1),
            reply
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    } else {
        (
            -1,
            format!("unexpected reply {}", Value::Object(reply.clone())),
        )
    };
    (MembershipOutcome::Error, Some(error))
}

/// What the run's summary needs beyond the events: whether the node supported the
/// admin API at all, and what the read_configs saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipReport {
    /// read_config was answered with error 10, so the nemesis stopped.
    pub unsupported: bool,
    /// Steps at which no node answered read_config.
    pub config_failures: u64,
    /// Fewest and most committed voters any read_config reported.
    pub voters_seen: Option<(usize, usize)>,
}

impl MembershipReport {
    fn saw(&mut self, config: &ClusterConfig) {
        let count = config.voters.len();
        self.voters_seen = Some(match self.voters_seen {
            None => (count, count),
            Some((fewest, most)) => (fewest.min(count), most.max(count)),
        });
    }
}

/// What read_config gave at one step.
enum ConfigRead {
    Config(ClusterConfig),
    /// No node answered usefully (or the run ended meanwhile).
    Nothing,
    /// Error 10: the node does not support admin requests.
    Unsupported {
        node: String,
        text: String,
    },
}

pub struct MembershipNemesis {
    pub run: Arc<RunState>,
    pub log: Arc<NemesisLog>,
    pub client: ClientConn,
    pub node_ids: Vec<String>,
    pub interval: Duration,
    pub rng: StdRng,
    /// Disconnected when the run's faults must end.
    pub stop: Receiver<()>,
}

impl MembershipNemesis {
    pub fn run(mut self) -> MembershipReport {
        let mut report = MembershipReport::default();
        let mut phase = Phase::Grow;
        while self.wait_gap() {
            let config = match self.read_config() {
                ConfigRead::Config(config) => config,
                ConfigRead::Nothing => {
                    if !self.stopped() {
                        report.config_failures += 1;
                        self.log
                            .set_membership("read_config unanswered".to_string());
                        self.run.log(
                            Level::Warn,
                            Source::Membership,
                            "no node answered read_config",
                        );
                    }
                    continue;
                }
                ConfigRead::Unsupported { node, text } => {
                    self.run.say(
                        Level::Warn,
                        &format!(
                            "node {node} answered read_config with error 10 ({text}): \
                             it does not support admin requests; no membership changes this run"
                        ),
                    );
                    self.log.set_membership("not supported".to_string());
                    report.unsupported = true;
                    return report;
                }
            };
            report.saw(&config);
            let Some(action) = choose_action(&config, &self.node_ids, &mut phase, &mut self.rng)
            else {
                continue;
            };
            self.change(&config, &action);
        }
        report
    }

    /// Waits for a gap uniform in [0, 2 x interval); false once the run is over.
    fn wait_gap(&mut self) -> bool {
        let gap = self.interval.mul_f64(self.rng.gen_range(0.0..2.0));
        matches!(self.stop.recv_timeout(gap), Err(RecvTimeoutError::Timeout))
            && !self.run.has_crashed()
    }

    fn stopped(&self) -> bool {
        matches!(self.stop.try_recv(), Err(TryRecvError::Disconnected)) || self.run.has_crashed()
    }

    /// Asks the nodes in random order until one gives its configuration.
    fn read_config(&mut self) -> ConfigRead {
        let mut nodes = self.node_ids.clone();
        nodes.shuffle(&mut self.rng);
        for node in nodes {
            if self.stopped() {
                break;
            }
            let msg_id = self.client.send(&node, request("read_config", None));
            let Some(reply) = self.await_reply(msg_id, READ_CONFIG_TIMEOUT, Duration::ZERO) else {
                continue;
            };
            match reply.get("type").and_then(Value::as_str) {
                Some("read_config_ok") => {
                    if let Ok(config) = parse_config(&reply) {
                        return ConfigRead::Config(config);
                    }
                }
                Some("error")
                    if reply.get("code").and_then(Value::as_i64) == Some(NOT_SUPPORTED) =>
                {
                    let text = reply.get("text").and_then(Value::as_str).unwrap_or("");
                    return ConfigRead::Unsupported {
                        node,
                        text: text.to_string(),
                    };
                }
                _ => {}
            }
        }
        ConfigRead::Nothing
    }

    /// Sends `action` to a random node, waits for its outcome and records it.
    fn change(&mut self, config: &ClusterConfig, action: &Action) {
        let via = self
            .node_ids
            .choose(&mut self.rng)
            .expect("at least one node")
            .clone();
        // The request gets its own line: a change that never ends (a crash, a hang) has
        // no outcome line.
        let list = |nodes: &[String]| {
            if nodes.is_empty() {
                "none".to_string()
            } else {
                nodes.join(",")
            }
        };
        self.run.log(
            Level::Info,
            Source::Membership,
            &format!(
                "{} {} via {via}, chosen from voters {}, non-voters {}, leader {}",
                action.name(),
                action.target(),
                list(&config.voters),
                list(&config.non_voters),
                config.leader.as_deref().unwrap_or("unknown")
            ),
        );
        let sent = self.run.now_nanos();
        let msg_id = self
            .client
            .send(&via, request(action.name(), Some(action.target())));
        let reply = self.await_reply(msg_id, CHANGE_TIMEOUT, END_GRACE);
        if self.run.has_crashed() {
            return;
        }
        let (outcome, error) = interpret_change(action.name(), reply.as_ref());
        let shown = match &error {
            Some((code, _)) => format!("error {code}"),
            None => outcome.name().to_string(),
        };
        self.log.set_membership(format!(
            "{} {} via {via}: {shown}",
            action.name(),
            action.target()
        ));
        self.log.record(
            &self.run,
            NemesisEvent {
                time: 0,
                kind: NemesisKind::Membership,
                nodes: vec![action.target().to_string()],
                shape: None,
                cut: None,
                membership: Some(MembershipChange {
                    action: action.name().to_string(),
                    node: action.target().to_string(),
                    via,
                    outcome,
                    error,
                    sent,
                    voters: config.voters.clone(),
                    non_voters: config.non_voters.clone(),
                    leader: config.leader.clone(),
                }),
            },
        );
    }

    /// Waits up to `timeout` for the reply to `msg_id`. Once the run is over, waits at
    /// most `grace` more, so the nemesis never holds up the end of the run.
    fn await_reply(
        &self,
        msg_id: u64,
        timeout: Duration,
        grace: Duration,
    ) -> Option<Map<String, Value>> {
        let deadline = Instant::now() + timeout;
        let mut until = deadline;
        let mut stopping = false;
        loop {
            let now = Instant::now();
            if now >= until {
                return None;
            }
            let slice = until.min(now + STOP_POLL);
            if let Some(reply) = self.client.await_reply(msg_id, slice, &self.run) {
                return Some(reply);
            }
            if self.run.has_crashed() {
                return None;
            }
            if !stopping && self.stopped() {
                stopping = true;
                until = deadline.min(Instant::now() + grace);
            }
        }
    }
}

fn request(kind: &str, node: Option<&str>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("type".into(), json!(kind));
    if let Some(node) = node {
        body.insert("node".into(), json!(node));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn config(leader: Option<&str>, voters: &[&str], non_voters: &[&str]) -> ClusterConfig {
        ClusterConfig {
            leader: leader.map(String::from),
            voters: voters.iter().map(|node| node.to_string()).collect(),
            non_voters: non_voters.iter().map(|node| node.to_string()).collect(),
        }
    }

    /// The configuration after `action` succeeded, as a faithful node would make it.
    fn apply(config: &mut ClusterConfig, action: &Action) {
        match action {
            Action::AddVoter(node) => {
                config.non_voters.retain(|other| other != node);
                if !config.voters.contains(node) {
                    config.voters.push(node.clone());
                }
            }
            Action::AddNonVoter(node) => config.non_voters.push(node.clone()),
            Action::RemoveServer(node) => {
                config.voters.retain(|other| other != node);
                config.non_voters.retain(|other| other != node);
                if config.leader.as_ref() == Some(node) {
                    config.leader = config.voters.first().cloned();
                }
            }
            Action::TransferLeadership(node) => config.leader = Some(node.clone()),
        }
    }

    /// Checks one chosen action against the configuration it was chosen from.
    fn assert_sensible(config: &ClusterConfig, all: &[String], action: &Action) {
        let target = action.target().to_string();
        assert!(all.contains(&target), "{action:?} names an unknown node");
        match action {
            Action::AddVoter(_) => assert!(!config.voters.contains(&target), "{action:?}"),
            Action::AddNonVoter(_) => {
                assert!(!config.voters.contains(&target), "{action:?}");
                assert!(!config.non_voters.contains(&target), "{action:?}");
            }
            Action::RemoveServer(_) => {
                assert!(config.voters.contains(&target), "{action:?}");
                assert!(
                    config.voters.len() > min_voters(all.len()),
                    "{action:?} from {config:?} goes below the floor"
                );
            }
            Action::TransferLeadership(_) => {
                assert!(config.voters.contains(&target), "{action:?} to a non-voter");
                assert_ne!(
                    config.leader.as_ref(),
                    Some(&target),
                    "{action:?} to itself"
                );
            }
        }
    }

    #[test]
    fn grows_to_every_node_then_shrinks_to_three_and_grows_again() {
        let all = nodes(5);
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut config = config(Some("n0"), &["n0", "n1", "n2"], &[]);
            let mut phase = Phase::Grow;
            let mut sizes = vec![config.voters.len()];
            let mut removed = BTreeSet::new();
            let mut re_added = false;
            let mut actions = BTreeSet::new();
            for _ in 0..200 {
                let action = choose_action(&config, &all, &mut phase, &mut rng)
                    .expect("five nodes always have something to do");
                assert_sensible(&config, &all, &action);
                actions.insert(action.name());
                match &action {
                    Action::RemoveServer(node) => {
                        removed.insert(node.clone());
                    }
                    Action::AddVoter(node) | Action::AddNonVoter(node) => {
                        re_added |= removed.contains(node);
                    }
                    Action::TransferLeadership(_) => {}
                }
                apply(&mut config, &action);
                assert!(config.voters.len() >= 3, "{config:?}");
                if sizes.last() != Some(&config.voters.len()) {
                    sizes.push(config.voters.len());
                }
            }
            // The voter count walks 3 -> 5 -> 3 -> 5 ... one server at a time.
            let turns: Vec<usize> = sizes
                .windows(3)
                .filter(|w| (w[1] > w[0]) != (w[2] > w[1]))
                .map(|w| w[1])
                .collect();
            assert!(turns.len() >= 4, "seed {seed}: {sizes:?}");
            assert!(
                turns.iter().all(|size| *size == 3 || *size == 5),
                "{sizes:?}"
            );
            assert!(sizes.windows(2).all(|w| w[0].abs_diff(w[1]) == 1));
            assert!(re_added, "seed {seed}: a removed server comes back");
            assert_eq!(actions.len(), 4, "seed {seed}: every action occurs");
        }
    }

    #[test]
    fn never_removes_below_three_voters() {
        let all = nodes(5);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..500 {
            let config = config(Some("n1"), &["n0", "n1", "n2"], &["n3"]);
            let mut phase = Phase::Shrink;
            let action = choose_action(&config, &all, &mut phase, &mut rng).unwrap();
            assert_sensible(&config, &all, &action);
            assert!(!matches!(action, Action::RemoveServer(_)), "{action:?}");
        }
        // A cluster started with fewer voters than the floor grows first.
        let config = config(None, &["n0"], &[]);
        let mut phase = Phase::Shrink;
        for _ in 0..100 {
            let action = choose_action(&config, &all, &mut phase, &mut rng).unwrap();
            assert_sensible(&config, &all, &action);
            assert!(!matches!(action, Action::RemoveServer(_)));
        }
        assert_eq!(phase, Phase::Grow);
    }

    #[test]
    fn small_clusters_keep_every_voter() {
        let mut rng = StdRng::seed_from_u64(2);
        for n in [1, 2, 3] {
            let all = nodes(n);
            let voters: Vec<&str> = all.iter().map(String::as_str).collect();
            let config = config(Some("n0"), &voters, &[]);
            for start in [Phase::Grow, Phase::Shrink] {
                let mut phase = start;
                for _ in 0..100 {
                    match choose_action(&config, &all, &mut phase, &mut rng) {
                        None => assert_eq!(n, 1, "only one node has no one to hand over to"),
                        Some(action) => {
                            assert_sensible(&config, &all, &action);
                            assert!(matches!(action, Action::TransferLeadership(_)));
                        }
                    }
                }
            }
        }
        assert_eq!(min_voters(1), 1);
        assert_eq!(min_voters(2), 2);
        assert_eq!(min_voters(7), 3);
    }

    #[test]
    fn transfers_go_to_other_voters_and_removals_sometimes_hit_the_leader() {
        let all = nodes(5);
        let mut rng = StdRng::seed_from_u64(3);
        let config = config(Some("n2"), &["n0", "n1", "n2", "n3"], &["n4"]);
        let (mut transfers, mut leader_removals, mut promotions) = (0, 0, 0);
        for _ in 0..1000 {
            let mut phase = Phase::Shrink;
            let action = choose_action(&config, &all, &mut phase, &mut rng).unwrap();
            assert_sensible(&config, &all, &action);
            match action {
                Action::TransferLeadership(_) => transfers += 1,
                Action::RemoveServer(node) if node == "n2" => leader_removals += 1,
                _ => {}
            }
            let mut phase = Phase::Grow;
            let action = choose_action(&config, &all, &mut phase, &mut rng).unwrap();
            assert_sensible(&config, &all, &action);
            // A non-voter is promoted, never added again.
            if action == Action::AddVoter("n4".into()) {
                promotions += 1;
            }
        }
        assert!((180..320).contains(&transfers), "about 1 in 4: {transfers}");
        assert!(
            leader_removals > 200,
            "the leader is removed often: {leader_removals}"
        );
        assert!(promotions > 600, "{promotions}");
        // With no leader known, any voter may be asked to lead.
        let leaderless = ClusterConfig {
            leader: None,
            ..config.clone()
        };
        let mut phase = Phase::Shrink;
        for _ in 0..100 {
            let action = choose_action(&leaderless, &all, &mut phase, &mut rng).unwrap();
            assert_sensible(&leaderless, &all, &action);
        }
    }

    #[test]
    fn the_same_seed_chooses_the_same_actions() {
        let all = nodes(5);
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut config = config(Some("n0"), &["n0", "n1", "n2"], &[]);
            let mut phase = Phase::Grow;
            (0..50)
                .map(|_| {
                    let action = choose_action(&config, &all, &mut phase, &mut rng).unwrap();
                    apply(&mut config, &action);
                    action
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn read_config_replies_are_parsed() {
        let reply = body(json!({
            "type": "read_config_ok", "in_reply_to": 1, "leader": "n0", "term": 5,
            "committed": {"index": 12, "voters": ["n0", "n1", "n2"], "non_voters": ["n3"]},
            "latest": {"index": 14, "voters": ["n0", "n1", "n2", "n3"], "non_voters": []},
            "staging": []
        }));
        assert_eq!(
            parse_config(&reply),
            Ok(config(Some("n0"), &["n0", "n1", "n2"], &["n3"]))
        );
        let leaderless = body(json!({"leader": null, "committed": {"voters": ["n1"]}}));
        assert_eq!(parse_config(&leaderless), Ok(config(None, &["n1"], &[])));
        for bad in [
            json!({"leader": "n0"}),
            json!({"committed": {"voters": []}}),
            json!({"committed": {"voters": "n0"}}),
            json!({"committed": {"voters": [1, 2]}}),
            json!({"committed": [], "voters": ["n0"]}),
        ] {
            assert!(parse_config(&body(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn change_replies_become_outcomes() {
        let ok = body(json!({"type": "add_voter_ok", "in_reply_to": 3}));
        assert_eq!(
            interpret_change("add_voter", Some(&ok)),
            (MembershipOutcome::Ok, None)
        );
        let busy = body(json!({"type": "error", "code": 11, "text": "change in progress"}));
        assert_eq!(
            interpret_change("remove_server", Some(&busy)),
            (
                MembershipOutcome::Error,
                Some((11, "change in progress".into()))
            )
        );
        // The right reply to the wrong request is not a success.
        let (outcome, error) = interpret_change("remove_server", Some(&ok));
        assert_eq!(outcome, MembershipOutcome::Error);
        assert_eq!(error.unwrap().0, -1);
        assert_eq!(
            interpret_change("transfer_leadership", None),
            (MembershipOutcome::Timeout, None)
        );
    }
}
