//! The GUI's model of a running job: folds the engine's [`Event`] stream into what a user
//! is shown (phase, bytes found locally vs fetched, speed, ETA, the per-block map) and
//! formats sizes, rates and durations for the window.
//!
//! Nothing here draws or does I/O: `ui.rs` and [`super::block_map`] paint a [`JobView`].
//! Only the GUI uses it (the CLI prints events as they come, see `cli::render`), so it
//! lives under `gui/`. Time is passed in (`now`) so the folding is deterministic in tests.

use std::collections::VecDeque;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use deltadrop_core::{
    BlockSource, BlockState, Error, Event, Format, Noun, Phase, Plan, Progress, Summary, TargetInfo,
};

/// All block states, in the order they are stacked inside a mixed map cell.
pub const STATES: [BlockState; 5] = [
    BlockState::Local,
    BlockState::Fetched,
    BlockState::InFlight,
    BlockState::Failed,
    BlockState::Unknown,
];

/// "1.5 MiB": binary units, three significant digits.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else if value >= 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// "1.2 MiB/s".
pub fn human_rate(bytes_per_second: f64) -> String {
    format!(
        "{}/s",
        human_bytes(bytes_per_second.max(0.0).round() as u64)
    )
}

/// "1h 02m", "3m 05s", "12s".
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `1234567` -> `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 request", "3 requests", with thousands separators.
pub fn count_of(n: u64, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        if n == 1 { singular } else { plural }
    )
}

/// "1 chunk", "3 chunks": a count in a format's word for what is counted.
pub fn count_in(n: u64, noun: Noun) -> String {
    count_of(n, noun.one, noun.many)
}

/// The word with its first letter in upper case: "Chunk" for a label that starts with it.
pub fn capitalised(word: &str) -> String {
    let mut letters = word.chars();
    letters.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(letters).collect()
    })
}

/// The control files of `formats` for a sentence: ".zsync, .zck or .caibx".
pub fn extensions_of(formats: impl IntoIterator<Item = Format>) -> String {
    let dotted: Vec<String> = formats
        .into_iter()
        .map(|format| format!(".{}", format.extension()))
        .collect();
    match dotted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What a phase of a job of `format` is called in the UI.
pub fn phase_name(phase: Phase, format: Format) -> String {
    match phase {
        Phase::LoadingControl => format!("Loading the .{} file", format.extension()),
        Phase::ScanningSeeds => "Scanning local files".into(),
        Phase::Fetching => format!("Downloading missing {}", format.pieces().many),
        Phase::Verifying => "Verifying".into(),
        Phase::Finishing => "Finishing".into(),
        Phase::Done => "Done".into(),
    }
}

/// What a block state is called in legends.
pub fn state_name(state: BlockState) -> &'static str {
    match state {
        BlockState::Unknown => "Not found yet",
        BlockState::Local => "Found locally",
        BlockState::InFlight => "Downloading",
        BlockState::Fetched => "Downloaded",
        BlockState::Failed => "Failed",
    }
}

// ---------------------------------------------------------------------------------------
// The block map model

/// Source codes kept per block: 0 = none yet.
const SRC_NONE: u8 = 0;
const SRC_PART: u8 = 1;
const SRC_OLD: u8 = 2;
const SRC_NET: u8 = 3;
const SRC_SEED0: u8 = 4;

fn encode_source(source: BlockSource) -> u8 {
    match source {
        BlockSource::PartFile => SRC_PART,
        BlockSource::OldOutput => SRC_OLD,
        BlockSource::Network => SRC_NET,
        // Seeds past the 251st share the last code (hover then names that one).
        BlockSource::Seed(i) => SRC_SEED0.saturating_add(i.min(251) as u8),
    }
}

fn decode_source(code: u8) -> Option<BlockSource> {
    match code {
        SRC_NONE => None,
        SRC_PART => Some(BlockSource::PartFile),
        SRC_OLD => Some(BlockSource::OldOutput),
        SRC_NET => Some(BlockSource::Network),
        n => Some(BlockSource::Seed((n - SRC_SEED0) as usize)),
    }
}

/// One byte of state and one byte of source per block of the target, updated from the
/// engine's `Event::Blocks` runs; with running per-state totals. Only blocks whose data
/// has been found, received or rejected have a source: the engine names the network for
/// blocks it puts back to unknown or has in flight, but none of their data is here yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMap {
    states: Vec<BlockState>,
    sources: Vec<u8>,
    counts: [u64; 5],
}

/// How the blocks of one map cell are split between the states, indexed by
/// `BlockState as usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellMix {
    pub counts: [u32; 5],
}

impl CellMix {
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
    pub fn count(&self, state: BlockState) -> u32 {
        self.counts[state as usize]
    }
    /// The fraction of the cell's blocks in `state` (0 for an empty cell).
    pub fn fraction(&self, state: BlockState) -> f32 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.count(state) as f32 / total as f32
        }
    }
    /// The state most blocks of the cell are in (ties go to the earlier of [`STATES`]).
    pub fn dominant(&self) -> BlockState {
        let mut best = BlockState::Unknown;
        let mut best_count = 0;
        for state in STATES {
            if self.count(state) > best_count {
                best = state;
                best_count = self.count(state);
            }
        }
        best
    }
    /// `Some(state)` when every block of the cell is in one state.
    pub fn uniform(&self) -> Option<BlockState> {
        let total = self.total();
        STATES
            .into_iter()
            .find(|&s| total > 0 && self.count(s) == total)
    }
    /// The non-empty parts of the cell, in [`STATES`] order, with their fractions: what a
    /// painter stacks inside the cell.
    pub fn parts(&self) -> Vec<(BlockState, f32)> {
        STATES
            .into_iter()
            .filter(|&s| self.count(s) > 0)
            .map(|s| (s, self.fraction(s)))
            .collect()
    }
}

/// How many blocks each cell of a drawn map covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    pub blocks_per_cell: u64,
    pub cells: u64,
}

impl Grouping {
    /// The fewest blocks per cell that keep the map within `max_cells` cells.
    pub fn new(block_count: u64, max_cells: u64) -> Self {
        let max_cells = max_cells.max(1);
        let blocks_per_cell = block_count.div_ceil(max_cells).max(1);
        Grouping {
            blocks_per_cell,
            cells: block_count.div_ceil(blocks_per_cell),
        }
    }
    /// The blocks of cell `cell` (the last cell may be short).
    pub fn blocks(&self, cell: u64, block_count: u64) -> Range<u64> {
        let start = (cell * self.blocks_per_cell).min(block_count);
        start..(start + self.blocks_per_cell).min(block_count)
    }
}

impl BlockMap {
    pub fn new(block_count: u64) -> Self {
        let n = block_count as usize;
        BlockMap {
            states: vec![BlockState::Unknown; n],
            sources: vec![SRC_NONE; n],
            counts: [block_count, 0, 0, 0, 0],
        }
    }

    pub fn len(&self) -> u64 {
        self.states.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// Sets `blocks` (clamped to the map) to `state`, remembering `source` unless the
    /// state is unknown or in flight (then the blocks have no source).
    pub fn apply(&mut self, blocks: Range<u64>, state: BlockState, source: BlockSource) {
        let end = blocks.end.min(self.len()) as usize;
        let start = (blocks.start as usize).min(end);
        let code = match state {
            BlockState::Unknown | BlockState::InFlight => SRC_NONE,
            BlockState::Local | BlockState::Fetched | BlockState::Failed => encode_source(source),
        };
        for (s, src) in self.states[start..end]
            .iter_mut()
            .zip(&mut self.sources[start..end])
        {
            self.counts[*s as usize] -= 1;
            self.counts[state as usize] += 1;
            *s = state;
            *src = code;
        }
    }

    pub fn state(&self, block: u64) -> BlockState {
        self.states.get(block as usize).copied().unwrap_or_default()
    }

    /// Where the block's data came from (None while it is unknown or in flight).
    pub fn source(&self, block: u64) -> Option<BlockSource> {
        self.sources
            .get(block as usize)
            .and_then(|&c| decode_source(c))
    }

    /// How many blocks are in `state`.
    pub fn count(&self, state: BlockState) -> u64 {
        self.counts[state as usize]
    }

    /// The mix of states over `blocks`.
    pub fn mix(&self, blocks: Range<u64>) -> CellMix {
        let end = blocks.end.min(self.len()) as usize;
        let start = (blocks.start as usize).min(end);
        let mut mix = CellMix::default();
        for &s in &self.states[start..end] {
            mix.counts[s as usize] += 1;
        }
        mix
    }

    /// The distinct sources over `blocks`, in first-seen order (at most `limit`).
    pub fn sources(&self, blocks: Range<u64>, limit: usize) -> Vec<BlockSource> {
        let end = blocks.end.min(self.len()) as usize;
        let start = (blocks.start as usize).min(end);
        let mut seen = [false; 256];
        let mut out = Vec::new();
        for &c in &self.sources[start..end] {
            if c != SRC_NONE && !seen[c as usize] {
                seen[c as usize] = true;
                out.extend(decode_source(c));
                if out.len() >= limit {
                    break;
                }
            }
        }
        out
    }

    /// The state array, one byte per block.
    pub fn states(&self) -> &[BlockState] {
        &self.states
    }
}

// ---------------------------------------------------------------------------------------
// Rates

/// A transfer rate over a sliding window of (time, counter) samples.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    pub fn new(window: Duration) -> Self {
        RateMeter {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Records the counter's value at `now`.
    pub fn record(&mut self, now: Instant, total: u64) {
        self.samples.push_back((now, total));
        while self.samples.len() > 2 && now.duration_since(self.samples[0].0) > self.window {
            self.samples.pop_front();
        }
    }

    /// Forgets the history (after a pause, say), keeping the last value as the base.
    pub fn reset(&mut self) {
        let last = self.samples.back().copied();
        self.samples.clear();
        self.samples.extend(last);
    }

    /// Units per second over the window, if at least two samples span some time.
    pub fn per_second(&self) -> Option<f64> {
        let (t0, v0) = *self.samples.front()?;
        let (t1, v1) = *self.samples.back()?;
        let dt = t1.duration_since(t0).as_secs_f64();
        (dt >= 0.2).then(|| v1.saturating_sub(v0) as f64 / dt)
    }
}

// ---------------------------------------------------------------------------------------
// The job view

/// What happened to one local file the job scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedStatus {
    Scanning,
    /// Scanned: `blocks` blocks (`bytes` bytes of the target) were taken from it.
    Used {
        blocks: u64,
        bytes: u64,
    },
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedView {
    pub source: BlockSource,
    pub path: PathBuf,
    pub size: u64,
    pub status: SeedStatus,
}

/// Everything a front end shows about one job, folded from its events.
#[derive(Debug, Clone)]
pub struct JobView {
    pub phase: Option<Phase>,
    pub target: Option<TargetInfo>,
    pub map: Option<BlockMap>,
    pub seeds: Vec<SeedView>,
    pub plan: Option<Plan>,
    pub progress: Progress,
    pub notices: Vec<String>,
    pub outcome: Option<Result<Summary, Error>>,
    started: Instant,
    finished_at: Option<Instant>,
    wire_rate: RateMeter,
    fetch_rate: RateMeter,
}

impl JobView {
    pub fn new(now: Instant) -> Self {
        JobView {
            phase: None,
            target: None,
            map: None,
            seeds: Vec::new(),
            plan: None,
            progress: Progress::default(),
            notices: Vec::new(),
            outcome: None,
            started: now,
            finished_at: None,
            wire_rate: RateMeter::new(Duration::from_secs(5)),
            fetch_rate: RateMeter::new(Duration::from_secs(5)),
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: Event, now: Instant) {
        match event {
            Event::Phase(phase) => {
                self.phase = Some(phase);
                if phase == Phase::Fetching {
                    self.wire_rate.record(now, self.progress.wire_bytes);
                    self.fetch_rate.record(now, self.progress.fetched_bytes);
                }
            }
            Event::ControlLoaded(info) => {
                self.map = Some(BlockMap::new(info.block_count));
                if self.progress.total_bytes == 0 {
                    self.progress.total_bytes = info.length;
                }
                self.target = Some(info);
            }
            Event::SeedStarted { source, path, size } => {
                let view = SeedView {
                    source,
                    path,
                    size,
                    status: SeedStatus::Scanning,
                };
                match self.seeds.iter_mut().find(|s| s.source == source) {
                    Some(existing) => *existing = view,
                    None => self.seeds.push(view),
                }
            }
            Event::SeedFinished {
                source,
                blocks,
                bytes,
            } => {
                if let Some(seed) = self.seeds.iter_mut().find(|s| s.source == source) {
                    seed.status = SeedStatus::Used { blocks, bytes };
                }
            }
            Event::SeedSkipped {
                source,
                path,
                reason,
            } => match self.seeds.iter_mut().find(|s| s.source == source) {
                Some(seed) => seed.status = SeedStatus::Skipped(reason),
                None => self.seeds.push(SeedView {
                    source,
                    path,
                    size: 0,
                    status: SeedStatus::Skipped(reason),
                }),
            },
            Event::Blocks {
                blocks,
                state,
                source,
            } => {
                if let Some(map) = &mut self.map {
                    map.apply(blocks, state, source);
                }
            }
            Event::Planned(plan) => self.plan = Some(plan),
            // Asked for only to choose seeds among candidate files; this view shows a
            // download, not candidates.
            Event::SeedEstimate { .. } => {}
            Event::Progress(progress) => {
                self.progress = progress;
                if self.phase == Some(Phase::Fetching) {
                    self.wire_rate.record(now, progress.wire_bytes);
                    self.fetch_rate.record(now, progress.fetched_bytes);
                }
            }
            Event::Notice(text) => self.notices.push(text),
            Event::Finished(result) => {
                if let Ok(summary) = &result {
                    self.progress = summary.progress;
                    self.plan.get_or_insert(summary.plan);
                }
                self.phase = Some(Phase::Done);
                self.finished_at = Some(now);
                self.outcome = Some(result);
            }
        }
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }

    pub fn error(&self) -> Option<&Error> {
        self.outcome.as_ref().and_then(|o| o.as_ref().err())
    }

    pub fn summary(&self) -> Option<&Summary> {
        self.outcome.as_ref().and_then(|o| o.as_ref().ok())
    }

    pub fn total_bytes(&self) -> u64 {
        if self.progress.total_bytes > 0 {
            self.progress.total_bytes
        } else {
            self.target.as_ref().map_or(0, |t| t.length)
        }
    }

    /// Target bytes in place (local + fetched), 0.0..=1.0.
    pub fn fraction_done(&self) -> f32 {
        let total = self.total_bytes();
        if total == 0 {
            return if self.summary().is_some() { 1.0 } else { 0.0 };
        }
        let done = self.progress.local_bytes + self.progress.fetched_bytes;
        (done as f64 / total as f64).clamp(0.0, 1.0) as f32
    }

    /// Bytes per second on the wire, while fetching.
    pub fn speed(&self) -> Option<f64> {
        if self.phase == Some(Phase::Fetching) {
            self.wire_rate.per_second()
        } else {
            None
        }
    }

    /// Time left for the fetch at the current rate.
    pub fn eta(&self) -> Option<Duration> {
        if self.phase != Some(Phase::Fetching) {
            return None;
        }
        let rate = self.fetch_rate.per_second()?;
        if rate <= 0.0 {
            return None;
        }
        let remaining = self
            .total_bytes()
            .saturating_sub(self.progress.local_bytes + self.progress.fetched_bytes);
        Some(Duration::from_secs_f64(remaining as f64 / rate))
    }

    /// Call when the job is resumed after a pause: the pause should not drag the speed down.
    pub fn resumed(&mut self) {
        self.wire_rate.reset();
        self.fetch_rate.reset();
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        self.finished_at.unwrap_or(now).duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltadrop_tests::target_info;

    #[test]
    fn extensions_are_listed_for_a_sentence() {
        assert_eq!(extensions_of(Format::ALL), ".zsync, .zck or .caibx");
        assert_eq!(extensions_of([Format::Casync]), ".caibx");
        assert_eq!(extensions_of([]), "");
        assert_eq!(capitalised("chunk"), "Chunk");
        assert_eq!(capitalised(""), "");
    }

    #[test]
    fn block_map_folds_runs_and_keeps_counts() {
        let mut map = BlockMap::new(100);
        assert_eq!(map.count(BlockState::Unknown), 100);
        map.apply(10..20, BlockState::Local, BlockSource::Seed(2));
        map.apply(15..30, BlockState::InFlight, BlockSource::Network);
        map.apply(15..25, BlockState::Fetched, BlockSource::Network);
        map.apply(90..500, BlockState::Failed, BlockSource::Network);
        let (start, end) = (50, 40);
        map.apply(start..end, BlockState::Local, BlockSource::PartFile); // Empty: ignored.
        assert_eq!(map.count(BlockState::Local), 5);
        assert_eq!(map.count(BlockState::Fetched), 10);
        assert_eq!(map.count(BlockState::InFlight), 5);
        assert_eq!(map.count(BlockState::Failed), 10);
        assert_eq!(map.count(BlockState::Unknown), 70);
        let total: u64 = STATES.iter().map(|&s| map.count(s)).sum();
        assert_eq!(total, 100);
        assert_eq!(map.state(12), BlockState::Local);
        assert_eq!(map.source(12), Some(BlockSource::Seed(2)));
        assert_eq!(map.state(16), BlockState::Fetched);
        assert_eq!(map.source(16), Some(BlockSource::Network));
        assert_eq!(map.source(5), None);
        assert_eq!(map.states().len(), 100);
        assert_eq!(
            map.sources(0..100, 8),
            vec![BlockSource::Seed(2), BlockSource::Network]
        );
        let mix = map.mix(10..30);
        assert_eq!(mix.count(BlockState::Local), 5);
        assert_eq!(mix.count(BlockState::Fetched), 10);
        assert_eq!(mix.count(BlockState::InFlight), 5);
        assert_eq!(mix.dominant(), BlockState::Fetched);
        assert_eq!(mix.uniform(), None);
        assert_eq!(map.mix(10..15).uniform(), Some(BlockState::Local));
    }

    #[test]
    fn unknown_and_in_flight_blocks_have_no_source() {
        let mut map = BlockMap::new(10);
        // What the engine sends: in flight from the network, some received, the rest put
        // back to unknown (a pause, a cancel), and a failed one.
        map.apply(0..8, BlockState::InFlight, BlockSource::Network);
        assert_eq!(map.source(0), None);
        map.apply(0..2, BlockState::Fetched, BlockSource::Network);
        map.apply(2..6, BlockState::Unknown, BlockSource::Network);
        map.apply(6..7, BlockState::Failed, BlockSource::Network);
        assert_eq!(map.source(1), Some(BlockSource::Network));
        assert_eq!(map.source(2), None);
        assert_eq!(map.source(7), None, "still in flight");
        assert_eq!(map.source(6), Some(BlockSource::Network));
        assert!(map.sources(2..6, 8).is_empty());
        assert!(map.sources(7..8, 8).is_empty());
        // A block found locally after it was put back has the seed as its source.
        map.apply(3..4, BlockState::Local, BlockSource::Seed(1));
        assert_eq!(map.sources(2..6, 8), vec![BlockSource::Seed(1)]);
    }

    #[test]
    fn grouping_covers_every_block_once_within_the_cells_asked_for() {
        let max_cells = crate::gui::block_map::MAX_CELLS;
        let g = Grouping::new(150_000, max_cells);
        assert!(g.cells <= max_cells);
        assert_eq!(g.blocks_per_cell, 150_000u64.div_ceil(max_cells));
        let mut covered = 0;
        for cell in 0..g.cells {
            let blocks = g.blocks(cell, 150_000);
            assert_eq!(blocks.start, covered);
            covered = blocks.end;
        }
        assert_eq!(covered, 150_000);
    }

    #[test]
    fn job_view_folds_seeds_plan_progress_and_the_end() {
        let t0 = Instant::now();
        let mut view = JobView::new(t0);
        let info = target_info(100, 1000);
        view.apply(Event::ControlLoaded(info.clone()), t0);
        view.apply(
            Event::SeedStarted {
                source: BlockSource::Seed(0),
                path: "a".into(),
                size: 10,
            },
            t0,
        );
        view.apply(
            Event::SeedSkipped {
                source: BlockSource::Seed(1),
                path: "b".into(),
                reason: "no such file".into(),
            },
            t0,
        );
        view.apply(
            Event::SeedFinished {
                source: BlockSource::Seed(0),
                blocks: 40,
                bytes: 40_000,
            },
            t0,
        );
        assert_eq!(
            view.seeds[0].status,
            SeedStatus::Used {
                blocks: 40,
                bytes: 40_000
            }
        );
        assert_eq!(
            view.seeds[1].status,
            SeedStatus::Skipped("no such file".into())
        );
        view.apply(Event::Phase(Phase::Fetching), t0);
        let progress = |fetched| Progress {
            local_bytes: 40_000,
            fetched_bytes: fetched,
            wire_bytes: fetched,
            requests: 1,
            total_bytes: info.length,
        };
        view.apply(Event::Progress(progress(0)), t0);
        view.apply(
            Event::Progress(progress(10_000)),
            t0 + Duration::from_secs(1),
        );
        assert_eq!(view.speed(), Some(10_000.0));
        let remaining = info.length - 50_000;
        let eta = view.eta().unwrap().as_secs_f64();
        assert!((eta - remaining as f64 / 10_000.0).abs() < 0.01, "{eta}");
        assert!((view.fraction_done() - 50_000.0 / info.length as f32).abs() < 1e-6);
        view.apply(
            Event::Finished(Err(Error::Cancelled)),
            t0 + Duration::from_secs(2),
        );
        assert!(view.is_finished());
        assert_eq!(view.error(), Some(&Error::Cancelled));
        assert_eq!(view.eta(), None, "no ETA once done");
        assert_eq!(
            view.elapsed(t0 + Duration::from_secs(60)),
            Duration::from_secs(2)
        );
        assert_eq!(thousands(view.total_bytes()), thousands(info.length));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(15 * 1024 * 1024), "15.0 MiB");
        assert_eq!(human_bytes(700 * 1024 * 1024 * 1024), "700 GiB");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1h 02m");
        assert_eq!(human_duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(123), "123");
    }

    #[test]
    fn rate_uses_the_window() {
        let t = Instant::now();
        let mut m = RateMeter::new(Duration::from_secs(5));
        assert_eq!(m.per_second(), None);
        m.record(t, 0);
        m.record(t + Duration::from_secs(1), 1000);
        m.record(t + Duration::from_secs(2), 3000);
        assert_eq!(m.per_second(), Some(1500.0));
        m.record(t + Duration::from_secs(20), 3000);
        m.record(t + Duration::from_secs(21), 4000);
        // The old samples fell out of the window.
        assert_eq!(m.per_second(), Some(1000.0));
    }
}
