//! ARCHITECTURE.md's rule, kept true: each folder of `core/src` uses only the folders
//! above it in the document's table of layers. So there is no circle between folders,
//! the table is an order to read the engine in, and a new folder must take its place in
//! it. Tests (`#[cfg(test)]` modules, `tests.rs` files) may use any folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const CORE: &str = env!("CARGO_MANIFEST_DIR");

/// The folders in the table's order, from `| `name/` | ... |` rows.
fn layers() -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(CORE).join("../ARCHITECTURE.md")).unwrap();
    let table = doc
        .split("## The engine's layers")
        .nth(1)
        .expect("ARCHITECTURE.md has its table of layers");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.strip_prefix("| `")?.split_once("/`"))
        .map(|(name, _)| name.to_string())
        .collect()
}

fn folders() -> BTreeSet<String> {
    std::fs::read_dir(Path::new(CORE).join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The Rust files of `dir` and below, but the ones that hold only tests.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if name != "tests" {
                found.extend(sources(&path));
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            found.push(path);
        }
    }
    found
}

/// The first path segment of every `crate::` path in `code` (`crate::a::b`, and each
/// item of `crate::{a::b, c}`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                used.extend(group.split(',').map(ident));
            }
            None => {
                used.insert(ident(rest));
            }
        }
    }
    used.retain(|name| !name.is_empty());
    used
}

/// What each file of `folder` uses from other folders, outside its tests.
fn uses(folder: &str, all: &BTreeSet<String>) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut files = sources(&Path::new(CORE).join("src").join(folder));
    let module_file = Path::new(CORE).join(format!("src/{folder}.rs"));
    if module_file.is_file() {
        files.push(module_file);
    }
    for file in files {
        let code = std::fs::read_to_string(&file).unwrap();
        let code = code.split("#[cfg(test)]").next().unwrap_or_default();
        for used in crate_paths(code) {
            if used != folder && all.contains(&used) {
                found.push((file.clone(), used));
            }
        }
    }
    found
}

#[test]
fn the_table_of_layers_names_every_folder_once() {
    let layers = layers();
    let listed: BTreeSet<String> = layers.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        layers.len(),
        "a folder is listed twice: {layers:?}"
    );
    assert_eq!(
        listed,
        folders(),
        "ARCHITECTURE.md's table of layers and core/src's folders differ"
    );
}

#[test]
fn each_folder_uses_only_the_folders_above_it() {
    let layers = layers();
    let all = folders();
    let mut wrong = Vec::new();
    for (place, folder) in layers.iter().enumerate() {
        for (file, used) in uses(folder, &all) {
            let above = layers[..place].contains(&used);
            if !above {
                wrong.push(format!(
                    "{} uses {used}/, which is not above {folder}/",
                    file.strip_prefix(CORE).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn imports_are_read_in_both_forms() {
    let code =
        "use crate::scan::Scan;\nuse crate::{part::Assembly, event};\nlet x = crate::blocks::f();";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["blocks", "event", "part", "scan"]);
}
