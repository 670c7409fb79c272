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
    /// The format of a control file by its name (a URL's query and fragment aside): a
    /// `.zck` file is its own control file, a `.caibx` a casync index; anything else is
    /// a `.zsync`.
    pub fn of_name(name: &str) -> Format {
        let name = name.split(['?', '#']).next().unwrap_or(name);
        let name = name.to_ascii_lowercase();
        if name.ends_with(".zck") {
            Format::Zchunk
        } else if name.ends_with(".caibx") {
            Format::Casync
        } else {
            Format::Zsync
        }
    }

    /// The format's name, for the user.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zsync => "zsync",
            Format::Zchunk => "zchunk",
            Format::Casync => "casync",
        }
    }

    /// What the format's pieces are called, in the plural.
    pub fn pieces(self) -> &'static str {
        match self {
            Format::Zsync => "blocks",
            Format::Zchunk | Format::Casync => "chunks",
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
    }
}
