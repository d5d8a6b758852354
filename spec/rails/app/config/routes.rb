# frozen_string_literal: true

Rails.application.routes.draw do
  post "/orders", to: "orders#create"
  get "/up", to: proc { [200, { "Content-Type" => "text/plain" }, ["ok"]] }
end
