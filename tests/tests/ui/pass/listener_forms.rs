// Every form `#[listener]` accepts, registered and dispatched.
use std::sync::Arc;

use event_core::{Dispatcher, Event, EventListener, listener};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct UserRegisteredEvent {
    pub email: String,
}

#[listener(event = UserRegisteredEvent)]
async fn send_welcome_email(event: &UserRegisteredEvent) -> anyhow::Result<()> {
    assert!(event.email.contains('@'));
    Ok(())
}

#[listener(
    event = crate::UserRegisteredEvent,
    queued,
    queue = "emails",
    connection = "redis",
    tries = 5,
    backoff = [5, 15, 30],
    timeout = 120,
    delay = 0,
    max_exceptions = 3,
    after_commit
)]
pub(crate) async fn r#notify(_event: &UserRegisteredEvent) -> Result<(), anyhow::Error> {
    Ok(())
}

#[listener(
    event = crate::UserRegisteredEvent,
    queued,
    backoff = "exponential:1,60",
    jitter,
    retry_until = 3600
)]
async fn retry_for_an_hour(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

// The job's payload is stored sealed with EVENTS_APP_KEY.
#[listener(event = crate::UserRegisteredEvent, queued, encrypted)]
async fn encrypted_job(_event: &UserRegisteredEvent) -> anyhow::Result<()> {
    Ok(())
}

mod errors {
    #[derive(Debug)]
    pub struct Refused;
    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("refused")
        }
    }
    impl std::error::Error for Refused {}
}

#[listener(event = UserRegisteredEvent)]
async fn check(_event: &UserRegisteredEvent) -> Result<(), errors::Refused> {
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Pair<A, B> {
    pub left: A,
    pub right: B,
}

// A generic event type: the comma inside `<...>` is part of the type.
#[listener(event = Pair<u8, String>, tries = 2)]
async fn on_pair(event: &Pair<u8, String>) -> anyhow::Result<()> {
    assert_eq!(event.left, 1);
    assert_eq!(event.right, "one");
    Ok(())
}

pub struct Mailer<C> {
    pub client: C,
}

#[listener(event = UserRegisteredEvent, tries = 2)]
impl<C: AsRef<str> + Send + Sync> Mailer<C> {
    async fn handle(&self, event: &UserRegisteredEvent) -> anyhow::Result<()> {
        assert!(!self.client.as_ref().is_empty());
        assert!(!event.email.is_empty());
        Ok(())
    }

    async fn failed(&self, _event: &UserRegisteredEvent, _error: &anyhow::Error) {}

    pub fn client(&self) -> &str {
        self.client.as_ref()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let events = Dispatcher::new();
    events.listen::<UserRegisteredEvent>(Arc::new(SendWelcomeEmailListener)).await;
    events.listen::<UserRegisteredEvent>(Arc::new(NotifyListener)).await;
    events.listen::<UserRegisteredEvent>(Arc::new(CheckListener)).await;
    let mailer = Mailer { client: "smtp".to_string() };
    assert_eq!(mailer.client(), "smtp");
    events.listen::<UserRegisteredEvent>(Arc::new(mailer)).await;
    events
        .dispatch_now(UserRegisteredEvent { email: "a@b.c".into() })
        .await?;
    assert_eq!(NotifyListener.options().tries, Some(5));
    events.listen::<Pair<u8, String>>(Arc::new(OnPairListener)).await;
    events
        .dispatch(Pair { left: 1u8, right: "one".to_string() })
        .await?;
    assert_eq!(OnPairListener.options().tries, Some(2));
    assert!(EncryptedJobListener.options().encrypted);
    assert!(!OnPairListener.options().encrypted);
    event_core::register_listener!(UserRegisteredEvent, Arc::new(SendWelcomeEmailListener));
    Ok(())
}
