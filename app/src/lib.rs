//! deltadrop front ends.

pub mod cli;
pub mod desktop;
pub mod gui;
