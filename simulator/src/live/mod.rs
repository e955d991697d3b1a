//! The live view of a run, for lab demos and capacity runs: what the
//! fleet is doing second by second, and the operator's controls.
//!
//! - [`control`]: pause, resume and a new arrival rate, filed as phases.

pub mod control;
