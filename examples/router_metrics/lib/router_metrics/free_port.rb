# frozen_string_literal: true

require "socket"

# A TCP port of 127.0.0.1 nobody listens on right now (the kernel's pick). Another process may
# take it before ours binds: callers retry their start.
module FreePort
  def self.pick
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
end
