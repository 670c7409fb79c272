//! deltadrop front ends.
