//! 64 tests, each faking, dispatching its own events on the global dispatcher
//! and asserting exactly those, over many rounds with yields in between.
//! `cargo test` runs them on parallel threads; with the seed's process-wide
//! fake they would see each other's events. CI runs this binary several
//! times with more threads than cores.

use event_core::testing::EventFake;
use event_core::{Dispatchable, Event};

#[derive(Debug, Clone)]
struct Tick {
    test: usize,
    round: usize,
}

impl Event for Tick {
    fn event_name(&self) -> &'static str {
        "Tick"
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "test": self.test, "round": self.round })
    }
}

async fn fake_dispatch_assert(test: usize) {
    for round in 0..25 {
        let events = EventFake::new();
        // A different number of events per test and round, so a leak from
        // another test changes the count.
        let count = 1 + (test + round) % 5;
        for _ in 0..count {
            Tick { test, round }.dispatch().await.unwrap();
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
        events.assert_dispatched_times::<Tick>(count);
        events.assert_dispatched_with::<Tick>(|t| t.test == test && t.round == round);
        assert!(
            events
                .dispatched::<Tick>()
                .iter()
                .all(|t| t.test == test && t.round == round),
            "test {test} saw another test's events"
        );
    }
}

macro_rules! isolation_tests {
    ($($name:ident = $n:expr),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                fake_dispatch_assert($n).await;
            }
        )*
    };
}

isolation_tests! {
    isolated_00 = 0, isolated_01 = 1, isolated_02 = 2, isolated_03 = 3,
    isolated_04 = 4, isolated_05 = 5, isolated_06 = 6, isolated_07 = 7,
    isolated_08 = 8, isolated_09 = 9, isolated_10 = 10, isolated_11 = 11,
    isolated_12 = 12, isolated_13 = 13, isolated_14 = 14, isolated_15 = 15,
    isolated_16 = 16, isolated_17 = 17, isolated_18 = 18, isolated_19 = 19,
    isolated_20 = 20, isolated_21 = 21, isolated_22 = 22, isolated_23 = 23,
    isolated_24 = 24, isolated_25 = 25, isolated_26 = 26, isolated_27 = 27,
    isolated_28 = 28, isolated_29 = 29, isolated_30 = 30, isolated_31 = 31,
    isolated_32 = 32, isolated_33 = 33, isolated_34 = 34, isolated_35 = 35,
    isolated_36 = 36, isolated_37 = 37, isolated_38 = 38, isolated_39 = 39,
    isolated_40 = 40, isolated_41 = 41, isolated_42 = 42, isolated_43 = 43,
    isolated_44 = 44, isolated_45 = 45, isolated_46 = 46, isolated_47 = 47,
    isolated_48 = 48, isolated_49 = 49, isolated_50 = 50, isolated_51 = 51,
    isolated_52 = 52, isolated_53 = 53, isolated_54 = 54, isolated_55 = 55,
    isolated_56 = 56, isolated_57 = 57, isolated_58 = 58, isolated_59 = 59,
    isolated_60 = 60, isolated_61 = 61, isolated_62 = 62, isolated_63 = 63,
}
