//! lifecycle: the story of every page load in a packet capture.
//!
//! Stages, each importing only from those before it:
//! `base → capture → decode → flow → reassembly → protocol → correlate → export`,
//! with [`analyze`] driving them and `cli` (in the binary) on top.
//!
//! No `unsafe` but one cache prefetch hint in `capture` (allowed there, by name).

#![deny(unsafe_code)]

pub mod analyze;
pub mod base;
pub mod capture;
pub mod correlate;
pub mod decode;
pub mod export;
pub mod flow;
pub mod protocol;
pub mod reassembly;
