//! berth-build: the builder's pure half. A Dockerfile goes through
//! [`parser`] (raw instructions, directives, heredocs) → [`instructions`]
//! (typed, per stage) → [`plan`] (which stages a target needs, in what
//! order, with which arguments); words are expanded by [`shell`] with
//! Docker's rules; [`ignore`] is the `.dockerignore` matcher; [`cache`]
//! computes step cache keys. Nothing here does I/O: the executor lives in
//! berth-engine's `build/`.

pub mod ast;
pub mod cache;
pub mod ignore;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod shell;

pub use parser::{ParseError, parse};
