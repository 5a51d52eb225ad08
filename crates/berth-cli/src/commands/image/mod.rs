//! Image commands.

pub mod images;
pub mod misc;
