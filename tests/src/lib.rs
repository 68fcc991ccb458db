//! End-to-end tests of the `ccpulse` binary live in `tests/tests/`; this crate holds
//! their shared helpers.
