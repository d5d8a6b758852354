# frozen_string_literal: true

require_relative "support"
require "logger"
require "stringio"

RSpec.describe "logging", :integration do
  include IntegrationHelpers

  def logger_at(level)
    io = StringIO.new
    logger = Logger.new(io, level: level)
    logger.formatter = ->(severity, _time, progname, msg) { "#{severity} #{progname}: #{msg}\n" }
    [logger, io]
  end

  it "hands connections, metadata refreshes and admin changes to the app's logger" do
    logger, io = logger_at(Logger::DEBUG)
    kafka = KafkaRs.new([IntegrationHelpers::BROKER], logger: logger)
    topic = new_topic(kafka)
    kafka.deliver_message("x", topic: topic)
    lines = io.string.lines
    expect(lines).to include("DEBUG kafka_rs: connected to #{IntegrationHelpers::BROKER} (general connection)\n")
    expect(lines.grep(/\ADEBUG kafka_rs: refreshed metadata of #{topic} from /)).not_to be_empty
    expect(lines).to include("INFO kafka_rs: created topic #{topic} (1 partitions, replication factor 1)\n")
    kafka.fetch_messages(topic: topic, partition: 0, offset: 0, max_wait_time: 0.1)
    expect(io.string).to include("connected to #{IntegrationHelpers::BROKER} (fetch connection)")
  ensure
    drop_topics(kafka)
    kafka&.close
  end

  it "logs retries as warnings and the final failure as an error" do
    logger, io = logger_at(Logger::WARN)
    kafka = KafkaRs.new([IntegrationHelpers::BROKER], logger: logger)
    topic = new_topic(kafka)
    producer = kafka.producer(max_retries: 1, retry_backoff: 0)
    producer.produce("lost", topic: topic, partition: 5)
    expect { producer.deliver_messages }.to raise_error(KafkaRs::DeliveryFailed)
    lines = io.string.lines
    # Partition 5 does not exist (yet): the producer looks the topic up again, max_retries times.
    expect(lines.grep(/\AWARN kafka_rs: looking up topic #{topic} failed .*retry 1 of 1 in 0 ms/).size).to eq(1)
    expect(lines.grep(/\AERROR kafka_rs: messages to missing partitions of #{topic} not delivered after 2 attempts/).size)
      .to eq(1)
    expect(lines.grep(/\A(DEBUG|INFO)/)).to be_empty
  ensure
    drop_topics(kafka)
    kafka&.close
  end

  it "logs a refused connection" do
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    logger, io = logger_at(Logger::DEBUG)
    kafka = KafkaRs.new(["127.0.0.1:#{port}"], logger: logger, connect_timeout: 1)
    expect { kafka.topics }.to raise_error(KafkaRs::ConnectionError)
    expect(io.string).to match(/WARN kafka_rs: could not connect to 127\.0\.0\.1:#{port}: .*next attempt in \d+ ms/)
    kafka.close
  end

  it "follows a change of the logger's level and logs nothing without a logger" do
    logger, io = logger_at(Logger::ERROR)
    kafka = KafkaRs.new([IntegrationHelpers::BROKER], logger: logger)
    topic = new_topic(kafka)
    expect(io.string).to eq("")
    logger.level = Logger::INFO
    kafka.delete_topic(topic)
    expect(io.string).to eq("INFO kafka_rs: deleted topic #{topic}\n")
    kafka.close

    silent = KafkaRs.new([IntegrationHelpers::BROKER])
    expect(silent.topics).to be_an(Array)
    expect(silent.instance_variable_get(:@native).drain_log).to eq([])
    silent.close
  end

  it "rejects a logger that cannot log" do
    expect { KafkaRs.new([IntegrationHelpers::BROKER], logger: "stdout") }
      .to raise_error(TypeError, /logger must be a Logger/)
  end
end
