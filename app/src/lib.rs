//! deltadrop front ends.

pub mod cli;
