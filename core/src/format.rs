//! The delta formats deltadrop downloads, and what is known of each in one place: its
//! name, what its control file is, what its pieces are called and how a download's
//! format is told. The engine, its errors and both front ends ask here rather than
//! spell a format out themselves.

/// The delta format a target is published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// A `.zsync` control file beside the file: blocks of one size.
    #[default]
    Zsync,
    /// A `.zck` file: its own header lists its chunks.
    Zchunk,
    /// A casync `.caibx` index: chunks cut by content, each a file in a chunk store.
    Casync,
}

impl Format {
    /// Every format, in the order front ends list them.
    pub const ALL: [Format; 3] = [Format::Zsync, Format::Zchunk, Format::Casync];

    /// The extension of the format's control file, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Zsync => "zsync",
            Format::Zchunk => "zck",
            Format::Casync => "caibx",
        }
    }

    /// The format whose control file `name` is, by its extension (a URL's query and
    /// fragment aside, any case); `None` for any other name.
    pub fn of_control_name(name: &str) -> Option<Format> {
        let name = name.split(['?', '#']).next().unwrap_or(name);
        let (_, extension) = name.rsplit_once('.')?;
        Format::ALL
            .into_iter()
            .find(|format| extension.eq_ignore_ascii_case(format.extension()))
    }

    /// The format of a control file by its name: a `.zck` file is its own control
    /// file, a `.caibx` a casync index; anything else is taken for a `.zsync`.
    pub fn of_name(name: &str) -> Format {
        Format::of_control_name(name).unwrap_or_default()
    }

    /// Whether the control file is the target itself (a `.zck`: its header, then its
    /// chunks), rather than a description of it beside it.
    pub fn is_its_own_target(self) -> bool {
        self == Format::Zchunk
    }

    /// Whether a local copy of the control file can start a download: a `.zsync` or a
    /// casync index names where its data is; a local `.zck` is a seed, and its URL is
    /// needed to download the new one.
    pub fn opens_locally(self) -> bool {
        !self.is_its_own_target()
    }

    /// The name of the file a control file named `control` (its last path segment)
    /// stands for: `x.img` for `x.img.zsync` or `x.img.caibx`, the `.zck` itself.
    pub fn target_name(self, control: &str) -> Option<&str> {
        if self.is_its_own_target() {
            return Some(control);
        }
        let cut = control.len().checked_sub(self.extension().len() + 1)?;
        let (stem, extension) = (control.get(..cut)?, &control[cut..]);
        let named = extension
            .strip_prefix('.')
            .is_some_and(|e| e.eq_ignore_ascii_case(self.extension()));
        (named && !stem.is_empty()).then_some(stem)
    }

    /// The format's name, for the user.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zsync => "zsync",
            Format::Zchunk => "zchunk",
            Format::Casync => "casync",
        }
    }

    /// What the format's pieces are called: blocks for zsync, chunks for the others.
    pub fn pieces(self) -> Noun {
        match self {
            Format::Zsync => Noun::new("block", "blocks"),
            Format::Zchunk | Format::Casync => Noun::new("chunk", "chunks"),
        }
    }

    /// What a plan counts its fetches in: ranges (many to a request) for zsync and
    /// zchunk; requests for casync, which fetches each chunk file with one of its own.
    pub fn fetches(self) -> Noun {
        match self {
            Format::Zsync | Format::Zchunk => Noun::new("range", "ranges"),
            Format::Casync => Noun::new("request", "requests"),
        }
    }

    /// What the user gives to download a file of this format, for messages: "the URL
    /// points at ...".
    pub fn control_file(self) -> &'static str {
        match self {
            Format::Zsync => "a .zsync file made by zsyncmake",
            Format::Zchunk => "a .zck file made by zck",
            Format::Casync => "a casync index (.caibx) made by casync make",
        }
    }
}

/// A word a format counts things in, in both numbers, so that a front end can say
/// "1 chunk" and "3 chunks" without knowing which format it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Noun {
    /// The word for one: "block".
    pub one: &'static str,
    /// The word for any other count: "blocks".
    pub many: &'static str,
}

impl Noun {
    const fn new(one: &'static str, many: &'static str) -> Noun {
        Noun { one, many }
    }

    /// The word for `count` of them.
    pub fn for_count(self, count: u64) -> &'static str {
        if count == 1 { self.one } else { self.many }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_told_by_the_name() {
        assert_eq!(Format::of_name("https://h/x.img.zsync"), Format::Zsync);
        assert_eq!(
            Format::of_name("https://h/repomd.xml.zck?x=1"),
            Format::Zchunk
        );
        assert_eq!(Format::of_name("https://h/X.ZCK"), Format::Zchunk);
        assert_eq!(Format::of_name("local.zsync"), Format::Zsync);
        assert_eq!(Format::of_name("https://h/os.img.caibx"), Format::Casync);
        assert_eq!(Format::of_control_name("image.img"), None);
        assert_eq!(Format::of_control_name("noextension"), None);
    }

    #[test]
    fn a_plan_counts_casyncs_fetches_in_requests() {
        assert_eq!(Format::Zsync.fetches().many, "ranges");
        assert_eq!(Format::Zchunk.fetches().many, "ranges");
        assert_eq!(Format::Casync.fetches().many, "requests");
        assert_eq!(Format::Casync.fetches().for_count(1), "request");
    }

    #[test]
    fn a_control_file_names_its_target() {
        assert_eq!(Format::Zsync.target_name("x.img.zsync"), Some("x.img"));
        assert_eq!(Format::Casync.target_name("os.img.CAIBX"), Some("os.img"));
        assert_eq!(Format::Zchunk.target_name("p.xml.zck"), Some("p.xml.zck"));
        assert_eq!(Format::Zsync.target_name(".zsync"), None);
        assert_eq!(Format::Zsync.target_name("x.img.caibx"), None);
        assert_eq!(Format::Casync.target_name("é.caibx"), Some("é"));
    }
}
