//! deltadrop front ends.

pub mod cli;
pub mod gui;
