// Every form a subscriber and the new listener returns take, compiled and run.
use std::sync::Arc;

use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Logout;

#[derive(Default)]
pub struct UserEventSubscriber;

#[subscriber]
impl UserEventSubscriber {
    /// Docs and other attributes stay.
    #[listen]
    #[allow(clippy::unused_async)]
    pub async fn on_login(&self, _event: &Login) -> anyhow::Result<()> {
        Ok(())
    }

    #[listen(queued, tries = 3, queue_if = Self::wanted)]
    async fn on_logout(&self, _event: &Logout) -> anyhow::Result<()> {
        Ok(())
    }

    #[listen(event = Login)]
    async fn gate(&self, _event: &Login) -> anyhow::Result<Propagation> {
        Ok(Propagation::Stop)
    }

    fn wanted(_event: &Logout) -> bool {
        true
    }
}

#[listener(event = Login)]
async fn stopper(_event: &Login) -> Result<Propagation, std::io::Error> {
    Ok(Propagation::Continue)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let events = Dispatcher::new();
    events.subscribe(UserEventSubscriber).await;
    events.subscribe_shared(Arc::new(UserEventSubscriber)).await;
    events.listen::<Login>(Arc::new(StopperListener)).await;
    events.dispatch(Login).await.unwrap();
    let _jobs = JobRegistry::new().subscriber(Arc::new(UserEventSubscriber));
}
