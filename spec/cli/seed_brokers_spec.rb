# frozen_string_literal: true

require_relative "../spec_helper"
require "kafka_rs/cli/seed_brokers"

RSpec.describe KafkaRs::CLI::SeedBrokers do
  def resolve(flag = nil, **env)
    described_class.resolve(flag, env: env.transform_keys(&:to_s))
  end

  it "takes --brokers first, then KAFKA_BROKERS, then KAFKA_URL, then 127.0.0.1:9092" do
    both = { KAFKA_BROKERS: "b:1", KAFKA_URL: "kafka://u:2" }
    expect(resolve("f:3", **both)).to have_attributes(brokers: ["f:3"], source: "--brokers")
    expect(resolve(nil, **both)).to have_attributes(brokers: ["b:1"], source: "KAFKA_BROKERS")
    expect(resolve(nil, KAFKA_URL: "kafka://u:2", KAFKA_BROKERS: " ")).to have_attributes(brokers: ["u:2"], source: "KAFKA_URL")
    expect(resolve).to have_attributes(brokers: ["127.0.0.1:9092"], source: "default")
  end

  it "reads comma-separated kafka:// URLs, bare hosts and IPv6 addresses" do
    seeds = resolve(nil, KAFKA_URL: "kafka://ec2-1.example.com:9096, kafka://ec2-2.example.com:9096,")
    expect(seeds.brokers).to eq(%w[ec2-1.example.com:9096 ec2-2.example.com:9096])
    expect(seeds).not_to be_tls
    expect(resolve("kafka1,[::1]:9093,plaintext://k:1").brokers).to eq(["kafka1:9092", "[::1]:9093", "k:1"])
    expect(seeds.to_s).to eq("ec2-1.example.com:9096,ec2-2.example.com:9096 (from KAFKA_URL)")
  end

  it "notes that kafka+ssl:// asks for TLS" do
    expect(resolve(nil, KAFKA_URL: "kafka+ssl://a:9096,kafka+ssl://b:9096")).to have_attributes(tls?: true, brokers: %w[a:9096 b:9096])
  end

  it "refuses entries it cannot read, naming where they came from" do
    expect { resolve("http://a:1") }.to raise_error(ArgumentError, /--brokers: unknown scheme http/)
    expect { resolve(nil, KAFKA_BROKERS: "a:70000") }.to raise_error(ArgumentError, /KAFKA_BROKERS: port out of range/)
    expect { resolve("a b:1") }.to raise_error(ArgumentError, /cannot read broker "a b:1"/)
    expect { resolve(",,") }.to raise_error(ArgumentError, /no brokers/)
  end
end
