//! Image commands.

pub mod images;
pub mod misc;
pub mod ship;
