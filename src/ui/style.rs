//! The stylesheet, compiled in so that a plain `cargo run` (no dx CLI, no asset server) is styled
//! from the first frame.

pub const CSS: &str = include_str!("../../assets/pumpside.css");
