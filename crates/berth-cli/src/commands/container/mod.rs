//! Container commands.

pub mod attach;
pub mod config;
pub mod cp;
pub mod exec;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod misc;
pub mod ps;
pub mod run;
pub mod start;
pub mod stats;
