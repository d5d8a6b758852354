# frozen_string_literal: true

require_relative "support"
require "rbconfig"

# Helpers for specs that fork or run Ruby processes: sockets a process holds (from /proc), whole
# topics read back, and child processes waited for with a deadline (a hang fails the spec instead of
# stalling the suite).
module ProcessHelpers
  LIB = File.expand_path("../../lib", __dir__)
  BROKER_PORT = Integer(IntegrationHelpers::BROKER.split(":").last)

  module_function

  # Inode numbers of every socket among the descriptors of process `pid`.
  def socket_inodes(pid = Process.pid)
    Dir.children("/proc/#{pid}/fd").filter_map do |fd|
      File.readlink("/proc/#{pid}/fd/#{fd}")[/\Asocket:\[(\d+)\]\z/, 1]
    rescue SystemCallError
      nil # closed meanwhile
    end
  end

  # Inode numbers of the sockets of process `pid` connected to the broker's port.
  def broker_socket_inodes(pid = Process.pid)
    remote_port = format(":%04X", BROKER_PORT)
    to_broker = %w[tcp tcp6].flat_map do |table|
      File.readlines("/proc/#{pid}/net/#{table}").drop(1).map(&:split)
          .select { |cols| cols[2].end_with?(remote_port) }.map { |cols| cols[9] }
    rescue Errno::ENOENT
      []
    end
    socket_inodes(pid) & to_broker
  end

  # Every value in `topic` (all partitions, from the start up to the current end).
  def read_all(kafka, topic)
    kafka.last_offsets_for(topic).fetch(topic).flat_map do |partition, last_offset|
      values = []
      offset = 0
      while offset <= last_offset
        batch = kafka.fetch_messages(topic: topic, partition: partition, offset: offset, max_wait_time: 1)
        values.concat(batch.map(&:value))
        offset = batch.last.offset + 1 unless batch.empty?
      end
      values
    end
  end

  # Waits for child `pid`; after `timeout` seconds kills it (and its process group when it leads
  # one) and returns nil.
  def wait_child(pid, timeout:)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status if status

      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        Process.kill(:KILL, pid)
        Process.wait(pid)
        return nil
      end
      sleep 0.01
    end
  end

  # Runs `ruby -I lib -e code *args`; returns [status or nil (killed after `timeout`), stdout, stderr].
  def run_ruby(code, *args, timeout:)
    out_r, out_w = IO.pipe
    err_r, err_w = IO.pipe
    pid = Process.spawn(RbConfig.ruby, "-I", LIB, "-e", code, *args.map(&:to_s), out: out_w, err: err_w)
    out_w.close
    err_w.close
    readers = [out_r, err_r].map { |io| Thread.new { io.read } }
    status = wait_child(pid, timeout: timeout)
    [status, *readers.map(&:value)]
  ensure
    [out_r, err_r].each { |io| io&.close unless io&.closed? }
  end
end
