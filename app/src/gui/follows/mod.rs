//! Following builds from the app: [`model`] is what the app remembers of each follow
//! (saved with the settings), [`schedule`] when each is due, and [`scheduler`] the
//! thread that checks them on time, window drawn or not. A check itself is an engine
//! job in `Mode::Follow`; its events come back as commands like every worker's.

pub mod model;
pub mod schedule;
pub mod scheduler;

pub use model::{BuildSeen, CheckOutcome, Follow, FollowId, Notice};
pub use schedule::{ScheduleReport, Scheduled};
pub use scheduler::{Scheduler, SchedulerParts};
