//! Queued listeners and events: the job registry workers rebuild jobs from.

mod registry;

pub use registry::{EventDecoder, JobRegistry, RegistryError};
