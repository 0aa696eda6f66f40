//! The spec of the macros' errors: each `ui/<kind>/*.rs` must fail to compile
//! with exactly its `.stderr`; each `ui/pass/*.rs` must compile and run.
//! Regenerate with `TRYBUILD=overwrite` and review every `.stderr` diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    for kind in [
        "unknown-key",
        "duplicate-key",
        "wrong-value",
        "derive-target",
        "listener-fn",
        "listener-impl",
        "broadcast",
        "serde",
        "subscriber",
        "propagation",
        "queue-if",
    ] {
        t.compile_fail(format!("tests/ui/{kind}/*.rs"));
    }
}
