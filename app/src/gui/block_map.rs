//! The block map: one cell per block, or per group of blocks when there are more than fit,
//! painted as a single mesh from the compact per-block state array of a [`BlockMap`]
//! (a few thousand rectangles at most, whatever the block count). A mixed group is drawn
//! as stacked stripes, one per state, in proportion to its blocks.

use egui::{Color32, Mesh, Pos2, Rect, Response, Sense, Ui, Vec2, pos2, vec2};

use deltadrop_core::{BlockSource, BlockState, TargetInfo};

use super::model::{
    BlockMap, CellMix, Grouping, STATES, capitalised, count_in, human_bytes, state_name, thousands,
};

/// The most cells drawn, whatever the block count.
pub const MAX_CELLS: u64 = 4096;
const MIN_CELL: f32 = 3.0;
const MAX_CELL: f32 = 16.0;
/// Cell side used once blocks have to be grouped.
const GROUPED_CELL: f32 = 7.0;

/// The colour of each state, for the current theme.
pub fn palette(dark: bool) -> [Color32; 5] {
    let mut colours = [Color32::BLACK; 5];
    let pick = |state| match (state, dark) {
        (BlockState::Unknown, true) => Color32::from_gray(72),
        (BlockState::Unknown, false) => Color32::from_gray(205),
        (BlockState::Local, true) => Color32::from_rgb(64, 176, 96),
        (BlockState::Local, false) => Color32::from_rgb(36, 150, 70),
        (BlockState::InFlight, true) => Color32::from_rgb(236, 178, 46),
        (BlockState::InFlight, false) => Color32::from_rgb(222, 150, 0),
        (BlockState::Fetched, true) => Color32::from_rgb(76, 144, 236),
        (BlockState::Fetched, false) => Color32::from_rgb(40, 108, 210),
        (BlockState::Failed, true) => Color32::from_rgb(228, 70, 70),
        (BlockState::Failed, false) => Color32::from_rgb(200, 36, 36),
    };
    for state in STATES {
        colours[state as usize] = pick(state);
    }
    colours
}

/// Where cells go for a given block count and space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapLayout {
    pub grouping: Grouping,
    pub cell: f32,
    pub columns: u64,
    pub rows: u64,
}

impl MapLayout {
    /// The biggest cells (up to 16 px) that show one block each within `width` x
    /// `max_height`; if even 3 px cells do not fit, blocks are grouped into at most
    /// [`MAX_CELLS`] cells.
    pub fn new(block_count: u64, width: f32, max_height: f32) -> Self {
        let fit = |cell: f32| {
            let columns = ((width / cell).floor() as u64).max(1);
            let rows = ((max_height / cell).floor() as u64).max(1);
            (columns, (columns * rows).min(MAX_CELLS))
        };
        let mut cell = MAX_CELL;
        while cell >= MIN_CELL {
            let (columns, capacity) = fit(cell);
            if capacity >= block_count {
                let grouping = Grouping::new(block_count, block_count.max(1));
                return MapLayout {
                    grouping,
                    cell,
                    columns,
                    rows: grouping.cells.div_ceil(columns),
                };
            }
            cell -= 1.0;
        }
        let (columns, capacity) = fit(GROUPED_CELL);
        let grouping = Grouping::new(block_count, capacity);
        MapLayout {
            grouping,
            cell: GROUPED_CELL,
            columns,
            rows: grouping.cells.div_ceil(columns),
        }
    }

    pub fn size(&self) -> Vec2 {
        vec2(
            self.columns.min(self.grouping.cells) as f32 * self.cell,
            self.rows as f32 * self.cell,
        )
    }

    /// The rectangle of `cell` when the map's top-left corner is at `origin`.
    pub fn cell_rect(&self, origin: Pos2, cell: u64) -> Rect {
        let (row, col) = (cell / self.columns, cell % self.columns);
        Rect::from_min_size(
            origin + vec2(col as f32 * self.cell, row as f32 * self.cell),
            Vec2::splat(self.cell),
        )
    }

    /// The cell under `pos`, if any.
    pub fn cell_at(&self, origin: Pos2, pos: Pos2) -> Option<u64> {
        let d = pos - origin;
        if d.x < 0.0 || d.y < 0.0 {
            return None;
        }
        let (col, row) = ((d.x / self.cell) as u64, (d.y / self.cell) as u64);
        let cell = row * self.columns + col;
        (col < self.columns && cell < self.grouping.cells).then_some(cell)
    }
}

/// The coloured parts of one cell: a single rectangle for a uniform cell, otherwise one
/// horizontal stripe per state present, top to bottom in [`STATES`] order, heights in
/// proportion to the blocks in each state.
pub fn cell_parts(mix: &CellMix, rect: Rect, colours: &[Color32; 5]) -> Vec<(Rect, Color32)> {
    if let Some(state) = mix.uniform() {
        return vec![(rect, colours[state as usize])];
    }
    let mut parts = Vec::new();
    let mut top = rect.top();
    for (state, fraction) in mix.parts() {
        let bottom = (top + fraction * rect.height()).min(rect.bottom());
        parts.push((
            Rect::from_x_y_ranges(rect.x_range(), top..=bottom),
            colours[state as usize],
        ));
        top = bottom;
    }
    if let Some(last) = parts.last_mut() {
        last.0.max.y = rect.bottom(); // No hairline gap from rounding.
    }
    parts
}

/// Names a block source for people.
pub fn describe_source(source: BlockSource, seed_name: &dyn Fn(usize) -> String) -> String {
    match source {
        BlockSource::Seed(i) => format!("seed {}", seed_name(i)),
        BlockSource::PartFile => "the .part file of an earlier run".into(),
        BlockSource::OldOutput => "the previous version of the output".into(),
        BlockSource::Network => "the network".into(),
    }
}

/// What hovering over `cell` says.
pub fn hover_text(
    map: &BlockMap,
    target: &TargetInfo,
    layout: &MapLayout,
    cell: u64,
    seed_name: &dyn Fn(usize) -> String,
) -> String {
    let blocks = layout.grouping.blocks(cell, map.len());
    let bytes = target.bytes_of(blocks.clone());
    let (start, end) = (bytes.start, bytes.end);
    let pieces = target.format.pieces();
    let (one, many) = (capitalised(pieces.one), capitalised(pieces.many));
    let mut text = if blocks.end - blocks.start == 1 {
        format!(
            "{one} {} · bytes {}–{} ({})",
            thousands(blocks.start),
            thousands(start),
            thousands(end.saturating_sub(1)),
            human_bytes(start)
        )
    } else {
        format!(
            "{many} {}–{} · bytes {}–{} ({} at {})",
            thousands(blocks.start),
            thousands(blocks.end - 1),
            thousands(start),
            thousands(end.saturating_sub(1)),
            human_bytes(end - start),
            human_bytes(start)
        )
    };
    let mix = map.mix(blocks.clone());
    for state in STATES {
        let n = mix.count(state);
        if n > 0 {
            if mix.uniform().is_some() {
                text.push_str(&format!("\n{}", state_name(state)));
            } else {
                text.push_str(&format!(
                    "\n{}: {}",
                    state_name(state),
                    count_in(n.into(), pieces)
                ));
            }
        }
    }
    let sources = map.sources(blocks, 4);
    if !sources.is_empty() {
        let names: Vec<String> = sources
            .into_iter()
            .map(|s| describe_source(s, seed_name))
            .collect();
        text.push_str(&format!("\nFrom {}", names.join(", ")));
    }
    text
}

/// Draws the map and answers hovering. `seed_name(i)` names `BlockSource::Seed(i)`.
pub fn show(
    ui: &mut Ui,
    map: &BlockMap,
    target: &TargetInfo,
    max_height: f32,
    seed_name: &dyn Fn(usize) -> String,
) -> Response {
    let width = ui.available_width().max(MIN_CELL);
    let layout = MapLayout::new(map.len(), width, max_height);
    let (rect, response) = ui.allocate_exact_size(layout.size(), Sense::hover());
    let colours = palette(ui.visuals().dark_mode);
    let summary = format!(
        "Block map: {}, {} found locally, {} downloaded, {} downloading, {} failed, {} not found yet",
        count_in(map.len(), target.format.pieces()),
        thousands(map.count(BlockState::Local)),
        thousands(map.count(BlockState::Fetched)),
        thousands(map.count(BlockState::InFlight)),
        thousands(map.count(BlockState::Failed)),
        thousands(map.count(BlockState::Unknown)),
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &summary));

    if ui.is_rect_visible(rect) {
        let gap = if layout.cell >= 6.0 { 1.0 } else { 0.0 };
        let mut mesh = Mesh::default();
        for cell in 0..layout.grouping.cells {
            let cell_rect = layout.cell_rect(rect.min, cell);
            let cell_rect = Rect::from_min_max(cell_rect.min, cell_rect.max - Vec2::splat(gap));
            let mix = map.mix(layout.grouping.blocks(cell, map.len()));
            for (part, colour) in cell_parts(&mix, cell_rect, &colours) {
                mesh.add_colored_rect(part, colour);
            }
        }
        ui.painter().add(mesh);
    }

    let mut response = response;
    if let Some(pos) = response.hover_pos()
        && let Some(cell) = layout.cell_at(rect.min, pos)
    {
        let outline = layout.cell_rect(rect.min, cell).expand(1.0);
        ui.painter().rect_stroke(
            outline,
            0.0,
            egui::Stroke::new(1.5, ui.visuals().strong_text_color()),
            egui::StrokeKind::Outside,
        );
        let text = hover_text(map, target, &layout, cell, seed_name);
        response = response.on_hover_text_at_pointer(text);
    }
    response
}

/// The legend: a swatch, name and block count per state.
pub fn legend(ui: &mut Ui, map: Option<&BlockMap>) {
    let colours = palette(ui.visuals().dark_mode);
    ui.horizontal_wrapped(|ui| {
        for (i, state) in STATES.into_iter().enumerate() {
            // Space between entries only: a trailing space would widen the map's column.
            if i > 0 {
                ui.add_space(8.0);
            }
            let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
            ui.painter().rect_filled(rect, 2.0, colours[state as usize]);
            let text = match map {
                Some(map) => format!("{} {}", state_name(state), thousands(map.count(state))),
                None => state_name(state).to_string(),
            };
            ui.label(text);
        }
    });
}

/// A placeholder the size of a small map, for before the control file is loaded.
pub fn placeholder(ui: &mut Ui, height: f32, text: &str) {
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), height), Sense::hover());
    let visuals = ui.visuals();
    ui.painter()
        .rect_filled(rect, 4.0, visuals.extreme_bg_color);
    ui.painter().text(
        pos2(rect.center().x, rect.center().y),
        egui::Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(14.0),
        visuals.weak_text_color(),
    );
}
