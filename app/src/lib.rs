//! deltadrop front ends.

pub mod access;
pub mod cli;
pub mod desktop;
pub mod gui;
pub mod memory;
