//! The message parser under arbitrary input (proptest), plus a committed
//! corpus of frames that once mattered, each with its expected outcome.

use event_broadcast_server::protocol::ClientMessage;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text is either a message or a clean error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = ClientMessage::parse(&text);
    }

    /// Frames shaped like the protocol's, with arbitrary values.
    #[test]
    fn arbitrary_frames_never_panic(
        event in prop_oneof![Just("pusher:subscribe".to_string()), Just("pusher:signin".to_string()),
                              Just("client-x".to_string()), ".{0,20}"],
        channel in proptest::option::of(".{0,40}"),
        data in prop_oneof![Just(json!(null)), Just(json!({})), ".{0,40}".prop_map(|s| json!(s)),
                             any::<i64>().prop_map(|n| json!({"channel": n})),
                             ".{0,20}".prop_map(|s| json!({"channel": s, "auth": s}))],
    ) {
        let frame = json!({ "event": event, "channel": channel, "data": data }).to_string();
        let _ = ClientMessage::parse(&frame);
    }

    /// A subscribe built from any channel/auth/channel_data reads back the same,
    /// whether `data` is an object or a JSON string of one.
    #[test]
    fn subscribe_round_trips(channel in ".{1,60}", auth in proptest::option::of(".{0,80}"),
                             channel_data in proptest::option::of(".{0,80}"), as_string in any::<bool>()) {
        let mut data = json!({ "channel": channel });
        if let Some(a) = &auth { data["auth"] = json!(a); }
        if let Some(d) = &channel_data { data["channel_data"] = json!(d); }
        let data = if as_string { json!(data.to_string()) } else { data };
        let frame = json!({ "event": "pusher:subscribe", "data": data }).to_string();
        prop_assert_eq!(
            ClientMessage::parse(&frame),
            Ok(ClientMessage::Subscribe { channel, auth, channel_data })
        );
    }
}

/// `tests/corpus/frames.txt`: `ok|err <tab> frame`, one a line.
#[test]
fn regression_corpus() {
    let corpus = include_str!("corpus/frames.txt");
    let mut checked = 0;
    for (n, line) in corpus.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (expect, frame) = line.split_once('\t').expect("`ok|err<TAB>frame`");
        let parsed = ClientMessage::parse(frame);
        match expect {
            "ok" => assert!(parsed.is_ok(), "line {}: {frame} -> {parsed:?}", n + 1),
            "err" => assert!(parsed.is_err(), "line {}: {frame} -> {parsed:?}", n + 1),
            other => panic!("line {}: unknown expectation `{other}`", n + 1),
        }
        checked += 1;
    }
    assert!(checked >= 20, "the corpus has {checked} frames");
}
