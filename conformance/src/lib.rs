//! `emlab conform`: a catalogue of conformance cases keyed by the
//! requirement IDs of `REQUIREMENTS.md`, run against any server that
//! speaks `PROTOCOL.md`, with verdicts a CI pipeline can act on.
//!
//! - [`requirements`]: the requirement IDs, in emlab's words;
//! - [`catalogue`]: every case, and the requirements no case covers yet;
//! - [`case`]: what a case is, and its verdicts (passed, failed, skipped);
//! - [`roles`]: which of the target's entries the cases use (`[conformance]`);
//! - [`probe`]: how cases talk to the target, keeping a transcript;
//! - [`cases`]: the checks, one file per requirement group;
//! - [`run`]: runs the selection; [`report`]: console, JUnit, JSON, HTML.

pub mod case;
pub mod cases;
pub mod catalogue;
pub mod probe;
pub mod report;
pub mod requirements;
pub mod roles;
pub mod run;
