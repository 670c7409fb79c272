//! Following a build: what a follow knows apart from downloading, which the engine's
//! follow stage (`engine/follow.rs`) does with it. [`state`] is what a follow remembers
//! in its folder, and holds the folder while it works; [`names`] is what kept builds are
//! called.

mod names;
mod state;

pub(crate) use names::kept_name;
pub(crate) use state::{FolderLock, FollowState, KeptBuild};
