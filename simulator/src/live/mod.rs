//! The live view of a run, for lab demos and capacity runs: what the
//! fleet is doing second by second, and the operator's controls.
//!
//! - [`control`]: pause, resume and a new arrival rate, filed as phases;
//! - [`board`]: each phone's tile: screen, line keys, user, state, events;
//! - [`feed`]: the page's updates, second by second;
//! - [`server`]: the page, its Server-Sent Events and the control API;
//! - [`demo`]: `emlab demo`'s director, who plays the interesting cases.

pub mod board;
pub mod control;
pub mod demo;
pub mod feed;
pub mod server;
