//! Control files.
pub struct ControlFile;
