//! Runs a job from start to end.
use crate::error::{Error, Result};
use crate::event::{EventSink, Summary};
use crate::job::{Control, JobSpec};

pub(crate) fn run(_spec: &JobSpec, _sink: &dyn EventSink, _control: &Control) -> Result<Summary> {
    Err(Error::Invalid("the engine is being written".into()))
}
