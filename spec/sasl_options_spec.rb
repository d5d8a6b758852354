# frozen_string_literal: true

# The SASL options of KafkaRs::Client (ruby-kafka's names): which combinations are accepted, what
# the errors say (never a secret), and the OAUTHBEARER token provider's life on its Ruby thread.
# No broker is needed: nothing here connects (spec/integration/sasl_spec.rb authenticates against
# a real broker).

require_relative "spec_helper"
require "json"

RSpec.describe "SASL options" do
  let(:password) { "p4ss-#{rand(1 << 30)}" }
  let(:brokers) { "127.0.0.1:1" }

  # An unsecured JWT (alg none), as Kafka's unsecured OAUTHBEARER validator accepts.
  def jwt(sub: "alice", exp: Time.now.to_i + 3600)
    part = ->(h) { [JSON.generate(h)].pack("m0").tr("+/", "-_").delete("=") }
    "#{part.call(alg: "none")}.#{part.call(sub: sub, iat: Time.now.to_i, exp: exp)}."
  end

  # Counts #token calls and the threads they ran on.
  class RecordingProvider
    attr_reader :calls, :threads

    def initialize(&make)
      @make = make
      @calls = 0
      @threads = []
      @lock = Mutex.new
    end

    def token
      @lock.synchronize do
        @calls += 1
        @threads << Thread.current
      end
      @make.call(@calls)
    end
  end

  def client(**options)
    KafkaRs.new(brokers, **options).tap { |c| (@clients ||= []) << c }
  end

  after { (@clients || []).each(&:close) }

  def secrets_absent!(text)
    expect(text).not_to include(password)
  end

  it "configures each mechanism with ruby-kafka's option names" do
    client(sasl_plain_username: "alice", sasl_plain_password: password, sasl_over_ssl: false)
    client(sasl_plain_username: "alice", sasl_plain_password: password, sasl_plain_authzid: "admin",
           sasl_over_ssl: false)
    client(sasl_scram_username: "alice", sasl_scram_password: password, sasl_scram_mechanism: "sha256",
           sasl_over_ssl: false)
    client(sasl_scram_username: "alice", sasl_scram_password: password, sasl_scram_mechanism: :sha512,
           sasl_over_ssl: false)
    client(sasl_oauth_token_provider: RecordingProvider.new { jwt }, sasl_over_ssl: false)
  end

  it "refuses SASL without TLS unless sasl_over_ssl: false" do
    expect { client(sasl_plain_username: "alice", sasl_plain_password: password) }
      .to raise_error(ArgumentError, /SASL PLAIN without TLS.*sasl_over_ssl: false/) { |e| secrets_absent!(e.message) }
    expect { client(sasl_scram_username: "a", sasl_scram_password: password, sasl_scram_mechanism: "sha512") }
      .to raise_error(ArgumentError, /SASL SCRAM-SHA-512 without TLS/)
    expect { client(sasl_oauth_token_provider: RecordingProvider.new { jwt }) }
      .to raise_error(ArgumentError, /SASL OAUTHBEARER without TLS/)
    expect { client(sasl_over_ssl: "no") }.to raise_error(TypeError, /sasl_over_ssl/)
  end

  it "accepts only one mechanism" do
    expect do
      client(sasl_plain_username: "a", sasl_plain_password: password,
             sasl_scram_username: "a", sasl_scram_password: password, sasl_scram_mechanism: "sha256",
             sasl_over_ssl: false)
    end.to raise_error(ArgumentError, "only one SASL mechanism may be configured, got sasl_plain_* and sasl_scram_*")
    expect do
      client(sasl_scram_username: "a", sasl_scram_password: password, sasl_scram_mechanism: "sha256",
             sasl_oauth_token_provider: RecordingProvider.new { jwt }, sasl_over_ssl: false)
    end.to raise_error(ArgumentError, /sasl_scram_\* and sasl_oauth_token_provider/)
  end

  it "names the option at fault, never printing a secret" do
    cases = {
      { sasl_plain_username: "a" } => [ArgumentError, "sasl_plain_password is required with sasl_plain_username"],
      { sasl_plain_password: password } => [ArgumentError, "sasl_plain_username is required with sasl_plain_password"],
      { sasl_plain_username: "a", sasl_plain_password: 12_345 } => [TypeError, "sasl_plain_password must be a String, got Integer"],
      { sasl_plain_username: "a", sasl_plain_password: "" } => [ArgumentError, "sasl_plain_password must not be empty"],
      { sasl_plain_username: "a", sasl_plain_password: "#{password}\0" } => [ArgumentError, /sasl_plain_password: must not contain a NUL/],
      { sasl_plain_authzid: "admin" } => [ArgumentError, /sasl_plain_authzid needs sasl_plain_username/],
      { sasl_scram_username: "a", sasl_scram_password: password } => [ArgumentError, /sasl_scram_mechanism is required/],
      { sasl_scram_username: "a", sasl_scram_password: password, sasl_scram_mechanism: "md5" } =>
        [ArgumentError, 'sasl_scram_mechanism must be "sha256" or "sha512", got "md5"'],
      { sasl_scram_mechanism: "sha256", sasl_scram_password: password } => [ArgumentError, /sasl_scram_username is required/],
      { sasl_oauth_token_provider: Object.new } => [KafkaRs::TokenMethodNotImplementedError, /sasl_oauth_token_provider must respond to #token/]
    }
    cases.each do |options, (klass, message)|
      expect { client(**options, sasl_over_ssl: false) }.to raise_error(klass, message) { |e| secrets_absent!(e.message) }
    end
  end

  it "keeps no secret where inspect or instance variables would show it" do
    token = jwt
    clients = [
      client(sasl_plain_username: "alice", sasl_plain_password: password, sasl_over_ssl: false),
      client(sasl_scram_username: "alice", sasl_scram_password: password, sasl_scram_mechanism: "sha256",
             sasl_over_ssl: false),
      client(sasl_oauth_token_provider: RecordingProvider.new { token }, sasl_over_ssl: false)
    ]
    clients.each do |c|
      shown = [c.inspect, *c.instance_variables.map { |v| c.instance_variable_get(v).inspect }].join("\n")
      secrets_absent!(shown)
      expect(shown).not_to include(token)
    end
  end

  describe "sasl_oauth_token_provider" do
    it "is asked for a token when the client is created, and a failure there fails the creation" do
      provider = RecordingProvider.new { jwt }
      client(sasl_oauth_token_provider: provider, sasl_over_ssl: false)
      expect(provider.calls).to eq(1)
      expect(provider.threads).to eq([Thread.current])

      failing = RecordingProvider.new { raise IOError, "identity provider down" }
      expect { client(sasl_oauth_token_provider: failing, sasl_over_ssl: false) }
        .to raise_error(IOError, "identity provider down")
      not_a_string = RecordingProvider.new { 42 }
      expect { client(sasl_oauth_token_provider: not_a_string, sasl_over_ssl: false) }
        .to raise_error(TypeError, /#token must return a String, got Integer/)
      with_space = RecordingProvider.new { "two words" }
      expect { client(sasl_oauth_token_provider: with_space, sasl_over_ssl: false) }
        .to raise_error(ArgumentError, /printable ASCII/) { |e| expect(e.message).not_to include("two words") }
    end

    it "is asked again on the client's Ruby thread before the token expires, until the client closes" do
      # Tokens living 2 s: refreshed at 80% of their life (1.6 s).
      provider = RecordingProvider.new { jwt(exp: Time.now.to_i + 2) }
      kafka = client(sasl_oauth_token_provider: provider, sasl_over_ssl: false)
      deadline = Time.now + 15
      sleep 0.05 until provider.calls >= 3 || Time.now > deadline
      expect(provider.calls).to be >= 3
      refresher = provider.threads.last
      expect(refresher).not_to eq(Thread.current)
      expect(refresher.name).to eq("kafka_rs-oauth")
      kafka.close
      expect(refresher.join(5)).to eq(refresher)
      calls = provider.calls
      sleep 2.5
      expect(provider.calls).to eq(calls)
    end

    it "sends the provider's extensions, which must be valid SASL extensions" do
      provider = RecordingProvider.new { jwt }
      def provider.extensions = { "logicalCluster" => "lkc-1" }
      client(sasl_oauth_token_provider: provider, sasl_over_ssl: false)
      bad = RecordingProvider.new { jwt }
      def bad.extensions = { "auth" => "x" }
      expect { client(sasl_oauth_token_provider: bad, sasl_over_ssl: false) }
        .to raise_error(ArgumentError, /extension key "auth"/)
    end

    it "reads a JWT's expiry, and nothing from other tokens" do
      now = Time.at(1_700_000_000)
      expect(KafkaRs::Sasl.jwt_expires_in(jwt(exp: 1_700_000_090), now: now)).to eq(90.0)
      expect(KafkaRs::Sasl.jwt_expires_in(jwt(exp: 1_600_000_000), now: now)).to eq(0.0)
      expect(KafkaRs::Sasl.jwt_expires_in("opaque-token", now: now)).to be_nil
      expect(KafkaRs::Sasl.jwt_expires_in("a.!!!.c", now: now)).to be_nil
      expect(KafkaRs::Sasl.jwt_expires_in("a.#{["[1]"].pack("m0")}.c", now: now)).to be_nil
    end
  end
end
