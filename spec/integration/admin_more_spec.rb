# frozen_string_literal: true

require_relative "support"

# The rest of ruby-kafka's Kafka::Client admin surface: API versions, the controller, replica
# counts, topic and broker configs.
RSpec.describe "admin: versions, controller, configs", :integration do
  include IntegrationHelpers

  let(:kafka) { IntegrationHelpers.client }
  after { drop_topics(kafka); kafka.close unless kafka.closed? }

  describe "#apis and #supports_api?" do
    it "lists the broker's API versions" do
      apis = kafka.apis
      expect(apis).to all(be_a(KafkaRs::ApiInfo))
      expect(apis.map(&:api_key)).to eq(apis.map(&:api_key).sort)
      produce = apis.find { |api| api.api_key == KafkaRs::Protocol::PRODUCE_API }
      expect(produce.api_name).to eq("Produce")
      expect(produce.max_version).to be >= 7 # Kafka 2.1 speaks Produce 0..7
      expect(produce.version_supported?(produce.max_version)).to be(true)
      expect(produce.version_supported?(produce.max_version + 1)).to be(false)
      expect(apis.map(&:api_key)).to include(KafkaRs::Protocol::INCREMENTAL_ALTER_CONFIGS_API)
    end

    it "answers whether an API and a version of it are supported" do
      max = kafka.apis.find { |api| api.api_key == 0 }.max_version
      expect(kafka.supports_api?(KafkaRs::Protocol::PRODUCE_API)).to be(true)
      expect(kafka.supports_api?(KafkaRs::Protocol::PRODUCE_API, max)).to be(true)
      expect(kafka.supports_api?(KafkaRs::Protocol::PRODUCE_API, max + 1)).to be(false)
      expect(kafka.supports_api?(KafkaRs::Protocol::DESCRIBE_CONFIGS_API)).to be(true)
      expect(kafka.supports_api?(1000)).to be(false)
      expect(kafka.supports_api?(1000, 0)).to be(false)
    end
  end

  it "names the controller, one of the brokers" do
    controller = kafka.controller_broker
    expect(controller).to be_a(KafkaRs::BrokerInfo)
    expect(kafka.brokers).to include(controller)
  end

  it "counts the replicas of a topic" do
    topic = new_topic(kafka, partitions: 2)
    expect(kafka.replica_count_for(topic)).to eq(1)
    expect { kafka.replica_count_for("spec-missing-#{SecureRandom.hex(4)}") }
      .to raise_error(KafkaRs::UnknownTopicOrPartition)
  end

  describe "#alter_topic" do
    it "changes only the configs named, and nil restores the default" do
      topic = "spec-#{SecureRandom.hex(4)}"
      (@created_topics ||= []) << topic
      kafka.create_topic(topic, config: { "cleanup.policy" => "compact" })
      default_retention = kafka.describe_topic(topic, ["retention.ms"]).fetch("retention.ms")

      kafka.alter_topic(topic, "retention.ms" => 1_234_567, "max.message.bytes" => "987654")
      expect(kafka.describe_topic(topic, %w[retention.ms max.message.bytes cleanup.policy]))
        .to eq("retention.ms" => "1234567", "max.message.bytes" => "987654", "cleanup.policy" => "compact")

      kafka.alter_topic(topic, [["retention.ms", nil]])
      expect(kafka.describe_topic(topic, %w[retention.ms max.message.bytes cleanup.policy]))
        .to eq("retention.ms" => default_retention, "max.message.bytes" => "987654", "cleanup.policy" => "compact")
    end

    # Brokers older than 2.3 lack IncrementalAlterConfigs; the client then reads the overrides
    # and replaces them with AlterConfigs. That path is forced here against this broker.
    it "keeps the same meaning through AlterConfigs, the path of brokers older than 2.3" do
      topic = "spec-#{SecureRandom.hex(4)}"
      (@created_topics ||= []) << topic
      kafka.create_topic(topic, config: { "cleanup.policy" => "compact", "max.message.bytes" => "500000" })
      default_retention = kafka.describe_topic(topic, ["retention.ms"]).fetch("retention.ms")
      native = kafka.instance_variable_get(:@native)

      native.alter_topic(topic, [["retention.ms", "7654321"], ["max.message.bytes", nil]], true)
      configs = kafka.describe_topic(topic, %w[retention.ms max.message.bytes cleanup.policy])
      expect(configs.values_at("retention.ms", "cleanup.policy")).to eq(%w[7654321 compact])
      expect(configs["max.message.bytes"]).not_to eq("500000")

      native.alter_topic(topic, [["retention.ms", nil]], true)
      expect(kafka.describe_topic(topic, %w[retention.ms cleanup.policy]))
        .to eq("retention.ms" => default_retention, "cleanup.policy" => "compact")
    end

    it "raises the broker's errors" do
      topic = new_topic(kafka)
      expect { kafka.alter_topic(topic, "retention.mss" => "1") }
        .to raise_error(KafkaRs::InvalidConfig, /retention\.mss/)
      expect { kafka.alter_topic(topic, "retention.ms" => "soon") }
        .to raise_error(KafkaRs::InvalidConfig, /retention\.ms/)
      expect { kafka.alter_topic("spec-missing-#{SecureRandom.hex(4)}", "retention.ms" => "1") }
        .to raise_error(KafkaRs::UnknownTopicOrPartition)
    end
  end

  describe "#describe_configs and #alter_configs (broker configs)" do
    let(:broker_id) { kafka.controller_broker.node_id }

    it "describes a broker's configs" do
      entries = kafka.describe_configs(broker_id, ["background.threads"])
      expect(entries.size).to eq(1)
      entry = entries.first
      expect(entry).to be_a(KafkaRs::ConfigEntry)
      expect(entry.name).to eq("background.threads")
      expect(entry.value).to match(/\A\d+\z/)
      expect(entry.is_sensitive).to be(false)

      all = kafka.describe_configs(broker_id)
      expect(all.size).to be > 100
      expect(all.find { |c| c.name == "node.id" || c.name == "broker.id" }.read_only).to be(true)
    end

    # Changes a dynamic setting of the shared broker that no spec depends on, and restores it.
    it "changes a broker's dynamic config, and nil restores it" do
      name = "log.cleaner.backoff.ms"
      before = kafka.describe_configs(broker_id, [name]).first
      expect(before.is_default).to be(true)
      begin
        kafka.alter_configs(broker_id, [[name, 16_000]])
        changed = kafka.describe_configs(broker_id, [name]).first
        expect([changed.value, changed.is_default]).to eq(["16000", false])
      ensure
        kafka.alter_configs(broker_id, [[name, nil]])
      end
      restored = kafka.describe_configs(broker_id, [name]).first
      expect([restored.value, restored.is_default]).to eq([before.value, true])
    end

    it "raises the broker's errors" do
      expect { kafka.describe_configs(999_999) }.to raise_error(KafkaRs::BrokerNotAvailable)
      expect { kafka.alter_configs(999_999, [["log.cleaner.backoff.ms", "1"]]) }
        .to raise_error(KafkaRs::BrokerNotAvailable)
      # A static config cannot change while the broker runs.
      expect { kafka.alter_configs(broker_id, [["node.id", "5"]]) }
        .to raise_error(KafkaRs::InvalidRequest, /node\.id/)
    end
  end

  it "rejects bad arguments, naming them, before sending anything" do
    expect { kafka.alter_topic("spec-x", "retention.ms") }.to raise_error(TypeError, /configs/)
    expect { kafka.alter_topic("spec-x", [["retention.ms"]]) }.to raise_error(TypeError, /configs entries/)
    expect { kafka.alter_topic("spec-x", 1 => "2") }.to raise_error(TypeError, /configs names/)
    expect { kafka.alter_topic("spec-x", "" => "2") }.to raise_error(ArgumentError, /configs names/)
    expect { kafka.alter_topic("spec-x", [%w[a 1], %w[a 2]]) }.to raise_error(ArgumentError, /"a" is given twice/)
    expect { kafka.alter_topic("bad topic", "a" => "1") }.to raise_error(ArgumentError, /name/)
    expect { kafka.describe_configs("1") }.to raise_error(TypeError, /broker_id/)
    expect { kafka.describe_configs(-1) }.to raise_error(ArgumentError, /broker_id/)
    expect { kafka.describe_configs(1, "background.threads") }.to raise_error(TypeError, /configs/)
    expect { kafka.alter_configs(2**31, []) }.to raise_error(ArgumentError, /broker_id/)
    expect { kafka.supports_api?("0") }.to raise_error(TypeError, /api_key/)
    expect { kafka.supports_api?(0, 1.5) }.to raise_error(TypeError, /version/)
    expect { kafka.replica_count_for(nil) }.to raise_error(TypeError, /topic/)
  end

  it "raises ClientClosed after close" do
    kafka.close
    expect { kafka.apis }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.supports_api?(0) }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.controller_broker }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.replica_count_for("spec-x") }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.describe_configs(1) }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.alter_configs(1, []) }.to raise_error(KafkaRs::ClientClosed)
    expect { kafka.alter_topic("spec-x", {}) }.to raise_error(KafkaRs::ClientClosed)
  end
end
