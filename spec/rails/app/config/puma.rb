# frozen_string_literal: true

# No on_worker_boot / before_fork hook for kafka_rs: the shared producer is rebuilt in each
# forked worker by itself.
threads_count = Integer(ENV.fetch("RAILS_MAX_THREADS", "5"))
threads threads_count, threads_count
bind "tcp://127.0.0.1:#{ENV.fetch('PORT', '3000')}"
environment ENV.fetch("RAILS_ENV", "development")
worker_count = Integer(ENV.fetch("WEB_CONCURRENCY", "0"))
if worker_count.positive?
  workers worker_count
  preload_app!
end
