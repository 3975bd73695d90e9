//! Discord REST side: model commands mapped onto Discord routes, rate-limit bookkeeping.
