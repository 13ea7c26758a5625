//! Rule engine tests: the pure state machine and group evaluation driven
//! with a scripted clock, durable state through a real redb file, and the
//! tokio manager under `tokio::time::pause()`.

mod fake;
mod group;
mod manager;
mod state_machine;
