# frozen_string_literal: true

require_relative "support"
require_relative "secure_support"
require_relative "process_support"
require "logger"
require "stringio"

# TLS against the secure broker (bin/kafka secure-start; bin/test starts it): its SSL listener
# requires a client certificate issued by ca.pem; the wrong-host and expired listeners present
# bad broker certificates. Every example logs at DEBUG into a buffer, and no secret (key lines,
# passwords) may show up in it or in any exception message.
RSpec.describe "TLS", :integration do
  include IntegrationHelpers
  include ProcessHelpers

  let(:log) { StringIO.new }
  let(:logger) { Logger.new(log, level: Logger::DEBUG) }
  let(:ssl) { "kafka+ssl://#{SecureSupport.broker(:ssl)}" }
  let(:client_auth) { { ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client.key") } }
  let(:trusted) { { ssl_ca_cert: SecureSupport.pem("ca.pem") } }

  after do
    @clients&.each(&:close)
    expect(SecureSupport.leaked_secrets(log.string)).to be_empty, "secrets in the log"
  end

  def client(seed_brokers = [ssl], **options)
    kafka = KafkaRs.new(seed_brokers, logger: logger, client_id: "kafka_rs-tls-spec", **options)
    (@clients ||= []) << kafka
    kafka
  end

  # Waits (up to 10 s) until this process holds no connection to `port`; returns how many are
  # left.
  def connections_left(port)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    sleep 0.02 while SecureSupport.open_connections(port).positive? && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    SecureSupport.open_connections(port)
  end

  # The SslError a client's first request raises, after checking that its message holds no
  # secret, that the client tried the broker once (no retries with backoff), and that no
  # connection to the listener is left open.
  def ssl_failure(listener, seed_brokers: ["kafka+ssl://#{SecureSupport.broker(listener)}"], **options)
    kafka = client(seed_brokers, **options)
    error = nil
    expect { kafka.topics }.to raise_error(KafkaRs::SslError) { |e| error = e }
    expect(SecureSupport.leaked_secrets(error.message)).to be_empty
    expect(error).to be_a(KafkaRs::ConnectionError)
    expect(log.string.scan("could not connect to #{SecureSupport.broker(listener)}").size).to eq(1), log.string
    expect(connections_left(SecureSupport.port(listener))).to eq(0)
    error
  end

  describe "with a client certificate" do
    it "produces and reads back, every connection over TLS" do
      kafka = client(**trusted, **client_auth)
      topic = new_topic(kafka)
      values = (1..50).map { |i| "tls message #{i}" }
      producer = kafka.producer
      values.each { |v| producer.produce(v, topic: topic, key: v[-2..]) }
      producer.deliver_messages
      kafka.deliver_message("one more", topic: topic)
      expect(fetch_all(kafka, topic).map(&:value)).to eq(values + ["one more"])
      expect(log.string).to include("connected to #{SecureSupport.broker(:ssl)} (general connection)")
      expect(log.string).to include("connected to #{SecureSupport.broker(:ssl)} (fetch connection)")
    ensure
      drop_topics(kafka) if kafka
    end

    it "consumes in a group" do
      kafka = client(**trusted, **client_auth)
      topic = new_topic(kafka, partitions: 2)
      producer = kafka.async_producer(delivery_interval: 0.05)
      20.times { |i| producer.produce("g#{i}", topic: topic, partition: i % 2) }
      producer.shutdown
      consumer = kafka.consumer(group_id: "tls-group-#{SecureRandom.hex(4)}", session_timeout: 6,
                                heartbeat_interval: 0.5, offset_commit_interval: 0.2)
      consumer.subscribe(topic)
      seen = []
      thread = Thread.new do
        consumer.each_message do |m|
          seen << m.value
          consumer.stop if seen.size >= 20
        end
      end
      expect(thread.join(60)).to be_truthy, "the consumer did not get 20 messages: #{seen.size}"
      expect(seen).to match_array((0...20).map { |i| "g#{i}" })
    ensure
      drop_topics(kafka) if kafka
    end

    it "takes keys as PKCS#1, SEC1 and encrypted PKCS#8, and a chain from ssl_client_cert_chain or the certificate" do
      {
        "PKCS#1 RSA" => { ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-pkcs1.key") },
        "SEC1 EC" => { ssl_client_cert: SecureSupport.pem("client-ec.pem"), ssl_client_cert_key: SecureSupport.pem("client-ec.key") },
        "encrypted PKCS#8" => { ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-encrypted.key"),
                                ssl_client_cert_key_password: SecureSupport.client_key_password },
        "chain option" => { ssl_client_cert: SecureSupport.pem("client-chained.pem"), ssl_client_cert_key: SecureSupport.pem("client-chained.key"),
                            ssl_client_cert_chain: SecureSupport.pem("intermediate-ca.pem") },
        "chain in the certificate" => { ssl_client_cert: SecureSupport.pem("client-chained-full.pem"),
                                        ssl_client_cert_key: SecureSupport.pem("client-chained.key") }
      }.each do |what, options|
        expect(client(**trusted, **options).topics).to be_an(Array), what
      end
    end

    it "trusts CAs from a file, from several PEM strings, or from an Array" do
      expect(client(ssl_ca_cert_file_path: SecureSupport.path("ca.pem"), **client_auth).topics).to be_an(Array)
      bundle = SecureSupport.pem("other-ca.pem") + SecureSupport.pem("ca.pem")
      expect(client(ssl_ca_cert: bundle, **client_auth).topics).to be_an(Array)
      expect(client(ssl_ca_cert: [SecureSupport.pem("other-ca.pem"), SecureSupport.pem("ca.pem")], **client_auth).topics).to be_an(Array)
    end

    it "works in a forked child, which opens its own TLS connections and holds none of the parent's" do
      kafka = client(**trusted, **client_auth)
      topic = new_topic(kafka)
      kafka.deliver_message("parent", topic: topic)
      port = SecureSupport.port(:ssl)
      expect(SecureSupport.open_connections(port)).to be >= 1
      inherited, values = in_child do
        inherited = SecureSupport.open_connections(port)
        kafka.deliver_message("child", topic: topic)
        [inherited, fetch_all(kafka, topic).map(&:value)]
      end
      expect(inherited).to eq(0)
      expect(values).to eq(%w[parent child])
      kafka.deliver_message("parent again", topic: topic)
      expect(fetch_all(kafka, topic).map(&:value)).to eq(["parent", "child", "parent again"])
    ensure
      drop_topics(kafka) if kafka
    end

    it "turns TLS on from the CA options alone, with a host:port seed" do
      expect(client([SecureSupport.broker(:ssl)], **trusted, **client_auth).topics).to be_an(Array)
    end
  end

  describe "with SASL (the SASL_SSL listener: TLS without a client certificate, then SASL)" do
    # An unsecured JWT (alg none) for the broker's unsecured OAUTHBEARER validator.
    let(:jwt_provider) do
      Class.new do
        def token
          part = ->(h) { [JSON.generate(h)].pack("m0").tr("+/", "-_").delete("=") }
          now = Time.now.to_i
          "#{part.call(alg: 'none')}.#{part.call(sub: SecureSupport.username, iat: now, exp: now + 3600)}."
        end
      end.new
    end

    it "produces and reads back with every mechanism, sasl_over_ssl satisfied by TLS" do
      require "json"
      user = SecureSupport.username
      password = SecureSupport.password
      {
        "PLAIN" => { sasl_plain_username: user, sasl_plain_password: password },
        "SCRAM-SHA-256" => { sasl_scram_username: user, sasl_scram_password: password, sasl_scram_mechanism: "sha256" },
        "SCRAM-SHA-512" => { sasl_scram_username: user, sasl_scram_password: password, sasl_scram_mechanism: "sha512" },
        "OAUTHBEARER" => { sasl_oauth_token_provider: jwt_provider }
      }.each do |mechanism, sasl|
        kafka = client(["kafka+ssl://#{SecureSupport.broker(:sasl_ssl)}"], **trusted, **sasl)
        topic = new_topic(kafka)
        kafka.deliver_message("over TLS with #{mechanism}", topic: topic)
        expect(fetch_all(kafka, topic).map(&:value)).to eq(["over TLS with #{mechanism}"]), mechanism
        drop_topics(kafka)
        @created_topics = []
      end
    end

    it "reports a TLS failure before any SASL exchange" do
      error = ssl_failure(:sasl_ssl, ssl_ca_cert: SecureSupport.pem("other-ca.pem"),
                                     sasl_scram_username: SecureSupport.username,
                                     sasl_scram_password: SecureSupport.password, sasl_scram_mechanism: "sha256")
      expect(error.reason).to eq(:unknown_ca)
    end
  end

  describe "hosted-provider style configuration" do
    around do |example|
      saved = ENV.to_h.slice("KAFKA_URL", "KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY")
      example.run
    ensure
      %w[KAFKA_URL KAFKA_TRUSTED_CERT KAFKA_CLIENT_CERT KAFKA_CLIENT_CERT_KEY].each { |k| ENV.delete(k) }
      ENV.update(saved)
    end

    # What config/initializers/kafka.rb does with the provider's variables.
    def initializer_client
      kafka = Kafka.new(
        ENV.fetch("KAFKA_URL").split(","),
        client_id: "my-app",
        logger: logger,
        ssl_ca_cert: ENV.fetch("KAFKA_TRUSTED_CERT"),
        ssl_client_cert: ENV.fetch("KAFKA_CLIENT_CERT"),
        ssl_client_cert_key: ENV.fetch("KAFKA_CLIENT_CERT_KEY")
      )
      (@clients ||= []) << kafka
      kafka
    end

    it "builds the client from KAFKA_URL and PEM strings in the environment" do
      require "kafka_rs/compat"
      ENV.update(SecureSupport.hosted_env)
      kafka = initializer_client
      topic = new_topic(kafka)
      kafka.deliver_message("from a dyno", topic: topic)
      expect(fetch_all(kafka, topic).map(&:value)).to eq(["from a dyno"])
      expect(kafka.inspect).not_to include("PRIVATE", "CERTIFICATE")
    ensure
      drop_topics(kafka) if kafka
    end

    it "checks the broker's hostname against the private CA's certificate" do
      require "kafka_rs/compat"
      ENV.update(SecureSupport.hosted_env(host_name: "localhost"))
      expect(initializer_client.topics).to be_an(Array)
      ENV["KAFKA_URL"] = "kafka+ssl://#{SecureSupport.broker(:ssl_wrong_host)}"
      expect { initializer_client.topics }.to raise_error(KafkaRs::SslError) { |e|
        expect(e.reason).to eq(:hostname_mismatch)
        expect(e.message).to include("wrong.example")
      }
    end
  end

  describe "failures" do
    it "names an unknown CA" do
      error = ssl_failure(:ssl, ssl_ca_cert: SecureSupport.pem("other-ca.pem"), **client_auth)
      expect(error.reason).to eq(:unknown_ca)
      expect(error.message).to include("TLS with #{SecureSupport.broker(:ssl)} failed", "not signed by a trusted CA")
    end

    it "names a hostname mismatch, which ssl_verify_hostname: false accepts (the chain is still verified)" do
      error = ssl_failure(:ssl_wrong_host, **trusted, **client_auth)
      expect(error.reason).to eq(:hostname_mismatch)
      expect(error.message).to include("does not name the host", "wrong.example", "ssl_verify_hostname")
      no_name_check = { ssl_verify_hostname: false, **client_auth }
      unchecked = client(["kafka+ssl://#{SecureSupport.broker(:ssl_wrong_host)}"], **trusted, **no_name_check)
      expect(unchecked.topics).to be_an(Array)
      unchecked.close
      log.truncate(0)
      error = ssl_failure(:ssl_wrong_host, ssl_ca_cert: SecureSupport.pem("other-ca.pem"), **no_name_check)
      expect(error.reason).to eq(:unknown_ca)
    end

    it "names an expired broker certificate" do
      error = ssl_failure(:ssl_expired, **trusted, **client_auth)
      expect(error.reason).to eq(:certificate_expired)
      expect(error.message).to include("has expired")
    end

    it "says the broker requires a client certificate when none is given" do
      error = ssl_failure(:ssl, **trusted)
      expect(error.reason).to eq(:client_certificate_required)
      expect(error.message).to include("requires a client certificate", "ssl_client_cert")
    end

    it "says the broker refused a client certificate from another CA, or expired, or not yet valid" do
      %w[client-other-ca client-expired client-not-yet-valid].each do |name|
        log.truncate(0)
        error = ssl_failure(:ssl, **trusted, ssl_client_cert: SecureSupport.pem("#{name}.pem"), ssl_client_cert_key: SecureSupport.pem("#{name}.key"))
        expect(error.reason).to eq(:client_certificate_rejected), name
        expect(error.message).to include("refused the client certificate")
      end
    end

    it "stops at the first broker whose TLS fails instead of trying every seed broker" do
      seeds = ["kafka+ssl://#{SecureSupport.broker(:ssl_expired)}", ssl]
      error = ssl_failure(:ssl_expired, seed_brokers: seeds, **trusted, **client_auth)
      expect(error.reason).to eq(:certificate_expired)
      expect(log.string).not_to include("connected to #{SecureSupport.broker(:ssl)}")
    end

    it "says when the port is not a TLS listener" do
      error = ssl_failure(:plaintext, **trusted)
      expect(error.reason).to eq(:handshake)
      expect(error.message).to include("is this port a TLS listener?")
    end

    it "refuses bad key material when the client is built, naming what was wrong and no secret" do
      cases = {
        key_mismatch: [{ ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-other.key") },
                       "ssl_client_cert_key is not the private key of ssl_client_cert"],
        wrong_key_password: [{ ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-encrypted.key"),
                               ssl_client_cert_key_password: "#{SecureSupport.client_key_password}-wrong" },
                             "ssl_client_cert_key_password does not decrypt ssl_client_cert_key"],
        key_password_missing: [{ ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-encrypted.key") },
                               "give ssl_client_cert_key_password"],
        bad_pem: [{ ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client.pem") },
                  "ssl_client_cert_key holds no private key"]
      }
      cases.each do |reason, (options, message)|
        expect { client(**trusted, **options) }.to raise_error(KafkaRs::SslError) { |e|
          expect(e.reason).to eq(reason)
          expect(e.message).to start_with("TLS configuration: ").and include(message)
          expect(SecureSupport.leaked_secrets(e.message)).to be_empty
          expect(e.message).not_to include("#{SecureSupport.client_key_password}-wrong")
        }
      end
      expect { client(ssl_ca_cert: SecureSupport.pem("client.key")) }.to raise_error(KafkaRs::SslError, /ssl_ca_cert holds no PEM certificate/)
      expect { client(ssl_ca_cert_file_path: "/nonexistent/ca.pem") }
        .to raise_error(KafkaRs::SslError, %r{ssl_ca_cert_file_path /nonexistent/ca.pem: cannot read it})
    end
  end

  describe "options" do
    it "rejects mixed seed broker schemes and options without their partner, naming the argument" do
      expect { client([ssl, "kafka://#{SecureSupport.broker(:plaintext)}"], **trusted) }
        .to raise_error(ArgumentError, /invalid seed_brokers: mixes TLS and plaintext schemes/)
      expect { client(**trusted, ssl_client_cert: SecureSupport.pem("client.pem")) }.to raise_error(ArgumentError, /ssl_client_cert_key is missing/)
      expect { client(**trusted, ssl_client_cert_key: SecureSupport.pem("client.key")) }
        .to raise_error(ArgumentError, /ssl_client_cert is missing/) { |e| expect(SecureSupport.leaked_secrets(e.message)).to be_empty }
      expect { client(**trusted, ssl_client_cert_key_password: "pw") }.to raise_error(ArgumentError, /ssl_client_cert_key_password/)
      expect { client(**trusted, ssl_client_cert_chain: SecureSupport.pem("ca.pem")) }.to raise_error(ArgumentError, /ssl_client_cert_chain/)
      expect { client(ssl_ca_cert: 42) }.to raise_error(TypeError, /ssl_ca_cert must be a String or an Array/)
      expect { client(ssl_ca_cert: [SecureSupport.pem("ca.pem"), nil]) }.to raise_error(TypeError, /ssl_ca_cert\[1\] must be a String/)
      expect { client(ssl_ca_cert: "") }.to raise_error(ArgumentError, /ssl_ca_cert is empty/)
      expect { client(**trusted, ssl_verify_hostname: "no") }.to raise_error(TypeError, /ssl_verify_hostname/)
      expect { client(**trusted, **client_auth, ssl_client_cert_key_password: 1234) }
        .to raise_error(TypeError, /ssl_client_cert_key_password must be a String/) { |e| expect(e.message).not_to include("1234") }
    end

    it "shows no certificate, key or password in #inspect" do
      kafka = client(**trusted, ssl_client_cert: SecureSupport.pem("client.pem"), ssl_client_cert_key: SecureSupport.pem("client-encrypted.key"),
                                ssl_client_cert_key_password: SecureSupport.client_key_password)
      expect(kafka.inspect).to eq("#<KafkaRs::Client>")
      expect(SecureSupport.leaked_secrets(kafka.inspect + kafka.instance_variables.map { |v| kafka.instance_variable_get(v).inspect }.join))
        .to be_empty
    end
  end
end
