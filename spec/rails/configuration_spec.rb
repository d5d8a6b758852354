# frozen_string_literal: true

require_relative "support"
require_relative "../integration/secure_support"

# KafkaRs.configure / KafkaRs.config: every client, producer and consumer keyword in one place,
# config/kafka_rs.yml, the hosted-provider environment (KAFKA_URL, KAFKA_*_CERT*, KAFKA_PREFIX).
RSpec.describe "KafkaRs.configure", :integration do
  include IntegrationHelpers
  include RailsLayerHelpers

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close }

  def with_env(vars)
    saved = vars.keys.to_h { |k| [k, ENV[k]] }
    vars.each { |k, v| ENV[k] = v }
    yield
  ensure
    saved.each { |k, v| ENV[k] = v }
  end

  it "takes every keyword of Client, AsyncProducer, Producer and Consumer, and applies them to what it builds" do
    keywords = lambda do |klass|
      m = klass.instance_method(:initialize)
      m = m.super_method until m.owner == klass
      m.parameters.filter_map { |(type, name)| name if %i[key keyreq].include?(type) } - %i[client native_client]
    end
    config = KafkaRs::Configuration.new
    keywords.call(KafkaRs::Client).each { |name| expect(config).to respond_to(:"#{name}=") }
    expect(KafkaRs::Configuration::PRODUCER_SETTINGS).to match_array(keywords.call(KafkaRs::AsyncProducer))
    expect(KafkaRs::Configuration::BUFFERED_PRODUCER_SETTINGS).to match_array(keywords.call(KafkaRs::Producer))
    expect(KafkaRs::Configuration::CONSUMER_SETTINGS).to match_array(keywords.call(KafkaRs::Consumer))

    topic = new_topic(kafka)
    configure_kafka_rs(client_id: "configured-id", producer: { max_queue_size: 2, linger_ms: nil },
                       buffered_producer: { max_buffer_size: 1 })
    expect(KafkaRs.client.client_id).to eq("configured-id")
    # max_queue_size 2, no delivery trigger (linger_ms: nil instead of the shared producer's 5):
    # the third message does not fit.
    2.times { |i| KafkaRs.produce("m#{i}", topic: topic) }
    expect { KafkaRs.produce("m2", topic: topic) }.to raise_error(KafkaRs::BufferOverflow, /max queue size \(2 messages\)/)
    expect(KafkaRs.producer.flush(timeout: 10)).to be(true)
    KafkaRs.with_producer do |p|
      p.produce("b0", topic: topic)
      expect { p.produce("b1", topic: topic) }.to raise_error(KafkaRs::BufferOverflow, /max buffer size \(1 messages\)/)
    end
    expect(read_messages(kafka, topic).map(&:value)).to eq(%w[m0 m1 b0])
  end

  it "raises an ArgumentError naming unknown settings, wherever they are given" do
    expect { KafkaRs.configure { |c| c.sead_brokers = "x:1" } }
      .to raise_error(ArgumentError, /unknown kafka_rs setting: sead_brokers \(known: seed_brokers, client_id/)
    expect { KafkaRs.configure { |c| c.producer = { delivery_intreval: 1, linger: 2 } } }
      .to raise_error(ArgumentError, /unknown kafka_rs producer settings: delivery_intreval, linger/)
    expect { KafkaRs.configure { |c| c.consumer = { group: "x" } } }
      .to raise_error(ArgumentError, /unknown kafka_rs consumer setting: group/)
    expect { KafkaRs.configure { |c| c.producer[:lingerms] = 1 } }
      .to raise_error(ArgumentError, /unknown kafka_rs producer setting: lingerms/)
    expect { KafkaRs.configure { |c| c.merge!("client_id" => "x", "retries" => 3) } }
      .to raise_error(ArgumentError, /unknown kafka_rs setting: retries/)
  end

  it "checks values with the classes' own checks, naming the group and the setting, and keeps the old configuration" do
    configure_kafka_rs(client_id: "kept")
    expect { KafkaRs.configure { |c| c.producer = { max_queue_size: 0 } } }
      .to raise_error(ArgumentError, "KafkaRs.config producer settings: max_queue_size must be at least 1, got 0")
    expect { KafkaRs.configure { |c| c.consumer = { heartbeat_interval: 40 } } }
      .to raise_error(ArgumentError, /consumer settings: heartbeat_interval \(40\) must be below session_timeout/)
    expect { KafkaRs.configure { |c| c.connect_timeout = "soon" } }
      .to raise_error(TypeError, /client settings: connect_timeout must be a Numeric/)
    expect { KafkaRs.configure { |c| c.pool_size = 0 } }.to raise_error(ArgumentError, /pool_size must be at least 1/)
    expect { KafkaRs.configure { |c| c.prefix = "bad prefix " } }.to raise_error(ArgumentError, /prefix "bad prefix "/)
    expect(KafkaRs.config.client_id).to eq("kept")
    expect(KafkaRs.config.producer).to eq({})
  end

  it "reads one environment's section of config/kafka_rs.yml, after ERB, with Symbols for the Symbol-valued settings" do
    topic = new_topic(kafka)
    Dir.mktmpdir do |dir|
      path = File.join(dir, "kafka_rs.yml")
      File.write(path, <<~YAML)
        default: &default
          client_id: yaml-app
          producer:
            delivery_interval: 0.01
        test:
          <<: *default
          seed_brokers: <%= ENV.fetch("SPEC_KAFKA_BROKER") %>
          producer:
            compression_codec: zstd
            required_acks: all
          consumer:
            isolation_level: read_uncommitted
        production:
          seed_brokers: never-used:9092
      YAML
      with_env("SPEC_KAFKA_BROKER" => IntegrationHelpers::BROKER) do
        KafkaRs.configure { |c| c.load_yaml(path, "test") }
      end
      expect(KafkaRs.config.seed_brokers).to eq(IntegrationHelpers::BROKER)
      expect(KafkaRs.config.client_id).to eq("yaml-app")
      # A section's producer Hash replaces the default's (YAML's merge key is shallow).
      expect(KafkaRs.config.producer).to eq(compression_codec: :zstd, required_acks: :all)
      expect(KafkaRs.config.consumer).to eq(isolation_level: :read_uncommitted)
      expect(KafkaRs.produce_async("from yaml", topic: topic).wait(timeout: 10).offset).to eq(0)

      File.write(path, "test:\n  producer:\n    compresion_codec: zstd\n")
      expect { KafkaRs.configure { |c| c.load_yaml(path, "test") } }
        .to raise_error(ArgumentError, /kafka_rs\.yml \(test\): unknown kafka_rs producer setting: compresion_codec/)
    end
  end

  it "uses KAFKA_URL (kafka:// URLs) when seed_brokers is not set, with the certificates as TLS options" do
    topic = new_topic(kafka)
    env = { "KAFKA_URL" => "kafka://#{IntegrationHelpers::BROKER}, kafka://#{IntegrationHelpers::BROKER}",
            "KAFKA_TRUSTED_CERT" => "ca-pem", "KAFKA_CLIENT_CERT" => "cert-pem", "KAFKA_CLIENT_CERT_KEY" => "key-pem" }
    config = KafkaRs::Configuration.new(env: env)
    expect(config.client_options).to eq(seed_brokers: env["KAFKA_URL"], ssl_ca_cert: "ca-pem",
                                        ssl_client_cert: "cert-pem", ssl_client_cert_key: "key-pem")
    config.ssl_ca_cert = "configured-ca"
    expect(config.client_options[:ssl_ca_cert]).to eq("configured-ca")
    # Configured brokers win, and then the environment's certificates are not used either.
    config.seed_brokers = "elsewhere:9092"
    expect(config.client_options.keys - [:ssl_ca_cert]).to eq([:seed_brokers])
    expect(KafkaRs::Configuration.new(env: {}).client_options).to eq(seed_brokers: "localhost:9092")
    expect(KafkaRs::Configuration.new(env: { "KAFKA_URL" => " " }).client_options).to eq(seed_brokers: "localhost:9092")

    with_env("KAFKA_URL" => "kafka://#{IntegrationHelpers::BROKER}") do
      expect(KafkaRs.config.client_options).to eq(seed_brokers: "kafka://#{IntegrationHelpers::BROKER}")
      expect(KafkaRs.produce_async("via KAFKA_URL", topic: topic).wait(timeout: 10).offset).to eq(0)
    end
  end

  it "connects over TLS from a hosted plan's environment alone (kafka+ssl:// KAFKA_URL, PEM certificates)" do
    hosted = SecureSupport.hosted_env
    url = "#{hosted['KAFKA_URL']},#{hosted['KAFKA_URL']}"
    with_env(hosted.merge("KAFKA_URL" => url)) do
      expect(KafkaRs.config.client_options.keys)
        .to contain_exactly(:seed_brokers, :ssl_ca_cert, :ssl_client_cert, :ssl_client_cert_key)
      topic = "spec-#{SecureRandom.hex(4)}"
      KafkaRs.client.create_topic(topic)
      begin
        expect(KafkaRs.produce_async("over TLS", topic: topic).wait(timeout: 10).offset).to eq(0)
        expect(KafkaRs.client.fetch_messages(topic: topic, partition: 0, offset: :earliest).map(&:value))
          .to eq(["over TLS"])
        expect(KafkaRs.client.native_for_instrumentation.tls?).to be(true)
      ensure
        KafkaRs.client.delete_topic(topic)
      end
    end
  end

  it "puts KAFKA_PREFIX (or the prefix setting) in front of the topics the shared objects see" do
    plain = "spec-#{SecureRandom.hex(4)}"
    prefix = "tenant#{SecureRandom.hex(2)}."
    kafka.create_topic("#{prefix}#{plain}", num_partitions: 1)
    (@created_topics ||= []) << "#{prefix}#{plain}"

    with_env("KAFKA_PREFIX" => prefix) do
      configure_kafka_rs
      KafkaRs.produce("shared", topic: plain)
      expect(KafkaRs.produce_async("handle", topic: plain.to_sym).wait(timeout: 10).topic).to eq("#{prefix}#{plain}")
      KafkaRs.producer.produce_many([{ value: "many", topic: plain }])
      expect(KafkaRs.producer.flush(timeout: 10)).to be(true)
      KafkaRs.with_producer { |p| p.produce("pooled", topic: plain) }
      expect(KafkaRs.topic(plain)).to eq("#{prefix}#{plain}")
    end
    expect(kafka.has_topic?(plain)).to be(false)
    expect(read_messages(kafka, "#{prefix}#{plain}").map(&:value)).to eq(%w[shared handle many pooled])

    # The setting wins over the environment; "" turns the prefix off.
    with_env("KAFKA_PREFIX" => "ignored.") do
      expect(KafkaRs::Configuration.new.tap { |c| c.prefix = "set." }.topic_prefix).to eq("set.")
      expect(KafkaRs::Configuration.new.tap { |c| c.prefix = "" }.topic_prefix).to eq("")
    end
  end

  it "applies the prefix to a consumer's group id and subscriptions (String and Regexp)" do
    prefix = "tenant#{SecureRandom.hex(2)}."
    plain = "spec-#{SecureRandom.hex(4)}"
    [plain, "#{prefix}#{plain}"].each do |t|
      kafka.create_topic(t, num_partitions: 1)
      (@created_topics ||= []) << t
    end
    kafka.deliver_message("unprefixed", topic: plain)
    kafka.deliver_message("prefixed", topic: "#{prefix}#{plain}")
    configure_kafka_rs(prefix: prefix, consumer: { session_timeout: 10, heartbeat_interval: 1 })

    consumer = KafkaRs.consumer(group_id: "g-#{plain}")
    expect(consumer.group_id).to eq("#{prefix}g-#{plain}")
    consumer.subscribe(/\A#{plain}\z/)
    seen = []
    consumer.each_message do |m|
      seen << [m.topic, m.value]
      consumer.stop
    end
    expect(seen).to eq([["#{prefix}#{plain}", "prefixed"]])
    expect(kafka.fetch_group_offsets("#{prefix}g-#{plain}").dig("#{prefix}#{plain}", 0).offset).to eq(1)
    expect(kafka.groups).not_to include("g-#{plain}")
  end

  it "hides secrets in inspect" do
    config = KafkaRs::Configuration.new
    config.sasl_plain_username = "user"
    config.sasl_plain_password = "hunter2"
    config.client_id = "visible"
    expect(config.inspect).to include('"visible"', '"user"', "[FILTERED]")
    expect(config.inspect).not_to include("hunter2")
  end
end
