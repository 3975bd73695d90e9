//! Every worker-group scenario on the in-process backend.

use switchboard::bus::{Bus, BusConfig};

use crate::scenarios;
use crate::support::Guard;

async fn make(config: BusConfig) -> (Bus, Guard) {
    (Bus::memory(config), Box::new(()))
}

scenarios::all!(make);
