//! End-to-end and UI tests live in `tests/tests/`.
