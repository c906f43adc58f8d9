//! Property tests for the frame parser, the server's first contact with untrusted input: any byte string
//! must yield a frame or a `ParseError`, never a panic, and every valid frame must survive a round trip.

use chat_protocol::ClientFrame;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    // CI runs a bounded number of cases; PROPTEST_CASES raises it for longer local fuzzing.
    ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000),
    )
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::hash_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = ClientFrame::parse(&text);
    }

    #[test]
    fn arbitrary_objects_with_known_types_never_panic(
        t in prop_oneof![
            Just("hello".to_owned()), Just("join".to_owned()), Just("leave".to_owned()),
            Just("signal".to_owned()), Just("ping".to_owned()), "[a-z-]{1,10}",
        ],
        fields in prop::collection::hash_map("[a-z_]{1,8}", json_value(), 0..6),
    ) {
        let mut obj: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
        obj.insert("type".into(), t.clone().into());
        let text = serde_json::Value::Object(obj).to_string();
        if let Err(err) = ClientFrame::parse(&text) {
            prop_assert_eq!(err.frame_type.as_deref(), Some(&*t));
        }
    }

    #[test]
    fn valid_signals_round_trip(room in "[A-Za-z0-9._-]{1,64}", to in "[A-Za-z0-9_-]{1,30}", data in json_value()) {
        let text = serde_json::json!({"type": "signal", "room": room, "to": to, "data": data}).to_string();
        let frame = ClientFrame::parse(&text).expect("valid signal parses");
        let again = serde_json::to_string(&frame).unwrap();
        let ClientFrame::Signal { data: d2, .. } = ClientFrame::parse(&again).unwrap() else { panic!() };
        let reparsed: serde_json::Value = serde_json::from_str(d2.get()).unwrap();
        prop_assert_eq!(reparsed, data);
    }
}
