//! Consumer-group partition assignors: the plan a group leader computes from the members'
//! subscriptions (the `consumer` protocol type's "range", "roundrobin" and
//! "cooperative-sticky"), with the Java client's semantics so that kafka_rs can lead, or follow,
//! a group that mixes it with Java, librdkafka and ruby-kafka members.
//!
//! Pure computation: no I/O, no wire format. The caller decodes the JoinGroup member metadata
//! into [`MemberSubscription`]s, takes partition counts from metadata, and encodes the result.
//!
//! # Inputs
//!
//! * Members are identified by `member_id`; when two entries share one, the first is used and
//!   the others are ignored. Every distinct member gets an entry in the result, empty when it
//!   gets nothing.
//! * A topic takes part when at least one member subscribes to it and `partitions_per_topic`
//!   gives it a count above zero (its partitions are `0..count`). A subscribed topic missing from
//!   `partitions_per_topic` (no metadata yet) is skipped, as the Java client does.
//! * Member and topic names are ordered as Java orders strings (by UTF-16 code unit), so the
//!   order is the Java client's even for names outside the Basic Multilingual Plane.
//! * `rack` is carried but not used: rack-aware assignment needs the racks of each partition's
//!   replicas, which this input does not have. Without them the Java assignors use their
//!   rack-unaware rules too, which are the ones below.
//!
//! # range (eager)
//!
//! Per topic: the members subscribed to it, in the Java client's member order (static members,
//! those with a `group_instance_id`, first, ordered by instance id; then the others, ordered by
//! member id), receive contiguous ranges of partitions in that order; with `n` partitions and
//! `m` members each gets `n / m`, and the first `n % m` get one more. Same output as Java's
//! `RangeAssignor` without rack information. (librdkafka orders by instance id only when both
//! members are static, so it can differ in groups that mix static and dynamic members.)
//!
//! # roundrobin (eager)
//!
//! Every partition of every subscribed topic, topics in name order and partitions in number
//! order, is dealt to the members in the same member order as range, one at a time, cycling; a
//! member not subscribed to the partition's topic is skipped (the cycle moves past it). Same
//! output as Java's `RoundRobinAssignor`. (ruby-kafka 1.x deals in the JoinGroup response's
//! member order instead, so its output differs unless that order happens to be sorted.)
//!
//! # cooperative-sticky (cooperative)
//!
//! Java's `CooperativeStickyAssignor` is specified by its properties, not by one output (its
//! result depends on hash-map iteration order), so this module implements the properties, and
//! exactly these rules:
//!
//! 1. **Claims.** A member claims the partitions in its `owned_partitions` (duplicates count
//!    once, partitions outside the topics taking part are ignored), with its `generation`
//!    (`None` counts as -1, Java's `DEFAULT_GENERATION`). For each partition, the claimants
//!    with the highest generation win: one winner is the partition's *previous owner*; two or
//!    more winners (two members claiming it in the same generation, which a correct group never
//!    produces) make it *disputed*: it has no previous owner. A lower-generation claim is stale
//!    and ignored.
//! 2. **Target.** The leader computes a target assignment in which every partition of the topics
//!    taking part goes to exactly one member subscribed to its topic, and which
//!    * first minimises the sum over members of the square of their partition count (the most
//!      balanced assignment: no partition can move to a member subscribed to its topic that has
//!      two fewer partitions than its holder, even through a chain of such moves; members with
//!      the same subscription end up within one partition of each other);
//!    * then, among those, moves the fewest partitions away from their previous owner (a
//!      previous owner counts only while it is still subscribed to the partition's topic).
//!
//!    When all members subscribe to the same topics this is the quota rule: `n / m` each, `n % m`
//!    members get one more, those extra slots go first to members that already own more than
//!    `n / m`, each member keeps as many of its own partitions as its quota allows (lowest
//!    partition numbers first), and the rest are dealt round-robin to members below quota.
//!    Otherwise a greedy fill (each free partition to the subscribed member with the fewest
//!    partitions) is refined by cancelling negative cycles of partition moves until the
//!    assignment is optimal for both criteria.
//! 3. **Withholding.** A partition is left out of this generation's assignment when it is
//!    disputed, or when it has a previous owner other than its target member (also when that
//!    owner no longer subscribes to its topic: it still holds the partition). Its claimant(s)
//!    see it missing from their assignment, revoke it and rejoin; in that follow-up rebalance
//!    nobody claims it any more and it is assigned. So no partition is ever handed to a member
//!    while another member of the same or a newer generation still holds it. Partitions nobody
//!    claimed (new partitions, or those of a member that left) are handed out at once.
//!
//! With unchanged membership, subscriptions and partition counts, the follow-up rebalance
//! needs no revocation: the previous target keeps every partition with its holder and is
//! already optimal, so the leader withholds nothing and the group is stable after one follow-up.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A topic name and a partition number.
pub type TopicPartition = (String, i32);

/// Member id → the member's partitions, each list sorted by topic then partition.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// What one member told the group when it joined (decoded from its JoinGroup metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    /// Static membership (`group.instance.id`), when the member has one.
    pub group_instance_id: Option<String>,
    /// Subscribed topic names.
    pub topics: Vec<String>,
    /// Partitions the member holds now (subscription v1+); only the sticky assignor reads them.
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions`: the subscription's
    /// generation field (v2+), or else the generation the cooperative-sticky assignor's user
    /// data carries; `None` when neither is present.
    pub generation: Option<i32>,
    /// `client.rack` (subscription v3+). Carried, not used (see the module docs).
    pub rack: Option<String>,
}

/// The assignors a kafka_rs member can offer and run as leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignor {
    Range,
    RoundRobin,
    CooperativeSticky,
}

impl Assignor {
    pub const ALL: [Assignor; 3] = [
        Assignor::Range,
        Assignor::RoundRobin,
        Assignor::CooperativeSticky,
    ];

    /// The protocol name members announce in JoinGroup.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    pub fn from_name(name: &str) -> Option<Assignor> {
        Assignor::ALL.into_iter().find(|a| a.name() == name)
    }

    /// True when members keep their partitions across a rebalance and revoke only what the
    /// new assignment takes away (the cooperative protocol); false for the eager protocol, in
    /// which every member revokes everything before joining.
    pub fn is_cooperative(self) -> bool {
        matches!(self, Assignor::CooperativeSticky)
    }

    /// The assignment for this generation. For cooperative-sticky, partitions that must first be
    /// revoked by their holder are left out (see [`cooperative_sticky_plan`]).
    pub fn assign(
        self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> GroupAssignment {
        match self {
            Assignor::Range => range(&distinct_members(members), partitions_per_topic),
            Assignor::RoundRobin => round_robin(&distinct_members(members), partitions_per_topic),
            Assignor::CooperativeSticky => {
                cooperative_sticky_plan(members, partitions_per_topic).assignment
            }
        }
    }
}

/// The cooperative-sticky assignor's whole result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StickyPlan {
    /// Where every partition is headed: balanced, and moving as few as possible.
    pub target: GroupAssignment,
    /// What this generation hands out: `target` without `withheld`.
    pub assignment: GroupAssignment,
    /// Partitions of `target` held back until their current holder revokes them, each with the
    /// member that will get it, sorted.
    pub withheld: Vec<(TopicPartition, String)>,
}

/// Runs the cooperative-sticky assignor (rules in the module docs).
pub fn cooperative_sticky_plan(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> StickyPlan {
    let input = StickyInput::new(members, partitions_per_topic);
    let holder = input.target();
    let mut plan = StickyPlan {
        target: empty_assignment(&input.members),
        assignment: empty_assignment(&input.members),
        withheld: Vec::new(),
    };
    for (p, &m) in holder.iter().enumerate() {
        let member_id = &input.members[m].member_id;
        let tp = input.universe.name(p);
        let held_elsewhere = match input.claims[p] {
            Claim::Unclaimed => false,
            Claim::Owner(owner) => owner != m,
            Claim::Disputed => true,
        };
        push(&mut plan.target, member_id, tp.clone());
        if held_elsewhere {
            plan.withheld.push((tp, member_id.clone()));
        } else {
            push(&mut plan.assignment, member_id, tp);
        }
    }
    plan
}

/// The sticky assignor's input, indexed: members sorted by member id, partitions numbered.
struct StickyInput<'a> {
    members: Vec<&'a MemberSubscription>,
    universe: Universe<'a>,
    /// Per member, the numbers of the topics taking part that it subscribes to, ascending.
    subscriptions: Vec<Vec<usize>>,
    claims: Vec<Claim>,
    /// Per partition, its previous owner if that member still subscribes to its topic.
    previous_owner: Vec<Option<usize>>,
}

impl<'a> StickyInput<'a> {
    fn new(
        members: &'a [MemberSubscription],
        partitions_per_topic: &'a BTreeMap<String, i32>,
    ) -> StickyInput<'a> {
        let mut members = distinct_members(members);
        members.sort_by(|a, b| java_cmp(&a.member_id, &b.member_id));
        let universe = Universe::new(&members, partitions_per_topic);
        let subscriptions: Vec<Vec<usize>> = members
            .iter()
            .map(|member| {
                let mut topics: Vec<usize> = member
                    .topics
                    .iter()
                    .filter_map(|topic| universe.index.get(topic.as_str()).copied())
                    .collect();
                topics.sort_unstable();
                topics.dedup();
                topics
            })
            .collect();
        let claims = resolve_claims(&members, &universe);
        let previous_owner = claims
            .iter()
            .enumerate()
            .map(|(p, claim)| match *claim {
                Claim::Owner(m)
                    if subscriptions[m]
                        .binary_search(&universe.topic_of[p])
                        .is_ok() =>
                {
                    Some(m)
                }
                _ => None,
            })
            .collect();
        StickyInput {
            members,
            universe,
            subscriptions,
            claims,
            previous_owner,
        }
    }

    /// Rule 2: each partition's member in the target assignment.
    fn target(&self) -> Vec<usize> {
        if self.universe.len() == 0 {
            Vec::new()
        } else if self
            .subscriptions
            .iter()
            .all(|s| *s == self.subscriptions[0])
        {
            quota_assignment(self.members.len(), &self.universe, &self.previous_owner)
        } else {
            balanced_assignment(&self.universe, &self.subscriptions, &self.previous_owner)
        }
    }
}

/// Java's `String.compareTo`: by UTF-16 code unit.
fn java_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The Java client's member order (`AbstractPartitionAssignor.MemberInfo`): static members first,
/// by instance id, then dynamic members by member id. Ties (two members claiming one instance
/// id) fall back to the member id, to stay deterministic.
fn java_member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    by_instance.then_with(|| java_cmp(&a.member_id, &b.member_id))
}

fn distinct_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut seen = BTreeSet::new();
    members
        .iter()
        .filter(|m| seen.insert(m.member_id.as_str()))
        .collect()
}

fn empty_assignment(members: &[&MemberSubscription]) -> GroupAssignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

fn push(assignment: &mut GroupAssignment, member_id: &str, tp: TopicPartition) {
    if let Some(list) = assignment.get_mut(member_id) {
        list.push(tp);
    }
}

fn range(
    members: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut assignment = empty_assignment(members);
    for (topic, &count) in partitions_per_topic {
        let mut subscribers: Vec<&MemberSubscription> = members
            .iter()
            .copied()
            .filter(|m| m.topics.iter().any(|t| t == topic))
            .collect();
        if count <= 0 || subscribers.is_empty() {
            continue;
        }
        subscribers.sort_by(|a, b| java_member_order(a, b));
        let n = count as usize;
        let per_member = n / subscribers.len();
        let with_extra = n % subscribers.len();
        let mut next = 0;
        for (k, member) in subscribers.iter().enumerate() {
            let take = per_member + usize::from(k < with_extra);
            for partition in next..next + take {
                push(
                    &mut assignment,
                    &member.member_id,
                    (topic.clone(), partition as i32),
                );
            }
            next += take;
        }
    }
    for list in assignment.values_mut() {
        list.sort();
    }
    assignment
}

fn round_robin(
    members: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut assignment = empty_assignment(members);
    let mut order = members.to_vec();
    order.sort_by(|a, b| java_member_order(a, b));
    let subscribed: Vec<BTreeSet<&str>> = order
        .iter()
        .map(|m| m.topics.iter().map(String::as_str).collect())
        .collect();
    let mut topics: Vec<&str> = subscribed.iter().flatten().copied().collect();
    topics.sort_by(|a, b| java_cmp(a, b));
    topics.dedup();

    let mut next = 0;
    for topic in topics {
        let count = partitions_per_topic.get(topic).copied().unwrap_or(0);
        for partition in 0..count.max(0) {
            // Some member subscribes to `topic` (it came from a subscription), so this ends.
            while !subscribed[next].contains(topic) {
                next = (next + 1) % order.len();
            }
            push(
                &mut assignment,
                &order[next].member_id,
                (topic.to_string(), partition),
            );
            next = (next + 1) % order.len();
        }
    }
    for list in assignment.values_mut() {
        list.sort();
    }
    assignment
}

/// The partitions taking part in a sticky assignment, numbered densely: topic by topic in name
/// order, partition numbers ascending within a topic.
struct Universe<'a> {
    topics: Vec<&'a str>,
    index: BTreeMap<&'a str, usize>,
    /// `first[t]` is the number of the topic's partition 0; `first[topics.len()]` is the total.
    first: Vec<usize>,
    topic_of: Vec<usize>,
}

impl<'a> Universe<'a> {
    fn new(
        members: &[&MemberSubscription],
        partitions_per_topic: &'a BTreeMap<String, i32>,
    ) -> Universe<'a> {
        let subscribed: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        let mut universe = Universe {
            topics: Vec::new(),
            index: BTreeMap::new(),
            first: vec![0],
            topic_of: Vec::new(),
        };
        for (topic, &count) in partitions_per_topic {
            if count <= 0 || !subscribed.contains(topic.as_str()) {
                continue;
            }
            let t = universe.topics.len();
            universe.topics.push(topic);
            universe.index.insert(topic, t);
            universe
                .topic_of
                .extend(std::iter::repeat_n(t, count as usize));
            universe.first.push(universe.topic_of.len());
        }
        universe
    }

    fn len(&self) -> usize {
        self.topic_of.len()
    }

    fn locate(&self, topic: &str, partition: i32) -> Option<usize> {
        let t = *self.index.get(topic)?;
        let p = self.first[t].checked_add(usize::try_from(partition).ok()?)?;
        (p < self.first[t + 1]).then_some(p)
    }

    /// The partition's number within its topic.
    fn partition(&self, p: usize) -> usize {
        p - self.first[self.topic_of[p]]
    }

    fn name(&self, p: usize) -> TopicPartition {
        (
            self.topics[self.topic_of[p]].to_string(),
            self.partition(p) as i32,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Unclaimed,
    Owner(usize),
    Disputed,
}

/// Rule 1 of the module docs: per partition, the unique highest-generation claimant.
fn resolve_claims(members: &[&MemberSubscription], universe: &Universe) -> Vec<Claim> {
    // (generation, first claimant at that generation, number of claimants at it)
    let mut best: Vec<Option<(i32, usize, usize)>> = vec![None; universe.len()];
    let mut last_claimant = vec![usize::MAX; universe.len()];
    for (m, member) in members.iter().enumerate() {
        let generation = member.generation.unwrap_or(-1);
        for (topic, partition) in &member.owned_partitions {
            let Some(p) = universe.locate(topic, *partition) else {
                continue;
            };
            if last_claimant[p] == m {
                continue;
            }
            last_claimant[p] = m;
            best[p] = match best[p] {
                None => Some((generation, m, 1)),
                Some((g, _, _)) if generation > g => Some((generation, m, 1)),
                Some((g, owner, claimants)) if generation == g => Some((g, owner, claimants + 1)),
                older => older,
            };
        }
    }
    best.into_iter()
        .map(|b| match b {
            None => Claim::Unclaimed,
            Some((_, owner, 1)) => Claim::Owner(owner),
            Some(_) => Claim::Disputed,
        })
        .collect()
}

/// Rule 2 when every member subscribes to every topic taking part. Returns each partition's
/// member.
fn quota_assignment(
    members: usize,
    universe: &Universe,
    previous_owner: &[Option<usize>],
) -> Vec<usize> {
    let n = universe.len();
    let min_quota = n / members;
    let mut extra_slots = n % members;
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); members];
    for (p, owner) in previous_owner.iter().enumerate() {
        if let Some(m) = *owner {
            owned[m].push(p);
        }
    }
    let mut quota = vec![min_quota; members];
    // An extra slot lets a member that owns more than the minimum keep one more partition.
    for m in 0..members {
        if extra_slots > 0 && owned[m].len() > min_quota {
            quota[m] += 1;
            extra_slots -= 1;
        }
    }
    for q in quota.iter_mut() {
        if extra_slots > 0 && *q == min_quota {
            *q += 1;
            extra_slots -= 1;
        }
    }

    let mut holder = vec![usize::MAX; n];
    let mut count = vec![0; members];
    for (m, list) in owned.iter_mut().enumerate() {
        // Keep the lowest partition numbers across topics, which spreads what a member keeps.
        list.sort_by_key(|&p| (universe.partition(p), universe.topic_of[p]));
        for &p in list.iter().take(quota[m]) {
            holder[p] = m;
            count[m] += 1;
        }
    }
    let mut next = 0;
    for h in holder.iter_mut().filter(|h| **h == usize::MAX) {
        // The quotas add up to n, so some member is below quota while a partition is free.
        while count[next] >= quota[next] {
            next = (next + 1) % members;
        }
        *h = next;
        count[next] += 1;
        next = (next + 1) % members;
    }
    holder
}

/// Rule 2 for differing subscriptions: greedy fill, then optimal by cycle cancelling. Returns
/// each partition's member.
fn balanced_assignment(
    universe: &Universe,
    subscriptions: &[Vec<usize>],
    previous_owner: &[Option<usize>],
) -> Vec<usize> {
    let members = subscriptions.len();
    let topics = universe.topics.len();
    let mut eligible = vec![false; members * topics];
    let mut subscribers: Vec<Vec<usize>> = vec![Vec::new(); topics];
    for (m, subscription) in subscriptions.iter().enumerate() {
        for &t in subscription {
            eligible[m * topics + t] = true;
            subscribers[t].push(m);
        }
    }

    let mut holder: Vec<usize> = previous_owner
        .iter()
        .map(|o| o.unwrap_or(usize::MAX))
        .collect();
    let mut count = vec![0usize; members];
    for &h in holder.iter().filter(|h| **h != usize::MAX) {
        count[h] += 1;
    }
    let mut free: Vec<usize> = (0..universe.len())
        .filter(|&p| holder[p] == usize::MAX)
        .collect();
    // Partitions with the fewest possible members first: they have the least choice.
    free.sort_by_key(|&p| (subscribers[universe.topic_of[p]].len(), p));
    for p in free {
        let candidates = &subscribers[universe.topic_of[p]];
        let m = *candidates
            .iter()
            .min_by_key(|&&m| count[m])
            .expect("every topic taking part has a subscriber");
        holder[p] = m;
        count[m] += 1;
    }

    let mut balancer = Balancer::new(universe, subscriptions, eligible, previous_owner, holder);
    while let Some(cycle) = balancer.negative_cycle() {
        balancer.apply(&cycle);
    }
    balancer.holder
}

/// Minimises `weight * sum(count²) + moves` over assignments of partitions to subscribed members,
/// where `moves` counts partitions not with their previous owner, by cancelling negative cycles
/// in the residual graph over members plus a sink node:
/// * `x → y` (members): move one partition of `x` whose topic `y` subscribes to over to `y`;
///   costs -1 if it returns to `y` as its previous owner, +1 if it leaves `x` as its previous
///   owner, else 0 (the cheapest such partition is used);
/// * `y → sink`: `y` ends with one more partition, `weight * (2·count(y) + 1)`;
/// * `sink → x`: `x` ends with one fewer, `-weight * (2·count(x) - 1)`.
///
/// A simple cycle visits each member once, so its cost is exactly the objective's change; the
/// objective is minimal when no negative cycle is left. `weight` exceeds any number of moves,
/// so balance always comes first.
struct Balancer<'a> {
    members: usize,
    topics: usize,
    topic_of: &'a [usize],
    subscriptions: &'a [Vec<usize>],
    /// `eligible[m * topics + t]`: member `m` subscribes to topic `t`.
    eligible: Vec<bool>,
    previous_owner: &'a [Option<usize>],
    holder: Vec<usize>,
    held: Vec<BTreeSet<usize>>,
    count: Vec<i64>,
    /// `[x * topics + t]`: partitions of `t` that `x` holds.
    held_in_topic: Vec<u32>,
    /// `[x * topics + t]`: partitions of `t` that `x` holds without being their previous owner.
    foreign_in_topic: Vec<u32>,
    /// `[x * members + y]`: partitions `x` holds whose previous owner is `y` (`y != x`).
    owned_by: Vec<u32>,
    weight: i64,
}

impl<'a> Balancer<'a> {
    fn new(
        universe: &'a Universe,
        subscriptions: &'a [Vec<usize>],
        eligible: Vec<bool>,
        previous_owner: &'a [Option<usize>],
        holder: Vec<usize>,
    ) -> Balancer<'a> {
        let members = subscriptions.len();
        let topics = universe.topics.len();
        let mut balancer = Balancer {
            members,
            topics,
            topic_of: &universe.topic_of,
            subscriptions,
            eligible,
            previous_owner,
            holder: holder.clone(),
            held: vec![BTreeSet::new(); members],
            count: vec![0; members],
            held_in_topic: vec![0; members * topics],
            foreign_in_topic: vec![0; members * topics],
            owned_by: vec![0; members * members],
            weight: universe.len() as i64 + 1,
        };
        for (p, &m) in holder.iter().enumerate() {
            balancer.add(p, m);
        }
        balancer
    }

    fn add(&mut self, p: usize, m: usize) {
        let t = self.topic_of[p];
        self.held[m].insert(p);
        self.count[m] += 1;
        self.held_in_topic[m * self.topics + t] += 1;
        match self.previous_owner[p] {
            Some(o) if o == m => {}
            Some(o) => {
                self.foreign_in_topic[m * self.topics + t] += 1;
                self.owned_by[m * self.members + o] += 1;
            }
            None => self.foreign_in_topic[m * self.topics + t] += 1,
        }
        self.holder[p] = m;
    }

    fn remove(&mut self, p: usize, m: usize) {
        let t = self.topic_of[p];
        self.held[m].remove(&p);
        self.count[m] -= 1;
        self.held_in_topic[m * self.topics + t] -= 1;
        match self.previous_owner[p] {
            Some(o) if o == m => {}
            Some(o) => {
                self.foreign_in_topic[m * self.topics + t] -= 1;
                self.owned_by[m * self.members + o] -= 1;
            }
            None => self.foreign_in_topic[m * self.topics + t] -= 1,
        }
    }

    /// The cost of moving the cheapest suitable partition from `x` to `y`, if `x` has one.
    fn move_cost(&self, x: usize, y: usize) -> Option<i64> {
        if self.owned_by[x * self.members + y] > 0 {
            return Some(-1);
        }
        let mut cost = None;
        for &t in &self.subscriptions[y] {
            if self.foreign_in_topic[x * self.topics + t] > 0 {
                return Some(0);
            }
            if self.held_in_topic[x * self.topics + t] > 0 {
                cost = Some(1);
            }
        }
        cost
    }

    /// The partition that `move_cost(x, y)` priced.
    fn cheapest_move(&self, x: usize, y: usize) -> usize {
        let mut neutral = None;
        let mut costly = None;
        for &p in &self.held[x] {
            if !self.eligible[y * self.topics + self.topic_of[p]] {
                continue;
            }
            match self.previous_owner[p] {
                Some(o) if o == y => return p,
                Some(o) if o == x => {
                    costly.get_or_insert(p);
                }
                _ => {
                    neutral.get_or_insert(p);
                }
            }
        }
        neutral
            .or(costly)
            .expect("move_cost found a partition for this move")
    }

    /// Bellman-Ford from a virtual source joined to every node; returns a cycle of the
    /// predecessor graph (always negative) as soon as one forms.
    fn negative_cycle(&self) -> Option<Vec<usize>> {
        let sink = self.members;
        let nodes = self.members + 1;
        let mut edges: Vec<(usize, usize, i64)> = Vec::new();
        for x in 0..self.members {
            for y in 0..self.members {
                if x != y {
                    if let Some(cost) = self.move_cost(x, y) {
                        edges.push((x, y, cost));
                    }
                }
            }
            edges.push((x, sink, self.weight * (2 * self.count[x] + 1)));
            if self.count[x] > 0 {
                edges.push((sink, x, -self.weight * (2 * self.count[x] - 1)));
            }
        }
        let mut distance = vec![0i64; nodes];
        let mut predecessor = vec![usize::MAX; nodes];
        for _ in 0..=nodes {
            let mut changed = false;
            for &(a, b, cost) in &edges {
                if distance[a] + cost < distance[b] {
                    distance[b] = distance[a] + cost;
                    predecessor[b] = a;
                    changed = true;
                }
            }
            if !changed {
                return None;
            }
            if let Some(cycle) = predecessor_cycle(&predecessor) {
                return Some(cycle);
            }
        }
        // Still relaxing after |V| rounds means a negative cycle, which the predecessor graph
        // then contains; not reached.
        debug_assert!(
            false,
            "Bellman-Ford kept relaxing without a predecessor cycle"
        );
        None
    }

    /// Moves one partition along each member-to-member edge of `cycle` (given in edge order).
    fn apply(&mut self, cycle: &[usize]) {
        let moves: Vec<(usize, usize, usize)> = (0..cycle.len())
            .map(|i| (cycle[i], cycle[(i + 1) % cycle.len()]))
            .filter(|&(x, y)| x < self.members && y < self.members)
            .map(|(x, y)| (self.cheapest_move(x, y), x, y))
            .collect();
        for (p, x, y) in moves {
            self.remove(p, x);
            self.add(p, y);
        }
    }
}

/// A cycle of the predecessor graph (`predecessor[v]` is the tail of the edge into `v`), in edge
/// order, if there is one.
fn predecessor_cycle(predecessor: &[usize]) -> Option<Vec<usize>> {
    let mut walk = vec![usize::MAX; predecessor.len()];
    for start in 0..predecessor.len() {
        let mut v = start;
        while v != usize::MAX && walk[v] == usize::MAX {
            walk[v] = start;
            v = predecessor[v];
        }
        if v != usize::MAX && walk[v] == start {
            let mut cycle = vec![v];
            let mut u = predecessor[v];
            while u != v {
                cycle.push(u);
                u = predecessor[u];
            }
            cycle.reverse();
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.to_string(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..MemberSubscription::default()
        }
    }

    fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            group_instance_id: Some(instance.to_string()),
            ..member(id, topics)
        }
    }

    fn owning(
        subscription: MemberSubscription,
        generation: i32,
        owned: &[(&str, i32)],
    ) -> MemberSubscription {
        MemberSubscription {
            generation: Some(generation),
            owned_partitions: tps(owned),
            ..subscription
        }
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter().map(|&(t, p)| (t.to_string(), p)).collect()
    }

    fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|&(t, n)| (t.to_string(), n)).collect()
    }

    fn expected(list: &[(&str, &[(&str, i32)])]) -> GroupAssignment {
        list.iter()
            .map(|&(m, owned)| (m.to_string(), tps(owned)))
            .collect()
    }

    #[test]
    fn protocol_names() {
        assert_eq!(Assignor::Range.name(), "range");
        assert_eq!(Assignor::RoundRobin.name(), "roundrobin");
        assert_eq!(Assignor::CooperativeSticky.name(), "cooperative-sticky");
        for assignor in Assignor::ALL {
            assert_eq!(Assignor::from_name(assignor.name()), Some(assignor));
        }
        assert_eq!(Assignor::from_name("sticky"), None);
        assert!(!Assignor::Range.is_cooperative());
        assert!(!Assignor::RoundRobin.is_cooperative());
        assert!(Assignor::CooperativeSticky.is_cooperative());
    }

    #[test]
    fn java_string_order_is_by_utf16_code_unit() {
        // U+10000 is the surrogate pair D800 DC00 in UTF-16, below U+FFFF; in UTF-8 it is above.
        assert_eq!(java_cmp("\u{10000}", "\u{FFFF}"), Ordering::Less);
        assert_eq!("\u{10000}".cmp("\u{FFFF}"), Ordering::Greater);
        assert_eq!(java_cmp("a", "b"), Ordering::Less);
        assert_eq!(java_cmp("ab", "a"), Ordering::Greater);
    }

    // Range: two members, two topics of three partitions each.
    #[test]
    fn range_splits_each_topic_into_contiguous_ranges() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let result = Assignor::Range.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("C0", &[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]),
                ("C1", &[("t0", 2), ("t1", 2)]),
            ])
        );
    }

    #[test]
    fn range_gives_the_remainder_to_the_first_members() {
        let members = [
            member("c", &["t"]),
            member("a", &["t"]),
            member("b", &["t"]),
        ];
        let result = Assignor::Range.assign(&members, &topics(&[("t", 7)]));
        assert_eq!(
            result,
            expected(&[
                ("a", &[("t", 0), ("t", 1), ("t", 2)]),
                ("b", &[("t", 3), ("t", 4)]),
                ("c", &[("t", 5), ("t", 6)]),
            ])
        );
        // More members than partitions: the last ones get nothing, but appear.
        let result = Assignor::Range.assign(&members, &topics(&[("t", 2)]));
        assert_eq!(
            result,
            expected(&[("a", &[("t", 0)]), ("b", &[("t", 1)]), ("c", &[])])
        );
    }

    // After a rolling bounce of static members, new member ids sort the other way round, but
    // the instance ids keep each instance's ranges.
    #[test]
    fn range_orders_static_members_by_instance_id() {
        let members = [
            static_member("C3", "I0", &["t0", "t1"]),
            static_member("C2", "I1", &["t0", "t1"]),
        ];
        let result = Assignor::Range.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("C2", &[("t0", 2), ("t1", 2)]),
                ("C3", &[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]),
            ])
        );
        // Static members come before dynamic ones whatever their member ids.
        let members = [member("a", &["t"]), static_member("z", "I9", &["t"])];
        let result = Assignor::Range.assign(&members, &topics(&[("t", 3)]));
        assert_eq!(
            result,
            expected(&[("a", &[("t", 2)]), ("z", &[("t", 0), ("t", 1)])])
        );
    }

    #[test]
    fn range_per_topic_subscribers_and_missing_metadata() {
        let members = [
            member("a", &["t0", "unknown"]),
            member("b", &["t0", "t1"]),
            member("a", &["t1"]), // a duplicate id: ignored
        ];
        let result = Assignor::Range.assign(
            &members,
            &topics(&[("t0", 2), ("t1", 2), ("empty", 0), ("nobody", 4)]),
        );
        assert_eq!(
            result,
            expected(&[
                ("a", &[("t0", 0)]),
                ("b", &[("t0", 1), ("t1", 0), ("t1", 1)])
            ])
        );
        assert!(Assignor::Range.assign(&[], &topics(&[("t", 3)])).is_empty());
    }

    #[test]
    fn roundrobin_deals_partitions_in_turn() {
        let members = [member("C1", &["t0", "t1"]), member("C0", &["t0", "t1"])];
        let result = Assignor::RoundRobin.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("C0", &[("t0", 0), ("t0", 2), ("t1", 1)]),
                ("C1", &[("t0", 1), ("t1", 0), ("t1", 2)]),
            ])
        );
    }

    // Three members with nested subscriptions over topics of 1, 2 and 3 partitions: the cycle
    // skips members not subscribed to a partition's topic, which leaves the result unbalanced.
    #[test]
    fn roundrobin_skips_members_not_subscribed() {
        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let result =
            Assignor::RoundRobin.assign(&members, &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("C0", &[("t0", 0)]),
                ("C1", &[("t1", 0)]),
                ("C2", &[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]),
            ])
        );
    }

    #[test]
    fn roundrobin_orders_static_members_by_instance_id() {
        let members = [
            static_member("C5", "I0", &["t0", "t1"]),
            static_member("C3", "I1", &["t0", "t1"]),
            static_member("C4", "I2", &["t0", "t1"]),
        ];
        let result = Assignor::RoundRobin.assign(&members, &topics(&[("t0", 3), ("t1", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("C3", &[("t0", 1), ("t1", 1)]),
                ("C4", &[("t0", 2), ("t1", 2)]),
                ("C5", &[("t0", 0), ("t1", 0)]),
            ])
        );
    }

    #[test]
    fn roundrobin_orders_names_as_java_does() {
        let members = [member("\u{FFFF}", &["t"]), member("\u{10000}", &["t"])];
        let result = Assignor::RoundRobin.assign(&members, &topics(&[("t", 3)]));
        assert_eq!(
            result,
            expected(&[
                ("\u{10000}", &[("t", 0), ("t", 2)]),
                ("\u{FFFF}", &[("t", 1)]),
            ])
        );
    }

    fn counts(assignment: &GroupAssignment) -> Vec<usize> {
        assignment.values().map(Vec::len).collect()
    }

    // Three members, four topics of two partitions each, from scratch.
    #[test]
    fn sticky_fresh_group_is_balanced() {
        let all = ["t0", "t1", "t2", "t3"];
        let members = [member("C0", &all), member("C1", &all), member("C2", &all)];
        let partitions = topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(plan.assignment, plan.target);
        let mut sizes = counts(&plan.assignment);
        sizes.sort_unstable();
        assert_eq!(sizes, vec![2, 3, 3]);
        let mut all_assigned: Vec<_> = plan.assignment.values().flatten().cloned().collect();
        all_assigned.sort();
        assert_eq!(all_assigned.len(), 8);
        all_assigned.dedup();
        assert_eq!(all_assigned.len(), 8);
    }

    // The same group after C1 leaves: C0 and C2 keep everything and share C1's three.
    #[test]
    fn sticky_member_leaving_moves_only_its_partitions() {
        let all = ["t0", "t1", "t2", "t3"];
        let c0_owned = [("t0", 0), ("t1", 1), ("t3", 0)];
        let c2_owned = [("t1", 0), ("t2", 1)];
        let members = [
            owning(member("C0", &all), 1, &c0_owned),
            owning(member("C2", &all), 1, &c2_owned),
        ];
        let partitions = topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(
            plan.withheld.is_empty(),
            "C1's partitions have no holder left"
        );
        assert_eq!(counts(&plan.assignment), vec![4, 4]);
        for tp in tps(&c0_owned) {
            assert!(plan.assignment["C0"].contains(&tp));
        }
        for tp in tps(&c2_owned) {
            assert!(plan.assignment["C2"].contains(&tp));
        }
    }

    // Nested subscriptions over topics of 1, 2 and 3 partitions: the sticky assignor balances
    // where round robin does not, and when C0 leaves only its partition moves.
    #[test]
    fn sticky_balances_differing_subscriptions() {
        let partitions = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let c0 = member("C0", &["t0"]);
        let c1 = member("C1", &["t0", "t1"]);
        let c2 = member("C2", &["t0", "t1", "t2"]);
        let plan = cooperative_sticky_plan(&[c0, c1.clone(), c2.clone()], &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(
            plan.assignment,
            expected(&[
                ("C0", &[("t0", 0)]),
                ("C1", &[("t1", 0), ("t1", 1)]),
                ("C2", &[("t2", 0), ("t2", 1), ("t2", 2)]),
            ])
        );

        let members = [
            owning(c1, 1, &[("t1", 0), ("t1", 1)]),
            owning(c2, 1, &[("t2", 0), ("t2", 1), ("t2", 2)]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(
            plan.assignment,
            expected(&[
                ("C1", &[("t0", 0), ("t1", 0), ("t1", 1)]),
                ("C2", &[("t2", 0), ("t2", 1), ("t2", 2)]),
            ])
        );
    }

    // C joins A and B, which hold three partitions each. The first rebalance only takes one
    // partition from each of A and B (C gets nothing yet); the follow-up hands them to C
    // without touching A or B.
    #[test]
    fn cooperative_join_takes_two_rebalances() {
        let partitions = topics(&[("t", 6)]);
        let members = [
            owning(member("A", &["t"]), 1, &[("t", 0), ("t", 1), ("t", 2)]),
            owning(member("B", &["t"]), 1, &[("t", 3), ("t", 4), ("t", 5)]),
            member("C", &["t"]),
        ];
        let first = cooperative_sticky_plan(&members, &partitions);
        assert_eq!(
            first.target,
            expected(&[
                ("A", &[("t", 0), ("t", 1)]),
                ("B", &[("t", 3), ("t", 4)]),
                ("C", &[("t", 2), ("t", 5)]),
            ])
        );
        assert_eq!(
            first.assignment,
            expected(&[
                ("A", &[("t", 0), ("t", 1)]),
                ("B", &[("t", 3), ("t", 4)]),
                ("C", &[]),
            ])
        );
        assert_eq!(
            first.withheld,
            vec![
                (("t".to_string(), 2), "C".to_string()),
                (("t".to_string(), 5), "C".to_string()),
            ]
        );
        assert_eq!(
            Assignor::CooperativeSticky.assign(&members, &partitions),
            first.assignment
        );

        let members = [
            owning(member("A", &["t"]), 2, &[("t", 0), ("t", 1)]),
            owning(member("B", &["t"]), 2, &[("t", 3), ("t", 4)]),
            owning(member("C", &["t"]), 2, &[]),
        ];
        let second = cooperative_sticky_plan(&members, &partitions);
        assert!(second.withheld.is_empty());
        assert_eq!(second.assignment, first.target);
    }

    #[test]
    fn stale_claims_lose_to_newer_generations() {
        let partitions = topics(&[("t", 2)]);
        // B still lists t-0 from generation 2, but A got it in generation 3.
        let members = [
            owning(member("A", &["t"]), 3, &[("t", 0)]),
            owning(member("B", &["t"]), 2, &[("t", 0), ("t", 1)]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(
            plan.assignment,
            expected(&[("A", &[("t", 0)]), ("B", &[("t", 1)])])
        );

        // The newer claim wins even when it is listed second.
        let members = [
            owning(member("A", &["t"]), 2, &[("t", 0), ("t", 1)]),
            owning(member("B", &["t"]), 3, &[("t", 0)]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(
            plan.assignment,
            expected(&[("A", &[("t", 1)]), ("B", &[("t", 0)])])
        );
    }

    #[test]
    fn partitions_claimed_twice_in_one_generation_are_withheld() {
        let partitions = topics(&[("t", 2)]);
        let members = [
            owning(member("A", &["t"]), 3, &[("t", 0)]),
            owning(member("B", &["t"]), 3, &[("t", 0), ("t", 1)]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert_eq!(
            plan.target,
            expected(&[("A", &[("t", 0)]), ("B", &[("t", 1)])])
        );
        assert_eq!(plan.assignment, expected(&[("A", &[]), ("B", &[("t", 1)])]));
        assert_eq!(plan.withheld, vec![(("t".to_string(), 0), "A".to_string())]);
    }

    // A member that stopped subscribing to a topic still holds its partitions until it
    // revokes them, so their new member waits.
    #[test]
    fn partitions_of_an_unsubscribed_topic_wait_for_revocation() {
        let partitions = topics(&[("t1", 1), ("t2", 1)]);
        let members = [
            owning(member("A", &["t2"]), 1, &[("t1", 0)]),
            owning(member("B", &["t1"]), 1, &[]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert_eq!(
            plan.target,
            expected(&[("A", &[("t2", 0)]), ("B", &[("t1", 0)])])
        );
        assert_eq!(
            plan.assignment,
            expected(&[("A", &[("t2", 0)]), ("B", &[])])
        );
    }

    #[test]
    fn sticky_ignores_claims_outside_the_topics_taking_part() {
        let partitions = topics(&[("t", 2), ("other", 3)]);
        let members = [
            owning(
                member("A", &["t"]),
                1,
                &[
                    ("gone", 0),
                    ("t", 7),
                    ("t", -1),
                    ("other", 0),
                    ("t", 1),
                    ("t", 1),
                ],
            ),
            member("B", &["t"]),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert!(plan.withheld.is_empty());
        assert_eq!(
            plan.assignment,
            expected(&[("A", &[("t", 1)]), ("B", &[("t", 0)])])
        );
    }

    // Only c can take nothing but t2, so d must give up t2 and take t3, which a could also
    // take. The cheapest balanced result keeps t1 with a; reaching it from the greedy start
    // needs the move that returns a partition to its previous owner.
    #[test]
    fn sticky_moves_the_fewest_partitions_with_differing_subscriptions() {
        let partitions = topics(&[("t0", 3), ("t1", 3), ("t2", 3), ("t3", 3)]);
        let members = [
            owning(
                member("a", &["t1", "t3"]),
                5,
                &[("t1", 0), ("t1", 1), ("t1", 2)],
            ),
            owning(
                member("b", &["t0", "t1", "t2"]),
                5,
                &[("t0", 0), ("t0", 1), ("t0", 2)],
            ),
            owning(member("c", &["t2"]), 5, &[]),
            owning(
                member("d", &["t1", "t2", "t3"]),
                5,
                &[("t2", 0), ("t2", 1), ("t2", 2)],
            ),
        ];
        let plan = cooperative_sticky_plan(&members, &partitions);
        assert_eq!(
            plan.target,
            expected(&[
                ("a", &[("t1", 0), ("t1", 1), ("t1", 2)]),
                ("b", &[("t0", 0), ("t0", 1), ("t0", 2)]),
                ("c", &[("t2", 0), ("t2", 1), ("t2", 2)]),
                ("d", &[("t3", 0), ("t3", 1), ("t3", 2)]),
            ])
        );
        assert_eq!(plan.assignment["c"], vec![]);
        assert_eq!(plan.withheld.len(), 3);
    }

    #[test]
    fn sticky_degenerate_inputs() {
        assert_eq!(
            cooperative_sticky_plan(&[], &topics(&[("t", 3)])),
            StickyPlan::default()
        );
        let members = [member("a", &["missing"]), member("b", &[])];
        let plan = cooperative_sticky_plan(&members, &topics(&[("t", 3), ("missing", 0)]));
        assert_eq!(plan.assignment, expected(&[("a", &[]), ("b", &[])]));
        // A member subscribed to nothing beside members that are.
        let members = [member("a", &["t"]), member("b", &[])];
        let plan = cooperative_sticky_plan(&members, &topics(&[("t", 3)]));
        assert_eq!(
            plan.assignment,
            expected(&[("a", &[("t", 0), ("t", 1), ("t", 2)]), ("b", &[])])
        );
    }

    /// splitmix64: a small deterministic generator for the randomized tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn subset(&mut self, topics: &[String]) -> Vec<String> {
            loop {
                let chosen: Vec<String> = topics
                    .iter()
                    .filter(|_| self.below(2) == 0)
                    .cloned()
                    .collect();
                if !chosen.is_empty() {
                    return chosen;
                }
            }
        }
    }

    fn sum_of_squares(assignment: &GroupAssignment) -> usize {
        assignment.values().map(|l| l.len() * l.len()).sum()
    }

    /// The partitions of subscribed topics with a positive count.
    fn all_partitions(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
    ) -> BTreeSet<TopicPartition> {
        let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
        partitions
            .iter()
            .filter(|(t, _)| subscribed.contains(t))
            .flat_map(|(t, &n)| (0..n).map(move |p| (t.clone(), p)))
            .collect()
    }

    /// Properties every cooperative-sticky plan has, whatever the input.
    fn check_plan(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
        plan: &StickyPlan,
    ) {
        let by_id: BTreeMap<&str, &MemberSubscription> =
            members.iter().map(|m| (m.member_id.as_str(), m)).collect();
        // The target covers every partition once, each with a subscribed member.
        let mut seen = BTreeSet::new();
        for (id, list) in &plan.target {
            for tp in list {
                assert!(seen.insert(tp.clone()), "{tp:?} in the target twice");
                assert!(by_id[id.as_str()].topics.contains(&tp.0));
            }
        }
        assert_eq!(seen, all_partitions(members, partitions));
        // The assignment is the target without the withheld partitions.
        let mut rebuilt = plan.assignment.clone();
        for (tp, id) in &plan.withheld {
            assert!(!plan.assignment[id].contains(tp));
            rebuilt.get_mut(id).unwrap().push(tp.clone());
        }
        for list in rebuilt.values_mut() {
            list.sort();
        }
        assert_eq!(rebuilt, plan.target);
        // Cooperative safety: nobody gets a partition another member holds in the same or a
        // newer generation.
        for (id, list) in &plan.assignment {
            let receiver = by_id[id.as_str()];
            for tp in list {
                for other in members.iter().filter(|o| o.member_id != *id) {
                    if other.owned_partitions.contains(tp) {
                        assert!(
                            receiver.owned_partitions.contains(tp)
                                && receiver.generation.unwrap_or(-1)
                                    > other.generation.unwrap_or(-1),
                            "{tp:?} given to {id} while {} holds it",
                            other.member_id
                        );
                    }
                }
            }
        }
        // Balance: no partition can go to a subscribed member with two fewer than its holder;
        // members with the same subscription are within one of each other.
        for (x, held) in &plan.target {
            for (y, other) in &plan.target {
                let y_topics = &by_id[y.as_str()].topics;
                if held.iter().any(|tp| y_topics.contains(&tp.0)) {
                    assert!(held.len() <= other.len() + 1, "{x} could give {y} one");
                }
                let mut xt = by_id[x.as_str()].topics.clone();
                let mut yt = y_topics.clone();
                xt.sort();
                yt.sort();
                if xt == yt {
                    assert!(held.len().abs_diff(other.len()) <= 1);
                }
            }
        }
    }

    /// The best (sum of squares, moves) over every assignment of the partitions to subscribed
    /// members, by exhaustive search; `previous` maps a partition to its previous owner.
    fn brute_force(
        members: &[MemberSubscription],
        partitions: &BTreeMap<String, i32>,
        previous: &BTreeMap<TopicPartition, String>,
    ) -> (usize, usize) {
        let all: Vec<TopicPartition> = all_partitions(members, partitions).into_iter().collect();
        let options: Vec<Vec<usize>> = all
            .iter()
            .map(|tp| {
                (0..members.len())
                    .filter(|&m| members[m].topics.contains(&tp.0))
                    .collect()
            })
            .collect();
        let owner: Vec<Option<usize>> = all
            .iter()
            .map(|tp| {
                previous
                    .get(tp)
                    .and_then(|id| members.iter().position(|m| m.member_id == *id))
            })
            .collect();
        fn search(
            i: usize,
            options: &[Vec<usize>],
            owner: &[Option<usize>],
            count: &mut Vec<usize>,
            moves: usize,
            best: &mut (usize, usize),
        ) {
            // A lower bound: the partitions left, each on the least loaded member, whatever
            // it subscribes to.
            let mut spread = count.clone();
            for _ in i..options.len() {
                *spread.iter_mut().min().unwrap() += 1;
            }
            let bound: usize = spread.iter().map(|c| c * c).sum();
            if (bound, moves) > *best {
                return;
            }
            if i == options.len() {
                *best = (bound, moves);
                return;
            }
            for &m in &options[i] {
                count[m] += 1;
                let moved = usize::from(owner[i].is_some_and(|o| o != m));
                search(i + 1, options, owner, count, moves + moved, best);
                count[m] -= 1;
            }
        }
        let mut best = (usize::MAX, usize::MAX);
        search(
            0,
            &options,
            &owner,
            &mut vec![0; members.len()],
            0,
            &mut best,
        );
        best
    }

    struct MemberState {
        topics: Vec<String>,
        owned: Vec<TopicPartition>,
        generation: Option<i32>,
    }

    /// A simulated group whose members apply each assignment they get.
    struct Group {
        partitions: BTreeMap<String, i32>,
        members: BTreeMap<String, MemberState>,
        generation: i32,
    }

    impl Group {
        fn subscriptions(&self) -> Vec<MemberSubscription> {
            self.members
                .iter()
                .map(|(id, state)| MemberSubscription {
                    member_id: id.clone(),
                    topics: state.topics.clone(),
                    owned_partitions: state.owned.clone(),
                    generation: state.generation,
                    ..MemberSubscription::default()
                })
                .collect()
        }

        fn rebalance(&mut self) -> StickyPlan {
            let input = self.subscriptions();
            let plan = cooperative_sticky_plan(&input, &self.partitions);
            check_plan(&input, &self.partitions, &plan);
            self.generation += 1;
            for (id, state) in &mut self.members {
                state.owned = plan.assignment[id].clone();
                state.generation = Some(self.generation);
            }
            plan
        }

        /// Each partition's holder, if that holder still subscribes to its topic.
        fn holders(&self) -> BTreeMap<TopicPartition, String> {
            let mut holders = BTreeMap::new();
            for (id, state) in &self.members {
                for tp in state.owned.iter().filter(|tp| state.topics.contains(&tp.0)) {
                    holders.insert(tp.clone(), id.clone());
                }
            }
            holders
        }
    }

    /// Members join, leave, change subscriptions and topics grow; after each change the group
    /// rebalances until it needs no more revocations, and every round is checked.
    fn simulate(seed: u64, steps: usize, differing: bool, max_members: usize, exhaustive: bool) {
        let mut rng = Rng(seed);
        let topic_names: Vec<String> = (0..1 + rng.below(4)).map(|t| format!("t{t}")).collect();
        let max_partitions = if exhaustive { 3 } else { 12 };
        let mut group = Group {
            partitions: topic_names
                .iter()
                .map(|t| (t.clone(), 1 + rng.below(max_partitions) as i32))
                .collect(),
            members: BTreeMap::new(),
            generation: 0,
        };
        let mut next_id = 0;
        for _ in 0..steps {
            match rng.below(10) {
                0..=3 if group.members.len() < max_members => {
                    let topics = if differing {
                        rng.subset(&topic_names)
                    } else {
                        topic_names.clone()
                    };
                    let id = format!("member-{:02}-{}", rng.below(100), next_id);
                    next_id += 1;
                    let state = MemberState {
                        topics,
                        owned: Vec::new(),
                        generation: None,
                    };
                    group.members.insert(id, state);
                }
                0..=6 if !group.members.is_empty() => {
                    let victim = group.members.keys().nth(rng.below(group.members.len()));
                    let victim = victim.cloned().unwrap();
                    group.members.remove(&victim);
                }
                7 | 8 if differing && !group.members.is_empty() => {
                    let k = rng.below(group.members.len());
                    let topics = rng.subset(&topic_names);
                    group.members.values_mut().nth(k).unwrap().topics = topics;
                }
                _ => {
                    let topic = &topic_names[rng.below(topic_names.len())];
                    let count = group.partitions.get_mut(topic).unwrap();
                    if !exhaustive || *count < 3 {
                        *count += 1;
                    }
                }
            }

            let before = group.holders();
            let input = group.subscriptions();
            let first = group.rebalance();
            let second = group.rebalance();
            assert!(second.withheld.is_empty(), "a second follow-up was needed");
            assert_eq!(second.assignment, second.target);
            for (id, list) in &first.assignment {
                for tp in list {
                    assert!(second.assignment[id].contains(tp), "{id} lost {tp:?}");
                }
            }
            let third = group.rebalance();
            assert_eq!(third.assignment, second.assignment, "not stable");

            // Movement: partitions that left a holder still subscribed to their topic.
            let moved = before
                .iter()
                .filter(|(tp, id)| !second.assignment[*id].contains(tp))
                .count();
            let n = all_partitions(&input, &group.partitions).len();
            let m = input.len();
            if exhaustive {
                let best = brute_force(&input, &group.partitions, &before);
                assert_eq!((sum_of_squares(&second.assignment), moved), best);
            } else if m > 0 && input.iter().all(|s| s.topics == input[0].topics) {
                let quota = n / m;
                let mut owned_counts = BTreeMap::<&String, usize>::new();
                for id in before.values() {
                    *owned_counts.entry(id).or_default() += 1;
                }
                let over = owned_counts.values().filter(|&&c| c > quota).count();
                let kept: usize =
                    owned_counts.values().map(|&c| c.min(quota)).sum::<usize>() + over.min(n % m);
                assert_eq!(moved, before.len() - kept);
            }
        }
    }

    #[test]
    fn randomized_rebalances_with_equal_subscriptions() {
        for seed in 0..40 {
            simulate(seed, 40, false, 12, false);
        }
    }

    #[test]
    fn randomized_rebalances_with_differing_subscriptions() {
        for seed in 100..140 {
            simulate(seed, 40, true, 8, false);
        }
    }

    #[test]
    fn randomized_small_groups_are_optimal() {
        for seed in 200..700 {
            simulate(seed, 25, seed % 2 == 0, 4, true);
        }
    }

    /// Random, possibly conflicting claims (stale and duplicated generations): the plan keeps
    /// its properties, and both algorithms find the same optimum where both apply.
    #[test]
    fn randomized_conflicting_claims() {
        let mut rng = Rng(7);
        for _ in 0..300 {
            let topic_names: Vec<String> = (0..1 + rng.below(3)).map(|t| format!("t{t}")).collect();
            let partitions: BTreeMap<String, i32> = topic_names
                .iter()
                .map(|t| (t.clone(), rng.below(6) as i32))
                .collect();
            let equal = rng.below(2) == 0;
            let members: Vec<MemberSubscription> = (0..1 + rng.below(5))
                .map(|i| {
                    let owned = (0..rng.below(6))
                        .map(|_| {
                            let topic = topic_names[rng.below(topic_names.len())].clone();
                            (topic, rng.below(7) as i32 - 1)
                        })
                        .collect();
                    MemberSubscription {
                        member_id: format!("m{i}"),
                        topics: if equal {
                            topic_names.clone()
                        } else {
                            rng.subset(&topic_names)
                        },
                        owned_partitions: owned,
                        generation: [None, Some(1), Some(2)][rng.below(3)],
                        ..MemberSubscription::default()
                    }
                })
                .collect();
            let plan = cooperative_sticky_plan(&members, &partitions);
            check_plan(&members, &partitions, &plan);

            let input = StickyInput::new(&members, &partitions);
            if input.universe.len() == 0 {
                continue;
            }
            let score = |holder: &[usize]| {
                let mut count = vec![0usize; input.members.len()];
                let mut moves = 0;
                for (p, &m) in holder.iter().enumerate() {
                    count[m] += 1;
                    moves += usize::from(input.previous_owner[p].is_some_and(|o| o != m));
                }
                (count.iter().map(|c| c * c).sum::<usize>(), moves)
            };
            let general =
                balanced_assignment(&input.universe, &input.subscriptions, &input.previous_owner);
            if equal {
                let quota =
                    quota_assignment(input.members.len(), &input.universe, &input.previous_owner);
                assert_eq!(score(&quota), score(&general));
            }
        }
    }

    /// Not a check: prints how long large plans take. Run with
    /// `cargo test --release -p kafka_rs_core assignor::tests::large_groups -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn large_groups() {
        use std::time::Instant;
        let mut rng = Rng(42);
        for &(members, topics_n, per_topic, differing) in &[
            (100usize, 50usize, 40i32, false),
            (1000, 10, 100, false),
            (30, 20, 100, true),
            (100, 50, 40, true),
            (1000, 10, 100, true),
        ] {
            let topic_names: Vec<String> = (0..topics_n).map(|t| format!("topic-{t}")).collect();
            let partitions: BTreeMap<String, i32> =
                topic_names.iter().map(|t| (t.clone(), per_topic)).collect();
            let mut subscriptions: Vec<MemberSubscription> = (0..members)
                .map(|i| MemberSubscription {
                    member_id: format!("consumer-{i:04}"),
                    topics: if differing {
                        rng.subset(&topic_names)
                    } else {
                        topic_names.clone()
                    },
                    ..MemberSubscription::default()
                })
                .collect();
            let started = Instant::now();
            let plan = cooperative_sticky_plan(&subscriptions, &partitions);
            let fresh = started.elapsed();
            // One member leaves; the others report what they own.
            subscriptions.pop();
            for s in &mut subscriptions {
                s.owned_partitions = plan.assignment[&s.member_id].clone();
                s.generation = Some(1);
            }
            let started = Instant::now();
            let after_leave = cooperative_sticky_plan(&subscriptions, &partitions);
            let leave = started.elapsed();
            println!(
                "{members} members, {} partitions, differing subscriptions: {differing}: \
                 fresh {fresh:?}, after one leaves {leave:?} ({} withheld)",
                topics_n * per_topic as usize,
                after_leave.withheld.len()
            );
        }
        // The worst case for the cycle cancelling: one member owns everything when 29 or 99
        // others, with differing subscriptions, join.
        for &(members, topics_n, per_topic) in &[(30usize, 20usize, 100i32), (100, 50, 40)] {
            let topic_names: Vec<String> = (0..topics_n).map(|t| format!("topic-{t}")).collect();
            let partitions: BTreeMap<String, i32> =
                topic_names.iter().map(|t| (t.clone(), per_topic)).collect();
            let mut subscriptions: Vec<MemberSubscription> = (0..members)
                .map(|i| MemberSubscription {
                    member_id: format!("consumer-{i:04}"),
                    topics: rng.subset(&topic_names),
                    ..MemberSubscription::default()
                })
                .collect();
            subscriptions[0].topics = topic_names.clone();
            subscriptions[0].owned_partitions = all_partitions(&subscriptions, &partitions)
                .into_iter()
                .collect();
            subscriptions[0].generation = Some(1);
            let started = Instant::now();
            let plan = cooperative_sticky_plan(&subscriptions, &partitions);
            println!(
                "{members} members, {} partitions, one owned all: {:?} ({} withheld)",
                topics_n * per_topic as usize,
                started.elapsed(),
                plan.withheld.len()
            );
        }
    }
}
