//! Rule engine tests: the pure state machine and group evaluation driven
//! with a scripted clock, the real PromQL and template engines end to end
//! over a parsed rule file, durable state through a real redb file, and the
//! tokio manager under `tokio::time::pause()`.

mod e2e;
mod fake;
mod group;
mod manager;
mod state_machine;
