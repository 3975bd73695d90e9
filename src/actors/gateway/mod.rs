//! `GatewayActor`: one per tenant; runs the twilight shards and publishes normalized events.
