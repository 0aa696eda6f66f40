// Every form `#[derive(Event)]` accepts.
use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
pub struct UserRegisteredEvent {
    pub user_id: String,
    pub email: String,
}

#[derive(Debug, Serialize, Event)]
pub struct PageViewed(pub String, pub u32);

#[derive(Debug, Serialize, Event)]
pub struct CacheCleared;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(
    name = "order.placed",
    queued,
    queue = "orders",
    connection = "redis",
    priority = 10,
    tags("order", "billing"),
    broadcast = "orders.{order_id}",
    private,
)]
pub struct OrderPlacedEvent {
    pub order_id: u64,
}

#[derive(Debug, Serialize, Event)]
#[event(broadcast = "chat.{0}", presence)]
pub struct ChatJoined(pub String);

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(queued)]
pub struct Generic<T, const N: usize>
where
    T: Clone,
{
    pub items: Vec<T>,
}

#[derive(Debug, Serialize, Event)]
pub struct r#Raw;

#[derive(Debug, Serialize, Event)]
#[event(after_commit)]
pub struct InvoicePaid;

fn main() {
    let user = UserRegisteredEvent {
        user_id: "u1".into(),
        email: "a@b.c".into(),
    };
    assert_eq!(user.event_name(), "UserRegistered");
    assert_eq!(PageViewed("/".into(), 1).event_name(), "PageViewed");
    assert_eq!(CacheCleared.event_name(), "CacheCleared");
    let order = OrderPlacedEvent { order_id: 4 };
    assert_eq!(order.event_name(), "order.placed");
    assert_eq!(order.broadcast_channel(), "orders.4");
    assert!(order.should_queue());
    assert_eq!(ChatJoined("x".into()).broadcast_channel(), "chat.x");
    let generic = Generic::<u8, 3> { items: vec![1] };
    assert!(generic.should_queue());
    assert_eq!(Generic::<u8, 3>::static_event_name(), "Generic");
    assert_eq!(Raw.event_name(), "Raw");
    assert!(InvoicePaid.dispatch_after_commit());
    assert!(!Raw.dispatch_after_commit());
}
