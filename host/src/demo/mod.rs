//! The demo province: a synthetic province shaped like a real one (11 cities, 90 counties,
//! real-format identifiers) with every dataset the five models read, anomalies planted at
//! known rates and written down as ground truth, so that a model's findings can be checked
//! exactly; and the one-command demo that loads it into a fresh store.

pub mod generate;
pub mod ids;
pub mod province;
pub mod rng;
pub mod setup;

pub use generate::{DemoError, Options, Summary, Truth, generate};
