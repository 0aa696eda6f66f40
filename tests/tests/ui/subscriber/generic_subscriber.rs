use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

pub struct Audit<T>(T);

#[subscriber]
impl<T: Send + Sync + 'static> Audit<T> {
    #[listen]
    async fn on_login(&self, _event: &Login) -> anyhow::Result<()> {
        Ok(())
    }
}

fn main() {}
