//! Discord: twilight payloads → model events, model commands → Discord REST routes,
//! and the interaction tokens the access layer keeps away from workers.

pub mod commands;
pub mod gateway;
pub mod interactions;
pub mod rest;
