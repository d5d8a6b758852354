# frozen_string_literal: true

require_relative "consumer_process_support"

# Consumer groups across processes against the real broker: each member is a fresh
# `ruby -I lib` child (spec/support/consumer_child.rb) that writes every message it processed,
# its rebalance events and its commits to files, flushed per line, so a SIGKILL loses nothing the
# spec needs. Group timeouts are short (ConsumerProcesses::FAST: a dead member is noticed after
# 6 s).
RSpec.describe "consumer group members in separate processes", :integration do
  include IntegrationHelpers
  include ConsumerProcesses::Helpers

  let(:kafka) { IntegrationHelpers.client }
  let(:group) { "spec-procs-#{SecureRandom.hex(4)}" }

  after do |example|
    stop_children(example)
    drop_topics(kafka)
    kafka.close
  end

  # Eager (range: every member gives up everything on a rebalance) and cooperative (only the
  # partitions that move are given up) rebalances.
  %w[range cooperative-sticky].each do |assignor|
    it "splits 6 partitions over 3 processes, 2 each (#{assignor}); when one is SIGKILLed the others take its " \
       "partitions and every message is processed at least once, duplicates only from its uncommitted window" do
      check_sigkilled_member(assignor)
    end
  end

  def check_sigkilled_member(assignor)
    t0 = ConsumerProcesses.now
    topic = new_topic(kafka, partitions: 6)
    # 1 ms of "work" per message: the members are busy when the victim dies.
    options = ConsumerProcesses::FAST.merge(assignment_strategy: assignor)
    members = %w[a b c].map { |n| start_child(n, group: group, topic: topic, delay: 0.001, options: options) }
    wait_until("each of the 3 members owns 2 of the 6 partitions", timeout: 40) do
      as = members.map(&:assignment)
      as.all? { |a| a.size == 2 } && as.flatten.sort == (0..5).to_a
    end
    owned = members.to_h { |m| [m.name, m.assignment] }
    t_stable = ConsumerProcesses.now

    produced = produce_values(kafka, topic, 600, partitions: 6)
    wait_processed(members, produced, timeout: 30)
    # Each member processed exactly its own partitions.
    members.each { |m| expect(m.processed.map(&:partition).uniq.sort).to eq(owned[m.name]) }

    # Keep producing (~1,000 messages a second) and kill a member while it is processing.
    victim = members[1]
    survivors = members - [victim]
    more = Queue.new
    producer = Thread.new do
      30.times do |i|
        more << produce_values(kafka, topic, 60, partitions: 6, from: 600 + (i * 60))
        sleep 0.05
      end
    end
    before = victim.processed.size
    wait_until("the victim processes messages of the second round", timeout: 20) { victim.processed.size >= before + 50 }
    victim.kill
    t_kill = ConsumerProcesses.now
    victim_owned = owned[victim.name]
    wait_until("the 2 survivors own all 6 partitions", timeout: ConsumerProcesses::FAST[:session_timeout] + 10) do
      as = survivors.map(&:assignment)
      as.flatten.sort == (0..5).to_a
    end
    takeover = ConsumerProcesses.now - t_kill
    producer.join
    produced += Array.new(more.size) { more.pop }.flatten
    wait_processed(survivors + [victim], produced, timeout: 30)
    survivors.each { |m| expect(m.stop).to be_success, m.describe }

    records = members.flat_map(&:processed)
    expect(produced.to_set - records.map(&:value).to_set).to be_empty
    duplicates = duplicates_in(records)
    victim_records = victim.processed
    commits = victim.last_commits
    expect(commits.keys.sort).to eq(victim_owned), "the victim logged no commit: #{victim.describe}"
    windows = victim_owned.to_h do |p|
      last = victim_records.select { |r| r.partition == p }.map(&:offset).max
      resumed = survivors.flat_map(&:processed).select { |r| r.partition == p }.map(&:offset).min
      # Nothing before the victim's last commit is read again, nothing after its last message skipped.
      expect(resumed).to be_between(commits[p], last + 1), "partition #{p}: survivors resumed at #{resumed}, " \
                                                             "victim committed #{commits[p]}, processed up to #{last}"
      [p, { committed: commits[p], processed_to: last + 1, resumed: resumed }]
    end
    # Duplicates: only messages of the victim's partitions that the victim processed after the
    # offset the survivors resumed from.
    duplicates.each_key do |(p, offset)|
      expect(victim_owned).to include(p)
      expect(offset).to be_between(windows[p][:resumed], windows[p][:processed_to] - 1)
    end
    expect(duplicates.values).to all(eq(2))
    resumed_after = survivors.flat_map(&:processed).select { |r| victim_owned.include?(r.partition) }.map(&:at).min - t_kill
    note format("\n3 processes, 6 partitions, %s: stable after %.1fs; %d messages; takeover %.1fs after the SIGKILL " \
                "(session timeout %ds), first message of the victim's partitions processed %.1fs after it; " \
                "%d duplicates (victim's partitions %s: last logged commit -> processed up to " \
                "-> survivors resumed at %s); %.1fs in all",
                assignor, t_stable - t0, produced.size, takeover, ConsumerProcesses::FAST[:session_timeout], resumed_after,
                duplicates.size,
                victim_owned.inspect, windows.transform_values { |w| w.values_at(:committed, :processed_to, :resumed) }.inspect,
                ConsumerProcesses.now - t0)
  end

  # Per partition, the offsets in `records`.
  def offsets_by_partition(records)
    records.group_by(&:partition).transform_values { |rs| rs.map(&:offset).sort }
  end

  it "lets two groups each read every message, and a member restarted in its group resumes after its last " \
     "commit (after TERM: exactly there; after SIGKILL: re-reading at most its uncommitted window)" do
    t0 = ConsumerProcesses.now
    topic = new_topic(kafka, partitions: 3)
    other = "#{group}-other"
    first = start_child("g1-first", group: group, topic: topic)
    # The other group's member works slowly (5 ms a message), so the SIGKILL below lands mid-stream.
    second = start_child("g2-first", group: other, topic: topic, delay: 0.005)
    wait_until("both members own the 3 partitions", timeout: 30) { [first, second].all? { |m| m.assignment == [0, 1, 2] } }

    round1 = produce_values(kafka, topic, 300, partitions: 3)
    wait_processed([first], round1, timeout: 30)
    wait_processed([second], round1, timeout: 30)
    # Two groups, no failure: each group read every message exactly once.
    [first, second].each do |m|
      expect(m.processed.map(&:value)).to match_array(round1)
      expect(offsets_by_partition(m.processed)).to eq(0 => (0..99).to_a, 1 => (0..99).to_a, 2 => (0..99).to_a)
    end

    # Group 1: stopped with TERM (commits and leaves), restarted after more messages came.
    expect(first.stop).to be_success, first.describe
    round2 = produce_values(kafka, topic, 300, partitions: 3, from: 300)
    first_again = start_child("g1-again", group: group, topic: topic)
    wait_processed([first_again], round2, timeout: 30)
    expect(offsets_by_partition(first_again.processed)).to eq(0 => (100..199).to_a, 1 => (100..199).to_a,
                                                              2 => (100..199).to_a)

    # Group 2: SIGKILLed while processing round 2, restarted.
    before = second.processed.size
    wait_until("group 2's member processes round 2", timeout: 20) { second.processed.size >= before + 60 }
    second.kill
    killed_at = offsets_by_partition(second.processed).transform_values(&:max)
    commits = second.last_commits
    expect(commits.keys.sort).to eq([0, 1, 2]), "group 2's member logged no commit: #{second.describe}"
    second_again = start_child("g2-again", group: other, topic: topic)
    wait_processed([second, second_again], round1 + round2, timeout: 30)
    resumed = offsets_by_partition(second_again.processed).transform_values(&:min)
    [0, 1, 2].each do |p|
      # A partition the first member had finished resumes at 200 with nothing to read.
      from = resumed.fetch(p, 200)
      expect(from).to be_between(commits[p], killed_at[p] + 1),
                      "partition #{p}: resumed at #{from}, last logged commit #{commits[p]}, processed up to #{killed_at[p]}"
    end
    expect(first_again.stop).to be_success, first_again.describe
    expect(second_again.stop).to be_success, second_again.describe
    duplicates = duplicates_in(second.processed + second_again.processed)
    expect(duplicates.values).to all(eq(2))
    note format("\ntwo groups, restarts: after TERM the member resumed exactly at its commit; after SIGKILL %d " \
                "duplicates (per partition: last logged commit %s, processed up to %s, resumed at %s); %.1fs in all",
                duplicates.size, commits.sort.to_h.inspect, killed_at.transform_values { |o| o + 1 }.sort.to_h.inspect,
                resumed.sort.to_h.inspect, ConsumerProcesses.now - t0)
  end

  # ------------------------------------------------ consumer bugs found (and fixed) with these ----

  it "commits every offset_commit_interval while it works through one large fetch" do
    topic = new_topic(kafka)
    produced = produce_values(kafka, topic, 200, partitions: 1) # one batch: one fetch returns all 200
    # 20 ms a message: 4 s for the fetch, offset_commit_interval 0.2 s.
    member = start_child("slow", group: group, topic: topic, delay: 0.02)
    wait_until("the member processed 150 messages", timeout: 30) { member.processed.size >= 150 }
    # 3 s of work: at least one commit should cover the first 50 messages.
    expect(member.last_commits.fetch(0, 0)).to be >= 50, "commits logged: #{member.events.select { |e| e["event"] == "committed" }}"
    wait_processed([member], produced, timeout: 30)
  end

  it "keeps its membership while working through a fetch that takes longer than rebalance_timeout, " \
     "each message taking far less" do
    topic = new_topic(kafka)
    produced = produce_values(kafka, topic, 100, partitions: 1)
    member = start_child("patient", group: group, topic: topic, delay: 0.05,
                                    options: ConsumerProcesses::FAST.merge(rebalance_timeout: 3))
    wait_until("the member processed the 100 messages or stopped", timeout: 30) do
      member.processed.size >= 100 || !member.alive?
    end
    expect(member.stop).to be_success, member.describe
    expect(member.events.map { |e| e["event"] }).not_to include("error")
    expect(member.processed.map(&:value)).to eq(produced)
    expect(member.last_commits).to eq(0 => 100)
  end

  it "does not move a committed offset back when a partition it owned before comes back to it" do
    topic = new_topic(kafka, partitions: 2)
    a = start_child("a", group: group, topic: topic)
    wait_until("a owns both partitions", timeout: 30) { a.assignment == [0, 1] }
    produce_values(kafka, topic, 4, partitions: 2, prefix: "first")
    wait_until("a processed and committed the 4 messages", timeout: 20) { a.last_commits == { 0 => 2, 1 => 2 } }
    b = start_child("b", group: group, topic: topic)
    wait_until("a and b own one partition each", timeout: 30) { a.assignment.size == 1 && b.assignment.size == 1 }
    moved = b.assignment.first
    kept = 1 - moved
    3.times { |i| kafka.deliver_message("moved#{i}", topic: topic, partition: moved) }
    wait_until("b processed and committed the 3 messages", timeout: 20) { b.last_commits == { moved => 5 } }
    expect(b.stop).to be_success, b.describe
    wait_until("a owns both partitions again", timeout: 30) { a.assignment == [0, 1] }
    kafka.deliver_message("kept", topic: topic, partition: kept)
    wait_until("a processed and committed the message", timeout: 20) { a.last_commits[kept] == 3 }
    expect(a.stop).to be_success, a.describe
    # A new member starts where the group committed: only the markers are new.
    c = start_child("c", group: group, topic: topic)
    wait_until("c owns both partitions", timeout: 30) { c.assignment == [0, 1] }
    [0, 1].each { |p| kafka.deliver_message("marker#{p}", topic: topic, partition: p) }
    wait_until("c processed the markers", timeout: 20) { (%w[marker0 marker1] - c.processed.map(&:value)).empty? }
    expect(c.processed.map(&:value)).to match_array(%w[marker0 marker1])
  end
end
