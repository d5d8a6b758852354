# frozen_string_literal: true

module KafkaRs
  module CLI
    # Columns padded to their widest cell, two spaces apart; numbers (and the columns named in
    # `right:`) aligned right. nil cells print as "-".
    class Table
      def initialize(headers, rows, right: [])
        @headers = headers.map(&:to_s)
        @rows = rows.map { |row| row.map { |cell| cell.nil? ? "-" : cell.to_s } }
        numeric = @headers.each_index.select do |i|
          cells = rows.map { |r| r[i] }.compact
          !cells.empty? && cells.all?(Numeric)
        end
        @right = numeric | right.map { |r| r.is_a?(Integer) ? r : @headers.index(r.to_s) }.compact
      end

      def to_s
        all = [@headers, *@rows]
        widths = @headers.each_index.map { |i| all.map { |r| r[i].to_s.size }.max }
        all.map do |row|
          cells = row.each_with_index.map do |cell, i|
            @right.include?(i) ? cell.to_s.rjust(widths[i]) : cell.to_s.ljust(widths[i])
          end
          "#{cells.join('  ').rstrip}\n"
        end.join
      end
    end
  end
end
