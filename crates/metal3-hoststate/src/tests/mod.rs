//! The lifecycle driven end to end against the in-memory fixture backend, with a simulated
//! clock and a simulated controller that applies each decision the way the real one does.
//! One module per theme; `harness` holds the simulated controller and the one-pass transition
//! rows ([`harness::Transition`]) the table tests are made of: a host brought to a state, a
//! change, one pass, and the state, error type and requeue it must end with.

mod harness;

mod credentials;
mod delete;
mod deploy;
mod errors;
mod inspect;
mod media;
mod power;
mod prechecks;
mod prepare;
mod register;
