# frozen_string_literal: true

require_relative "../spec_helper"
require "kafka_rs/cli/table"

RSpec.describe KafkaRs::CLI::Table do
  it "pads columns to their widest cell, numbers to the right, nil as -" do
    table = described_class.new(%w[TOPIC PARTITION LAG OWNER], [["orders", 0, 12_345, "w-1 /10.0.0.7"], ["a", 10, nil, nil]])
    expect(table.to_s).to eq(<<~TEXT)
      TOPIC   PARTITION    LAG  OWNER
      orders          0  12345  w-1 /10.0.0.7
      a              10      -  -
    TEXT
  end

  it "right-aligns the columns named" do
    table = described_class.new(%w[NAME VALUE], [%w[a 1], %w[bb 22]], right: %w[VALUE])
    expect(table.to_s).to eq("NAME  VALUE\na         1\nbb       22\n")
  end

  it "left-aligns a column with nothing but nil" do
    expect(described_class.new(%w[GROUP PROTOCOL N], [["g", nil, 1]]).to_s).to eq("GROUP  PROTOCOL  N\ng      -         1\n")
  end

  it "prints the header alone without rows" do
    expect(described_class.new(%w[A B], []).to_s).to eq("A  B\n")
  end
end
