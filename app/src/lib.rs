//! deltadrop front ends.

pub mod cli;
pub mod gui;
pub mod view;
