# frozen_string_literal: true

require "json"

# What specs need to reach the secure broker `bin/kafka secure-start` runs: its ports, the PEM
# files it made, its credentials (all from tmp/kafka/secure/env.json), plus two checks the
# secured-connection specs share: which secrets must never show up in output, and how many
# connections this process still holds to a port. Nothing here skips: without the broker,
# SecureSupport.env raises with what to run.
#
# KAFKA_SECURE_ENV names another env.json (for example that of a secure broker another worktree
# runs).
module SecureSupport
  ROOT = File.expand_path("../..", __dir__)
  ENV_FILE = File.join(ROOT, "tmp/kafka/secure/env.json")

  # TCP states in /proc/net/tcp (include/net/tcp_states.h) that still hold a connection open.
  OPEN_TCP_STATES = %w[01 02 03 04 05 08 09 0B].freeze # not TIME_WAIT (06), CLOSE (07), LISTEN (0A)

  module_function

  def env
    @env ||= begin
      path = ENV.fetch("KAFKA_SECURE_ENV", ENV_FILE)
      unless File.exist?(path)
        raise "#{path} not found: the secure broker is not running (bin/kafka secure-start; bin/test starts it)"
      end

      JSON.parse(File.read(path))
    end
  end

  def host = env.fetch("host")

  # The port of a listener: "plaintext", "ssl", "sasl_ssl", "sasl_plaintext", "ssl_wrong_host",
  # "ssl_expired", "sasl_ssl_reauth", "sasl_plaintext_reauth".
  def port(listener) = env.fetch("ports").fetch(listener.to_s)

  def broker(listener) = "#{host}:#{port(listener)}"

  # The path of a generated file by name ("ca.pem", "client.key", "client-ec.pem", ...).
  def path(name) = env.fetch("files").fetch(name)

  def pem(name) = File.read(path(name))

  def username = env.fetch("sasl").fetch("username")
  def password = env.fetch("sasl").fetch("password")
  def client_key_password = env.fetch("client_key_password")
  def reauth_ms = env.fetch("reauth_ms")

  # The environment a hosted provider hands an app (Heroku-style names): the broker URL with
  # kafka+ssl://, the private CA and the client certificate and key as PEM strings.
  def hosted_env(host_name: host)
    {
      "KAFKA_URL" => "kafka+ssl://#{host_name}:#{port(:ssl)}",
      "KAFKA_TRUSTED_CERT" => pem("ca.pem"),
      "KAFKA_CLIENT_CERT" => pem("client.pem"),
      "KAFKA_CLIENT_CERT_KEY" => pem("client.key")
    }
  end

  # Strings none of which may appear in logs or exception messages: the SASL password, the key
  # password, and every base64 line of every private key.
  def secret_fragments
    keys = env.fetch("files").select { |name, _| name.end_with?(".key") }.values
    key_lines = keys.flat_map { |f| File.readlines(f, chomp: true).grep_v(/\A-----|\A\s*\z|:/) }
    [password, client_key_password, *key_lines].uniq
  end

  # The secret fragments that occur in text (empty when it leaks none).
  def leaked_secrets(text)
    secret_fragments.select { |secret| text.include?(secret) }
  end

  # How many TCP connections this process holds open to 127.0.0.1:port (Linux: the sockets in
  # /proc/self/fd matched against /proc/net/tcp and tcp6).
  def open_connections(port)
    inodes = Dir.glob("/proc/self/fd/*").filter_map do |fd|
      File.readlink(fd)[/\Asocket:\[(\d+)\]\z/, 1]
    rescue SystemCallError
      nil
    end
    wanted = format(":%04X", port)
    %w[/proc/net/tcp /proc/net/tcp6].sum do |table|
      File.readlines(table).drop(1).count do |line|
        fields = line.split
        fields[2].end_with?(wanted) && OPEN_TCP_STATES.include?(fields[3]) && inodes.include?(fields[9])
      end
    end
  end
end
