//! Local Discord emulator (gateway and REST) for tests, the demo and offline use.
