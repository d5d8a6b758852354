# frozen_string_literal: true

require_relative "support"
require "rbconfig"

# Helpers for specs that fork or run Ruby processes: sockets a process holds (from /proc), a block
# run in a forked child, and child processes waited for with a deadline (a hang fails the spec
# instead of stalling the suite).
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

  # Runs the block in a forked child (leaving with exit!, so RSpec's hooks stay in the parent) and
  # returns what it returned, marshalled through a pipe.
  def in_child(timeout: 60)
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      writer.write(Marshal.dump(yield))
      writer.close
      exit!(0)
    rescue Exception => e # rubocop:disable Lint/RescueException
      warn e.full_message
      exit!(1)
    end
    writer.close
    data = reader.read
    status = wait_child(pid, timeout: timeout)
    expect(status).not_to be_nil, "the child hung"
    expect(status.exitstatus).to eq(0)
    Marshal.load(data) # rubocop:disable Security/MarshalLoad
  ensure
    reader&.close
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

  # Sends `signal` to child `pid` and reaps it; a child already gone is fine.
  #
  # @return [Process::Status, nil]
  def stop_process(pid, signal = :KILL)
    Process.kill(signal, pid)
    Process.wait2(pid).last
  rescue Errno::ESRCH, Errno::ECHILD
    nil
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
