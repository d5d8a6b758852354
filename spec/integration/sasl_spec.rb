# frozen_string_literal: true

# SASL against the secure broker (bin/kafka secure-start; bin/test starts it): every mechanism
# over the SASL_PLAINTEXT listener, refusals (final, one attempt, no connection left open, no
# secret in any message or log line), and sessions the broker limits (KIP-368) outlived without
# a failed request (over SASL_PLAINTEXT and SASL_SSL). Every mechanism over SASL_SSL: tls_spec.rb.

require_relative "support"
require_relative "secure_support"
require "json"
require "logger"
require "stringio"

# Unsecured JWTs (alg none) for the broker's unsecured OAUTHBEARER validator, living `lifetime`
# seconds; each one handed out is remembered (to check that none shows up in output).
class SaslSpecJwtProvider
  attr_reader :tokens

  def initialize(lifetime: 3600)
    @lifetime = lifetime
    @tokens = []
    @lock = Mutex.new
  end

  def token
    part = ->(h) { [JSON.generate(h)].pack("m0").tr("+/", "-_").delete("=") }
    now = Time.now.to_i
    t = "#{part.call(alg: "none")}.#{part.call(sub: SecureSupport.username, iat: now, exp: now + @lifetime)}."
    @lock.synchronize { @tokens << t }
    t
  end
end

RSpec.describe "SASL" do
  include IntegrationHelpers

  MECHANISMS = {
    "PLAIN" => -> { { sasl_plain_username: SecureSupport.username, sasl_plain_password: SecureSupport.password } },
    "SCRAM-SHA-256" => lambda {
      { sasl_scram_username: SecureSupport.username, sasl_scram_password: SecureSupport.password,
        sasl_scram_mechanism: "sha256" }
    },
    "SCRAM-SHA-512" => lambda {
      { sasl_scram_username: SecureSupport.username, sasl_scram_password: SecureSupport.password,
        sasl_scram_mechanism: "sha512" }
    },
    "OAUTHBEARER" => -> { { sasl_oauth_token_provider: SaslSpecJwtProvider.new } }
  }.freeze

  let(:log) { StringIO.new }
  let(:logger) { Logger.new(log).tap { |l| l.level = Logger::DEBUG } }

  def sasl_client(listener, options, seeds: nil)
    provider = options[:sasl_oauth_token_provider]
    (@providers ||= []) << provider if provider
    KafkaRs.new(seeds || [SecureSupport.broker(listener)], client_id: "kafka_rs-sasl-spec", logger: logger,
                                                           sasl_over_ssl: false, **options)
      .tap { |c| (@clients ||= []) << c }
  end

  def wait_until(what, timeout: 10)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until yield
      raise "timed out waiting until #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
  end

  # Every secret: the password, the key passwords and key lines of the fixtures, every token.
  def leaked(text)
    tokens = (@providers || []).flat_map(&:tokens)
    SecureSupport.leaked_secrets(text) + tokens.select { |t| text.include?(t) }
  end

  after do
    (@clients || []).each(&:close)
    expect(leaked(log.string)).to eq([]), "secrets in the log:\n#{log.string}"
  end

  MECHANISMS.each do |mechanism, options|
    it "produces and reads back over SASL_PLAINTEXT with #{mechanism}" do
      kafka = sasl_client(:sasl_plaintext, options.call)
      topic = new_topic(kafka, partitions: 2)
      values = Array.new(20) { |i| "#{mechanism}-#{i}" }
      values.first(10).each { |v| kafka.deliver_message(v, topic: topic, partition: 0) }
      producer = kafka.producer
      values.drop(10).each { |v| producer.produce(v, topic: topic, partition: 1) }
      producer.deliver_messages
      read = [0, 1].flat_map { |p| fetch_all(kafka, topic, p).map(&:value) }
      expect(read).to eq(values)
      expect(log.string).to include("connected to #{SecureSupport.broker(:sasl_plaintext)} (general connection, #{mechanism}")
    ensure
      drop_topics(kafka) if kafka
    end
  end

  it "consumes in a group over SASL_PLAINTEXT (SCRAM-SHA-512)" do
    kafka = sasl_client(:sasl_plaintext, MECHANISMS.fetch("SCRAM-SHA-512").call)
    topic = new_topic(kafka, partitions: 2)
    values = Array.new(10) { |i| "group-#{i}" }
    values.each_with_index { |v, i| kafka.deliver_message(v, topic: topic, partition: i % 2) }
    consumer = kafka.consumer(group_id: "sasl-spec-#{SecureRandom.hex(4)}")
    consumer.subscribe(topic, start_from_beginning: true)
    seen = []
    consumer.each_message do |m|
      seen << m.value
      consumer.stop if seen.size == values.size
    end
    expect(seen.sort).to eq(values.sort)
  ensure
    drop_topics(kafka) if kafka
  end

  {
    "PLAIN" => { sasl_plain_username: "alice", sasl_plain_password: "wrong-password" },
    "SCRAM-SHA-256" => { sasl_scram_username: "alice", sasl_scram_password: "wrong-password",
                         sasl_scram_mechanism: "sha256" },
    "SCRAM-SHA-512" => { sasl_scram_username: "nobody", sasl_scram_password: "wrong-password",
                         sasl_scram_mechanism: "sha512" }
  }.each do |mechanism, options|
    it "refuses a wrong #{mechanism} password at once, trying no other seed and leaving no connection open" do
      port = SecureSupport.port(:sasl_plaintext)
      # The same broker under two names: a refusal is final, so the second is never tried.
      kafka = sasl_client(:sasl_plaintext, options, seeds: ["127.0.0.1:#{port}", "localhost:#{port}"])
      expect { kafka.topics }.to raise_error(KafkaRs::SaslAuthenticationFailed) { |e|
        expect(e.code).to eq(58)
        expect(e.message).to start_with("SASL #{mechanism} authentication with 127.0.0.1:#{port} failed: ")
        expect(e.message).not_to include("wrong-password")
        expect(leaked(e.message)).to eq([])
      }
      expect(log.string.scan("could not connect").size).to eq(1), log.string
      expect(log.string).not_to include("localhost:#{port}")
      wait_until("the refused connection is closed") { SecureSupport.open_connections(port).zero? }

      # A producer fails the message with the same error instead of retrying it.
      expect { kafka.deliver_message("x", topic: "sasl-spec-refused", retries: 3) }
        .to raise_error(KafkaRs::DeliveryFailed) { |e| expect(e.cause).to be_a(KafkaRs::SaslAuthenticationFailed) }
      expect(log.string).not_to include("retry")
      wait_until("the refused connection is closed") { SecureSupport.open_connections(port).zero? }
    end
  end

  it "raises UnsupportedSaslMechanism naming the broker's mechanisms when it does not offer the one asked for" do
    port = SecureSupport.port(:sasl_plaintext_plain_only)
    kafka = sasl_client(:sasl_plaintext_plain_only, MECHANISMS.fetch("SCRAM-SHA-512").call)
    expect { kafka.topics }.to raise_error(KafkaRs::UnsupportedSaslMechanism) { |e|
      expect(e).to be_a(KafkaRs::SaslAuthenticationFailed)
      expect(e.code).to eq(33)
      expect(e.message).to include("SCRAM-SHA-512").and include("PLAIN")
      expect(leaked(e.message)).to eq([])
    }
    wait_until("the refused connection is closed") { SecureSupport.open_connections(port).zero? }
    # The mechanism it does offer works on the same listener.
    ok = sasl_client(:sasl_plaintext_plain_only, MECHANISMS.fetch("PLAIN").call)
    expect(ok.topics).to be_an(Array)
  end

  it "raises InvalidSaslState (a SaslAuthenticationFailed) against a listener without SASL" do
    kafka = sasl_client(:plaintext, MECHANISMS.fetch("SCRAM-SHA-256").call)
    expect { kafka.topics }.to raise_error(KafkaRs::InvalidSaslState, /is this listener configured for SASL/) { |e|
      expect(e).to be_a(KafkaRs::SaslAuthenticationFailed)
      expect(leaked(e.message)).to eq([])
    }
    wait_until("the refused connection is closed") { SecureSupport.open_connections(SecureSupport.port(:plaintext)).zero? }
  end

  # Produces (no retries, so a failure would surface) and fetches on each client until `seconds`
  # pass; returns the values sent per client.
  def traffic(clients, seconds)
    stop_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    clients.map do |kafka, topic|
      Thread.new do
        sent = []
        while Process.clock_gettime(Process::CLOCK_MONOTONIC) < stop_at
          value = "v#{sent.size}"
          kafka.deliver_message(value, topic: topic, retries: 0)
          sent << value
          fetch_all(kafka, topic) if (sent.size % 25).zero?
          sleep 0.02
        end
        sent
      end
    end.map(&:value)
  end

  it "outlives sessions the broker limits (connections.max.reauth.ms) without a failed request" do
    lifetime = SecureSupport.reauth_ms / 1000.0
    clients = %w[SCRAM-SHA-512 OAUTHBEARER].map do |mechanism|
      kafka = sasl_client(:sasl_plaintext_reauth, MECHANISMS.fetch(mechanism).call)
      [kafka, new_topic(kafka)]
    end
    # And over TLS (SASL_SSL): the same retirement, under a TLS stream.
    tls = KafkaRs.new([SecureSupport.broker(:sasl_ssl_reauth)], client_id: "kafka_rs-sasl-spec", logger: logger,
                                                                ssl_ca_cert: SecureSupport.pem("ca.pem"),
                                                                **MECHANISMS.fetch("SCRAM-SHA-256").call)
    (@clients ||= []) << tls
    clients << [tls, new_topic(tls)]
    sent = traffic(clients, 2.5 * lifetime)
    clients.zip(sent).each do |(kafka, topic), values|
      expect(fetch_all(kafka, topic).map(&:value)).to eq(values)
    end
    # Each connection was replaced before its session ended, and nothing failed or was retried.
    expect(log.string.scan(/retiring the general connection/).size).to be >= 6, log.string
    expect(log.string).not_to match(/ (WARN|ERROR) -- /), log.string
  ensure
    drop_topics(clients.first.first) if clients
  end

  it "pulls a fresh OAUTHBEARER token before the current one expires" do
    # Tokens valid 8 s: the broker ends each session when its token expires.
    provider = SaslSpecJwtProvider.new(lifetime: 8)
    kafka = sasl_client(:sasl_plaintext, { sasl_oauth_token_provider: provider })
    topic = new_topic(kafka)
    values = traffic([[kafka, topic]], 20).first
    expect(fetch_all(kafka, topic).map(&:value)).to eq(values)
    expect(provider.tokens.size).to be >= 3
    expect(log.string).not_to match(/ (WARN|ERROR) -- /), log.string
  ensure
    drop_topics(kafka) if kafka
  end
end
