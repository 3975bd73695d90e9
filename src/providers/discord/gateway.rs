//! Discord gateway side: intents and normalization of dispatches into model events.
