//! Provider-neutral model: envelopes, topics, URNs, events and commands.
