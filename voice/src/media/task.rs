//! The tokio shell of a call's media (filled in with the Device shell).
