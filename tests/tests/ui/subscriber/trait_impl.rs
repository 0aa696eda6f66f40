use event_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Login;

#[derive(Debug, Serialize, Deserialize, Event)]
pub struct Logout;

pub struct UserEventSubscriber;

trait Hooks {
    fn on_login(&self);
}

#[subscriber]
impl Hooks for UserEventSubscriber {
    fn on_login(&self) {}
}

fn main() {}
